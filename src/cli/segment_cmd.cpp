// drshym segment SCENE --out DIR [--ckpt CKPT] [--aoi AOI.geojson] [--tile 512 --overlap 64] [--threshold T]
//                [--explain [--explain-method gradcam|gradcam++] [--explain-layer NAME]]
//                [--before BEFORE | --reference-water RASTER [--reference-water-min 50] | --no-classes]
//                [--dem DEM [--slope-max 10] [--hand-max 15] [--drainage-area 0.5] [--no-exclusion]]
#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"
#include "pipeline/scene_job.hpp"
#include "pipeline/limits.hpp"

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
    sub->add_option("scene", p_.scene_uri, "Scene GeoTIFF (VV or VV+VH in dB): path or URI (file://, https://, s3://)")
        ->required();
    sub->add_option("--out", p_.out_dir, "Output folder")->required();
    sub->add_option("--ckpt", pred_.checkpoint,
                    "Checkpoint (.pt or folder); default: the embedded model for the scene's bands\n"
                    "(models/default for VV+VH scenes, models/default_vv for VV-only scenes)");
    sub->add_option("--aoi", p_.aoi_path,
                    "Area of interest: polygon GeoJSON (any CRS); only windows touching it run and outputs are\n"
                    "cropped to it (probabilities inside equal an uncropped run's)");
    sub->add_option("--tile", p_.grid.tile, "Tile size in pixels")->capture_default_str()->check(CLI::Range(pipeline::kMinTile, pipeline::kMaxTile));
    sub->add_option("--overlap", p_.grid.overlap, "Overlap between tiles in pixels")->capture_default_str()->check(CLI::NonNegativeNumber);
    sub->add_option("--threshold", threshold_, "Decision threshold on calibrated probability (default: the checkpoint's)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--batch", p_.batch_size, "Tiles per model call, per worker")->capture_default_str()->check(CLI::Range(1, 256));
    sub->add_option("--min-area", p_.min_area_m2,
                    "Drop flood polygons smaller than this many m² of ground (any CRS: lon/lat on the ellipsoid)")
        ->capture_default_str();
    sub->add_option("--geojson-crs", p_.geojson_crs,
                    "CRS of the GeoJSON: rfc7946 (WGS84 lon/lat, no crs member), source (the scene's CRS)\n"
                    "or any CRS GDAL knows, e.g. EPSG:3857; anything else is refused before work starts")
        ->capture_default_str();
    sub->add_option("--threads", pred_.threads,
                    "CPU threads, one model worker each (0 = the CPUs this process may use: its affinity mask and\n"
                    "cgroup quota, so `taskset -c 0` or a 2-CPU container gives 1 or 2, not the host's cores)")
        ->capture_default_str();
    sub->add_option("--workers", p_.model_workers,
                    "Model workers (0 = one single-threaded worker per CPU thread; 1 = one multi-threaded network)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    sub->add_option("--device", pred_.device, "cpu or cuda[:N] (needs a CUDA build of LibTorch)")->capture_default_str();
    add_precision_option(sub, precision_);
    sub->add_flag("--no-overlay", no_overlay_, "Skip the overlay PNG");
    sub->add_flag("--explain", job_.explain.enabled,
                  "Explain the flood call with Grad-CAM: per tile, the gradient of the mean flood logit over the\n"
                  "tile's predicted flood pixels w.r.t. a layer's activations, blended like the probabilities.\n"
                  "Costs about one more forward and a partial backward pass per tile");
    sub->add_option("--explain-method", job_.explain.method, "gradcam or gradcam++")
        ->capture_default_str()
        ->check(CLI::IsMember({"gradcam", "gradcam++"}));
    sub->add_option("--explain-region", job_.explain.region_path,
                    "With --explain: explain the mean flood logit over this polygon (GeoJSON, any CRS) instead\n"
                    "of over the predicted flood pixels; tiles that miss it get zeros");
    sub->add_option("--explain-layer", job_.explain.layer,
                    "Layer to explain (unet_compact: enc0..enc4, dec3..dec0); default: the last decoder block");
    sub->add_flag("--no-polygons", no_polygons_, "Skip the GeoJSON polygons");
    sub->add_option("--before", p_.before_uri,
                    "Pre-event scene of the same area (VV or VV+VH in dB, any grid or CRS: GDAL warps it onto the\n"
                    "scene's grid). The change model then tells flood water (new) from permanent water");
    sub->add_option("--reference-water", p_.reference_water,
                    "Without --before: a water occurrence raster in % (e.g. a JRC Global Surface Water occurrence\n"
                    "tile; any CRS, GDAL warps it): water where occurrence >= --reference-water-min is permanent");
    sub->add_option("--reference-water-min", p_.reference_water_min, "Occurrence (%) from which water is permanent")
        ->capture_default_str();
    sub->add_option("--type-ckpt", type_ckpt_,
                    "Checkpoint of the water type model: the change model with --before (default models/change),\n"
                    "else a separate permanent-water network (default: the model's own head, or models/permanent_vv)");
    sub->add_flag("--no-classes", no_classes_, "Skip the flood/permanent water classes (no second model runs)");
    sub->add_option("--dem", p_.dem_uri,
                    "Digital elevation model (any CRS and resolution, heights in metres or feet; at most\n"
                    "--dem-max-ratio times coarser than the scene). Slope (GDAL's DEM processing) and height above\n"
                    "nearest drainage (HAND: priority-flood fill, D8, flow accumulation) are computed on the DEM's\n"
                    "grid around the scene and warped onto it (bilinear) to make <scene>_exclusion.tif. A model whose\n"
                    "bands include DEM, SLOPE or HAND reads them from it too (and cannot run without it)");
    sub->add_option("--slope-max", p_.exclusion.slope_max_deg,
                    "With --dem: ground steeper than this (degrees) is excluded (flag 1)")
        ->capture_default_str();
    sub->add_option("--hand-max", p_.exclusion.hand_max_m,
                    "With --dem: ground more than this many metres above its drainage (HAND) is excluded (flag 2)")
        ->capture_default_str();
    sub->add_option("--drainage-area", p_.terrain.hand.drainage_min_km2,
                    "With --dem: contributing area (km²) from which a DEM cell is drainage for HAND")
        ->capture_default_str();
    sub->add_option("--dem-margin", p_.terrain.margin_m,
                    "With --dem: ground (m) read around the scene, so that a river just outside still drains it")
        ->capture_default_str();
    sub->add_option("--dem-max-ratio", p_.terrain.max_cell_ratio,
                    "With --dem: a DEM whose cells are more than this many times the scene's pixel is refused")
        ->capture_default_str();
    sub->add_flag("--no-exclusion", no_exclusion_,
                  "With --dem: write <scene>_exclusion.tif and count water on excluded ground, but remove nothing");
    terrain_opts_ = {"--slope-max", "--hand-max", "--drainage-area", "--dem-margin", "--dem-max-ratio", "--no-exclusion"};
    sub_ = sub;
    return sub;
  }

  int run() override {
    if (threshold_ > 0) pred_.threshold = threshold_;
    pred_.precision = infer::parse_precision(precision_);
    if (p_.dem_uri.empty())
      for (const auto& o : terrain_opts_)
        if (sub_->count(o) > 0) throw Error(ErrorKind::Usage, "segment", o + " needs --dem");
    if (no_classes_ && !type_ckpt_.empty()) throw Error(ErrorKind::Usage, "segment", "--type-ckpt needs the classes (not --no-classes)");
    p_.exclusion.apply = !no_exclusion_;
    p_.write_overlay = !no_overlay_;
    p_.write_polygons = !no_polygons_;
    p_.write_classes = !no_classes_;
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
  infer::SegmentParams& p_ = job_.segment;
  infer::PredictorParams pred_;
  std::string precision_ = "auto";
  double threshold_ = -1;
  bool no_overlay_ = false, no_polygons_ = false, no_classes_ = false, no_exclusion_ = false;
  std::vector<std::string> terrain_opts_;
  CLI::App* sub_ = nullptr;
  std::string type_ckpt_;
};

}  // namespace

std::unique_ptr<Command> make_segment_command() { return std::make_unique<SegmentCommand>(); }

}  // namespace drshym::cli
