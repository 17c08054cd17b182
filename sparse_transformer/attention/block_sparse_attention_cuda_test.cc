// GPU block-sparse attention against the CPU reference (attention_cpu.h, in
// double) for every pattern and head mode, forward (out, lse) and backward
// (dq, dk, dv), both dtypes, head dims 32/64/128, n from one block to many.
//
// Inputs are drawn at random (fixed seed per case, never zeros), rounded to
// the device dtype, and the SAME rounded values feed the CPU reference, so
// the error measured is the kernels' own (fp32 accumulation, P and dS rounded
// to the dtype before their tensor-core products, outputs rounded on store).
// Every output is poisoned (NaN) before the run and checked to be written.
// The backward runs twice and must give the same bits (dq excepted when it is
// fused into the dk/dv pass, whose fp32 atomics add in any order).
//
// Tolerances (relative Frobenius error ||gpu - ref|| / ||ref|| per tensor, and
// max |gpu - ref| <= 8 * tol * max |ref|):
//   bf16 (8-bit mantissa, unit roundoff 2^-8 = 3.9e-3): out 1.5e-2, grads 3e-2
//   fp16 (11-bit mantissa, unit roundoff 2^-11 = 4.9e-4): out 3e-3, grads 6e-3
//   lse (fp32 from exactly-representable inputs): max abs 2e-3 for both.
// Built without --config=cuda, or run without a GPU, the tests skip.
#include "sparse_transformer/attention/block_sparse_attention_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/attention/attention_cpu.h"
#include "sparse_transformer/attention/layout.h"

#if ST_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

