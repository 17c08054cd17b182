#include "eval/bits_per_byte.h"

#include <cmath>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/train/bigram_model.h"

namespace st::eval {
namespace {

using ::testing::HasSubstr;

// Loss(position i) = i, so the mean tells which positions were scored.
class PositionLossModel : public train::Trainable {
 public:
  explicit PositionLossModel(int n) : n_(n) {}
  int context() const override { return n_; }
  absl::Span<float> params() override { return {}; }
  absl::Span<float> grads() override { return {}; }
  const std::vector<train::ParamGroup>& param_groups() const override {
    return groups_;
  }
  float ForwardBackward(const uint8_t*, const uint8_t*, int, float,
                        uint64_t) override {
    return 0.0f;
  }
  void Loss(const uint8_t*, const uint8_t*, int batch, float* losses) override {
    for (int b = 0; b < batch; ++b) {
      for (int i = 0; i < n_; ++i) losses[b * n_ + i] = i;
    }
  }

 private:
  int n_;
  std::vector<train::ParamGroup> groups_;
};

// Loss = target byte value, so the mean tells which targets were scored.
class TargetLossModel : public PositionLossModel {
 public:
  using PositionLossModel::PositionLossModel;
  void Loss(const uint8_t*, const uint8_t* targets, int batch,
            float* losses) override {
    for (int t = 0; t < batch * context(); ++t) losses[t] = targets[t];
  }
};

TEST(PlanWindowsTest, HandWorkedExample) {
  // 11 bytes, N = 4, m = 2: targets x[1..10].
  auto w = PlanWindows(11, 4, 2);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 4u);
  EXPECT_EQ((*w)[0].start, 0);  // targets 1..4 at positions 0..3
  EXPECT_EQ((*w)[0].score_from, 0);
  EXPECT_EQ((*w)[1].start, 2);  // targets 5, 6 at positions 2, 3
  EXPECT_EQ((*w)[1].score_from, 2);
  EXPECT_EQ((*w)[2].start, 4);
  EXPECT_EQ((*w)[3].start, 6);  // targets 9, 10; ends at the last byte
  // One byte more: the last window is moved back and scores one target.
  w = PlanWindows(12, 4, 2);
  ASSERT_EQ(w->size(), 5u);
  EXPECT_EQ((*w)[4].start, 7);
  EXPECT_EQ((*w)[4].score_from, 3);
}

TEST(PlanWindowsTest, EveryTargetOnceWithAtLeastMinContext) {
  for (int64_t size : {17, 64, 100, 333}) {
    for (int n : {8, 16}) {
      for (int m : {0, 1, 5, n - 1}) {
        auto w = PlanWindows(size, n, m);
        ASSERT_TRUE(w.ok());
        std::vector<int> seen(size, 0);
        for (size_t k = 0; k < w->size(); ++k) {
          const Window& win = (*w)[k];
          ASSERT_GE(win.start, 0);
          ASSERT_LE(win.start + n + 1, size);
          if (k > 0) {
            ASSERT_GE(win.score_from, m);
          }
          for (int i = win.score_from; i < n; ++i) ++seen[win.start + i + 1];
        }
        EXPECT_EQ(seen[0], 0);
        for (int64_t t = 1; t < size; ++t) {
          ASSERT_EQ(seen[t], 1) << size << " " << n << " " << m << " " << t;
        }
      }
    }
  }
}

TEST(PlanWindowsTest, RejectsBadArguments) {
  EXPECT_THAT(std::string(PlanWindows(4, 4, 0).status().message()),
              HasSubstr("needs context + 1 = 5"));
  EXPECT_FALSE(PlanWindows(100, 4, 4).ok());
  EXPECT_FALSE(PlanWindows(100, 4, -1).ok());
  EXPECT_FALSE(PlanWindows(100, 0, 0).ok());
}

TEST(EvaluateBytesTest, ScoresTheRightPositionsAndTargets) {
  std::vector<uint8_t> data(12);
  std::iota(data.begin(), data.end(), 0);
  PositionLossModel positions(4);
  // Windows of the hand-worked example: positions 0+1+2+3, 2+3 (three
  // times), 3 -> 24 over 11 targets.
  auto r = EvaluateBytes(positions, data, /*batch=*/2, /*min_context=*/2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->scored, 11);
  EXPECT_EQ(r->windows, 5);
  EXPECT_DOUBLE_EQ(r->mean_nats, 24.0 / 11);
  EXPECT_DOUBLE_EQ(r->bits_per_byte, 24.0 / 11 / std::log(2.0));
  // Targets: every byte after the first, once, whatever m and batch.
  TargetLossModel targets(4);
  for (int m : {0, 1, 3}) {
    for (int batch : {1, 3, 8}) {
      auto t = EvaluateBytes(targets, data, batch, m);
      ASSERT_TRUE(t.ok());
      EXPECT_DOUBLE_EQ(t->mean_nats, 66.0 / 11);  // (1 + ... + 11) / 11
    }
  }
}

TEST(EvaluateBytesTest, UniformModelIsEightBitsPerByte) {
  train::BigramModel model(8, 1);
  for (float& p : model.params()) p = 0.0f;
  std::vector<uint8_t> data(100);
  for (int i = 0; i < 100; ++i) data[i] = static_cast<uint8_t>(i * 37);
  auto r = EvaluateBytes(model, data, 4, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->bits_per_byte, 8.0, 1e-5);
  EXPECT_EQ(r->scored, 99);
}

TEST(EvaluateWindowsTest, RejectsBadFillers) {
  PositionLossModel model(4);
  int calls = 0;
  auto bad = EvaluateWindows(model, 2, [&](uint8_t*, uint8_t*, int32_t* s) {
    s[0] = 9;
    return calls++ == 0 ? 1 : 0;
  });
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("score_from 9"));
  auto none =
      EvaluateWindows(model, 2, [](uint8_t*, uint8_t*, int32_t*) { return 0; });
  EXPECT_FALSE(none.ok());
  EXPECT_FALSE(EvaluateWindows(model, 0, nullptr).ok());
}

}  // namespace
}  // namespace st::eval
