// drshym tile SCENE [--label LABEL] --out DIR [--tile 512 --overlap 64]
#include "cli/command.hpp"
#include "core/log.hpp"
#include "ingest/tile_scene.hpp"

namespace drshym::cli {
namespace {

class TileCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand("tile",
                                   "Cut a scene into overlapping georeferenced tiles with one DrShymRecord JSON\n"
                                   "per tile and a scene_meta.json (for training patches and `drshym stitch`).");
    sub->add_option("scene", p_.scene_uri, "Sentinel-1 scene: GeoTIFF path or URI (file://, https://, s3://)")
        ->required();
    sub->add_option("--label", p_.label_uri, "Label raster on the same grid (0 dry, 1 water, -1/nodata unknown)");
    sub->add_option("--out", p_.out_dir, "Output folder")->required();
    sub->add_option("--tile", p_.grid.tile, "Tile size in pixels")
        ->capture_default_str()
        ->check(number_in(1, tiling::kMaxTile));
    sub->add_option("--overlap", p_.grid.overlap, "Overlap between neighbouring tiles in pixels (less than tile/2)")
        ->capture_default_str()
        ->check(number_in(0, tiling::kMaxTile));
    sub->add_flag("--skip-empty", p_.skip_empty, "Do not write tiles that hold no valid pixel");
    return sub;
  }

  int run() override {
    auto r = ingest::tile_scene(p_);
    core::log().info("scene meta: {}", r.scene_meta_path);
    return 0;
  }

 private:
  ingest::TileParams p_;
};

}  // namespace

std::unique_ptr<Command> make_tile_command() { return std::make_unique<TileCommand>(); }

}  // namespace drshym::cli
