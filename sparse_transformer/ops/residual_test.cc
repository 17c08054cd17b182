#include "sparse_transformer/ops/residual.h"

#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(ResidualTest, HandComputedInPlace) {
  std::vector<double> x = {1, 2, 3};
  const std::vector<double> f = {0.5, -2, 10};
  ResidualForward<double>(3, x.data(), f.data(), x.data());
  EXPECT_EQ(x, (std::vector<double>{1.5, 0, 13}));
  std::vector<double> dx = {1, 1, 1}, df = {0, 0, 0};
  const std::vector<double> dout = {2, 3, 4};
  ResidualBackward<double>(3, dout.data(), dx.data(), df.data());
  EXPECT_EQ(dx, (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(df, dout);
}

TEST(ResidualTest, GradientMatchesFiniteDifferences) {
  const int n = 8;
  auto x = RandomVector(n, 1), f = RandomVector(n, 2), w = RandomVector(n, 3);
  auto loss = [&]() {
    std::vector<double> y(n);
    ResidualForward<double>(n, x.data(), f.data(), y.data());
    return Dot(w, y.data());
  };
  std::vector<double> dx(n, 0.0), df(n, 0.0);
  ResidualBackward<double>(n, w.data(), dx.data(), df.data());
  EXPECT_LT(GradError(dx, NumericalGradient(loss, x.data(), n)), 1e-9);
  EXPECT_LT(GradError(df, NumericalGradient(loss, f.data(), n)), 1e-9);
}

}  // namespace
}  // namespace st::ops
