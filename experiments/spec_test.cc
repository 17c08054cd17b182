// Spec loading and validation: every committed spec is valid, and each kind
// of bad input is rejected with one line naming the file, field and problem.
#include "experiments/spec.h"

#include <dirent.h>

#include <string>
#include <vector>

#include "experiments/plan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace st::experiments {
namespace {

using ::testing::HasSubstr;

// A valid spec; tests break one thing at a time.
constexpr char kValid[] = R"pb(
  name: "t"
  model {
    n_layer: 2
    d_model: 32
    n_head: 2
    attention { pattern: FIXED stride: 32 c: 16 block_size: 16 }
    embedding { text {} }
  }
  data { dataset: TEXT_STANDIN context: 128 }
  training { batch_size: 2 steps: 3 learning_rate: 0.001 }
)pb";

absl::Status Check(const std::string& text) {
  auto spec = ParseSpecText("bad.pbtxt", text);
  if (!spec.ok()) return spec.status();
  return ValidateSpec("bad.pbtxt", *spec);
}

std::string Replace(std::string s, const std::string& from,
                    const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(SpecTest, ValidSpecPasses) {
  EXPECT_TRUE(Check(kValid).ok()) << Check(kValid);
}

TEST(SpecTest, MissingFileNamesTheFile) {
  auto spec = LoadSpec("/nonexistent/x.pbtxt");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("/nonexistent/x.pbtxt"));
  EXPECT_THAT(spec.status().message(), HasSubstr("not found"));
}

TEST(SpecTest, ParseErrorHasLineAndColumn) {
  absl::Status s = Check("name: \"t\"\nmodel {\n  n_layer: two\n}\n");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("bad.pbtxt:3:12:"));
}

TEST(SpecTest, UnknownFieldIsNamed) {
  absl::Status s = Check("name: \"t\"\nmodel {\n  n_layers: 2\n}\n");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("bad.pbtxt:3:"));
  EXPECT_THAT(s.message(), HasSubstr("n_layers"));
}

TEST(SpecTest, StrideMustDivideContext) {
  absl::Status s = Check(Replace(kValid, "context: 128", "context: 112"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              HasSubstr("bad.pbtxt: model.attention.stride: stride 32 "
                        "does not divide data.context 112"));
}

TEST(SpecTest, BlockMustDivideStride) {
  absl::Status s = Check(Replace(Replace(kValid, "stride: 32", "stride: 24"),
                                 "context: 128", "context: 96"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              HasSubstr("model.attention.block_size: block size 16 does not "
                        "divide model.attention.stride 24"));
}

TEST(SpecTest, SummaryWidthAtMostStride) {
  absl::Status s = Check(Replace(kValid, "c: 16", "c: 48"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("model.attention.c: c = 48 is larger than "
                                     "model.attention.stride 32"));
}

TEST(SpecTest, HeadsMustDivideWidth) {
  absl::Status s = Check(Replace(kValid, "n_head: 2", "n_head: 3"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(
      s.message(),
      HasSubstr("model.n_head: 3 heads do not divide model.d_model 32"));
}

TEST(SpecTest, OtherBadValuesAreNamed) {
  struct Case {
    std::string from, to, field;
  };
  const std::vector<Case> cases = {
      {"pattern: FIXED", "pattern: PATTERN_UNSPECIFIED",
       "model.attention.pattern"},
      {"block_size: 16", "block_size: 24", "model.attention.block_size"},
      {"batch_size: 2", "batch_size: 2 micro_batch_size: 3",
       "training.micro_batch_size"},
      {"steps: 3", "", "training: missing duration"},
      {"learning_rate: 0.001", "learning_rate: -1", "training.learning_rate"},
      {"embedding { text {} }", "", "model.embedding: missing"},
      {"name: \"t\"", "name: \"a b\"", "name:"},
      {"n_layer: 2", "n_layer: 2 resid_dropout: 1.5", "model.resid_dropout"},
  };
  for (const Case& c : cases) {
    absl::Status s = Check(Replace(kValid, c.from, c.to));
    EXPECT_FALSE(s.ok()) << c.field;
    EXPECT_THAT(s.message(), HasSubstr("bad.pbtxt: " + c.field)) << s;
  }
}

TEST(SpecTest, EveryCommittedSpecLoadsAndPlans) {
  const std::string dir = "experiments/specs";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int count = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 6 || name.substr(name.size() - 6) != ".pbtxt") continue;
    auto spec = LoadSpec(dir + "/" + name);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->name() + ".pbtxt", name) << "name must match the file";
    auto plan = MakePlan(*spec);
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status();
    EXPECT_GT(plan->params, 0);
    ++count;
  }
  closedir(d);
  EXPECT_GT(count, 0);
}

TEST(SpecTest, PlanCountsParametersAndDensity) {
  auto spec = ParseSpecText("t.pbtxt", kValid);
  ASSERT_TRUE(spec.ok());
  auto plan = MakePlan(*spec);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // d=32, f=128: per layer 4d + 2(d^2+d) + 2(d^2+d) + (df+f) + (fd+d) = 12,704.
  EXPECT_EQ(plan->params_non_embedding, 2 * 12704);
  // + tokens 256d + positions (128/32 + 32)d + final LN 2d + logits 256d+256.
  EXPECT_EQ(plan->params, 2 * 12704 + 256 * 32 + 36 * 32 + 64 + 256 * 32 + 256);
  ASSERT_EQ(plan->layers.size(), 2u);
  EXPECT_GT(plan->layers[0].density, 0.0);
  EXPECT_LT(plan->layers[0].density, 1.0);
}

}  // namespace
}  // namespace st::experiments
