// Benchmarks the CUDA block-sparse attention kernels on the paper's patterns.
//
//   gpu_stage/bin/attention_bench [--n=3072,12288,65536]
//   [--large_strided_n=1048576]
//
// For each pattern and n (B=1, H=8, K=64 by default): ms forward and ms
// forward+backward (median of CUDA-event timings after warm-up), useful
// TFLOP/s (4*B*H*K*live pairs forward, x3.5 forward+backward), device memory
// held during the run, and the forward+backward time relative to our dense
// causal kernel at the same n (the in-run baseline). Prints one table.
//
// With --timeline=PREFIX (a build with --define=kernel_timeline=1), one more
// forward+backward per row is recorded CTA by CTA: PREFIX_<pattern>_<n>.csv
// (pass, CTA, SM, steps, times in us) and .png (SMs down, time across, one
// colour per pass), and a summary per pass on stdout.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gflags/gflags.h"
#include "sparse_transformer/attention/attention_kernels_cuda.h"
#include "sparse_transformer/attention/block_sparse_attention_cuda.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/status.h"
#include "tools/bench/kernel_timeline.h"
#include "tools/bench/random_fill_cuda.h"

#if ST_WITH_CUDA
#include <cuda_runtime.h>
#endif

DEFINE_string(n, "3072,12288,65536", "context lengths, comma-separated");
DEFINE_int64(large_strided_n, 1048576,
             "extra strided-only context length (0: skip)");
DEFINE_string(patterns, "dense,fixed,strided,local",
              "patterns to run, comma-separated");
DEFINE_int32(batch, 1, "batch B");
DEFINE_int32(heads, 8, "heads H");
DEFINE_int32(head_dim, 64, "head dim K (32, 64, 128)");
DEFINE_string(dtype, "bf16", "bf16 or fp16");
DEFINE_int32(stride, 128, "l for local, strided and fixed");
DEFINE_int32(c, 32, "fixed: summary width c");
DEFINE_int32(sparse_block, 32, "layout block of the sparse patterns");
DEFINE_int32(dense_block, 128, "layout block of dense causal");
DEFINE_string(row_merge, "auto",
              "query tiles over merged key lists: auto, on, off");
DEFINE_string(col_split, "auto",
              "dk/dv column lists split over warp groups: auto, on, off");
DEFINE_string(hopper, "auto",
              "Hopper wgmma kernels (head dim 64, compute capability 9.0): "
              "auto (forward and dq on wgmma, dk/dv too for long column "
              "lists), on (all), off");
DEFINE_bool(fused_dq, false,
            "with wgmma dk/dv: dq in the same pass (fp32 atomics)");
DEFINE_string(dkv_split, "auto",
              "wgmma dk/dv: the longest column tiles split over a cluster of "
              "two CTAs: auto (tiles over twice an SM's share), on (the "
              "longer half), off");
DEFINE_string(interleave_heads, "auto",
              "grid order: heads interleaved (on), head after head (off), "
              "auto");
DEFINE_string(timeline, "",
              "file prefix: record one forward+backward per row CTA by CTA "
              "(needs --define=kernel_timeline=1) into PREFIX_<pattern>_<n>"
              ".csv and .png");
DEFINE_int32(warmup, 5, "untimed runs before timing");
DEFINE_int32(reps, 30, "timed runs (median reported)");

#if ST_WITH_CUDA
namespace st::attention {
namespace {

void Check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "error: %s: %s\n", what, cudaGetErrorString(err));
    std::exit(1);
  }
}

struct Row {
  std::string pattern;
  int64_t n = 0;
  int block = 0;
  double density = 0;
  double ms_fwd = 0, ms_fb = 0;
  double tflops_fwd = 0, tflops_fb = 0;
  double mem_mib = 0, layout_mib = 0;
  double vs_dense = 0;
};

