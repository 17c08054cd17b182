// Training and sampling throughput of the CPU model.
//
//   bazel run --config=opt //sparse_transformer/model:model_benchmark --
//     --n_layer=4 --d_model=128 --n_head=4 --n=512 --batch=4 --pattern=fixed
//
// Prints, as medians over --reps repetitions measured round-robin in the same
// run: forward+backward time and tokens/s with stored activations and with
// recompute (and their ratio), the same on one thread (the baseline for the
// multi-core speed-up), the activation memory of each mode, and the
// cost of one cached sampling step against a full forward pass per token.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "gflags/gflags.h"
#include "sparse_transformer/core/parallel.h"
#include "sparse_transformer/core/rng.h"
#include "sparse_transformer/core/status.h"
#include "sparse_transformer/model/model.h"
#include "sparse_transformer/model/sampler.h"

DEFINE_int32(n_layer, 4, "blocks");
DEFINE_int32(d_model, 128, "model width D");
DEFINE_int32(n_head, 4, "heads H");
DEFINE_int32(n, 512, "context N");
DEFINE_int32(batch, 4, "micro-batch B");
DEFINE_string(pattern, "fixed", "dense, local, strided or fixed");
DEFINE_string(head_mode, "merged", "merged, interleaved or split");
DEFINE_int32(stride, 64, "pattern stride l (and embedding stride)");
DEFINE_int32(c, 32, "fixed summary width c");
DEFINE_int32(block, 32, "layout block size");
DEFINE_int32(reps, 5, "timed repetitions");

namespace st::model {
namespace {

double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a)
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

absl::Status Run() {
  ModelConfig c;
  c.n_layer = FLAGS_n_layer;
  c.d_model = FLAGS_d_model;
  c.n_head = FLAGS_n_head;
  c.resid_dropout = 0.1;
  c.embedding_stride = FLAGS_stride;
  c.pattern.n = FLAGS_n;
  c.pattern.block = FLAGS_block;
  c.pattern.heads = FLAGS_n_head;
  ST_ASSIGN_OR_RETURN(c.pattern.kind,
                      attention::ParsePatternKind(FLAGS_pattern));
  ST_ASSIGN_OR_RETURN(c.pattern.head_mode,
                      attention::ParseHeadMode(FLAGS_head_mode));
  if (c.pattern.kind != attention::PatternKind::kDense) {
    c.pattern.stride = FLAGS_stride;
  }
  if (c.pattern.kind == attention::PatternKind::kFixed) c.pattern.c = FLAGS_c;
  ST_ASSIGN_OR_RETURN(auto stored, SparseTransformer<float>::Create(c));
  c.recompute = true;
  ST_ASSIGN_OR_RETURN(auto recomputed, SparseTransformer<float>::Create(c));

  const int b = FLAGS_batch;
  const int64_t n = FLAGS_n;
  std::vector<uint8_t> in(b * n), tgt(b * n);
  CounterRng rng(1, 1);
  for (int64_t i = 0; i < b * n; ++i) {
    in[i] = static_cast<uint8_t>(rng.Bits(i) % 96 + 32);
    tgt[i] = static_cast<uint8_t>(rng.Bits(i + b * n) % 96 + 32);
  }
  std::printf(
      "model: %d layers, D=%d, H=%d, N=%lld, B=%d, %s/%s, %zu params, "
      "%d threads\n",
      c.n_layer, c.d_model, c.n_head, static_cast<long long>(n), b,
      FLAGS_pattern.c_str(), FLAGS_head_mode.c_str(), stored->params().size(),
      NumThreads());
  // Warm-up, then round-robin so both modes see the same machine load.
  stored->ForwardBackward(in.data(), tgt.data(), b, 1.0, 0);
  recomputed->ForwardBackward(in.data(), tgt.data(), b, 1.0, 0);
  // The baseline, in the same round-robin: everything on one thread (our
  // pool and OpenBLAS) against the default of every core.
  std::vector<double> t_stored, t_recompute, t_one;
  for (int r = 0; r < FLAGS_reps; ++r) {
    SetNumThreads(1);
    openblas_set_num_threads(1);
    auto t1 = std::chrono::steady_clock::now();
    stored->ForwardBackward(in.data(), tgt.data(), b, 1.0, r);
    t_one.push_back(Seconds(t1));
    SetNumThreads(0);
    openblas_set_num_threads(NumThreads());
    auto t0 = std::chrono::steady_clock::now();
    stored->ForwardBackward(in.data(), tgt.data(), b, 1.0, r);
    t_stored.push_back(Seconds(t0));
    t0 = std::chrono::steady_clock::now();
    recomputed->ForwardBackward(in.data(), tgt.data(), b, 1.0, r);
    t_recompute.push_back(Seconds(t0));
  }
  const double ms = Median(t_stored), mr = Median(t_recompute);
  std::printf(
      "forward+backward, one thread:         %8.1f ms  %9.0f tokens/s  "
      "(%d threads / one thread: x%.2f)\n",
      1e3 * Median(t_one), b * n / Median(t_one), NumThreads(),
      Median(t_one) / ms);
  std::printf(
      "forward+backward, stored activations: %8.1f ms  %9.0f tokens/s  "
      "activations %7.1f MiB\n",
      1e3 * ms, b * n / ms, stored->ActivationBytes(b) / 1048576.0);
  std::printf(
      "forward+backward, recompute:          %8.1f ms  %9.0f tokens/s  "
      "activations %7.1f MiB\n",
      1e3 * mr, b * n / mr, recomputed->ActivationBytes(b) / 1048576.0);
  std::printf(
      "recompute / stored: time x%.2f, activation memory x%.3f\n", mr / ms,
      double(recomputed->ActivationBytes(b)) / stored->ActivationBytes(b));

  // Sampling: a cached step at the end of the context against a full
  // forward pass over one sequence (what uncached sampling pays per token).
  std::vector<float> losses(n);
  std::vector<double> t_full, t_step;
  for (int r = 0; r < FLAGS_reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    stored->Loss(in.data(), tgt.data(), 1, losses.data());
    t_full.push_back(Seconds(t0));
  }
  Sampler<float> sampler(*stored);
  for (int64_t t = 0; t < n - FLAGS_reps; ++t) sampler.Step(in[t]);
  for (int r = 0; r < FLAGS_reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    sampler.Step(in[sampler.length()]);
    t_step.push_back(Seconds(t0));
  }
  std::printf(
      "sampling: cached step %.3f ms (%lld live keys, all layers and "
      "heads) vs full forward %.1f ms: x%.0f\n",
      1e3 * Median(t_step), static_cast<long long>(sampler.last_step_keys()),
      1e3 * Median(t_full), Median(t_full) / Median(t_step));
  return absl::OkStatus();
}

}  // namespace
}  // namespace st::model

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  st::ExitOnError(st::model::Run());
  return 0;
}
