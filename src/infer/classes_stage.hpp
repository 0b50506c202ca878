#pragma once
// Internal to infer (not installed, not included outside src/infer/): the water classes part
// of a segment run (flood vs permanent water, p.write_classes). It holds everything the
// feature needs across the run's stages (SceneRun, scene_run.hpp), and each stage calls it
// at one point, in this order:
//
//   ClassesStage cs(p, water, given);     // prepare, before the scene is opened: usage checks;
//                                          // loads the embedded type model when one is needed
//   cs.prepare(input, scratch);            // prepare: the pre-event scene or reference raster
//                                          // checked and warped, the type band opened
//   ClassesStage::TileReader rd(cs);       // model stage, reader thread: rd.read(...) per tile
//   cs.head() / cs.predict_type(x)         // model workers: the type probabilities per batch
//   cs.add(tile, typ, valid) / cs.skip(t)  // blender thread, in grid order; then close_staging()
//   cs.write_stage(mask_stage, area);      // finish: the staged classes raster from the mask
//   cs.write_output(outs, cog);            // finish: <scene>_classes.tif (COG or GeoTIFF)
//   cs.stats(&poly), cs.provenance(), cs.processing_tag()   // record
//
// The pattern, as ExclusionStage (terrain) has it: a stage is a class the run holds in a
// std::optional (empty when the feature is off); its constructor does every check that needs
// no pixel, so a bad option fails before any work; it takes what it needs from the run in an
// explicit input (no reach into SceneRun), keeps its scratch files in the run's scratch set,
// and says itself what the record holds of it (stats, provenance, processing tag). A new stage
// plugs in the same way: a member of SceneRun, one call per phase it takes part in.
// No LibTorch here: tensors are only declared (model/segnet_fwd.hpp); classes_stage.cpp and
// the model stage (segment_model.cpp) include it.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/fs.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"
#include "infer/water_classes.hpp"
#include "ingest/preprocess.hpp"
#include "ingest/scene.hpp"
#include "io/area.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"
#include "io/warp.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::infer {

struct SegmentParams;  // infer/segment.hpp

// What the classes take from the run once its scene is open and its grids are laid. The
// references need only outlive the call to prepare, but `grid`, which the type band keeps,
// must outlive the stage.
struct ClassesInput {
  const ingest::Scene& scene;     // the opened, checked scene (its bands; the type model's anchor)
  io::Grid scene_grid;            // the whole scene: the model's tiles, the pre-event warp
  const io::CreateOptions& out;   // the output rasters' grid: the AOI's region of the scene, or all of it
  Window region;                  // that region in scene pixels
  const tiling::WindowGrid& grid;  // the model's tiles (the type band blends them; kept)
  const OutputCrop& crop;          // the AOI's crop of the outputs
  const ingest::Anchor& anchor;    // the water model's anchor recipe ...
  float anchor_shift = 0;          // ... and the shift it measured on the whole scene (dB)
  std::string base;                // <out_dir>/<scene id>: outputs and scratch files are named after it
  std::function<void()> check;     // at safe points: throws when the run is cancelled
};

class ClassesStage {
 public:
  // The class options' usage checks (checked_type_model: --before with --reference-water, a
  // change model without --before or the reverse, the occurrence, the tile) and the water type
  // model: `given` (SceneModels::type), else the embedded one loaded here, or none (the water
  // network's permanent-water head, or a reference raster). Reads no pixel. p.write_classes.
  ClassesStage(const SegmentParams& p, const Predictor& water, const Predictor* given);
  ClassesStage(const ClassesStage&) = delete;
  ClassesStage& operator=(const ClassesStage&) = delete;

  // The extra input's checks (each naming it) and preparation: the reference raster warped
  // onto the output grid, or the pre-event scene onto the scene's grid with its anchor
  // measured; then the type band the model stage blends into. Every file is adopted by
  // `scratch`. Which source decides is known from here on.
  void prepare(const ClassesInput& in, core::OutputSet& scratch);

