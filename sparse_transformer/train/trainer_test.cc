#include "sparse_transformer/train/trainer.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"
#include "sparse_transformer/train/bigram_model.h"
#include "sparse_transformer/train/checkpoint.h"

namespace st::train {
namespace {

using ::st::test::ReadFile;

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kContext = 16;

// A few KB of structured text: a bigram model can learn it well.
std::vector<uint8_t> Text() {
  std::string s;
  for (int i = 0; i < 200; ++i) {
    s += "the cat sat on the mat. ";
    if (i % 3 == 0) s += "a dog ran to the log. ";
  }
  return std::vector<uint8_t>(s.begin(), s.end());
}

TrainConfig SmallConfig(const std::string& run_dir) {
  TrainConfig c;
  c.batch = 4;
  c.micro_batches = 2;
  c.steps = 20;
  c.lr = 0.05f;
  c.warmup = 3;
  c.seed = 7;
  c.log_interval = 0;
  c.checkpoint_interval = 5;
  c.run_dir = run_dir;
  return c;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = std::string(::testing::TempDir()) + "/" + name;
  std::remove((dir + "/checkpoint.bin").c_str());
  std::remove((dir + "/log.tsv").c_str());
  return dir;
}

TEST(TrainerTest, LearnsATextAndReportsProgress) {
  const auto text = Text();
  BigramModel model(kContext, 1, /*dropout=*/false);
  RandomWindowSource source(text, kContext, 3);
  TrainConfig c = SmallConfig("");
  c.steps = 60;
  c.warmup = 5;
  c.lr = 0.2f;
  int evals = 0;
  Evaluator eval = [&](Trainable& m) -> absl::StatusOr<double> {
    ++evals;
    // Every full window of the text.
    const int windows = (text.size() - 1) / kContext;
    std::vector<float> losses(kContext);
    double sum = 0;
    for (int w = 0; w < windows; ++w) {
      m.Loss(text.data() + w * kContext, text.data() + w * kContext + 1, 1,
             losses.data());
      for (float l : losses) sum += l;
    }
    return sum / (windows * kContext) / M_LN2;
  };
  c.eval_interval = 20;
  auto r = Trainer(&model, &source, c, eval).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->steps.size(), 60u);
  EXPECT_NEAR(r->steps[0].loss, std::log(256.0), 0.05);  // near uniform
  EXPECT_LT(r->steps.back().loss, 2.0);                  // learned bigrams
  EXPECT_EQ(evals, 3);  // steps 20, 40, 60; not repeated at the end
  ASSERT_EQ(r->evals.size(), 3u);
  EXPECT_EQ(r->evals[2].step, 60);
  EXPECT_LT(r->evals[2].bits_per_byte, r->evals[0].bits_per_byte);
  EXPECT_GT(r->tokens_per_second, 0.0);
  EXPECT_EQ(r->end_step, 60);
  EXPECT_FALSE(r->interrupted);
}

TEST(TrainerTest, GradientAccumulationMatchesOneLargeBatch) {
  const auto text = Text();
  std::vector<std::vector<float>> finals;
  for (int micro : {1, 2, 4}) {
    BigramModel model(kContext, 1, /*dropout=*/false);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig("");
    c.micro_batches = micro;
    c.steps = 5;
    c.warmup = 1;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
    finals.emplace_back(model.params().begin(), model.params().end());
  }
  for (size_t i = 0; i < finals[0].size(); ++i) {
    ASSERT_NEAR(finals[1][i], finals[0][i], 2e-5) << i;
    ASSERT_NEAR(finals[2][i], finals[0][i], 2e-5) << i;
  }
}

TEST(TrainerTest, SameSeedSameLossesAndOtherSeedOtherLosses) {
  const auto text = Text();
  auto run = [&](uint64_t seed) {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig("");
    c.seed = seed;
    auto r = Trainer(&model, &source, c).Run();
    std::vector<float> losses;
    for (const auto& s : r->steps) losses.push_back(s.loss);
    return losses;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));  // the seed drives the dropout masks
}

