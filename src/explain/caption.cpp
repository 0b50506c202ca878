#include "explain/caption.hpp"

#include <ogr_spatialref.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/area.hpp"
#include "io/raster.hpp"

namespace drshym::explain {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Pixel centres of a grid → local ground metres (x east, y north) around the grid's centre:
// projected CRSs scaled by their linear unit, lon/lat by an equirectangular approximation on
// the ellipsoid's semi-major axis at the centre latitude (good to a fraction of a percent over
// a scene).
class GroundFrame {
 public:
  GroundFrame(const std::string& crs_wkt, const GeoTransform& gt, int w, int h) : gt_(gt) {
    gt.pixel_to_geo(w / 2.0, h / 2.0, cx_, cy_);
    if (!crs_wkt.empty()) {
      OGRSpatialReference srs;
      srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
      if (srs.importFromWkt(crs_wkt.c_str()) == OGRERR_NONE) {
        if (srs.IsGeographic()) {
          const double a = srs.GetSemiMajor();
          const double rad = kPi / 180.0;
          sy_ = a * rad;
          sx_ = a * rad * std::cos(cy_ * rad);
        } else {
          sx_ = sy_ = srs.GetLinearUnits();
        }
      }
    }
  }
  void at(double col, double row, double& x, double& y) const {
    double gx, gy;
    gt_.pixel_to_geo(col, row, gx, gy);
    x = (gx - cx_) * sx_;
    y = (gy - cy_) * sy_;
  }

 private:
  GeoTransform gt_;
  double cx_ = 0, cy_ = 0, sx_ = 1, sy_ = 1;
};

std::string km2(double v) {
  if (v >= 100) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  if (v >= 0.1) return fmt::format("{:.2f}", v);
  if (v == 0) return "0";
  return fmt::format("{:.2g}", v);
}

std::string percent(double share) {
  const double p = 100.0 * share;
  if (p == 0) return "0%";
  if (p < 0.1) return "<0.1%";
  if (p < 1) return fmt::format("{:.1f}%", p);
  return fmt::format("{:.0f}%", p);
}

std::string length_words(double m) {
  if (m < 1000) return fmt::format("{:.0f} m", std::max(10.0, std::round(m / 10.0) * 10.0));
  return fmt::format("{:.1f} km", m / 1000.0);
}

std::string where_phrase(const std::string& where) {
  return where == "centre" ? "in the centre of the scene" : "in the scene's " + where;
}

}  // namespace

std::string direction_words(double axis_deg) {
  double d = std::fmod(axis_deg, 180.0);
  if (d < 0) d += 180.0;
  if (d < 22.5 || d >= 157.5) return "east-west";
  if (d < 67.5) return "north-east";
  if (d < 112.5) return "north-south";
  return "north-west";
}

std::string place_words(double from_west, double from_north) {
  const std::string ns = from_north < 1.0 / 3 ? "north" : from_north > 2.0 / 3 ? "south" : "";
  const std::string ew = from_west < 1.0 / 3 ? "west" : from_west > 2.0 / 3 ? "east" : "";
  if (ns.empty() && ew.empty()) return "centre";
  if (ns.empty()) return ew;
  if (ew.empty()) return ns;
  return ns + "-" + ew;
}

nlohmann::json FloodSummary::to_json() const {
  nlohmann::json j = {{"verdict", verdict},
                      {"area_unit", has_area ? "km2" : "pixels"},
                      {"flood_km2", flood_km2},
                      {"likely_km2", likely_km2},
                      {"possible_km2", possible_km2},
                      {"expected_km2", expected_km2},
                      {"valid_km2", valid_km2},
                      {"flood_share_of_valid", flood_share_of_valid},
                      {"nodata_share", nodata_share},
                      {"mean_flood_probability", mean_flood_probability},
                      {"confidence", confidence},
                      {"patches", patches},
                      {"pattern", pattern}};
  if (patches > 0)
    j["largest_body"] = {{"area_km2", largest.area_m2 / 1e6},   {"share_of_flood", largest.share_of_flood},
                         {"length_km", largest.length_m / 1e3}, {"width_km", largest.width_m / 1e3},
                         {"elongation", largest.elongation},    {"axis_deg", largest.axis_deg},
                         {"direction", largest.direction},      {"where", largest.where}};
  j["rules"] = {{"likely_p", infer::FloodTally::kLikely}, {"possible_p", infer::FloodTally::kPossible},
                {"shape_grid_max_side", kShapeGridSide}};
  return j;
}

