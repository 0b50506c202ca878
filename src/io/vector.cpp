#include "io/vector.hpp"

#include <gdal_alg.h>
#include <gdal_priv.h>
#include <ogr_geometry.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
#include "io/area.hpp"
#include "io/gdal_env.hpp"
#include "io/raster.hpp"

namespace drshym::io {

namespace {

// Pixel window of a grid covering a geographic envelope, clipped to [0,width)x[0,height).
Window envelope_window(const GeoTransform& gt, const OGREnvelope& e, int width, int height) {
  double cs[4], rs[4];
  gt.geo_to_pixel(e.MinX, e.MinY, cs[0], rs[0]);
  gt.geo_to_pixel(e.MaxX, e.MinY, cs[1], rs[1]);
  gt.geo_to_pixel(e.MinX, e.MaxY, cs[2], rs[2]);
  gt.geo_to_pixel(e.MaxX, e.MaxY, cs[3], rs[3]);
  double c0 = std::min({cs[0], cs[1], cs[2], cs[3]}), c1 = std::max({cs[0], cs[1], cs[2], cs[3]});
  double r0 = std::min({rs[0], rs[1], rs[2], rs[3]}), r1 = std::max({rs[0], rs[1], rs[2], rs[3]});
  // Clamp before converting: an envelope far outside the grid (or NaN) must not overflow int.
  auto to_int = [](double v) { return std::isfinite(v) ? int(std::clamp(v, -2e9, 2e9)) : 0; };
  int x0 = to_int(std::floor(c0)), y0 = to_int(std::floor(r0)), x1 = to_int(std::ceil(c1)), y1 = to_int(std::ceil(r1));
  x0 = std::clamp(x0, 0, width);  // clip before taking sizes, so x1 - x0 cannot overflow
  x1 = std::clamp(x1, 0, width);
  y0 = std::clamp(y0, 0, height);
  y1 = std::clamp(y1, 0, height);
  return Window{x0, y0, x1 - x0, y1 - y0}.intersect(Window{0, 0, width, height});
}

// 1 where a pixel centre of the window lies inside the geometry.
std::vector<uint8_t> burn_mask(const OGRGeometry* geom, const GeoTransform& gt, const Window& win,
                               const std::string& what) {
  CreateOptions o;
  o.width = win.w;
  o.height = win.h;
  o.type = DataType::Byte;
  o.geotransform = gt.shifted(win.x, win.y);
  auto mem = Raster::create_mem(o);
  int band = 1;
  double burn = 1.0;
  OGRGeometryH g = OGRGeometry::ToHandle(const_cast<OGRGeometry*>(geom));
  if (GDALRasterizeGeometries(GDALDataset::ToHandle(mem.handle()), 1, &band, 1, &g, nullptr, nullptr, &burn,
                              nullptr, nullptr, nullptr) != CE_None)
    throw Error(ErrorKind::Internal, "io", "rasterizing " + what + " failed: " + last_gdal_error());
  std::vector<float> v(size_t(win.w) * win.h);
  mem.read_band(1, Window{0, 0, win.w, win.h}, v.data());
  std::vector<uint8_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] > 0.5f ? 1 : 0;
  return out;
}

// One 8-connected piece of one water value (what GDALPolygonize makes one polygon of, with
// "8CONNECTED=8"), found by scanning the mask.
struct Piece {
  int64_t key = 0;     // row * width + col of its first pixel in raster order
  int dn = 0;          // its mask value
  int64_t pixels = 0;  // all its pixels
  int64_t finite = 0;  // those with a finite probability
  double sum = 0;      // of those probabilities
};

// Connected pieces of a mask in one pass over its rows, with union-find over runs: a run of
// equal values joins the runs of the previous row it touches, corners included. Only the
// pieces crossing the current row are held (O(width)); a piece is finished, and its totals
// kept, as soon as a row no longer continues it. Memory: O(width + pieces), whatever the scene.
class PieceScan {
 public:
  PieceScan(int width, int labels) : width_(width), labels_(labels) {}

