#pragma once
// Datasets from the `data` section of a YAML config, so train, eval and the CLI build them the
// same way. One entry per dataset type, or a concatenation of several:
//
//   data: {type: sen1floods11, root: ../shared/data/sen1floods11, split: {train: train, valid: valid}}
//   data: {type: etci, root: ../shared/data/etci2021,
//          scenes: {train: [bangladesh_20170314t115609], valid: [northal_20190302t234651]}}
//   data: {type: folder, root: runs/tiles}                  # <root>/<split>/{images,labels}
//   data: {type: concat, sources: [{type: sen1floods11, ...}, {type: etci, ...}]}
//   data: {..., augment: {crop: 256, jitter_db: 1.5}, cache_mb: 1024}
//
//   DatasetPtr train = make_dataset(cfg["data"], "train", pp, /*augment*/ true, /*seed*/ 42);
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "data/dataset.hpp"
#include "ingest/preprocess.hpp"

namespace drshym::data {

// split names the role ("train", "valid", "test", ...). Per type:
//   sen1floods11  `split`: the official list to read (train|valid|test|bolivia|all); a string
//                 pins one list for every role, a mapping {role: list} picks per role, absent =
//                 the role name itself.
//   etci          `scenes`: scene folder names; a list for every role or a mapping {role: list};
//                 absent = every scene under root. `mapping`: {vv: [scale, offset], vh: [...]}
//                 overrides the fitted 8-bit → dB constants.
//   ombria        `split`: train | test, same rules as sen1floods11. VV (and S2) only. `reference_db`:
//                 [water, dry] class medians each image is mapped onto; `permanent_water_db`
//                 the unknown rule.
//   folder        `split`: the sub-folder, same rules as sen1floods11 ("." = root itself).
//   concat        `sources`: a list of entries as above (an `augment` on the concat entry applies
//                 to sources without their own).
//                 `s2_root`: the OmbriaS2_20m folder (default <root>/../OmbriaS2_20m), read when
//                 the recipe or the teacher reads S2 bands.
// With augment = true, `augment` options (AugmentOptions keys; defaults when absent, `false`
// to disable) are applied with the given seed.
// teacher (distillation): every sample also carries the teacher's input in its recipe, and
// sources read the Sentinel-2 images it needs (ombria, sen1floods11 S2Hand). Any entry may then
// say `labels: false` (serve its pairs unlabelled: the teacher's targets only).
// Errors: NotFound naming the config key and path when a root is missing; InvalidInput for an
// empty split, an unknown type, a malformed key, or a split that yields no sample.
DatasetPtr make_dataset(const nlohmann::json& cfg, const std::string& split, const ingest::Preprocess& pp,
                        bool augment, uint64_t seed, const ingest::Preprocess* teacher = nullptr);

}  // namespace drshym::data
