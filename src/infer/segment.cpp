#include "infer/segment.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <limits>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "ingest/record.hpp"
#include "ingest/scene.hpp"
#include "io/raster.hpp"
#include "io/uri.hpp"
#include "io/vector.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"

namespace drshym::infer {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One prepared tile: model input (C x T x T) and validity (T x T), region coordinates.
struct TileInput {
  tiling::Tile tile;
  std::vector<float> input;
  std::vector<uint8_t> valid;
  bool empty = false;  // no valid pixel: not run through the model
  bool outside_aoi = false;  // a window the AOI's bounding box does not touch
};

// One predicted tile on its way to the blending writer: probabilities (T x T) and validity;
// proba is undefined for an empty tile.
struct TileOutput {
  tiling::Tile tile;
  torch::Tensor proba;
  std::vector<uint8_t> valid;
};

// A bounded queue between pipeline stages (any number of producers and consumers). close()
// ends the stream (carrying the producer's exception, if any, to the consumers); cancel()
// stops both sides at once (a stage failed or the run was interrupted).
template <class T>
class StageQueue {
 public:
  explicit StageQueue(size_t cap) : cap_(cap) {}
  // False when the queue was cancelled: the producer should stop.
  bool push(T t) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return q_.size() < cap_ || cancelled_; });
    if (cancelled_) return false;
    q_.push_back(std::move(t));
    cv_.notify_all();
    return true;
  }
  // False at the end of the stream or once cancelled; rethrows the producer's exception.
  bool pop(T& t) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_ || cancelled_; });
    if (error_) std::rethrow_exception(error_);
    if (cancelled_ || q_.empty()) return false;
    t = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void close(std::exception_ptr e = nullptr) {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
    error_ = e;
    cv_.notify_all();
  }
  void cancel() {
    std::lock_guard<std::mutex> lk(m_);
    cancelled_ = true;
    cv_.notify_all();
  }
  bool cancelled() {
    std::lock_guard<std::mutex> lk(m_);
    return cancelled_;
  }

 private:
  size_t cap_;
  std::deque<T> q_;
  std::mutex m_;
  std::condition_variable cv_;
  bool closed_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

bool any_set(const std::vector<uint8_t>& flags) {
  return std::any_of(flags.begin(), flags.end(), [](uint8_t v) { return v != 0; });
}

// Model workers for a run: as asked, else one per intra-op thread the predictor was given
// (each then single-threaded), or one on a GPU.
int model_workers(const SegmentParams& p, const Predictor& predictor) {
  if (p.model_workers < 0) throw Error(ErrorKind::Usage, "segment", "model workers must be >= 0");
  if (p.model_workers > 0) return p.model_workers;
  return predictor.on_cpu() ? std::max(1, at::get_num_threads()) : 1;
}

// Sets LibTorch's intra-op thread count for the lifetime of the guard (0: leave it alone).
class ModelThreadsGuard {
 public:
  explicit ModelThreadsGuard(int n) : previous_(at::get_num_threads()), set_(n > 0) {
    if (set_) at::set_num_threads(n);
  }
  ~ModelThreadsGuard() {
    if (set_) at::set_num_threads(previous_);
  }

 private:
  int previous_;
  bool set_;
};

}  // namespace

