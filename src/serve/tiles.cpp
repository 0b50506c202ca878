#include "serve/tiles.hpp"

#include <cpl_string.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>
#include <png.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <tuple>

#include "core/error.hpp"
#include "core/log.hpp"
#include "explain/overlay.hpp"
#include "ingest/scene.hpp"
#include "io/gdal_env.hpp"
#include "io/raster.hpp"
#include "serve/service.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
namespace {

constexpr double kMercatorHalf = 20037508.342789244;  // EPSG:3857 half the world's width
constexpr const char* kBackdropFile = "backdrop_vv.tif";  // in the tile cache folder

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorKind::Usage, "tiles", msg); }

int parse_index(const std::string& s, const char* field) {
  if (s.empty() || s.size() > 9) bad(std::string("tile ") + field + " must be a number of 1 to 9 digits");
  for (char c : s)
    if (c < '0' || c > '9') bad(std::string("tile ") + field + " must be a non-negative whole number");
  return std::stoi(s);
}

OGRSpatialReference mercator() {
  OGRSpatialReference srs;
  srs.importFromEPSG(3857);
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return srs;
}

// Bounding box of a raster's footprint in EPSG:3857 (points along its edges taken there);
// nullopt when it has no CRS or its edges cannot be taken there.
std::optional<std::array<double, 4>> footprint_3857(const io::RasterInfo& info) {
  if (info.crs_wkt.empty() || !info.has_geotransform) return std::nullopt;
  OGRSpatialReference src;
  if (src.importFromWkt(info.crs_wkt.c_str()) != OGRERR_NONE) return std::nullopt;
  src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const OGRSpatialReference dst = mercator();
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&src, &dst));
  if (!ct) return std::nullopt;
  constexpr int kSteps = 20;
  std::vector<double> xs, ys;
  for (int i = 0; i <= kSteps; ++i) {
    const double f = double(i) / kSteps;
    for (auto [c, r] : {std::pair{f, 0.0}, {f, 1.0}, {0.0, f}, {1.0, f}}) {
      double gx, gy;
      info.geotransform.pixel_to_geo(c * info.width, r * info.height, gx, gy);
      xs.push_back(gx);
      ys.push_back(gy);
    }
  }
  std::vector<int> ok(xs.size());
  ct->Transform(int(xs.size()), xs.data(), ys.data(), nullptr, ok.data());
  std::array<double, 4> b{HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!ok[i] || !std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    b = {std::min(b[0], xs[i]), std::min(b[1], ys[i]), std::max(b[2], xs[i]), std::max(b[3], ys[i])};
  }
  if (!(b[0] <= b[2])) return std::nullopt;
  return b;
}

bool overlaps(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

// ---- the disk cache ----

// Tiles per job folder, oldest (first written) evicted beyond the count or byte bound.
class TileCache {
 public:
  TileCache(size_t max_tiles, uint64_t max_bytes) : max_tiles_(std::max<size_t>(1, max_tiles)), max_bytes_(max_bytes) {}

  std::optional<std::string> get(const fs::path& dir, const std::string& name) const {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) return std::nullopt;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty()) return std::nullopt;
    return bytes;
  }

  // Best effort: a tile that cannot be cached is still served.
  void put(const fs::path& dir, const std::string& name, const std::string& png) {
    std::lock_guard<std::mutex> lk(m_);
    std::error_code ec;
    // Not create_directories: a job folder removed by retention must not come back.
    fs::create_directory(dir, ec);
    if (!fs::is_directory(dir, ec)) return;
    Index& ix = index(dir);
    const fs::path tmp = dir / (name + ".part");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(png.data(), std::streamsize(png.size()));
      if (!out) return (void)fs::remove(tmp, ec);
    }
    fs::rename(tmp, dir / name, ec);
    if (ec) return (void)fs::remove(tmp, ec);
    ix.order.push_back({name, png.size()});
    ix.bytes += png.size();
    while (ix.order.size() > max_tiles_ || (ix.bytes > max_bytes_ && ix.order.size() > 1)) {
      fs::remove(dir / ix.order.front().first, ec);
      ix.bytes -= ix.order.front().second;
      ix.order.pop_front();
    }
  }

 private:
  struct Index {
    std::deque<std::pair<std::string, uint64_t>> order;  // oldest first
    uint64_t bytes = 0;
  };
  // The folder's index, read from disk (by modification time) the first time it is used.
  Index& index(const fs::path& dir) {
    auto [it, fresh] = dirs_.try_emplace(dir.string());
    if (!fresh) return it->second;
    std::vector<std::tuple<fs::file_time_type, std::string, uint64_t>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file(ec) && e.path().extension() == ".png")
        found.emplace_back(e.last_write_time(ec), n, e.file_size(ec));
    }
    std::sort(found.begin(), found.end());
    for (const auto& [t, n, size] : found) {
      it->second.order.push_back({n, size});
      it->second.bytes += size;
    }
    if (dirs_.size() > 10000) dirs_.erase(dirs_.begin() == it ? std::next(dirs_.begin()) : dirs_.begin());
    return it->second;
  }
  size_t max_tiles_;
  uint64_t max_bytes_;
  std::mutex m_;
  std::map<std::string, Index> dirs_;
};

