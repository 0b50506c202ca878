// drshym segment SCENE --out DIR [--ckpt CKPT] [--aoi AOI.geojson] [--tile 512 --overlap 64] [--threshold T]
//                [--explain [--explain-method gradcam|gradcam++] [--explain-layer NAME]]
//                [--before BEFORE | --reference-water RASTER [--reference-water-min 50] | --no-classes]
//                [--dem DEM [--slope-max 10] [--hand-max 15] [--drainage-area 0.5] [--no-exclusion]]
#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"
#include "pipeline/options.hpp"
#include "pipeline/scene_job.hpp"

namespace drshym::cli {
namespace {

class SegmentCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "segment",
        "The main job: map flooded land in a whole Sentinel-1 scene. Writes, in the scene's CRS and grid,\n"
        "<scene>_proba.tif (calibrated flood probability, COG), <scene>_mask.tif (1 flood, 0 dry, 255 nodata,\n"
        "COG), <scene>_flood.geojson (polygons with area and mean probability), <scene>_overlay.png and\n"
        "<scene>_record.json (DrShymRecord + provenance + a plain-language caption with an uncertainty band).\n"
        "With --explain also <scene>_cam.tif (Grad-CAM relevance of the flood call, Float32 COG on the same grid)\n"
        "and <scene>_cam_overlay.png. Uses the embedded default model unless --ckpt.\n"
        "Water is also split into flood and permanent water: <scene>_classes.tif (0 dry, 1 permanent water,\n"
        "2 flood water, 255 nodata, COG), polygons with their class. With --before the bi-temporal change model\n"
        "(models/change) compares the pre-event scene; with --reference-water a water occurrence raster decides;\n"
        "with neither, the single-date permanent-water head of the water model itself (one pass, two heads;\n"
        "models/permanent_vv for models without one). The record says which.\n"
        "With --dem, terrain excludes ground where SAR water is not believed (radar shadow and dark slopes look\n"
        "like water): <scene>_exclusion.tif (COG, UInt8 bit flags on the scene's grid: 1 steep slope,\n"
        "2 high above drainage (HAND), 4 reserved for radar shadow/layover, 255 no DEM data). Water on flagged\n"
        "ground is removed from the mask, the classes and the polygons, counted in the record (stats.exclusion)\n"
        "and named in the caption; --no-exclusion writes the layer but removes nothing.");
    sub->add_option("scene", job_.segment.scene_uri,
                    "Scene GeoTIFF (VV or VV+VH in dB): path or URI (file://, https://, s3://)")
        ->required();
    sub->add_option("--out", job_.segment.out_dir, "Output folder")->required();
    sub->add_option("--ckpt", pred_.checkpoint,
                    "Checkpoint (.pt or folder); default: the embedded model for the scene's bands\n"
                    "(models/default for VV+VH scenes, models/default_vv for VV-only scenes)");
    sub->add_option("--type-ckpt", type_ckpt_,
                    "Checkpoint of the water type model: the change model with --before (default models/change),\n"
                    "else a separate permanent-water network (default: the model's own head, or models/permanent_vv)");
    sub->add_option("--threads", pred_.threads,
                    "CPU threads, one model worker each (0 = the CPUs this process may use: its affinity mask and\n"
                    "cgroup quota, so `taskset -c 0` or a 2-CPU container gives 1 or 2, not the host's cores)")
        ->capture_default_str();
    sub->add_option("--device", pred_.device, "cpu or cuda[:N] (needs a CUDA build of LibTorch)")->capture_default_str();
    add_precision_option(sub, precision_);
    // Every job option (tiling, threshold, outputs, explain, classes, terrain): pipeline/options.hpp.
    add_job_options(sub, job_, pipeline::kSegment);
    sub_ = sub;
    return sub;
  }

  int run() override {
    check_job_options(sub_, job_, pipeline::kSegment);
    if (!job_.segment.write_classes && !type_ckpt_.empty())
      throw Error(ErrorKind::Usage, "segment", "--type-ckpt needs the classes (not --no-classes)");
    pred_.precision = infer::parse_precision(precision_);
    // Without --ckpt, the embedded model that matches the scene's polarisations (VV+VH, or VV only).
    infer::ModelSet models({pred_, type_ckpt_});
    const auto r = pipeline::run_scene(job_, models);
    for (auto it = r.outputs.begin(); it != r.outputs.end(); ++it)
      core::log().info("  {:<12} {}", it.key(), it.value().get<std::string>());
    core::log().info("caption: {}", r.record.value("caption", std::string()));
    return 0;
  }

 private:
  pipeline::SceneJob job_;
  infer::PredictorParams pred_;
  std::string precision_ = "auto";
  std::string type_ckpt_;
  CLI::App* sub_ = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_segment_command() { return std::make_unique<SegmentCommand>(); }

}  // namespace drshym::cli
