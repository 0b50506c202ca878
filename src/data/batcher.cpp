#include "data/batcher.hpp"

#include "core/error.hpp"
#include "data/parallel.hpp"
#include "data/rng.hpp"

namespace drshym::data {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

}  // namespace

std::vector<size_t> epoch_order(size_t n, bool shuffle, uint64_t seed, uint64_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle || n < 2) return order;
  SplitMix64 rng{seed, epoch, 0x0BA7C4E5ull};
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[size_t(rng.below(i + 1))]);
  return order;
}

Batch collate(std::vector<Sample> samples, const std::vector<size_t>& indices) {
  if (samples.empty()) throw Error(ErrorKind::Internal, "data", "collate: empty batch");
  Batch b;
  for (const Sample& s : samples)
    if (!s.image.sizes().equals(samples[0].image.sizes()) || !s.label.sizes().equals(samples[0].label.sizes()))
      throw Error(ErrorKind::InvalidInput, "data",
                  "cannot batch samples of different shapes: " + quoted(samples[0].id) + " " +
                      shape_str(samples[0].image) + " and " + quoted(s.id) + " " + shape_str(s.image) +
                      " (set augment.crop to train on mixed sizes)");
  std::vector<torch::Tensor> img, lab, val;
  for (Sample& s : samples) {
    img.push_back(std::move(s.image));
    lab.push_back(std::move(s.label));
    val.push_back(std::move(s.valid));
    b.ids.push_back(std::move(s.id));
    b.groups.push_back(std::move(s.group));
  }
  b.image = torch::stack(img);
  b.label = torch::stack(lab);
  b.valid = torch::stack(val);
  b.indices = indices;
  return b;
}

Batcher::Batcher(DatasetPtr dataset, const BatcherOptions& opt, uint64_t epoch)
    : dataset_(std::move(dataset)), opt_(opt), epoch_(epoch) {
  if (!dataset_) throw Error(ErrorKind::InvalidInput, "data", "batcher: null dataset");
  if (dataset_->size() == 0) throw Error(ErrorKind::InvalidInput, "data", "batcher: dataset " + dataset_->name() + " is empty");
  if (opt_.batch_size == 0) throw Error(ErrorKind::InvalidInput, "data", "batcher: batch_size must be positive");
  order_ = epoch_order(dataset_->size(), opt_.shuffle, opt_.seed, epoch_);
  for (size_t s = 0; s < order_.size(); s += opt_.batch_size) {
    size_t e = std::min(order_.size(), s + opt_.batch_size);
    if (opt_.drop_last && e - s < opt_.batch_size) break;
    batches_.emplace_back(order_.begin() + long(s), order_.begin() + long(e));
  }
  if (opt_.prefetch > 0 && !batches_.empty()) thread_ = std::thread([this] { producer(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Batch Batcher::load(size_t b) const {
  const std::vector<size_t>& idx = batches_[b];
  std::vector<Sample> samples(idx.size());
  auto one = [&](size_t k) { samples[k] = dataset_->get(idx[k], epoch_); };
  if (opt_.prefetch > 0 && opt_.workers > 1)
    parallel_for_each(idx.size(), opt_.workers, one);
  else
    for (size_t k = 0; k < idx.size(); ++k) one(k);
  return collate(std::move(samples), idx);
}

void Batcher::producer() {
  for (size_t b = 0; b < batches_.size(); ++b) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < size_t(opt_.prefetch); });
      if (stop_) return;
    }
    try {
      Batch batch = load(b);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(batch));
      ++produced_;
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    cv_.notify_all();
  }
}

bool Batcher::next(Batch& out) {
  if (next_ >= batches_.size()) return false;
  if (opt_.prefetch <= 0) {
    out = load(next_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (!ready_.empty()) {
    out = std::move(ready_.front());
    ready_.pop_front();
    ++next_;
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  std::rethrow_exception(error_);
}

}  // namespace drshym::data
