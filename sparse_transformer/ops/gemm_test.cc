#include "sparse_transformer/ops/gemm.h"

#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(GemmTest, HandComputedAllTransposes) {
  // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[2,-1]] (3x2):
  // AB = [[7,-1],[16,-1]].
  const std::vector<double> a = {1, 2, 3, 4, 5, 6}, at = {1, 4, 2, 5, 3, 6};
  const std::vector<double> b = {1, 0, 0, 1, 2, -1}, bt = {1, 0, 2, 0, 1, -1};
  const std::vector<double> expect = {7, -1, 16, -1};
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> c(4, 100.0);
      Gemm<double>(ta, tb, 2, 2, 3, 1.0, ta ? at.data() : a.data(),
                   tb ? bt.data() : b.data(), 0.0, c.data());
      for (int i = 0; i < 4; ++i) EXPECT_EQ(c[i], expect[i]) << ta << tb;
      std::vector<float> af(a.begin(), a.end()), atf(at.begin(), at.end());
      std::vector<float> bf(b.begin(), b.end()), btf(bt.begin(), bt.end());
      std::vector<float> cf = {1, 1, 1, 1};
      // alpha = 2, beta = 1: C = 2 AB + 1.
      Gemm<float>(ta, tb, 2, 2, 3, 2.0f, ta ? atf.data() : af.data(),
                  tb ? btf.data() : bf.data(), 1.0f, cf.data());
      for (int i = 0; i < 4; ++i) EXPECT_EQ(cf[i], 2 * expect[i] + 1);
    }
  }
}

TEST(GemmTest, FloatMatchesDoubleReferenceOnLargerShapes) {
  const int m = 37, k = 53, n = 29;
  auto a = RandomVector(m * k, 1), b = RandomVector(k * n, 2);
  std::vector<double> c(m * n);
  Gemm<double>(false, false, m, n, k, 1.0, a.data(), b.data(), 0.0, c.data());
  std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), cf(m * n);
  Gemm<float>(false, false, m, n, k, 1.0f, af.data(), bf.data(), 0.0f,
              cf.data());
  // Each entry is a 53-term sum of O(1) products: float error ~ 1e-5.
  for (int i = 0; i < m * n; ++i) EXPECT_NEAR(cf[i], c[i], 1e-4);
}

TEST(MatmulTest, GradientMatchesFiniteDifferences) {
  const int m = 4, k = 5, n = 3;
  auto x = RandomVector(m * k, 3), w = RandomVector(k * n, 4);
  auto dy = RandomVector(m * n, 5);
  auto loss = [&]() {
    std::vector<double> y(m * n);
    MatmulForward<double>(m, k, n, x.data(), w.data(), y.data());
    return Dot(dy, y.data());
  };
  std::vector<double> dx(m * k, 7.0), dw(k * n, 0.0);
  MatmulBackward<double>(m, k, n, x.data(), w.data(), dy.data(), dx.data(),
                         dw.data(), /*accumulate_dx=*/false);
  EXPECT_LT(GradError(dx, NumericalGradient(loss, x.data(), m * k)), 1e-8);
  EXPECT_LT(GradError(dw, NumericalGradient(loss, w.data(), k * n)), 1e-8);
  // dW accumulates; dx accumulates only when asked.
  std::vector<double> dx2 = dx, dw2 = dw;
  MatmulBackward<double>(m, k, n, x.data(), w.data(), dy.data(), dx2.data(),
                         dw2.data(), /*accumulate_dx=*/true);
  for (int i = 0; i < m * k; ++i) EXPECT_NEAR(dx2[i], 2 * dx[i], 1e-12);
  for (int i = 0; i < k * n; ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-12);
}

}  // namespace
}  // namespace st::ops
