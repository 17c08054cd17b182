// CPU attention: hand-computed values, block-sparse == dense-masked for every
// pattern, finite-difference gradients in double, single-key and empty rows.
#include "sparse_transformer/attention/attention_cpu.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace st::attention {
namespace {

template <typename T>
std::vector<T> Random(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<T> out(size);
  for (auto& x : out) x = static_cast<T>(dist(rng));
  return out;
}

std::shared_ptr<const AttentionLayout> Build(const PatternConfig& config,
                                             int layer = 0) {
  auto layout = BuildLayout(config, layer);
  EXPECT_TRUE(layout.ok()) << layout.status();
  return layout.value();
}

// All results of one forward + backward.
template <typename T>
struct Results {
  std::vector<T> out, lse, dq, dk, dv;
};

template <typename T>
Results<T> RunAttention(bool sparse, const AttentionLayout& layout, int batch,
                        int kqk, int kv, T scale, const std::vector<T>& q,
                        const std::vector<T>& k, const std::vector<T>& v,
                        const std::vector<T>& dout) {
  const size_t rows = static_cast<size_t>(batch) * layout.heads() * layout.n();
  Results<T> r;
  r.out.assign(rows * kv, T(7));  // garbage: every value must be written
  r.lse.assign(rows, T(7));
  r.dq.assign(rows * kqk, T(7));
  r.dk.assign(rows * kqk, T(7));
  r.dv.assign(rows * kv, T(7));
  if (sparse) {
    BlockSparseAttentionForward<T>(layout, batch, kqk, kv, scale, q.data(),
                                   k.data(), v.data(), r.out.data(),
                                   r.lse.data());
    BlockSparseAttentionBackward<T>(layout, batch, kqk, kv, scale, q.data(),
                                    k.data(), v.data(), r.out.data(),
                                    r.lse.data(), dout.data(), r.dq.data(),
                                    r.dk.data(), r.dv.data());
  } else {
    DenseMaskedAttentionForward<T>(layout, batch, kqk, kv, scale, q.data(),
                                   k.data(), v.data(), r.out.data(),
                                   r.lse.data());
    DenseMaskedAttentionBackward<T>(layout, batch, kqk, kv, scale, q.data(),
                                    k.data(), v.data(), r.out.data(),
                                    r.lse.data(), dout.data(), r.dq.data(),
                                    r.dk.data(), r.dv.data());
  }
  return r;
}

template <typename T>
void ExpectNear(const std::vector<T>& got, const std::vector<T>& want,
                double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      ASSERT_EQ(got[i], want[i]) << what << "[" << i << "]";
      continue;
    }
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i])))
        << what << "[" << i << "]";
  }
}

std::vector<PatternConfig> Patterns() {
  std::vector<PatternConfig> out;
  PatternConfig base;
  base.n = 256;
  base.block = 16;
  base.stride = 32;
  base.heads = 2;
  base.kind = PatternKind::kDense;
  out.push_back(base);
  base.kind = PatternKind::kLocal;
  out.push_back(base);
  for (HeadMode mode :
       {HeadMode::kMerged, HeadMode::kInterleaved, HeadMode::kSplit}) {
    PatternConfig s = base;
    s.kind = PatternKind::kStrided;
    s.head_mode = mode;
    out.push_back(s);
    if (mode == HeadMode::kMerged) {
      s.part = PatternPart::kSecond;
      out.push_back(s);
    }
    s.strided_transposed = true;  // n/l = 8: needs block 16 -> use l = 16
    s.stride = 16;
    out.push_back(s);
    PatternConfig f = base;
    f.kind = PatternKind::kFixed;
    f.c = 8;  // narrower than a block: explicit column masks
    f.head_mode = mode;
    f.heads = 3;
    f.distinct_summaries = true;
    out.push_back(f);
    f.c = 16;
    f.distinct_summaries = false;
    out.push_back(f);
    if (mode == HeadMode::kMerged) {
      f.part = PatternPart::kSecond;  // has rows with no live key
      out.push_back(f);
    }
  }
  // Rows and columns longer than one chunk of key / query blocks (16).
  PatternConfig long_dense = base;
  long_dense.kind = PatternKind::kDense;
  long_dense.n = 512;
  out.push_back(long_dense);
  PatternConfig long_fixed = long_dense;
  long_fixed.kind = PatternKind::kFixed;
  long_fixed.stride = 64;
  long_fixed.c = 8;
  long_fixed.heads = 2;
  long_fixed.distinct_summaries = true;
  out.push_back(long_fixed);
  return out;
}

