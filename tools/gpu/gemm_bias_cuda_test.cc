#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/gpu/gemm_bias.h"

namespace st::gpu {
namespace {

TEST(GemmBiasCudaTest, MatchesCpuReference) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "skipped: " << why;
  // Odd sizes so that no dimension is a multiple of a tile.
  const int m = 193, n = 131, k = 257;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(m * k), w(k * n), b(n);
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng);
  for (float& v : b) v = normal(rng);
  std::vector<float> want, got;
  GemmBiasCpu(m, n, k, x, w, b, &want);
  absl::Status s = GemmBiasGpu(m, n, k, x, w, b, &got);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(got.size(), want.size());
  double err = 0.0, ref = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << "element " << i << " not written";
    err += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
    ref += want[i] * static_cast<double>(want[i]);
  }
  // fp32 accumulation over k=257 terms: relative error far below 1e-5.
  EXPECT_LT(std::sqrt(err / ref), 1e-5);
}

TEST(GemmBiasCudaTest, CpuReferenceHandComputed) {
  // [1 2; 3 4] * [1 0; 0 1] + [10, 20]
  std::vector<float> y;
  GemmBiasCpu(2, 2, 2, {1, 2, 3, 4}, {1, 0, 0, 1}, {10, 20}, &y);
  EXPECT_EQ(y, (std::vector<float>{11, 22, 13, 24}));
}

}  // namespace
}  // namespace st::gpu
