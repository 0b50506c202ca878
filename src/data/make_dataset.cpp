#include "data/make_dataset.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "data/concat_dataset.hpp"
#include "data/etci_dataset.hpp"
#include "data/ombria_dataset.hpp"
#include "data/folder_dataset.hpp"
#include "data/sen1floods11_dataset.hpp"

namespace fs = std::filesystem;

namespace drshym::data {
namespace {

using Json = nlohmann::json;

Error bad(const std::string& key, const std::string& what) {
  return Error(ErrorKind::InvalidInput, "data", "config key " + quoted(key) + ": " + what);
}

std::string string_at(const Json& cfg, const std::string& field, const std::string& prefix) {
  const Json& v = cfg.at(field);
  if (!v.is_string()) throw bad(prefix + "." + field, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::string required_root(const Json& cfg, const std::string& prefix) {
  if (!cfg.contains("root") || cfg["root"].is_null()) throw bad(prefix + ".root", "missing (the dataset folder)");
  std::string root = string_at(cfg, "root", prefix);
  std::error_code ec;
  if (root.empty() || !fs::is_directory(root, ec))
    throw Error(ErrorKind::NotFound, "data",
                "config key " + quoted(prefix + ".root") + ": folder " + quoted(root) + " does not exist");
  return root;
}

// `split` of a sen1floods11 / folder entry for a role: absent → role, string → it, mapping → [role].
std::string resolve_split(const Json& cfg, const std::string& role, const std::string& prefix) {
  const std::string key = prefix + ".split";
  if (!cfg.contains("split") || cfg["split"].is_null()) return role;
  const Json& v = cfg["split"];
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_object()) {
    if (!v.contains(role)) throw bad(key, "no entry for split " + quoted(role));
    if (!v[role].is_string()) throw bad(key + "." + role, "expected a string, got " + v[role].dump());
    s = v[role].get<std::string>();
  } else {
    throw bad(key, "expected a string or a mapping {split: name}, got " + v.dump());
  }
  if (s.empty()) throw bad(key, "empty split name");
  return s;
}

std::vector<std::string> string_list(const Json& v, const std::string& key) {
  if (!v.is_array()) throw bad(key, "expected a list of names, got " + v.dump());
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) throw bad(key, "expected names (strings), got " + e.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

size_t cache_mb(const Json& cfg, size_t fallback, const std::string& prefix) {
  if (!cfg.contains("cache_mb") || cfg["cache_mb"].is_null()) return fallback;
  const Json& v = cfg["cache_mb"];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) throw bad(prefix + ".cache_mb", "expected a size in MB >= 0");
  return v.get<size_t>();
}

bool progress(const Json& cfg, const std::string& prefix) {
  if (!cfg.contains("progress")) return true;
  if (!cfg["progress"].is_boolean()) throw bad(prefix + ".progress", "expected true or false");
  return cfg["progress"].get<bool>();
}

void enable_augment_from(RawDataset& ds, const Json& cfg, const Json* inherited, bool augment, uint64_t seed,
                   const std::string& prefix) {
  if (!augment) return;
  const Json* a = cfg.contains("augment") ? &cfg["augment"] : inherited;
  if (a && a->is_boolean()) {
    if (!a->get<bool>()) return;
    a = nullptr;
  }
  ds.enable_augmentation(a ? AugmentOptions::from_json(*a, prefix + ".augment") : AugmentOptions::default_params(),
                         seed);
}

// What every entry of a data config, the sources of a concat included, is built with.
struct BuildArgs {
  const std::string& split;
  const ingest::Preprocess& pp;
  bool augment;
  const ingest::Preprocess* teacher;
  bool teacher_optical;  // the teacher reads Sentinel-2 bands
};

std::shared_ptr<RawDataset> make_sen1floods11(const Json& cfg, const std::string& root, const BuildArgs& a,
                                              const std::string& prefix) {
  Sen1Floods11Options o;
  o.root = root;
  o.split = resolve_split(cfg, a.split, prefix);
  o.cache_mb = cache_mb(cfg, o.cache_mb, prefix);
  o.progress = progress(cfg, prefix);
  o.optical = a.teacher_optical;
  return std::make_shared<Sen1Floods11Dataset>(o, a.pp);
}

// `scenes` of an etci entry: a list, or a mapping {split: list}.
std::vector<std::string> etci_scenes(const Json& v, const std::string& split, const std::string& prefix) {
  std::vector<std::string> scenes;
  const std::string key = prefix + ".scenes";
  if (v.is_object()) {
    if (!v.contains(split)) throw bad(key, "no scene list for split " + quoted(split));
    scenes = string_list(v[split], key + "." + split);
  } else {
    scenes = string_list(v, key);
  }
  if (scenes.empty()) throw bad(key, "empty scene list for split " + quoted(split));
  return scenes;
}

// `label` of an etci entry.
EtciLabel etci_label(const Json& cfg, const std::string& prefix) {
  const std::string l = cfg["label"].is_string() ? cfg["label"].get<std::string>() : "";
  if (l != "water" && l != "permanent_water" && l != "water+permanent_water")
    throw bad(prefix + ".label",
              "expected water (flood or permanent, the default), permanent_water, or water+permanent_water "
              "(both, for a network with a permanent_water head)");
  return l == "water"             ? EtciLabel::all_water
         : l == "permanent_water" ? EtciLabel::permanent_water
                                  : EtciLabel::water_and_permanent;
}

std::shared_ptr<RawDataset> make_etci(const Json& cfg, const std::string& root, const BuildArgs& a,
                                      const std::string& prefix) {
  EtciOptions o;
  o.root = root;
  if (cfg.contains("scenes") && !cfg["scenes"].is_null()) o.scenes = etci_scenes(cfg["scenes"], a.split, prefix);
  if (cfg.contains("mapping")) o.mapping = EtciMapping::from_json(cfg["mapping"], prefix + ".mapping");
  if (cfg.contains("label")) o.label = etci_label(cfg, prefix);
  o.cache_mb = cache_mb(cfg, o.cache_mb, prefix);
  o.progress = progress(cfg, prefix);
  return std::make_shared<EtciDataset>(o, a.pp);
}

// `reference_db`, `permanent_water_db` and `change` of an ombria entry (the dB mapping and the bi-temporal switch).
void read_ombria_db(const Json& cfg, const ingest::Preprocess& pp, const std::string& prefix, OmbriaOptions& o) {
  if (cfg.contains("reference_db")) {
    const Json& m = cfg["reference_db"];
    if (!m.is_array() || m.size() != 2 || !m[0].is_number() || !m[1].is_number() ||
        m[0].get<double>() >= m[1].get<double>())
      throw bad(prefix + ".reference_db", "expected [water dB, dry dB] with water < dry");
    o.water_db = m[0].get<double>();
    o.dry_db = m[1].get<double>();
  }
  if (cfg.contains("permanent_water_db")) {
    if (!cfg["permanent_water_db"].is_number()) throw bad(prefix + ".permanent_water_db", "expected a number (dB)");
    o.permanent_water_db = cfg["permanent_water_db"].get<float>();
  }
  if (cfg.contains("change")) {
    if (!cfg["change"].is_boolean()) throw bad(prefix + ".change", "expected true or false");
    o.change = cfg["change"].get<bool>();
  }
  if (o.change != pp.needs_before())
    throw bad(prefix + ".change", o.change ? "change samples need the band VV_BEFORE in preprocess.bands"
                                           : "preprocess.bands has VV_BEFORE: set change: true");
}

// `holdout` and `s2_root` of an ombria entry (which images are served, and the optical folder).
void read_ombria_sources(const Json& cfg, const std::string& prefix, OmbriaOptions& o) {
  if (cfg.contains("holdout")) {
    const Json& h = cfg["holdout"];
    if (!h.is_object() || !h.contains("every") || !h["every"].is_number_integer() || h["every"].get<int>() < 2 ||
        !h.contains("take") || !h["take"].is_string() ||
        (h["take"].get<std::string>() != "held" && h["take"].get<std::string>() != "rest"))
      throw bad(prefix + ".holdout", "expected {every: K >= 2, take: held | rest}");
    o.holdout_every = h["every"].get<int>();
    o.holdout = h["take"].get<std::string>() == "held";
  }
  if (cfg.contains("s2_root")) {
    o.s2_root = string_at(cfg, "s2_root", prefix);
    std::error_code ec;
    if (!fs::is_directory(o.s2_root, ec))
      throw Error(ErrorKind::NotFound, "data",
                  "config key " + quoted(prefix + ".s2_root") + ": folder " + quoted(o.s2_root) + " does not exist");
  }
}

std::shared_ptr<RawDataset> make_ombria(const Json& cfg, const std::string& root, const BuildArgs& a,
                                        const std::string& prefix) {
  OmbriaOptions o;
  o.root = root;
  o.split = resolve_split(cfg, a.split, prefix);
  read_ombria_db(cfg, a.pp, prefix, o);
  read_ombria_sources(cfg, prefix, o);
  o.optical = a.teacher_optical;
  o.label_free = !a.augment;
  return std::make_shared<OmbriaDataset>(o, a.pp);
}

std::shared_ptr<RawDataset> make_folder(const Json& cfg, const std::string& root, const BuildArgs& a,
                                        const std::string& prefix) {
  FolderOptions o;
  o.root = root;
  o.split = resolve_split(cfg, a.split, prefix);
  o.cache_mb = cache_mb(cfg, o.cache_mb, prefix);
  o.progress = progress(cfg, prefix);
  return std::make_shared<FolderDataset>(o, a.pp);
}

// The dataset of one entry of a type other than concat, its root already checked.
std::shared_ptr<RawDataset> make_raw(const std::string& type, const Json& cfg, const std::string& root,
                                     const BuildArgs& a, const std::string& prefix) {
  if (type == "sen1floods11") return make_sen1floods11(cfg, root, a, prefix);
  if (type == "etci") return make_etci(cfg, root, a, prefix);
  if (type == "ombria") return make_ombria(cfg, root, a, prefix);
  if (type == "folder") return make_folder(cfg, root, a, prefix);
  throw bad(prefix + ".type", "unknown dataset type " + quoted(type) + " (sen1floods11, etci, ombria, folder, concat)");
}

// `labels: false` of an entry: drops its labels (only for a training set with a distill teacher).
void apply_labels_option(RawDataset& ds, const Json& cfg, const ingest::Preprocess* teacher,
                         const std::string& prefix) {
  if (!cfg.contains("labels")) return;
  if (!cfg["labels"].is_boolean()) throw bad(prefix + ".labels", "expected true or false");
  if (!cfg["labels"].get<bool>()) {
    if (!teacher)
      throw bad(prefix + ".labels", "false serves no label: only a training set with a distill teacher can use it");
    ds.drop_labels();
  }
}

DatasetPtr build(const Json& cfg, const BuildArgs& a, uint64_t seed, const std::string& prefix,
                 const Json* inherited_augment);

DatasetPtr build_concat(const Json& cfg, const BuildArgs& a, uint64_t seed, const std::string& prefix,
                        const Json* inherited_augment) {
  if (!cfg.contains("sources") || !cfg["sources"].is_array() || cfg["sources"].empty())
    throw bad(prefix + ".sources", "expected a non-empty list of dataset entries");
  const Json* aug = cfg.contains("augment") ? &cfg["augment"] : inherited_augment;
  std::vector<DatasetPtr> parts;
  for (size_t k = 0; k < cfg["sources"].size(); ++k)
    parts.push_back(build(cfg["sources"][k], a, seed + 0x9E3779B9ull * (k + 1),
                          prefix + ".sources[" + std::to_string(k) + "]", aug));
  return std::make_shared<ConcatDataset>(std::move(parts));
}

DatasetPtr build(const Json& cfg, const BuildArgs& a, uint64_t seed, const std::string& prefix,
                 const Json* inherited_augment) {
  if (!cfg.is_object()) throw bad(prefix, "expected a mapping with at least 'type' and 'root'");
  if (!cfg.contains("type")) throw bad(prefix + ".type", "missing (sen1floods11, etci, ombria, folder or concat)");
  const std::string type = string_at(cfg, "type", prefix);
  if (type == "concat") return build_concat(cfg, a, seed, prefix, inherited_augment);

  const std::string root = required_root(cfg, prefix);
  std::shared_ptr<RawDataset> ds = make_raw(type, cfg, root, a, prefix);
  enable_augment_from(*ds, cfg, inherited_augment, a.augment, seed, prefix);
  apply_labels_option(*ds, cfg, a.teacher, prefix);
  if (a.teacher) ds->enable_teacher(*a.teacher);
  return ds;
}

}  // namespace

DatasetPtr make_dataset(const nlohmann::json& cfg, const std::string& split, const ingest::Preprocess& pp,
                        bool augment, uint64_t seed, const ingest::Preprocess* teacher) {
  if (split.empty()) throw Error(ErrorKind::InvalidInput, "data", "make_dataset: empty split name");
  const BuildArgs args{split, pp, augment, teacher, teacher && teacher->needs_optical()};
  DatasetPtr ds = build(cfg, args, seed, "data", nullptr);
  if (ds->size() == 0)
    throw Error(ErrorKind::InvalidInput, "data", ds->name() + ": split " + quoted(split) + " has no sample");
  return ds;
}

}  // namespace drshym::data
