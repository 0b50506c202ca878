// drshym terrain --dem DEM.tif --out DIR IMAGE.tif... : the terrain planes (height, slope, HAND)
// of each image's grid, as the folder datasets read them (<split>/terrain/<image name>).
#include <filesystem>
#include <limits>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/raster.hpp"
#include "terrain/terrain.hpp"

namespace fs = std::filesystem;

namespace drshym::cli {
namespace {

class TerrainCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "terrain",
        "Terrain planes for training models that read DEM, SLOPE or HAND bands: for each image, a\n"
        "3-band Float32 GeoTIFF on its grid (1 height m, 2 slope degrees, 3 HAND m; NaN unknown) named\n"
        "like the image, computed as `segment --dem` does (DEM read around the image with a margin,\n"
        "slope by GDAL, HAND by priority-flood fill, D8 and flow accumulation, warped bilinear).\n"
        "Folder datasets read them from <split>/terrain/:\n"
        "  drshym terrain --dem dem.tif --out data/train/terrain data/train/images/*.tif");
    sub->add_option("images", images_, "Image GeoTIFFs (chips or scenes) whose grids get terrain planes")->required();
    sub->add_option("--dem", dem_, "Digital elevation model (any CRS, heights in metres or feet)")->required();
    sub->add_option("--out", out_, "Output folder (one <image name> per image)")->required();
    sub->add_option("--drainage-area", p_.hand.drainage_min_km2,
                    "Contributing area (km²) from which a DEM cell is drainage for HAND")
        ->capture_default_str();
    sub->add_option("--dem-margin", p_.margin_m, "Ground (m) read around each image")->capture_default_str();
    sub->add_option("--dem-max-ratio", p_.max_cell_ratio,
                    "A DEM whose cells are more than this many times the image's pixel is refused")
        ->capture_default_str();
    return sub;
  }

  int run() override {
    fs::create_directories(out_);
    for (const auto& image : images_) {
      const io::RasterInfo info = io::Raster::open(image).info();
      if (info.crs_wkt.empty())
        throw Error(ErrorKind::InvalidInput, "terrain", quoted(image) + " has no CRS: its grid cannot be placed on the DEM");
      const io::Grid grid{info.crs_wkt, info.geotransform, info.width, info.height};
      const fs::path out = fs::path(out_) / fs::path(image).filename();
      const std::string prefix = (fs::path(out_) / ("." + fs::path(image).stem().string() + "_terrain")).string();
      const terrain::DemWindow w = terrain::check_dem(dem_, grid, p_);
      struct Cleanup {
        std::string prefix;
        ~Cleanup() {
          std::error_code ec;
          for (const auto& f : terrain::layer_paths(prefix)) fs::remove(f, ec);
        }
      } cleanup{prefix};
      const terrain::TerrainLayers layers = terrain::compute_layers(w, grid, p_, prefix);
      io::CreateOptions co;
      co.width = info.width;
      co.height = info.height;
      co.bands = 3;
      co.geotransform = info.geotransform;
      co.crs_wkt = info.crs_wkt;
      co.nodata = std::numeric_limits<double>::quiet_NaN();
      co.descriptions = {"height_m", "slope_deg", "hand_m"};
      const std::string tmp = out.string() + ".partial";
      {
        io::Raster dst = io::Raster::create_geotiff(tmp, co);
        const Window all{0, 0, info.width, info.height};
        std::vector<float> plane(size_t(info.width) * size_t(info.height));
        int band = 1;
        for (const auto& path : {layers.dem, layers.slope, layers.hand}) {
          io::Raster::open(path).read_band(1, all, plane.data());
          dst.write_band(band++, all, plane.data());
        }
        dst.set_metadata_item("DRSHYM_TERRAIN", layers.provenance.dump());
        dst.close();
      }
      fs::rename(tmp, out);
      core::log().info("terrain: {} → {}", image, out.string());
    }
    return 0;
  }

 private:
  std::vector<std::string> images_;
  std::string dem_, out_;
  terrain::TerrainParams p_ = terrain::TerrainParams::default_params();
};

}  // namespace

std::unique_ptr<Command> make_terrain_command() { return std::make_unique<TerrainCommand>(); }

}  // namespace drshym::cli
