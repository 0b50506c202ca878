#pragma once
// `drshym batch MANIFEST --out DIR`: many scenes through the same pipeline as `drshym segment`.
//
//   plain command   one process works through the scenes one after another (largest first)
//                   with all local cores
//   mpirun / srun   rank 0 hands scenes out (largest first) to whichever rank is free, its own
//                   worker thread included; every rank runs segment on its share of the node's
//                   cores and writes DIR/<id>/ itself (DIR must be on a filesystem every rank
//                   sees); rank 0 gathers the outcomes
//
// A scene that fails is recorded with its error and the others go on. Then rank 0 writes
//   DIR/<id>/<id>.json        a STAC Item per mapped scene (batch/stac.hpp)
//   DIR/catalog.json          a STAC Catalog linking them
//   DIR/mosaic_*.vrt          GDAL VRT mosaics of masks and probabilities, one per CRS
//   DIR/batch_summary.json    per scene: status, error, flooded km² with its band, timings
// --resume skips scenes whose outputs are complete and were made with the same model and
// options (the record's provenance.output_key). An interrupted batch writes no catalog or
// summary; the scenes it finished stay, for --resume.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "batch/manifest.hpp"
#include "pipeline/scene_job.hpp"

namespace drshym::batch {

struct BatchOptions {
  std::string manifest;
  std::string out_dir;
  pipeline::SceneJob job;           // every scene's job (pipeline/options.hpp); scene_uri, out_dir,
                                    // aoi_path and before_uri are set per scene, dem_uri when the manifest names one
  std::string checkpoint;           // "" = the embedded default model for each scene's bands
  std::string device = "cpu";
  int threads = 0;                  // per rank; 0 = this node's cores shared among its ranks
  bool resume = false;
  double scene_timeout_s = 0;       // > 0: a scene taking longer fails with "timeout"
};

// What became of one scene: not_run until a rank reports it.
enum class SceneStatus { not_run, done, resumed, failed, interrupted };
const char* to_string(SceneStatus s);                // "done", ... as in batch_summary.json
SceneStatus parse_scene_status(const std::string& s);  // Internal error for an unknown word

struct SceneOutcome {
  std::string id, uri;
  SceneStatus status = SceneStatus::not_run;
  std::string error_code, error_message;
  nlohmann::json record;            // the scene's record (done, resumed)
  double seconds = 0;               // wall time on its rank (0 when resumed)
  int rank = 0;
  long index = -1;                  // position in the manifest
  nlohmann::json to_json() const;
  static SceneOutcome from_json(const nlohmann::json& j);
  bool ok() const { return status == SceneStatus::done || status == SceneStatus::resumed; }
};

// Runs scenes on one rank: keeps one loaded model per checkpoint.
class SceneRunner {
 public:
  SceneRunner(const BatchOptions& opt, int rank, int threads);
  ~SceneRunner();
  SceneOutcome run(const SceneEntry& scene);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BatchResult {
  std::vector<SceneOutcome> outcomes;  // manifest order
  int failed = 0;
  bool interrupted = false;
  nlohmann::json summary;              // as written to batch_summary.json (empty when interrupted)
};

// Runs the whole batch on this process's World (batch/world.hpp). Every rank calls it; only rank
// 0's result is complete (others return an empty outcome list). Usage errors (manifest, options)
// are thrown before any scene runs.
BatchResult run_batch(const BatchOptions& opt);

// The folder of a scene's outputs.
std::string scene_dir(const BatchOptions& opt, const SceneEntry& scene);

}  // namespace drshym::batch
