// Checkpoints: exact round trips, and clear errors (naming the file) for every way a
// checkpoint on disk can be wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "model/segnet.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::model;
using drshym::testing::TempDir;
namespace fs = std::filesystem;

namespace {

ModelConfig small_config(const std::string& arch = "unet_compact", int base_width = 8) {
  ModelConfig c;
  c.arch = arch;
  c.base_width = base_width;
  return c;
}

using drshym::testing::expect_error;

nlohmann::json read_json(const std::string& p) { return nlohmann::json::parse(std::ifstream(p)); }
void write_text(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

}  // namespace

TEST(Checkpoint, RoundTripIsBitIdentical) {
  for (const std::string arch : {"unet_compact", "unet_resnet18", "attention_resunet"}) {
    TempDir tmp;
    seed_everything(42);
    SegNet net = make_model(small_config(arch));
    {  // Train-mode passes so BatchNorm buffers differ from their initial values.
      torch::NoGradGuard no_grad;
      net->train();
      for (int i = 0; i < 3; ++i) net->forward(torch::rand({2, 2, 64, 64}));
    }
    net->eval();
    nlohmann::json meta = {{"threshold", 0.45}, {"temperature", 1.2}, {"tile_size", 512}, {"seed", 42}};
    const std::string pt = tmp.file("model.pt");
    save_checkpoint(pt, net, meta);
    EXPECT_TRUE(fs::exists(tmp.file("model.json")));
    for (const auto& entry : fs::directory_iterator(tmp.path()))  // no temporaries left behind
      EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();

    Checkpoint ck = load_checkpoint(tmp.path());  // folder form
    EXPECT_FALSE(ck.net->is_training());
    EXPECT_EQ(ck.net->config(), net->config());
    EXPECT_EQ(ck.meta["threshold"], 0.45);
    EXPECT_EQ(ck.meta["model"], net->config().to_json());
    EXPECT_EQ(ck.meta["weights_sha256"], core::file_sha256(pt));

    torch::NoGradGuard no_grad;
    auto x = torch::rand({2, 2, 64, 64});
    EXPECT_TRUE(torch::equal(net->forward(x), ck.net->forward(x))) << arch;
    EXPECT_TRUE(torch::equal(net->forward(x), load_checkpoint(pt).net->forward(x))) << arch;
  }
}

TEST(Checkpoint, HeadsRoundTrip) {
  TempDir tmp;
  seed_everything(42);
  ModelConfig c = small_config();
  c.heads = {"permanent_water"};
  SegNet net = make_model(c);
  net->eval();
  save_checkpoint(tmp.file("model.pt"), net, {{"threshold", 0.5}, {"temperature", 1.0}});
  Checkpoint ck = load_checkpoint(tmp.path());
  EXPECT_EQ(ck.net->config().heads, c.heads);
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 2, 64, 64});
  EXPECT_TRUE(torch::equal(net->forward_heads(x), ck.net->forward_heads(x)));
}

TEST(Checkpoint, MissingFilesAreNotFound) {
  TempDir tmp;
  expect_error([&] { load_checkpoint(tmp.file("nope.pt")); }, ErrorKind::NotFound, {"nope.pt"});
  expect_error([&] { load_checkpoint(tmp.path()); }, ErrorKind::NotFound, {tmp.path(), "model.pt"});
  save_checkpoint(tmp.file("model.pt"), make_model(small_config()), nullptr);
  fs::remove(tmp.file("model.json"));
  expect_error([&] { load_checkpoint(tmp.file("model.pt")); }, ErrorKind::NotFound, {"model.json"});
}