namespace st::attention {
namespace {

#if !ST_WITH_CUDA

TEST(BlockSparseAttentionCuda, ReportsUnimplementedWithoutCuda) {
  PatternConfig cfg;
  cfg.n = 64;
  cfg.block = 32;
  auto layout = BuildLayout(cfg, 0);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(DeviceAttentionLayout::Upload(**layout).status().code(),
            absl::StatusCode::kUnimplemented);
  GTEST_SKIP() << "built without --config=cuda: GPU kernels not compiled, "
                  "nothing else to run";
}

#else  // ST_WITH_CUDA

bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define ST_REQUIRE_GPU() \
  if (!HaveGpu())        \
  GTEST_SKIP() << "no CUDA device present (cudaGetDeviceCount failed or is 0)"

// Rounds to the device dtype and returns the 16-bit pattern.
uint16_t ToBits(double x, DType d) {
  if (d == DType::kBF16) {
    const __nv_bfloat16_raw r = __float2bfloat16_rn(static_cast<float>(x));
    return r.x;
  }
  const __half_raw r = __float2half_rn(static_cast<float>(x));
  return r.x;
}

double FromBits(uint16_t b, DType d) {
  if (d == DType::kBF16) {
    __nv_bfloat16_raw r;
    r.x = b;
    return __bfloat162float(__nv_bfloat16(r));
  }
  __half_raw r;
  r.x = b;
  return __half2float(__half(r));
}

// A device buffer that frees itself.
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Random tensor: host bits (device dtype) and the same values as double.
struct HostTensor {
  std::vector<uint16_t> bits;
  std::vector<double> values;
};

HostTensor RandomTensor(size_t count, DType d, std::mt19937_64* rng) {
  std::normal_distribution<double> dist(0.0, 1.0);
  HostTensor t;
  t.bits.resize(count);
  t.values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    double x = dist(*rng);
    if (std::fabs(x) < 1e-3) x = 1e-3;  // never exact zeros
    t.bits[i] = ToBits(x, d);
    t.values[i] = FromBits(t.bits[i], d);
  }
  return t;
}

struct Tolerance {
  double out, grad, lse;
};

Tolerance ToleranceFor(DType d) {
  return d == DType::kBF16 ? Tolerance{1.5e-2, 3e-2, 2e-3}
                           : Tolerance{3e-3, 6e-3, 2e-3};
}

// Compares a device result (bits) with the double reference; every element
// must be finite (so it was written: the poison is NaN).
void ExpectClose(const std::string& what, const std::vector<uint16_t>& got_bits,
                 DType d, const std::vector<double>& ref, double tol) {
  ASSERT_EQ(got_bits.size(), ref.size());
  double err2 = 0, ref2 = 0, max_err = 0, max_ref = 0;
  int64_t unwritten = 0, first_bad = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = FromBits(got_bits[i], d);
    if (!std::isfinite(g)) {
      if (first_bad < 0) first_bad = static_cast<int64_t>(i);
      ++unwritten;
      continue;
    }
    const double e = g - ref[i];
    err2 += e * e;
    ref2 += ref[i] * ref[i];
    max_err = std::max(max_err, std::fabs(e));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  EXPECT_EQ(unwritten, 0) << what << ": " << unwritten
                          << " elements not written (still NaN), first at "
                          << first_bad;
  const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  EXPECT_LE(rel, tol) << what << ": relative error " << rel;
  EXPECT_LE(max_err, 8 * tol * std::max(max_ref, 1e-6))
      << what << ": max abs error " << max_err << " (max |ref| " << max_ref
      << ")";
}

struct Case {
  std::string name;
  PatternConfig cfg;
  int layer = 0;
  int batch = 1;
  int head_dim = 64;
};

PatternConfig Config(PatternKind kind, int64_t n, int block, int stride,
                     int heads, HeadMode mode = HeadMode::kMerged) {
  PatternConfig c;
  c.kind = kind;
  c.n = n;
  c.block = block;
  c.stride = stride;
  c.heads = heads;
  c.head_mode = mode;
  return c;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, PatternConfig cfg, int layer, int batch,
                 int dim) {
    cases.push_back(Case{std::move(name), cfg, layer, batch, dim});
  };
  // Dense causal: one block, many blocks, every block size, every head dim.
  add("dense_b16_one_block", Config(PatternKind::kDense, 16, 16, 0, 1), 0, 1,
      64);
  add("dense_b32_n96", Config(PatternKind::kDense, 96, 32, 0, 2), 0, 2, 32);
  add("dense_b64_n320", Config(PatternKind::kDense, 320, 64, 0, 2), 0, 1, 128);
  add("dense_b128_n384", Config(PatternKind::kDense, 384, 128, 0, 1), 0, 1, 64);
  add("dense_b64_n320_d64", Config(PatternKind::kDense, 320, 64, 0, 2), 0, 1,
      64);
  add("dense_b128_n256_d128", Config(PatternKind::kDense, 256, 128, 0, 2), 0, 1,
      128);
  // Local windows: a partial (explicit-mask) block behind the diagonal.
  add("local_l96_b32", Config(PatternKind::kLocal, 352, 32, 96, 2), 0, 1, 64);
  add("local_l128_b128", Config(PatternKind::kLocal, 640, 128, 128, 1), 0, 1,
      64);
  add("local_l32_b16_d32", Config(PatternKind::kLocal, 208, 16, 32, 2), 0, 2,
      32);
  // Strided, untransposed (A2 scattered through explicit masks), merged.
  add("strided_l64_b16_merged", Config(PatternKind::kStrided, 512, 16, 64, 2),
      0, 1, 64);
  add("strided_l32_b32_merged_d128",
      Config(PatternKind::kStrided, 256, 32, 32, 1), 0, 1, 128);
  {
    // Strided in the paper's transposed order (a per-head permutation).
    PatternConfig c =
        Config(PatternKind::kStrided, 1024, 16, 64, 2, HeadMode::kSplit);
    c.strided_transposed = true;
    add("strided_l64_b16_split_T", c, 0, 1, 64);
    c = Config(PatternKind::kStrided, 4096, 32, 128, 2, HeadMode::kInterleaved);
    c.strided_transposed = true;
    add("strided_l128_b32_interleaved_T_layer0", c, 0, 1, 64);
    add("strided_l128_b32_interleaved_T_layer1", c, 1, 1, 64);
    c = Config(PatternKind::kStrided, 2048, 32, 64, 2);
    c.part = PatternPart::kSecond;
    c.strided_transposed = true;
    add("strided_l64_b32_A2_only_T_d128", c, 0, 1, 128);
    c = Config(PatternKind::kStrided, 1024, 32, 128, 2, HeadMode::kSplit);
    add("strided_l128_b32_split", c, 0, 2, 32);
  }
  {
    // Fixed: the paper's (128, 32) merged, distinct summaries per head,
    // split/interleaved (A2 alone has rows with no live key), c < block.
    PatternConfig c = Config(PatternKind::kFixed, 1024, 32, 128, 2);
    c.c = 32;
    add("fixed_l128_c32_b32_merged", c, 0, 1, 64);
    add("fixed_l128_c32_b32_merged_d128", c, 0, 1, 128);
    c.heads = 4;
    c.n = 768;
    c.distinct_summaries = true;
    add("fixed_l128_c32_b32_distinct", c, 0, 1, 64);
    c = Config(PatternKind::kFixed, 256, 16, 64, 2, HeadMode::kSplit);
    c.c = 16;
    add("fixed_l64_c16_b16_split", c, 0, 2, 32);
    c = Config(PatternKind::kFixed, 512, 32, 64, 2, HeadMode::kInterleaved);
    c.c = 32;
    add("fixed_l64_c32_b32_interleaved_layer1", c, 1, 1, 64);
    c = Config(PatternKind::kFixed, 256, 16, 64, 2);
    c.c = 8;
    add("fixed_l64_c8_b16_partial_blocks", c, 0, 1, 64);
    c = Config(PatternKind::kFixed, 512, 64, 128, 1);
    c.c = 64;
    add("fixed_l128_c64_b64", c, 0, 1, 128);
    add("fixed_l128_c64_b64_d64_batch2", c, 0, 2, 64);
  }
  return cases;
}