namespace {

// How a sentence puts its areas: the tally's unit, its words and the closing note on missing data.
struct Wording {
  double unit;              // m² → km², or pixels as they are
  std::string area_unit;    // " km²" or " pixels"
  std::string nodata_note;  // "" unless at least 1% of the scene (or the AOI polygon) had no valid data
};

// The figures that come straight from the tally: areas in km² (pixels without a CRS) and shares.
FloodSummary tally_figures(const infer::FloodTally& t, double unit) {
  FloodSummary s;
  s.has_area = t.has_area;
  s.flood_km2 = t.flood_m2 / unit;
  s.likely_km2 = std::min(t.likely_m2, t.flood_m2) / unit;
  s.possible_km2 = std::max(t.possible_m2, t.flood_m2) / unit;
  s.expected_km2 = t.expected_m2 / unit;
  s.valid_km2 = t.valid_m2 / unit;
  s.flood_share_of_valid = t.valid_m2 > 0 ? t.flood_m2 / t.valid_m2 : 0.0;
  // Of the pixels asked about: those outside an AOI polygon are not missing data.
  const int64_t judged = t.judged_pixels();
  s.nodata_share = judged > 0 ? double(judged - t.valid_pixels) / double(judged) : 1.0;
  s.mean_flood_probability = t.flood_pixels > 0 ? t.flood_p_sum / double(t.flood_pixels) : 0.0;
  return s;
}

// "No flooding detected ...", with how much ground is possibly flooded when there is any.
std::string no_flooding_text(const infer::FloodTally& t, const FloodSummary& s, const Wording& wd) {
  std::string text = "No flooding detected in the valid area (" + km2(s.valid_km2) + wd.area_unit + ")";
  if (t.possible_m2 > 0)
    text += "; up to " + km2(t.possible_m2 / wd.unit) + wd.area_unit + " is possibly flooded (probability at least " +
            fmt::format("{:g}", infer::FloodTally::kPossible) + ")";
  text += "." + wd.nodata_note;
  return text;
}

// "Flooding detected over ...", with `shape` describing where and how the flood lies.
std::string flooding_text(const FloodSummary& s, const Wording& wd, const std::string& shape) {
  return "Flooding detected over " + km2(s.flood_km2) + wd.area_unit + " (likely " + km2(s.likely_km2) +
         ", possibly up to " + km2(s.possible_km2) + wd.area_unit + "), " + percent(s.flood_share_of_valid) +
         " of the valid area, " + shape + "; confidence " + s.confidence + "." + wd.nodata_note;
}

// The mask on a grid of at most kShapeGridSide a side, with that grid's ground frame and pixel areas.
struct ShapeGrid {
  int w, h;
  double sx, sy;  // mask pixels per grid pixel, along x and along y
  std::vector<float> m;
  std::optional<io::PixelArea> pixel_area;
  GroundFrame frame;
  double area_at(int c, int r) const { return pixel_area ? pixel_area->at(c, r) : sx * sy; }
};

// Reads the mask decimated (nearest) to the shape grid; the grid's geotransform is the mask's, scaled.
ShapeGrid read_shape_grid(const CaptionInput& in) {
  auto mask = io::Raster::open(in.mask_path);
  const int W = mask.width(), H = mask.height();
  const int f = std::max(1, int(std::ceil(double(std::max(W, H)) / kShapeGridSide)));
  const int w = std::max(1, (W + f - 1) / f), h = std::max(1, (H + f - 1) / f);
  std::vector<float> m(size_t(w) * h);
  mask.read_band_resampled(1, Window{0, 0, W, H}, w, h, m.data());
  GeoTransform g = in.geotransform;
  const double sx = double(W) / w, sy = double(H) / h;
  g.t[1] *= sx;
  g.t[4] *= sx;
  g.t[2] *= sy;
  g.t[5] *= sy;
  auto pixel_area = in.crs_wkt.empty() ? std::nullopt : io::PixelArea::for_grid(in.crs_wkt, g);
  return ShapeGrid{w, h, sx, sy, std::move(m), std::move(pixel_area), GroundFrame(in.crs_wkt, g, w, h)};
}

// Area-weighted moments of a body's ground coordinates (x east, y north, metres).
struct Moments {
  double a = 0, x = 0, y = 0, xx = 0, yy = 0, xy = 0;
};

// The 8-connected flood bodies of the shape grid.
struct Components {
  std::vector<int32_t> label;  // per grid pixel: its body, or -1
  std::vector<Moments> comps;  // per body
  double total = 0;            // flood area of all bodies
};

// Labels the bodies by breadth-first flood fill, in row-major order of their first pixel.
Components label_components(const ShapeGrid& g) {
  const int w = g.w, h = g.h;
  Components bodies;
  bodies.label.assign(g.m.size(), -1);
  std::deque<std::pair<int, int>> queue;
  for (int r0 = 0; r0 < h; ++r0)
    for (int c0 = 0; c0 < w; ++c0) {
      const size_t i0 = size_t(r0) * w + c0;
      if (g.m[i0] != 1.0f || bodies.label[i0] >= 0) continue;
      const int id = int(bodies.comps.size());
      bodies.comps.emplace_back();
      Moments& mo = bodies.comps.back();
      bodies.label[i0] = id;
      queue.emplace_back(c0, r0);
      while (!queue.empty()) {
        auto [c, r] = queue.front();
        queue.pop_front();
        double x, y;
        g.frame.at(c + 0.5, r + 0.5, x, y);
        const double a = g.area_at(c, r);
        mo.a += a;
        mo.x += a * x;
        mo.y += a * y;
        mo.xx += a * x * x;
        mo.yy += a * y * y;
        mo.xy += a * x * y;
        for (int dr = -1; dr <= 1; ++dr)
          for (int dc = -1; dc <= 1; ++dc) {
            const int cc = c + dc, rr = r + dr;
            if (cc < 0 || rr < 0 || cc >= w || rr >= h) continue;
            const size_t j = size_t(rr) * w + cc;
            if (g.m[j] == 1.0f && bodies.label[j] < 0) {
              bodies.label[j] = id;
              queue.emplace_back(cc, rr);
            }
          }
      }
      bodies.total += mo.a;
    }
  return bodies;
}

// Place: the centroid within the box of the grid's corners, in the same ground frame.
std::string place_in_grid(const ShapeGrid& g, double mx, double my) {
  double xs[4], ys[4];
  g.frame.at(0, 0, xs[0], ys[0]);
  g.frame.at(g.w, 0, xs[1], ys[1]);
  g.frame.at(0, g.h, xs[2], ys[2]);
  g.frame.at(g.w, g.h, xs[3], ys[3]);
  const double minx = *std::min_element(xs, xs + 4), maxx = *std::max_element(xs, xs + 4);
  const double miny = *std::min_element(ys, ys + 4), maxy = *std::max_element(ys, ys + 4);
  return place_words((mx - minx) / std::max(1e-9, maxx - minx), (maxy - my) / std::max(1e-9, maxy - miny));
}

// The largest body: its size along and across its principal axis, direction and place.
FloodBody largest_body(const ShapeGrid& g, const Components& bodies) {
  const int w = g.w, h = g.h;
  const int best = int(std::max_element(bodies.comps.begin(), bodies.comps.end(),
                                        [](const Moments& a, const Moments& b) { return a.a < b.a; }) -
                       bodies.comps.begin());
  const Moments& mo = bodies.comps[size_t(best)];
  const double mx = mo.x / mo.a, my = mo.y / mo.a;
  const double cxx = mo.xx / mo.a - mx * mx, cyy = mo.yy / mo.a - my * my, cxy = mo.xy / mo.a - mx * my;
  const double theta = 0.5 * std::atan2(2.0 * cxy, cxx - cyy);  // principal axis, from east towards north
  const double ux = std::cos(theta), uy = std::sin(theta);
  double lo = std::numeric_limits<double>::max(), hi = -lo, lo2 = lo, hi2 = -lo;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      if (bodies.label[size_t(r) * w + c] != best) continue;
      double x, y;
      g.frame.at(c + 0.5, r + 0.5, x, y);
      const double along = (x - mx) * ux + (y - my) * uy, across = -(x - mx) * uy + (y - my) * ux;
      lo = std::min(lo, along);
      hi = std::max(hi, along);
      lo2 = std::min(lo2, across);
      hi2 = std::max(hi2, across);
    }
  // Extents between pixel centres, plus one pixel (its ground size along that direction).
  const double px = std::sqrt(mo.a / std::max(1.0, double(std::count(bodies.label.begin(), bodies.label.end(), best))));
  FloodBody b;
  b.area_m2 = mo.a;
  b.share_of_flood = mo.a / bodies.total;
  b.length_m = hi - lo + px;
  b.width_m = hi2 - lo2 + px;
  // Length over mean width (area / length): a meandering river is a band even where its
  // bends make it as wide as it is long in extent.
  b.elongation = b.length_m * b.length_m / std::max(mo.a, px * px);
  b.axis_deg = std::fmod(theta * 180.0 / kPi + 180.0, 180.0);
  b.direction = direction_words(b.axis_deg);
  b.where = place_in_grid(g, mx, my);
  return b;
}

