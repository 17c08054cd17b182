#include "sparse_transformer/train/batcher_source.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/train/bigram_model.h"
#include "sparse_transformer/train/trainer.h"

namespace st::train {
namespace {

constexpr int kContext = 16;

struct Stream {
  Stream() {
    std::string s;
    for (int i = 0; i < 100; ++i) s += "one two three four. ";
    bytes.assign(s.begin(), s.end());
    split.name = "fixture:train";
    split.kind = datasets::Kind::kText;
    split.example_shape = {1};
    split.example_bytes = 1;
    split.data = absl::MakeConstSpan(bytes);
  }
  std::vector<uint8_t> bytes;
  datasets::PreparedSplit split;
};

std::unique_ptr<datasets::Batcher> MakeBatcher(const Stream& s) {
  datasets::BatcherOptions o;
  o.context = kContext;
  o.batch = 2;
  o.seed = 11;
  auto b = datasets::Batcher::Create(s.split, o);
  EXPECT_TRUE(b.ok()) << b.status();
  return std::move(*b);
}

TEST(BatcherSourceTest, ForwardsBatchesAndState) {
  Stream s;
  auto batcher = MakeBatcher(s);
  BatcherSource source(batcher.get());
  std::vector<uint8_t> in(2 * kContext), tg(2 * kContext), in2(in), tg2(tg);
  const std::string start = source.GetState();
  EXPECT_EQ(start, "seed=11 step=0");
  ASSERT_TRUE(source.Next(2, in.data(), tg.data()).ok());
  for (int i = 0; i + 1 < kContext; ++i) EXPECT_EQ(tg[i], in[i + 1]);
  ASSERT_TRUE(source.SetState(start).ok());
  ASSERT_TRUE(source.Next(2, in2.data(), tg2.data()).ok());
  EXPECT_EQ(in, in2);
  EXPECT_EQ(tg, tg2);
  EXPECT_THAT(std::string(source.Next(4, in.data(), tg.data()).message()),
              ::testing::HasSubstr("micro-batches of 4"));
  EXPECT_FALSE(source.SetState("garbage").ok());
}

TEST(BatcherSourceTest, TrainerResumesExactlyThroughTheBatcher) {
  Stream s;
  TrainConfig c;
  c.batch = 4;
  c.micro_batches = 2;
  c.steps = 12;
  c.warmup = 2;
  c.lr = 0.05f;
  c.log_interval = 0;
  std::vector<float> full;
  {
    auto batcher = MakeBatcher(s);
    BatcherSource source(batcher.get());
    BigramModel model(kContext, 1);
    auto r = Trainer(&model, &source, c).Run();
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& st : r->steps) full.push_back(st.loss);
  }
  const std::string dir = std::string(::testing::TempDir()) + "/batcher_run";
  std::remove((dir + "/checkpoint.bin").c_str());
  c.run_dir = dir;
  std::vector<float> resumed;
  for (int64_t stop : {5, 0}) {
    auto batcher = MakeBatcher(s);
    BatcherSource source(batcher.get());
    BigramModel model(kContext, 1);
    c.stop_after = stop;
    auto r = Trainer(&model, &source, c).Run();
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& st : r->steps) resumed.push_back(st.loss);
  }
  EXPECT_EQ(resumed, full);
}

}  // namespace
}  // namespace st::train
