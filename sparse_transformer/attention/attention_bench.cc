// Benchmark: block-sparse CPU attention cost follows the live blocks.
//
// Runs forward and forward+backward over the same random q, k, v for dense
// causal (the baseline) and the sparse patterns, in the same process, and
// prints the median of --repeats runs and the speed-up against dense causal.
//
//   bazel run -c opt //sparse_transformer/attention:attention_bench -- --n=4096
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gflags/gflags.h"
#include "sparse_transformer/attention/attention_cpu.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/status.h"

DEFINE_int64(n, 4096, "context length N");
DEFINE_int32(block, 32, "block size");
DEFINE_int32(stride, 128, "l for local, strided and fixed");
DEFINE_int32(c, 32, "fixed summary width");
DEFINE_int32(heads, 2, "heads H");
DEFINE_int32(batch, 1, "batch B");
DEFINE_int32(head_dim, 64, "Kqk = Kv");
DEFINE_int32(repeats, 5, "timed runs per case (median reported)");
DEFINE_int32(threads, 0, "worker threads (0: all cores)");

namespace st::attention {
namespace {

double Median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Wall-clock and process CPU seconds of fn(). CPU time (all threads) is the
// steadier measure on a shared machine: it ignores time spent descheduled.
std::pair<double, double> Seconds(const std::function<void()>& fn) {
  const double cpu_start = ProcessCpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  fn();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return {wall, ProcessCpuSeconds() - cpu_start};
}

struct Case {
  std::string name;
  PatternConfig config;
};

int Main() {
  if (FLAGS_repeats < 1 || FLAGS_head_dim < 1 || FLAGS_batch < 1) {
    std::fprintf(stderr,
                 "error: --repeats, --head_dim and --batch must be >= 1\n");
    return 1;
  }
  SetCpuAttentionThreads(FLAGS_threads);
  PatternConfig base;
  base.n = FLAGS_n;
  base.block = FLAGS_block;
  base.heads = FLAGS_heads;
  base.stride = FLAGS_stride;
  base.c = FLAGS_c;
  std::vector<Case> cases;
  cases.push_back({"dense causal", base});
  cases.back().config.kind = PatternKind::kDense;
  cases.push_back({"fixed merged", base});
  cases.back().config.kind = PatternKind::kFixed;
  cases.push_back({"strided merged", base});
  cases.back().config.kind = PatternKind::kStrided;
  cases.push_back({"strided A2 transposed", base});
  cases.back().config.kind = PatternKind::kStrided;
  cases.back().config.part = PatternPart::kSecond;
  cases.back().config.strided_transposed = true;
  cases.push_back({"local", base});
  cases.back().config.kind = PatternKind::kLocal;

  const int kd = FLAGS_head_dim;
  const size_t rows = static_cast<size_t>(FLAGS_batch) * FLAGS_heads * FLAGS_n;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 1.f);
  auto random = [&](size_t size) {
    std::vector<float> x(size);
    for (auto& e : x) e = dist(rng);
    return x;
  };
  const auto q = random(rows * kd), k = random(rows * kd),
             v = random(rows * kd), dout = random(rows * kd);  // [B, H, N, K]
  std::vector<float> out(rows * kd), lse(rows), dq(rows * kd), dk(rows * kd),
      dv(rows * kd);
  const float scale = 1.f / std::sqrt(static_cast<float>(kd));

  std::printf(
      "n=%lld block=%d l=%d c=%d heads=%d batch=%d head_dim=%d "
      "threads=%d repeats=%d (median)\n",
      static_cast<long long>(FLAGS_n), FLAGS_block, FLAGS_stride, FLAGS_c,
      FLAGS_heads, FLAGS_batch, kd, CpuAttentionThreads(), FLAGS_repeats);
  std::printf("%-24s %12s %9s %10s %8s %12s %8s %12s %8s\n", "pattern",
              "live_blocks", "density", "fwd_ms", "fwd_x", "fwd+bwd_ms", "fb_x",
              "fb_cpu_ms", "cpu_x");
  // Build every layout first, then time the cases round-robin (one run of
  // each per repeat) so that load changes on the machine hit all alike.
  std::vector<Case> ok;
  std::vector<std::shared_ptr<const AttentionLayout>> layouts;
  for (const Case& c : cases) {
    auto layout_or = BuildLayout(c.config, 0);
    if (!layout_or.ok()) {
      std::printf("%-24s skipped: %s\n", c.name.c_str(),
                  std::string(layout_or.status().message()).c_str());
      continue;
    }
    ok.push_back(c);
    layouts.push_back(*layout_or);
  }
  auto forward = [&](const AttentionLayout& layout) {
    BlockSparseAttentionForward<float>(layout, FLAGS_batch, kd, kd, scale,
                                       q.data(), k.data(), v.data(), out.data(),
                                       lse.data());
  };
  auto backward = [&](const AttentionLayout& layout) {
    BlockSparseAttentionBackward<float>(
        layout, FLAGS_batch, kd, kd, scale, q.data(), k.data(), v.data(),
        out.data(), lse.data(), dout.data(), dq.data(), dk.data(), dv.data());
  };
  std::vector<std::vector<double>> fwd(ok.size()), fb(ok.size()),
      fb_cpu(ok.size());
  for (int r = -1; r < FLAGS_repeats; ++r) {  // r = -1: warm-up
    for (size_t i = 0; i < ok.size(); ++i) {
      const AttentionLayout& layout = *layouts[i];
      const auto f = Seconds([&]() { forward(layout); });
      const auto b = Seconds([&]() { backward(layout); });
      if (r < 0) continue;
      fwd[i].push_back(f.first);
      fb[i].push_back(f.first + b.first);
      fb_cpu[i].push_back(f.second + b.second);
    }
  }
  double dense_fwd = 0, dense_fb = 0, dense_cpu = 0;
  for (size_t i = 0; i < ok.size(); ++i) {
    const double f = Median(fwd[i]), b = Median(fb[i]), c = Median(fb_cpu[i]);
    if (ok[i].config.kind == PatternKind::kDense) {
      dense_fwd = f;
      dense_fb = b;
      dense_cpu = c;
    }
    std::printf("%-24s %12lld %9.4f %10.2f %8.2f %12.2f %8.2f %12.2f %8.2f\n",
                ok[i].name.c_str(),
                static_cast<long long>(layouts[i]->live_blocks()),
                layouts[i]->density(), f * 1e3, dense_fwd / f, b * 1e3,
                dense_fb / b, c * 1e3, dense_cpu / c);
  }
  return 0;
}

}  // namespace
}  // namespace st::attention

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return st::attention::Main();
}
