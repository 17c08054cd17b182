#include "sparse_transformer/ops/layernorm.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(LayerNormTest, HandComputed) {
  // Row [1, 2, 3, 6]: mean 3, variance (4+1+0+9)/4 = 3.5.
  const std::vector<double> x = {1, 2, 3, 6};
  const std::vector<double> g = {1, 2, 1, 1}, b = {0, 0, 1, 0};
  std::vector<double> y(4), mean(1), rstd(1);
  LayerNormForward<double>(1, 4, 0.0, x.data(), g.data(), b.data(), y.data(),
                           mean.data(), rstd.data());
  const double r = 1 / std::sqrt(3.5);
  EXPECT_DOUBLE_EQ(mean[0], 3.0);
  EXPECT_DOUBLE_EQ(rstd[0], r);
  EXPECT_NEAR(y[0], -2 * r, 1e-15);
  EXPECT_NEAR(y[1], -2 * r, 1e-15);
  EXPECT_NEAR(y[2], 1.0, 1e-15);
  EXPECT_NEAR(y[3], 3 * r, 1e-15);
}

TEST(LayerNormTest, GradientMatchesFiniteDifferences) {
  const int m = 3, d = 6;
  const double eps = 1e-5;
  auto x = RandomVector(m * d, 1, 2.0), g = RandomVector(d, 2);
  auto b = RandomVector(d, 3), w = RandomVector(m * d, 4);
  auto loss = [&]() {
    std::vector<double> y(m * d), mean(m), rstd(m);
    LayerNormForward<double>(m, d, eps, x.data(), g.data(), b.data(), y.data(),
                             mean.data(), rstd.data());
    return Dot(w, y.data());
  };
  std::vector<double> y(m * d), mean(m), rstd(m);
  LayerNormForward<double>(m, d, eps, x.data(), g.data(), b.data(), y.data(),
                           mean.data(), rstd.data());
  std::vector<double> dx(m * d, 0.0), dg(d, 0.0), db(d, 0.0);
  LayerNormBackward<double>(m, d, x.data(), g.data(), mean.data(), rstd.data(),
                            w.data(), dx.data(), dg.data(), db.data());
  EXPECT_LT(GradError(dx, NumericalGradient(loss, x.data(), m * d)), 1e-7);
  EXPECT_LT(GradError(dg, NumericalGradient(loss, g.data(), d)), 1e-8);
  EXPECT_LT(GradError(db, NumericalGradient(loss, b.data(), d)), 1e-8);
}

TEST(LayerNormTest, FloatMatchesDoubleOnManyRows) {
  // Exercises the multi-threaded path (rows >= 2 * grain).
  const int m = 300, d = 16;
  auto x = RandomVector(m * d, 5), g = RandomVector(d, 6),
       b = RandomVector(d, 7);
  std::vector<double> y(m * d), mean(m), rstd(m);
  LayerNormForward<double>(m, d, 1e-5, x.data(), g.data(), b.data(), y.data(),
                           mean.data(), rstd.data());
  std::vector<float> xf(x.begin(), x.end()), gf(g.begin(), g.end());
  std::vector<float> bf(b.begin(), b.end()), yf(m * d), mf(m), rf(m);
  LayerNormForward<float>(m, d, 1e-5f, xf.data(), gf.data(), bf.data(),
                          yf.data(), mf.data(), rf.data());
  for (int i = 0; i < m * d; ++i) EXPECT_NEAR(yf[i], y[i], 1e-5);
}

}  // namespace
}  // namespace st::ops
