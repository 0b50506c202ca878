#pragma once
// Batches for training and evaluation: one pass (epoch) over a dataset in an order fixed by
// (seed, epoch), samples stacked into [N, C, H, W] tensors. An optional background thread
// prepares the next batches while the caller trains; the order and content stay the same.
//
//   BatcherOptions o;  o.batch_size = 8;  o.seed = 42;
//   Batcher b(dataset, o, epoch);
//   Batch batch;
//   while (b.next(batch)) { auto logits = net->forward(batch.image); ... }
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.hpp"

namespace drshym::data {

struct Batch {
  torch::Tensor image;  // [N, C, H, W]
  torch::Tensor label;  // [N, 1, H, W]
  torch::Tensor valid;  // [N, 1, H, W]
  std::vector<std::string> ids;
  std::vector<std::string> groups;
  std::vector<size_t> indices;  // dataset indices
  size_t size() const { return ids.size(); }
};

struct BatcherOptions {
  size_t batch_size = 8;
  bool shuffle = true;     // false: dataset order
  uint64_t seed = 0;       // with the epoch, fixes the order
  bool drop_last = false;  // drop a final smaller batch
  int prefetch = 2;        // batches prepared ahead on a background thread; 0 = on the caller's thread
  int workers = 1;         // threads loading the samples of one batch (with prefetch > 0)

  static BatcherOptions default_params() { return {}; }
};

// The visiting order of an epoch: a Fisher-Yates shuffle driven by (seed, epoch), or 0..n-1.
std::vector<size_t> epoch_order(size_t n, bool shuffle, uint64_t seed, uint64_t epoch);

// Stack samples into a batch. Throws InvalidInput naming two samples whose shapes differ.
Batch collate(std::vector<Sample> samples, const std::vector<size_t>& indices);

class Batcher {
 public:
  // Throws InvalidInput for a null/empty dataset or batch_size 0.
  Batcher(DatasetPtr dataset, const BatcherOptions& opt, uint64_t epoch);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The next batch in order; false once the epoch is done. Rethrows a loading error.
  bool next(Batch& out);
  size_t num_batches() const { return batches_.size(); }
  const std::vector<size_t>& order() const { return order_; }

 private:
  Batch load(size_t b) const;
  void producer();

  DatasetPtr dataset_;
  BatcherOptions opt_;
  uint64_t epoch_;
  std::vector<size_t> order_;
  std::vector<std::vector<size_t>> batches_;
  size_t next_ = 0;  // next batch handed to the caller

  // Prefetch state.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  size_t produced_ = 0;
  bool stop_ = false;
};

}  // namespace drshym::data