TEST(Checkpoint, BadMetadataIsInvalidInput) {
  TempDir tmp;
  const std::string pt = tmp.file("m.pt"), js = tmp.file("m.json");
  save_checkpoint(pt, make_model(small_config()), nullptr);
  write_text(js, "{ not json");
  expect_error([&] { load_checkpoint(pt); }, ErrorKind::InvalidInput, {"m.json", "JSON"});
  write_text(js, R"({"threshold": 0.5})");
  expect_error([&] { load_checkpoint(pt); }, ErrorKind::InvalidInput, {"m.json", "model"});
  write_text(js, R"({"model": {"arch": "unet_vit"}})");
  expect_error([&] { load_checkpoint(pt); }, ErrorKind::InvalidInput, {"m.json", "unet_vit"});
}

TEST(Checkpoint, CorruptedWeightsAreDetected) {
  TempDir tmp;
  const std::string pt = tmp.file("m.pt"), js = tmp.file("m.json");
  save_checkpoint(pt, make_model(small_config()), nullptr);
  {  // flip bytes in the middle of the archive
    std::fstream f(pt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(fs::file_size(pt) / 2));
    f.write("garbage!", 8);
  }
  expect_error([&] { load_checkpoint(pt); }, ErrorKind::InvalidInput, {"m.pt", "sha256"});

  // Without a recorded hash the archive reader itself must fail cleanly.
  auto meta = read_json(js);
  meta.erase("weights_sha256");
  write_text(js, meta.dump());
  write_text(pt, "this is not a torch archive");
  expect_error([&] { load_checkpoint(pt); }, ErrorKind::InvalidInput, {"m.pt", "weights archive"});
}

TEST(Checkpoint, WeightsOfAnotherArchitectureNameTheFirstMismatch) {
  TempDir tmp;
  const std::string a = tmp.file("a.pt"), b = tmp.file("b.pt");
  save_checkpoint(a, make_model(small_config("unet_compact", 8)), nullptr);
  save_checkpoint(b, make_model(small_config("unet_compact", 16)), nullptr);
  fs::copy_file(b, a, fs::copy_options::overwrite_existing);
  auto meta = read_json(tmp.file("a.json"));
  expect_error([&] { load_checkpoint(a); }, ErrorKind::InvalidInput, {"a.pt", "sha256"});
  meta.erase("weights_sha256");
  write_text(tmp.file("a.json"), meta.dump());
  expect_error([&] { load_checkpoint(a); }, ErrorKind::InvalidInput,
               {"a.pt", "'enc0.c1.conv.weight'", "[8, 2, 3, 3]", "[16, 2, 3, 3]"});

  // Same shapes at the start but a different architecture: a missing tensor is named.
  save_checkpoint(b, make_model(small_config("attention_resunet", 8)), nullptr);
  fs::copy_file(b, a, fs::copy_options::overwrite_existing);
  expect_error([&] { load_checkpoint(a); }, ErrorKind::InvalidInput, {"a.pt", "tensor '"});
}

TEST(Checkpoint, FusedNetworksAreNotSaved) {
  TempDir tmp;
  SegNet net = make_model(small_config());
  net->fuse_for_inference();
  expect_error([&] { save_checkpoint(tmp.file("m.pt"), net, nullptr); }, ErrorKind::Usage, {"m.pt", "fused"});
  EXPECT_FALSE(fs::exists(tmp.file("m.pt")));
}

TEST(Checkpoint, SavesIntoNewFolders) {
  TempDir tmp;
  save_checkpoint(tmp.file("runs/exp1/best.pt"), make_model(small_config()), {{"version", "0.1.0"}});
  EXPECT_TRUE(fs::exists(tmp.file("runs/exp1/best.json")));
  EXPECT_EQ(load_checkpoint(tmp.file("runs/exp1/best.pt")).meta["version"], "0.1.0");
}

