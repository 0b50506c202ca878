// The model stage of a segment run (SceneRun::run_model): a pipeline of threads joined by
// bounded queues, so memory stays a few batches deep:
//   reader (read + preprocess) → model workers → blender (blend + write finished rows).
// On a CPU each worker runs the network single-threaded on its own batches: workers never
// wait for one another inside a convolution, so when the reader or blender takes a core only
// one worker pauses (with one multi-threaded network, the whole team would stall at the
// next barrier). The blender restores grid order, so results do not depend on scheduling.
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/blocking_queue.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "infer/scene_run.hpp"
#include "model/segnet.hpp"

namespace drshym::infer::detail {
namespace {

// One prepared tile: model input (C x T x T) and validity (T x T), region coordinates.
struct TileInput {
  tiling::Tile tile;
  std::vector<float> input;
  std::vector<uint8_t> valid;
  std::vector<float> type_input;  // the water type model's input (C' x T x T), with its validity (ClassesStage)
  std::vector<uint8_t> type_valid;
  bool empty = false;        // no valid pixel: not run through the model
  bool outside_aoi = false;  // a window the AOI's bounding box does not touch
};

// One predicted tile on its way to the blender: probabilities (T x T) and validity; proba is
// undefined for an empty tile.
struct TileOutput {
  tiling::Tile tile;
  torch::Tensor proba;
  std::vector<uint8_t> valid;
  torch::Tensor cam;   // explanation map (T x T) when the run explains
  torch::Tensor type;  // the water type model's probabilities (T x T), with its validity
  std::vector<uint8_t> type_valid;
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

// Stacks the planes of a batch's tiles into [N, C, T, T].
torch::Tensor stack(const std::vector<TileInput>& batch, std::vector<float> TileInput::*plane, int64_t c, int64_t t) {
  auto x = torch::empty({int64_t(batch.size()), c, t, t});
  for (size_t b = 0; b < batch.size(); ++b)
    std::memcpy(x[int64_t(b)].data_ptr<float>(), (batch[b].*plane).data(), (batch[b].*plane).size() * sizeof(float));
  return x;
}

}  // namespace

// The three kinds of threads of the model stage, each a method reading the run's prepared state.
class ModelStage {
 public:
  explicit ModelStage(SceneRun& run)
      : run_(run), inputs_(queue_depth(run)), outputs_(queue_depth(run)), model_seconds_(size_t(run.workers_), 0.0) {}

  void run();

 private:
  static size_t queue_depth(const SceneRun& r) { return size_t(2 * r.p_.batch_size * r.workers_); }
  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex_);
      if (!first_error_) first_error_ = e;
    }
    inputs_.cancel();
    outputs_.cancel();
  }
  template <typename F>
  std::thread guarded(F f) {
    return std::thread([this, f] {
      try {
        f();
      } catch (...) {
        fail(std::current_exception());
      }
    });
  }
  void read_tiles();
  void run_batches(int worker);
  void predict(std::vector<TileInput>& batch, torch::Tensor& prob, torch::Tensor& cam, torch::Tensor& typ) const;
  void blend_tiles(core::Progress& bar);

  SceneRun& run_;
  core::BlockingQueue<TileInput> inputs_;
  core::BlockingQueue<TileOutput> outputs_;
  std::vector<double> model_seconds_;  // per worker
  std::atomic<int> tiles_skipped_{0};
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

void ModelStage::run() {
  const int workers = run_.workers_;
  ModelThreadsGuard threads_guard(workers > 1 ? 1 : 0);
  core::Progress bar("segment " + run_.res_.scene_id, int64_t(run_.res_.tiles), run_.p_.progress ? -1 : 0);
  std::thread reader, blender;
  std::vector<std::thread> model_threads;
  // Whatever happens, every thread is stopped and joined before this scope ends.
  struct Joiner {
    ModelStage& s;
    std::thread& reader;
    std::thread& blender;
    std::vector<std::thread>& models;
    ~Joiner() {
      s.inputs_.cancel();
      s.outputs_.cancel();
      for (auto* t : {&reader, &blender})
        if (t->joinable()) t->join();
      for (auto& t : models)
        if (t.joinable()) t.join();
    }
  } joiner{*this, reader, blender, model_threads};
  reader = guarded([this] { read_tiles(); });
  blender = guarded([this, &bar] { blend_tiles(bar); });
  for (int k = 0; k < workers; ++k) model_threads.push_back(guarded([this, k] { run_batches(k); }));
  for (auto& t : model_threads) t.join();
  outputs_.close();  // all workers are done: the blender drains what is left
  blender.join();
  reader.join();
  if (first_error_) std::rethrow_exception(first_error_);
  run_.check();
  bar.finish();
  for (double s_k : model_seconds_) run_.res_.seconds_model += s_k / workers;
  run_.tiles_skipped_ = tiles_skipped_.load();
}

