// How long the trainer waits in Batcher::Next, with and without the prefetch
// thread, while it "trains" (busy work) between batches. Medians over
// repeated runs; the ratio is against no prefetch, measured in the same run.
//
//   bazel run -c opt //datasets:batcher_benchmark [-- data/text/text.stp]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/prepared.h"
#include "datasets/tool_paths.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The trainer's step between batches: waiting for the GPU (`busy` false,
// the core is free) or computing on the CPU (`busy` true).
void Work(double us, bool busy) {
  const auto end = Clock::now() + std::chrono::duration<double, std::micro>(us);
  if (!busy) {
    std::this_thread::sleep_until(end);
    return;
  }
  volatile uint64_t x = 0;
  while (Clock::now() < end) x = x + 1;
}

// Median microseconds spent inside Next() per batch.
double WaitPerBatch(const PreparedSplit& split, int64_t n, int b, int prefetch,
                    double work_us, bool busy, int steps) {
  auto batcher = Batcher::Create(split, {n, b, 1, prefetch});
  st::ExitOnError(batcher.status());
  std::vector<uint8_t> in(static_cast<size_t>(b) * n), out(in.size());
  std::vector<double> waits;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = Clock::now();
    (*batcher)->Next(in.data(), out.data());
    waits.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    Work(work_us, busy);
  }
  return Median(waits);
}

void Run(const PreparedSplit& split, const char* what, int64_t n, int b) {
  const double work_us = 2000;  // a 2 ms step, far faster than a real one
  for (const bool busy : {false, true}) {
    std::vector<double> plain, ahead;
    for (int rep = 0; rep < 5; ++rep) {
      plain.push_back(WaitPerBatch(split, n, b, 0, work_us, busy, 200));
      ahead.push_back(WaitPerBatch(split, n, b, 4, work_us, busy, 200));
    }
    const double p = Median(plain), a = Median(ahead);
    std::printf(
        "%-24s B=%-3d N=%-6lld step %s: wait/batch no prefetch "
        "%7.1f us, prefetch %7.1f us (%.2fx)\n",
        what, b, static_cast<long long>(n), busy ? "CPU-busy " : "GPU-wait", p,
        a, p / std::max(a, 1e-3));
  }
}

}  // namespace
}  // namespace datasets
}  // namespace st

int main(int argc, char** argv) {
  using namespace st::datasets;
  // An in-memory stream and image set, or a prepared file if given.
  std::vector<uint8_t> bytes(64 << 20);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  PreparedSplit stream{"memory:train", Kind::kText, {1}, 1, bytes};
  PreparedSplit images{"memory:train", Kind::kImage, {64, 64, 3}, 12288, bytes};
  std::unique_ptr<PreparedFile> file;
  if (argc > 1) {
    auto opened = PreparedFile::Open(UserPath(argv[1]));
    st::ExitOnError(opened.status());
    file = std::move(*opened);
    stream = file->split(Split::kTrain);
  }
  Run(stream, argc > 1 ? argv[1] : "stream (memory)", 12288, 16);
  Run(stream, argc > 1 ? argv[1] : "stream (memory)", 1024, 64);
  if (argc == 1) Run(images, "images 64x64x3 (memory)", 12288, 16);
  return 0;
}
