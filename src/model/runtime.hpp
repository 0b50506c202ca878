#pragma once
// Process-wide LibTorch settings every front-end needs the same way: thread counts, seeding,
// device selection, and a FLOP count for model cards and capacity planning.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "model/segnet.hpp"

namespace drshym::model {

constexpr uint64_t kDefaultSeed = 42;

// Intra-op threads = n (0 → all hardware threads). Inter-op threads can only be set once per
// process and only before parallel work starts: the first call sets them, later calls only
// change the intra-op count. n < 0 → Usage. The first call also picks the BLAS kernels
// (core::select_blas_kernels), so every training or inference run gets them before its first
// BLAS call.
void set_threads(int n);

// Seeds torch (CPU and every CUDA device), std::rand, and asks cuDNN for deterministic
// kernels, so two runs with the same seed start from identical weights.
void seed_everything(uint64_t seed = kDefaultSeed);

// "cpu", "cuda", "cuda:N" or "auto" (cuda when available, else cpu). Usage error for anything
// else, when CUDA is requested but unavailable, or for a device index that does not exist.
torch::Device parse_device(const std::string& s);

// FLOPs (2 x multiply-accumulates of every convolution and transposed convolution; norms,
// activations and pooling not counted) of one forward pass on a single [1, C, H, W] input.
// Runs a real forward in eval mode under NoGradGuard and restores the train/eval state.
int64_t count_flops(const SegNet& net, int channels, int height, int width);

}  // namespace drshym::model
