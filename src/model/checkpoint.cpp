#include "model/checkpoint.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"

namespace fs = std::filesystem;

namespace drshym::model {
namespace {

using Json = nlohmann::json;

// Torch messages carry source locations and sometimes backtraces; the first line is the part
// a user can act on.
std::string first_line(const std::exception& e) {
  const auto* ce = dynamic_cast<const c10::Error*>(&e);
  std::string s = ce ? ce->what_without_backtrace() : e.what();
  return s.substr(0, s.find('\n'));
}

// "model: foo" → "foo", to re-raise an Error with the file it came from in front.
std::string without_stage(const Error& e) {
  std::string s = e.what();
  const std::string prefix = e.stage() + ": ";
  return s.rfind(prefix, 0) == 0 ? s.substr(prefix.size()) : s;
}

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void ensure_parent_dir(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) core::ensure_writable_dir(parent.string());
}

// Flatten a nested archive (one sub-archive per child module, as Module::save writes it)
// into dotted names matching Module::named_parameters / named_buffers.
void collect_tensors(torch::serialize::InputArchive& ar, const std::string& prefix,
                     std::map<std::string, torch::Tensor>& out) {
  for (const std::string& key : ar.keys()) {
    torch::serialize::InputArchive sub;
    if (ar.try_read(key, sub)) {
      collect_tensors(sub, prefix + key + ".", out);
      continue;
    }
    torch::Tensor t;
    if (ar.try_read(key, t)) out[prefix + key] = t;  // non-tensor attributes (training) skipped
  }
}

// Copy the file's tensors into net, checking every name, shape and dtype first so that a
// mismatch never leaves a half-loaded network behind.
void load_weights(const std::string& pt, SegNetImpl& net) {
  torch::serialize::InputArchive ar;
  std::map<std::string, torch::Tensor> stored;
  try {
    ar.load_from(pt, torch::Device(torch::kCPU));
    collect_tensors(ar, "", stored);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "model",
                quoted(pt) + " is not a readable weights archive: " + first_line(e));
  }

  std::vector<std::pair<std::string, torch::Tensor>> expected;
  for (const auto& p : net.named_parameters(true)) expected.emplace_back(p.key(), p.value());
  for (const auto& b : net.named_buffers(true)) expected.emplace_back(b.key(), b.value());
  const std::string arch = net.config().arch;

  for (const auto& [name, dst] : expected) {
    auto it = stored.find(name);
    if (it == stored.end())
      throw Error(ErrorKind::InvalidInput, "model",
                  quoted(pt) + " does not match " + arch + ": tensor " + quoted(name) + " is missing");
    const torch::Tensor& src = it->second;
    if (src.sizes() != dst.sizes() || src.scalar_type() != dst.scalar_type())
      throw Error(ErrorKind::InvalidInput, "model",
                  quoted(pt) + " does not match " + arch + ": tensor " + quoted(name) + " is " +
                      shape_str(src) + " " + std::string(c10::toString(src.scalar_type())) +
                      " in the file but " + shape_str(dst) + " " +
                      std::string(c10::toString(dst.scalar_type())) + " in the network");
  }
  if (stored.size() != expected.size()) {
    for (const auto& [name, t] : stored) {
      bool known = false;
      for (const auto& e : expected) known = known || e.first == name;
      if (!known)
        throw Error(ErrorKind::InvalidInput, "model",
                    quoted(pt) + " does not match " + arch + ": unexpected tensor " + quoted(name));
    }
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, dst] : expected) dst.copy_(stored.at(name));
}