// nullopt-like: returns false when the pattern cannot be built at this n.
bool MakeConfig(const std::string& name, int64_t n, PatternConfig* cfg,
                std::string* label) {
  *cfg = PatternConfig();
  cfg->n = n;
  cfg->heads = FLAGS_heads;
  cfg->stride = FLAGS_stride;
  cfg->block = FLAGS_sparse_block;
  const std::string l = std::to_string(FLAGS_stride);
  if (name == "dense") {
    cfg->kind = PatternKind::kDense;
    cfg->block = FLAGS_dense_block;
    cfg->stride = 0;
    *label = "dense causal";
  } else if (name == "fixed") {
    cfg->kind = PatternKind::kFixed;
    cfg->c = FLAGS_c;
    *label = "fixed(" + l + "," + std::to_string(FLAGS_c) + ")";
  } else if (name == "local") {
    cfg->kind = PatternKind::kLocal;
    *label = "local(" + l + ")";
  } else if (name == "strided") {
    cfg->kind = PatternKind::kStrided;
    // Heads alternate A1 (local) and A2 computed in the transposed order, so
    // both halves are block-sparse. Needs (n/l) % block == 0.
    cfg->head_mode = HeadMode::kSplit;
    cfg->strided_transposed = true;
    *label = "strided(" + l + ") split,T";
    if ((n / FLAGS_stride) % cfg->block != 0) {
      cfg->head_mode = HeadMode::kMerged;
      cfg->strided_transposed = false;
      *label = "strided(" + l + ") merged";
    }
  } else {
    std::fprintf(stderr, "error: --patterns: unknown pattern '%s'\n",
                 name.c_str());
    std::exit(1);
  }
  return ValidatePatternConfig(*cfg).ok();
}

// ---- --timeline ------------------------------------------------------------

using cuda::CtaTimes;

// One forward+backward recorded CTA by CTA (the Hopper kernels only).
std::vector<CtaTimes> RecordTimeline(const std::function<void()>& fwd,
                                     const std::function<void()>& bwd) {
  Check(static_cast<cudaError_t>(cuda::TimelineReset()), "timeline reset");
  Check(cudaDeviceSynchronize(), "sync");
  fwd();
  bwd();
  Check(cudaDeviceSynchronize(), "timeline run");
  std::vector<CtaTimes> ctas(static_cast<size_t>(cuda::kTimelinePasses) *
                             cuda::kTimelineCtas);
  int count = 0;
  Check(static_cast<cudaError_t>(cuda::TimelineRead(
            ctas.data(), static_cast<int>(ctas.size()), &count)),
        "timeline read");
  ctas.resize(count);
  return ctas;
}

