#pragma once
// RAII access to GDAL rasters: open by path or URI, windowed float reads with a validity mask,
// creation of GeoTIFF / MEM rasters and Cloud-Optimized GeoTIFF copies. GDAL headers stay in
// the .cpp so that including this does not pull GDAL into every module.
//
//   auto r = io::Raster::open("file:///data/S1.tif");
//   io::Block b = r.read(Window{0, 0, 512, 512}, {1, 2});   // VV, VH as float + validity
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/geo.hpp"

class GDALDataset;

namespace drshym::io {

enum class DataType { Byte, Int16, UInt16, Int32, Float32, Float64 };
const char* to_string(DataType t);

struct RasterInfo {
  std::string uri;          // as the user gave it
  int width = 0;
  int height = 0;
  int bands = 0;
  bool has_geotransform = false;
  GeoTransform geotransform;
  std::string crs_wkt;      // "" when the raster has no CRS
  std::string crs_code;     // "EPSG:32631" when identifiable, else ""
  std::vector<std::optional<double>> nodata;  // per band
  std::vector<DataType> types;                // per band
  std::vector<std::string> descriptions;      // per band
};

// Pixels of a window, band-major: data[b * w * h + row * w + col].
struct Block {
  Window window;
  int bands = 0;
  std::vector<float> data;
  std::vector<uint8_t> valid;  // 1 where every requested band is finite, not nodata, in-scene
  float* band(int b) { return data.data() + size_t(b) * window.w * window.h; }
  const float* band(int b) const { return data.data() + size_t(b) * window.w * window.h; }
  int64_t valid_count() const;
};

struct CreateOptions {
  int width = 0;
  int height = 0;
  int bands = 1;
  DataType type = DataType::Float32;
  GeoTransform geotransform;
  bool has_geotransform = true;
  std::string crs_wkt;
  std::optional<double> nodata;
  std::vector<std::string> descriptions;
  int block_size = 256;            // GeoTIFF internal tiling
  int block_height = 0;            // blocks this tall (a multiple of 16); 0: square blocks
  std::string compress = "DEFLATE";
  int compress_level = 0;          // 0: the codec's default; DEFLATE 1-9, ZSTD 1-22 (1 = fastest)
};

class Raster {
 public:
  // Open read-only. Errors (all drshym::Error, stage "io", naming the URI):
  //   NotFound for a missing local file; InvalidInput for "not a raster" / corrupt.
  static Raster open(const std::string& uri);
  // Create a tiled GeoTIFF at path (overwrites).
  static Raster create_geotiff(const std::string& path, const CreateOptions& opt);
  // Create an in-memory raster (GDAL MEM driver).
  static Raster create_mem(const CreateOptions& opt);

  Raster(Raster&&) noexcept;
  Raster& operator=(Raster&&) noexcept;
  ~Raster();

  const RasterInfo& info() const { return info_; }
  int width() const { return info_.width; }
  int height() const { return info_.height; }

  // Read bands (1-based) of a window as float. Parts of the window outside the scene are
  // filled with NaN and marked invalid.
  Block read(const Window& w, const std::vector<int>& bands) const;
  // Read one band of a window (must lie inside the scene) into dst (w*h floats).
  void read_band(int band, const Window& w, float* dst) const;
  // Read one band of a window resampled (nearest) into an out_w x out_h buffer.
  void read_band_resampled(int band, const Window& w, int out_w, int out_h, float* dst) const;
  // Write one band of a window from floats (converted to the band's type by GDAL).
  void write_band(int band, const Window& w, const float* src);
  void write_band(int band, const Window& w, const uint8_t* src);
  void set_band_description(int band, const std::string& d);
  void set_metadata_item(const std::string& key, const std::string& value);
  // Flush and close; errors while flushing throw Io.
  void close();

  // Write a Cloud-Optimized GeoTIFF copy of this raster to path (DEFLATE, internal overviews).
  void write_cog(const std::string& path, bool overviews = true) const;
  // Copy this raster to path with any GDAL driver ("PNG", "GTiff", ...).
  void write_copy(const std::string& path, const std::string& driver) const;

  GDALDataset* handle() const { return ds_.get(); }

 private:
  struct Closer {
    void operator()(GDALDataset* ds) const;
  };
  Raster(GDALDataset* ds, std::string uri);
  void load_info();
  std::unique_ptr<GDALDataset, Closer> ds_;
  RasterInfo info_;
};

// Creation options taking georeferencing from an existing raster's info.
CreateOptions like(const RasterInfo& src, int bands, DataType type, std::optional<double> nodata);

// Write an 8-bit PNG (no georeferencing) from `bands` planes of width x height bytes, band-major
// (1 band: grey, 3: RGB). GDAL's PNG side-car (.aux.xml) is not left behind.
void write_png(const std::string& path, int width, int height, int bands, const uint8_t* planes);

// EPSG code ("EPSG:4326") for a WKT, or "" if not identifiable.
std::string crs_code_of(const std::string& wkt);
// WKT for "EPSG:xxxx" or any user string OGR understands; throws Usage otherwise.
std::string crs_wkt_of(const std::string& user_crs);

// Process-wide: the GDAL drivers Raster::open may use from now on (empty: any). `drshym serve`
// allows GTiff only (COGs included), so that an input swapped for a VRT or another format that
// references other files after its submit-time check still cannot read elsewhere. Returns the
// previous list.
std::vector<std::string> restrict_raster_drivers(const std::vector<std::string>& drivers);

// Short name of the GDAL driver that would open the URI ("GTiff", "VRT", ...), "" when none
// would. Reads the file's header only.
std::string identify_driver(const std::string& uri);
// True when two CRS definitions denote the same system.
bool same_crs(const std::string& wkt_a, const std::string& wkt_b);

}  // namespace drshym::io
