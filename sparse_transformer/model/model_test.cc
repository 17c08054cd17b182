#include "sparse_transformer/model/model.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/core/rng.h"
#include "sparse_transformer/ops/grad_check.h"
#include "sparse_transformer/train/checkpoint.h"

namespace st::model {
namespace {

using attention::HeadMode;
using attention::PatternKind;
using attention::PatternPart;

// A tiny text model: 2 layers, D = 8, 2 heads, n = 64 in blocks of 16.
ModelConfig Tiny(PatternKind kind, HeadMode mode) {
  ModelConfig c;
  c.n_layer = 2;
  c.d_model = 8;
  c.n_head = 2;
  c.ff_multiple = 2.0;
  c.qk_ratio = 0.5;
  c.resid_dropout = 0.2;
  c.embd_dropout = 0.1;
  c.embedding_stride = 16;
  c.pattern.kind = kind;
  c.pattern.n = 64;
  c.pattern.block = 16;
  c.pattern.heads = 2;
  c.pattern.head_mode = mode;
  if (kind != PatternKind::kDense) c.pattern.stride = 16;
  if (kind == PatternKind::kFixed) {
    c.pattern.stride = 32;
    c.pattern.c = 16;
  }
  return c;
}

std::vector<uint8_t> Bytes(int64_t n, uint64_t stream) {
  CounterRng rng(77, stream);
  std::vector<uint8_t> b(n);
  for (int64_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(rng.Bits(i));
  return b;
}

// Replaces the paper init (zero logits would zero most gradients) with
// generic values so every parameter's gradient is exercised.
template <typename T>
void Randomize(SparseTransformer<T>& m, double stddev) {
  CounterRng rng(5, 5);
  auto p = m.params();
  for (size_t i = 0; i < p.size(); ++i) p[i] = T(stddev * rng.Normal(i));
  for (const auto& g : m.param_groups()) {
    if (g.name.size() > 2 && g.name.substr(g.name.size() - 2) == ".g") {
      for (int64_t i = 0; i < g.size; ++i) p[g.offset + i] += T(1);
    }
  }
}

// Finite differences on up to `per_group` entries of every parameter group.
void CheckModelGradient(const ModelConfig& config, int batch,
                        int per_group = 6) {
  auto made = SparseTransformer<double>::Create(config);
  ASSERT_TRUE(made.ok()) << made.status();
  SparseTransformer<double>& m = **made;
  Randomize(m, 0.3);
  const int64_t n = m.context();
  const auto in = Bytes(batch * n, 1), tgt = Bytes(batch * n, 2);
  const uint64_t seed = 99;
  const double weight = 1.7;
  auto grads = m.grads();
  std::fill(grads.begin(), grads.end(), 0.0);
  m.ForwardBackward(in.data(), tgt.data(), batch, weight, seed);
  const std::vector<double> analytic(grads.begin(), grads.end());
  std::vector<double> scratch(grads.size());
  auto loss = [&]() {
    return weight *
           m.ForwardBackward(in.data(), tgt.data(), batch, weight, seed);
  };
  for (const auto& g : m.param_groups()) {
    std::vector<int64_t> idx;
    const int64_t step = std::max<int64_t>(1, g.size / per_group);
    for (int64_t i = 0; i < g.size && (int)idx.size() < per_group; i += step) {
      idx.push_back(g.offset + i);
    }
    // The token table is only read at the input bytes: check those rows.
    if (g.name == "wte") {
      idx.clear();
      for (int j = 0; j < 4; ++j) {
        idx.push_back(g.offset + int64_t(in[j * 7]) * config.d_model + j);
      }
    }
    std::vector<double> a, num;
    for (int64_t i : idx) {
      double* x = &m.params()[i];
      a.push_back(analytic[i]);
      num.push_back(ops::NumericalGradient(loss, x, 1)[0]);
    }
    double scale = 0;
    for (double v : a) scale = std::max(scale, std::fabs(v));
    EXPECT_GT(scale, 1e-8) << g.name << ": gradient unexpectedly zero";
    EXPECT_LT(ops::GradError(a, num), 2e-6) << g.name;
  }
}

TEST(ModelConfigTest, BadValuesNameTheField) {
  ModelConfig c = Tiny(PatternKind::kDense, HeadMode::kMerged);
  c.n_head = 3;
  auto s = SparseTransformer<float>::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("pattern.heads"),
            std::string::npos);
  c = Tiny(PatternKind::kDense, HeadMode::kMerged);
  c.qk_ratio = 0.3;
  s = SparseTransformer<float>::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("qk"), std::string::npos);
  c = Tiny(PatternKind::kDense, HeadMode::kMerged);
  c.resid_dropout = 1.0;
  EXPECT_FALSE(SparseTransformer<float>::Create(c).ok());
  c = Tiny(PatternKind::kDense, HeadMode::kMerged);
  c.embedding = ops::EmbeddingKind::kImage;
  c.image_shape = {4, 4, 3};  // 48 != 64
  s = SparseTransformer<float>::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("4x4x3"), std::string::npos);
}