// The flood's pattern and the words for its shape.
struct ShapeWords {
  std::string pattern;  // "contiguous band", "compact area" or "scattered patches"
  std::string shape;
};

// The pattern follows the largest body's share of the flood and its elongation.
ShapeWords shape_words(int patches, const FloodBody& b, bool has_area) {
  ShapeWords sw;
  if (b.share_of_flood >= 0.5 && b.elongation >= 3.0) {
    sw.pattern = "contiguous band";
    sw.shape = "mostly a contiguous band about " + length_words(b.length_m) + " long running " + b.direction + " " +
               where_phrase(b.where);
  } else if (b.share_of_flood >= 0.5) {
    sw.pattern = "compact area";
    sw.shape = "mostly a compact area about " + length_words(b.length_m) + " across " + where_phrase(b.where);
  } else {
    sw.pattern = "scattered patches";
    sw.shape = fmt::format("in {} scattered patches, the largest about {} long {}", patches, length_words(b.length_m),
                           where_phrase(b.where));
  }
  if (!has_area) sw.shape += " (no CRS: sizes in pixels)";
  return sw;
}

}  // namespace

FloodSummary summarize_flood(const CaptionInput& in) {
  const auto& t = in.tally;
  const double unit = t.has_area ? 1e6 : 1.0;  // m² → km², or pixels as they are
  FloodSummary s = tally_figures(t, unit);
  const std::string region = t.outside_aoi_pixels > 0 ? "the area of interest" : "the scene";
  const Wording wd{unit, t.has_area ? " km²" : " pixels",
                   s.nodata_share >= 0.01 ? " " + percent(s.nodata_share) + " of " + region + " had no valid data." : ""};

  const int64_t judged = t.judged_pixels();
  if (t.valid_pixels < 100 || double(t.valid_pixels) < 0.01 * double(judged)) {
    s.verdict = "too_little_data";
    s.text = fmt::format("Too few valid pixels to judge: {} valid of {} pixel{} in {} (at least 100, and 1% of them, "
                         "are needed).",
                         t.valid_pixels, judged, judged == 1 ? "" : "s", region);
    return s;
  }
  if (t.flood_pixels == 0) {
    s.verdict = "no_flooding";
    s.text = no_flooding_text(t, s, wd);
    return s;
  }
  s.verdict = "flooding";
  const double ambiguous_ratio = t.ambiguous_m2 / t.flood_m2;
  s.confidence = s.mean_flood_probability >= 0.85 && ambiguous_ratio <= 0.5   ? "high"
                 : s.mean_flood_probability >= 0.70 && ambiguous_ratio <= 1.0 ? "moderate"
                                                                                : "low";

  // ---- shape: components of the mask on a grid of at most kShapeGridSide a side ----
  const ShapeGrid grid = read_shape_grid(in);
  const Components bodies = label_components(grid);
  s.patches = int(bodies.comps.size());
  if (bodies.comps.empty()) {  // the decimated grid lost every flood pixel (tiny specks on a huge scene)
    s.pattern = "scattered patches";
    s.text = flooding_text(s, wd, "in specks too small to describe");
    return s;
  }
  s.largest = largest_body(grid, bodies);
  const ShapeWords sw = shape_words(s.patches, s.largest, t.has_area);
  s.pattern = sw.pattern;
  s.text = flooding_text(s, wd, sw.shape);
  return s;
}

}  // namespace drshym::explain

