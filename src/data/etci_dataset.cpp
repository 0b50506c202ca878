#include "data/etci_dataset.hpp"

#include <map>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/parallel.hpp"

namespace drshym::data {

// A tile as cached: VV and VH bytes plus label and validity packed in 2 bits per pixel.
struct EtciPackedTile {
  int width = 0;
  int height = 0;
  // bits: 4 per pixel, 2 pixels per byte: bit 0 label, bit 1 valid, bits 2-3 water type
  // (0 none, 1 permanent, 2 flood), so a cached tile is served exactly as read.
  std::vector<uint8_t> vv, vh, bits;

  static EtciPackedTile pack(const EtciTile& t) {
    EtciPackedTile p;
    p.width = t.width;
    p.height = t.height;
    p.vv = t.vv;
    p.vh = t.vh;
    p.bits.assign((t.vv.size() + 1) / 2, 0);
    for (size_t i = 0; i < t.vv.size(); ++i) {
      const unsigned type = t.water_type.empty() ? 0u : (t.water_type[i] & 3u);
      p.bits[i / 2] |= uint8_t(((t.label[i] ? 1u : 0u) | (t.valid[i] ? 2u : 0u) | (type << 2)) << ((i % 2) * 4));
    }
    return p;
  }
  EtciTile unpack() const {
    EtciTile t;
    t.width = width;
    t.height = height;
    t.vv = vv;
    t.vh = vh;
    t.label.resize(vv.size());
    t.valid.resize(vv.size());
    t.water_type.resize(vv.size());
    for (size_t i = 0; i < vv.size(); ++i) {
      uint8_t b = uint8_t(bits[i / 2] >> ((i % 2) * 4));
      t.label[i] = b & 1;
      t.valid[i] = (b >> 1) & 1;
      t.water_type[i] = (b >> 2) & 3;
    }
    return t;
  }
  size_t bytes() const { return vv.size() + vh.size() + bits.size() + sizeof(*this); }
};

EtciDataset::EtciDataset(const EtciOptions& opt, const ingest::Preprocess& pp) : RawDataset(pp), opt_(opt) {
  std::vector<std::string> available = list_etci_scenes(opt.root);
  scenes_ = opt.scenes.empty() ? available : opt.scenes;
  if (scenes_.empty())
    throw Error(ErrorKind::InvalidInput, "data", "etci: no scene folder (with vv/) under " + quoted(opt.root));

  std::vector<EtciTileRef> listed;
  for (const auto& scene : scenes_) {
    auto t = list_etci_tiles(opt.root, scene, &skipped_);
    listed.insert(listed.end(), t.begin(), t.end());
  }

  // Scan: the VV plane of every tile tells its size and whether it lies outside the swath.
  struct Scan {
    int w = 0, h = 0;
    bool outside = false;
    std::string error;
  };
  std::vector<Scan> scan(listed.size());
  core::Progress bar("etci: scanning tiles", int64_t(listed.size()), opt.progress ? -1 : 0);
  std::mutex bar_mu;
  parallel_for_each(listed.size(), opt.threads, [&](size_t i) {
    try {
      std::vector<uint8_t> vv = read_png_u8(listed[i].vv_path, scan[i].w, scan[i].h);
      scan[i].outside = etci_outside_swath(vv);
    } catch (const Error& e) {
      scan[i].error = e.what();
    }
    std::lock_guard<std::mutex> lock(bar_mu);
    bar.advance();
  });
  bar.finish();

  std::map<std::pair<int, int>, size_t> votes;
  for (const auto& s : scan)
    if (s.error.empty()) ++votes[{s.w, s.h}];
  std::pair<int, int> common{256, 256};
  size_t best = 0;
  for (const auto& [shape, n] : votes)
    if (n > best) {
      best = n;
      common = shape;
    }

  std::map<std::string, std::pair<size_t, size_t>> per_scene;  // scene → (kept, outside)
  for (size_t i = 0; i < listed.size(); ++i) {
    const Scan& s = scan[i];
    if (!s.error.empty()) {
      skipped_.push_back({listed[i].name, "unreadable: " + s.error});
    } else if (std::pair{s.w, s.h} != common) {
      skipped_.push_back({listed[i].name, "is " + std::to_string(s.w) + "x" + std::to_string(s.h) +
                                              " while the other tiles are " + std::to_string(common.first) + "x" +
                                              std::to_string(common.second)});
    } else if (s.outside) {
      skipped_.push_back({listed[i].name, "outside the swath: every VV pixel is 0 or 255 (no data)"});
      ++outside_swath_;
      ++per_scene[listed[i].scene].second;
    } else {
      tiles_.push_back(listed[i]);
      ++per_scene[listed[i].scene].first;
    }
  }
  for (const auto& scene : scenes_)
    core::log().info("etci: scene '{}': {} tiles used, {} wholly outside the swath (skipped)", scene,
                     per_scene[scene].first, per_scene[scene].second);
  if (skipped_.size() > outside_swath_)
    core::log().warn("etci: {} further tile(s) skipped: {}", skipped_.size() - outside_swath_, [&] {
      std::vector<SkippedItem> other;
      for (const auto& s : skipped_)
        if (s.reason.rfind("outside the swath", 0) != 0) other.push_back(s);
      return first_names(other);
    }());
  if (tiles_.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "etci: no usable tile in scene(s) " + first_names(scenes_) + " under " + quoted(opt.root) +
                    (skipped_.empty() ? "" : ": " + first_names(skipped_)));
  cache_.reset(tiles_.size(), opt.cache_mb << 20);
}

EtciDataset::~EtciDataset() = default;

std::string EtciDataset::name() const {
  std::string s = "etci:";
  for (size_t i = 0; i < scenes_.size(); ++i) s += (i ? "+" : "") + scenes_[i];
  return s;
}

EtciTile EtciDataset::tile(size_t index) const {
  if (auto hit = cache_.find(index)) return hit->unpack();
  EtciTile t = read_etci_tile(tiles_.at(index), opt_.min_fill_area);
  auto packed = std::make_shared<const EtciPackedTile>(EtciPackedTile::pack(t));
  cache_.put(index, packed, packed->bytes());
  return t;
}

RawSample EtciDataset::raw(size_t index) const {
  RawSample r = etci_to_raw(tile(index), tiles_.at(index), opt_.mapping);
  if (opt_.label == EtciLabel::permanent_water) {
    if (r.water_type.size() != r.label.size())
      throw Error(ErrorKind::Internal, "data", "etci: tile " + quoted(r.id) + " lost its water types");
    for (size_t i = 0; i < r.label.size(); ++i) r.label[i] = r.water_type[i] == 1;
  } else if (opt_.label == EtciLabel::water_and_permanent) {
    if (r.water_type.size() != r.label.size())
      throw Error(ErrorKind::Internal, "data", "etci: tile " + quoted(r.id) + " lost its water types");
    std::vector<uint8_t> permanent(r.label.size());
    for (size_t i = 0; i < r.label.size(); ++i) permanent[i] = r.water_type[i] == 1;
    r.head_labels.push_back(std::move(permanent));
  }
  return r;
}

}  // namespace drshym::data
