#include "explain/overlay.hpp"

#include <ogr_spatialref.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <cstdio>
#include <vector>

#include "core/error.hpp"
#include "io/gdal_env.hpp"
#include "io/raster.hpp"

namespace drshym::explain {
namespace {

using eval::Align;
using eval::Figure;
using eval::Font;
using eval::Rgb;
using eval::VAlign;

constexpr double kPi = 3.14159265358979323846;
constexpr float kVvMin = -25.0f, kVvMax = 0.0f;  // backdrop: black .. white
constexpr double kUncertainLo = 0.2;
constexpr double kFloodAlphaLo = 0.45, kFloodAlphaHi = 0.95;  // at p = threshold .. 1
constexpr double kUncertainAlpha = 0.45;
// Terrain-excluded ground: 2-pixel diagonal lines every 7 map pixels, opaque enough to read over water.
constexpr size_t kHatchPeriod = 7, kHatchWidth = 2;
constexpr double kHatchAlpha = 0.85;
constexpr const char* kExcludedNote = "steep, or high above drainage (DEM)";
constexpr double kHeatAlphaMax = 0.85;
constexpr double kHeatPercentile = 0.99;
constexpr int kMargin = 10;          // white border around the map
constexpr int kScaleBarMaxPx = 150;
constexpr Rgb kMuted{90, 90, 90};    // secondary legend text
constexpr Rgb kCautionRed{170, 20, 20};  // a legend caution (the scene anchor found no land)
constexpr Rgb kMapFrame{60, 60, 60};

// ---- layout and reading ----

struct Layout {
  int map_w = 0, map_h = 0;  // map pixels
  int width = 0, height = 0; // whole figure; height grows to fit the legend
};

Layout layout_for(const Window& region, int max_side) {
  const double avail_w = max_side - 2 * kMargin - kLegendPanelWidth, avail_h = max_side - 2 * kMargin;
  double s = std::min(avail_w / region.w, avail_h / region.h);
  // Small regions: the whole factor nearest to reaching kMinMapSide, within what fits.
  if (s >= 1) s = std::clamp(std::round(double(kMinMapSide) / std::max(region.w, region.h)), 1.0, std::floor(s));
  Layout l;
  l.map_w = std::max(1, int(std::lround(region.w * s)));
  l.map_h = std::max(1, int(std::lround(region.h * s)));
  l.width = l.map_w + 2 * kMargin + kLegendPanelWidth;
  l.height = l.map_h + 2 * kMargin;
  return l;
}

io::Raster open_product(const std::string& path, const Window& region, const char* what) {
  io::Raster r = io::Raster::open(path);
  if (r.width() != region.w || r.height() != region.h)
    throw Error(ErrorKind::InvalidInput, "explain",
                std::string(what) + " " + quoted(path) + " is " + std::to_string(r.width()) + "x" +
                    std::to_string(r.height()) + " pixels, but the region it should cover is " + region.str());
  return r;
}

// The backdrop and the two products, resampled (nearest) to the map size. The scene's own
// nodata value (e.g. -99) becomes NaN like the rest.
struct MapData {
  int w = 0, h = 0;
  std::vector<float> vv, proba, mask, cls;  // cls: water classes, empty without
  std::vector<float> excl;                   // terrain exclusion flags, empty without
  bool nodata(size_t i) const { return mask[i] == 255.0f || !std::isfinite(vv[i]) || !std::isfinite(mask[i]); }
};

std::vector<float> read_small(const io::Raster& r, int band, const Window& win, int w, int h) {
  std::vector<float> out(size_t(w) * h);
  r.read_band_resampled(band, win, w, h, out.data());
  return out;
}

struct Sources {
  io::Raster scene, proba, mask;
  std::optional<io::Raster> classes;
  std::optional<io::Raster> exclusion;
};

// Opens (and checks) every input before anything is drawn, so a bad input leaves no file.
Sources open_inputs(const OverlayInputs& in, int max_side) {
  if (max_side < kMinOverlaySide)
    throw Error(ErrorKind::Usage, "explain",
                "overlay max_side must be at least " + std::to_string(kMinOverlaySide) + ", got " + std::to_string(max_side));
  if (in.region.empty()) throw Error(ErrorKind::Usage, "explain", "overlay region is empty: " + in.region.str());
  io::Raster scene = io::Raster::open(in.scene_uri);
  if (in.vv_band < 1 || in.vv_band > scene.info().bands)
    throw Error(ErrorKind::InvalidInput, "explain",
                quoted(in.scene_uri) + " has no band " + std::to_string(in.vv_band) + " (VV) for the overlay backdrop");
  if (in.region.intersect(Window{0, 0, scene.width(), scene.height()}) != in.region)
    throw Error(ErrorKind::InvalidInput, "explain",
                "overlay region " + in.region.str() + " is not inside " + quoted(in.scene_uri));
  io::Raster proba = open_product(in.proba_path, in.region, "probability raster");
  io::Raster mask = open_product(in.mask_path, in.region, "mask");
  std::optional<io::Raster> classes;
  if (!in.classes_path.empty()) classes.emplace(open_product(in.classes_path, in.region, "classes raster"));
  std::optional<io::Raster> exclusion;
  if (!in.exclusion_path.empty()) exclusion.emplace(open_product(in.exclusion_path, in.region, "exclusion raster"));
  return {std::move(scene), std::move(proba), std::move(mask), std::move(classes), std::move(exclusion)};
}

MapData read_map(const OverlayInputs& in, const Sources& src, const Layout& l) {
  MapData d;
  d.w = l.map_w;
  d.h = l.map_h;
  const Window grid{0, 0, in.region.w, in.region.h};
  d.vv = read_small(src.scene, in.vv_band, in.region, d.w, d.h);
  const auto& nd = src.scene.info().nodata[size_t(in.vv_band - 1)];
  if (nd && std::isfinite(*nd))
    for (float& v : d.vv)
      if (v == float(*nd)) v = std::nanf("");
  d.proba = read_small(src.proba, 1, grid, d.w, d.h);
  d.mask = read_small(src.mask, 1, grid, d.w, d.h);
  if (src.classes) d.cls = read_small(*src.classes, 1, grid, d.w, d.h);
  if (src.exclusion) d.excl = read_small(*src.exclusion, 1, grid, d.w, d.h);
  return d;
}

// ---- pixels ----

void put(std::vector<uint8_t>& rgb, size_t i, Rgb c) {
  rgb[3 * i] = c.r;
  rgb[3 * i + 1] = c.g;
  rgb[3 * i + 2] = c.b;
}

Rgb blend(Rgb under, Rgb over, double a) {
  auto mix = [a](uint8_t u, uint8_t o) { return uint8_t(std::lround((1 - a) * u + a * o)); };
  return {mix(under.r, over.r), mix(under.g, over.g), mix(under.b, over.b)};
}

Rgb paint_over(Rgb under, const Paint& p) { return p.alpha > 0 ? blend(under, p.rgb, p.alpha) : under; }

double flood_alpha(double p, double threshold) {
  const double t = std::isfinite(p) && threshold < 1 ? std::clamp((p - threshold) / (1 - threshold), 0.0, 1.0) : 0.0;
  return kFloodAlphaLo + (kFloodAlphaHi - kFloodAlphaLo) * t;
}

double heat_alpha(double t) { return kHeatAlphaMax * std::pow(std::clamp(t, 0.0, 1.0), 0.6); }

std::vector<uint8_t> flood_pixels(const MapData& d, double threshold) {
  std::vector<uint8_t> rgb(size_t(d.w) * d.h * 3);
  for (size_t i = 0; i < d.vv.size(); ++i) {
    const double p = d.proba[i];
    if (d.nodata(i) || (!std::isfinite(p) && d.mask[i] != 1.0f)) {
      put(rgb, i, kNodataGrey);
      continue;
    }
    const uint8_t g = backdrop_grey(d.vv[i]);
    Rgb c{g, g, g};
    const bool classes = !d.cls.empty();
    const Paint water = classes ? class_paint(int(d.cls[i]), p, threshold)
                        : d.mask[i] == 1.0f ? flood_paint(p, threshold)
                                            : Paint{};
    c = paint_over(c, water.alpha > 0 ? water : uncertain_paint(p, threshold, classes));
    // Terrain-excluded ground: diagonal hatching over whatever is drawn there.
    if (!d.excl.empty()) c = paint_over(c, exclusion_paint(int(d.excl[i]), int64_t(i % size_t(d.w)), int64_t(i / size_t(d.w))));
    put(rgb, i, c);
  }
  return rgb;
}

// ---- the legend panel ----

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// Writes legend rows top to bottom from (x, y) within width w.
class Legend {
 public:
  Legend(Figure& f, double x, double y, double w) : f_(f), x_(x), y_(y), w_(w) {}
  double y() const { return y_; }
  void gap(double d) { y_ += d; }

