#include "sparse_transformer/core/rng.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace st {
namespace {

TEST(RngTest, Mix64IsTheSplitmixFinaliser) {
  // splitmix64's first output for state 0 is Mix64(0x9e3779b97f4a7c15).
  EXPECT_EQ(Mix64(0x9e3779b97f4a7c15ULL), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(Mix64(0), 0u);
}

TEST(RngTest, PureFunctionOfSeedStreamCounter) {
  CounterRng a(7, 3), b(7, 3), c(8, 3), d(7, 4);
  EXPECT_EQ(a.Bits(100), b.Bits(100));
  EXPECT_NE(a.Bits(100), c.Bits(100));
  EXPECT_NE(a.Bits(100), d.Bits(100));
  EXPECT_NE(a.Bits(100), a.Bits(101));
  EXPECT_EQ(a.Bits(100), CounterHash(7, 3, 100));
}

TEST(RngTest, UniformAndNormalMoments) {
  CounterRng rng(1, 0);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    double u = rng.Uniform(i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    double z = rng.Normal(i);
    sn += z;
    sn2 += z * z;
  }
  // Standard errors: uniform mean 0.29/sqrt(n) = 6.5e-4; normal 2.2e-3.
  EXPECT_NEAR(su / n, 0.5, 4e-3);
  EXPECT_NEAR(sn / n, 0.0, 1.2e-2);
  EXPECT_NEAR(sn2 / n, 1.0, 1.5e-2);
}

TEST(RngTest, NoCollisionsOnSmallRange) {
  std::set<uint64_t> seen;
  CounterRng rng(42, 0);
  for (int i = 0; i < 10000; ++i) seen.insert(rng.Bits(i));
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace st