TEST(ModelTest, ParamGroupsTileTheFlatBufferAndInitFollowsThePaper) {
  ModelConfig c = Tiny(PatternKind::kFixed, HeadMode::kMerged);
  c.d_model = 64;
  c.n_head = 2;
  c.pattern.heads = 2;
  c.n_layer = 8;
  auto made = SparseTransformer<double>::Create(c);
  ASSERT_TRUE(made.ok()) << made.status();
  auto& m = **made;
  int64_t next = 0;
  for (const auto& g : m.param_groups()) {
    EXPECT_EQ(g.offset, next) << g.name;
    int64_t size = 1;
    for (int64_t s : g.shape) size *= s;
    EXPECT_EQ(g.size, size) << g.name;
    EXPECT_EQ(g.decay, g.shape.size() >= 2) << g.name;
    next += g.size;
  }
  EXPECT_EQ(next, static_cast<int64_t>(m.params().size()));
  auto stddev = [&](const std::string& name) {
    for (const auto& g : m.param_groups()) {
      if (g.name != name) continue;
      double s2 = 0;
      for (int64_t i = 0; i < g.size; ++i) {
        s2 += m.params()[g.offset + i] * m.params()[g.offset + i];
      }
      return std::sqrt(s2 / g.size);
    }
    ADD_FAILURE() << "no group " << name;
    return 0.0;
  };
  const double d = 64, f = 128, depth = std::sqrt(2.0 * 8);
  // Sample std of 4096+ normals is within ~2% of the truth.
  EXPECT_NEAR(stddev("h3.attn.w_qkv") / (0.125 / std::sqrt(d)), 1, 0.05);
  EXPECT_NEAR(stddev("h3.ff.w_1") / (0.125 / std::sqrt(d)), 1, 0.05);
  EXPECT_NEAR(stddev("h3.attn.w_proj") / (0.125 / std::sqrt(d) / depth), 1,
              0.05);
  EXPECT_NEAR(stddev("h3.ff.w_2") / (0.125 / std::sqrt(f) / depth), 1, 0.05);
  EXPECT_NEAR(stddev("wte") / (0.125 / std::sqrt(d)), 1, 0.05);
  EXPECT_EQ(stddev("w_out"), 0.0);
  EXPECT_EQ(stddev("h3.attn.b_qkv"), 0.0);
  EXPECT_EQ(stddev("h3.ff.b_2"), 0.0);
  EXPECT_EQ(stddev("lnf.g"), 1.0);
}

TEST(ModelTest, StructureNamesThePatternThatParametersDoNotShow) {
  // Fixed and strided models of one size have the same parameters; a
  // checkpoint tells them apart only by structure().
  auto fixed =
      TrainableModel::Create(Tiny(PatternKind::kFixed, HeadMode::kMerged));
  auto strided =
      TrainableModel::Create(Tiny(PatternKind::kStrided, HeadMode::kMerged));
  auto fixed_again =
      TrainableModel::Create(Tiny(PatternKind::kFixed, HeadMode::kMerged));
  ASSERT_TRUE(fixed.ok() && strided.ok() && fixed_again.ok());
  EXPECT_EQ(train::ModelSignature((*fixed)->param_groups()),
            train::ModelSignature((*strided)->param_groups()));
  EXPECT_EQ((*fixed)->structure(),
            "pattern fixed n=64 block=16 stride=32 c=16 heads=2 merged both; "
            "embedding text stride=16");
  EXPECT_EQ((*fixed)->structure(), (*fixed_again)->structure());
  EXPECT_NE((*fixed)->structure(), (*strided)->structure());
  EXPECT_NE(train::ModelSignature(**fixed), train::ModelSignature(**strided));
}

TEST(ModelTest, InitialLossIsLog256BecauseLogitsStartAtZero) {
  auto made = SparseTransformer<float>::Create(
      Tiny(PatternKind::kStrided, HeadMode::kSplit));
  ASSERT_TRUE(made.ok()) << made.status();
  const auto in = Bytes(2 * 64, 1), tgt = Bytes(2 * 64, 2);
  const double loss =
      (*made)->ForwardBackward(in.data(), tgt.data(), 2, 1.0f, 3);
  EXPECT_NEAR(loss, std::log(256.0), 1e-5);
}

