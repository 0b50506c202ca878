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

// The label raster when one is given, checked to have one band on the scene's grid.
std::optional<io::Raster> open_label(const TileParams& p, const Scene& scene) {
  std::optional<io::Raster> label;
  if (!p.label_uri.empty()) {
    label = io::Raster::open(p.label_uri);
    if (label->info().bands != 1)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "label " + quoted(p.label_uri) + " has " + std::to_string(label->info().bands) +
                      " bands; expected 1 (0 dry, 1 water, -1 or nodata = no data)");
    require_same_grid(scene.raster, *label);
    require_label_values(*label, "ingest");  // e.g. a 0/255 mask: refused before any tile is written
  }
  return label;
}

// What every tile of the scene shares: the folders its files go to, its bands and provenance.
struct TileSetup {
  std::string img_dir, lab_dir, rec_dir;
  std::vector<int> src_bands;
  bool dual = false;
  std::string modality, source_uri;
  std::vector<std::pair<int, float>> scene_percentiles;
  std::vector<std::pair<int, float>> land_percentiles;  // only for a mostly dark scene
};

// Creates the output folders (dirs removes them again on failure while they are empty), then
// gathers what every tile shares.
TileSetup prepare_tiles(const TileParams& p, const Scene& scene, bool has_label, CreatedDirs& dirs) {
  TileSetup s;
  dirs.make(p.out_dir);
  s.img_dir = p.out_dir + "/images";
  s.lab_dir = p.out_dir + "/labels";
  s.rec_dir = p.out_dir + "/records";
  dirs.make(s.img_dir);
  dirs.make(s.rec_dir);
  if (has_label) dirs.make(s.lab_dir);

  s.src_bands = {scene.bands.vv};
  if (scene.bands.vh) s.src_bands.push_back(scene.bands.vh);
  s.dual = s.src_bands.size() == 2;
  s.modality = s.dual ? "sentinel1_sar_vv_vh" : "sentinel1_sar_vv";
  s.source_uri = io::is_local(p.scene_uri) ? io::to_file_uri(io::to_gdal_path(p.scene_uri)) : p.scene_uri;

  // Every tile carries its scene's VV percentiles, so a model with a scene anchor reads a tile
  // as part of its scene (scene_anchor_shift).
  s.scene_percentiles = scene_vv_percentiles(scene, 2048, &s.land_percentiles);
  return s;
}

// Writes one tile's files, staged in outs: its bands as a Float32 GeoTIFF, its label when the
// scene has one, and its record.
class TileWriter {
 public:
  TileWriter(const TileParams& p, const io::RasterInfo& info, const TileSetup& setup,
             const std::optional<io::Raster>& label, core::OutputSet& outs)
      : p_(p), info_(info), s_(setup), label_(label), outs_(outs) {}

  // Returns the tile's entry in scene_meta.json.
  nlohmann::json write(const tiling::Tile& t, const std::string& name, const io::Block& blk, int64_t n_valid) {
    const io::CreateOptions o = write_image(t, name, blk);
    nlohmann::json entry = {{"index", t.index}, {"col", t.col}, {"row", t.row},
                            {"window", {t.window.x, t.window.y, t.window.w, t.window.h}},
                            {"image", "images/" + name + ".tif"},
                            {"valid_fraction", double(n_valid) / double(t.window.area())}};
    if (label_) {
      write_label(t, name, o);
      entry["label"] = "labels/" + name + ".tif";
    }
    write_record(t, name, entry["valid_fraction"]);
    entry["record"] = "records/" + name + ".json";
    return entry;
  }

 private:
  // Returns the image's creation options, which the label's start from.
  io::CreateOptions write_image(const tiling::Tile& t, const std::string& name, const io::Block& blk) {
    const GeoTransform tile_gt = info_.geotransform.shifted(t.window.x, t.window.y);

    io::CreateOptions o;
    o.width = t.window.w;
    o.height = t.window.h;
    o.bands = int(s_.src_bands.size());
    o.type = io::DataType::Float32;
    o.geotransform = tile_gt;
    o.crs_wkt = info_.crs_wkt;
    o.nodata = std::numeric_limits<double>::quiet_NaN();
    o.descriptions = s_.dual ? std::vector<std::string>{"VV", "VH"} : std::vector<std::string>{"VV"};
    o.block_size = std::min(256, t.window.w) >= 16 ? 256 : 16;
    const std::string img_path = s_.img_dir + "/" + name + ".tif";
    {
      auto r = io::Raster::create_geotiff(outs_.temp(img_path), o);
      for (int b = 0; b < o.bands; ++b) r.write_band(b + 1, Window{0, 0, t.window.w, t.window.h}, blk.band(b));
      for (const auto& [pct, db] : s_.scene_percentiles)
        if (std::isfinite(db))
          r.set_metadata_item(kSceneVvPercentileKey + std::to_string(pct), fmt::format("{:.4f}", db));
      for (const auto& [pct, db] : s_.land_percentiles)
        if (std::isfinite(db))
          r.set_metadata_item(kSceneVvLandPercentileKey + std::to_string(pct), fmt::format("{:.4f}", db));
      r.close();
      outs_.commit(img_path);
    }
    return o;
  }

