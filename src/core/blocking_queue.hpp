#pragma once
// A bounded blocking queue for pipelines and worker pools (any number of producers and
// consumers). close() ends the stream, carrying the producer's exception, if any, to the
// consumers; cancel() stops both sides at once (a stage failed or the run was interrupted).
// try_push() never blocks: a server answers "busy" instead of queueing without bound.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>

namespace drshym::core {

template <class T>
class BlockingQueue {
 public:
  explicit BlockingQueue(size_t capacity) : cap_(capacity) {}

  // Waits for room. False when the queue was cancelled or closed: the producer should stop.
  bool push(T t) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return q_.size() < cap_ || cancelled_ || closed_; });
    if (cancelled_ || closed_) return false;
    q_.push_back(std::move(t));
    cv_.notify_all();
    return true;
  }
  // Never waits: false when full, closed or cancelled (t is left untouched then).
  bool try_push(T& t) {
    std::lock_guard<std::mutex> lk(m_);
    if (cancelled_ || closed_ || q_.size() >= cap_) return false;
    q_.push_back(std::move(t));
    cv_.notify_all();
    return true;
  }
  // Waits for an item. False at the end of the stream or once cancelled; rethrows the
  // exception a producer passed to close().
  bool pop(T& t) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_ || cancelled_; });
    if (error_) std::rethrow_exception(error_);
    if (cancelled_ || q_.empty()) return false;
    t = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void close(std::exception_ptr e = nullptr) {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
    error_ = e;
    cv_.notify_all();
  }
  void cancel() {
    std::lock_guard<std::mutex> lk(m_);
    cancelled_ = true;
    cv_.notify_all();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lk(m_);
    return cancelled_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lk(m_);
    return q_.size();
  }
  size_t capacity() const { return cap_; }
  // Closes the queue and returns whatever was still in it, in one step: nothing can be pushed
  // in between (e.g. to fail queued work at shutdown while consumers finish what they hold).
  std::deque<T> close_and_drain() {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
    std::deque<T> out;
    out.swap(q_);
    cv_.notify_all();
    return out;
  }

 private:
  size_t cap_;
  std::deque<T> q_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool closed_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace drshym::core
