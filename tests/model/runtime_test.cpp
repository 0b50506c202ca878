// Runtime helpers: seeding reproduces weights, FLOP counts match hand-derived values,
// device strings and thread counts are validated.
#include <gtest/gtest.h>

#include <thread>

#include "core/cpus.hpp"
#include "core/error.hpp"
#include "model/runtime.hpp"
#include "model/segnet.hpp"

using namespace drshym;
using namespace drshym::model;

namespace {

ModelConfig compact(int base_width, const std::string& upsample = "transpose") {
  ModelConfig c;
  c.arch = "unet_compact";
  c.in_channels = 2;
  c.base_width = base_width;
  c.upsample = upsample;
  return c;
}

// MACs of a k x k conv producing `out` channels on an h x w output from `in` channels.
int64_t conv_macs(int64_t in, int64_t out, int64_t k, int64_t h, int64_t w) { return in * out * k * k * h * w; }

// unet_compact written out level by level (see unet_compact.cpp), FLOPs = 2 x MACs.
int64_t compact_flops(int c, int w, int64_t H, int64_t W, bool bilinear) {
  int64_t macs = 0;
  auto width = [&](int l) { return int64_t(w) << l; };
  for (int l = 0; l <= 4; ++l) {
    const int64_t h = H >> l, x = W >> l, in = l == 0 ? c : width(l - 1);
    macs += conv_macs(in, width(l), 3, h, x) + conv_macs(width(l), width(l), 3, h, x);
  }
  for (int l = 3; l >= 0; --l) {
    const int64_t h = H >> l, x = W >> l;
    macs += bilinear ? conv_macs(width(l + 1), width(l), 1, h, x)                   // 1x1 after upsampling
                     : (h / 2) * (x / 2) * width(l + 1) * width(l) * 4;              // 2x2 stride-2 transposed
    macs += conv_macs(2 * width(l), width(l), 3, h, x) + conv_macs(width(l), width(l), 3, h, x);
  }
  macs += conv_macs(w, 1, 1, H, W);  // head
  return 2 * macs;
}

}  // namespace

TEST(Runtime, SameSeedSameInitialWeights) {
  ModelConfig cfg;
  cfg.arch = "attention_resunet";
  cfg.base_width = 8;
  seed_everything(42);
  SegNet a = make_model(cfg);
  seed_everything(42);
  SegNet b = make_model(cfg);
  seed_everything(43);
  SegNet c = make_model(cfg);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_differs = false;
  for (const auto& p : pa) {
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
    any_differs = any_differs || !torch::equal(p.value(), pc[p.key()]);
  }
  EXPECT_TRUE(any_differs);
}

TEST(Runtime, CountFlopsMatchesAnalyticValue) {
  for (const std::string up : {"transpose", "bilinear"}) {
    SegNet net = make_model(compact(4, up));
    EXPECT_EQ(count_flops(net, 2, 32, 48), compact_flops(2, 4, 32, 48, up == "bilinear")) << up;
  }
  // A bigger, rectangular case stays exact too.
  SegNet net = make_model(compact(16));
  EXPECT_EQ(count_flops(net, 2, 256, 128), compact_flops(2, 16, 256, 128, false));
}

TEST(Runtime, CountFlopsLeavesTheNetworkAlone) {
  SegNet net = make_model(compact(4));
  net->train();
  auto before = net->named_buffers();
  std::vector<torch::Tensor> copies;
  for (const auto& b : before) copies.push_back(b.value().clone());
  const int64_t f = count_flops(net, 2, 32, 32);
  EXPECT_GT(f, 0);
  EXPECT_TRUE(net->is_training());
  size_t i = 0;
  for (const auto& b : net->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), copies[i++])) << b.key();
  // Bigger nets have more FLOPs; ResNet-50 more than ResNet-18.
  ModelConfig r18;
  r18.arch = "unet_resnet18";
  r18.base_width = 4;
  ModelConfig r50 = r18;
  r50.arch = "unet_resnet50";
  EXPECT_LT(count_flops(make_model(r18), 2, 64, 64), count_flops(make_model(r50), 2, 64, 64));
  EXPECT_THROW(count_flops(net, 2, 30, 32), Error);
}

TEST(Runtime, ParseDevice) {
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  for (const std::string bad : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU", ""}) {
    try {
      parse_device(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << bad;
    }
  }
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(parse_device("auto"), torch::Device(torch::kCPU));
    try {
      parse_device("cuda:0");
      ADD_FAILURE() << "cuda accepted without CUDA";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
    }
  } else {
    EXPECT_EQ(parse_device("cuda"), torch::Device(torch::kCUDA, 0));
    EXPECT_THROW(parse_device("cuda:999"), Error);
  }
}

TEST(Runtime, SetThreads) {
  set_threads(1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  // 0 = the CPUs this process may use (affinity mask and cgroup quota), as the README says:
  // under `taskset -c 0` that is 1 on any host, never the host's core count.
  set_threads(0);
  EXPECT_EQ(torch::get_num_threads(), core::available_cpus());
  set_threads(2);  // calling again is safe (inter-op threads are only set once)
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_THROW(set_threads(-1), Error);
  torch::set_num_threads(1);  // back to what the other tests in this binary expect
}