struct Param {
  Case c;
  DType dtype;
};

std::string ParamName(const testing::TestParamInfo<Param>& info) {
  return info.param.c.name +
         (info.param.dtype == DType::kBF16 ? "_bf16" : "_fp16");
}

std::vector<Param> Params() {
  std::vector<Param> p;
  for (const Case& c : Cases()) {
    p.push_back({c, DType::kBF16});
    p.push_back({c, DType::kFP16});
  }
  return p;
}

void RunOnGpu(const AttentionLayout& layout, const UploadOptions& options,
              int B, int H, int K, double scale, DType dtype,
              const HostTensor& q, const HostTensor& k, const HostTensor& v,
              const HostTensor& dout, const std::vector<double>& out_ref,
              const std::vector<double>& lse_ref,
              const std::vector<double>& dq_ref,
              const std::vector<double>& dk_ref,
              const std::vector<double>& dv_ref) {
  const size_t elems = static_cast<size_t>(B) * H * layout.n() * K;
  const size_t rows = static_cast<size_t>(B) * H * layout.n();
  auto dl_or = DeviceAttentionLayout::Upload(layout, options);
  ASSERT_TRUE(dl_or.ok()) << dl_or.status();
  const size_t tb = elems * 2;
  DeviceBuffer dq_in(tb), dk_in(tb), dv_in(tb), ddo(tb), dout_t(tb), dgq(tb),
      dgk(tb), dgv(tb);
  DeviceBuffer dlse(rows * 4), ddelta(rows * 4);
  ASSERT_EQ(cudaMemcpy(dq_in.p, q.bits.data(), tb, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dk_in.p, k.bits.data(), tb, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dv_in.p, v.bits.data(), tb, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(ddo.p, dout.bits.data(), tb, cudaMemcpyHostToDevice),
            cudaSuccess);
  // Poison: 0xFFFF is NaN in bf16 and fp16; 0xFFFFFFFF is NaN in fp32.
  for (void* p : {dout_t.p, dgq.p, dgk.p, dgv.p}) {
    ASSERT_EQ(cudaMemset(p, 0xFF, tb), cudaSuccess);
  }
  ASSERT_EQ(cudaMemset(dlse.p, 0xFF, rows * 4), cudaSuccess);
  ASSERT_EQ(cudaMemset(ddelta.p, 0xFF, rows * 4), cudaSuccess);

  CudaAttentionShape shape;
  shape.batch = B;
  shape.heads = H;
  shape.head_dim = K;
  shape.scale = static_cast<float>(scale);
  shape.dtype = dtype;
  ASSERT_TRUE(BlockSparseAttentionForwardCuda(**dl_or, shape, dq_in.p, dk_in.p,
                                              dv_in.p, dout_t.p,
                                              static_cast<float*>(dlse.p))
                  .ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto backward = [&] {
    return BlockSparseAttentionBackwardCuda(
        **dl_or, shape, dq_in.p, dk_in.p, dv_in.p, dout_t.p,
        static_cast<const float*>(dlse.p), ddo.p, dgq.p, dgk.p, dgv.p,
        static_cast<float*>(ddelta.p));
  };
  ASSERT_TRUE(backward().ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  std::vector<uint16_t> got(elems);
  std::vector<float> lse(rows);
  const Tolerance tol = ToleranceFor(dtype);
  ASSERT_EQ(cudaMemcpy(got.data(), dout_t.p, tb, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ExpectClose("out", got, dtype, out_ref, tol.out);
  ASSERT_EQ(cudaMemcpy(lse.data(), dlse.p, rows * 4, cudaMemcpyDeviceToHost),
            cudaSuccess);
  int64_t lse_bad = 0;
  double lse_err = 0;
  for (size_t i = 0; i < rows; ++i) {
    if (std::isinf(lse_ref[i])) {  // a row with no live key
      lse_bad += !(std::isinf(lse[i]) && lse[i] < 0);
    } else if (!std::isfinite(lse[i])) {
      ++lse_bad;
    } else {
      lse_err = std::max(lse_err, std::fabs(lse[i] - lse_ref[i]));
    }
  }
  EXPECT_EQ(lse_bad, 0) << "lse: rows unwritten or with the wrong -inf";
  EXPECT_LE(lse_err, tol.lse) << "lse: max abs error";
  ASSERT_EQ(cudaMemcpy(got.data(), dgq.p, tb, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ExpectClose("dq", got, dtype, dq_ref, tol.grad);
  ASSERT_EQ(cudaMemcpy(got.data(), dgk.p, tb, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ExpectClose("dk", got, dtype, dk_ref, tol.grad);
  ASSERT_EQ(cudaMemcpy(got.data(), dgv.p, tb, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ExpectClose("dv", got, dtype, dv_ref, tol.grad);

  // Run to run, the backward gives the same bits: no atomics and fixed
  // reduction orders (dq excepted when fused into dk/dv: fp32 atomics).
  std::vector<uint16_t> first[3], again(elems);
  DeviceBuffer* grads[3] = {&dgq, &dgk, &dgv};
  for (int i = 0; i < 3; ++i) {
    first[i].resize(elems);
    ASSERT_EQ(
        cudaMemcpy(first[i].data(), grads[i]->p, tb, cudaMemcpyDeviceToHost),
        cudaSuccess);
    ASSERT_EQ(cudaMemset(grads[i]->p, 0xFF, tb), cudaSuccess);
  }
  ASSERT_TRUE(backward().ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const char* names[3] = {"dq", "dk", "dv"};
  for (int i = options.fused_dq ? 1 : 0; i < 3; ++i) {
    ASSERT_EQ(cudaMemcpy(again.data(), grads[i]->p, tb, cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_TRUE(again == first[i]) << names[i] << " differs between two runs";
  }
}

// An attribute of the current GPU.
int DeviceAttribute(cudaDeviceAttr attr) {
  int device = 0, value = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&value, attr, device);
  return value;
}

// A call's shape: `batch` x `heads` slabs of head dim 64.
CudaAttentionShape Shape(int batch, int heads) {
  CudaAttentionShape shape;
  shape.batch = batch;
  shape.heads = heads;
  shape.head_dim = 64;
  return shape;
}

class BlockSparseAttentionCudaTest : public testing::TestWithParam<Param> {};

TEST_P(BlockSparseAttentionCudaTest, MatchesCpuReferenceForwardAndBackward) {
  ST_REQUIRE_GPU();
  const Case& c = GetParam().c;
  const DType dtype = GetParam().dtype;
  auto layout_or = BuildLayout(c.cfg, c.layer);
  ASSERT_TRUE(layout_or.ok()) << layout_or.status();
  const AttentionLayout& layout = **layout_or;
  const int B = c.batch, H = layout.heads(), K = c.head_dim;
  const int64_t N = layout.n();
  const size_t elems = static_cast<size_t>(B) * H * N * K;
  const size_t rows = static_cast<size_t>(B) * H * N;
  const double scale = 1.0 / std::sqrt(static_cast<double>(K));

  std::mt19937_64 rng(std::hash<std::string>()(c.name) +
                      (dtype == DType::kBF16 ? 1 : 2));
  HostTensor q = RandomTensor(elems, dtype, &rng);
  HostTensor k = RandomTensor(elems, dtype, &rng);
  HostTensor v = RandomTensor(elems, dtype, &rng);
  HostTensor dout = RandomTensor(elems, dtype, &rng);

  // Reference in double on the rounded inputs.
  std::vector<double> out_ref(elems), lse_ref(rows), dq_ref(elems),
      dk_ref(elems), dv_ref(elems);
  BlockSparseAttentionForward<double>(layout, B, K, K, scale, q.values.data(),
                                      k.values.data(), v.values.data(),
                                      out_ref.data(), lse_ref.data());
  BlockSparseAttentionBackward<double>(
      layout, B, K, K, scale, q.values.data(), k.values.data(), v.values.data(),
      out_ref.data(), lse_ref.data(), dout.values.data(), dq_ref.data(),
      dk_ref.data(), dv_ref.data());

  // Every work decomposition: automatic (on a Hopper GPU with head dim 64:
  // forward and dq on wgmma, dk/dv on wgmma where the column lists are long,
  // its tiles split over two CTAs where they outlast twice an SM's share,
  // which at these sizes is nearly every tile), both mma.sync paths forced
  // (merged query tiles + split column lists, and one block per CTA), and,
  // on a Hopper GPU with head dim 64, wgmma for all three passes: with a dq
  // pass, no split tiles and every key block in the dk/dv pass, with the
  // longer half of the tiles split and the dq pass computing dK and dV of
  // every key block whose queries are all in one of its tiles, and with dq
  // computed in the dk/dv pass. Each forced path runs once with the
  // heads interleaved in the grid and once head after head.
  using Choice = UploadOptions::Choice;
  const UploadOptions modes[6] = {
      UploadOptions(),
      UploadOptions{Choice::kOn, Choice::kOn, Choice::kOff, false,
                    Choice::kAuto, Choice::kOn},
      UploadOptions{Choice::kOff, Choice::kOff, Choice::kOff, false,
                    Choice::kAuto, Choice::kOff},
      UploadOptions{Choice::kAuto, Choice::kAuto, Choice::kOn, false,
                    Choice::kOff, Choice::kOff, Choice::kOff},
      UploadOptions{Choice::kAuto, Choice::kAuto, Choice::kOn, false,
                    Choice::kOn, Choice::kOn, Choice::kOn},
      UploadOptions{Choice::kAuto, Choice::kAuto, Choice::kOn, true,
                    Choice::kAuto, Choice::kOff}};
  const char* names[6] = {
      "auto",
      "merged/split, heads interleaved",
      "per-block, head after head",
      "Hopper wgmma, dq pass, no split tiles, no dq-pass keys, head after "
      "head",
      "Hopper wgmma, dq pass, half the tiles split, dq-pass keys wherever "
      "possible, heads interleaved",
      "Hopper wgmma, dq fused into dk/dv, head after head"};
  const bool hopper = HopperAttentionAvailable() && K == 64;
  for (int mode = 0; mode < (hopper ? 6 : 3); ++mode) {
    SCOPED_TRACE(testing::Message() << "decomposition " << names[mode]);
    RunOnGpu(layout, modes[mode], B, H, K, scale, dtype, q, k, v, dout, out_ref,
             lse_ref, dq_ref, dk_ref, dv_ref);
  }
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, BlockSparseAttentionCudaTest,
                         testing::ValuesIn(Params()), ParamName);

// By default a Hopper GPU runs the forward and dq on wgmma, and dk/dv too
// where the column lists are long (dense here), but not for short lists
// (local(64) here); forcing wgmma on a GPU other than a Hopper is an error,
// not a silent fallback. The per-call choices (split tiles, grid order)
// follow the GPU's SM count and L2 size.
TEST(BlockSparseAttentionCudaHopper, ChoiceFollowsTheDevice) {
  ST_REQUIRE_GPU();
  // Column lists of 3 blocks (96 queries) on average.
  auto local = BuildLayout(Config(PatternKind::kLocal, 1024, 32, 64, 1), 0);
  ASSERT_TRUE(local.ok());
  auto short_lists = DeviceAttentionLayout::Upload(**local);
  ASSERT_TRUE(short_lists.ok()) << short_lists.status();
  EXPECT_EQ((*short_lists)->view().hopper_rows, HopperAttentionAvailable());
  EXPECT_FALSE((*short_lists)->view().hopper_cols);

  PatternConfig cfg = Config(PatternKind::kDense, 128, 32, 0, 1);
  auto layout = BuildLayout(cfg, 0);
  ASSERT_TRUE(layout.ok());
  auto dl = DeviceAttentionLayout::Upload(**layout);
  ASSERT_TRUE(dl.ok()) << dl.status();
  EXPECT_EQ((*dl)->view().hopper_rows, HopperAttentionAvailable());
  // 4 key blocks of 32: column lists of 2.5 blocks (80 queries) on average.
  EXPECT_FALSE((*dl)->view().hopper_cols);
  auto long_layout =
      BuildLayout(Config(PatternKind::kDense, 2048, 128, 0, 1), 0);
  ASSERT_TRUE(long_layout.ok());
  auto long_lists = DeviceAttentionLayout::Upload(**long_layout);
  ASSERT_TRUE(long_lists.ok()) << long_lists.status();
  EXPECT_EQ((*long_lists)->view().hopper_cols, HopperAttentionAvailable());
  if (HopperAttentionAvailable()) {
    // 16 tiles of 2..32 steps: for one slab every tile longer than twice the
    // share of an SM (272 steps / SMs) runs as two CTAs; for 1000 slabs none.
    const int sms = DeviceAttribute(cudaDevAttrMultiProcessorCount);
    int longer = 0;
    for (int steps = 2; steps <= 32; steps += 2)
      longer += steps * sms > 2 * 272;
    EXPECT_EQ((*long_lists)->CallView(Shape(1, 1), true).dkv_split_tiles,
              longer);
    EXPECT_EQ((*long_lists)->CallView(Shape(1, 1000), true).dkv_split_tiles, 0);
  }
  // Grid order: dense causal (the longest list twice the mean) interleaves
  // the heads while their K and V (2 x 2048 x 64 x 2 bytes each) fit in the
  // L2 cache together; local lists are even: head after head; the option
  // wins.
  const int l2 = DeviceAttribute(cudaDevAttrL2CacheSize);
  const int fit = l2 / (2 * 2048 * 64 * 2);
  EXPECT_TRUE((*long_lists)->CallView(Shape(2, fit), false).interleave_heads);
  EXPECT_FALSE(
      (*long_lists)->CallView(Shape(1, fit + 1), true).interleave_heads);
  EXPECT_FALSE((*short_lists)->CallView(Shape(1, 8), false).interleave_heads);
  UploadOptions interleaved;
  interleaved.interleave_heads = UploadOptions::Choice::kOn;
  auto forced_order = DeviceAttentionLayout::Upload(**local, interleaved);
  ASSERT_TRUE(forced_order.ok()) << forced_order.status();
  EXPECT_TRUE((*forced_order)->CallView(Shape(1, 8), false).interleave_heads);
  UploadOptions on;
  on.hopper = UploadOptions::Choice::kOn;
  auto forced = DeviceAttentionLayout::Upload(**layout, on);
  if (HopperAttentionAvailable()) {
    ASSERT_TRUE(forced.ok()) << forced.status();
    EXPECT_TRUE((*forced)->view().hopper_cols);
    EXPECT_TRUE((*forced)->view().hopper_rows);
  } else {
    EXPECT_EQ(forced.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

// A forward and backward on a stream of the caller's, captured into a CUDA
// graph and replayed twice, give the same bits as the same calls made
// directly (the backward's programmatic launches and side-stream fork and
// join included: fixed(128, 32) with the longer half of the dk/dv tiles
// split, and local(64), whose short column lists put dk/dv on mma.sync).
TEST(BlockSparseAttentionCudaStreams, GraphReplayMatchesDirectCalls) {
  ST_REQUIRE_GPU();
  PatternConfig fixed = Config(PatternKind::kFixed, 1024, 32, 128, 2);
  fixed.c = 32;
  const PatternConfig local = Config(PatternKind::kLocal, 1024, 32, 64, 2);
  for (const PatternConfig& cfg : {fixed, local}) {
    SCOPED_TRACE(testing::Message()
                 << (cfg.kind == PatternKind::kFixed ? "fixed" : "local"));
    auto layout = BuildLayout(cfg, 0);
    ASSERT_TRUE(layout.ok()) << layout.status();
    UploadOptions options;
    options.dkv_split = UploadOptions::Choice::kOn;
    auto dl = DeviceAttentionLayout::Upload(**layout, options);
    ASSERT_TRUE(dl.ok()) << dl.status();
    const CudaAttentionShape shape = Shape(2, 2);
    const size_t elems = static_cast<size_t>(2) * 2 * cfg.n * 64;
    const size_t rows = static_cast<size_t>(2) * 2 * cfg.n;
    std::mt19937_64 rng(7);
    const size_t tb = elems * 2;
    DeviceBuffer q(tb), k(tb), v(tb), dout(tb), out(tb), dq(tb), dk(tb), dv(tb),
        lse(rows * 4), delta(rows * 4);
    for (void* p : {q.p, k.p, v.p, dout.p}) {
      const HostTensor t = RandomTensor(elems, shape.dtype, &rng);
      ASSERT_EQ(cudaMemcpy(p, t.bits.data(), tb, cudaMemcpyHostToDevice),
                cudaSuccess);
    }
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
              cudaSuccess);
    auto run = [&] {
      absl::Status s =
          BlockSparseAttentionForwardCuda(**dl, shape, q.p, k.p, v.p, out.p,
                                          static_cast<float*>(lse.p), stream);
      if (s.ok()) {
        s = BlockSparseAttentionBackwardCuda(
            **dl, shape, q.p, k.p, v.p, out.p, static_cast<const float*>(lse.p),
            dout.p, dq.p, dk.p, dv.p, static_cast<float*>(delta.p), stream);
      }
      return s;
    };
    auto read = [&] {
      std::vector<uint16_t> all(4 * elems);
      void* outputs[4] = {out.p, dq.p, dk.p, dv.p};
      for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(cudaMemcpy(all.data() + i * elems, outputs[i], tb,
                             cudaMemcpyDeviceToHost),
                  cudaSuccess);
      }
      return all;
    };
    auto poison = [&] {
      for (void* p : {out.p, dq.p, dk.p, dv.p})
        ASSERT_EQ(cudaMemset(p, 0xFF, tb), cudaSuccess);
    };
    ASSERT_TRUE(run().ok());
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const std::vector<uint16_t> direct = read();
    for (uint16_t b : direct) ASSERT_NE(b, 0xFFFF) << "an output unwritten";

    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal),
              cudaSuccess);
    const absl::Status captured = run();
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    ASSERT_TRUE(captured.ok()) << captured;
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int replay = 0; replay < 2; ++replay) {
      poison();
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      EXPECT_TRUE(read() == direct) << "replay " << replay << " differs";
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  }
}

// Bad shapes are errors, not crashes.
TEST(BlockSparseAttentionCudaErrors, RejectsBadShapes) {
  ST_REQUIRE_GPU();
  PatternConfig cfg = Config(PatternKind::kDense, 64, 32, 0, 2);
  auto layout = BuildLayout(cfg, 0);
  ASSERT_TRUE(layout.ok());
  auto dl = DeviceAttentionLayout::Upload(**layout);
  ASSERT_TRUE(dl.ok()) << dl.status();
  DeviceBuffer buf(1 << 16);
  float* f = static_cast<float*>(buf.p);
  CudaAttentionShape shape;
  shape.heads = 3;  // not a multiple of the layout's 2 heads
  EXPECT_EQ(BlockSparseAttentionForwardCuda(**dl, shape, buf.p, buf.p, buf.p,
                                            buf.p, f)
                .code(),
            absl::StatusCode::kInvalidArgument);
  shape.heads = 2;
  shape.head_dim = 48;
  EXPECT_EQ(BlockSparseAttentionForwardCuda(**dl, shape, buf.p, buf.p, buf.p,
                                            buf.p, f)
                .code(),
            absl::StatusCode::kInvalidArgument);
  shape.head_dim = 64;
  EXPECT_EQ(
      BlockSparseAttentionForwardCuda(
          **dl, shape, static_cast<char*>(buf.p) + 2, buf.p, buf.p, buf.p, f)
          .code(),
      absl::StatusCode::kInvalidArgument);
  for (float scale : {0.f, -0.125f, std::numeric_limits<float>::infinity()}) {
    shape.scale = scale;  // the kernels need a positive, finite scale
    const absl::Status s = BlockSparseAttentionForwardCuda(
        **dl, shape, buf.p, buf.p, buf.p, buf.p, f);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << scale;
    EXPECT_NE(s.message().find("scale"), std::string::npos) << s.message();
  }
}

#endif  // ST_WITH_CUDA

}  // namespace
}  // namespace st::attention
