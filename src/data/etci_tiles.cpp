#include "data/etci_tiles.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <limits>
#include <tuple>

#include <png.h>

#include "core/error.hpp"
#include "io/raster.hpp"

namespace fs = std::filesystem;

namespace drshym::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// Parse the integer after `key` ("x-" or "y-") in name; -1 when absent.
int number_after(const std::string& name, const std::string& key) {
  size_t p = name.rfind(key);
  if (p == std::string::npos) return -1;
  p += key.size();
  size_t e = p;
  while (e < name.size() && std::isdigit(static_cast<unsigned char>(name[e]))) ++e;
  if (e == p) return -1;
  return std::stoi(name.substr(p, e - p));
}

}  // namespace

std::vector<std::string> list_etci_scenes(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error(ErrorKind::NotFound, "data", "etci: root folder " + quoted(root) + " does not exist");
  std::vector<std::string> scenes;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && fs::is_directory(e.path() / "vv", ec)) scenes.push_back(e.path().filename().string());
  std::sort(scenes.begin(), scenes.end());
  return scenes;
}

bool parse_etci_position(const std::string& name, int& row, int& col) {
  row = number_after(name, "_x-");
  col = number_after(name, "_y-");
  return row >= 0 && col >= 0;
}

std::vector<EtciTileRef> list_etci_tiles(const std::string& root, const std::string& scene,
                                         std::vector<SkippedItem>* skipped) {
  const std::string dir = root + "/" + scene;
  std::error_code ec;
  if (!fs::is_directory(dir + "/vv", ec))
    throw Error(ErrorKind::NotFound, "data",
                "etci: scene " + quoted(scene) + " not found under " + quoted(root) + " (no " + quoted(dir + "/vv") + ")");
  std::vector<EtciTileRef> tiles;
  for (const auto& e : fs::directory_iterator(dir + "/vv", ec)) {
    const std::string f = e.path().filename().string();
    if (!ends_with(f, "_vv.png")) continue;
    EtciTileRef t;
    t.scene = scene;
    t.name = f.substr(0, f.size() - 7);
    parse_etci_position(t.name, t.row, t.col);
    t.vv_path = e.path().string();
    t.vh_path = dir + "/vh/" + t.name + "_vh.png";
    t.flood_path = dir + "/flood_label/" + t.name + ".png";
    t.water_body_path = dir + "/water_body_label/" + t.name + ".png";
    std::string lacking;
    const std::pair<const std::string*, const char*> companions[] = {
        {&t.vh_path, "vh"}, {&t.flood_path, "flood_label"}, {&t.water_body_path, "water_body_label"}};
    for (const auto& [p, what] : companions)
      if (!exists(*p)) lacking += std::string(lacking.empty() ? "" : ", ") + what;
    if (!lacking.empty()) {
      if (skipped) skipped->push_back({t.name, "missing " + lacking + " file"});
      continue;
    }
    tiles.push_back(std::move(t));
  }
  std::sort(tiles.begin(), tiles.end(), [](const EtciTileRef& a, const EtciTileRef& b) {
    return std::tie(a.row, a.col, a.name) < std::tie(b.row, b.col, b.name);
  });
  return tiles;
}

// libpng's simplified API: about 5x faster than a GDAL open for these small files, which
// matters when a scan touches thousands of tiles. Only 8-bit files (gray, RGB, palette, with
// or without alpha: exact copies, channel 0 taken); anything else returns false.
bool read_png_fast(const std::string& path, int& width, int& height, std::vector<uint8_t>& out) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) return false;
  if (img.format & PNG_FORMAT_FLAG_LINEAR) {  // 16-bit: the simplified API would re-encode it
    png_image_free(&img);
    return false;
  }
  img.format &= (PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA);
  std::vector<uint8_t> buf(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, buf.data(), 0, nullptr)) {
    png_image_free(&img);
    return false;
  }
  const size_t channels = PNG_IMAGE_PIXEL_CHANNELS(img.format);
  width = int(img.width);
  height = int(img.height);
  out.resize(size_t(width) * height);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buf[i * channels];
  return true;
}

std::vector<uint8_t> read_png_u8(const std::string& path, int& width, int& height) {
  std::vector<uint8_t> fast;
  if (read_png_fast(path, width, height, fast)) return fast;
  io::Raster r = io::Raster::open(path);  // 16-bit or odd PNGs, and GDAL's error messages
  width = r.width();
  height = r.height();
  std::vector<float> buf(size_t(width) * height);
  r.read_band(1, Window{0, 0, width, height}, buf.data());
  std::vector<uint8_t> out(buf.size());
  for (size_t i = 0; i < buf.size(); ++i) out[i] = uint8_t(std::clamp(std::lround(buf[i]), 0L, 255L));
  return out;
}