TEST(CopyState, CopiesByNameAndNamesWhatStartsFresh) {
  // Weights and BatchNorm statistics copied by name; a head the source lacks is returned and
  // left as it was; a network of another shape is refused before anything is copied.
  seed_everything(3);
  SegNet from = make_model(small_config());
  {
    torch::NoGradGuard no_grad;
    for (auto& b : from->named_buffers(true))
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-1, 1);
  }
  ModelConfig with_head = small_config();
  with_head.heads = {"permanent_water"};
  SegNet to = make_model(with_head);
  const torch::Tensor head_before = to->named_parameters(true)["permanent_water.out.conv.weight"].clone();
  const auto fresh = copy_state(*from, *to, "test source");
  ASSERT_FALSE(fresh.empty());
  for (const auto& name : fresh) EXPECT_EQ(name.rfind("permanent_water.", 0), 0u) << name;
  auto got = to->named_parameters(true);
  for (const auto& p : from->named_parameters(true)) EXPECT_TRUE(torch::equal(p.value(), got[p.key()])) << p.key();
  auto got_b = to->named_buffers(true);
  for (const auto& b : from->named_buffers(true)) EXPECT_TRUE(torch::equal(b.value(), got_b[b.key()])) << b.key();
  EXPECT_TRUE(torch::equal(head_before, got["permanent_water.out.conv.weight"]));

  // The other way round the head has nowhere to go; a wider network does not fit either.
  expect_error([&] { copy_state(*to, *from, "test source"); }, ErrorKind::InvalidInput,
               {"test source", "permanent_water.", "the network lacks"});
  // A head of another width mismatches only in permanent_water.*, after every trunk tensor in
  // name order: nothing of the trunk may have been copied when the error comes.
  ModelConfig wide_head = with_head;
  wide_head.head_width = 2 * wide_head.base_width;
  SegNet wide = make_model(wide_head);
  const torch::Tensor enc_before = wide->named_parameters(true)["enc0.c1.conv.weight"].clone();
  ASSERT_FALSE(torch::equal(enc_before, got["enc0.c1.conv.weight"]));
  expect_error([&] { copy_state(*to, *wide, "test source"); }, ErrorKind::InvalidInput,
               {"test source", "does not fit", "permanent_water."});
  EXPECT_TRUE(torch::equal(enc_before, wide->named_parameters(true)["enc0.c1.conv.weight"]));
}

TEST(Optimizer, StateRoundTripsAndMismatchIsAnError) {
  TempDir tmp;
  seed_everything(42);
  SegNet net = make_model(small_config());
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  auto loss = net->forward(torch::rand({1, 2, 32, 32})).mean();
  loss.backward();
  opt.step();
  save_optimizer(tmp.file("opt.pt"), opt);

  torch::optim::AdamW restored(net->parameters(), torch::optim::AdamWOptions(1e-3));
  load_optimizer(tmp.file("opt.pt"), restored);
  ASSERT_EQ(restored.state().size(), opt.state().size());
  for (const auto& [key, state] : opt.state()) {
    auto& a = static_cast<torch::optim::AdamWParamState&>(*state);
    auto& b = static_cast<torch::optim::AdamWParamState&>(*restored.state().at(key));
    EXPECT_EQ(a.step(), b.step());
    EXPECT_TRUE(torch::equal(a.exp_avg(), b.exp_avg()));
  }

  // State saved for a different network does not fit these parameters.
  SegNet other = make_model(small_config("unet_compact", 16));
  torch::optim::AdamW wrong(other->parameters(), torch::optim::AdamWOptions(1e-3));
  expect_error([&] { load_optimizer(tmp.file("opt.pt"), wrong); }, ErrorKind::InvalidInput,
               {"opt.pt", "[8, 2, 3, 3]"});
  EXPECT_TRUE(wrong.state().empty());  // left as it was

  expect_error([&] { load_optimizer(tmp.file("missing.pt"), restored); }, ErrorKind::NotFound, {"missing.pt"});
  write_text(tmp.file("bad.pt"), "nope");
  expect_error([&] { load_optimizer(tmp.file("bad.pt"), restored); }, ErrorKind::InvalidInput, {"bad.pt"});
}

