#include "datasets/batcher.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace st {
namespace datasets {
namespace {

using ::testing::HasSubstr;

// A stream split of `len` bytes x[i] = (7 i + 3) mod 256 (no short period
// that would hide an off-by-one).
struct StreamFixture {
  explicit StreamFixture(int64_t len) : bytes(len) {
    for (int64_t i = 0; i < len; ++i) bytes[i] = (7 * i + 3) % 256;
    split.name = "fixture:train";
    split.kind = Kind::kText;
    split.example_shape = {1};
    split.example_bytes = 1;
    split.data = absl::MakeConstSpan(bytes);
  }
  std::vector<uint8_t> bytes;
  PreparedSplit split;
};

// `n` images of 2x2x3 bytes; example e has all bytes 10 e + position.
struct ImageFixture {
  explicit ImageFixture(int n) : bytes(n * 12) {
    for (int e = 0; e < n; ++e) {
      for (int i = 0; i < 12; ++i) bytes[e * 12 + i] = 10 * e + i;
    }
    split.name = "fixture:train";
    split.kind = Kind::kImage;
    split.example_shape = {2, 2, 3};
    split.example_bytes = 12;
    split.data = absl::MakeConstSpan(bytes);
  }
  std::vector<uint8_t> bytes;
  PreparedSplit split;
};

std::vector<uint8_t> Take(Batcher& b) {
  const size_t n = static_cast<size_t>(b.batch()) * b.context();
  std::vector<uint8_t> in(n), out(n);
  b.Next(in.data(), out.data());
  in.insert(in.end(), out.begin(), out.end());
  return in;
}

TEST(BatcherTest, StreamRowsAreWindowsAndTargetsAreNextBytes) {
  StreamFixture f(1000);
  auto b = Batcher::Create(f.split, {/*context=*/16, /*batch=*/4, 1, 0});
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<uint8_t> in(64), out(64);
  for (int step = 0; step < 20; ++step) {
    (*b)->Next(in.data(), out.data());
    for (int row = 0; row < 4; ++row) {
      const int64_t o = (*b)->RowSource(step, row);
      ASSERT_GE(o, 0);
      ASSERT_LE(o, 1000 - 16 - 1);
      for (int t = 0; t < 16; ++t) {
        EXPECT_EQ(in[row * 16 + t], f.bytes[o + t]);
        EXPECT_EQ(out[row * 16 + t], f.bytes[o + t + 1]);
      }
    }
  }
}

TEST(BatcherTest, StreamOffsetsCoverTheWholeRange) {
  StreamFixture f(12);  // context 8: offsets 0..3
  auto b = Batcher::Create(f.split, {8, 2, 5, 0});
  ASSERT_TRUE(b.ok());
  std::set<int64_t> seen;
  for (int step = 0; step < 100; ++step) {
    for (int row = 0; row < 2; ++row) seen.insert((*b)->RowSource(step, row));
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3}));
}

TEST(BatcherTest, ImageRowsAreShiftedBehindAStartByte) {
  ImageFixture f(5);
  auto b = Batcher::Create(f.split, {12, 3, 9, 0});
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<uint8_t> in(36), out(36);
  (*b)->Next(in.data(), out.data());
  for (int row = 0; row < 3; ++row) {
    const int64_t e = (*b)->RowSource(0, row);
    EXPECT_EQ(in[row * 12], kStartByte);
    for (int t = 0; t < 12; ++t) {
      EXPECT_EQ(out[row * 12 + t], 10 * e + t);
      if (t > 0) {
        EXPECT_EQ(in[row * 12 + t], 10 * e + t - 1);
      }
    }
  }
}

TEST(BatcherTest, ImageEpochsVisitEveryExampleOnce) {
  ImageFixture f(6);
  auto b = Batcher::Create(f.split, {12, 2, 3, 0});
  ASSERT_TRUE(b.ok());
  std::vector<int64_t> first_epoch, second_epoch;
  for (int step = 0; step < 3; ++step) {
    for (int row = 0; row < 2; ++row) {
      first_epoch.push_back((*b)->RowSource(step, row));
      second_epoch.push_back((*b)->RowSource(step + 3, row));
    }
  }
  EXPECT_EQ(std::set<int64_t>(first_epoch.begin(), first_epoch.end()).size(),
            6u);
  EXPECT_EQ(std::set<int64_t>(second_epoch.begin(), second_epoch.end()).size(),
            6u);
  EXPECT_NE(first_epoch, second_epoch);  // reshuffled (fixed seed: checked)
}

TEST(BatcherTest, PrefetchDoesNotChangeTheBatches) {
  StreamFixture f(5000);
  auto plain = Batcher::Create(f.split, {32, 8, 42, 0});
  auto ahead = Batcher::Create(f.split, {32, 8, 42, 4});
  auto other = Batcher::Create(f.split, {32, 8, 43, 4});
  ASSERT_TRUE(plain.ok() && ahead.ok() && other.ok());
  bool differs = false;
  for (int step = 0; step < 50; ++step) {
    const auto a = Take(**plain);
    EXPECT_EQ(a, Take(**ahead)) << step;
    differs |= a != Take(**other);
  }
  EXPECT_TRUE(differs);  // another seed is another order
}

TEST(BatcherTest, ResumesAtTheExactPosition) {
  ImageFixture f(7);
  auto b = Batcher::Create(f.split, {12, 3, 11, 2});
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 5; ++i) Take(**b);
  const std::string saved = (*b)->GetState().ToString();
  EXPECT_EQ(saved, "seed=11 step=5");
  std::vector<std::vector<uint8_t>> expected;
  for (int i = 0; i < 4; ++i) expected.push_back(Take(**b));

  auto resumed = Batcher::Create(f.split, {12, 3, 11, 2});
  ASSERT_TRUE(resumed.ok());
  Take(**resumed);  // a fresh batcher that already ran ahead
  auto state = BatcherState::FromString(saved);
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE((*resumed)->SetState(*state).ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Take(**resumed), expected[i]) << i;
  // Rewinding the original batcher also replays the same batches.
  ASSERT_TRUE((*b)->SetState(*state).ok());
  EXPECT_EQ(Take(**b), expected[0]);
  EXPECT_EQ((*b)->GetState().step, 6u);
}

