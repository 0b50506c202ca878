#include "infer/proba_writer.hpp"

#include <cmath>
#include <filesystem>
#include <limits>

namespace drshym::infer {
namespace {

io::CreateOptions with_type(io::CreateOptions o, io::DataType t, std::optional<double> nodata, const char* desc) {
  o.bands = 1;
  o.type = t;
  o.nodata = nodata;
  o.descriptions = {desc};
  // The staged rasters are read once, by the COG conversion: the fastest codec, and blocks
  // aligned with the COG's, so nothing is compressed twice with DEFLATE.
  o.compress = "ZSTD";
  o.compress_level = 1;
  o.block_size = 512;
  return o;
}

}  // namespace

ProbaWriter::ProbaWriter(const io::CreateOptions& geo, const tiling::WindowGrid& grid, float threshold,
                         const std::string& proba_path, const std::string& mask_path)
    : grid_(grid),
      threshold_(threshold),
      proba_path_(proba_path),
      mask_path_(mask_path),
      proba_stage_(core::temp_path_for(proba_path + ".stage.tif")),
      mask_stage_(core::temp_path_for(mask_path + ".stage.tif")),
      proba_(io::Raster::create_geotiff(
          proba_stage_, with_type(geo, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN(),
                                  "flood_probability"))),
      mask_(io::Raster::create_geotiff(mask_stage_, with_type(geo, io::DataType::Byte, 255.0, "flood_mask"))),
      acc_(geo.width, geo.height, 1) {}

ProbaWriter::~ProbaWriter() {
  std::error_code ec;
  std::filesystem::remove(proba_stage_, ec);
  std::filesystem::remove(mask_stage_, ec);
}

void ProbaWriter::add(const tiling::Tile& t, const float* proba, const uint8_t* valid) {
  start_tile(t);
  auto w = grid_.weights(t);
  acc_.add(t.window, proba, w.data(), valid);
}

void ProbaWriter::skip(const tiling::Tile& t) { start_tile(t); }

void ProbaWriter::start_tile(const tiling::Tile& t) {
  if (t.col == 0 && t.row > 0) flush(t.window.y);
}

void ProbaWriter::flush(int up_to) {
  Window taken;
  auto rows = acc_.take_ready(up_to, std::numeric_limits<float>::quiet_NaN(), &taken);
  if (taken.h <= 0) return;
  mask_rows_.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (std::isnan(rows[i])) {
      mask_rows_[i] = 255;  // no tile saw a valid pixel here: nodata in, nodata out
      continue;
    }
    ++valid_pixels_;
    mask_rows_[i] = rows[i] >= threshold_ ? 1 : 0;
    flood_pixels_ += mask_rows_[i];
  }
  proba_.write_band(1, taken, rows.data());
  mask_.write_band(1, taken, mask_rows_.data());
}

void ProbaWriter::close_staging() {
  if (staging_closed_) return;
  staging_closed_ = true;
  flush(grid_.height());
  proba_.close();
  mask_.close();
}

void ProbaWriter::write_outputs(core::OutputSet& outs, bool cog) {
  close_staging();
  for (auto [stage, final_path] : {std::pair{proba_stage_, proba_path_}, std::pair{mask_stage_, mask_path_}}) {
    auto r = io::Raster::open(stage);
    std::string tmp = outs.temp(final_path);
    if (cog) r.write_cog(tmp);
    else r.write_copy(tmp, "GTiff");
  }
}

}  // namespace drshym::infer