// ---- rendering ----

// The band warped onto the tile's 256x256 EPSG:3857 grid as Float32, NaN outside the raster
// and at its nodata. Throws Internal (GDAL's reason goes to the log, not to the client).
std::vector<float> warp_to_tile(const io::Raster& src, const TileKey& k, bool nearest) {
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  std::unique_ptr<GDALDataset> dst(mem ? mem->Create("", kTileSize, kTileSize, 1, GDT_Float32, nullptr) : nullptr);
  if (!dst) throw Error(ErrorKind::Internal, "tiles", "cannot create an in-memory tile");
  const auto b = tile_bounds_3857(k);
  double gt[6] = {b[0], (b[2] - b[0]) / kTileSize, 0, b[3], 0, -(b[3] - b[1]) / kTileSize};
  dst->SetGeoTransform(gt);
  const OGRSpatialReference srs = mercator();
  dst->SetSpatialRef(&srs);
  GDALRasterBand* band = dst->GetRasterBand(1);
  band->SetNoDataValue(std::nan(""));
  band->Fill(std::nan(""));
  CPLStringList args;
  for (const char* a : {"-r", nearest ? "near" : "bilinear", "-ovr", "AUTO", "-et", "0", "-wo", "INIT_DEST=NO_DATA"})
    args.AddString(a);
  std::unique_ptr<GDALWarpAppOptions, void (*)(GDALWarpAppOptions*)> opts(GDALWarpAppOptionsNew(args.List(), nullptr),
                                                                          GDALWarpAppOptionsFree);
  GDALDatasetH in = GDALDataset::ToHandle(src.handle());
  int usage_error = 0;
  io::reset_gdal_error();
  if (!opts || !GDALWarp(nullptr, GDALDataset::ToHandle(dst.get()), 1, &in, opts.get(), &usage_error)) {
    core::log().warn("tiles: warping {} onto tile {}/{}/{} failed: {}", src.info().uri, k.z, k.x, k.y,
                     io::last_gdal_error());
    throw Error(ErrorKind::Internal, "tiles", "the tile could not be rendered");
  }
  std::vector<float> px(size_t(kTileSize) * kTileSize);
  if (band->RasterIO(GF_Read, 0, 0, kTileSize, kTileSize, px.data(), kTileSize, kTileSize, GDT_Float32, 0, 0, nullptr) !=
      CE_None)
    throw Error(ErrorKind::Internal, "tiles", "the rendered tile could not be read");
  return px;
}

explain::Paint paint_of(TileLayer layer, float v, double threshold, int64_t gx, int64_t gy) {
  if (!std::isfinite(v)) return {};
  switch (layer) {
    case TileLayer::backdrop: {
      const uint8_t g = explain::backdrop_grey(v);
      return {{g, g, g}, 1.0};
    }
    case TileLayer::proba:
      return v >= threshold ? explain::flood_paint(v, threshold) : explain::uncertain_paint(v, threshold, false);
    case TileLayer::classes:
      // Each class at the opacity of a certain pixel (the legend's swatch): the tile has no p.
      return explain::class_paint(int(std::lround(v)), 1.0, threshold);
    case TileLayer::exclusion:
      return explain::exclusion_paint(int(std::lround(v)), gx, gy);
  }
  return {};
}

std::vector<uint8_t> colour(TileLayer layer, const std::vector<float>& px, double threshold, const TileKey& k) {
  std::vector<uint8_t> rgba(px.size() * 4, 0);
  for (int r = 0; r < kTileSize; ++r)
    for (int c = 0; c < kTileSize; ++c) {
      const size_t i = size_t(r) * kTileSize + c;
      const explain::Paint p =
          paint_of(layer, px[i], threshold, int64_t(k.x) * kTileSize + c, int64_t(k.y) * kTileSize + r);
      if (!(p.alpha > 0)) continue;
      rgba[4 * i] = p.rgb.r;
      rgba[4 * i + 1] = p.rgb.g;
      rgba[4 * i + 2] = p.rgb.b;
      rgba[4 * i + 3] = uint8_t(std::lround(std::clamp(p.alpha, 0.0, 1.0) * 255.0));
    }
  return rgba;
}

