//===- threads.cpp - the CPU backend's worker threads ---------------------===//
#include "threads.h"

#include "gemm.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::runtime::cpu {
namespace {

/// A fixed set of workers that take indices of one job at a time from a
/// shared counter.
class Pool {
public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread &t : threads_)
      t.join();
  }

  void run(int64_t n, const std::function<void(int64_t)> &fn) {
    std::unique_lock<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    active_ = int(threads_.size());
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    drain(fn, n);
    lock.lock();
    done_.wait(lock, [this] { return active_ == 0; });
    fn_ = nullptr;
  }

private:
  void drain(const std::function<void(int64_t)> &fn, int64_t n) {
    for (int64_t i; (i = next_.fetch_add(1)) < n;)
      fn(i);
  }
  void work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      const std::function<void(int64_t)> *fn = fn_;
      int64_t n = n_;
      lock.unlock();
      drain(*fn, n);
      lock.lock();
      if (--active_ == 0)
        done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)> *fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

thread_local bool insideParallel = false;

} // namespace

namespace {
int sharers = 1;
} // namespace

int threadCount() {
  static const int count = [] {
    if (const char *env = std::getenv("KILN_NUM_THREADS"))
      if (int n = std::atoi(env); n > 0)
        return n;
    return std::max(1, int(std::thread::hardware_concurrency()) /
                           std::max(1, sharers));
  }();
  return count;
}

void shareCores(int processes) {
  sharers = std::max(1, processes);
  setBlasThreads(threadCount());
}

void parallelFor(int64_t n, const std::function<void(int64_t)> &fn) {
  if (n <= 1 || threadCount() == 1 || insideParallel) {
    for (int64_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  static Pool pool(threadCount() - 1);
  static std::mutex oneJob; // The pool runs one job at a time.
  std::lock_guard<std::mutex> lock(oneJob);
  insideParallel = true;
  pool.run(n, [&](int64_t i) {
    bool was = insideParallel;
    insideParallel = true;
    fn(i);
    insideParallel = was;
  });
  insideParallel = false;
}

} // namespace kiln::runtime::cpu
