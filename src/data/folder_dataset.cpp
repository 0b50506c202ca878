#include "data/folder_dataset.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/parallel.hpp"
#include "ingest/scene.hpp"
#include "io/raster.hpp"

namespace fs = std::filesystem;

namespace drshym::data {
namespace {

bool is_tif(const fs::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e == ".tif" || e == ".tiff";
}

// Tiles written by `drshym tile` are "<scene>_tile_NNNNN": the scene is the group. Other
// names group by the part before the first underscore (Sen1Floods11-style "<Region>_<id>").
std::string group_of_stem(const std::string& stem) {
  size_t p = stem.rfind("_tile_");
  if (p != std::string::npos && p > 0) return stem.substr(0, p);
  return stem.substr(0, stem.find('_'));
}

// read_folder_item; *bad_labels (when given) is set when it throws because the label breaks
// the label convention: the folder's labels are wrong, not one item.
RawSample read_item(const FolderItem& item, bool need_vh, bool* bad_labels) {
  io::Raster img = io::Raster::open(item.image_path);
  ingest::SourceBands sb = ingest::detect_source_bands(img.info(), need_vh);
  io::Raster lab = io::Raster::open(item.label_path);
  if (lab.width() != img.width() || lab.height() != img.height())
    throw Error(ErrorKind::InvalidInput, "data",
                "label " + quoted(item.label_path) + " is " + std::to_string(lab.width()) + "x" +
                    std::to_string(lab.height()) + " but the image is " + std::to_string(img.width()) + "x" +
                    std::to_string(img.height()));
  Window w{0, 0, img.width(), img.height()};
  std::vector<int> bands{sb.vv};
  if (sb.vh) bands.push_back(sb.vh);
  io::Block ib = img.read(w, bands);
  io::Block lb = lab.read(w, {1});
  ingest::LabelValueCheck label_values(item.label_path, lab.info().nodata.empty() ? std::nullopt : lab.info().nodata[0]);
  label_values.add(lb);
  try {
    label_values.check("data");
  } catch (const Error&) {
    if (bad_labels) *bad_labels = true;
    throw;
  }
  RawSample r;
  r.width = w.w;
  r.height = w.h;
  r.id = item.id;
  r.group = item.group;
  r.crs_wkt = img.info().crs_wkt;
  if (img.info().has_geotransform) r.geotransform = img.info().geotransform;
  const size_t n = r.pixels();
  r.vv.assign(ib.band(0), ib.band(0) + n);
  if (sb.vh) r.vh.assign(ib.band(1), ib.band(1) + n);
  r.label.assign(n, 0);
  r.valid.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const float v = lb.data[i];
    const bool known = lb.valid[i] && (v == 0.0f || v == 1.0f);  // else -1 or nodata (nothing else: checked)
    r.label[i] = known && v == 1.0f ? 1 : 0;
    r.valid[i] = known && ib.valid[i] ? 1 : 0;
  }
  for (size_t i = 0; i < n; ++i)  // input no data: NaN (RawSample's contract)
    if (!ib.valid[i]) {
      r.vv[i] = std::numeric_limits<float>::quiet_NaN();
      if (sb.vh) r.vh[i] = std::numeric_limits<float>::quiet_NaN();
    }
  if (!item.terrain_path.empty()) {
    io::Raster ter = io::Raster::open(item.terrain_path);
    if (ter.width() != img.width() || ter.height() != img.height() || ter.info().bands < 3)
      throw Error(ErrorKind::InvalidInput, "data",
                  "terrain " + quoted(item.terrain_path) + " must have 3 bands (height, slope, HAND) of " +
                      std::to_string(img.width()) + "x" + std::to_string(img.height()) + " pixels");
    io::Block tb = ter.read(w, {1, 2, 3});  // NaN where a band is nodata
    r.terrain.assign(tb.data.begin(), tb.data.end());
  }
  r.normalize_validity();
  return r;
}

}  // namespace

RawSample read_folder_item(const FolderItem& item, bool need_vh) { return read_item(item, need_vh, nullptr); }

