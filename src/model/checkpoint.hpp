#pragma once
// Checkpoints: weights (<name>.pt, a torch archive of parameters and buffers) next to their
// metadata (<name>.json). The metadata alone rebuilds the exact network, so inference never
// needs the training config; both files are written under temporary names and renamed.
//
//   model::save_checkpoint(dir + "/model.pt", net, {{"threshold", 0.45}});
//   model::Checkpoint ck = model::load_checkpoint(dir);   // or dir + "/model.pt"
//   auto logits = ck.net->forward(x);                      // already in eval()
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/segnet.hpp"

namespace drshym::model {

struct Checkpoint {
  SegNet net;
  nlohmann::json meta;
};

// Metadata keys used across the system (only "model" is required by load_checkpoint):
//   model (ModelConfig json), preprocess, tile_size, threshold, temperature, train_config,
//   seed, data, metrics, version, created.
// save_checkpoint adds weights_file and weights_sha256 itself.

// "<dir>/x.pt" → "<dir>/x.json".
std::string metadata_path_for(const std::string& path_pt);
// A .pt file, or a folder holding model.pt → the .pt path. Throws NotFound naming what is missing.
std::string resolve_checkpoint_path(const std::string& path);

// Writes weights to path_pt and metadata to metadata_path_for(path_pt). meta["model"] is always
// set from net->config() (the network is the authority on its own shape); meta must be an
// object or null. A fused network is refused (Usage): its weights no longer fit the config.
void save_checkpoint(const std::string& path_pt, const SegNet& net, const nlohmann::json& meta);

// Rebuilds the network from meta["model"], loads the weights on CPU, calls eval().
// NotFound: missing weights, folder without model.pt, or missing metadata. InvalidInput: bad
// metadata, a weights file that is unreadable or does not match its recorded sha256, or a
// tensor that does not fit the architecture (the first mismatched name is given).
Checkpoint load_checkpoint(const std::string& path);

// Copy from's parameters and buffers into to, by name (a resumed run, a network started from
// another's weights, a test comparing two configurations of the same weights). Every tensor of
// `from` must exist in `to` with the same shape and dtype: InvalidInput naming `what` and the
// first that does not, checked before anything is copied. Returns the names of to's tensors
// that `from` lacks (a head the source network did not have), left as they were.
std::vector<std::string> copy_state(const SegNetImpl& from, SegNetImpl& to, const std::string& what);

// Optimizer state (moments, step counts) so training can resume exactly.
void save_optimizer(const std::string& path, torch::optim::Optimizer& opt);
void load_optimizer(const std::string& path, torch::optim::Optimizer& opt);


}  // namespace drshym::model