  void title(const std::string& s) {
    f_.text(x_, y_, s, kTitle, eval::kInk, Align::Start, VAlign::Top);
    y_ += 30;
  }
  // A square swatch (colour over a mid-grey backdrop, as on the map) with a label and an
  // optional second line in muted text.
  void swatch(Rgb fill, double alpha, const std::string& label, const std::string& sub = "") {
    const double s = 16;
    f_.fill_rect(x_, y_, s, s, kSwatchBackdrop);
    f_.fill_rect(x_, y_, s, s, fill, alpha);
    f_.stroke_rect(x_ + 0.5, y_ + 0.5, s - 1, s - 1, {kMuted, 1.0});
    f_.text(x_ + s + 8, y_ + s / 2, label, kBody, eval::kInk, Align::Start, VAlign::Middle);
    y_ += s + 6;
    if (!sub.empty()) note(sub, s + 8);
    y_ += 6;
  }
  void outline_swatch(Rgb line, const std::string& label) {
    const double s = 16;
    f_.fill_rect(x_, y_, s, s, {40, 40, 40});
    f_.stroke_rect(x_ + 3.5, y_ + 3.5, s - 7, s - 7, {line, 1.0});
    f_.text(x_ + s + 8, y_ + s / 2, label, kBody, eval::kInk, Align::Start, VAlign::Middle);
    y_ += s + 12;
  }
  void note(const std::string& s, double indent = 0, Rgb c = kMuted) {
    f_.text(x_ + indent, y_, s, kSmall, c, Align::Start, VAlign::Top);
    y_ += 17;
  }
  // A horizontal ramp with end labels under it.
  void ramp(const std::vector<Rgb>& stops, const std::vector<double>& alphas, const std::string& lo,
            const std::string& hi, double indent = 0) {
    const double x = x_ + indent, w = w_ - indent, h = 12;
    if (!alphas.empty()) f_.fill_rect(x, y_, w, h, kSwatchBackdrop);
    f_.gradient_rect(x, y_, w, h, stops, alphas);
    f_.stroke_rect(x + 0.5, y_ + 0.5, w - 1, h - 1, {kMuted, 1.0});
    y_ += h + 4;
    f_.text(x, y_, lo, kSmall, eval::kInk, Align::Start, VAlign::Top);
    f_.text(x + w, y_, hi, kSmall, eval::kInk, Align::End, VAlign::Top);
    y_ += 20;
  }
  // Alternating black and white halves with "0" and the length under the ends; a north arrow
  // at the right when the grid is north-up.
  void scale_bar(const ScaleBar& sb, bool north_up) {
    const double top = y_, h = 6;
    if (sb.pixels > 0) {
      const double len = std::round(sb.pixels), half = std::round(len / 2);
      f_.fill_rect(x_, top, half, h, eval::kInk);
      f_.fill_rect(x_ + half, top, len - half, h, eval::kWhite);
      f_.stroke_rect(x_ + 0.5, top + 0.5, len - 1, h - 1, {eval::kInk, 1.0});
      f_.text(x_, top + h + 5, "0", kSmall, eval::kInk, Align::Start, VAlign::Top);
      f_.text(x_ + len, top + h + 5, sb.label, kSmall, eval::kInk, Align::Center, VAlign::Top);
    } else {
      f_.text(x_, top, "scale unknown (no CRS)", kSmall, kMuted, Align::Start, VAlign::Top);
    }
    if (north_up) {
      const double cx = x_ + w_ - 10, ty = top - 14;
      f_.fill_polygon({{cx, ty}, {cx + 7, ty + 20}, {cx, ty + 15}, {cx - 7, ty + 20}}, eval::kInk);
      f_.text(cx, ty + 24, "N", kBold, eval::kInk, Align::Center, VAlign::Top);
    }
    y_ += 36;
  }