// The job's scene VV band as a COG with overviews in the tile folder, written once: the scene
// itself may be a plain GeoTIFF without overviews, too slow to warp at low zoom.
std::string make_backdrop(const JobFiles& job, const fs::path& dir) {
  const fs::path out = dir / kBackdropFile;
  std::error_code ec;
  if (fs::is_regular_file(out, ec)) return out.string();
  if (job.scene.empty()) throw Error(ErrorKind::NotFound, "tiles", "the job's scene is gone: it has no backdrop layer");
  fs::create_directory(dir, ec);
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::NotFound, "tiles", "the job's outputs are gone");
  const ingest::Scene scene = ingest::open_scene(job.scene, false);
  const fs::path tmp = dir / (std::string(kBackdropFile) + ".part");
  CPLStringList args;
  for (const std::string& a : {std::string("-b"), std::to_string(scene.bands.vv), std::string("-of"), std::string("COG"),
                               std::string("-co"), std::string("COMPRESS=DEFLATE"), std::string("-co"),
                               std::string("BLOCKSIZE=256"), std::string("-co"), std::string("OVERVIEWS=AUTO"),
                               std::string("-co"), std::string("RESAMPLING=AVERAGE")})
    args.AddString(a.c_str());
  std::unique_ptr<GDALTranslateOptions, void (*)(GDALTranslateOptions*)> opts(GDALTranslateOptionsNew(args.List(), nullptr),
                                                                              GDALTranslateOptionsFree);
  int usage_error = 0;
  io::reset_gdal_error();
  GDALDatasetH made = opts ? GDALTranslate(tmp.c_str(), GDALDataset::ToHandle(scene.raster.handle()), opts.get(), &usage_error)
                           : nullptr;
  if (made) GDALClose(made);
  if (!made || !fs::is_regular_file(tmp, ec)) {
    core::log().warn("tiles: writing the backdrop {} failed: {}", out.string(), io::last_gdal_error());
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Internal, "tiles", "the backdrop could not be prepared");
  }
  fs::rename(tmp, out, ec);
  if (ec) throw Error(ErrorKind::Internal, "tiles", "the backdrop could not be prepared: " + ec.message());
  return out.string();
}

}  // namespace

RenderGate::RenderGate(int slots, int waiting, double wait_s)
    : free_(std::max(1, slots)), max_waiting_(std::max(0, waiting)), wait_(std::max(0.0, wait_s)) {}

void RenderGate::acquire() {
  std::unique_lock<std::mutex> lk(m_);
  auto busy = [] { return Error(ErrorKind::Unavailable, "tiles", "busy rendering other map tiles; retry shortly"); };
  if (free_ == 0 && waiting_ >= max_waiting_) throw busy();
  ++waiting_;
  const bool got = cv_.wait_for(lk, wait_, [this] { return free_ > 0; });
  --waiting_;
  if (!got) throw busy();
  --free_;
}

void RenderGate::release() {
  {
    std::lock_guard<std::mutex> lk(m_);
    ++free_;
  }
  cv_.notify_one();
}

const char* to_string(TileLayer l) {
  switch (l) {
    case TileLayer::backdrop: return "backdrop";
    case TileLayer::proba: return "proba";
    case TileLayer::classes: return "classes";
    case TileLayer::exclusion: return "exclusion";
  }
  return "?";
}

std::optional<TileLayer> parse_tile_layer(const std::string& name) {
  for (TileLayer l : {TileLayer::backdrop, TileLayer::proba, TileLayer::classes, TileLayer::exclusion})
    if (name == to_string(l)) return l;
  return std::nullopt;
}

TileKey parse_tile_key(const std::string& z, const std::string& x, const std::string& y) {
  TileKey k{parse_index(z, "z"), parse_index(x, "x"), parse_index(y, "y")};
  if (k.z > kMaxTileZoom) bad("tile zoom must be in [0, " + std::to_string(kMaxTileZoom) + "], got " + z);
  const int64_t n = int64_t(1) << k.z;
  if (k.x >= n || k.y >= n)
    bad("tile x and y must be in [0, " + std::to_string(n) + ") at zoom " + std::to_string(k.z));
  return k;
}

std::array<double, 4> tile_bounds_3857(const TileKey& k) {
  const double size = 2 * kMercatorHalf / double(int64_t(1) << k.z);
  const double minx = -kMercatorHalf + k.x * size, maxy = kMercatorHalf - k.y * size;
  return {minx, maxy - size, minx + size, maxy};
}