// Per-parameter state tensors that must have their parameter's shape, for the optimizers
// LibTorch ships. Torch's loader only checks parameter counts, so state saved for another
// network of the same depth would otherwise load silently and fail at the next step().
std::vector<torch::Tensor> shaped_state(const torch::optim::OptimizerParamState& s) {
  using namespace torch::optim;
  if (auto* a = dynamic_cast<const AdamParamState*>(&s)) return {a->exp_avg(), a->exp_avg_sq(), a->max_exp_avg_sq()};
  if (auto* a = dynamic_cast<const AdamWParamState*>(&s)) return {a->exp_avg(), a->exp_avg_sq(), a->max_exp_avg_sq()};
  if (auto* m = dynamic_cast<const SGDParamState*>(&s)) return {m->momentum_buffer()};
  if (auto* r = dynamic_cast<const RMSpropParamState*>(&s)) return {r->square_avg(), r->momentum_buffer(), r->grad_avg()};
  if (auto* g = dynamic_cast<const AdagradParamState*>(&s)) return {g->sum()};
  return {};
}

void check_state_fits(const std::string& path, torch::optim::Optimizer& opt) {
  auto& state = opt.state();
  for (size_t g = 0; g < opt.param_groups().size(); ++g) {
    const auto& params = opt.param_groups()[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = state.find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
      if (it == state.end()) continue;
      for (const torch::Tensor& t : shaped_state(*it->second))
        if (t.defined() && t.sizes() != params[i].sizes())
          throw Error(ErrorKind::InvalidInput, "model",
                      "optimizer state " + quoted(path) + " does not fit this optimizer: parameter " +
                          std::to_string(i) + " of group " + std::to_string(g) + " is " +
                          shape_str(params[i]) + " but its saved state is " + shape_str(t));
    }
  }
}

// Every parameter and buffer of a network by its dotted name.
std::map<std::string, torch::Tensor> state_of(const SegNetImpl& net) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : net.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : net.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

}  // namespace

std::vector<std::string> copy_state(const SegNetImpl& from, SegNetImpl& to, const std::string& what) {
  const auto src = state_of(from);
  auto dst = state_of(to);
  for (const auto& [name, s] : src) {
    auto it = dst.find(name);
    if (it == dst.end())
      throw Error(ErrorKind::InvalidInput, "model",
                  what + " does not fit the network (" + to.config().arch + "): it has tensor " + quoted(name) +
                      " that the network lacks");
    if (s.sizes() != it->second.sizes() || s.scalar_type() != it->second.scalar_type())
      throw Error(ErrorKind::InvalidInput, "model",
                  what + " does not fit the network: tensor " + quoted(name) + " is " + shape_str(s) + " there but " +
                      shape_str(it->second) + " in the network");
  }
  std::vector<std::string> missing;
  torch::NoGradGuard no_grad;
  for (auto& [name, d] : dst) {
    auto it = src.find(name);
    if (it == src.end())
      missing.push_back(name);
    else
      d.copy_(it->second);
  }
  return missing;
}

std::string metadata_path_for(const std::string& path_pt) {
  return fs::path(path_pt).replace_extension(".json").string();
}

std::string resolve_checkpoint_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path pt = fs::path(path) / "model.pt";
    if (!fs::is_regular_file(pt, ec))
      throw Error(ErrorKind::NotFound, "model", "checkpoint folder " + quoted(path) + " has no model.pt");
    return pt.string();
  }
  if (!fs::is_regular_file(path, ec))
    throw Error(ErrorKind::NotFound, "model", "checkpoint " + quoted(path) + " not found");
  return path;
}

