#include "ingest/tile_scene.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "ingest/record.hpp"
#include "ingest/scene.hpp"
#include "io/uri.hpp"

namespace fs = std::filesystem;

namespace drshym::ingest {
namespace {

std::string tile_name(const std::string& scene_id, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_tile_%05d", index);
  return scene_id + buf;
}

// Removes the folders it created if they are still empty when the operation fails.
struct CreatedDirs {
  std::vector<std::string> dirs;
  bool keep = false;
  void make(const std::string& d) {
    if (!fs::exists(d)) {
      core::ensure_writable_dir(d);
      dirs.push_back(d);
    }
  }
  ~CreatedDirs() {
    if (keep) return;
    std::error_code ec;
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) fs::remove(*it, ec);  // only if empty
  }
};

}  // namespace

TileResult tile_scene(const TileParams& p) {
  // --- checks: nothing is written before all of these pass ---
  Scene scene = open_scene(p.scene_uri, false);
  const auto& info = scene.raster.info();
  tiling::WindowGrid grid(info.width, info.height, p.grid);
  require_some_valid(scene);
  std::optional<io::Raster> label;
  if (!p.label_uri.empty()) {
    label = io::Raster::open(p.label_uri);
    if (label->info().bands != 1)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "label " + quoted(p.label_uri) + " has " + std::to_string(label->info().bands) +
                      " bands; expected 1 (0 dry, 1 water, -1 or nodata = no data)");
    require_same_grid(scene.raster, *label);
  }

  CreatedDirs dirs;
  dirs.make(p.out_dir);
  const std::string img_dir = p.out_dir + "/images", lab_dir = p.out_dir + "/labels",
                    rec_dir = p.out_dir + "/records";
  dirs.make(img_dir);
  dirs.make(rec_dir);
  if (label) dirs.make(lab_dir);

  core::OutputSet outs;
  std::vector<int> src_bands{scene.bands.vv};
  if (scene.bands.vh) src_bands.push_back(scene.bands.vh);
  const bool dual = src_bands.size() == 2;
  const std::string modality = dual ? "sentinel1_sar_vv_vh" : "sentinel1_sar_vv";
  const std::string source_uri = io::is_local(p.scene_uri) ? io::to_file_uri(io::to_gdal_path(p.scene_uri)) : p.scene_uri;

  // Every tile carries its scene's VV percentiles, so a model with a scene anchor reads a tile
  // as part of its scene (scene_anchor_shift).
  const auto scene_percentiles = scene_vv_percentiles(scene);
  nlohmann::json tiles = nlohmann::json::array();
  TileResult result;
  core::Progress bar("tile", int64_t(grid.tiles().size()), p.progress ? -1 : 0);
  for (const auto& t : grid.tiles()) {
    core::check_interrupted("tile");  // outs and dirs remove every tile written so far
    io::Block blk = scene.raster.read(t.window, src_bands);
    const int64_t n_valid = blk.valid_count();
    bar.advance();
    if (p.skip_empty && n_valid == 0) {
      ++result.tiles_skipped;
      continue;
    }
    const std::string name = tile_name(scene.id, t.index);
    const GeoTransform tile_gt = info.geotransform.shifted(t.window.x, t.window.y);

    io::CreateOptions o;
    o.width = t.window.w;
    o.height = t.window.h;
    o.bands = int(src_bands.size());
    o.type = io::DataType::Float32;
    o.geotransform = tile_gt;
    o.crs_wkt = info.crs_wkt;
    o.nodata = std::numeric_limits<double>::quiet_NaN();
    o.descriptions = dual ? std::vector<std::string>{"VV", "VH"} : std::vector<std::string>{"VV"};
    o.block_size = std::min(256, t.window.w) >= 16 ? 256 : 16;
    const std::string img_path = img_dir + "/" + name + ".tif";
    {
      auto r = io::Raster::create_geotiff(outs.temp(img_path), o);
      for (int b = 0; b < o.bands; ++b) r.write_band(b + 1, Window{0, 0, t.window.w, t.window.h}, blk.band(b));
      for (const auto& [pct, db] : scene_percentiles)
        if (std::isfinite(db)) r.set_metadata_item(kSceneVvPercentileKey + std::to_string(pct), fmt::format("{:.4f}", db));
      r.close();
      outs.commit(img_path);
    }
    nlohmann::json entry = {{"index", t.index}, {"col", t.col}, {"row", t.row},
                            {"window", {t.window.x, t.window.y, t.window.w, t.window.h}},
                            {"image", "images/" + name + ".tif"},
                            {"valid_fraction", double(n_valid) / double(t.window.area())}};
    if (label) {
      // Labels are written as Int16 with -1 = no data (Sen1Floods11 convention).
      io::Block lb = label->read(t.window, {1});
      std::vector<float> v(lb.data.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = lb.valid[i] ? lb.data[i] : -1.0f;
      io::CreateOptions lo = o;
      lo.bands = 1;
      lo.type = io::DataType::Int16;
      lo.nodata = -1;
      lo.descriptions = {"water"};
      const std::string lab_path = lab_dir + "/" + name + ".tif";
      auto r = io::Raster::create_geotiff(outs.temp(lab_path), lo);
      r.write_band(1, Window{0, 0, t.window.w, t.window.h}, v.data());
      r.close();
      outs.commit(lab_path);
      entry["label"] = "labels/" + name + ".tif";
    }
    DrShymRecord rec = make_record(name, info.crs_code, info.crs_wkt, info.geotransform, t.window);
    rec.modality = modality;
    rec.source_uri = source_uri;
    rec.processing = {"tile:" + std::to_string(p.grid.tile) + "x" + std::to_string(p.grid.tile),
                      "overlap:" + std::to_string(p.grid.overlap), "units:dB (not normalized)"};
    rec.extra_provenance = {{"window", {t.window.x, t.window.y, t.window.w, t.window.h}},
                            {"valid_fraction", entry["valid_fraction"]},
                            {"scene_meta", "../scene_meta.json"}};
    if (label) rec.extra_provenance["label_uri"] = p.label_uri;
    nlohmann::json rj = rec.to_json();
    validate_record(rj);
    const std::string rec_path = rec_dir + "/" + name + ".json";
    core::write_text_file_atomic(outs.temp(rec_path), rj.dump(2) + "\n");
    outs.commit(rec_path);
    entry["record"] = "records/" + name + ".json";
    tiles.push_back(entry);
    ++result.tiles_written;
  }
  bar.finish();

  nlohmann::json meta = {{"scene_id", scene.id},
                         {"source_uri", source_uri},
                         {"width", info.width},
                         {"height", info.height},
                         {"geotransform", info.geotransform.t},
                         {"crs", info.crs_code},
                         {"crs_wkt", info.crs_wkt},
                         {"bands", dual ? std::vector<std::string>{"VV", "VH"} : std::vector<std::string>{"VV"}},
                         {"tile", p.grid.tile},
                         {"overlap", p.grid.overlap},
                         {"grid", {{"cols", grid.cols()}, {"rows", grid.rows()}, {"xs", grid.xs()}, {"ys", grid.ys()}}},
                         {"tiles", tiles}};
  if (label) meta["label_uri"] = p.label_uri;
  core::check_interrupted("tile");
  result.scene_meta_path = p.out_dir + "/scene_meta.json";
  core::write_text_file_atomic(outs.temp(result.scene_meta_path), meta.dump(2) + "\n");
  outs.commit(result.scene_meta_path);
  outs.finish();
  dirs.keep = true;
  core::log().info("tile: {} tiles written ({} empty skipped) to {}", result.tiles_written, result.tiles_skipped,
                   p.out_dir);
  return result;
}

}  // namespace drshym::ingest
