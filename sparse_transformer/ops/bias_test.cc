#include "sparse_transformer/ops/bias.h"

#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(BiasTest, HandComputed) {
  std::vector<double> y = {1, 2, 3, 4, 5, 6};  // [2, 3]
  const std::vector<double> b = {10, 20, 30};
  BiasForward<double>(2, 3, b.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{11, 22, 33, 14, 25, 36}));
  std::vector<double> db = {1, 1, 1};
  BiasBackward<double>(2, 3, y.data(), db.data());
  EXPECT_EQ(db, (std::vector<double>{26, 48, 70}));
}

TEST(BiasTest, GradientMatchesFiniteDifferences) {
  const int m = 3, n = 4;
  auto x = RandomVector(m * n, 1), b = RandomVector(n, 2);
  auto w = RandomVector(m * n, 3);
  auto loss = [&]() {
    std::vector<double> y = x;
    BiasForward<double>(m, n, b.data(), y.data());
    return Dot(w, y.data());
  };
  std::vector<double> db(n, 0.0);
  BiasBackward<double>(m, n, w.data(), db.data());
  EXPECT_LT(GradError(db, NumericalGradient(loss, b.data(), n)), 1e-8);
}

}  // namespace
}  // namespace st::ops
