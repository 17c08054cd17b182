#include "sparse_transformer/ops/gelu.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(GeluTest, HandComputed) {
  const std::vector<double> x = {0.0, 1.0, -1.0, 2.0};
  std::vector<double> y(4);
  GeluForward<double>(4, x.data(), y.data());
  EXPECT_EQ(y[0], 0.0);
  // sigmoid(1.702) = 1 / (1 + e^-1.702) = 0.8457958...
  EXPECT_NEAR(y[1], 0.8457958, 1e-7);
  // x s(ax) - (-x) s(-ax) = x: y(1) - y(-1) = 1.
  EXPECT_NEAR(y[1] - y[2], 1.0, 1e-15);
  EXPECT_NEAR(y[3], 2.0 / (1.0 + std::exp(-3.404)), 1e-15);
  // Slope at 0 is s(0) = 1/2.
  std::vector<double> dx(1), dy = {1.0};
  GeluBackward<double>(1, x.data(), dy.data(), dx.data());
  EXPECT_DOUBLE_EQ(dx[0], 0.5);
}

TEST(GeluTest, GradientMatchesFiniteDifferences) {
  const int n = 20;
  auto x = RandomVector(n, 1, 3.0), w = RandomVector(n, 2);
  auto loss = [&]() {
    std::vector<double> y(n);
    GeluForward<double>(n, x.data(), y.data());
    return Dot(w, y.data());
  };
  std::vector<double> dx(n);
  GeluBackward<double>(n, x.data(), w.data(), dx.data());
  EXPECT_LT(GradError(dx, NumericalGradient(loss, x.data(), n)), 1e-8);
}

}  // namespace
}  // namespace st::ops