  // Row y of the mask (values as floats) and of the probabilities.
  void add_row(int y, const float* mask, const float* proba) {
    cur_.clear();
    size_t j = 0;  // first run of the previous row that may touch the current run
    for (int x = 0; x < width_;) {
      const float v = mask[x];
      const int dn = v >= 1.0f && v <= float(labels_) && v == std::floor(v) ? int(v) : 0;
      int x1 = x + 1;
      while (x1 < width_ && mask[x1] == v) ++x1;
      if (dn != 0) {
        // Runs [a0, a1) of the previous row and [x, x1) touch (8-connected) when
        // a0 <= x1 and x <= a1.
        while (j < prev_.size() && prev_[j].x1 < x) ++j;
        uint32_t node = kNone;
        for (size_t k = j; k < prev_.size() && prev_[k].x0 <= x1; ++k)
          if (prev_[k].dn == dn) node = node == kNone ? find(prev_[k].node) : unite(node, prev_[k].node);
        if (node == kNone) node = make(int64_t(y) * width_ + x, dn);
        Piece& p = nodes_[node].piece;
        p.pixels += x1 - x;
        for (int i = x; i < x1; ++i)
          if (std::isfinite(proba[i])) {
            p.sum += proba[i];
            ++p.finite;
          }
        cur_.push_back(Run{x, x1, dn, node});
      }
      x = x1;
    }
    // Every run now points at its piece's root; pieces of the previous row that no run of
    // this row reached are finished, and nodes merged into others are free again.
    for (auto& r : cur_) {
      r.node = find(r.node);
      nodes_[r.node].seen_row = y;
    }
    for (const auto& r : prev_) release(r.node, y);
    std::swap(prev_, cur_);
  }

