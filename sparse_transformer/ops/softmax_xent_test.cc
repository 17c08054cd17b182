#include "sparse_transformer/ops/softmax_xent.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(SoftmaxXentTest, UniformLogitsGiveLog256) {
  std::vector<double> z(2 * kVocab, 0.0), loss(2), p(2 * kVocab);
  const uint8_t t[2] = {0, 255};
  SoftmaxCrossEntropyForward<double>(2, kVocab, z.data(), t, loss.data(),
                                     p.data());
  EXPECT_NEAR(loss[0], std::log(256.0), 1e-14);
  EXPECT_NEAR(loss[1], std::log(256.0), 1e-14);
  EXPECT_NEAR(p[17], 1.0 / 256, 1e-16);
}

TEST(SoftmaxXentTest, HandComputedSmallVocab) {
  // logits [0, ln 2, ln 5] -> probabilities [1/8, 2/8, 5/8].
  std::vector<double> z = {0, std::log(2.0), std::log(5.0)}, loss(1), p(3);
  const uint8_t t[1] = {1};
  SoftmaxCrossEntropyForward<double>(1, 3, z.data(), t, loss.data(), p.data());
  EXPECT_NEAR(loss[0], std::log(4.0), 1e-14);
  EXPECT_NEAR(p[2], 5.0 / 8, 1e-15);
  std::vector<double> dz(3);
  SoftmaxCrossEntropyBackward<double>(1, 3, p.data(), t, 2.0, dz.data());
  EXPECT_NEAR(dz[0], 2.0 / 8, 1e-15);
  EXPECT_NEAR(dz[1], 2.0 * (2.0 / 8 - 1), 1e-15);
  EXPECT_NEAR(dz[2], 10.0 / 8, 1e-15);
  // Large logits do not overflow (max subtracted).
  std::vector<float> big = {1000.f, 1000.f}, lb(1), pb(2);
  const uint8_t t0[1] = {0};
  SoftmaxCrossEntropyForward<float>(1, 2, big.data(), t0, lb.data(), pb.data());
  EXPECT_NEAR(lb[0], std::log(2.0), 1e-6);
}

TEST(SoftmaxXentTest, GradientMatchesFiniteDifferences) {
  const int m = 3;
  auto z = RandomVector(m * kVocab, 1, 2.0);
  const uint8_t t[m] = {3, 200, 77};
  const double scale = 0.7;
  auto loss = [&]() {
    std::vector<double> l(m);
    SoftmaxCrossEntropyForward<double>(m, kVocab, z.data(), t, l.data(),
                                       nullptr);
    return scale * (l[0] + l[1] + l[2]);
  };
  std::vector<double> l(m), p(m * kVocab), dz(m * kVocab);
  SoftmaxCrossEntropyForward<double>(m, kVocab, z.data(), t, l.data(),
                                     p.data());
  SoftmaxCrossEntropyBackward<double>(m, kVocab, p.data(), t, scale, dz.data());
  EXPECT_LT(GradError(dz, NumericalGradient(loss, z.data(), m * kVocab)), 1e-8);
}

}  // namespace
}  // namespace st::ops