double Median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Row RunCase(const std::string& name, int64_t n) {
  Row row;
  PatternConfig cfg;
  if (!MakeConfig(name, n, &cfg, &row.pattern)) {
    std::fprintf(stderr, "skip %s n=%lld: %s\n", name.c_str(),
                 static_cast<long long>(n),
                 ValidatePatternConfig(cfg).ToString().c_str());
    row.n = -1;
    return row;
  }
  row.n = n;
  row.block = cfg.block;
  auto layout_or = BuildLayout(cfg, 0);
  st::ExitOnError(layout_or.status());
  const AttentionLayout& layout = **layout_or;
  row.density = layout.density();

  size_t free0 = 0, total = 0;
  Check(cudaMemGetInfo(&free0, &total), "cudaMemGetInfo");
  auto choice = [](const std::string& flag) {
    using Choice = UploadOptions::Choice;
    return flag == "on"    ? Choice::kOn
           : flag == "off" ? Choice::kOff
                           : Choice::kAuto;
  };
  UploadOptions options;
  options.row_merge = choice(FLAGS_row_merge);
  options.col_split = choice(FLAGS_col_split);
  options.hopper = choice(FLAGS_hopper);
  options.fused_dq = FLAGS_fused_dq;
  options.interleave_heads = choice(FLAGS_interleave_heads);
  options.dkv_split = choice(FLAGS_dkv_split);
  auto dlayout_or = DeviceAttentionLayout::Upload(layout, options);
  st::ExitOnError(dlayout_or.status());
  const DeviceAttentionLayout& dl = **dlayout_or;
  row.layout_mib = dl.device_bytes() / 1048576.0;
  // [forward dq dk/dv]: W on wgmma (F: dq fused into the wgmma dk/dv pass);
  // on mma.sync M merged query tiles, S split column lists, - one block per
  // CTA; then "i" where the grid interleaves the heads
  // (LayoutView::interleave_heads).
  CudaAttentionShape shape;
  shape.batch = FLAGS_batch;
  shape.heads = FLAGS_heads;
  shape.head_dim = FLAGS_head_dim;
  shape.scale = 1.f / std::sqrt(static_cast<float>(FLAGS_head_dim));
  shape.dtype = FLAGS_dtype == "fp16" ? DType::kFP16 : DType::kBF16;
  const bool w = FLAGS_head_dim == 64;
  const auto lv = dl.CallView(shape, /*backward=*/false);
  const char* mma_rows = lv.row_merge ? "M" : "-";
  row.pattern += absl::StrCat(" [", w && lv.hopper_rows ? "W" : mma_rows, " ",
                              w && lv.hopper_cols && lv.hopper_fused_dq ? "F"
                              : w && lv.hopper_dq                       ? "W"
                                                  : mma_rows,
                              " ",
                              w && lv.hopper_cols ? "W"
                              : lv.col_split      ? "S"
                                                  : "-",
                              "]", lv.interleave_heads ? " i" : "");

  const int64_t elems =
      static_cast<int64_t>(FLAGS_batch) * FLAGS_heads * n * FLAGS_head_dim;
  const int64_t rows = static_cast<int64_t>(FLAGS_batch) * FLAGS_heads * n;
  void* t[8];  // q, k, v, out, dout, dq, dk, dv
  for (int i = 0; i < 8; ++i) {
    Check(cudaMalloc(&t[i], elems * 2), "cudaMalloc tensor");
    Check(static_cast<cudaError_t>(st::bench::FillRandom16(
              t[i], elems, shape.dtype == DType::kBF16, 1234 + i)),
          "fill");
  }
  float *lse = nullptr, *delta = nullptr;
  Check(cudaMalloc(&lse, rows * 4), "cudaMalloc lse");
  Check(cudaMalloc(&delta, rows * 4), "cudaMalloc delta");
  size_t free1 = 0;
  Check(cudaMemGetInfo(&free1, &total), "cudaMemGetInfo");
  row.mem_mib = (static_cast<double>(free0) - free1) / 1048576.0;

  auto fwd = [&] {
    st::ExitOnError(BlockSparseAttentionForwardCuda(dl, shape, t[0], t[1], t[2],
                                                    t[3], lse));
  };
  auto bwd = [&] {
    st::ExitOnError(BlockSparseAttentionBackwardCuda(
        dl, shape, t[0], t[1], t[2], t[3], lse, t[4], t[5], t[6], t[7], delta));
  };
  for (int i = 0; i < FLAGS_warmup; ++i) {
    fwd();
    bwd();
  }
  Check(cudaDeviceSynchronize(), "warm-up");
  // Sanity: the log-sum-exp of the first rows is finite.
  std::vector<float> lse_host(std::min<int64_t>(rows, 4096));
  Check(cudaMemcpy(lse_host.data(), lse, lse_host.size() * 4,
                   cudaMemcpyDeviceToHost),
        "copy lse");
  for (float x : lse_host) {
    if (!std::isfinite(x)) {
      std::fprintf(stderr, "error: %s n=%lld: non-finite lse\n",
                   row.pattern.c_str(), static_cast<long long>(n));
      std::exit(1);
    }
  }

  cudaEvent_t e0, e1;
  Check(cudaEventCreate(&e0), "event");
  Check(cudaEventCreate(&e1), "event");
  auto time = [&](bool with_bwd) {
    std::vector<float> ms;
    for (int r = 0; r < FLAGS_reps; ++r) {
      Check(cudaEventRecord(e0), "record");
      fwd();
      if (with_bwd) bwd();
      Check(cudaEventRecord(e1), "record");
      Check(cudaEventSynchronize(e1), "sync");
      float x = 0;
      Check(cudaEventElapsedTime(&x, e0, e1), "elapsed");
      ms.push_back(x);
    }
    return Median(ms);
  };
  row.ms_fwd = time(false);
  row.ms_fb = time(true);
  if (!FLAGS_timeline.empty()) {
    const std::string name = row.pattern.substr(0, row.pattern.find(' '));
    const std::vector<CtaTimes> ctas = RecordTimeline(fwd, bwd);
    if (ctas.empty()) {
      std::printf("timeline %s n=%lld: no Hopper kernel ran\n", name.c_str(),
                  static_cast<long long>(n));
    } else {
      absl::StatusOr<std::string> summary = bench::WriteKernelTimeline(
          ctas, absl::StrCat(FLAGS_timeline, "_", bench::FileTag(name), "_", n),
          absl::StrCat(name, " n=", n));
      st::ExitOnError(summary.status());
      std::printf("%s", summary->c_str());
    }
  }

  double pairs = 0;
  for (int h = 0; h < FLAGS_heads; ++h)
    pairs += layout.live_pairs(h % layout.heads());
  const double flops_fwd = 4.0 * FLAGS_batch * FLAGS_head_dim * pairs;
  row.tflops_fwd = flops_fwd / (row.ms_fwd * 1e-3) / 1e12;
  row.tflops_fb = 3.5 * flops_fwd / (row.ms_fb * 1e-3) / 1e12;

  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  for (void* p : t) cudaFree(p);
  cudaFree(lse);
  cudaFree(delta);
  return row;
}

