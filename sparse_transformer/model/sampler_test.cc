#include "sparse_transformer/model/sampler.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/core/rng.h"

namespace st::model {
namespace {

using attention::HeadMode;
using attention::PatternKind;

ModelConfig Tiny(PatternKind kind, HeadMode mode) {
  ModelConfig c;
  c.n_layer = 2;
  c.d_model = 8;
  c.n_head = 2;
  c.ff_multiple = 2.0;
  c.qk_ratio = 0.5;
  c.resid_dropout = 0.3;  // must not apply when sampling
  c.embedding_stride = 16;
  c.pattern.kind = kind;
  c.pattern.n = 64;
  c.pattern.block = 16;
  c.pattern.heads = 2;
  c.pattern.head_mode = mode;
  if (kind != PatternKind::kDense) c.pattern.stride = 16;
  if (kind == PatternKind::kFixed) {
    c.pattern.stride = 32;
    c.pattern.c = 16;
  }
  return c;
}

std::unique_ptr<SparseTransformer<double>> RandomModel(const ModelConfig& c) {
  auto made = SparseTransformer<double>::Create(c);
  EXPECT_TRUE(made.ok()) << made.status();
  auto m = std::move(made).value();
  CounterRng rng(3, 3);
  auto p = m->params();
  for (size_t i = 0; i < p.size(); ++i) p[i] = 0.3 * rng.Normal(i);
  return m;
}

// Cached single-position steps reproduce the full forward pass's logits at
// every position, and each step touches exactly the live keys of its query.
void ExpectStepsMatchFullForward(const ModelConfig& c) {
  auto m = RandomModel(c);
  const int64_t n = m->context();
  std::vector<uint8_t> in(n), tgt(n, 0);
  CounterRng rng(4, 4);
  for (int64_t i = 0; i < n; ++i) in[i] = static_cast<uint8_t>(rng.Bits(i));
  std::vector<double> losses(n), logits(n * 256);
  m->Loss(in.data(), tgt.data(), 1, losses.data(), logits.data());
  std::vector<std::vector<uint8_t>> masks;
  for (int l = 0; l < c.n_layer; ++l) {
    for (int h = 0; h < c.n_head; ++h)
      masks.push_back(m->layout(l).DenseMask(h));
  }
  Sampler<double> s(*m);
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<double>& z = s.Step(in[t]);
    for (int j = 0; j < 256; ++j) {
      ASSERT_NEAR(z[j], logits[t * 256 + j], 1e-10) << "t=" << t << " j=" << j;
    }
    int64_t live = 0;
    for (const auto& mask : masks) {
      for (int64_t j = 0; j < n; ++j) live += mask[t * n + j];
    }
    ASSERT_EQ(s.last_step_keys(), live) << "t=" << t;
  }
  EXPECT_EQ(s.length(), n);
}

TEST(SamplerTest, DenseStepsMatchFullForward) {
  ExpectStepsMatchFullForward(Tiny(PatternKind::kDense, HeadMode::kMerged));
}
TEST(SamplerTest, StridedSplitStepsMatchFullForward) {
  ExpectStepsMatchFullForward(Tiny(PatternKind::kStrided, HeadMode::kSplit));
}
TEST(SamplerTest, StridedTransposedStepsMatchFullForward) {
  ModelConfig c = Tiny(PatternKind::kStrided, HeadMode::kInterleaved);
  c.pattern.n = 256;
  c.pattern.strided_transposed = true;
  ExpectStepsMatchFullForward(c);
}
TEST(SamplerTest, FixedDistinctSummariesStepsMatchFullForward) {
  ModelConfig c = Tiny(PatternKind::kFixed, HeadMode::kSplit);
  c.pattern.distinct_summaries = true;
  ExpectStepsMatchFullForward(c);
}

TEST(SamplerTest, StepCostFollowsLiveKeysNotContext) {
  // Local pattern, l = 16: a late query sees at most 16 keys per head.
  ModelConfig c = Tiny(PatternKind::kLocal, HeadMode::kMerged);
  c.pattern.n = 512;
  auto m = RandomModel(c);
  Sampler<double> s(*m);
  for (int t = 0; t < 500; ++t) s.Step(static_cast<uint8_t>(t));
  EXPECT_EQ(s.last_step_keys(), 2 * 2 * 16);  // layers * heads * l
}

TEST(SampleBytesTest, DeterministicGreedyAndErrors) {
  auto m = RandomModel(Tiny(PatternKind::kFixed, HeadMode::kMerged));
  auto a = SampleBytes(*m, {1, 2, 3}, 20, 1.0, 7);
  auto b = SampleBytes(*m, {1, 2, 3}, 20, 1.0, 7);
  auto c = SampleBytes(*m, {1, 2, 3}, 20, 1.0, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->size(), 20u);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  // Greedy: every byte is the argmax of the logits after the previous one.
  auto g = SampleBytes(*m, {9}, 10, 0.0, 1);
  ASSERT_TRUE(g.ok());
  Sampler<double> s(*m);
  uint8_t prev = 9;
  for (uint8_t byte : *g) {
    const auto& z = s.Step(prev);
    int best = 0;
    for (int j = 1; j < 256; ++j) {
      if (z[j] > z[best]) best = j;
    }
    EXPECT_EQ(byte, best);
    prev = byte;
  }
  EXPECT_FALSE(SampleBytes(*m, {}, 5, 1.0, 1).ok());
  EXPECT_FALSE(SampleBytes(*m, {1}, 5, -1.0, 1).ok());
  auto too_long = SampleBytes(*m, {1, 2}, 64, 1.0, 1);  // needs 65 > 64
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(std::string(too_long.status().message()).find("context is 64"),
            std::string::npos);
  EXPECT_TRUE(SampleBytes(*m, {1, 2}, 63, 1.0, 1).ok());
}

TEST(SampleBytesTest, FrequenciesFollowTemperedSoftmax) {
  // Zero every weight: the logits are the output bias alone, so each draw
  // is from softmax(b / temperature) whatever the context.
  auto made = SparseTransformer<double>::Create(
      Tiny(PatternKind::kDense, HeadMode::kMerged));
  ASSERT_TRUE(made.ok());
  auto& m = **made;
  for (auto& p : m.params()) p = 0;
  double* b = &m.params()[m.b_out_offset()];
  for (int j = 0; j < 256; ++j) b[j] = -40;
  b[10] = std::log(2.0);
  b[20] = 0;
  b[30] = 0;
  for (double temperature : {1.0, 2.0}) {
    // p(10) = 2^(1/T) / (2^(1/T) + 2).
    const double p10 =
        std::pow(2.0, 1 / temperature) / (std::pow(2.0, 1 / temperature) + 2);
    int count10 = 0, total = 0;
    for (uint64_t seed = 0; seed < 64; ++seed) {
      auto s = SampleBytes(m, {0}, 64, temperature, seed);
      ASSERT_TRUE(s.ok());
      for (uint8_t x : *s) {
        ASSERT_TRUE(x == 10 || x == 20 || x == 30);
        count10 += x == 10;
        ++total;
      }
    }
    // 4096 draws: standard error of the frequency <= 0.008.
    EXPECT_NEAR(double(count10) / total, p10, 0.03) << temperature;
  }
}

}  // namespace
}  // namespace st::model