TEST(TrainerTest, ResumeGivesBitwiseTheSameLossesAndLog) {
  const auto text = Text();
  // Uninterrupted run.
  const std::string full_dir = FreshDir("full");
  BigramModel full_model(kContext, 1);
  RandomWindowSource full_source(text, kContext, 3);
  auto full = Trainer(&full_model, &full_source, SmallConfig(full_dir)).Run();
  ASSERT_TRUE(full.ok()) << full.status();

  // Interrupted after 7 steps (checkpoint written at the stop), then resumed
  // by a fresh model, data source and trainer, as a new process would.
  const std::string dir = FreshDir("resumed");
  {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 7;
    auto r = Trainer(&model, &source, c).Run();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->interrupted);
    EXPECT_EQ(r->end_step, 7);
  }
  BigramModel model(kContext, 99);  // other init: the checkpoint must win
  RandomWindowSource source(text, kContext, 3);
  auto r = Trainer(&model, &source, SmallConfig(dir)).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->start_step, 7);
  ASSERT_EQ(r->steps.size(), 13u);
  for (size_t i = 0; i < r->steps.size(); ++i) {
    EXPECT_EQ(r->steps[i].loss, full->steps[7 + i].loss) << i;  // bitwise
    EXPECT_EQ(r->steps[i].grad_norm, full->steps[7 + i].grad_norm) << i;
  }
  EXPECT_TRUE(std::equal(model.params().begin(), model.params().end(),
                         full_model.params().begin()));
  EXPECT_EQ(ReadFile(dir + "/log.tsv"), ReadFile(full_dir + "/log.tsv"));
}

TEST(TrainerTest, ResumeAfterALaterCrashDropsStaleLogLines) {
  const auto text = Text();
  const std::string full_dir = FreshDir("full_crash");
  {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    ASSERT_TRUE(Trainer(&model, &source, SmallConfig(full_dir)).Run().ok());
  }
  // Simulate a kill after step 13: checkpoint at 10 (interval 5) while the
  // log already holds steps 0..12 plus a torn line.
  const std::string dir = FreshDir("crash");
  {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 10;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
    std::ofstream log(dir + "/log.tsv", std::ios::app);
    log << "10\t1.0\t1.0\t0.1\t1\t0\n11\t1.0\t1.0\t0.1\t1\t0\n12\t1.0\t1";
  }
  BigramModel model(kContext, 1);
  RandomWindowSource source(text, kContext, 3);
  ASSERT_TRUE(Trainer(&model, &source, SmallConfig(dir)).Run().ok());
  EXPECT_EQ(ReadFile(dir + "/log.tsv"), ReadFile(full_dir + "/log.tsv"));
}

TEST(TrainerTest, RefusesACorruptCheckpointNamingIt) {
  const auto text = Text();
  const std::string dir = FreshDir("corrupt");
  {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 5;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
  }
  std::string data = ReadFile(dir + "/checkpoint.bin");
  data.resize(data.size() - 100);
  std::ofstream(dir + "/checkpoint.bin", std::ios::binary | std::ios::trunc)
      << data;
  BigramModel model(kContext, 1);
  RandomWindowSource source(text, kContext, 3);
  auto r = Trainer(&model, &source, SmallConfig(dir)).Run();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(dir + "/checkpoint.bin is truncated"));
}

TEST(TrainerTest, RefusesACheckpointOfAnotherModel) {
  const auto text = Text();
  const std::string dir = FreshDir("other_model");
  {
    BigramModel model(kContext, 1);
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 5;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
  }
  TrainState state = *ReadCheckpoint(dir + "/checkpoint.bin");
  state.model_signature = "other";
  ASSERT_TRUE(WriteCheckpoint(dir + "/checkpoint.bin", state).ok());
  BigramModel model(kContext, 1);
  RandomWindowSource source(text, kContext, 3);
  auto r = Trainer(&model, &source, SmallConfig(dir)).Run();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("other parameters"));
}

// A bigram model that reports a given structure().
class DescribedModel : public BigramModel {
 public:
  explicit DescribedModel(std::string structure)
      : BigramModel(kContext, 1), structure_(std::move(structure)) {}
  std::string structure() const override { return structure_; }

 private:
  std::string structure_;
};

