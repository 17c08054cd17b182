#include "sparse_transformer/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace st {
namespace {

// A fixed set of workers sleeping on a condition variable. Sleeping (rather
// than spinning, as OpenMP runtimes do by default) keeps the pool cheap when
// the machine is shared or OpenBLAS's own threads are busy on the same cores.
class Pool {
 public:
  Pool() {
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    threads_ = std::max(1, hw);
    for (int i = 1; i < threads_; ++i)
      workers_.emplace_back([this, i] { Work(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return threads_; }

  // Runs task(c) for c in [0, chunks), chunk 0 on the calling thread.
  void Run(int chunks, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> run_lock(run_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      chunks_ = chunks;
      pending_ = chunks - 1;
      ++generation_;
    }
    wake_.notify_all();
    task(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  void Work(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index >= chunks_) continue;
        task = task_;
      }
      (*task)(index);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mu_, mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int chunks_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& GetPool() {
  static Pool* pool = new Pool();  // never destroyed: safe at exit
  return *pool;
}

thread_local bool in_pool_task = false;
std::atomic<int> g_thread_cap{0};  // 0: no cap

}  // namespace

int NumThreads() {
  const int cap = g_thread_cap.load();
  const int threads = GetPool().threads();
  return cap > 0 ? std::min(cap, threads) : threads;
}

void SetNumThreads(int threads) { g_thread_cap = std::max(threads, 0); }

void ParallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t threads = NumThreads();
  // Nested calls run inline: the pool runs one job at a time.
  if (threads <= 1 || n < 2 * grain || in_pool_task) {
    fn(0, n);
    return;
  }
  // One chunk per thread: a single wake-up per call, which matters for the
  // many small ops of a training step.
  const int chunks = static_cast<int>(std::min<int64_t>(threads, n / grain));
  const int64_t per = (n + chunks - 1) / chunks;
  GetPool().Run(chunks, [&](int c) {
    const bool was = in_pool_task;
    in_pool_task = true;
    const int64_t begin = c * per;
    const int64_t end = std::min(n, begin + per);
    if (begin < end) fn(begin, end);
    in_pool_task = was;
  });
}

}  // namespace st
