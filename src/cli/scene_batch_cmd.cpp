// drshym batch MANIFEST --out DIR [--resume] [segment options]
//   mpirun -np N drshym batch MANIFEST --out DIR      (or srun under Slurm)
#include <iostream>

#include "batch/batch.hpp"
#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "pipeline/options.hpp"

namespace drshym::cli {
namespace {

class BatchCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "batch",
        "Map many scenes with the segment pipeline. MANIFEST lists them: one path or URI per line, or a\n"
        "CSV with a header (path, and optional id, aoi), or YAML (a list of paths or of {path, id, aoi}).\n"
        "Writes DIR/<id>/ (the segment outputs and a STAC Item <id>.json) for every scene, then\n"
        "DIR/catalog.json (STAC), DIR/mosaic_{mask,proba}_<CRS>.vrt (one GDAL mosaic per CRS) and\n"
        "DIR/batch_summary.json (per scene: status, error, flooded km² with its band, timings).\n"
        "A failing scene is recorded and the rest go on; exit code 1 lists the failures.\n"
        "As a plain command the scenes run one after another on all cores. Under `mpirun -np N` (or srun)\n"
        "rank 0 hands scenes, largest first, to whichever rank is free (itself included); DIR must be on a\n"
        "filesystem every rank sees. If a rank dies, the MPI launcher ends the job; rerun with --resume.");
    sub->add_option("manifest", opt_.manifest, "Manifest: .txt (one scene per line), .csv or .yaml")->required();
    sub->add_option("--out", opt_.out_dir, "Output folder")->required();
    sub->add_flag("--resume", opt_.resume,
                  "Skip scenes whose outputs in DIR are complete and were made with the same model and options\n"
                  "(the record's provenance.output_key); recompute the others");
    sub->add_option("--ckpt", opt_.checkpoint,
                    "Checkpoint for every scene; default: the embedded model for each scene's bands");
    sub->add_option("--threads", opt_.threads,
                    "CPU threads per rank (0 = the cores a launcher pinned the rank to, else this node's usable\n"
                    "cores shared among the ranks on it)")
        ->capture_default_str()
        ->check(non_negative());
    sub->add_option("--device", opt_.device, "cpu or cuda[:N] (needs a CUDA build of LibTorch)")->capture_default_str();
    sub->add_option("--scene-timeout", opt_.scene_timeout_s,
                    "Seconds one scene may take before it is stopped and recorded as failed (0 = no limit)")
        ->capture_default_str()
        ->check(non_negative());
    // Every job option the scenes share (tiling, threshold, outputs, explain, classes, terrain):
    // pipeline/options.hpp. A manifest's aoi, before and dem columns set those per scene.
    add_job_options(sub, opt_.job, pipeline::kBatch);
    sub_ = sub;
    return sub;
  }

  int run() override {
    check_job_options(sub_, opt_.job, pipeline::kBatch, {"dem"});  // a manifest's dem column gives one per scene
    const auto r = batch::run_batch(opt_);
    if (r.summary.is_null()) {
      if (r.interrupted) throw Error(ErrorKind::Interrupted, "batch", "interrupted; rerun with --resume to continue");
      return 0;  // a rank other than 0: rank 0 reports
    }
    const auto& c = r.summary["counts"];
    core::log().info("batch: {} scenes: {} mapped, {} already complete, {} failed; {:.1f} km² flooded in all",
                     c["scenes"].get<int>(), c["done"].get<int>(), c["resumed"].get<int>(), c["failed"].get<int>(),
                     r.summary["flood_km2_total"]["flood"].get<double>());
    core::log().info("batch: wrote {}/catalog.json, {}/batch_summary.json and {} mosaic pair(s) {}/mosaic_*.vrt",
                     opt_.out_dir, opt_.out_dir, r.summary["mosaics"].size(), opt_.out_dir);
    if (r.failed == 0) return 0;
    std::cerr << "drshym: error: batch: " << r.failed << " scene(s) failed:\n";
    for (const auto& s : r.summary["scenes"])
      if (!s["error"].is_null())
        std::cerr << "  " << s["id"].get<std::string>() << ": " << s["error"]["message"].get<std::string>() << "\n";
    return 1;
  }

 private:
  batch::BatchOptions opt_;
  CLI::App* sub_ = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_batch_command() { return std::make_unique<BatchCommand>(); }

}  // namespace drshym::cli