FolderDataset::FolderDataset(const FolderOptions& opt, const ingest::Preprocess& pp)
    : RawDataset(pp), opt_(opt) {
  std::error_code ec;
  if (!fs::is_directory(opt.root, ec))
    throw Error(ErrorKind::NotFound, "data", "folder dataset: root " + quoted(opt.root) + " does not exist");
  if (opt.split.empty()) throw Error(ErrorKind::InvalidInput, "data", "folder dataset: empty split name");
  const std::string split_dir = opt.root + "/" + opt.split;
  const std::string images = split_dir + "/images", labels = split_dir + "/labels", terrain = split_dir + "/terrain";
  const bool need_terrain = pp.needs_terrain();
  if (!fs::is_directory(split_dir, ec))
    throw Error(ErrorKind::NotFound, "data",
                "folder dataset: split " + quoted(opt.split) + " not found (no folder " + quoted(split_dir) + ")");
  if (!fs::is_directory(images, ec))
    throw Error(ErrorKind::NotFound, "data", "folder dataset: no " + quoted(images) + " folder");

  std::vector<FolderItem> found;
  for (const auto& e : fs::directory_iterator(images, ec)) {
    if (!e.is_regular_file() || !is_tif(e.path())) continue;
    FolderItem it;
    it.id = e.path().stem().string();
    it.group = group_of_stem(it.id);
    it.image_path = e.path().string();
    it.label_path = labels + "/" + e.path().filename().string();
    const std::string t = terrain + "/" + e.path().filename().string();
    if (need_terrain && fs::exists(t, ec)) it.terrain_path = t;
    if (!fs::exists(it.label_path, ec))
      skipped_.push_back({it.id, "no label " + quoted(it.label_path)});
    else if (need_terrain && it.terrain_path.empty())
      skipped_.push_back({it.id, "no terrain " + quoted(t) + " (the recipe reads DEM, SLOPE or HAND)"});
    else
      found.push_back(std::move(it));
  }
  std::sort(found.begin(), found.end(), [](const FolderItem& a, const FolderItem& b) { return a.id < b.id; });
  if (found.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "folder dataset: no image with a label in " + quoted(images) +
                    (skipped_.empty() ? " (no .tif files)" : ": " + first_names(skipped_)));

  // Read every pair once: reject unusable ones now, keep pixels while the cache budget lasts.
  const bool need_vh = preprocess().needs_vh();
  std::vector<std::string> reason(found.size());
  std::vector<std::exception_ptr> bad_labels(found.size());  // a label off the convention: fatal
  std::vector<std::shared_ptr<const RawSample>> kept(found.size());
  const size_t budget = opt.cache_mb << 20;
  size_t used = 0;
  std::mutex mu;
  core::Progress bar("folder: reading " + opt.split, int64_t(found.size()), opt.progress ? -1 : 0);
  parallel_for_each(found.size(), 0, [&](size_t i) {
    bool bad = false;
    try {
      RawSample r = read_item(found[i], need_vh, &bad);
      if (r.valid_count() == 0) {
        reason[i] = "no valid pixel (image no data or label unknown everywhere)";
      } else {
        std::lock_guard<std::mutex> lock(mu);
        if (used + r.bytes() <= budget) {
          used += r.bytes();
          kept[i] = std::make_shared<const RawSample>(std::move(r));
        }
      }
    } catch (const Error& e) {
      reason[i] = e.what();
      if (bad) bad_labels[i] = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu);
    bar.advance();
  });
  bar.finish();
  // Labels in another convention (e.g. 0/255) are refused, not skipped: their water would
  // be read as unknown and every score would silently be wrong.
  for (const auto& e : bad_labels)
    if (e) std::rethrow_exception(e);

  std::vector<std::shared_ptr<const RawSample>> cached;
  for (size_t i = 0; i < found.size(); ++i) {
    if (!reason[i].empty()) {
      skipped_.push_back({found[i].id, reason[i]});
      continue;
    }
    items_.push_back(found[i]);
    cached.push_back(kept[i]);
  }
  if (!skipped_.empty())
    core::log().warn("folder dataset {}: skipped {} item(s): {}", quoted(split_dir), skipped_.size(),
                     first_names(skipped_));
  if (items_.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "folder dataset: no usable image/label pair in " + quoted(split_dir) + ": " + first_names(skipped_));
  cache_.reset(items_.size(), budget);
  for (size_t i = 0; i < cached.size(); ++i)
    if (cached[i]) cache_.put(i, cached[i], cached[i]->bytes());
  core::log().info("folder dataset {}: {} samples ({} skipped)", quoted(split_dir), items_.size(), skipped_.size());
}

RawSample FolderDataset::raw(size_t index) const {
  if (auto hit = cache_.find(index)) return *hit;
  RawSample r = read_folder_item(items_.at(index), preprocess().needs_vh());
  size_t b = r.bytes();
  cache_.put(index, std::make_shared<const RawSample>(r), b);
  return r;
}

}  // namespace drshym::data
