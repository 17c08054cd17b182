// The runner end to end on a small real-text fixture: the run folder and its
// files, resume, and every committed spec shrunk to one training step.
#include "experiments/runner.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/prepared.h"
#include "experiments/overrides.h"
#include "experiments/spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::experiments {
namespace {

using ::st::test::ReadFile;

using ::testing::HasSubstr;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// experiments/testdata/text.bin: 37,847 bytes of real text (Mallard XML help
// pages and dictionary entries, see testdata/README.md).
std::vector<uint8_t> Fixture() {
  const std::string s = ReadFile("experiments/testdata/text.bin");
  return std::vector<uint8_t>(s.begin(), s.end());
}

// A prepared file of `kind` from the fixture: streams split 28000/5000/rest;
// images cut into examples of H*W*C bytes, one example per split.
std::string MakePrepared(datasets::Kind kind, std::vector<int64_t> shape,
                         const std::string& name) {
  const std::vector<uint8_t> bytes = Fixture();
  const std::string path = TmpDir() + "/" + name + ".stp";
  auto w = datasets::PreparedWriter::Create(
      path, kind, shape, "test fixture: experiments/testdata/text.bin\n");
  EXPECT_TRUE(w.ok()) << w.status();
  absl::Span<const uint8_t> all(bytes);
  if (kind == datasets::Kind::kImage) {
    const int64_t e = shape[0] * shape[1] * shape[2];
    EXPECT_GE(static_cast<int64_t>(bytes.size()), 3 * e);
    EXPECT_TRUE((*w)->Append(datasets::Split::kTrain, all.subspan(0, e)).ok());
    EXPECT_TRUE((*w)->Append(datasets::Split::kValid, all.subspan(e, e)).ok());
    EXPECT_TRUE(
        (*w)->Append(datasets::Split::kTest, all.subspan(2 * e, e)).ok());
  } else {
    EXPECT_TRUE(
        (*w)->Append(datasets::Split::kTrain, all.subspan(0, 28000)).ok());
    EXPECT_TRUE(
        (*w)->Append(datasets::Split::kValid, all.subspan(28000, 5000)).ok());
    EXPECT_TRUE((*w)->Append(datasets::Split::kTest, all.subspan(33000)).ok());
  }
  absl::Status s = (*w)->Finish();
  EXPECT_TRUE(s.ok()) << s;
  return path;
}

void Set(proto::Experiment* spec, const std::string& assignment) {
  absl::Status s = ApplyOverride(assignment, spec);
  ASSERT_TRUE(s.ok()) << s;
}

TEST(RunnerTest, TinySpecRunsEndToEndAndResumes) {
  auto spec = LoadSpec("experiments/specs/enwik8_fixed_cpu_tiny.pbtxt");
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->mutable_data()->set_path(
      MakePrepared(datasets::Kind::kText, {1}, "text_e2e"));
  Set(&*spec, "training.steps=6");
  Set(&*spec, "training.eval_interval_steps=3");
  Set(&*spec, "training.checkpoint_interval_steps=3");
  Set(&*spec, "sampling.length=32");
  ASSERT_TRUE(ValidateSpec("t", *spec).ok());

  RunOptions options;
  options.run_dir = TmpDir() + "/run_e2e";
  options.quiet = true;
  std::string run_dir;
  auto result = RunExperiment(*spec, options, &run_dir);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(run_dir, options.run_dir);
  EXPECT_EQ(result->steps(), 6);
  EXPECT_TRUE(std::isfinite(result->valid_bpb()));
  EXPECT_GT(result->valid_bpb(), 0.5);
  EXPECT_LT(result->valid_bpb(), 9.0);  // ~8 = uniform at the start
  EXPECT_EQ(result->spec_hash().size(), 64u);
  for (const char* f :
       {"spec.pbtxt", "checkpoint.bin", "log.tsv", "metrics.csv",
        "result.pbtxt", "report.md", "curves.png", "samples/sample_0.txt"}) {
    EXPECT_TRUE(Exists(run_dir + "/" + f)) << f;
  }
  bool events = false;
  DIR* d = opendir(run_dir.c_str());
  while (dirent* e = readdir(d)) {
    events |= std::string(e->d_name).rfind("events.out.tfevents.", 0) == 0;
  }
  closedir(d);
  EXPECT_TRUE(events);
  EXPECT_EQ(ReadFile(run_dir + "/samples/sample_0.txt").size(), 32u);
  const std::string report = ReadFile(run_dir + "/report.md");
  EXPECT_THAT(report, HasSubstr("Beside the paper"));
  EXPECT_THAT(report, HasSubstr("Sparse Transformer (Fixed)"));
  const std::string metrics = ReadFile(run_dir + "/metrics.csv");
  EXPECT_THAT(metrics,
              testing::ContainsRegex("\n6,[0-9.e+-]+,train,bits_per_byte,"));
  EXPECT_THAT(metrics,
              testing::ContainsRegex("\n3,[0-9.e+-]+,valid,bits_per_byte,"));

  // Resume: the same folder, two more steps.
  Set(&*spec, "training.steps=8");
  options.resume = true;
  auto resumed = RunExperiment(*spec, options, &run_dir);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->steps(), 8);
}

