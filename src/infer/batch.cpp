#include "infer/batch.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "infer/proba_writer.hpp"
#include "infer/predictor.hpp"
#include "infer/segment.hpp"
#include "ingest/scene.hpp"
#include "io/raster.hpp"

namespace fs = std::filesystem;

namespace drshym::infer {

std::vector<std::string> geotiffs_in(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && (ext == ".tif" || ext == ".tiff")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string default_model_for_folder(const std::string& dir) {
  for (const auto& f : geotiffs_in(dir)) {
    try {
      return default_model_for_scene(f);
    } catch (const Error&) {
      // Unreadable tiles are reported by predict itself; keep looking for one that opens.
    }
  }
  return default_model_path();
}

PredictFolderResult predict_folder(const PredictFolderParams& p, const Predictor& predictor) {
  if (!fs::is_directory(p.in_dir))
    throw Error(ErrorKind::NotFound, "predict", "input folder " + quoted(p.in_dir) + " does not exist");
  const std::vector<std::string> files = geotiffs_in(p.in_dir);
  if (files.empty()) throw Error(ErrorKind::InvalidInput, "predict", "no GeoTIFF (*.tif) in " + quoted(p.in_dir));
  // Outputs are named by the stem: a.tif and a.tiff would overwrite each other's.
  std::map<std::string, std::string> by_stem;
  for (const auto& f : files) {
    auto [it, fresh] = by_stem.emplace(fs::path(f).stem().string(), f);
    if (!fresh)
      throw Error(ErrorKind::InvalidInput, "predict",
                  quoted(it->second) + " and " + quoted(f) + " share the name " + quoted(it->first) +
                      ": their outputs (" + it->first + "_proba.tif, ...) would overwrite each other; rename or "
                      "move one of them");
  }
  core::ensure_writable_dir(p.out_dir);
  PredictFolderResult res;
  // Outputs of this run: all removed if it is interrupted (a run stops whole, never half).
  core::OutputSet run_outputs;
  for (const auto& f : files) {
    core::check_interrupted("predict");
    try {
      int w, h;
      {
        const ingest::Scene scene = ingest::open_scene(f, false);
        // Nothing to predict (e.g. a tile of `drshym tile` beyond the swath's edge): not an
        // error; stitch knows such tiles from their valid_fraction 0 and leaves them nodata.
        if (!ingest::has_some_valid(scene)) {
          res.empty.push_back(f);
          continue;
        }
        w = scene.raster.width();
        h = scene.raster.height();
      }
      SegmentParams sp;
      sp.scene_uri = f;
      sp.out_dir = p.out_dir;
      sp.batch_size = p.batch_size;
      sp.write_polygons = false;
      sp.write_overlay = false;
      sp.cog = false;
      sp.progress = false;
      sp.write_classes = false;  // predict writes probabilities and masks for stitch
      // A tile-sized file is one window (so `stitch` reproduces `segment`); larger files are tiled.
      const int side = std::max(w, h);
      if (side <= 1024) sp.grid = {((side + 31) / 32) * 32, 0};
      const auto r = segment_scene(sp, predictor);
      for (auto it = r.outputs.begin(); it != r.outputs.end(); ++it) run_outputs.adopt(it.value().get<std::string>());
      res.predicted.push_back(f);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Interrupted) throw;  // not a bad file: the user stopped the run
      res.failed.emplace_back(f, e.what());
    }
  }
  run_outputs.finish();
  core::log().info("predict: {} of {} files predicted into {}", res.predicted.size(), files.size(), p.out_dir);
  if (!res.empty.empty())
    core::log().info("predict: {} file(s) hold no valid pixel (all nodata): nothing to predict, no output written",
                     res.empty.size());
  if (!res.failed.empty()) {
    core::log().warn("predict: {} file(s) skipped:", res.failed.size());
    for (const auto& [f, why] : res.failed) core::log().warn("  {}: {}", f, why);
  }
  return res;
}

StitchResult stitch_tiles(const StitchParams& p) {
  if (p.threshold) require_threshold(*p.threshold, "stitch", "--threshold");
  auto meta = core::read_json_file(p.scene_meta);
  for (const char* k : {"scene_id", "width", "height", "geotransform", "crs_wkt", "tile", "overlap", "tiles"})
    if (!meta.contains(k))
      throw Error(ErrorKind::InvalidInput, "stitch", quoted(p.scene_meta) + " lacks field '" + std::string(k) + "'");
  if (!fs::is_directory(p.proba_dir))
    throw Error(ErrorKind::NotFound, "stitch", "proba folder " + quoted(p.proba_dir) + " does not exist");
  // The scene id names the outputs: a plain file name, never a path (a crafted scene_meta.json
  // must not write outside --out).
  const std::string scene_id = meta["scene_id"].is_string() ? meta["scene_id"].get<std::string>() : std::string();
  if (scene_id.empty() || scene_id == "." || scene_id == ".." || scene_id.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
    throw Error(ErrorKind::InvalidInput, "stitch",
                quoted(p.scene_meta) + ": scene_id " + quoted(scene_id) + " is not a plain file name");
  core::ensure_writable_dir(p.out_dir);
  const int W = meta["width"], H = meta["height"];
  tiling::WindowGrid grid(W, H, {meta["tile"].get<int>(), meta["overlap"].get<int>()});
  io::CreateOptions geo;
  geo.width = W;
  geo.height = H;
  for (int i = 0; i < 6; ++i) geo.geotransform.t[i] = meta["geotransform"][i];
  geo.crs_wkt = meta["crs_wkt"];

  // Tile index → predicted probability file. Tiles `tile` knew to hold no valid pixel (left out
  // of scene_meta.json by --skip-empty, or listed with valid_fraction 0) have nothing to predict:
  // predict writes nothing for them and their pixels stay nodata. Any other tile without its
  // file is missing.
  std::map<int, std::string> files;
  std::set<int> known_empty;
  for (const auto& t : meta["tiles"]) {
    std::string stem = fs::path(t["image"].get<std::string>()).stem().string();
    const int index = t["index"].get<int>();
    files[index] = p.proba_dir + "/" + stem + "_proba.tif";
    if (t.contains("valid_fraction") && t["valid_fraction"].is_number() && t["valid_fraction"].get<double>() <= 0)
      known_empty.insert(index);
  }
  StitchResult res;
  std::vector<std::string> missing;
  for (const auto& t : grid.tiles()) {
    auto it = files.find(t.index);
    if (it != files.end() && fs::exists(it->second)) continue;
    if (it == files.end() || known_empty.count(t.index)) ++res.tiles_empty;
    else missing.push_back(it->second);
  }
  res.tiles_missing = int(missing.size());
  const int with_data = int(grid.tiles().size()) - res.tiles_empty;
  if (!missing.empty() && res.tiles_missing < with_data) {
    const std::string what = std::to_string(missing.size()) + " of " + std::to_string(with_data) +
                             " tiles with valid pixels have no prediction in " + quoted(p.proba_dir) + " (first: " +
                             quoted(missing.front()) + ")";
    if (!p.allow_missing)
      throw Error(ErrorKind::NotFound, "stitch",
                  what + ": their pixels would be nodata in the scene; predict them, or pass --allow-missing to "
                         "stitch with these gaps");
    core::log().warn("stitch: {}: their pixels are nodata in the outputs (--allow-missing)", what);
  }
  if (p.threshold) {
    res.threshold = *p.threshold;
  } else {
    res.threshold = 0.5;
    for (const auto& [idx, f] : files) {
      std::string rec = f.substr(0, f.size() - std::string("_proba.tif").size()) + "_record.json";
      if (fs::exists(rec)) {
        res.threshold = core::read_json_file(rec)["provenance"].value("threshold", 0.5);
        break;
      }
    }
  }
  const std::string& id = scene_id;
  res.proba_path = p.out_dir + "/" + id + "_proba.tif";
  res.mask_path = p.out_dir + "/" + id + "_mask.tif";
  core::OutputSet outs;
  ProbaWriter writer(geo, grid, float(res.threshold), res.proba_path, res.mask_path);
  const int T = grid.params().tile;
  std::vector<float> prob(size_t(T) * T);
  std::vector<uint8_t> valid(prob.size());
  for (const auto& t : grid.tiles()) {
    core::check_interrupted("stitch");
    auto it = files.find(t.index);
    if (it == files.end() || !fs::exists(it->second)) {  // counted above: empty or missing
      std::fill(valid.begin(), valid.end(), 0);
      writer.add(t, prob.data(), valid.data());
      continue;
    }
    auto r = io::Raster::open(it->second);
    if (r.width() != T || r.height() != T)
      throw Error(ErrorKind::InvalidInput, "stitch", quoted(it->second) + " is " + std::to_string(r.width()) + "x" +
                                                         std::to_string(r.height()) + ", expected the grid's " +
                                                         std::to_string(T) + "x" + std::to_string(T));
    io::Block b = r.read(Window{0, 0, T, T}, {1});
    writer.add(t, b.data.data(), b.valid.data());
    ++res.tiles_used;
  }
  if (res.tiles_used == 0)
    throw Error(ErrorKind::InvalidInput, "stitch",
                "no tile of " + quoted(p.scene_meta) + " has a prediction in " + quoted(p.proba_dir) +
                    " (expected files like " + quoted(files.empty() ? std::string("<tile>_proba.tif") : files.begin()->second) +
                    "); nothing to stitch");
  writer.write_outputs(outs, p.cog);
  core::check_interrupted("stitch");
  outs.commit(res.proba_path);
  outs.commit(res.mask_path);
  outs.finish();
  core::log().info("stitch: {} tiles blended ({} without valid pixels, {} missing) into {}", res.tiles_used,
                   res.tiles_empty, res.tiles_missing, res.proba_path);
  return res;
}

}  // namespace drshym::infer