  // All pieces, sorted by key.
  std::vector<Piece> finish() {
    for (const auto& r : prev_) release(r.node, -1);
    prev_.clear();
    std::sort(done_.begin(), done_.end(), [](const Piece& a, const Piece& b) { return a.key < b.key; });
    return std::move(done_);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr int kReleased = INT_MIN;
  struct Node {
    Piece piece;
    uint32_t parent = 0;
    int seen_row = 0;  // last row with a run of this root; kReleased once free
  };
  struct Run {
    int x0, x1, dn;
    uint32_t node;
  };

  uint32_t make(int64_t key, int dn) {
    uint32_t i;
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
    } else {
      i = uint32_t(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[i] = Node{};
    nodes_[i].piece.key = key;
    nodes_[i].piece.dn = dn;
    nodes_[i].parent = i;
    return i;
  }
  uint32_t find(uint32_t i) {
    while (nodes_[i].parent != i) {
      nodes_[i].parent = nodes_[nodes_[i].parent].parent;  // path halving
      i = nodes_[i].parent;
    }
    return i;
  }
  // Merges two pieces; the root keeps the smaller key (the first pixel of the union).
  uint32_t unite(uint32_t a, uint32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return a;
    if (nodes_[b].piece.key < nodes_[a].piece.key) std::swap(a, b);
    Piece& pa = nodes_[a].piece;
    const Piece& pb = nodes_[b].piece;
    pa.pixels += pb.pixels;
    pa.finite += pb.finite;
    pa.sum += pb.sum;
    nodes_[b].parent = a;
    return a;
  }
  // A node of the previous row after row y: still a live root (seen in row y), a finished
  // piece (a root not seen), or merged into another; the latter two are freed, once.
  void release(uint32_t i, int y) {
    Node& n = nodes_[i];
    if (n.seen_row == y || n.seen_row == kReleased) return;
    if (n.parent == i) done_.push_back(n.piece);
    n.seen_row = kReleased;
    free_.push_back(i);
  }

  int width_;
  int labels_;  // labels 1..labels_ are polygonized
  std::vector<Node> nodes_;
  std::vector<uint32_t> free_;
  std::vector<Run> prev_, cur_;
  std::vector<Piece> done_;
};

// Pieces of the mask with the sums of their finite probabilities, both rasters read in strips
// of rows.
std::vector<Piece> scan_pieces(const Raster& mask, const Raster& proba, int labels) {
  const int width = mask.info().width, height = mask.info().height;
  PieceScan scan(width, labels);
  constexpr int kStripRows = 256;
  std::vector<float> mv, pv;
  for (int y = 0; y < height; y += kStripRows) {
    const Window sw{0, y, width, std::min(kStripRows, height - y)};
    mv.resize(size_t(sw.w) * sw.h);
    pv.resize(mv.size());
    mask.read_band(1, sw, mv.data());
    proba.read_band(1, sw, pv.data());
    for (int r = 0; r < sw.h; ++r) scan.add_row(y + r, mv.data() + size_t(r) * width, pv.data() + size_t(r) * width);
  }
  return scan.finish();
}

// Which piece a polygon of GDALPolygonize is: its first pixel in raster order, i.e. the top-left
// corner, in pixel coordinates, of the topmost row of its vertices (the first pixel's top edge
// is always part of the outline), and its area in pixels (exact: vertices are pixel corners).
// False when a vertex is not on a pixel corner, which should not happen.
bool polygon_key(const OGRGeometry& g, const GeoTransform& gt, int width, int64_t& key, int64_t& pixels) {
  if (wkbFlatten(g.getGeometryType()) != wkbPolygon) return false;
  const OGRPolygon& poly = *g.toPolygon();
  int64_t top = INT64_MAX, left = INT64_MAX, twice_area = 0;
  for (int k = 0; k <= poly.getNumInteriorRings(); ++k) {
    const OGRLinearRing* ring = k == 0 ? poly.getExteriorRing() : poly.getInteriorRing(k - 1);
    const int n = ring ? ring->getNumPoints() : 0;
    if (n == 0) continue;
    int64_t ring_area = 0, c0 = 0, r0 = 0, pc = 0, pr = 0;
    for (int i = 0; i < n; ++i) {
      double col, row;
      gt.geo_to_pixel(ring->getX(i), ring->getY(i), col, row);
      const double rc = std::round(col), rr = std::round(row);
      if (!(std::abs(col - rc) < 1e-3 && std::abs(row - rr) < 1e-3)) return false;
      const int64_t c = int64_t(rc), r = int64_t(rr);
      if (r < top || (r == top && c < left)) {
        top = r;
        left = c;
      }
      if (i == 0) {
        c0 = c;
        r0 = r;
      } else {
        ring_area += pc * r - c * pr;
      }
      pc = c;
      pr = r;
    }
    ring_area += pc * r0 - c0 * pr;  // closes the ring (0 when it is already closed)
    twice_area += k == 0 ? std::abs(ring_area) : -std::abs(ring_area);
  }
  if (top == INT64_MAX) return false;
  key = top * width + left;
  pixels = twice_area / 2;
  return true;
}

// Mean finite probability over the pixels whose centre lies inside a polygon, by burning it
// over its envelope in strips of rows: the fallback for a polygon that matches no piece.
double mean_by_burning(const OGRGeometry& g, const GeoTransform& gt, int width, int height, const Raster& proba,
                       const std::string& what) {
  OGREnvelope env;
  g.getEnvelope(&env);
  const Window w = envelope_window(gt, env, width, height);
  double sum = 0;
  int64_t n = 0;
  constexpr int kStripRows = 512;
  std::vector<float> pv;
  for (int y = w.y; y < w.y + w.h; y += kStripRows) {
    const Window sw{w.x, y, w.w, std::min(kStripRows, w.y + w.h - y)};
    auto inside = burn_mask(&g, gt, sw, what);
    pv.resize(inside.size());
    proba.read_band(1, sw, pv.data());
    for (size_t i = 0; i < inside.size(); ++i)
      if (inside[i] && std::isfinite(pv[i])) {
        sum += pv[i];
        ++n;
      }
  }
  return n ? sum / double(n) : 0.0;
}

}  // namespace

namespace {
void check_crs_members(const nlohmann::json& j, int depth) {
  // Valid GeoJSON is a few levels deep (MultiPolygon coordinates: 4 inside a geometry).
  if (depth > 64) throw Error(ErrorKind::InvalidInput, "io", "GeoJSON nested deeper than 64 levels");
  if (j.is_array()) {
    if (!j.empty() && j[0].is_number()) return;  // a position
    for (const auto& v : j) check_crs_members(v, depth + 1);
    return;
  }
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "crs") {
      check_crs_members(it.value(), depth + 1);
      continue;
    }
    const auto& c = it.value();
    const bool named = c.is_object() && c.value("type", nlohmann::json()) == "name" && c.contains("properties") &&
                       c["properties"].is_object() && c["properties"].contains("name") &&
                       c["properties"]["name"].is_string();
    if (!named)
      throw Error(ErrorKind::InvalidInput, "io",
                  "only a named CRS ({\"type\": \"name\", \"properties\": {\"name\": \"EPSG:4326\"}}) or none "
                  "(WGS 84) is accepted in GeoJSON; a linked CRS would make GDAL fetch it");
    const std::string name = c["properties"]["name"].get<std::string>();
    const bool known = (name.rfind("EPSG:", 0) == 0 || name.rfind("urn:ogc:def:crs:", 0) == 0) && name.size() <= 64 &&
                       std::all_of(name.begin(), name.end(), [](unsigned char ch) {
                         return std::isalnum(ch) || ch == ':' || ch == '.' || ch == '_' || ch == '-';
                       });
    if (!known)
      throw Error(ErrorKind::InvalidInput, "io",
                  "GeoJSON CRS name " + quoted(core::clip_utf8(name, 64)) +
                      " must be an EPSG code or an OGC URN (e.g. \"EPSG:32633\", \"urn:ogc:def:crs:OGC:1.3:CRS84\")");
    // A name GDAL cannot resolve leaves the layer without a CRS, which would read as WGS 84.
    OGRSpatialReference srs;
    OGRErr err;
    {
      QuietGdal quiet;
      err = srs.SetFromUserInput(name.c_str(), OGRSpatialReference::SET_FROM_USER_INPUT_LIMITATIONS_get());
    }
    if (err != OGRERR_NONE)
      throw Error(ErrorKind::InvalidInput, "io",
                  "GeoJSON CRS " + quoted(name) + " is not a CRS GDAL knows (an unknown EPSG code?); name a known one, "
                  "or leave the crs member out for WGS 84 longitude/latitude");
  }
}
}  // namespace