std::string encode_png_rgba(const std::vector<uint8_t>& rgba, int width, int height) {
  if (width <= 0 || height <= 0 || rgba.size() != size_t(width) * height * 4)
    throw Error(ErrorKind::Internal, "tiles", "PNG pixels do not match the size");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  std::string out;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    throw Error(ErrorKind::Internal, "tiles", "PNG encoding failed");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 3);  // tiles are small; speed over the last few percent
  png_write_info(png, info);
  for (int r = 0; r < height; ++r) png_write_row(png, const_cast<png_bytep>(rgba.data() + size_t(r) * width * 4));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

struct TileService::Impl {
  TileOptions opt;
  RenderGate gate;
  TileCache cache;
  std::mutex m;                                               // guards the two maps below
  std::map<std::string, std::optional<std::array<double, 4>>> footprints;  // by source file
  std::map<std::string, std::shared_ptr<std::mutex>> backdrop_locks;       // by job id

  explicit Impl(const TileOptions& o)
      : opt(o), gate(o.renders, o.waiting, o.wait_s), cache(o.cache_tiles, o.cache_bytes) {}

  std::optional<std::array<double, 4>> footprint(const std::string& path) {
    {
      std::lock_guard<std::mutex> lk(m);
      if (auto it = footprints.find(path); it != footprints.end()) return it->second;
    }
    const auto b = footprint_3857(io::Raster::open(path).info());
    std::lock_guard<std::mutex> lk(m);
    if (footprints.size() > 4096) footprints.clear();
    footprints[path] = b;
    return b;
  }

  std::string backdrop(const JobFiles& job, const fs::path& dir) {
    std::shared_ptr<std::mutex> lock;
    {
      std::lock_guard<std::mutex> lk(m);
      if (backdrop_locks.size() > 4096) backdrop_locks.clear();
      auto& l = backdrop_locks[job.id];
      if (!l) l = std::make_shared<std::mutex>();
      lock = l;
    }
    std::lock_guard<std::mutex> lk(*lock);  // one writer per job; the others then find the file
    return make_backdrop(job, dir);
  }

  // The file a layer is drawn from (NotFound when the job has none).
  std::string source(const JobFiles& job, TileLayer layer, const fs::path& dir) {
    if (layer == TileLayer::backdrop) return backdrop(job, dir);
    auto it = job.outputs.find(to_string(layer));
    if (it == job.outputs.end())
      throw Error(ErrorKind::NotFound, "tiles", std::string("this job has no ") + to_string(layer) + " layer");
    return it->second;
  }
};

TileService::TileService(const TileOptions& o) : impl_(std::make_unique<Impl>(o)) {}
TileService::~TileService() = default;

std::optional<std::string> TileService::tile(const JobFiles& job, TileLayer layer, const TileKey& k) {
  auto& s = *impl_;
  const fs::path dir = fs::path(job.folder) / kTileCacheFolder;
  const std::string name = std::string(to_string(layer)) + "-" + std::to_string(k.z) + "-" + std::to_string(k.x) + "-" +
                           std::to_string(k.y) + ".png";
  if (layer != TileLayer::backdrop && !job.outputs.count(to_string(layer)))
    throw Error(ErrorKind::NotFound, "tiles", std::string("this job has no ") + to_string(layer) + " layer");
  if (auto hit = s.cache.get(dir, name)) return hit;
  // Tiles off the scene are answered without a render slot, once the source exists.
  auto outside = [&](const std::string& path) {
    const auto fp = s.footprint(path);
    return !fp || !overlaps(*fp, tile_bounds_3857(k));
  };
  std::error_code ec;
  std::string src_path;
  if (layer != TileLayer::backdrop || fs::is_regular_file(dir / kBackdropFile, ec)) {
    src_path = s.source(job, layer, dir);
    if (outside(src_path)) return std::nullopt;
  }
  RenderGate::Slot slot(s.gate);
  if (src_path.empty()) {
    src_path = s.source(job, layer, dir);  // writes the backdrop COG the first time
    if (outside(src_path)) return std::nullopt;
  }
  const io::Raster src = io::Raster::open(src_path);
  const bool nearest = layer == TileLayer::classes || layer == TileLayer::exclusion;
  const std::vector<float> px = warp_to_tile(src, k, nearest);
  std::string png = encode_png_rgba(colour(layer, px, job.threshold, k), kTileSize, kTileSize);
  s.cache.put(dir, name, png);
  return png;
}

}  // namespace drshym::serve