 private:
  static constexpr Font kTitle{15, true};
  static constexpr Font kBody{12.5, false};
  static constexpr Font kBold{12, true};
  static constexpr Font kSmall{11, false};
  static constexpr Rgb kSwatchBackdrop{128, 128, 128};
  Figure& f_;
  double x_, y_, w_;
};

bool north_up(const GeoTransform& gt) { return gt.t[2] == 0 && gt.t[4] == 0 && gt.t[1] > 0 && gt.t[5] < 0; }

// The rows every overlay's legend ends with: backdrop, nodata, scale bar and CRS.
void common_legend(Legend& lg, const OverlayInputs& in, const Layout& l) {
  lg.swatch(kNodataGrey, 1.0, "no data");
  lg.gap(2);
  lg.note("backdrop: VV backscatter (dB)", 0, eval::kInk);
  lg.ramp({eval::kBlack, eval::kWhite}, {}, fmt("%.0f", kVvMin), fmt("%.0f", kVvMax));
  lg.gap(8);
  ScaleBar sb;
  if (auto mpp = metres_per_pixel_along_row(in.crs_wkt, in.geotransform, in.region.w / 2.0, in.region.h / 2.0))
    sb = choose_scale_bar(*mpp * in.region.w / l.map_w, kScaleBarMaxPx);
  lg.scale_bar(sb, !in.crs_wkt.empty() && north_up(in.geotransform));
  const std::string code = io::crs_code_of(in.crs_wkt);
  if (!code.empty()) lg.note(code);
  if (!in.anchor_caution.empty()) {
    // The record's provenance.anchor.level and the caption give the whole reason.
    lg.note("caution: no land to anchor on;", 0, kCautionRed);
    lg.note("nearly all water or smooth land:", 0, kCautionRed);
    lg.note("water may be missed (see record)", 0, kCautionRed);
  }
}

// Figure with the map painted and its frame drawn; the legend is drawn after, on the right.
Figure map_figure(const Layout& l, const std::vector<uint8_t>& rgb, double legend_height) {
  Figure f(l.width, std::max(l.height, int(std::ceil(legend_height))));
  f.image(rgb, l.map_w, l.map_h, kMargin, kMargin);
  f.stroke_rect(kMargin - 0.5, kMargin - 0.5, l.map_w + 1, l.map_h + 1, {kMapFrame, 1.0});
  return f;
}

// The legend's height, from a dry run on a scratch figure (text sizes are fixed, so this is exact).
template <typename Draw>
double legend_height(const Draw& draw) {
  Figure scratch(kLegendPanelWidth, 2000);
  Legend lg(scratch, 0, kMargin + 6, kLegendPanelWidth - 2 * kMargin - 6);
  draw(lg);
  return lg.y() + kMargin;
}

template <typename Draw>
void draw_legend(Figure& f, const Layout& l, const Draw& draw) {
  Legend lg(f, l.map_w + 2 * kMargin + 6, kMargin + 6, kLegendPanelWidth - 2 * kMargin - 6);
  draw(lg);
}

}  // namespace

// ---- public ----

uint8_t backdrop_grey(float vv) {
  return uint8_t(std::lround(std::clamp((vv - kVvMin) / (kVvMax - kVvMin), 0.0f, 1.0f) * 255.0f));
}

Paint flood_paint(double p, double threshold) { return {kFloodBlue, flood_alpha(p, threshold)}; }

Paint class_paint(int water_class, double p, double threshold) {
  if (water_class == 2) return {kFloodVermillion, flood_alpha(p, threshold)};
  if (water_class == 1) return {kPermanentNavy, kFloodAlphaHi};
  return {};
}

Paint uncertain_paint(double p, double threshold, bool with_classes) {
  if (!(p >= kUncertainLo && p < threshold)) return {};
  return {with_classes ? kUncertainYellow : kUncertainOrange, kUncertainAlpha};
}

Paint exclusion_paint(int flags, int64_t x, int64_t y) {
  if (flags == 255 || (flags & 3) == 0) return {};
  const int64_t diagonal = ((x + y) % int64_t(kHatchPeriod) + int64_t(kHatchPeriod)) % int64_t(kHatchPeriod);
  return diagonal < int64_t(kHatchWidth) ? Paint{kExcludedPurple, kHatchAlpha} : Paint{};
}

eval::Rgb viridis(double t) {
  static constexpr std::array<Rgb, 11> kTable{{{68, 1, 84},
                                               {72, 36, 117},
                                               {65, 68, 135},
                                               {53, 95, 141},
                                               {42, 120, 142},
                                               {33, 145, 140},
                                               {34, 168, 132},
                                               {68, 191, 112},
                                               {122, 209, 81},
                                               {189, 223, 38},
                                               {253, 231, 37}}};
  if (!std::isfinite(t)) t = 0;
  const double x = std::clamp(t, 0.0, 1.0) * double(kTable.size() - 1);
  const size_t i = std::min(size_t(x), kTable.size() - 2);
  return blend(kTable[i], kTable[i + 1], x - double(i));
}

ScaleBar choose_scale_bar(double metres_per_pixel, int max_px) {
  if (!(metres_per_pixel > 0) || !std::isfinite(metres_per_pixel) || max_px < 1) return {};
  const double max_m = metres_per_pixel * max_px;
  const double p10 = std::pow(10.0, std::floor(std::log10(max_m)));
  ScaleBar sb;
  for (double m : {5.0, 2.0, 1.0})
    if (m * p10 <= max_m * (1 + 1e-9)) {
      sb.metres = m * p10;
      break;
    }
  sb.pixels = sb.metres / metres_per_pixel;
  sb.label = sb.metres >= 1000 ? fmt("%g km", sb.metres / 1000) : fmt("%g m", sb.metres);
  return sb;
}

std::optional<double> metres_per_pixel_along_row(const std::string& crs_wkt, const GeoTransform& gt, double col,
                                                 double row) {
  if (crs_wkt.empty()) return std::nullopt;
  io::gdal_init();
  OGRSpatialReference srs;
  if (srs.importFromWkt(crs_wkt.c_str()) != OGRERR_NONE) return std::nullopt;
  const double dx = gt.t[1], dy = gt.t[4];  // one column step, in CRS units
  if (srs.IsGeographic()) {
    const double a = srs.GetSemiMajor(), inv_f = srs.GetInvFlattening();
    const double to_rad = srs.GetAngularUnits(nullptr);
    if (!(a > 0) || !(to_rad > 0)) return std::nullopt;
    const double f = inv_f > 0 ? 1.0 / inv_f : 0.0, e2 = f * (2 - f);
    double lon, lat;
    gt.pixel_to_geo(col, row, lon, lat);  // GDAL's traditional order: x longitude, y latitude
    const double phi = std::clamp(lat * to_rad, -kPi / 2, kPi / 2), s = std::sin(phi);
    const double w = std::sqrt(1 - e2 * s * s);
    const double n = a / w;                     // prime vertical radius
    const double m = a * (1 - e2) / (w * w * w);  // meridional radius
    return std::hypot(dx * to_rad * n * std::cos(phi), dy * to_rad * m);
  }
  const double unit = srs.GetLinearUnits(nullptr);
  if (!(unit > 0)) return std::nullopt;
  return std::hypot(dx, dy) * unit;
}

void write_flood_overlay_png(const OverlayInputs& in, const std::string& out_png, int max_side) {
  const Sources src = open_inputs(in, max_side);
  const Layout l = layout_for(in.region, max_side);
  const MapData d = read_map(in, src, l);
  const double thr = in.threshold;
  const bool classes = !d.cls.empty();
  auto legend = [&](Legend& lg) {
    lg.title("Flood map");
    if (classes) {
      lg.swatch(kFloodVermillion, kFloodAlphaHi, "flood water", "new water; opacity rises with p:");
      lg.ramp({kFloodVermillion, kFloodVermillion}, {kFloodAlphaLo, kFloodAlphaHi}, "p = " + fmt("%.2f", thr), "1.00", 24);
      lg.swatch(kPermanentNavy, kFloodAlphaHi, "permanent water",
                in.classes_source == "change_model"      ? "dark in the pre-event scene too"
                : in.classes_source == "reference_water" ? "per the reference water map"
                                                         : "single-date guess: may hide flood");
      lg.swatch(kUncertainYellow, kUncertainAlpha, "uncertain, mapped dry",
                fmt("%.2f", kUncertainLo) + " ≤ p < " + fmt("%.2f", thr));
      if (!d.excl.empty()) lg.swatch(kExcludedPurple, kHatchAlpha, "excluded by terrain (hatched)", kExcludedNote);
      common_legend(lg, in, l);
      lg.note("p: calibrated water probability");
      return;
    }
    lg.swatch(kFloodBlue, kFloodAlphaHi, "flood", "p ≥ " + fmt("%.2f", thr) + "; opacity rises with p:");
    lg.ramp({kFloodBlue, kFloodBlue}, {kFloodAlphaLo, kFloodAlphaHi}, "p = " + fmt("%.2f", thr), "1.00", 24);
    lg.swatch(kUncertainOrange, kUncertainAlpha, "uncertain, mapped dry",
              fmt("%.2f", kUncertainLo) + " ≤ p < " + fmt("%.2f", thr));
    if (!d.excl.empty()) lg.swatch(kExcludedPurple, kHatchAlpha, "excluded by terrain (hatched)", kExcludedNote);
    common_legend(lg, in, l);
    lg.note("p: calibrated flood probability");
  };
  Figure f = map_figure(l, flood_pixels(d, thr), legend_height(legend));
  draw_legend(f, l, legend);
  f.write_png(out_png);
}

void write_cam_overlay_png(const OverlayInputs& in, const std::string& cam_path, const std::string& out_png,
                           int max_side) {
  const Sources src = open_inputs(in, max_side);
  const io::Raster cam_r = open_product(cam_path, in.region, "Grad-CAM raster");
  const Layout l = layout_for(in.region, max_side);
  const MapData d = read_map(in, src, l);
  const std::vector<float> cam = read_small(cam_r, 1, Window{0, 0, in.region.w, in.region.h}, d.w, d.h);

  // Scale: the 99th percentile of the valid heat shown; the maximum when that is zero.
  std::vector<float> valid;
  float hmax = 0;
  for (size_t i = 0; i < cam.size(); ++i)
    if (!d.nodata(i) && std::isfinite(cam[i])) {
      valid.push_back(std::max(0.0f, cam[i]));
      hmax = std::max(hmax, valid.back());
    }
  double scale = 0;
  bool by_max = false;  // fewer than 1% of the pixels have heat: the p99 is 0
  if (hmax > 0) {
    auto k = valid.begin() + std::ptrdiff_t(std::floor(kHeatPercentile * double(valid.size() - 1)));
    std::nth_element(valid.begin(), k, valid.end());
    by_max = !(*k > 0);
    scale = by_max ? double(hmax) : double(*k);
  }

  std::vector<uint8_t> rgb(size_t(d.w) * d.h * 3);
  for (size_t i = 0; i < cam.size(); ++i) {
    if (d.nodata(i)) {
      put(rgb, i, kNodataGrey);
      continue;
    }
    const uint8_t g = backdrop_grey(d.vv[i]);
    Rgb c{g, g, g};
    if (scale > 0 && std::isfinite(cam[i]) && cam[i] > 0) {
      const double t = std::min(1.0, cam[i] / scale);
      c = blend(c, viridis(t), heat_alpha(t));
    }
    put(rgb, i, c);
  }
  // The flood outline: flood pixels with a 4-neighbour that is not flood (or the map edge not
  // counted, so a flood touching the border is not boxed in).
  for (int y = 0; y < d.h; ++y)
    for (int x = 0; x < d.w; ++x) {
      const size_t i = size_t(y) * d.w + x;
      if (d.mask[i] != 1.0f) continue;
      const bool edge = (x > 0 && d.mask[i - 1] != 1.0f) || (x + 1 < d.w && d.mask[i + 1] != 1.0f) ||
                        (y > 0 && d.mask[i - size_t(d.w)] != 1.0f) || (y + 1 < d.h && d.mask[i + size_t(d.w)] != 1.0f);
      if (edge) put(rgb, i, kOutlineWhite);
    }

  auto legend = [&](Legend& lg) {
    lg.title("Grad-CAM relevance");
    if (scale > 0) {
      std::vector<Rgb> stops;
      for (int k = 0; k <= 10; ++k) stops.push_back(viridis(k / 10.0));
      lg.ramp(stops, {}, "0", by_max ? "max" : "p99");
      lg.note(by_max ? "relative relevance, 0 to max" : "relative relevance, 0 to p99", 0, eval::kInk);
      lg.note((by_max ? "max = " : "p99 = ") + fmt("%.3g", scale) + " (raw units)");
      lg.gap(6);
    } else {
      lg.note("no flood to explain", 0, eval::kInk);
      lg.note("(the heat is zero everywhere)");
      lg.gap(6);
    }
    lg.outline_swatch(kOutlineWhite, "predicted flood outline");
    common_legend(lg, in, l);
  };
  Figure f = map_figure(l, rgb, legend_height(legend));
  draw_legend(f, l, legend);
  f.write_png(out_png);
}

}  // namespace drshym::explain