TEST(TrainerTest, RefusesACheckpointOfAnotherStructure) {
  const auto text = Text();
  const std::string dir = FreshDir("other_structure");
  {
    DescribedModel model("pattern fixed");
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 5;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
  }
  EXPECT_THAT(ReadCheckpoint(dir + "/checkpoint.bin")->model_signature,
              HasSubstr("structure: pattern fixed"));
  {
    // Same parameters, another pattern: refused, naming both.
    DescribedModel model("pattern strided");
    RandomWindowSource source(text, kContext, 3);
    auto r = Trainer(&model, &source, SmallConfig(dir)).Run();
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(
        std::string(r.status().message()),
        AllOf(HasSubstr(dir + "/checkpoint.bin"),
              HasSubstr("another structure"), HasSubstr("pattern fixed"),
              HasSubstr("pattern strided")));
  }
  DescribedModel model("pattern fixed");
  RandomWindowSource source(text, kContext, 3);
  EXPECT_TRUE(Trainer(&model, &source, SmallConfig(dir)).Run().ok());
}

TEST(TrainerTest, ResumesACheckpointThatRecordsNoStructure) {
  const auto text = Text();
  const std::string dir = FreshDir("no_structure");
  {
    BigramModel model(kContext, 1);  // structure() empty
    RandomWindowSource source(text, kContext, 3);
    TrainConfig c = SmallConfig(dir);
    c.stop_after = 5;
    ASSERT_TRUE(Trainer(&model, &source, c).Run().ok());
  }
  DescribedModel model("pattern fixed");
  RandomWindowSource source(text, kContext, 3);
  auto r = Trainer(&model, &source, SmallConfig(dir)).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadCheckpoint(dir + "/checkpoint.bin")->step,
            SmallConfig(dir).steps);
}

// Raises SIGTERM from inside the step with index `at`.
class SignallingModel : public BigramModel {
 public:
  SignallingModel(int at) : BigramModel(kContext, 1), at_(at) {}
  float ForwardBackward(const uint8_t* in, const uint8_t* tg, int batch,
                        float w, uint64_t seed) override {
    if (calls_++ == 2 * at_) std::raise(SIGTERM);
    return BigramModel::ForwardBackward(in, tg, batch, w, seed);
  }

 private:
  int at_;
  int calls_ = 0;
};

TEST(TrainerTest, SigtermCheckpointsAtTheNextStepBoundary) {
  const auto text = Text();
  const std::string dir = FreshDir("sigterm");
  SignallingModel model(4);
  RandomWindowSource source(text, kContext, 3);
  TrainConfig c = SmallConfig(dir);
  c.handle_signals = true;
  auto r = Trainer(&model, &source, c).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->interrupted);
  EXPECT_EQ(r->end_step, 5);  // step 4 finishes, then the run stops
  auto state = ReadCheckpoint(dir + "/checkpoint.bin");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->step, 5);
  EXPECT_EQ(state->adam_steps, 5);
}

// Produces a non-finite gradient on chosen calls, as fp16 overflow would.
class OverflowModel : public BigramModel {
 public:
  OverflowModel() : BigramModel(kContext, 1, false) {}
  std::vector<float> weights;
  float ForwardBackward(const uint8_t* in, const uint8_t* tg, int batch,
                        float w, uint64_t seed) override {
    weights.push_back(w);
    const float loss = BigramModel::ForwardBackward(in, tg, batch, w, seed);
    if (weights.size() == 3) grads()[0] = INFINITY;
    return loss;
  }
};

TEST(TrainerTest, DynamicLossScalingSkipsOverflowsAndUnscalesGradients) {
  const auto text = Text();
  OverflowModel scaled;
  BigramModel plain(kContext, 1, false);
  TrainConfig c = SmallConfig("");
  c.micro_batches = 1;
  c.steps = 6;
  c.dynamic_loss_scaling = true;
  c.initial_loss_scale = 1024.0f;
  c.loss_scale_growth_interval = 2;
  RandomWindowSource s1(text, kContext, 3);
  auto r = Trainer(&scaled, &s1, c).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  // Steps 0,1 clean (scale doubles to 2048), step 2 overflows (skipped, back
  // to 1024), 3,4 clean (2048), 5 clean.
  EXPECT_EQ(scaled.weights,
            (std::vector<float>{1024, 1024, 2048, 1024, 1024, 2048}));
  EXPECT_TRUE(r->steps[2].skipped);
  EXPECT_FALSE(r->steps[3].skipped);
  // Unscaled gradient norms match an unscaled run on the same data.
  c.dynamic_loss_scaling = false;
  c.steps = 2;
  c.warmup = 1;
  RandomWindowSource s2(text, kContext, 3);
  auto p = Trainer(&plain, &s2, c).Run();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NEAR(r->steps[0].grad_norm, p->steps[0].grad_norm,
              1e-5 * p->steps[0].grad_norm);
}