void ModelStage::read_tiles() {
  const SceneRun& r = run_;
  const auto& info = r.info_;
  const auto& scene = *r.scene_;
  auto src = io::Raster::open(r.p_.scene_uri);  // GDAL handles are per thread
  std::optional<ClassesStage::TileReader> classes;
  if (r.classes_) classes.emplace(*r.classes_);
  std::vector<io::Raster> terrain_src;
  for (const auto& t : r.model_terrain_) terrain_src.push_back(io::Raster::open(t));
  std::vector<float> terrain;
  std::vector<int> bands{scene.bands.vv};
  if (scene.bands.vh) bands.push_back(scene.bands.vh);
  for (const auto& t : r.grid_->tiles()) {
    auto t0 = Clock::now();
    const Window& w = t.window;
    TileInput ti;
    ti.tile = t;
    // A window that misses the AOI (its bounding box, then the polygon) is neither read
    // nor run; one that touches it is read and run whole, as without an AOI.
    if (!r.touches_[size_t(t.index)] || (r.aoi_ && !any_set(r.aoi_->rasterize(info.geotransform, w)))) {
      ti.empty = true;
      ti.outside_aoi = !r.touches_[size_t(t.index)];
      run_.read_seconds_ += seconds_since(t0);
      if (!inputs_.push(std::move(ti))) return;
      continue;
    }
    io::Block blk = src.read(w, bands);
    // A window larger than the scene (a scene smaller than one tile) overhangs it: the
    // network sees the scene mirrored there (a constant pad reads as a dark water edge and
    // leaked into the last rows and columns), and nothing outside the scene is output.
    const bool overhangs =
        tiling::mirror_overhang(blk.data.data(), blk.bands, blk.valid.data(), w, info.width, info.height) > 0;
    if (!terrain_src.empty()) {
      // Height, slope and HAND under the window (NaN outside the scene, then mirrored as the scene is).
      const size_t n = blk.valid.size();
      terrain.resize(3 * n);
      for (size_t k = 0; k < 3; ++k) {
        io::Block tb = terrain_src[k].read(w, {1});
        tiling::mirror_overhang(tb.data.data(), 1, nullptr, w, info.width, info.height);
        std::copy(tb.data.begin(), tb.data.end(), terrain.begin() + k * n);
      }
    }
    r.pp_.apply(blk.band(0), scene.bands.vh ? blk.band(1) : nullptr, blk.valid.size(), ti.input, ti.valid,
                blk.valid.data(), r.anchor_shift_, nullptr, 0.0f, terrain_src.empty() ? nullptr : terrain.data());
    if (classes) classes->read(w, blk, ti.type_input, ti.type_valid);
    if (overhangs)
      for (int row = 0; row < w.h; ++row)
        for (int c = 0; c < w.w; ++c)
          if (w.x + c >= info.width || w.y + row >= info.height) {
            ti.valid[size_t(row) * w.w + c] = 0;
            if (!ti.type_valid.empty()) ti.type_valid[size_t(row) * w.w + c] = 0;
          }
    // All nodata (a swath edge, the scene's empty wedges): nothing for the model to do.
    if (!any_set(ti.valid)) {
      ti.empty = true;
      ti.input.clear();
      ti.valid.clear();
    }
    run_.read_seconds_ += seconds_since(t0);
    if (!inputs_.push(std::move(ti))) return;
  }
  inputs_.close();
}