void require_named_geojson_crs(const nlohmann::json& j) { check_crs_members(j, 0); }

struct Aoi::Impl {
  std::unique_ptr<OGRGeometry> geom;
};

Aoi::Aoi() : impl_(std::make_unique<Impl>()) {}
Aoi::Aoi(Aoi&&) noexcept = default;
Aoi& Aoi::operator=(Aoi&&) noexcept = default;
Aoi::~Aoi() = default;

Aoi Aoi::read(const std::string& path, const std::string& target_crs_wkt) {
  gdal_init();
  if (!std::filesystem::exists(path))
    throw Error(ErrorKind::NotFound, "io", "cannot open AOI " + quoted(path) + ": no such file");
  reset_gdal_error();
  GDALDatasetUniquePtr ds;
  std::string declared_crs;  // the GeoJSON's own top-level crs name ("" when it has none)
  {
    QuietGdal quiet;
    // A *.geojson / *.json file is read as GeoJSON and nothing else: GDAL would otherwise pick a
    // driver by content, and some (OGR VRT, GML) follow references to other files or URLs.
    const std::string ext = std::filesystem::path(path).extension().string();
    std::string lext(ext);
    std::transform(lext.begin(), lext.end(), lext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const char* const geojson_only[] = {"GeoJSON", nullptr};
    if (lext == ".geojson" || lext == ".json") {
      // Its CRS is checked before GDAL reads it (GDAL would fetch a linked one).
      std::ifstream f(path);
      std::stringstream text;
      text << f.rdbuf();
      const auto j = nlohmann::json::parse(text.str(), nullptr, false);
      if (!j.is_discarded()) {
        try {
          require_named_geojson_crs(j);
        } catch (const Error& e) {
          throw Error(ErrorKind::InvalidInput, "io", "AOI " + quoted(path) + ": " + e.what());
        }
        if (j.is_object() && j.contains("crs")) declared_crs = j.at("crs").at("properties").at("name").get<std::string>();
      }
    }
    ds.reset(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY,
                               (lext == ".geojson" || lext == ".json") ? geojson_only : nullptr));
  }
  if (!ds) throw Error(ErrorKind::InvalidInput, "io", "cannot open AOI " + quoted(path) + ": not a vector file GDAL can read");
  Aoi aoi;
  aoi.path_ = path;
  auto united = std::make_unique<OGRMultiPolygon>();
  OGRSpatialReference target;
  target.importFromWkt(target_crs_wkt.c_str());
  target.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::string other_types;
  for (auto* layer : ds->GetLayers()) {
    OGRSpatialReference src;
    // Only a file that names no CRS is WGS 84 (RFC 7946); one GDAL could not resolve is an error.
    if (layer->GetSpatialRef()) src = *layer->GetSpatialRef();
    else if (!declared_crs.empty())
      throw Error(ErrorKind::InvalidInput, "io",
                  "AOI " + quoted(path) + ": its CRS " + quoted(core::clip_utf8(declared_crs, 64)) + " is not a CRS GDAL knows");
    else src.importFromEPSG(4326);
    src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&src, &target));
    if (!ct) throw Error(ErrorKind::InvalidInput, "io", "AOI " + quoted(path) + ": cannot transform its CRS to the scene's");
    for (auto& f : *layer) {
      OGRGeometry* g = f->GetGeometryRef();
      if (!g) continue;
      auto t = wkbFlatten(g->getGeometryType());
      if (t != wkbPolygon && t != wkbMultiPolygon) {
        other_types = OGRGeometryTypeToName(g->getGeometryType());
        continue;
      }
      std::unique_ptr<OGRGeometry> c(g->clone());
      if (c->transform(ct.get()) != OGRERR_NONE)
        throw Error(ErrorKind::InvalidInput, "io", "AOI " + quoted(path) + ": reprojection failed");
      if (t == wkbPolygon) united->addGeometry(c.get());
      else for (auto* part : *c->toMultiPolygon()) united->addGeometry(part);
    }
  }
  if (united->IsEmpty())
    throw Error(ErrorKind::InvalidInput, "io",
                "AOI " + quoted(path) + " is not a polygon" +
                    (other_types.empty() ? std::string(" (it holds no geometry)") : " (it holds " + other_types + ")"));
  aoi.impl_->geom.reset(united->UnionCascaded());
  if (!aoi.impl_->geom) aoi.impl_->geom = std::move(united);
  return aoi;
}

