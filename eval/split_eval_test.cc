#include "eval/split_eval.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/train/bigram_model.h"

namespace st::eval {
namespace {

// The in-memory planner and the datasets' WindowIterator follow one
// convention, so both give the same numbers on the same bytes.
TEST(EvaluateSplitTest, AgreesWithEvaluateBytesForEveryMinContext) {
  std::vector<uint8_t> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>((i * i * 7 + i / 3) % 251);
  }
  datasets::PreparedSplit split;
  split.name = "fixture:valid";
  split.data = absl::MakeConstSpan(bytes);
  train::BigramModel model(32, 3);
  for (int m : {0, 1, 16, 31}) {
    auto a = EvaluateSplit(model, split, 4, m);
    auto b = EvaluateBytes(model, bytes, 4, m);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->scored, 999);
    EXPECT_EQ(a->scored, b->scored) << m;
    EXPECT_EQ(a->windows, b->windows) << m;
    EXPECT_NEAR(a->bits_per_byte, b->bits_per_byte, 1e-12) << m;
  }
  EXPECT_FALSE(EvaluateSplit(model, split, 4, 32).ok());
}

TEST(EvaluateSplitTest, ImagesAreScoredWholeAndRefuseMinContext) {
  std::vector<uint8_t> bytes(5 * 32);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  datasets::PreparedSplit split;
  split.name = "fixture:test";
  split.kind = datasets::Kind::kImage;
  split.example_shape = {4, 4, 2};
  split.example_bytes = 32;
  split.data = absl::MakeConstSpan(bytes);
  train::BigramModel model(32, 3);
  for (float& p : model.params()) p = 0.0f;  // uniform: 8 bits per byte
  auto r = EvaluateSplit(model, split, 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->scored, 160);
  EXPECT_EQ(r->windows, 5);
  EXPECT_NEAR(r->bits_per_byte, 8.0, 1e-5);
  EXPECT_FALSE(EvaluateSplit(model, split, 2, 4).ok());
}

}  // namespace
}  // namespace st::eval
