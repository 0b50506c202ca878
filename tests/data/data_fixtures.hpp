#pragma once
// Tiny synthetic rasters for the data tests: GeoTIFF chips in the Sen1Floods11 and folder
// layouts and 8-bit PNG tiles in the ETCI layout, written into a TempDir.
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "data/raw_sample.hpp"
#include "io/raster.hpp"

namespace drshym::testing {

// Write a GeoTIFF (EPSG:4326, 10 m-ish pixels) from band-major values.
inline void write_tif(const std::string& path, int w, int h, int bands, const std::vector<float>& values,
                      io::DataType type = io::DataType::Float32, std::optional<double> nodata = std::nullopt,
                      std::vector<std::string> descriptions = {}) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.bands = bands;
  o.type = type;
  o.geotransform = GeoTransform{{10.0, 9e-5, 0, 5.0, 0, -9e-5}};
  o.crs_wkt = io::crs_wkt_of("EPSG:4326");
  o.nodata = nodata;
  o.descriptions = std::move(descriptions);
  o.block_size = 16;
  io::Raster r = io::Raster::create_geotiff(path, o);
  for (int b = 0; b < bands; ++b) r.write_band(b + 1, Window{0, 0, w, h}, values.data() + size_t(b) * w * h);
  r.close();
}

// Write an 8-bit single-band PNG.
inline void write_png(const std::string& path, int w, int h, const std::vector<uint8_t>& values) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  io::write_png(path, w, h, 1, values.data());
}

// A Sen1Floods11-style chip: VV/VH (NaN where vv_nan), label (-1 where label_unknown).
// VV is -20 dB on water and -8 dB on dry land; VH 8 dB lower.
struct ChipSpec {
  std::string id;  // "India_1"
  int size = 8;
  int bands = 2;
  bool all_nan = false;
  bool label_all_unknown = false;
};

inline void write_s1f11_chip(const std::string& root, const ChipSpec& c) {
  const std::string hand = root + "/v1.1/data/flood_events/HandLabeled";
  const int n = c.size * c.size;
  std::vector<float> img(static_cast<size_t>(n) * c.bands);
  std::vector<float> lab(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const bool water = (i % c.size) < c.size / 2;  // left half water
    lab[size_t(i)] = c.label_all_unknown ? -1.0f : (i == n - 1 ? -1.0f : (water ? 1.0f : 0.0f));
    const float vv = c.all_nan ? std::numeric_limits<float>::quiet_NaN() : (water ? -20.0f : -8.0f);
    img[size_t(i)] = vv;
    if (c.bands > 1) img[size_t(n + i)] = vv - 8.0f;
  }
  if (!c.all_nan) img[0] = std::numeric_limits<float>::quiet_NaN();  // one NaN pixel
  std::vector<std::string> desc = c.bands > 1 ? std::vector<std::string>{"VV", "VH"} : std::vector<std::string>{"VV"};
  write_tif(hand + "/S1Hand/" + c.id + "_S1Hand.tif", c.size, c.size, c.bands, img, io::DataType::Float32,
            std::numeric_limits<double>::quiet_NaN(), desc);
  write_tif(hand + "/LabelHand/" + c.id + "_LabelHand.tif", c.size, c.size, 1, lab, io::DataType::Int16);
}

inline void write_s1f11_csv(const std::string& root, const std::string& split, const std::vector<std::string>& ids) {
  const std::string dir = root + "/v1.1/splits/flood_handlabeled";
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/flood_" + split + "_data.csv");
  for (const auto& id : ids) f << id << "_S1Hand.tif," << id << "_LabelHand.tif\r\n";
}

}  // namespace drshym::testing