std::string Name(const PatternConfig& c, int layer) {
  return absl::StrCat(PatternKindName(c.kind), "/", HeadModeName(c.head_mode),
                      "/", PatternPartName(c.part), " l=", c.stride, " c=", c.c,
                      " T=", c.strided_transposed, " layer=", layer);
}

template <typename T>
void CompareSparseWithDense(double tol) {
  const int batch = 2, kqk = 8, kv = 6;
  for (const PatternConfig& config : Patterns()) {
    for (int layer : {0, 1}) {
      auto layout = Build(config, layer);
      const size_t rows = static_cast<size_t>(batch) * config.heads * config.n;
      const auto q = Random<T>(rows * kqk, 1);
      const auto k = Random<T>(rows * kqk, 2);
      const auto v = Random<T>(rows * kv, 3);
      const auto dout = Random<T>(rows * kv, 4);
      const T scale = T(1) / std::sqrt(T(kqk));
      const auto dense =
          RunAttention<T>(false, *layout, batch, kqk, kv, scale, q, k, v, dout);
      const auto sparse =
          RunAttention<T>(true, *layout, batch, kqk, kv, scale, q, k, v, dout);
      const std::string name = Name(config, layer);
      ExpectNear(sparse.out, dense.out, tol, name + " out");
      ExpectNear(sparse.lse, dense.lse, tol, name + " lse");
      ExpectNear(sparse.dq, dense.dq, tol, name + " dq");
      ExpectNear(sparse.dk, dense.dk, tol, name + " dk");
      ExpectNear(sparse.dv, dense.dv, tol, name + " dv");
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(CpuAttentionTest, BlockSparseEqualsDenseMaskedDouble) {
  CompareSparseWithDense<double>(1e-11);
}

TEST(CpuAttentionTest, BlockSparseEqualsDenseMaskedFloat) {
  CompareSparseWithDense<float>(2e-5);
}

// q = 0 makes every live score equal: out_i is the mean of v over i's keys
// and lse_i = log(#keys). Dense causal over 32 positions, one head.
TEST(CpuAttentionTest, HandComputedUniformAttention) {
  PatternConfig config;
  config.n = 32;
  config.block = 16;
  auto layout = Build(config);
  const int n = 32;
  std::vector<double> q(n, 0.0), k(n), v(n), out(n), lse(n);
  for (int i = 0; i < n; ++i) {
    k[i] = i;      // ignored: q = 0
    v[i] = i + 1;  // mean of 1..i+1 = (i+2)/2
  }
  for (bool sparse : {false, true}) {
    if (sparse) {
      BlockSparseAttentionForward<double>(*layout, 1, 1, 1, 1.0, q.data(),
                                          k.data(), v.data(), out.data(),
                                          lse.data());
    } else {
      DenseMaskedAttentionForward<double>(*layout, 1, 1, 1, 1.0, q.data(),
                                          k.data(), v.data(), out.data(),
                                          lse.data());
    }
    for (int i = 0; i < n; ++i) {
      EXPECT_NEAR(out[i], (i + 2) / 2.0, 1e-12) << i;
      EXPECT_NEAR(lse[i], std::log(i + 1.0), 1e-12) << i;
    }
  }
  // Two keys with scores 0 and log 3 (q=1, k=(0, log 3)): weights 1/4, 3/4.
  std::vector<double> q2(32, 1.0), k2(32, 0.0), v2(32, 0.0);
  k2[1] = std::log(3.0);
  v2[0] = 4.0;
  v2[1] = 8.0;
  BlockSparseAttentionForward<double>(*layout, 1, 1, 1, 1.0, q2.data(),
                                      k2.data(), v2.data(), out.data(),
                                      lse.data());
  EXPECT_NEAR(out[1], 0.25 * 4 + 0.75 * 8, 1e-12);
  EXPECT_NEAR(lse[1], std::log(4.0), 1e-12);
}

// Finite differences of L = sum(out * G) in double.
TEST(CpuAttentionTest, GradientsMatchFiniteDifferences) {
  PatternConfig fixed;
  fixed.kind = PatternKind::kFixed;
  fixed.n = 64;
  fixed.block = 16;
  fixed.stride = 32;
  fixed.c = 8;
  fixed.heads = 2;
  fixed.distinct_summaries = true;
  PatternConfig strided = fixed;
  strided.kind = PatternKind::kStrided;
  strided.c = 0;
  strided.distinct_summaries = false;
  strided.stride = 16;
  strided.head_mode = HeadMode::kSplit;
  strided.strided_transposed = true;
  strided.n = 256;
  PatternConfig dense = fixed;
  dense.kind = PatternKind::kDense;
  dense.distinct_summaries = false;
  PatternConfig long_dense = dense;  // 20 key blocks per row: two chunks
  long_dense.n = 320;
  long_dense.heads = 1;
  for (const PatternConfig& config : {fixed, strided, dense, long_dense}) {
    auto layout = Build(config);
    const int batch = 1, kqk = 4, kv = 3;
    const size_t rows = static_cast<size_t>(batch) * config.heads * config.n;
    auto q = Random<double>(rows * kqk, 11);
    auto k = Random<double>(rows * kqk, 12);
    auto v = Random<double>(rows * kv, 13);
    const auto g = Random<double>(rows * kv, 14);
    const double scale = 0.7;
    auto loss = [&]() {
      std::vector<double> out(rows * kv), lse(rows);
      BlockSparseAttentionForward<double>(*layout, batch, kqk, kv, scale,
                                          q.data(), k.data(), v.data(),
                                          out.data(), lse.data());
      double total = 0;
      for (size_t i = 0; i < out.size(); ++i) total += out[i] * g[i];
      return total;
    };
    const auto r =
        RunAttention<double>(true, *layout, batch, kqk, kv, scale, q, k, v, g);
    std::mt19937 rng(5);
    struct Tensor {
      std::vector<double>* x;
      const std::vector<double>* grad;
      const char* name;
    };
    for (const Tensor& t : {Tensor{&q, &r.dq, "dq"}, Tensor{&k, &r.dk, "dk"},
                            Tensor{&v, &r.dv, "dv"}}) {
      std::uniform_int_distribution<size_t> pick(0, t.x->size() - 1);
      double max_grad = 0;
      for (int trial = 0; trial < 40; ++trial) {
        const size_t i = pick(rng);
        const double x0 = (*t.x)[i];
        const double eps = 1e-5;
        (*t.x)[i] = x0 + eps;
        const double up = loss();
        (*t.x)[i] = x0 - eps;
        const double down = loss();
        (*t.x)[i] = x0;
        const double numeric = (up - down) / (2 * eps);
        EXPECT_NEAR((*t.grad)[i], numeric, 1e-7 * (1 + std::abs(numeric)))
            << PatternKindName(config.kind) << " " << t.name << "[" << i << "]";
        max_grad = std::max(max_grad, std::abs(numeric));
      }
      EXPECT_GT(max_grad, 1e-3) << t.name;  // the check saw real gradients
    }
  }
}

// strided A2 alone: query i < l has exactly one key (itself), so out_i = v_i,
// lse_i = scale * q_i . k_i, and no gradient reaches q_i or k_i.
TEST(CpuAttentionTest, RowsWithASingleLiveKey) {
  PatternConfig config;
  config.kind = PatternKind::kStrided;
  config.n = 256;
  config.block = 16;
  config.stride = 16;
  config.part = PatternPart::kSecond;
  config.strided_transposed = true;
  auto layout = Build(config);
  const int kqk = 4, kv = 3;
  const auto q = Random<double>(256 * kqk, 21);
  const auto k = Random<double>(256 * kqk, 22);
  const auto v = Random<double>(256 * kv, 23);
  const auto dout = Random<double>(256 * kv, 24);
  const auto r =
      RunAttention<double>(true, *layout, 1, kqk, kv, 0.5, q, k, v, dout);
  for (int i = 0; i < 16; ++i) {
    double dot = 0;
    for (int d = 0; d < kqk; ++d) dot += q[i * kqk + d] * k[i * kqk + d];
    EXPECT_NEAR(r.lse[i], 0.5 * dot, 1e-12);
    for (int d = 0; d < kv; ++d) {
      EXPECT_NEAR(r.out[i * kv + d], v[i * kv + d], 1e-12);
    }
    for (int d = 0; d < kqk; ++d) EXPECT_NEAR(r.dq[i * kqk + d], 0.0, 1e-12);
  }
  // Row 16 has two keys (0 and 16): not a copy of v.
  EXPECT_GT(std::abs(r.out[16 * kv] - v[16 * kv]), 1e-6);
}

// fixed A2 alone: queries at offsets < l - c of the first l-block see no key.
TEST(CpuAttentionTest, RowsWithNoLiveKeyAreZero) {
  PatternConfig config;
  config.kind = PatternKind::kFixed;
  config.n = 64;
  config.block = 16;
  config.stride = 32;
  config.c = 16;
  config.part = PatternPart::kSecond;
  auto layout = Build(config);
  const int kqk = 4, kv = 3;
  const auto q = Random<double>(64 * kqk, 31);
  const auto k = Random<double>(64 * kqk, 32);
  const auto v = Random<double>(64 * kv, 33);
  const auto dout = Random<double>(64 * kv, 34);
  for (bool sparse : {false, true}) {
    const auto r =
        RunAttention<double>(sparse, *layout, 1, kqk, kv, 1.0, q, k, v, dout);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(r.lse[i], -std::numeric_limits<double>::infinity());
      for (int d = 0; d < kv; ++d) EXPECT_EQ(r.out[i * kv + d], 0.0);
      for (int d = 0; d < kqk; ++d) EXPECT_EQ(r.dq[i * kqk + d], 0.0);
    }
    for (double x : r.dq) ASSERT_TRUE(std::isfinite(x));
    for (double x : r.dk) ASSERT_TRUE(std::isfinite(x));
    EXPECT_TRUE(std::isfinite(r.lse[16]));
  }
}

// The thread count changes only who computes a block, never the result.
TEST(CpuAttentionTest, ThreadCountDoesNotChangeResults) {
  PatternConfig config;
  config.kind = PatternKind::kFixed;
  config.n = 512;
  config.block = 32;
  config.stride = 128;
  config.c = 32;
  config.heads = 2;
  auto layout = Build(config);
  const int kqk = 8, kv = 8;
  const size_t rows = 2 * 512;
  const auto q = Random<float>(rows * kqk, 41);
  const auto k = Random<float>(rows * kqk, 42);
  const auto v = Random<float>(rows * kv, 43);
  const auto dout = Random<float>(rows * kv, 44);
  SetCpuAttentionThreads(1);
  const auto one =
      RunAttention<float>(true, *layout, 1, kqk, kv, 0.3f, q, k, v, dout);
  SetCpuAttentionThreads(4);
  const auto four =
      RunAttention<float>(true, *layout, 1, kqk, kv, 0.3f, q, k, v, dout);
  SetCpuAttentionThreads(0);
  EXPECT_EQ(one.out, four.out);
  EXPECT_EQ(one.dq, four.dq);
  EXPECT_EQ(one.dk, four.dk);
  EXPECT_EQ(one.dv, four.dv);
}

TEST(CpuAttentionTest, ContextNotAMultipleOfStrideIsRejected) {
  PatternConfig config;
  config.kind = PatternKind::kStrided;
  config.n = 96;
  config.block = 16;
  config.stride = 64;
  auto layout = BuildLayout(config, 0);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(std::string(layout.status().message()),
            "pattern strided: n=96 is not a multiple of stride (l)=64");
}

}  // namespace
}  // namespace st::attention
