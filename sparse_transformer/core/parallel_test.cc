#include "sparse_transformer/core/parallel.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/core/tensor.h"

namespace st {
namespace {

TEST(ParallelTest, VisitsEveryIndexOnce) {
  for (int64_t n : {0, 1, 7, 1000, 12345}) {
    std::vector<std::atomic<int>> hits(n);
    for (auto& h : hits) h = 0;
    ParallelFor(n, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  }
  EXPECT_GE(NumThreads(), 1);
}

TEST(ParallelTest, NestedCallsRunInlineAndRepeatedCallsWork) {
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 200; ++rep) {
    ParallelFor(64, 1, [&](int64_t b, int64_t e) {
      ParallelFor(e - b, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
    });
  }
  EXPECT_EQ(total.load(), 200 * 64);
}

TEST(ParallelTest, ThreadCapLimitsChunks) {
  SetNumThreads(1);
  EXPECT_EQ(NumThreads(), 1);
  int calls = 0;  // a single chunk runs inline: no race on `calls`
  ParallelFor(1000, 1, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 1000);
  });
  EXPECT_EQ(calls, 1);
  SetNumThreads(0);
  EXPECT_GE(NumThreads(), 1);
}

TEST(TensorTest, ShapeAndZeroFill) {
  Tensor<float> t({2, 3, 4});
  EXPECT_EQ(t.size(), 24);
  EXPECT_EQ(t.bytes(), 96);
  EXPECT_EQ(t.dim(1), 3);
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], 0.0f);
  t[5] = 2.0f;
  t.Zero();
  EXPECT_EQ(t[5], 0.0f);
  t.Release();
  EXPECT_EQ(t.size(), 0);
}

}  // namespace
}  // namespace st
