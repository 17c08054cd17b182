#include "sparse_transformer/train/optimizer.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/train/schedule.h"

namespace st::train {
namespace {

using ::testing::HasSubstr;

std::vector<ParamGroup> TwoGroups() {
  // A 2x2 matrix (decayed) and a 2-vector (not decayed).
  return {{"w", {2, 2}, 0, 4, true}, {"b", {2}, 4, 2, false}};
}

TEST(AdamTest, FirstStepMovesByLrTimesSignAndDecaysMatricesOnly) {
  AdamConfig config;
  config.weight_decay = 0.1f;
  Adam adam(6, config);
  std::vector<float> p = {1, -2, 3, 0.5, 1, -1};
  std::vector<float> g = {0.5, -0.25, 2, 0, 4, -3};
  ASSERT_TRUE(adam.Step(absl::MakeSpan(p), g, TwoGroups(), 0.01f, 1.0f).ok());
  // Step 1: m_hat = g, v_hat = g^2, so the Adam part is lr*g/(|g|+eps).
  // Decay on the matrix: p * (1 - 0.01*0.1) = p * 0.999.
  EXPECT_NEAR(p[0], 1 * 0.999 - 0.01, 1e-6);
  EXPECT_NEAR(p[1], -2 * 0.999 + 0.01, 1e-6);
  EXPECT_NEAR(p[2], 3 * 0.999 - 0.01, 1e-6);
  EXPECT_NEAR(p[3], 0.5 * 0.999, 1e-6);  // zero gradient: decay only
  EXPECT_NEAR(p[4], 1 - 0.01, 1e-6);     // bias: no decay
  EXPECT_NEAR(p[5], -1 + 0.01, 1e-6);
  EXPECT_EQ(adam.steps(), 1);
  EXPECT_NEAR(adam.m()[4], 0.1 * 4, 1e-6);
  EXPECT_NEAR(adam.v()[4], 0.001 * 16, 1e-6);
}

TEST(AdamTest, MatchesDoubleReferenceOverSeveralStepsWithGradScale) {
  AdamConfig config;
  config.beta1 = 0.8f;
  config.beta2 = 0.95f;
  config.eps = 1e-3f;
  config.weight_decay = 0.5f;
  Adam adam(6, config);
  std::vector<float> p = {1, -2, 3, 0.5, 1, -1};
  std::vector<double> ref(p.begin(), p.end()), m(6, 0), v(6, 0);
  const float lrs[3] = {0.1f, 0.05f, 0.2f};
  for (int t = 1; t <= 3; ++t) {
    std::vector<float> g(6);
    for (int i = 0; i < 6; ++i) g[i] = std::sin(1.0 + i * t);
    const float scale = 0.5f;
    ASSERT_TRUE(
        adam.Step(absl::MakeSpan(p), g, TwoGroups(), lrs[t - 1], scale).ok());
    for (int i = 0; i < 6; ++i) {
      const double gi = g[i] * 0.5;
      m[i] = 0.8 * m[i] + 0.2 * gi;
      v[i] = 0.95 * v[i] + 0.05 * gi * gi;
      const double mh = m[i] / (1 - std::pow(0.8, t));
      const double vh = v[i] / (1 - std::pow(0.95, t));
      if (i < 4) ref[i] *= 1 - lrs[t - 1] * 0.5;
      ref[i] -= lrs[t - 1] * mh / (std::sqrt(vh) + 1e-3);
    }
  }
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(p[i], ref[i], 1e-5) << i;
}

TEST(AdamTest, RejectsWrongSizes) {
  Adam adam(6, AdamConfig());
  std::vector<float> p(5), g(6);
  absl::Status s = adam.Step(absl::MakeSpan(p), g, TwoGroups(), 0.1f, 1.0f);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("params 5"));
}

TEST(ValidateParamGroupsTest, FindsGapsOverlapsAndBadSizes) {
  EXPECT_TRUE(ValidateParamGroups(TwoGroups(), 6).ok());
  EXPECT_FALSE(ValidateParamGroups(TwoGroups(), 7).ok());
  auto gap = TwoGroups();
  gap[1].offset = 5;
  EXPECT_THAT(std::string(ValidateParamGroups(gap, 7).message()),
              HasSubstr("'b' starts at 5"));
  auto bad = TwoGroups();
  bad[0].shape = {3, 2};
  EXPECT_THAT(std::string(ValidateParamGroups(bad, 6).message()),
              HasSubstr("not the product"));
}

TEST(ScheduleTest, LinearWarmupThenCosineToZero) {
  EXPECT_FLOAT_EQ(WarmupCosineLr(0, 1.0f, 4, 104), 0.25f);
  EXPECT_FLOAT_EQ(WarmupCosineLr(3, 1.0f, 4, 104), 1.0f);
  EXPECT_FLOAT_EQ(WarmupCosineLr(4, 1.0f, 4, 104), 1.0f);
  EXPECT_NEAR(WarmupCosineLr(54, 1.0f, 4, 104), 0.5f, 1e-6);
  EXPECT_NEAR(WarmupCosineLr(29, 2.0f, 4, 104),
              2.0 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-6);
  EXPECT_NEAR(WarmupCosineLr(103, 1.0f, 4, 104),
              0.5 * (1 + std::cos(M_PI * 0.99)), 1e-6);
  EXPECT_EQ(WarmupCosineLr(104, 1.0f, 4, 104), 0.0f);
  // No warmup: the first step has the full rate.
  EXPECT_FLOAT_EQ(WarmupCosineLr(0, 3.0f, 0, 10), 3.0f);
  // Monotone non-increasing after warmup.
  for (int s = 4; s < 103; ++s) {
    EXPECT_GE(WarmupCosineLr(s, 1.0f, 4, 104),
              WarmupCosineLr(s + 1, 1.0f, 4, 104));
  }
}

TEST(ClipTest, GlobalNormAndFactor) {
  std::vector<float> g = {3, 0, -4};
  EXPECT_DOUBLE_EQ(GlobalNorm(g), 5.0);
  EXPECT_FLOAT_EQ(ClipFactor(5.0, 1.0f), 0.2f);
  EXPECT_FLOAT_EQ(ClipFactor(0.5, 1.0f), 1.0f);
  EXPECT_FLOAT_EQ(ClipFactor(5.0, 0.0f), 1.0f);  // clipping off
  g[1] = INFINITY;
  EXPECT_FALSE(std::isfinite(GlobalNorm(g)));
  g[1] = NAN;
  EXPECT_FALSE(std::isfinite(GlobalNorm(g)));
}

TEST(DynamicLossScalerTest, HalvesAndSkipsOnOverflowDoublesAfterCleanSteps) {
  DynamicLossScaler scaler(1024.0f, /*growth_interval=*/3,
                           /*min_scale=*/256.0f);
  EXPECT_TRUE(scaler.Update(true));
  EXPECT_TRUE(scaler.Update(true));
  EXPECT_EQ(scaler.scale(), 1024.0f);
  EXPECT_TRUE(scaler.Update(true));  // third clean step in a row: double
  EXPECT_EQ(scaler.scale(), 2048.0f);
  EXPECT_EQ(scaler.clean_steps(), 0);
  EXPECT_TRUE(scaler.Update(true));
  EXPECT_TRUE(scaler.Update(true));
  EXPECT_FALSE(scaler.Update(false));  // overflow: skip, halve, restart count
  EXPECT_EQ(scaler.scale(), 1024.0f);
  EXPECT_EQ(scaler.clean_steps(), 0);
  EXPECT_FALSE(scaler.Update(false));
  EXPECT_FALSE(scaler.Update(false));
  EXPECT_FALSE(scaler.Update(false));  // floor at min_scale
  EXPECT_EQ(scaler.scale(), 256.0f);
  scaler.Restore(4096.0f, 2);
  EXPECT_TRUE(scaler.Update(true));
  EXPECT_EQ(scaler.scale(), 8192.0f);
}

}  // namespace
}  // namespace st::train