TEST(TrainerTest, DivergenceWithoutLossScalingIsAnError) {
  const auto text = Text();
  OverflowModel model;
  RandomWindowSource source(text, kContext, 3);
  TrainConfig c = SmallConfig("");
  c.micro_batches = 1;
  auto r = Trainer(&model, &source, c).Run();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("diverged at step 2"));
}

TEST(TrainerTest, ValidatesTheConfig) {
  TrainConfig c;
  c.batch = 6;
  c.micro_batches = 4;
  EXPECT_THAT(std::string(ValidateTrainConfig(c).message()),
              HasSubstr("divide batch 6"));
  c = TrainConfig();
  c.warmup = c.steps;
  EXPECT_FALSE(ValidateTrainConfig(c).ok());
  c = TrainConfig();
  c.adam.beta2 = 1.0f;
  EXPECT_FALSE(ValidateTrainConfig(c).ok());
  EXPECT_TRUE(ValidateTrainConfig(TrainConfig()).ok());
}

TEST(FormatDurationTest, Units) {
  EXPECT_EQ(FormatDuration(42.4), "42s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3725), "1h02m");
}

TEST(RandomWindowSourceTest, ShiftsTargetsAndRestoresItsPosition) {
  std::vector<uint8_t> data(100);
  for (int i = 0; i < 100; ++i) data[i] = static_cast<uint8_t>(i);
  RandomWindowSource source(data, 8, 5);
  std::vector<uint8_t> in(16), tg(16), in2(16), tg2(16);
  ASSERT_TRUE(source.Next(2, in.data(), tg.data()).ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(tg[i], in[i] + 1);
  for (int b = 0; b < 2; ++b) {
    for (int i = 1; i < 8; ++i) EXPECT_EQ(in[b * 8 + i], in[b * 8] + i);
    EXPECT_LE(in[b * 8] + 8, 99);
  }
  const std::string state = source.GetState();
  ASSERT_TRUE(source.Next(2, in.data(), tg.data()).ok());
  ASSERT_TRUE(source.SetState(state).ok());
  ASSERT_TRUE(source.Next(2, in2.data(), tg2.data()).ok());
  EXPECT_EQ(in, in2);
  EXPECT_FALSE(source.SetState("bad").ok());
  RandomWindowSource tiny(absl::MakeConstSpan(data.data(), 8), 8, 5);
  EXPECT_FALSE(tiny.Next(1, in.data(), tg.data()).ok());
}

TEST(BigramModelTest, AnalyticGradientMatchesFiniteDifferences) {
  BigramModel model(4, 1, /*dropout=*/true);
  const uint8_t in[8] = {1, 2, 3, 1, 2, 1, 1, 3};
  const uint8_t tg[8] = {2, 3, 1, 2, 1, 1, 3, 0};
  model.ForwardBackward(in, tg, 2, 1.0f, 11);
  const std::vector<float> grads(model.grads().begin(), model.grads().end());
  for (int idx : {1 * 256 + 2, 2 * 256 + 3, 3 * 256 + 0, 3 * 256 + 7,
                  256 * 256 + 1, 256 * 256 + 200}) {
    const float h = 1e-2f;
    auto params = model.params();
    const float orig = params[idx];
    params[idx] = orig + h;
    const double up = model.ForwardBackward(in, tg, 2, 0.0f, 11);
    params[idx] = orig - h;
    const double down = model.ForwardBackward(in, tg, 2, 0.0f, 11);
    params[idx] = orig;
    EXPECT_NEAR(grads[idx], (up - down) / (2 * h), 1e-3) << idx;
  }
}

}  // namespace
}  // namespace st::train