TEST(RunnerTest, MissingDataNamesTheFileAndHowToBuildIt) {
  auto spec = LoadSpec("experiments/specs/enwik8_fixed_cpu_tiny.pbtxt");
  ASSERT_TRUE(spec.ok());
  spec->mutable_data()->set_path(TmpDir() + "/absent.stp");
  RunOptions options;
  options.quiet = true;
  options.runs_root = TmpDir() + "/runs";
  auto result = RunExperiment(*spec, options, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("absent.stp"));
  EXPECT_THAT(result.status().message(), HasSubstr("//datasets:prepare"));
}

TEST(RunnerTest, WrongKindOfDataIsRefused) {
  auto spec = LoadSpec("experiments/specs/cifar10_strided_cpu_tiny.pbtxt");
  ASSERT_TRUE(spec.ok());
  spec->mutable_data()->set_path(
      MakePrepared(datasets::Kind::kText, {1}, "text_kind"));
  RunOptions options;
  options.quiet = true;
  options.runs_root = TmpDir() + "/runs";
  auto result = RunExperiment(*spec, options, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("holds text data"));
}

// Every committed spec, shrunk (1 layer, d=16, a short context for streams)
// but with its own pattern, head mode, embedding and recipe, trains one step,
// evaluates and samples.
TEST(RunnerTest, EverySpecRunsOneShrunkStep) {
  const std::string dir = "experiments/specs";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 6 && n.substr(n.size() - 6) == ".pbtxt") names.push_back(n);
  }
  closedir(d);
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto spec = LoadSpec(dir + "/" + name);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto* m = spec->mutable_model();
    m->set_n_layer(1);
    m->set_d_model(16);
    m->set_n_head(2);
    auto* t = spec->mutable_training();
    t->set_steps(1);
    t->set_batch_size(1);
    t->set_micro_batch_size(0);
    t->set_warmup_steps(1);
    t->set_eval_interval_steps(0);
    t->set_checkpoint_interval_steps(0);
    spec->mutable_evaluation()->set_max_bytes(2048);
    spec->mutable_evaluation()->clear_min_context();
    spec->mutable_sampling()->set_num_samples(1);
    spec->mutable_sampling()->set_length(16);
    if (m->embedding().has_image()) {
      const auto& im = m->embedding().image();
      spec->mutable_data()->set_path(MakePrepared(
          datasets::Kind::kImage, {im.height(), im.width(), im.channels()},
          "img_" + name));
    } else {
      // A shorter stride (at most 4 blocks) keeps the pattern's structure
      // while fitting the fixture; strided's transpose needs n/l = block.
      auto* att = m->mutable_attention();
      const int block = att->block_size();
      const int l = att->stride() > 0
                        ? block * std::min(att->stride() / block, 4)
                        : 4 * block;
      att->set_stride(l);
      if (att->c() > l) att->set_c(l);
      if (att->distinct_summaries() && att->c() * m->n_head() > l) {
        att->set_c(l / m->n_head());
      }
      auto* e = m->mutable_embedding();
      if (e->has_text() && e->text().row_width() > 0) {
        e->mutable_text()->set_row_width(l);
      }
      if (e->has_audio() && e->audio().row_width() > 0) {
        e->mutable_audio()->set_row_width(l);
      }
      const int64_t n = att->pattern() == proto::AttentionSpec::STRIDED
                            ? int64_t{l} * block
                            : 2 * l;
      spec->mutable_data()->set_context(n);
      spec->mutable_data()->set_path(MakePrepared(
          e->has_audio() ? datasets::Kind::kAudio : datasets::Kind::kText, {1},
          "stream_" + name));
      spec->mutable_evaluation()->set_max_bytes(2 * n + 1);
    }
    absl::Status valid = ValidateSpec(name, *spec);
    ASSERT_TRUE(valid.ok()) << valid;
    RunOptions options;
    options.quiet = true;
    options.run_dir = TmpDir() + "/shrunk_" + name;
    auto result = RunExperiment(*spec, options, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->steps(), 1);
    const double bpb =
        result->has_test_bpb() ? result->test_bpb() : result->valid_bpb();
    EXPECT_TRUE(std::isfinite(bpb));
  }
}

}  // namespace
}  // namespace st::experiments