std::array<double, 4> Aoi::bounds() const {
  OGREnvelope e;
  impl_->geom->getEnvelope(&e);
  return {e.MinX, e.MinY, e.MaxX, e.MaxY};
}

Window Aoi::window_on(const GeoTransform& gt, int width, int height) const {
  OGREnvelope e;
  impl_->geom->getEnvelope(&e);
  return envelope_window(gt, e, width, height);
}

std::vector<uint8_t> Aoi::rasterize(const GeoTransform& gt, const Window& win) const {
  return burn_mask(impl_->geom.get(), gt, win, "AOI " + quoted(path_));
}

GeoJsonCrs parse_geojson_crs(const std::string& value) {
  GeoJsonCrs out;
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (lower.empty() || lower == "rfc7946") return out;
  if (lower == "source") {
    out.kind = GeoJsonCrs::Kind::Source;
    return out;
  }
  gdal_init();
  OGRSpatialReference srs;
  {
    QuietGdal quiet;
    if (srs.SetFromUserInput(value.c_str()) != OGRERR_NONE)
      throw Error(ErrorKind::Usage, "io",
                  "--geojson-crs " + quoted(value) +
                      " is not a CRS GDAL knows; use rfc7946 (WGS 84 lon/lat, the default), source, or e.g. EPSG:3857");
  }
  out.kind = GeoJsonCrs::Kind::Other;
  out.crs = value;
  return out;
}