  void write_label(const tiling::Tile& t, const std::string& name, const io::CreateOptions& o) {
    // Labels are written as Int16 with -1 = no data (Sen1Floods11 convention).
    io::Block lb = label_->read(t.window, {1});
    std::vector<float> v(lb.data.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = lb.valid[i] ? lb.data[i] : -1.0f;
    io::CreateOptions lo = o;
    lo.bands = 1;
    lo.type = io::DataType::Int16;
    lo.nodata = -1;
    lo.descriptions = {"water"};
    const std::string lab_path = s_.lab_dir + "/" + name + ".tif";
    auto r = io::Raster::create_geotiff(outs_.temp(lab_path), lo);
    r.write_band(1, Window{0, 0, t.window.w, t.window.h}, v.data());
    r.close();
    outs_.commit(lab_path);
  }

  // The tile's record, validated, as records/<name>.json.
  void write_record(const tiling::Tile& t, const std::string& name, const nlohmann::json& valid_fraction) {
    DrShymRecord rec = make_record(name, info_.crs_code, info_.crs_wkt, info_.geotransform, t.window);
    rec.modality = s_.modality;
    rec.source_uri = s_.source_uri;
    rec.processing = {"tile:" + std::to_string(p_.grid.tile) + "x" + std::to_string(p_.grid.tile),
                      "overlap:" + std::to_string(p_.grid.overlap), "units:dB (not normalized)"};
    rec.extra_provenance = {{"window", {t.window.x, t.window.y, t.window.w, t.window.h}},
                            {"valid_fraction", valid_fraction},
                            {"scene_meta", "../scene_meta.json"}};
    if (label_) rec.extra_provenance["label_uri"] = p_.label_uri;
    nlohmann::json rj = rec.to_json();
    validate_record(rj);
    const std::string rec_path = s_.rec_dir + "/" + name + ".json";
    core::write_text_file_atomic(outs_.temp(rec_path), rj.dump(2) + "\n");
    outs_.commit(rec_path);
  }

  const TileParams& p_;
  const io::RasterInfo& info_;
  const TileSetup& s_;
  const std::optional<io::Raster>& label_;
  core::OutputSet& outs_;
};

// scene_meta.json: the scene's grid and georeferencing, and the tiles' entries.
nlohmann::json scene_meta(const TileParams& p, const Scene& scene, const tiling::WindowGrid& grid,
                          const TileSetup& s, bool has_label, const nlohmann::json& tiles) {
  const auto& info = scene.raster.info();
  nlohmann::json meta = {{"scene_id", scene.id},
                         {"source_uri", s.source_uri},
                         {"width", info.width},
                         {"height", info.height},
                         {"geotransform", info.geotransform.t},
                         {"crs", info.crs_code},
                         {"crs_wkt", info.crs_wkt},
                         {"bands", s.dual ? std::vector<std::string>{"VV", "VH"} : std::vector<std::string>{"VV"}},
                         {"tile", p.grid.tile},
                         {"overlap", p.grid.overlap},
                         {"grid", {{"cols", grid.cols()}, {"rows", grid.rows()}, {"xs", grid.xs()}, {"ys", grid.ys()}}},
                         {"tiles", tiles}};
  if (has_label) meta["label_uri"] = p.label_uri;
  return meta;
}

}  // namespace

TileResult tile_scene(const TileParams& p) {
  // --- checks: nothing is written before all of these pass ---
  Scene scene = open_scene(p.scene_uri, false);
  const auto& info = scene.raster.info();
  tiling::WindowGrid grid(info.width, info.height, p.grid);
  require_some_valid(scene);
  const std::optional<io::Raster> label = open_label(p, scene);

  CreatedDirs dirs;
  const TileSetup setup = prepare_tiles(p, scene, label.has_value(), dirs);
  core::OutputSet outs;
  TileWriter writer(p, info, setup, label, outs);

  nlohmann::json tiles = nlohmann::json::array();
  TileResult result;
  core::Progress bar("tile", int64_t(grid.tiles().size()), p.progress ? -1 : 0);
  for (const auto& t : grid.tiles()) {
    core::check_interrupted("tile");  // outs and dirs remove every tile written so far
    io::Block blk = scene.raster.read(t.window, setup.src_bands);
    const int64_t n_valid = blk.valid_count();
    bar.advance();
    if (p.skip_empty && n_valid == 0) {
      ++result.tiles_skipped;
      continue;
    }
    tiles.push_back(writer.write(t, tile_name(scene.id, t.index), blk, n_valid));
    ++result.tiles_written;
  }
  bar.finish();

  const nlohmann::json meta = scene_meta(p, scene, grid, setup, label.has_value(), tiles);
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
