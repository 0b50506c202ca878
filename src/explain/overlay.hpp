#pragma once
// Map overlays people look at first: the SAR backdrop (VV dB) with the flood map, or with a
// Grad-CAM relevance heatmap, plus a legend panel (what each colour means, a scale bar, north)
// on the right of the map. Drawn with eval::Figure (Cairo); PNGs are written atomically.
//
//   explain::OverlayInputs in{scene, 1, region, "out/s_proba.tif", "out/s_mask.tif", wkt, gt};
//   explain::write_flood_overlay_png(in, "out/s_overlay.png");
//
// Colours are colour-blind safe: flood Okabe-Ito blue #0072B2, more opaque where the calibrated
// probability is higher; dry pixels the model was unsure about (0.2 <= p < threshold) tinted
// Okabe-Ito orange #E69F00; nodata flat grey; heat in viridis. The map keeps the region's aspect:
// at most max_side pixels for the whole PNG (map + legend panel), downsampled by GDAL's
// nearest-neighbour resampled reads (memory stays small for any scene); regions much smaller
// than kMinMapSide are enlarged by the whole factor that brings them nearest to it, so the
// legend does not dwarf them.
#include <cstdint>
#include <optional>
#include <string>

#include "core/geo.hpp"
#include "eval/figure.hpp"

namespace drshym::explain {

inline constexpr int kLegendPanelWidth = 250;  // pixels right of the map
inline constexpr int kMinMapSide = 480;       // small regions are enlarged towards this
inline constexpr int kMinOverlaySide = 400;   // smallest max_side accepted
inline constexpr eval::Rgb kFloodBlue{0, 114, 178};       // #0072B2
inline constexpr eval::Rgb kUncertainOrange{230, 159, 0}; // #E69F00
inline constexpr eval::Rgb kNodataGrey{200, 200, 200};
inline constexpr eval::Rgb kPermanentNavy{20, 30, 90};     // permanent water (with classes)
inline constexpr eval::Rgb kFloodVermillion{213, 94, 0};  // #D55E00: flood water (with classes)
inline constexpr eval::Rgb kUncertainYellow{240, 228, 66}; // #F0E442: uncertain dry (with classes)
inline constexpr eval::Rgb kOutlineWhite{255, 255, 255};  // flood outline on the CAM overlay
inline constexpr eval::Rgb kExcludedPurple{204, 121, 167}; // #CC79A7: hatching over terrain-excluded ground

struct OverlayInputs {
  std::string scene_uri;   // the SAR scene (GDAL-readable)
  int vv_band = 1;         // its VV band (dB values)
  Window region;           // the scene window the products below cover (core/geo.hpp)
  std::string proba_path;  // Float32 calibrated flood probability on the region grid, NaN = nodata
  std::string mask_path;   // Byte mask on the region grid: 1 flood, 0 dry, 255 nodata
  std::string crs_wkt;     // CRS of the region grid ("" = none)
  GeoTransform geotransform;  // of the region grid
  double threshold = 0.5;
  // Byte water classes on the region grid (1 permanent, 2 flood water, 0 dry, 255 nodata), or
  // "": the water is then drawn as one class.
  std::string classes_path;
  std::string classes_source;  // infer::ClassSource as text ("change_model", ...), for the legend
  // Byte terrain exclusion flags on the region grid (terrain/exclusion.hpp: 1 steep, 2 high above
  // drainage, 255 no DEM), or "": ground with flag 1 or 2 is hatched in reddish purple.
  std::string exclusion_path;
  // Non-empty when the scene anchor could not find land (infer::SceneProducts::anchor_caution):
  // the legend ends with a caution that water may be missed.
  std::string anchor_caution;
};

// Flood map: backdrop VV in grey (-25 dB black .. 0 dB white), mask == 1 in blue with opacity
// from 0.45 at p = threshold to 0.95 at p = 1, dry pixels with 0.2 <= p < threshold tinted
// orange, nodata (mask 255, NaN probability or NaN VV) flat grey. Errors (drshym::Error, stage
// "explain" or "io", naming the file): a missing or unreadable raster, a product whose size is
// not the region's, a region outside the scene, a VV band the scene lacks, max_side below
// kMinOverlaySide; a failed write. On error no PNG is left behind.
void write_flood_overlay_png(const OverlayInputs& in, const std::string& out_png, int max_side = 1600);

// Grad-CAM heatmap (Float32 on the region grid, >= 0, NaN nodata, any scale) over the same
// backdrop: viridis with opacity rising with the heat, scaled to the 99th percentile of the
// valid heat pixels shown (the maximum when fewer than 1% are non-zero); the flood outline
// (boundary of mask == 1) in thin white. An all-zero heat gives the backdrop and "no flood to
// explain" in the legend. Errors as above.
void write_cam_overlay_png(const OverlayInputs& in, const std::string& cam_path, const std::string& out_png,
                           int max_side = 1600);

// A scale bar: a round length (1, 2 or 5 x 10^k metres) and its length in map pixels.
struct ScaleBar {
  double metres = 0;   // 0: none (unknown scale)
  double pixels = 0;
  std::string label;   // "500 m", "2 km", "0.5 m"
};
// The longest round length that fits in max_px at metres_per_pixel (ground metres of one map
// pixel along a row). {} when metres_per_pixel is not a positive number or max_px < 1.
ScaleBar choose_scale_bar(double metres_per_pixel, int max_px);

// Ground metres of one pixel step along a row of the grid at pixel (col, row): projected CRSs
// scale the step by their linear unit (metre, foot, US survey foot, ...); geographic CRSs use
// the ellipsoid's radii at that point's latitude (a degree of longitude is ~55.8 km at 60°N on
// WGS 84). nullopt when crs_wkt is "" or has no usable unit.
std::optional<double> metres_per_pixel_along_row(const std::string& crs_wkt, const GeoTransform& gt, double col,
                                                 double row);

// ---- the overlay's colours, for other renderers (the map tiles of `drshym serve`) ----
// A colour drawn over the backdrop with an opacity; alpha 0: nothing is drawn there.
struct Paint {
  eval::Rgb rgb;
  double alpha = 0;
};
// Backdrop grey of a VV value in dB: -25 dB black .. 0 dB white (clamped).
uint8_t backdrop_grey(float vv_db);
// A flood pixel (mask 1, no classes) at calibrated probability p: flood blue, opacity 0.45 at
// p = threshold rising to 0.95 at p = 1 (a non-finite p gets 0.45).
Paint flood_paint(double p, double threshold);
// Water classes: 2 (flood water) vermillion with the opacity of flood_paint; 1 (permanent
// water) navy at 0.95; anything else nothing.
Paint class_paint(int water_class, double p, double threshold);
// A dry pixel the model was unsure about (0.2 <= p < threshold): tinted orange (yellow with
// classes) at 0.45; nothing otherwise.
Paint uncertain_paint(double p, double threshold, bool with_classes);
// Terrain-excluded ground (exclusion flags 1 steep or 2 high above drainage; 255 no DEM):
// reddish purple on the hatch lines, nothing elsewhere. (x, y): pixel of the picture drawn, so
// the diagonal lines run on across a whole picture (or across adjacent map tiles).
Paint exclusion_paint(int flags, int64_t x, int64_t y);

// Viridis at t in [0, 1] (clamped): matplotlib's table at steps of 0.1, linearly interpolated.
eval::Rgb viridis(double t);

}  // namespace drshym::explain