TEST(BatcherTest, RefusesBadStateAndOptions) {
  EXPECT_FALSE(BatcherState::FromString("seed=1").ok());
  EXPECT_FALSE(BatcherState::FromString("seed=x step=2").ok());
  StreamFixture f(100);
  auto b = Batcher::Create(f.split, {8, 2, 1, 1});
  ASSERT_TRUE(b.ok());
  const absl::Status s = (*b)->SetState({2, 0});
  EXPECT_THAT(s.message(), HasSubstr("seed 2"));
  auto too_long = Batcher::Create(f.split, {100, 2, 1, 1});
  ASSERT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.status().message(),
              HasSubstr("fixture:train: a window of context 100 needs 101 "
                        "bytes, the split has 100"));
  ImageFixture g(2);
  EXPECT_FALSE(Batcher::Create(g.split, {11, 2, 1, 1}).ok());
}

// Runs a WindowIterator to the end; returns how often each target index
// x[1..len) was scored and checks each row against the split.
std::vector<int> ScoreCounts(const StreamFixture& f, int64_t n, int64_t stride,
                             int batch, int64_t* min_context) {
  auto it = WindowIterator::Create(f.split, {n, batch, stride});
  EXPECT_TRUE(it.ok()) << it.status();
  std::vector<int> counts(f.bytes.size(), 0);
  std::vector<uint8_t> in(batch * n), out(batch * n);
  std::vector<int32_t> from(batch);
  *min_context = n;
  int64_t window = 0;
  while (int rows = it->Next(in.data(), out.data(), from.data())) {
    for (int r = 0; r < rows; ++r, ++window) {
      // Recover the window start from its first input byte's position.
      int64_t o = -1;
      for (int64_t c = 0; c + n < static_cast<int64_t>(f.bytes.size()); ++c) {
        if (std::equal(in.begin() + r * n, in.begin() + (r + 1) * n,
                       f.bytes.begin() + c)) {
          o = c;
          break;
        }
      }
      EXPECT_GE(o, 0);
      for (int64_t t = from[r]; t < n; ++t) {
        EXPECT_EQ(out[r * n + t], f.bytes[o + t + 1]);
        ++counts[o + t + 1];
        if (window > 0) *min_context = std::min(*min_context, t + 1);
      }
    }
    for (int r = rows; r < batch; ++r) EXPECT_EQ(from[r], n);
  }
  EXPECT_EQ(window, it->num_windows());
  return counts;
}

TEST(WindowIteratorTest, HandComputedWindows) {
  // 11 bytes, 10 targets, N = 4: windows at 0, 4 and (moved back) 6, the last
  // scoring only its final 2 targets.
  StreamFixture f(11);
  auto it = WindowIterator::Create(f.split, {4, 8, 0});
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->num_windows(), 3);
  std::vector<uint8_t> in(32), out(32);
  std::vector<int32_t> from(8);
  EXPECT_EQ(it->Next(in.data(), out.data(), from.data()), 3);
  EXPECT_EQ(from[0], 0);
  EXPECT_EQ(from[1], 0);
  EXPECT_EQ(from[2], 2);
  EXPECT_EQ(in[4], f.bytes[4]);
  EXPECT_EQ(in[8], f.bytes[6]);
  EXPECT_EQ(out[11], f.bytes[10]);
  EXPECT_EQ(from[3], 4);
  EXPECT_EQ(it->Next(in.data(), out.data(), from.data()), 0);
  it->Reset();
  EXPECT_EQ(it->Next(in.data(), out.data(), from.data()), 3);
}

TEST(WindowIteratorTest, EveryTargetScoredOnceWithMinimumContext) {
  for (int64_t len : {9, 17, 50, 101}) {
    for (int64_t n : {8}) {
      for (int64_t stride : {1, 3, 5, 8}) {
        StreamFixture f(len);
        int64_t min_context = 0;
        const std::vector<int> counts =
            ScoreCounts(f, n, stride, 3, &min_context);
        EXPECT_EQ(counts[0], 0);
        for (int64_t i = 1; i < len; ++i) {
          EXPECT_EQ(counts[i], 1)
              << "len " << len << " stride " << stride << " target " << i;
        }
        // Windows after the first score only targets with >= N - S context.
        if (len - 1 > n) {
          EXPECT_GE(min_context, n - stride + 1);
        }
      }
    }
  }
}

TEST(WindowIteratorTest, ImagesAreWholeExamples) {
  ImageFixture f(3);
  auto it = WindowIterator::Create(f.split, {12, 2, 0});
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->scored_targets(), 36);
  std::vector<uint8_t> in(24), out(24);
  std::vector<int32_t> from(2);
  EXPECT_EQ(it->Next(in.data(), out.data(), from.data()), 2);
  EXPECT_EQ(in[12], kStartByte);
  EXPECT_EQ(in[13], 10);
  EXPECT_EQ(out[12], 10);
  EXPECT_EQ(it->Next(in.data(), out.data(), from.data()), 1);
  EXPECT_EQ(out[0], 20);
  EXPECT_EQ(from[1], 12);
  EXPECT_FALSE(WindowIterator::Create(f.split, {12, 2, 4}).ok());
}

}  // namespace
}  // namespace datasets
}  // namespace st