SegmentResult segment_scene(const SegmentParams& p, const Predictor& predictor) {
  const auto t_start = Clock::now();
  const auto& pp = predictor.preprocess();
  // ---- checks before any compute or output ----
  io::parse_geojson_crs(p.geojson_crs);  // a typo is a usage error, not a silently ignored option
  if (p.batch_size < 1) throw Error(ErrorKind::Usage, "segment", "batch size must be >= 1");
  if (const int m = predictor.net()->config().input_multiple(); p.grid.tile % m != 0)
    throw Error(ErrorKind::Usage, "segment",
                "tile size " + std::to_string(p.grid.tile) + " is not a multiple of " + std::to_string(m) + ", which " +
                    predictor.net()->config().arch + " needs; try " + std::to_string(std::max(m, p.grid.tile / m * m)));
  ingest::Scene scene = ingest::open_scene(p.scene_uri, pp.needs_vh());
  const io::RasterInfo info = scene.raster.info();
  core::ensure_writable_dir(p.out_dir);
  if (scene.bands.assumed)
    core::log().info("segment: no band description of {} names a polarisation: band 1 is taken as VV{}",
                     quoted(p.scene_uri), scene.bands.vh ? ", band 2 as VH" : "");
  Window region{0, 0, info.width, info.height};
  std::optional<io::Aoi> aoi;
  if (!p.aoi_path.empty()) {
    aoi = io::Aoi::read(p.aoi_path, info.crs_wkt);
    region = aoi->window_on(info.geotransform, info.width, info.height);
    if (region.empty())
      throw Error(ErrorKind::InvalidInput, "segment",
                  "AOI " + quoted(p.aoi_path) + " does not overlap scene " + quoted(p.scene_uri));
  }
  ingest::require_some_valid(scene);
  // Anchor over the whole scene (not the AOI): cropping must never change the model's input.
  float anchor_vv_db = std::numeric_limits<float>::quiet_NaN();
  bool anchor_from_tile = false;
  const float anchor_shift = ingest::scene_anchor_shift(scene, pp.anchor, &anchor_vv_db, &anchor_from_tile);
  const char* anchor_measured_on = anchor_from_tile ? "source scene (tile metadata)" : "scene";
  if (pp.anchor.enabled)
    core::log().debug("segment: anchor: VV p{:g} of the {} is {:.2f} dB, so inputs are shifted by {:+.2f} dB",
                      pp.anchor.percentile, anchor_measured_on, anchor_vv_db, anchor_shift);
  // Tiles are laid on the whole scene even with an AOI, and only those touching it run: the
  // AOI crops the outputs but never moves a tile or alters a pixel the model sees, so every
  // pixel inside it gets exactly the probability of an uncropped run.
  tiling::WindowGrid grid(info.width, info.height, p.grid);
  std::vector<uint8_t> touches(grid.tiles().size(), 0);
  for (const auto& t : grid.tiles()) touches[size_t(t.index)] = !t.window.intersect(region).empty();
  const int tiles_in_region = int(std::count(touches.begin(), touches.end(), 1));
  const int T = p.grid.tile;
  const size_t C = pp.bands.size();
  const std::string id = scene.id;
  const std::string base = p.out_dir + "/" + id;
  SegmentResult res;
  res.scene_id = id;
  res.tiles = tiles_in_region;

  core::OutputSet outs;
  io::CreateOptions geo = io::like(info, 1, io::DataType::Float32, std::nullopt);
  geo.width = region.w;
  geo.height = region.h;
  geo.geotransform = info.geotransform.shifted(region.x, region.y);
  const std::string proba_final = base + "_proba.tif", mask_final = base + "_mask.tif";
  std::optional<OutputCrop> crop;
  if (aoi) crop = OutputCrop{region, [&](const Window& w) { return aoi->rasterize(info.geotransform, w); }};
  ProbaWriter writer(geo, grid, float(predictor.threshold()), proba_final, mask_final, std::move(crop));

  // A pipeline of threads joined by bounded queues, so memory stays a few batches deep:
  //   reader (read + preprocess) → model workers → writer (blend + write finished rows).
  // On a CPU each worker runs the network single-threaded on its own batches: workers never
  // wait for one another inside a convolution, so when the reader or writer takes a core only
  // one worker pauses (with one multi-threaded network, the whole team would stall at the
  // next barrier). The writer restores grid order, so results do not depend on scheduling.
  const int workers = model_workers(p, predictor);
  ModelThreadsGuard threads_guard(workers > 1 ? 1 : 0);
  StageQueue<TileInput> inputs(size_t(2 * p.batch_size * workers));
  StageQueue<TileOutput> outputs(size_t(2 * p.batch_size * workers));
  double read_seconds = 0, write_seconds = 0;
  std::vector<double> model_seconds(size_t(workers), 0.0);
  std::atomic<int> tiles_skipped{0};
  std::mutex error_mutex;
  std::exception_ptr first_error;
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex);
      if (!first_error) first_error = e;
    }
    inputs.cancel();
    outputs.cancel();
  };
  std::thread reader, blender;
  std::vector<std::thread> model_threads;
  model_threads.reserve(size_t(workers));
  // Whatever happens, every thread is stopped and joined before this scope ends.
  struct Joiner {
    std::thread& reader;
    std::thread& blender;
    std::vector<std::thread>& models;
    StageQueue<TileInput>& in;
    StageQueue<TileOutput>& out;
    ~Joiner() {
      in.cancel();
      out.cancel();
      for (auto* t : {&reader, &blender})
        if (t->joinable()) t->join();
      for (auto& t : models)
        if (t.joinable()) t.join();
    }
  } joiner{reader, blender, model_threads, inputs, outputs};
  reader = std::thread([&] {
    try {
      auto src = io::Raster::open(p.scene_uri);  // GDAL handles are per thread
      std::vector<int> bands{scene.bands.vv};
      if (scene.bands.vh) bands.push_back(scene.bands.vh);
      for (const auto& t : grid.tiles()) {
        auto t0 = Clock::now();
        const Window& w = t.window;
        TileInput ti;
        ti.tile = t;
        // A window that misses the AOI (its bounding box, then the polygon) is neither read
        // nor run; one that touches it is read and run whole, as without an AOI.
        if (!touches[size_t(t.index)] || (aoi && !any_set(aoi->rasterize(info.geotransform, w)))) {
          ti.empty = true;
          ti.outside_aoi = !touches[size_t(t.index)];
          read_seconds += seconds_since(t0);
          if (!inputs.push(std::move(ti))) break;
          continue;
        }
        io::Block blk = src.read(w, bands);
        // A window larger than the scene (a scene smaller than one tile) overhangs it.
        for (int r = 0; r < w.h; ++r)
          for (int c = 0; c < w.w; ++c)
            if (w.x + c >= info.width || w.y + r >= info.height) blk.valid[size_t(r) * w.w + c] = 0;
        pp.apply(blk.band(0), scene.bands.vh ? blk.band(1) : nullptr, blk.valid.size(), ti.input, ti.valid,
                 blk.valid.data(), anchor_shift);
        // All nodata (a swath edge, the scene's empty wedges): nothing for the model to do.
        if (!any_set(ti.valid)) {
          ti.empty = true;
          ti.input.clear();
          ti.valid.clear();
        }
        read_seconds += seconds_since(t0);
        if (!inputs.push(std::move(ti))) break;
      }
      inputs.close();
    } catch (...) {
      fail(std::current_exception());
    }
  });
  core::Progress bar("segment " + id, int64_t(tiles_in_region), p.progress ? -1 : 0);
  blender = std::thread([&] {
    try {
      // Tiles finish out of order across workers; blend them in grid order.
      std::map<int, TileOutput> pending;
      int next = 0;
      TileOutput to;
      while (outputs.pop(to)) {
        pending.emplace(to.tile.index, std::move(to));
        for (auto it = pending.find(next); it != pending.end(); it = pending.find(++next)) {
          auto t0 = Clock::now();
          if (it->second.proba.defined())
            writer.add(it->second.tile, it->second.proba.data_ptr<float>(), it->second.valid.data());
          else
            writer.skip(it->second.tile);
          write_seconds += seconds_since(t0);
          if (touches[size_t(it->second.tile.index)]) bar.advance(1);
          pending.erase(it);
        }
      }
      if (!pending.empty() && !outputs.cancelled())
        throw Error(ErrorKind::Internal, "segment", "tile " + std::to_string(next) + " never arrived from the model");
    } catch (...) {
      fail(std::current_exception());
    }
  });
  for (int k = 0; k < workers; ++k) {
    model_threads.emplace_back([&, k] {
      try {
        std::vector<TileInput> batch;
        TileInput ti;
        bool more = true;
        while (more) {
          batch.clear();
          while (int(batch.size()) < p.batch_size && (more = inputs.pop(ti))) {
            if (!ti.empty) {
              batch.push_back(std::move(ti));
            } else {
              if (!ti.outside_aoi) ++tiles_skipped;
              if (!outputs.push({ti.tile, torch::Tensor(), {}})) return;
            }
          }
          if (batch.empty()) continue;  // only empty tiles this time (or the end: `more` is false)
          core::check_interrupted("segment");
          auto x = torch::empty({int64_t(batch.size()), int64_t(C), T, T});
          for (size_t b = 0; b < batch.size(); ++b)
            std::memcpy(x[int64_t(b)].data_ptr<float>(), batch[b].input.data(), batch[b].input.size() * sizeof(float));
          auto t0 = Clock::now();
          auto prob = predictor.predict(x);
          model_seconds[size_t(k)] += seconds_since(t0);
          for (size_t b = 0; b < batch.size(); ++b)
            if (!outputs.push({batch[b].tile, prob[int64_t(b)], std::move(batch[b].valid)})) return;
        }
      } catch (...) {
        fail(std::current_exception());
      }
    });
  }
  for (auto& t : model_threads) t.join();
  outputs.close();  // all workers are done: the writer drains what is left
  blender.join();
  reader.join();
  if (first_error) std::rethrow_exception(first_error);
  core::check_interrupted("segment");
  bar.finish();
  for (double s_k : model_seconds) res.seconds_model += s_k / workers;
  writer.close_staging();
  core::log().info("segment: {} tiles done; writing COGs{}{}", res.tiles, p.write_polygons ? ", polygons" : "",
                   p.write_overlay ? ", overlay" : "");
  res.valid_pixels = writer.valid_pixels();
  res.flood_pixels = writer.flood_pixels();
  // Every output is staged under a temporary name and renamed only once all of them exist, so
  // an interrupted or failed run never leaves a file (or a partial set) under the final names.
  // The side thread's names are reserved here, before it starts: only this thread touches outs.
  const std::string gj = base + "_flood.geojson", png = base + "_overlay.png";
  const std::string gj_tmp = p.write_polygons ? outs.temp(gj) : "", png_tmp = p.write_overlay ? outs.temp(png) : "";
  res.outputs["proba"] = proba_final;
  res.outputs["mask"] = mask_final;
  if (p.write_polygons) res.outputs["geojson"] = gj;
  if (p.write_overlay) res.outputs["overlay_png"] = png;

  // The COG conversion (this thread) and polygons + overlay (a second thread) all read the
  // complete staged rasters, so they run side by side.
  io::PolygonizeResult poly;
  double finish_seconds = 0, polygonize_seconds = 0, overlay_seconds = 0;
  std::exception_ptr side_error;
  std::thread side([&] {
    try {
      auto t0 = Clock::now();
      if (p.write_polygons)
        poly = io::polygonize_flood({writer.mask_stage(), writer.proba_stage(), gj_tmp, p.min_area_m2, p.geojson_crs});
      polygonize_seconds = seconds_since(t0);
      core::check_interrupted("segment");
      t0 = Clock::now();
      if (p.write_overlay)
        write_overlay_png(p.scene_uri, scene.bands.vv, region, writer.proba_stage(), writer.mask_stage(), png_tmp);
      overlay_seconds = seconds_since(t0);
    } catch (...) {
      side_error = std::current_exception();
    }
  });
  try {
    const auto t0 = Clock::now();
    writer.write_outputs(outs, p.cog);
    finish_seconds = seconds_since(t0);
  } catch (...) {
    side.join();
    throw;
  }
  side.join();
  if (side_error) std::rethrow_exception(side_error);
  res.seconds_total = seconds_since(t_start);
  auto rec = ingest::make_record(id, info.crs_code, info.crs_wkt, info.geotransform, region);
  rec.modality = scene.bands.vh ? "sentinel1_sar_vv_vh" : "sentinel1_sar_vv";
  rec.source_uri = io::is_local(p.scene_uri) ? io::to_file_uri(io::to_gdal_path(p.scene_uri)) : p.scene_uri;
  rec.processing = {"bands:" + nlohmann::json(pp.bands).dump(), pp.normalization.tag(),
                    "tile:" + std::to_string(T) + "x" + std::to_string(T), "overlap:" + std::to_string(p.grid.overlap),
                    "blend:cosine", "calibrate:temperature=" + std::to_string(predictor.temperature()),
                    "threshold:" + std::to_string(predictor.threshold())};
  if (pp.anchor.enabled)
    rec.processing.push_back(fmt::format("anchor:vv_p{:g}={:.2f}dB,shift={:+.2f}dB", pp.anchor.percentile,
                                         anchor_vv_db, anchor_shift));
  if (aoi) rec.processing.push_back("aoi:" + p.aoi_path);
  rec.extra_provenance = {
      {"model", predictor.meta().value("model", nlohmann::json::object())},
      {"source_bands",
       {{"vv", scene.bands.vv},
        {"vh", scene.bands.vh ? nlohmann::json(scene.bands.vh) : nlohmann::json(nullptr)},
        {"from", scene.bands.assumed ? "band order (no description names VV or VH)" : "band descriptions"}}},
      {"checkpoint", predictor.checkpoint_path()},
      {"checkpoint_sha256", predictor.checkpoint_sha256()},
      {"threshold", predictor.threshold()},
      {"temperature", predictor.temperature()},
      {"anchor", pp.anchor.enabled ? nlohmann::json{{"vv_percentile", pp.anchor.percentile},
                                                    {"vv_percentile_db", anchor_vv_db},
                                                    {"reference_db", pp.anchor.reference_db},
                                                    {"shift_db", anchor_shift},
                                                    {"measured_on", anchor_measured_on}}
                                   : nlohmann::json(nullptr)},
      {"calibration", "temperature=" + std::to_string(predictor.temperature())},
      {"calibration_source", predictor.calibration_source()},
      {"tile", T},
      {"overlap", p.grid.overlap},
      {"batch_size", p.batch_size},
      {"model_workers", workers},
      {"window", {region.x, region.y, region.w, region.h}},
      {"timings_s",
       {{"total", res.seconds_total},
        {"model", res.seconds_model},
        {"read_preprocess", read_seconds},   // on the reader thread, overlapping the model
        {"blend_write", write_seconds},      // on the writer thread, overlapping the model
        {"finish_rasters", finish_seconds},  // COG conversion, after the model
        {"polygonize", polygonize_seconds},  // alongside the COG conversion
        {"overlay", overlay_seconds}}},      // after polygonize, alongside the COG conversion
      {"drshym_version", predictor.meta().value("version", std::string())}};
  nlohmann::json stats = {{"tiles", res.tiles},
                          {"tiles_skipped_no_valid_pixel", tiles_skipped.load()},
                          {"valid_pixels", res.valid_pixels},
                          {"flood_pixels", res.flood_pixels},
                          {"flood_fraction", res.valid_pixels ? double(res.flood_pixels) / double(res.valid_pixels) : 0.0},
                          {"flood_polygons", poly.polygons},
                          {"polygons_dropped_below_min_area", poly.dropped_small},
                          {"min_area_m2", p.min_area_m2}};
  // Ground area whatever the CRS (ellipsoidal for geographic scenes, unit-scaled otherwise).
  if (const auto area_m2 = writer.flood_area_m2()) {
    stats["flood_area_km2"] = *area_m2 / 1e6;
    stats["area_method"] = writer.pixel_area()->method();
  }
  if (p.write_polygons) stats["flood_polygon_area_km2"] = poly.flood_area_m2 / 1e6;
  nlohmann::json rj = rec.to_json();
  rj["stats"] = stats;
  rj["outputs"] = res.outputs;
  rj["policy"] = {{"crs_kept", true}, {"geojson_exported", p.write_polygons}, {"nodata_preserved", true}};
  ingest::validate_record(rj);
  const std::string rec_path = base + "_record.json";
  core::write_text_file_atomic(outs.temp(rec_path), rj.dump(2) + "\n");
  res.outputs["record"] = rec_path;
  res.record = rj;
  core::check_interrupted("segment");
  for (auto it = res.outputs.begin(); it != res.outputs.end(); ++it) outs.commit(it.value().get<std::string>());
  outs.finish();
  core::log().info("segment: {} — {} tiles, {:.1f}% of valid pixels flooded, {:.1f}s ({:.1f}s in the model)", id,
                   res.tiles, 100.0 * stats["flood_fraction"].get<double>(), res.seconds_total, res.seconds_model);
  return res;
}