void save_checkpoint(const std::string& path_pt, const SegNet& net, const Json& meta) {
  if (!net) throw Error(ErrorKind::Internal, "model", "save_checkpoint to " + quoted(path_pt) + ": null network");
  if (net->fused())
    throw Error(ErrorKind::Usage, "model",
                "refusing to save a fused (inference-only) network to " + quoted(path_pt) +
                    ": save before fuse_for_inference()");
  if (!meta.is_null() && !meta.is_object())
    throw Error(ErrorKind::Usage, "model", "metadata for " + quoted(path_pt) + " must be a JSON object");
  const std::string json_path = metadata_path_for(path_pt);
  if (json_path == path_pt)
    throw Error(ErrorKind::Usage, "model", "checkpoint weights path " + quoted(path_pt) + " must not end in .json");
  ensure_parent_dir(path_pt);

  // Both files are complete under temporary names before either is renamed; if anything
  // fails, OutputSet removes what was written.
  core::OutputSet out;
  const std::string tmp_pt = out.temp(path_pt);
  try {
    torch::serialize::OutputArchive ar;
    net->save(ar);
    ar.save_to(tmp_pt);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Io, "model", "cannot write weights " + quoted(path_pt) + ": " + first_line(e));
  }

  Json m = meta.is_null() ? Json::object() : meta;
  m["model"] = net->config().to_json();
  m["weights_file"] = fs::path(path_pt).filename().string();
  m["weights_sha256"] = core::file_sha256(tmp_pt);
  const std::string tmp_json = out.temp(json_path);
  {
    std::ofstream f(tmp_json, std::ios::binary);
    f << m.dump(2) << "\n";
    f.close();
    if (!f) throw Error(ErrorKind::Io, "model", "cannot write checkpoint metadata " + quoted(json_path));
  }
  out.commit(path_pt);
  out.commit(json_path);
  out.finish();
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::string pt = resolve_checkpoint_path(path);
  const std::string json_path = metadata_path_for(pt);
  std::ifstream in(json_path);
  if (!in)
    throw Error(ErrorKind::NotFound, "model",
                "metadata " + quoted(json_path) + " for checkpoint " + quoted(pt) + " not found");
  Checkpoint ck;
  try {
    ck.meta = Json::parse(in);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "model",
                "checkpoint metadata " + quoted(json_path) + " is not valid JSON: " + e.what());
  }
  if (!ck.meta.is_object() || !ck.meta.contains("model"))
    throw Error(ErrorKind::InvalidInput, "model",
                "checkpoint metadata " + quoted(json_path) + " has no \"model\" entry (the network config)");
  try {
    ck.net = make_model(ModelConfig::from_json(ck.meta["model"]));
  } catch (const Error& e) {
    throw Error(ErrorKind::InvalidInput, "model", quoted(json_path) + ": " + without_stage(e));
  }

  const auto sha = ck.meta.find("weights_sha256");
  if (sha != ck.meta.end() && sha->is_string() && core::file_sha256(pt) != sha->get<std::string>())
    throw Error(ErrorKind::InvalidInput, "model",
                quoted(pt) + " does not match the sha256 recorded in " + quoted(json_path) +
                    " (weights corrupted or replaced)");

  load_weights(pt, *ck.net);
  ck.net->eval();
  return ck;
}

void save_optimizer(const std::string& path, torch::optim::Optimizer& opt) {
  ensure_parent_dir(path);
  const std::string tmp = core::temp_path_for(path);
  std::error_code ec;
  try {
    torch::save(opt, tmp);
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "model", "cannot write optimizer state " + quoted(path) + ": " + first_line(e));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "model", "cannot rename into " + quoted(path) + ": " + ec.message());
  }
}

void load_optimizer(const std::string& path, torch::optim::Optimizer& opt) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw Error(ErrorKind::NotFound, "model", "optimizer state " + quoted(path) + " not found");
  // Torch's loader can fail half-way; keep a copy so a bad file leaves the optimizer as it was.
  std::vector<std::pair<std::string, std::unique_ptr<torch::optim::OptimizerParamState>>> saved;
  for (const auto& [key, st] : opt.state()) saved.emplace_back(key, st->clone());
  auto restore = [&] {
    opt.state().clear();
    for (auto& [key, st] : saved) opt.state()[key] = std::move(st);
  };
  try {
    torch::load(opt, path);
    check_state_fits(path, opt);
  } catch (const Error&) {
    restore();
    throw;
  } catch (const std::exception& e) {
    restore();
    throw Error(ErrorKind::InvalidInput, "model",
                "optimizer state " + quoted(path) + " does not fit this optimizer: " + first_line(e));
  }
}

}  // namespace drshym::model