int64_t EtciTile::valid_count() const {
  int64_t n = 0;
  for (uint8_t v : valid) n += v ? 1 : 0;
  return n;
}

std::vector<uint8_t> etci_fill_mask(const uint8_t* vv, const uint8_t* vh, int width, int height, int min_fill_area) {
  const size_t n = size_t(width) * height;
  auto candidate = [&](size_t i) { return (vv[i] == 0 && vh[i] == 0) || (vv[i] == 255 && vh[i] == 255); };
  std::vector<uint8_t> mask(n, 0);
  std::vector<uint8_t> seen(n, 0);
  std::vector<size_t> stack, component;
  for (size_t start = 0; start < n; ++start) {
    if (seen[start] || !candidate(start)) continue;
    // Flood-fill one 4-connected patch of saturated pixels.
    stack.assign(1, start);
    component.clear();
    seen[start] = 1;
    bool touches_edge = false;
    while (!stack.empty()) {
      size_t i = stack.back();
      stack.pop_back();
      component.push_back(i);
      int x = int(i % size_t(width)), y = int(i / size_t(width));
      touches_edge = touches_edge || x == 0 || y == 0 || x == width - 1 || y == height - 1;
      auto visit = [&](int nx, int ny) {
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) return;
        size_t j = size_t(ny) * width + nx;
        if (!seen[j] && candidate(j)) {
          seen[j] = 1;
          stack.push_back(j);
        }
      };
      visit(x - 1, y);
      visit(x + 1, y);
      visit(x, y - 1);
      visit(x, y + 1);
    }
    if (touches_edge && int64_t(component.size()) >= min_fill_area)
      for (size_t i : component) mask[i] = 1;
  }
  return mask;
}

bool etci_outside_swath(const std::vector<uint8_t>& vv) {
  return std::all_of(vv.begin(), vv.end(), [](uint8_t p) { return p == 0 || p == 255; });
}

EtciTile read_etci_tile(const EtciTileRef& ref, int min_fill_area) {
  EtciTile t;
  int w[4], h[4];
  t.vv = read_png_u8(ref.vv_path, w[0], h[0]);
  t.vh = read_png_u8(ref.vh_path, w[1], h[1]);
  std::vector<uint8_t> flood = read_png_u8(ref.flood_path, w[2], h[2]);
  std::vector<uint8_t> body = read_png_u8(ref.water_body_path, w[3], h[3]);
  for (int k = 1; k < 4; ++k)
    if (w[k] != w[0] || h[k] != h[0])
      throw Error(ErrorKind::InvalidInput, "data",
                  "etci: tile " + quoted(ref.name) + " planes differ in size (vv " + std::to_string(w[0]) + "x" +
                      std::to_string(h[0]) + ", other " + std::to_string(w[k]) + "x" + std::to_string(h[k]) + ")");
  t.width = w[0];
  t.height = h[0];
  const size_t n = t.vv.size();
  std::vector<uint8_t> fill = etci_fill_mask(t.vv.data(), t.vh.data(), t.width, t.height, min_fill_area);
  t.label.assign(n, 0);
  t.valid.assign(n, 0);
  t.water_type.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    t.valid[i] = fill[i] ? 0 : 1;
    t.label[i] = (t.valid[i] && (flood[i] > 0 || body[i] > 0)) ? 1 : 0;
    // Reference water first: a flood label over a permanent water body is not new water.
    if (t.label[i]) t.water_type[i] = body[i] > 0 ? 1 : 2;
  }
  return t;
}

RawSample etci_to_raw(const EtciTile& tile, const EtciTileRef& ref, const EtciMapping& mapping) {
  RawSample r;
  r.width = tile.width;
  r.height = tile.height;
  r.id = ref.name;
  r.group = ref.scene;
  const size_t n = tile.vv.size();
  r.vv.resize(n);
  r.vh.resize(n);
  mapping.to_db(tile.vv.data(), n, false, r.vv.data());
  mapping.to_db(tile.vh.data(), n, true, r.vh.data());
  r.label = tile.label;
  r.valid = tile.valid;
  r.water_type = tile.water_type;
  // An ETCI pixel is invalid only where the tile has no data (0 or 255 at the swath's edge; its
  // labels are complete): NaN there, so the model input never reads the 8-bit fill as backscatter.
  for (size_t i = 0; i < n; ++i)
    if (!r.valid[i]) r.vv[i] = r.vh[i] = std::numeric_limits<float>::quiet_NaN();
  r.normalize_validity();
  return r;
}

}  // namespace drshym::data