void write_overlay_png(const std::string& scene_uri, int vv_band, const Window& region, const std::string& proba_path,
                       const std::string& mask_path, const std::string& out_png, int max_side) {
  const double scale = std::min(1.0, double(max_side) / double(std::max(region.w, region.h)));
  const int W = std::max(1, int(std::lround(region.w * scale))), H = std::max(1, int(std::lround(region.h * scale)));
  // GDAL resamples (nearest; overviews when the file has them) straight into the small buffer.
  auto read_small = [&](const std::string& uri, int band, const Window& win) {
    std::vector<float> out(size_t(W) * H);
    io::Raster::open(uri).read_band_resampled(band, win, W, H, out.data());
    return out;
  };
  const Window out_grid{0, 0, region.w, region.h};
  std::vector<float> vv = read_small(scene_uri, vv_band, region);
  std::vector<float> prob = read_small(proba_path, 1, out_grid);
  std::vector<float> mask = read_small(mask_path, 1, out_grid);
  std::vector<uint8_t> rgb(size_t(W) * H * 3);
  const size_t plane = size_t(W) * H;
  for (size_t i = 0; i < plane; ++i) {
    float v = vv[i];
    float g = std::isfinite(v) ? std::clamp((v + 25.0f) / 25.0f, 0.0f, 1.0f) * 255.0f : 0.0f;
    float r = g, gr = g, b = g;
    if (mask[i] == 1.0f) {
      // Flood: blue, more opaque where the model is more confident.
      float a = 0.35f + 0.6f * std::clamp(std::isfinite(prob[i]) ? prob[i] : 0.0f, 0.0f, 1.0f);
      r = (1 - a) * g + a * 20;
      gr = (1 - a) * g + a * 110;
      b = (1 - a) * g + a * 255;
    } else if (mask[i] == 0.0f && std::isfinite(prob[i]) && prob[i] > 0.25f) {
      // Dry but uncertain: a faint amber tint so analysts see where to double-check.
      float a = 0.5f * (prob[i] - 0.25f) / 0.25f;
      a = std::clamp(a, 0.0f, 0.5f);
      r = (1 - a) * g + a * 255;
      gr = (1 - a) * g + a * 190;
      b = (1 - a) * g + a * 0;
    } else if (mask[i] == 255.0f) {
      r = gr = b = 0.5f * g;  // no data: darkened
    }
    rgb[i] = uint8_t(r);
    rgb[plane + i] = uint8_t(gr);
    rgb[2 * plane + i] = uint8_t(b);
  }
  io::write_png(out_png, W, H, 3, rgb.data());
}

}  // namespace drshym::infer