namespace drshym::explain {

std::string classes_sentence(const nlohmann::json& c) {
  if (!c.is_object() || !c.contains("source")) return "";
  const int64_t perm = c.value("permanent_water_pixels", int64_t(0)), flood = c.value("flood_water_pixels", int64_t(0));
  if (perm + flood == 0) return "";
  const std::string src = c["source"].get<std::string>();
  const std::string by = src == "change_model"      ? "compared with the pre-event scene"
                         : src == "reference_water" ? "by the reference water map"
                                                    : "a single-date guess without a pre-event scene, which tends to call "
                                                      "flood water permanent";
  const bool km2 = c.contains("flood_water_km2");
  auto amount = [&](const char* key, int64_t px) {
    return km2 ? fmt::format("{:.2f} km²", c[key].get<double>()) : fmt::format("{} pixels", px);
  };
  std::string t = fmt::format(" Of the water, {} is flood water and {} permanent water ({}).",
                              amount("flood_water_km2", flood), amount("permanent_water_km2", perm), by);
  const int64_t unknown = c.value("flood_water_type_unknown_pixels", int64_t(0));
  if (unknown > 0 && flood > 0 && double(unknown) >= 0.05 * double(flood))
    t += fmt::format(" {:.0f}% of that flood water lies where the {} has no data, so it may include permanent water.",
                     100.0 * double(unknown) / double(flood),
                     src == "change_model" ? "pre-event scene" : "reference map");
  return t;
}

std::string exclusion_sentence(const nlohmann::json& e) {
  if (!e.is_object() || !e.contains("applied")) return "";
  const int64_t px = e.value("water_on_excluded_pixels", int64_t(0));
  const bool km2 = e.contains("water_on_excluded_km2");
  const std::string amount = km2 ? fmt::format("{:.2f} km²", e["water_on_excluded_km2"].get<double>())
                                 : fmt::format("{} pixels", px);
  const std::string why = fmt::format("slope over {:g}° or more than {:g} m above the nearest drainage",
                                      e.value("slope_max_deg", 0.0), e.value("hand_max_m", 0.0));
  if (px == 0) return " No water was found on ground the DEM excludes (" + why + ").";
  if (!e["applied"].get<bool>())
    return " " + amount + " of that water lies on ground the DEM would exclude (" + why +
           "; --no-exclusion: kept, likely radar shadow or dark slopes).";
  return " " + amount + " of water-like dark ground on terrain where flooding is implausible (" + why +
         ") was removed, likely radar shadow or dark slopes.";
}

nlohmann::json describe_scene(const infer::SceneProducts& p) {
  FloodSummary s = summarize_flood({p.mask_path, p.crs_wkt, p.geotransform, p.tally, p.threshold});
  nlohmann::json j = s.to_json();
  if (!p.classes.is_null()) {
    s.text += classes_sentence(p.classes);
    j["classes"] = p.classes;
  }
  if (!p.exclusion.is_null()) {
    s.text += exclusion_sentence(p.exclusion);
    j["exclusion"] = p.exclusion;
  }
  if (!p.anchor_caution.empty()) {
    s.text += " Caution: " + p.anchor_caution + ".";
    j["anchor_caution"] = p.anchor_caution;
  }
  return {{"caption", s.text}, {"flood_summary", j}};
}

}  // namespace drshym::explain