TEST(ModelGradientTest, Dense) {
  CheckModelGradient(Tiny(PatternKind::kDense, HeadMode::kMerged), 2);
}
TEST(ModelGradientTest, Local) {
  CheckModelGradient(Tiny(PatternKind::kLocal, HeadMode::kMerged), 2);
}
TEST(ModelGradientTest, StridedMerged) {
  CheckModelGradient(Tiny(PatternKind::kStrided, HeadMode::kMerged), 2);
}
TEST(ModelGradientTest, StridedInterleaved) {
  CheckModelGradient(Tiny(PatternKind::kStrided, HeadMode::kInterleaved), 2);
}
TEST(ModelGradientTest, StridedSplit) {
  CheckModelGradient(Tiny(PatternKind::kStrided, HeadMode::kSplit), 2);
}
TEST(ModelGradientTest, StridedTransposedInterleaved) {
  // The transposed A2 needs (n / l) % block == 0: n = 256, l = 16.
  ModelConfig c = Tiny(PatternKind::kStrided, HeadMode::kInterleaved);
  c.pattern.n = 256;
  c.pattern.strided_transposed = true;
  CheckModelGradient(c, 1, 6);
}
TEST(ModelGradientTest, FixedMerged) {
  CheckModelGradient(Tiny(PatternKind::kFixed, HeadMode::kMerged), 2);
}
TEST(ModelGradientTest, FixedInterleaved) {
  CheckModelGradient(Tiny(PatternKind::kFixed, HeadMode::kInterleaved), 2);
}
TEST(ModelGradientTest, FixedSplitDistinctSummaries) {
  ModelConfig c = Tiny(PatternKind::kFixed, HeadMode::kSplit);
  c.pattern.distinct_summaries = true;
  CheckModelGradient(c, 2);
}
TEST(ModelGradientTest, ImageEmbeddingFullWidthQkAndFf4) {
  ModelConfig c = Tiny(PatternKind::kStrided, HeadMode::kMerged);
  c.embedding = ops::EmbeddingKind::kImage;
  c.image_shape = {4, 8, 2};
  c.qk_ratio = 1.0;
  c.ff_multiple = 4.0;
  CheckModelGradient(c, 1);
}

template <typename T>
void ExpectRecomputeIdentical() {
  ModelConfig c = Tiny(PatternKind::kFixed, HeadMode::kInterleaved);
  auto a = SparseTransformer<T>::Create(c);
  c.recompute = true;
  auto b = SparseTransformer<T>::Create(c);
  ASSERT_TRUE(a.ok() && b.ok());
  Randomize(**a, 0.3);
  Randomize(**b, 0.3);
  const auto in = Bytes(3 * 64, 1), tgt = Bytes(3 * 64, 2);
  const double la = (*a)->ForwardBackward(in.data(), tgt.data(), 3, 1.0, 4);
  const double lb = (*b)->ForwardBackward(in.data(), tgt.data(), 3, 1.0, 4);
  EXPECT_EQ(la, lb);
  auto ga = (*a)->grads(), gb = (*b)->grads();
  for (size_t i = 0; i < ga.size(); ++i) ASSERT_EQ(ga[i], gb[i]) << i;
  EXPECT_LT((*b)->ActivationBytes(3), (*a)->ActivationBytes(3));
}

TEST(RecomputeTest, GradientsBitwiseIdenticalDouble) {
  ExpectRecomputeIdentical<double>();
}
TEST(RecomputeTest, GradientsBitwiseIdenticalFloat) {
  ExpectRecomputeIdentical<float>();
}

TEST(RecomputeTest, SavesActivationMemoryGrowingWithDepth) {
  ModelConfig c = Tiny(PatternKind::kDense, HeadMode::kMerged);
  c.n_layer = 12;
  auto m = SparseTransformer<float>::Create(c);
  ASSERT_TRUE(m.ok());
  const int64_t stored = (*m)->ActivationBytes(4);
  (*m)->set_recompute(true);
  const int64_t recomputed = (*m)->ActivationBytes(4);
  // Stored mode keeps 12 blocks' activations, recompute one block's.
  EXPECT_GT(stored, 3 * recomputed);
}