int Main() {
  // The flags first, before the GPU is touched.
  std::vector<int64_t> ns;
  for (absl::string_view s : absl::StrSplit(FLAGS_n, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      std::fprintf(stderr, "error: --n: bad length '%s'\n",
                   std::string(s).c_str());
      return 1;
    }
    ns.push_back(v);
  }
  if (FLAGS_head_dim != 32 && FLAGS_head_dim != 64 && FLAGS_head_dim != 128) {
    std::fprintf(stderr, "error: --head_dim=%d must be 32, 64 or 128\n",
                 FLAGS_head_dim);
    return 1;
  }
  if (FLAGS_dtype != "bf16" && FLAGS_dtype != "fp16") {
    std::fprintf(stderr, "error: --dtype=%s must be bf16 or fp16\n",
                 FLAGS_dtype.c_str());
    return 1;
  }
  const std::pair<const char*, const std::string*> choices[] = {
      {"row_merge", &FLAGS_row_merge},
      {"col_split", &FLAGS_col_split},
      {"hopper", &FLAGS_hopper},
      {"interleave_heads", &FLAGS_interleave_heads},
      {"dkv_split", &FLAGS_dkv_split}};
  for (const auto& [name, value] : choices) {
    if (*value != "auto" && *value != "on" && *value != "off") {
      std::fprintf(stderr, "error: --%s=%s must be auto, on or off\n", name,
                   value->c_str());
      return 1;
    }
  }
  if (!FLAGS_timeline.empty() && !cuda::TimelineCompiled()) {
    std::fprintf(stderr,
                 "error: --timeline needs a build with "
                 "--define=kernel_timeline=1 (tools/gpu/stage.sh: "
                 "ST_BAZEL_FLAGS=--define=kernel_timeline=1)\n");
    return 1;
  }
  cudaDeviceProp prop;
  Check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf(
      "device: %s, %d SMs; B=%d H=%d K=%d %s; median of %d CUDA-event timings "
      "after %d "
      "warm-up runs\n",
      prop.name, prop.multiProcessorCount, FLAGS_batch, FLAGS_heads,
      FLAGS_head_dim, FLAGS_dtype.c_str(), FLAGS_reps, FLAGS_warmup);
  std::vector<std::string> patterns =
      absl::StrSplit(FLAGS_patterns, ',', absl::SkipEmpty());
  std::vector<Row> rows;
  for (int64_t n : ns) {
    double dense_fb = 0;
    for (const std::string& p : patterns) {
      Row r = RunCase(p, n);
      if (r.n < 0) continue;
      if (p == "dense") dense_fb = r.ms_fb;
      r.vs_dense = dense_fb > 0 ? r.ms_fb / dense_fb : NAN;
      rows.push_back(r);
      std::fprintf(stderr, "done %s n=%lld\n", r.pattern.c_str(),
                   static_cast<long long>(n));
    }
  }
  if (FLAGS_large_strided_n > 0) {
    Row r = RunCase("strided", FLAGS_large_strided_n);
    if (r.n > 0) {
      r.vs_dense = NAN;
      rows.push_back(r);
    }
  }
  std::printf(
      "\n| pattern | n | block | density | fwd ms | fwd+bwd ms | fwd TFLOP/s | "
      "fwd+bwd TFLOP/s | device MiB | layout MiB | f+b / dense |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf(
        "| %s | %lld | %d | %.4f | %.3f | %.3f | %.1f | %.1f | %.0f | %.2f | "
        "%.3f |\n",
        r.pattern.c_str(), static_cast<long long>(r.n), r.block, r.density,
        r.ms_fwd, r.ms_fb, r.tflops_fwd, r.tflops_fb, r.mem_mib, r.layout_mib,
        r.vs_dense);
  }
  return 0;
}

}  // namespace
}  // namespace st::attention
#endif  // ST_WITH_CUDA

int main(int argc, char** argv) {
  gflags::SetUsageMessage("block-sparse attention benchmark (GPU)");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
#if ST_WITH_CUDA
  return st::attention::Main();
#else
  std::fprintf(stderr,
               "error: attention_bench was built without --config=cuda\n");
  return 1;
#endif
}
