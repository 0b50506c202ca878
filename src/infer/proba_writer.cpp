#include "infer/proba_writer.hpp"

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"

namespace drshym::infer {

io::CreateOptions staged_band(io::CreateOptions o, io::DataType t, std::optional<double> nodata, const char* desc) {
  o.bands = 1;
  o.type = t;
  o.nodata = nodata;
  o.descriptions = {desc};
  // The staged rasters are read once, by the COG conversion: the fastest codec, blocks as wide
  // as the COG's and as tall as the rows BlendedBand writes at a time, so every write fills
  // whole blocks. A block written in parts is compressed and appended to the file again each
  // time GDAL's cache evicts it half done: on a 25,000 px wide scene the water-type stage
  // passed TIFF's 4 GB limit that way (1.7 GB of pixels).
  o.compress = "ZSTD";
  o.compress_level = 1;
  o.block_size = 512;
  o.block_height = BlendedBand::kFlushRows;
  return o;
}

namespace {

// A complete staged raster as a final output at outs.temp(final_path): COG or tiled GeoTIFF.
void write_final(const std::string& stage, const std::string& final_path, core::OutputSet& outs, bool cog) {
  auto r = io::Raster::open(stage);
  const std::string tmp = outs.temp(final_path);
  if (cog) r.write_cog(tmp);
  else r.write_copy(tmp, "GTiff");
}

}  // namespace

// ---- BlendedBand ----

BlendedBand::BlendedBand(const io::CreateOptions& geo, const tiling::WindowGrid& grid, const std::string& final_path,
                         const char* description, const OutputCrop& crop, RowsHook on_rows)
    : grid_(grid),
      final_path_(final_path),
      stage_(core::temp_path_for(final_path + ".stage.tif")),
      raster_(io::Raster::create_geotiff(
          stage_, staged_band(geo, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN(), description))),
      acc_(grid.width(), grid.height(), 1),
      crop_(crop),
      on_rows_(std::move(on_rows)) {
  if (crop_.region.empty() || crop_.region.intersect(Window{0, 0, grid.width(), grid.height()}) != crop_.region ||
      crop_.region.w != geo.width || crop_.region.h != geo.height)
    throw Error(ErrorKind::Internal, "infer",
                "output region " + crop_.region.str() + " does not fit the tile grid or the output rasters");
}

BlendedBand::~BlendedBand() {
  std::error_code ec;
  std::filesystem::remove(stage_, ec);
}

void BlendedBand::add(const tiling::Tile& t, const float* values, const uint8_t* valid) {
  start_tile(t);
  auto w = grid_.weights(t);
  acc_.add(t.window, values, w.data(), valid);
}

void BlendedBand::skip(const tiling::Tile& t) { start_tile(t); }

// Rows above a new grid row are final once its first tile arrives.
void BlendedBand::start_tile(const tiling::Tile& t) {
  if (t.col == 0 && t.row > 0) flush(t.window.y);
}

void BlendedBand::flush(int up_to) {
  // In blocks of kFlushRows rows, aligned with the staged raster's blocks (output rows 0, 64,
  // ...): a block's copies (here and in on_rows) stay a few MB whatever the scene's width (448
  // rows of a 25,000 px wide scene were 45 MB each, per band), and each write fills whole
  // blocks. Rows short of the next block boundary wait for the next call, except at the end.
  const int h = grid_.height(), y0 = crop_.region.y;
  up_to = std::min(up_to, h);
  if (up_to < h && up_to > y0) up_to = y0 + (up_to - y0) / kFlushRows * kFlushRows;
  while (acc_.first_row() < up_to) {
    const int r = acc_.first_row();
    const int next = r < y0 ? std::min(y0, r + kFlushRows) : y0 + ((r - y0) / kFlushRows + 1) * kFlushRows;
    flush_block(std::min(up_to, next));
  }
}

void BlendedBand::flush_block(int up_to) {
  Window taken;
  auto rows = acc_.take_ready(up_to, std::numeric_limits<float>::quiet_NaN(), &taken);
  // The part of the taken rows inside the output region, in grid pixels.
  const Window part = taken.intersect(crop_.region);
  if (part.empty()) return;
  const Window out{part.x - crop_.region.x, part.y - crop_.region.y, part.w, part.h};
  rows_.resize(size_t(part.w) * part.h);
  for (int r = 0; r < part.h; ++r)
    std::copy_n(rows.begin() + size_t(part.y - taken.y + r) * taken.w + (part.x - taken.x), part.w,
                rows_.begin() + size_t(r) * part.w);
  if (crop_.inside) {
    const auto inside = crop_.inside(part);
    for (size_t i = 0; i < rows_.size(); ++i)
      if (!inside[i]) {
        rows_[i] = std::numeric_limits<float>::quiet_NaN();
        ++outside_;
      }
  }
  if (on_rows_) on_rows_(out, rows_);
  raster_.write_band(1, out, rows_.data());
}

void BlendedBand::close_staging() {
  if (closed_) return;
  closed_ = true;
  flush(grid_.height());
  raster_.close();
}

void BlendedBand::write_output(core::OutputSet& outs, bool cog) {
  close_staging();
  write_final(stage_, final_path_, outs, cog);
}

// ---- ProbaWriter ----

ProbaWriter::ProbaWriter(const io::CreateOptions& geo, const tiling::WindowGrid& grid, float threshold,
                         const std::string& proba_path, const std::string& mask_path,
                         std::optional<OutputCrop> crop)
    : threshold_(threshold),
      mask_path_(mask_path),
      mask_stage_(core::temp_path_for(mask_path + ".stage.tif")),
      mask_(io::Raster::create_geotiff(mask_stage_, staged_band(geo, io::DataType::Byte, 255.0, "flood_mask"))),
      area_(io::PixelArea::for_grid(geo.crs_wkt, geo.geotransform)),
      proba_(geo, grid, proba_path, "flood_probability",
             crop ? std::move(*crop) : OutputCrop{Window{0, 0, grid.width(), grid.height()}, {}},
             [this](const Window& out, std::vector<float>& p) { on_rows(out, p); }) {}

ProbaWriter::~ProbaWriter() {
  std::error_code ec;
  std::filesystem::remove(mask_stage_, ec);
}

void ProbaWriter::exclude(const std::string& flags_path, bool apply) {
  flags_.emplace(io::Raster::open(flags_path));
  if (flags_->width() != mask_.width() || flags_->height() != mask_.height())
    throw Error(ErrorKind::Internal, "infer", "exclusion flags " + quoted(flags_path) + " are not on the output grid");
  removal_ = terrain::ExclusionRemoval{};
  removal_.applied = apply;
  removal_.has_area = area_.has_value();
}

void ProbaWriter::on_rows(const Window& out, std::vector<float>& proba) {
  mask_rows_.resize(proba.size());
  if (flags_) {
    flag_rows_.resize(proba.size());
    flags_->read_band(1, out, flag_rows_.data());
  }
  tally_.has_area = area_.has_value();
  tally_.pixels += int64_t(out.w) * out.h;
  tally_.outside_aoi_pixels = proba_.outside_pixels();  // counted by proba_ before it calls this
  // Where every pixel of a row has the same area, a row's sums are taken in pixels and scaled
  // once by that area (the hot path then never looks an area up); otherwise in m² pixel by pixel.
  const bool per_row = !area_ || area_->same_along_rows();
  for (int r = 0; r < out.h; ++r) {
    FloodTally row;
    for (int c = 0; c < out.w; ++c) {
      const size_t i = size_t(r) * out.w + c;
      const float p = proba[i];
      if (std::isnan(p)) {
        mask_rows_[i] = 255;  // no tile saw a valid pixel here (or outside the AOI): nodata
        continue;
      }
      ++row.valid_pixels;
      const double a = per_row ? 1.0 : area_->at(out.x + c, out.y + r);
      row.valid_m2 += a;
      if (flags_) {
        const auto f = uint8_t(flag_rows_[i]);
        if (f != terrain::kExclusionNodata && (f & (terrain::kSteepSlope | terrain::kHighAboveDrainage))) {
          if (p >= threshold_) {
            const double m2 = area_ ? area_->at(out.x + c, out.y + r) : 0.0;
            ++removal_.pixels;
            removal_.m2 += m2;
            if (f & terrain::kSteepSlope) ++removal_.steep_pixels, removal_.steep_m2 += m2;
            if (f & terrain::kHighAboveDrainage) ++removal_.high_pixels, removal_.high_m2 += m2;
          }
          if (removal_.applied) {
            mask_rows_[i] = 0;  // excluded ground: dry whatever the backscatter
            continue;
          }
        }
      }
      row.expected_m2 += a * double(p);
      if (p >= FloodTally::kLikely) row.likely_m2 += a;
      if (p >= FloodTally::kPossible) row.possible_m2 += a;
      if (p >= FloodTally::kPossible && p < FloodTally::kLikely) row.ambiguous_m2 += a;
      mask_rows_[i] = p >= threshold_ ? 1 : 0;
      if (!mask_rows_[i]) continue;
      ++row.flood_pixels;
      row.flood_m2 += a;
      row.flood_p_sum += double(p);
    }
    const double scale = !per_row ? 1.0 : area_ ? area_->at(0, out.y + r) : 1.0;
    tally_.valid_pixels += row.valid_pixels;
    tally_.flood_pixels += row.flood_pixels;
    tally_.valid_m2 += scale * row.valid_m2;
    tally_.expected_m2 += scale * row.expected_m2;
    tally_.likely_m2 += scale * row.likely_m2;
    tally_.possible_m2 += scale * row.possible_m2;
    tally_.ambiguous_m2 += scale * row.ambiguous_m2;
    tally_.flood_m2 += scale * row.flood_m2;
    tally_.flood_p_sum += row.flood_p_sum;
  }
  mask_.write_band(1, out, mask_rows_.data());
}

void ProbaWriter::close_staging() {
  if (staging_closed_) return;
  staging_closed_ = true;
  proba_.close_staging();
  mask_.close();
}

void ProbaWriter::write_outputs(core::OutputSet& outs, bool cog) {
  close_staging();
  proba_.write_output(outs, cog);
  write_final(mask_stage_, mask_path_, outs, cog);
}

}  // namespace drshym::infer