namespace {

// A vector dataset and the one layer written to it.
struct LayerOut {
  GDALDatasetUniquePtr ds;
  OGRLayer* layer = nullptr;
};

// The temporary GeoPackage of the polygons (see polygonize_labels): a layer "labels" with the mask
// value in an integer field DN.
LayerOut create_scratch_layer(const std::string& gpkg_path, OGRSpatialReference& srs) {
  GDALDriver* gpkg = GetGDALDriverManager()->GetDriverByName("GPKG");
  GDALDatasetUniquePtr vds(gpkg->Create(gpkg_path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!vds) throw Error(ErrorKind::Io, "io", "cannot create " + quoted(gpkg_path) + ": " + last_gdal_error());
  char** layer_opts = CSLSetNameValue(nullptr, "SPATIAL_INDEX", "NO");
  OGRLayer* layer = vds->CreateLayer("labels", &srs, wkbPolygon, layer_opts);
  CSLDestroy(layer_opts);
  OGRFieldDefn dn("DN", OFTInteger);
  layer->CreateField(&dn);
  return LayerOut{std::move(vds), layer};
}

// Polygons of the mask's non-zero pixels into the scratch layer, in one transaction.
void polygonize_mask(const Raster& mask, const std::string& mask_path, LayerOut& polys) {
  // The mask band is its own mask: only non-zero pixels (labels, 255 nodata) become polygons,
  // 8-connected; nodata polygons are dropped below. GDAL reads the band line by line, so
  // nothing scene-sized is held in memory.
  GDALRasterBand* band = mask.handle()->GetRasterBand(1);
  char** opts = CSLSetNameValue(nullptr, "8CONNECTED", "8");
  reset_gdal_error();
  polys.ds->StartTransaction();
  CPLErr err = GDALPolygonize(band, band, polys.layer, 0, opts, nullptr, nullptr);
  CSLDestroy(opts);
  if (err != CE_None || polys.ds->CommitTransaction() != OGRERR_NONE)
    throw Error(ErrorKind::Io, "io", "polygonize of " + quoted(mask_path) + " failed: " + last_gdal_error());
}

// Areas in m² whatever the CRS: geographic sources in an equal-area projection centred on
// the scene, projected ones scaled by their linear unit (feet included).
// The centre is the polygons' envelope; a dry scene has no polygon and no envelope (GDAL
// leaves it empty, so the centre would be NaN and the projection could not be built), so it
// falls back to the raster's extent: nothing is measured then, but the meter must exist.
AreaMeter scene_area_meter(OGRLayer& polygons, const RasterInfo& info, const OGRSpatialReference& srs) {
  OGREnvelope env;
  if (polygons.GetFeatureCount() == 0 || polygons.GetExtent(&env) != OGRERR_NONE || !env.IsInit()) {
    const auto b = info.geotransform.bounds(Window{0, 0, info.width, info.height});
    env.MinX = b[0];
    env.MinY = b[1];
    env.MaxX = b[2];
    env.MaxY = b[3];
  }
  return AreaMeter(srs, 0.5 * (env.MinX + env.MaxX), 0.5 * (env.MinY + env.MaxY));
}

// Sets out_srs to `crs` and returns the transform of the polygons from the scene's CRS to it.
std::unique_ptr<OGRCoordinateTransformation> transform_to(const std::string& crs, const OGRSpatialReference& srs,
                                                          OGRSpatialReference& out_srs) {
  out_srs.SetFromUserInput(crs.c_str());
  out_srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> to_out(OGRCreateCoordinateTransformation(&srs, &out_srs));
  if (!to_out) throw Error(ErrorKind::InvalidInput, "io", "cannot transform polygons to " + quoted(crs));
  return to_out;
}

// The GeoJSON of the polygons (replacing any earlier one), with its fields: id, area_m2,
// mean_proba, and class with classes.
LayerOut create_geojson(const PolygonizeParams& p, const GeoJsonCrs& out_crs, OGRSpatialReference& out_srs) {
  GDALDriver* gj = GetGDALDriverManager()->GetDriverByName("GeoJSON");
  std::error_code ec;
  std::filesystem::remove(p.out_path, ec);
  char** lco = nullptr;
  if (out_crs.kind == GeoJsonCrs::Kind::Rfc7946) {
    lco = CSLSetNameValue(lco, "RFC7946", "YES");  // WGS 84 lon/lat, right-hand winding, bbox
    lco = CSLSetNameValue(lco, "WRITE_BBOX", "YES");
  } else {
    lco = CSLSetNameValue(lco, "COORDINATE_PRECISION", out_srs.IsGeographic() ? "9" : "3");  // ~0.1 mm / 1 mm
  }
  GDALDatasetUniquePtr out(gj->Create(p.out_path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!out) throw Error(ErrorKind::Io, "io", "cannot create " + quoted(p.out_path) + ": " + last_gdal_error());
  OGRLayer* ol = out->CreateLayer(p.layer_name.c_str(), &out_srs, wkbPolygon, lco);
  CSLDestroy(lco);
  OGRFieldDefn f_id("id", OFTInteger), f_area("area_m2", OFTReal), f_mp("mean_proba", OFTReal);
  ol->CreateField(&f_id);
  ol->CreateField(&f_area);
  ol->CreateField(&f_mp);
  if (!p.class_names.empty()) {
    OGRFieldDefn f_class("class", OFTString);
    ol->CreateField(&f_class);
  }
  return LayerOut{std::move(out), ol};
}

// What writing a polygon needs besides the polygon: the scene, its pieces, the output.
struct PolygonWriter {
  const PolygonizeParams& p;
  const RasterInfo& info;
  const Raster& proba;
  const std::vector<Piece>& pieces;  // of scan_pieces, sorted by key
  const AreaMeter& meter;
  OGRCoordinateTransformation* to_out;  // null: written in the scene's CRS (GDAL reprojects for RFC 7946)
  OGRLayer& out;
};

// Mean probability of a polygon of value dn: from its piece of the scan, or by burning it when it
// matches none (counted in res.burned_for_stats).
double polygon_mean_proba(const OGRGeometry& g, int dn, const PolygonWriter& w, PolygonizeResult& res) {
  const GeoTransform& gt = w.info.geotransform;
  // The polygon's piece: its first pixel, value and pixel count must all agree.
  int64_t key = 0, pixels = 0;
  const Piece* piece = nullptr;
  if (polygon_key(g, gt, w.info.width, key, pixels)) {
    auto it = std::lower_bound(w.pieces.begin(), w.pieces.end(), key,
                               [](const Piece& a, int64_t k) { return a.key < k; });
    if (it != w.pieces.end() && it->key == key && it->dn == dn && it->pixels == pixels) piece = &*it;
  }
  double mean_p;
  if (piece) {
    mean_p = piece->finite ? piece->sum / double(piece->finite) : 0.0;
  } else {
    mean_p =
        mean_by_burning(g, gt, w.info.width, w.info.height, w.proba, "a polygon of " + quoted(w.p.mask_path));
    ++res.burned_for_stats;
  }
  return mean_p;
}

// One polygon of the scratch layer: written to the output, and counted in res, when it is water
// of a kept value and not smaller than the minimum area.
void write_polygon(OGRFeature& feat, const PolygonWriter& w, PolygonizeResult& res) {
  OGRGeometry* g = feat.GetGeometryRef();
  const int dn = g ? feat.GetFieldAsInteger("DN") : 0;
  if (dn < 1 || dn > std::max<int>(1, int(w.p.class_names.size()))) return;
  const double area = w.meter.area_m2(*g);
  if (area < w.p.min_area_m2) {
    ++res.dropped_small;
    return;
  }
  const double mean_p = polygon_mean_proba(*g, dn, w, res);
  OGRFeature of(w.out.GetLayerDefn());
  std::unique_ptr<OGRGeometry> og(g->clone());
  if (w.to_out) og->transform(w.to_out);
  of.SetGeometryDirectly(og.release());
  of.SetField("id", res.polygons + 1);
  of.SetField("area_m2", area);
  of.SetField("mean_proba", mean_p);
  if (!w.p.class_names.empty()) {
    of.SetField("class", w.p.class_names[size_t(dn - 1)].c_str());
    res.class_polygons[size_t(dn - 1)] += 1;
    res.class_area_m2[size_t(dn - 1)] += area;
  }
  if (w.out.CreateFeature(&of) != OGRERR_NONE)
    throw Error(ErrorKind::Io, "io", "cannot write a polygon to " + quoted(w.p.out_path));
  ++res.polygons;
  res.area_m2 += area;
}

}  // namespace

PolygonizeResult polygonize_labels(const PolygonizeParams& p) {
  gdal_init();
  auto mask = Raster::open(p.mask_path);
  auto proba = Raster::open(p.proba_path);
  const auto& info = mask.info();
  OGRSpatialReference srs;
  srs.importFromWkt(info.crs_wkt.c_str());
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  // Polygons go to a temporary GeoPackage next to the output, not to memory: a large noisy
  // scene can yield millions of them before the minimum-area filter. One transaction keeps
  // SQLite from syncing each feature. Adopted by a set that is never finished, the file is
  // removed whatever happens when `scratch` goes out of scope.
  const std::string gpkg_path = p.out_path + ".polygons.gpkg";
  core::OutputSet scratch;
  scratch.adopt(gpkg_path);
  std::filesystem::remove(gpkg_path);
  LayerOut polys = create_scratch_layer(gpkg_path, srs);
  polygonize_mask(mask, p.mask_path, polys);

  const AreaMeter meter = scene_area_meter(*polys.layer, info, srs);
  // RFC 7946 (the default): GDAL's GeoJSON driver reprojects to WGS 84 lon/lat itself and
  // writes no `crs` member. "source" keeps the scene's CRS; any other CRS is reprojected here.
  const GeoJsonCrs out_crs = parse_geojson_crs(p.out_crs);
  std::unique_ptr<OGRCoordinateTransformation> to_out;
  OGRSpatialReference out_srs = srs;
  if (out_crs.kind == GeoJsonCrs::Kind::Other) to_out = transform_to(out_crs.crs, srs, out_srs);
  LayerOut out = create_geojson(p, out_crs, out_srs);

  PolygonizeResult res;
  res.class_polygons.assign(p.class_names.size(), 0);
  res.class_area_m2.assign(p.class_names.size(), 0.0);
  // Mean probabilities come from one pass over the mask and the probabilities that sums them
  // per 8-connected piece: the same pixels as each polygon's (GDALPolygonize makes one polygon
  // of each piece), in time linear in the scene. Burning each polygon over its envelope
  // instead was quadratic when a river split into thousands of pieces spanning the scene.
  const std::vector<Piece> pieces = scan_pieces(mask, proba, std::max<int>(1, int(p.class_names.size())));
  const PolygonWriter w{p, info, proba, pieces, meter, to_out.get(), *out.layer};
  for (auto& feat : *polys.layer) write_polygon(*feat, w, res);
  out.ds.reset();  // flush
  return res;
}

}  // namespace drshym::io
