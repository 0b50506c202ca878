#pragma once
// Map tiles of a finished job for the map page: GET /v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png.
// 256x256 RGBA PNGs in Web Mercator (EPSG:3857, XYZ numbering: y = 0 at the north), rendered by
// GDAL (GDALWarp onto the tile's window, the COG's overviews at low zoom; nearest for classes
// and exclusion, bilinear for the backdrop and the probability) and coloured with the overlay
// PNG's own colours (explain/overlay.hpp), transparent outside the scene and at nodata.
//
//   serve::TileService tiles(serve::TileOptions{});
//   auto png = tiles.tile(*service.job_files(id), serve::TileLayer::proba, {12, 2931, 1711});
//   // png: the PNG bytes, or nullopt when the tile lies outside the scene (HTTP 204)
//
// Layers: backdrop (the scene's VV in dB, grey as on the overlay; taken once into a COG with
// overviews in the job's folder), proba (flood blue at p >= threshold with opacity rising with
// p, orange where 0.2 <= p < threshold), classes (flood water vermillion, permanent water navy),
// exclusion (terrain-excluded ground hatched purple).
// Rendered tiles are cached on disk under <job folder>/map_tiles/ (bounded per job; the oldest
// go first). Renders run at most `renders` at once with at most `waiting` requests queued for
// a slot: a panning map cannot take every CPU from segmentation; excess gets Unavailable (503).
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace drshym::serve {

struct JobFiles;

inline constexpr int kTileSize = 256;
inline constexpr int kMaxTileZoom = 24;
inline constexpr const char* kTileCacheFolder = "map_tiles";  // under the job's folder

enum class TileLayer { backdrop, proba, classes, exclusion };
const char* to_string(TileLayer l);
// nullopt for anything but the four names.
std::optional<TileLayer> parse_tile_layer(const std::string& name);

struct TileKey {
  int z = 0, x = 0, y = 0;
};
// z, x and y as they come in the URL: decimal digits only (no sign, at most 9), z in
// [0, kMaxTileZoom], x and y in [0, 2^z). Usage error (400) otherwise, naming the field.
TileKey parse_tile_key(const std::string& z, const std::string& x, const std::string& y);
// [minx, miny, maxx, maxy] of the tile in EPSG:3857 metres.
std::array<double, 4> tile_bounds_3857(const TileKey& k);

struct TileOptions {
  int renders = 2;                          // tiles rendered at once
  int waiting = 8;                          // requests waiting for a render slot; more get 503
  double wait_s = 10;                       // longest wait for a slot, then 503
  size_t cache_tiles = 4096;                // cached tiles per job, at most
  uint64_t cache_bytes = uint64_t(64) << 20;  // cached bytes per job, at most
};

// At most `slots` renders at once and `waiting` callers queued for a slot, each for at most
// wait_s; acquire() throws Unavailable (503) beyond that.
class RenderGate {
 public:
  RenderGate(int slots, int waiting, double wait_s);
  void acquire();
  void release();
  // A slot held for a scope.
  struct Slot {
    RenderGate& g;
    explicit Slot(RenderGate& gate) : g(gate) { g.acquire(); }
    ~Slot() { g.release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
  };

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int free_, max_waiting_, waiting_ = 0;
  std::chrono::duration<double> wait_;
};

// 8-bit RGBA pixels (width * height * 4, row by row) as PNG bytes (libpng). Throws Internal.
std::string encode_png_rgba(const std::vector<uint8_t>& rgba, int width, int height);

class TileService {
 public:
  explicit TileService(const TileOptions& o);
  ~TileService();
  // The tile as PNG bytes; nullopt when it lies outside the scene. Throws drshym::Error:
  // NotFound when the job has no such layer (no exclusion without a DEM, no backdrop when the
  // scene is gone), Unavailable when every render slot is taken and the wait queue is full
  // or the wait ran out. Messages never name a server path.
  std::optional<std::string> tile(const JobFiles& job, TileLayer layer, const TileKey& k);
  // Seconds a client refused with Unavailable should wait.
  int retry_after_s() const { return 1; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drshym::serve