// The network on one batch: water probabilities, and the explanation map and the water type
// probabilities when the run makes them.
void ModelStage::predict(std::vector<TileInput>& batch, torch::Tensor& prob, torch::Tensor& cam,
                         torch::Tensor& typ) const {
  const SceneRun& r = run_;
  const int64_t T = r.p_.grid.tile;
  const auto x = stack(batch, &TileInput::input, int64_t(r.pp_.bands.size()), T);
  const ClassesStage* classes = r.classes_ ? &*r.classes_ : nullptr;
  const int head = classes ? classes->head() : 0;
  if (r.hooks_.explain) {
    std::vector<Window> windows;
    for (const auto& b : batch) windows.push_back(b.tile.window);
    std::tie(prob, cam) = r.hooks_.explain->compute(x, windows);
    cam = cam.to(torch::kFloat).contiguous();
    if (head > 0) typ = r.predictor_.predict_heads(x).narrow(1, head, 1).contiguous();
  } else if (head > 0) {
    const auto heads = r.predictor_.predict_heads(x);  // water and permanent water, one pass
    prob = heads.narrow(1, 0, 1).contiguous();
    typ = heads.narrow(1, head, 1).contiguous();
  } else {
    prob = r.predictor_.predict(x);
  }
  if (head > 0)
    for (auto& b : batch) b.type_valid = b.valid;  // same input, same valid pixels
  if (classes && classes->runs_type_model())
    typ = classes->predict_type(stack(batch, &TileInput::type_input, classes->type_bands(), T));
}

void ModelStage::run_batches(int worker) {
  const model::GridScope grid_scope(run_.pixel_m_);  // this scene's pixel size, for every network on this thread
  std::vector<TileInput> batch;
  TileInput ti;
  bool more = true;
  while (more) {
    batch.clear();
    while (int(batch.size()) < run_.p_.batch_size && (more = inputs_.pop(ti))) {
      if (!ti.empty) {
        batch.push_back(std::move(ti));
      } else {
        if (!ti.outside_aoi) ++tiles_skipped_;
        if (!outputs_.push({ti.tile, torch::Tensor(), {}, torch::Tensor(), torch::Tensor(), {}})) return;
      }
    }
    if (batch.empty()) continue;  // only empty tiles this time (or the end: `more` is false)
    run_.check();
    const auto t0 = Clock::now();
    torch::Tensor prob, cam, typ;
    predict(batch, prob, cam, typ);
    model_seconds_[size_t(worker)] += seconds_since(t0);
    for (size_t b = 0; b < batch.size(); ++b)
      if (!outputs_.push({batch[b].tile, prob[int64_t(b)], std::move(batch[b].valid),
                          cam.defined() ? cam[int64_t(b)].contiguous() : torch::Tensor(),
                          typ.defined() ? typ[int64_t(b)].contiguous() : torch::Tensor(),
                          std::move(batch[b].type_valid)}))
        return;
  }
}

void ModelStage::blend_tiles(core::Progress& bar) {
  SceneRun& r = run_;
  // Tiles finish out of order across workers; blend them in grid order.
  std::map<int, TileOutput> pending;
  int next = 0, tiles_done = 0;
  TileOutput to;
  while (outputs_.pop(to)) {
    pending.emplace(to.tile.index, std::move(to));
    for (auto it = pending.find(next); it != pending.end(); it = pending.find(++next)) {
      const auto t0 = Clock::now();
      const TileOutput& o = it->second;
      if (o.proba.defined()) {
        r.writer_->add(o.tile, o.proba.data_ptr<float>(), o.valid.data());
        if (r.cam_) r.cam_->add(o.tile, o.cam.data_ptr<float>(), o.valid.data());
        if (r.classes_) r.classes_->add(o.tile, o.type, o.type_valid.data());
      } else {
        r.writer_->skip(o.tile);
        if (r.cam_) r.cam_->skip(o.tile);
        if (r.classes_) r.classes_->skip(o.tile);
      }
      r.write_seconds_ += seconds_since(t0);
      if (r.touches_[size_t(o.tile.index)]) {
        bar.advance(1);
        r.progress("model", double(++tiles_done) / double(std::max(1, r.res_.tiles)));
      }
      pending.erase(it);
    }
  }
  if (!pending.empty() && !outputs_.cancelled())
    throw Error(ErrorKind::Internal, "segment", "tile " + std::to_string(next) + " never arrived from the model");
}

void SceneRun::run_model() {
  workers_ = model_workers(p_, predictor_);
  ModelStage(*this).run();
  writer_->close_staging();
  if (cam_) cam_->close_staging();
  if (classes_) classes_->close_staging();
  res_.valid_pixels = writer_->valid_pixels();
  res_.flood_pixels = writer_->flood_pixels();
}

}  // namespace drshym::infer::detail