TEST(ModelTest, AccumulationWeightsAndDeterminism) {
  auto made = SparseTransformer<double>::Create(
      Tiny(PatternKind::kStrided, HeadMode::kInterleaved));
  ASSERT_TRUE(made.ok());
  auto& m = **made;
  Randomize(m, 0.3);
  const auto in = Bytes(64, 1), tgt = Bytes(64, 2);
  m.ForwardBackward(in.data(), tgt.data(), 1, 1.0, 8);
  std::vector<double> once(m.grads().begin(), m.grads().end());
  std::fill(m.grads().begin(), m.grads().end(), 0.0);
  m.ForwardBackward(in.data(), tgt.data(), 1, 0.5, 8);
  m.ForwardBackward(in.data(), tgt.data(), 1, 0.5, 8);
  for (size_t i = 0; i < once.size(); ++i) {
    ASSERT_NEAR(m.grads()[i], once[i], 1e-14 + 1e-12 * std::fabs(once[i]));
  }
}

TEST(ModelTest,
     EvalLossMatchesTrainingLossWithoutDropoutAndFloatMatchesDouble) {
  ModelConfig c = Tiny(PatternKind::kFixed, HeadMode::kMerged);
  c.resid_dropout = c.embd_dropout = 0;
  auto md = SparseTransformer<double>::Create(c);
  auto mf = SparseTransformer<float>::Create(c);
  ASSERT_TRUE(md.ok() && mf.ok());
  Randomize(**md, 0.3);
  Randomize(**mf, 0.3);
  const auto in = Bytes(2 * 64, 1), tgt = Bytes(2 * 64, 2);
  std::vector<double> ld(128);
  std::vector<float> lf(128);
  (*md)->Loss(in.data(), tgt.data(), 2, ld.data());
  (*mf)->Loss(in.data(), tgt.data(), 2, lf.data());
  double mean = 0;
  for (int i = 0; i < 128; ++i) {
    mean += ld[i] / 128;
    EXPECT_NEAR(lf[i], ld[i], 1e-4 * std::max(1.0, ld[i]));
  }
  EXPECT_NEAR((*md)->ForwardBackward(in.data(), tgt.data(), 2, 1.0, 1), mean,
              1e-12);
  // Dropout changes the training loss but not the evaluation loss.
  ModelConfig cd = c;
  cd.resid_dropout = 0.3;
  auto mdd = SparseTransformer<double>::Create(cd);
  ASSERT_TRUE(mdd.ok());
  Randomize(**mdd, 0.3);
  std::vector<double> ldd(128);
  (*mdd)->Loss(in.data(), tgt.data(), 2, ldd.data());
  EXPECT_EQ(ldd, ld);
  EXPECT_NE((*mdd)->ForwardBackward(in.data(), tgt.data(), 2, 1.0, 1), mean);
}

TEST(ModelTest, FloatGradientsMatchDoubleGradients) {
  // The float path (OpenBLAS sgemm with its transposes) against the double
  // path that the finite differences validated.
  ModelConfig c = Tiny(PatternKind::kStrided, HeadMode::kSplit);
  auto md = SparseTransformer<double>::Create(c);
  auto mf = SparseTransformer<float>::Create(c);
  ASSERT_TRUE(md.ok() && mf.ok());
  Randomize(**md, 0.3);
  Randomize(**mf, 0.3);
  const auto in = Bytes(2 * 64, 1), tgt = Bytes(2 * 64, 2);
  (*md)->ForwardBackward(in.data(), tgt.data(), 2, 1.0, 6);
  (*mf)->ForwardBackward(in.data(), tgt.data(), 2, 1.0, 6);
  for (const auto& g : (*md)->param_groups()) {
    std::vector<double> a, b;
    for (int64_t i = 0; i < g.size; ++i) {
      a.push_back((*md)->grads()[g.offset + i]);
      b.push_back((*mf)->grads()[g.offset + i]);
    }
    // float carries ~7 digits; a few hundred accumulations lose about two.
    EXPECT_LT(ops::GradError(a, b), 1e-4) << g.name;
  }
}

TEST(TrainableModelTest, ImplementsTheTrainerInterface) {
  auto made =
      TrainableModel::Create(Tiny(PatternKind::kDense, HeadMode::kMerged));
  ASSERT_TRUE(made.ok());
  train::Trainable& t = **made;
  EXPECT_EQ(t.context(), 64);
  EXPECT_EQ(t.params().size(), t.grads().size());
  const auto in = Bytes(64, 1), tgt = Bytes(64, 2);
  const float loss = t.ForwardBackward(in.data(), tgt.data(), 1, 1.0f, 0);
  EXPECT_NEAR(loss, std::log(256.0), 1e-5);
  std::vector<float> losses(64);
  t.Loss(in.data(), tgt.data(), 1, losses.data());
  EXPECT_NEAR(losses[10], std::log(256.0), 1e-5);
}

}  // namespace
}  // namespace st::model