  // ---- the model stage (segment_model.cpp), after prepare ----
  // The reader thread's part: the type model's input for each tile, from the scene block the
  // water model's input came from. One per reader thread (it holds a GDAL handle).
  class TileReader {
   public:
    explicit TileReader(const ClassesStage& stage);
    // The type model's input (C' x T x T) and its validity for window w, from `scene` (the
    // window's VV and, when the scene has it, VH, mirrored where the window overhangs the
    // scene) and its validity; the pre-event VV is read and mirrored here. Nothing (both left
    // as they are) when no type model runs.
    void read(const Window& w, const io::Block& scene, std::vector<float>& input, std::vector<uint8_t>& valid);

   private:
    const ClassesStage& stage_;
    std::optional<io::Raster> before_;
  };
  // > 0: the type layer is this head of the water network, from the pass that gives the water
  // (Predictor::predict_heads): no second network, and the type's valid pixels are the water's.
  int head() const { return type_head_; }
  // With a type model (runs_type_model()): its probabilities [N, 1, T, T] for the batch's
  // stacked type inputs [N, type_bands(), T, T] (TileReader::read's).
  bool runs_type_model() const { return type_pp_ != nullptr; }
  int64_t type_bands() const { return int64_t(type_pp_->bands.size()); }
  at::Tensor predict_type(const at::Tensor& x) const;
  // The blender thread's part, in grid order: one tile's type probabilities (T x T) where
  // valid, or a tile with none; close_staging once the model stage is done. Nothing to do
  // when a reference raster decides (no type band).
  void add(const tiling::Tile& t, const at::Tensor& type, const uint8_t* valid);
  void skip(const tiling::Tile& t);
  void close_staging();

  // ---- finish ----
  // The staged classes raster (Byte, the mask's grid) from the complete staged mask and the
  // type layer; tallies the classes (ground areas with `area`). Before the COG conversion.
  void write_stage(const std::string& mask_stage, const std::optional<io::PixelArea>& area);
  const std::string& stage() const { return stage_; }            // complete after write_stage
  const std::string& final_path() const { return final_path_; }  // <scene>_classes.tif
  // The staged raster as final_path() (COG or tiled GeoTIFF) at outs.temp(final_path()).
  void write_output(core::OutputSet& outs, bool cog) const;

  // ---- record ----
  // stats.classes: the tally and the source, with each class's polygon count when the run
  // wrote polygons (`polygons`, polygonized with water_class_names()).
  nlohmann::json stats(const io::PolygonizeResult* polygons = nullptr) const;
  nlohmann::json provenance() const;   // provenance.classes
  std::string processing_tag() const;  // for record.processing
  double seconds() const { return seconds_; }  // write_stage's time (timings_s.classes)

 private:
  void prepare_reference(const ClassesInput& in, core::OutputSet& scratch);
  void prepare_before(const ClassesInput& in, core::OutputSet& scratch);

  const SegmentParams& p_;
  const Predictor& water_;
  std::shared_ptr<const Predictor> own_type_model_;  // loaded here when the caller gave none
  const Predictor* type_model_ = nullptr;            // the caller's or own_type_model_, or null
  // prepare
  std::optional<ClassSource> source_;
  const ingest::Preprocess* type_pp_ = nullptr;  // the type model's recipe, when it runs
  int type_head_ = 0;
  Window region_;                  // the output grid in scene pixels (the pre-event stage's offset)
  int scene_width_ = 0, scene_height_ = 0;
  bool scene_vh_ = false;          // the scene has a VH band (the reader's blocks carry it second)
  float type_shift_ = 0, before_shift_ = 0, before_vv_db_ = std::numeric_limits<float>::quiet_NaN();
  int before_vv_band_ = 1;
  std::string final_path_, stage_, before_stage_, reference_stage_;  // stages: scratch rasters
  std::optional<BlendedBand> type_band_;  // the type layer's blended probabilities
  // finish
  ClassesTally tally_;
  double seconds_ = 0;
};

// Without the classes (p.write_classes off): their inputs (--before, --reference-water) are a
// usage error.
void check_no_classes(const SegmentParams& p, const Predictor& water);

}  // namespace drshym::infer
