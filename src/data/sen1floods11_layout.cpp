#include "data/sen1floods11_layout.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/parallel.hpp"
#include "ingest/preprocess.hpp"
#include "io/raster.hpp"

namespace fs = std::filesystem;

namespace drshym::data {
namespace {

const char* kS1Suffix = "_S1Hand.tif";
const char* kLabelSuffix = "_LabelHand.tif";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n\"'";
  s.erase(0, s.find_first_not_of(ws));
  size_t e = s.find_last_not_of(ws);
  s.erase(e == std::string::npos ? 0 : e + 1);
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string chip_id_of(const std::string& s1_name) {
  if (ends_with(s1_name, kS1Suffix)) return s1_name.substr(0, s1_name.size() - std::string(kS1Suffix).size());
  return fs::path(s1_name).stem().string();
}

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

ChipRef make_ref(const std::string& root, const std::string& s1_name, const std::string& label_name) {
  ChipRef c;
  c.id = chip_id_of(s1_name);
  c.group = sen1floods11_region(c.id);
  c.s1_path = sen1floods11_s1_dir(root) + "/" + s1_name;
  c.label_path = sen1floods11_label_dir(root) + "/" + label_name;
  c.s2_path = sen1floods11_s2_dir(root) + "/" + c.id + "_S2Hand.tif";
  return c;
}

// Read a chip and count valid image pixels and known label pixels separately (skip reasons).
RawSample read_chip(const ChipRef& chip, int64_t& image_valid, int64_t& label_known) {
  io::Raster s1 = io::Raster::open(chip.s1_path);
  ingest::SourceBands sb = ingest::detect_source_bands(s1.info(), true);
  io::Raster lab = io::Raster::open(chip.label_path);
  if (lab.width() != s1.width() || lab.height() != s1.height())
    throw Error(ErrorKind::InvalidInput, "data",
                "LabelHand is " + std::to_string(lab.width()) + "x" + std::to_string(lab.height()) + " but S1Hand is " +
                    std::to_string(s1.width()) + "x" + std::to_string(s1.height()));
  Window w{0, 0, s1.width(), s1.height()};
  io::Block img = s1.read(w, {sb.vv, sb.vh});
  io::Block lb = lab.read(w, {1});
  RawSample r;
  r.width = w.w;
  r.height = w.h;
  r.id = chip.id;
  r.group = chip.group;
  r.crs_wkt = s1.info().crs_wkt;
  if (s1.info().has_geotransform) r.geotransform = s1.info().geotransform;
  const size_t n = r.pixels();
  r.vv.assign(img.band(0), img.band(0) + n);
  r.vh.assign(img.band(1), img.band(1) + n);
  r.label.assign(n, 0);
  r.valid.assign(n, 0);
  image_valid = 0;
  label_known = 0;
  for (size_t i = 0; i < n; ++i) {
    const float v = lb.data[i];
    const bool known = lb.valid[i] && (v == 0.0f || v == 1.0f);  // -1 (and anything else) = no data
    label_known += known ? 1 : 0;
    image_valid += img.valid[i] ? 1 : 0;
    r.label[i] = known && v == 1.0f ? 1 : 0;
    r.valid[i] = known && img.valid[i] ? 1 : 0;
    if (!img.valid[i]) r.vv[i] = r.vh[i] = std::numeric_limits<float>::quiet_NaN();  // input no data: NaN (RawSample's contract)
  }
  r.normalize_validity();
  return r;
}

// Why a chip is unusable ("" when usable; its pixels then go to keep()).
template <typename Keep>
std::string check_chip(const ChipRef& c, const std::optional<std::tuple<int, int, int>>& shape,
                       const std::string& open_error, const ChipScan& scan, Keep&& keep) {
  if (!shape) return "unreadable: " + open_error;
  auto [w, h, b] = *shape;
  if (b != scan.bands)
    return "S1Hand has " + std::to_string(b) + " band(s) while the other chips have " + std::to_string(scan.bands);
  if (w != scan.width || h != scan.height)
    return "S1Hand is " + std::to_string(w) + "x" + std::to_string(h) + " while the other chips are " +
           std::to_string(scan.width) + "x" + std::to_string(scan.height);
  int64_t image_valid = 0, label_known = 0;
  RawSample r;
  try {
    r = read_chip(c, image_valid, label_known);
  } catch (const Error& e) {
    return std::string("unreadable: ") + e.what();
  }
  if (image_valid == 0) return "S1Hand has no valid pixel (entirely NaN / no data)";
  if (label_known == 0) return "LabelHand has no known pixel (entirely -1 / no data)";
  if (r.valid_count() == 0) return "no pixel is valid in both S1Hand and LabelHand";
  keep(std::move(r));
  return "";
}

}  // namespace

std::string sen1floods11_s1_dir(const std::string& root) {
  return root + "/v1.1/data/flood_events/HandLabeled/S1Hand";
}
std::string sen1floods11_label_dir(const std::string& root) {
  return root + "/v1.1/data/flood_events/HandLabeled/LabelHand";
}
std::string sen1floods11_s2_dir(const std::string& root) {
  return root + "/v1.1/data/flood_events/HandLabeled/S2Hand";
}
std::string sen1floods11_split_csv(const std::string& root, const std::string& split) {
  return root + "/v1.1/splits/flood_handlabeled/flood_" + split + "_data.csv";
}

const std::vector<std::string>& sen1floods11_splits() {
  static const std::vector<std::string> k{"train", "valid", "test", "bolivia", "all"};
  return k;
}

std::string sen1floods11_region(const std::string& chip_id) { return chip_id.substr(0, chip_id.find('_')); }

ChipListing list_sen1floods11(const std::string& root, const std::string& split) {
  if (split.empty()) throw Error(ErrorKind::InvalidInput, "data", "sen1floods11: empty split name");
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error(ErrorKind::NotFound, "data", "sen1floods11: root folder " + quoted(root) + " does not exist");
  ChipListing out;
  out.split = split;
  if (split == "all") {
    out.source = sen1floods11_s1_dir(root);
    std::vector<std::string> names;
    if (fs::is_directory(out.source, ec))
      for (const auto& e : fs::directory_iterator(out.source, ec))
        if (ends_with(e.path().filename().string(), kS1Suffix)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    out.listed = names.size();
    for (const auto& n : names) {
      ChipRef c = make_ref(root, n, chip_id_of(n) + kLabelSuffix);
      if (exists(c.label_path))
        out.present.push_back(c);
      else
        out.missing.push_back(c.id);
    }
    return out;
  }
  out.source = sen1floods11_split_csv(root, split);
  if (!exists(out.source)) {
    const auto& k = sen1floods11_splits();
    if (std::find(k.begin(), k.end(), split) == k.end())
      throw Error(ErrorKind::InvalidInput, "data",
                  "sen1floods11: unknown split " + quoted(split) + " (train, valid, test, bolivia, all) and no " +
                      quoted(out.source));
    throw Error(ErrorKind::NotFound, "data",
                "sen1floods11: split list " + quoted(out.source) + " for split " + quoted(split) + " does not exist");
  }
  std::ifstream in(out.source);
  if (!in) throw Error(ErrorKind::Io, "data", "sen1floods11: cannot read " + quoted(out.source));
  std::string line;
  int line_no = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_no;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t comma = line.find(',');
    std::string s1 = trim(line.substr(0, comma));
    std::string lab = comma == std::string::npos ? "" : trim(line.substr(comma + 1));
    if (lab.find(',') != std::string::npos) lab = trim(lab.substr(0, lab.find(',')));
    const bool looks_like_tif = ends_with(lower(s1), ".tif") || ends_with(lower(s1), ".tiff");
    if (first && !looks_like_tif) {  // a header row
      first = false;
      continue;
    }
    first = false;
    if (!looks_like_tif || s1.find('/') != std::string::npos)
      throw Error(ErrorKind::InvalidInput, "data",
                  quoted(out.source) + " line " + std::to_string(line_no) +
                      ": expected '<chip>_S1Hand.tif,<chip>_LabelHand.tif', got " + quoted(line));
    if (lab.empty()) lab = chip_id_of(s1) + kLabelSuffix;
    ++out.listed;
    ChipRef c = make_ref(root, s1, lab);
    if (exists(c.s1_path) && exists(c.label_path))
      out.present.push_back(c);
    else
      out.missing.push_back(c.id);
  }
  return out;
}

RawSample read_sen1floods11_chip(const ChipRef& chip) {
  int64_t a, b;
  return read_chip(chip, a, b);
}

std::string sen1floods11_s2_problem(const ChipRef& chip, int width, int height) {
  if (!exists(chip.s2_path)) return "no S2Hand image " + quoted(chip.s2_path);
  try {
    io::Raster s2 = io::Raster::open(chip.s2_path);
    if (s2.info().bands != kS2HandBands)
      return "S2Hand " + quoted(chip.s2_path) + " has " + std::to_string(s2.info().bands) + " bands, not " +
             std::to_string(kS2HandBands);
    if (s2.width() != width || s2.height() != height)
      return "S2Hand " + quoted(chip.s2_path) + " is " + std::to_string(s2.width()) + "x" +
             std::to_string(s2.height()) + " but S1Hand is " + std::to_string(width) + "x" + std::to_string(height);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void read_sen1floods11_s2(const ChipRef& chip, RawSample& r) {
  const std::string problem = sen1floods11_s2_problem(chip, r.width, r.height);
  if (!problem.empty()) throw Error(ErrorKind::InvalidInput, "data", "sen1floods11: chip " + quoted(chip.id) + ": " + problem);
  io::Raster s2 = io::Raster::open(chip.s2_path);
  // B4, B3, B2 (red, green, blue): bands 4, 3, 2 of B1..B12 with B8A.
  io::Block b = s2.read(Window{0, 0, r.width, r.height}, {4, 3, 2});
  const size_t n = r.pixels();
  r.optical.assign(6 * n, std::numeric_limits<float>::quiet_NaN());  // no pre-event image: before planes NaN
  for (size_t c = 0; c < 3; ++c)
    for (size_t i = 0; i < n; ++i) {
      const float v = b.data[c * n + i];
      // Reflectance x 10000; 0 is S2Hand's fill. 0-0.3 reflectance spans [0, 1], as a true-colour composite.
      if (b.valid[i] && std::isfinite(v) && v > 0.0f) r.optical[c * n + i] = v / 3000.0f;
    }
}

ChipScan scan_sen1floods11(const std::vector<ChipRef>& chips, size_t keep_bytes, bool progress) {
  ChipScan scan;
  // Pass 1: shapes from metadata only, to find the shape most chips share.
  using Shape = std::tuple<int, int, int>;  // width, height, bands
  std::vector<std::optional<Shape>> shapes(chips.size());
  std::vector<std::string> open_error(chips.size());
  std::map<Shape, size_t> votes;
  for (size_t i = 0; i < chips.size(); ++i) {
    try {
      io::Raster r = io::Raster::open(chips[i].s1_path);
      shapes[i] = Shape{r.width(), r.height(), r.info().bands};
      ++votes[*shapes[i]];
    } catch (const Error& e) {
      open_error[i] = e.what();
    }
  }
  Shape common{0, 0, 0};
  size_t best = 0;
  for (size_t i = 0; i < chips.size(); ++i)  // ties go to the shape seen first
    if (shapes[i] && votes[*shapes[i]] > best) {
      best = votes[*shapes[i]];
      common = *shapes[i];
    }
  std::tie(scan.width, scan.height, scan.bands) = common;

  // Pass 2 (parallel): pixels of the chips with the common shape; results kept in list order.
  std::vector<std::string> reason(chips.size());
  std::vector<RawSample> pixels(chips.size());
  std::mutex mu;
  size_t kept_bytes = 0;
  core::Progress bar("sen1floods11: reading chips", int64_t(chips.size()), progress ? -1 : 0);
  parallel_for_each(chips.size(), 0, [&](size_t i) {
    reason[i] = check_chip(chips[i], shapes[i], open_error[i], scan, [&](RawSample&& r) {
      std::lock_guard<std::mutex> lock(mu);
      if (kept_bytes + r.bytes() <= keep_bytes) {
        kept_bytes += r.bytes();
        pixels[i] = std::move(r);
      }
    });
    std::lock_guard<std::mutex> lock(mu);
    bar.advance();
  });
  for (size_t i = 0; i < chips.size(); ++i) {
    if (!reason[i].empty()) {
      scan.skipped.push_back({chips[i].id, reason[i]});
      continue;
    }
    scan.usable.push_back(chips[i]);
    scan.pixels.push_back(std::move(pixels[i]));
  }
  bar.finish();
  return scan;
}

}  // namespace drshym::data
