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
#include <array>
#include <cctype>
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
#include "eval/report/font.h"
#include "gflags/gflags.h"
#include "sparse_transformer/attention/attention_kernels_cuda.h"
#include "sparse_transformer/attention/block_sparse_attention_cuda.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/png.h"
#include "sparse_transformer/core/status.h"
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

const char* const kPassNames[] = {"forward", "dq", "dk/dv", "dk/dv split"};
const report::Rgb kPassColors[] = {
    {66, 114, 196}, {237, 125, 49}, {84, 160, 80}, {150, 90, 170}};

// Microseconds of t after t0.
double Us(uint64_t t, uint64_t t0) {
  return (static_cast<double>(t) - t0) / 1e3;
}

// The CSV, the picture and a summary per pass on stdout.
void WriteTimeline(const std::vector<CtaTimes>& ctas, const std::string& name,
                   int64_t n) {
  if (ctas.empty()) {
    std::printf("timeline %s n=%lld: no Hopper kernel ran\n", name.c_str(),
                static_cast<long long>(n));
    return;
  }
  uint64_t t0 = ctas[0].start_ns, t1 = 0;
  int sms = 0;
  for (const CtaTimes& c : ctas) {
    t0 = std::min(t0, c.start_ns);
    t1 = std::max({t1, c.end_ns, c.loop_ns});
    sms = std::max(sms, c.sm + 1);
  }
  // fixed(128,32) -> fixed_128_32
  std::string tag;
  for (char ch : name) {
    const bool word = std::isalnum(static_cast<unsigned char>(ch));
    if (word) {
      tag += ch;
    } else if (!tag.empty() && tag.back() != '_') {
      tag += '_';
    }
  }
  while (!tag.empty() && tag.back() == '_') tag.pop_back();
  const std::string base = FLAGS_timeline + "_" + tag + "_" + std::to_string(n);
  FILE* f = std::fopen((base + ".csv").c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "error: --timeline: cannot write %s.csv\n",
                 base.c_str());
    std::exit(1);
  }
  std::fprintf(f, "pass,cta,sm,steps,start_us,first_us,loop_us,end_us\n");
  for (const CtaTimes& c : ctas) {
    std::fprintf(f, "%s,%d,%d,%d,%.3f,%.3f,%.3f,%.3f\n", kPassNames[c.pass],
                 c.cta, c.sm, c.steps, Us(c.start_ns, t0),
                 c.first_ns ? Us(c.first_ns, t0) : 0.0, Us(c.loop_ns, t0),
                 c.end_ns ? Us(c.end_ns, t0) : Us(c.loop_ns, t0));
  }
  std::fclose(f);

  // Summary: per pass its span, and per CTA the mean wait for step 0's rows
  // (forward, dq), loop and stores, and the loop's time per step.
  const double total = Us(t1, t0);
  std::printf("timeline %s n=%lld: %.1f us from the first CTA's start\n",
              name.c_str(), static_cast<long long>(n), total);
  for (int pass = 0; pass < cuda::kTimelinePasses; ++pass) {
    int count = 0;
    int64_t steps = 0;
    double first = 1e30, last = 0, pre = 0, loop = 0, post = 0;
    for (const CtaTimes& c : ctas) {
      if (c.pass != pass) continue;
      const double s = Us(c.start_ns, t0), l = Us(c.loop_ns, t0);
      const double e = c.end_ns ? Us(c.end_ns, t0) : l;
      const double p = c.first_ns ? Us(c.first_ns, t0) : s;
      ++count;
      steps += c.steps;
      first = std::min(first, s);
      last = std::max(last, e);
      pre += p - s;
      loop += l - p;
      post += e - l;
    }
    if (count == 0) continue;
    std::printf(
        "  %-11s %6d CTAs  %7.1f .. %7.1f us  per CTA: %5.2f us to step 0's "
        "rows, %6.2f loop, %4.2f stores; %.3f us a step\n",
        kPassNames[pass], count, first, last, pre / count, loop / count,
        post / count, steps > 0 ? loop / static_cast<double>(steps) : 0.0);
    if (count == cuda::kTimelineCtas) {
      std::printf("  (%s: only the first %d CTAs are recorded)\n",
                  kPassNames[pass], cuda::kTimelineCtas);
    }
  }

  // The picture: one band per SM (lanes for CTAs resident together), time
  // across; a CTA's wait for step 0's rows light, its stores dark.
  constexpr int kLanes = 3, kLaneH = 2, kBand = kLanes * kLaneH + 1;
  constexpr int kLeft = 40, kTop = 34, kPlotW = 1400;
  const int height = kTop + sms * kBand + 24;
  Image img;
  img.width = kLeft + kPlotW + 20;
  img.height = height;
  img.channels = 3;
  img.pixels.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  auto x_of = [&](double us) {
    return kLeft + static_cast<int>(us / total * (kPlotW - 1));
  };
  auto fill = [&](int x0, int x1, int y0, int y1, report::Rgb c) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x <= x1; ++x) report::SetPixel(&img, x, y, c);
  };
  auto shade = [](report::Rgb c, double k) {  // k > 1 lighter, < 1 darker
    auto ch = [&](uint8_t v) {
      return static_cast<uint8_t>(k >= 1 ? 255 - (255 - v) / k : v * k);
    };
    return report::Rgb{ch(c.r), ch(c.g), ch(c.b)};
  };
  std::vector<const CtaTimes*> order;
  for (const CtaTimes& c : ctas) order.push_back(&c);
  std::sort(order.begin(), order.end(),
            [](const CtaTimes* a, const CtaTimes* b) {
              return a->start_ns < b->start_ns;
            });
  std::vector<std::array<uint64_t, kLanes>> lane_free(sms);
  for (auto& l : lane_free) l.fill(0);
  for (const CtaTimes* c : order) {
    const uint64_t end = c->end_ns ? c->end_ns : c->loop_ns;
    int lane = 0;
    while (lane + 1 < kLanes && lane_free[c->sm][lane] > c->start_ns) ++lane;
    lane_free[c->sm][lane] = end;
    const int y0 = kTop + c->sm * kBand + lane * kLaneH, y1 = y0 + kLaneH;
    const report::Rgb col = kPassColors[c->pass];
    const int xs = x_of(Us(c->start_ns, t0));
    const int xf = c->first_ns ? x_of(Us(c->first_ns, t0)) : xs;
    const int xl = x_of(Us(c->loop_ns, t0)), xe = x_of(Us(end, t0));
    fill(xs, xf, y0, y1, shade(col, 2.5));
    fill(xf, xl, y0, y1, col);
    fill(xl, xe, y0, y1, shade(col, 0.55));
  }
  // Time axis: ticks at a round step, labelled in us.
  double step = std::pow(10.0, std::floor(std::log10(total / 10)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (total / (m * step) <= 12) {
      step *= m;
      break;
    }
  }
  const int axis_y = kTop + sms * kBand + 2;
  for (double t = 0; t <= total; t += step) {
    const int x = x_of(t);
    fill(x, x, axis_y, axis_y + 4, {0, 0, 0});
    char label[32];
    std::snprintf(label, sizeof(label), "%g", t);
    report::DrawText(&img, x - report::TextWidth(label) / 2, axis_y + 7, label,
                     {0, 0, 0});
  }
  report::DrawText(&img, kLeft + kPlotW - report::TextWidth("us") - 2,
                   axis_y + 7 + 9, "us", {0, 0, 0});
  report::DrawText(&img, 2, kTop, "SM", {0, 0, 0});
  char title[160];
  std::snprintf(title, sizeof(title),
                "%s n=%lld: one forward+backward, %.1f us; rows: SMs",
                name.c_str(), static_cast<long long>(n), total);
  report::DrawText(&img, kLeft, 4, title, {0, 0, 0});
  int lx = kLeft;
  for (int pass = 0; pass < cuda::kTimelinePasses; ++pass) {
    fill(lx, lx + 10, 18, 25, kPassColors[pass]);
    report::DrawText(&img, lx + 14, 18, kPassNames[pass], {0, 0, 0});
    lx += 24 + report::TextWidth(kPassNames[pass]);
  }
  report::DrawText(&img, lx + 8, 18,
                   "light: waiting for step 0's rows; dark: stores", {0, 0, 0});
  st::ExitOnError(WritePng(base + ".png", img));
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
    std::string name = row.pattern.substr(0, row.pattern.find(' '));
    WriteTimeline(RecordTimeline(fwd, bwd), name, n);
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
