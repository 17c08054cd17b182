#include "sparse_transformer/ops/dropout.h"

#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(DropoutTest, KeptValuesScaledDroppedZeroAndRateRight) {
  const int n = 100000;
  const double p = 0.25;
  std::vector<double> x(n, 3.0), y(n);
  DropoutForward<double>(9, 1, p, n, x.data(), y.data());
  int dropped = 0;
  for (int i = 0; i < n; ++i) {
    if (y[i] == 0.0) {
      ++dropped;
      EXPECT_FALSE(DropoutKeep(9, 1, p, i));
    } else {
      EXPECT_DOUBLE_EQ(y[i], 4.0);  // 3 / (1 - 0.25)
      EXPECT_TRUE(DropoutKeep(9, 1, p, i));
    }
  }
  // Binomial(1e5, 0.25): standard deviation 137.
  EXPECT_NEAR(dropped, 25000, 700);
}

TEST(DropoutTest, MaskReproducedFromSeedAndSiteOnly) {
  const int n = 1000;
  auto x = RandomVector(n, 1);
  std::vector<float> xf(x.begin(), x.end()), a(n), b(n), c(n), d(n);
  DropoutForward<float>(5, 3, 0.5, n, xf.data(), a.data());
  DropoutForward<float>(5, 3, 0.5, n, xf.data(), b.data());
  DropoutForward<float>(6, 3, 0.5, n, xf.data(), c.data());
  DropoutForward<float>(5, 4, 0.5, n, xf.data(), d.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  // Zero rate is the identity.
  DropoutForward<float>(5, 3, 0.0, n, xf.data(), c.data());
  EXPECT_EQ(c, xf);
}

TEST(DropoutTest, GradientMatchesFiniteDifferences) {
  const int n = 50;
  auto x = RandomVector(n, 1), w = RandomVector(n, 2);
  auto loss = [&]() {
    std::vector<double> y(n);
    DropoutForward<double>(11, 2, 0.3, n, x.data(), y.data());
    return Dot(w, y.data());
  };
  std::vector<double> dx(n);
  DropoutBackward<double>(11, 2, 0.3, n, w.data(), dx.data());
  EXPECT_LT(GradError(dx, NumericalGradient(loss, x.data(), n)), 1e-9);
}

}  // namespace
}  // namespace st::ops
