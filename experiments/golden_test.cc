// Metric regression: every *_cpu_tiny spec trains on the committed fixtures
// (testdata/) and its final validation bits per byte may not be worse than
// the golden value in results/golden_cpu_tiny.tsv by more than the tolerance.
//
// Tolerance: runs are bitwise reproducible on one machine (fixed seeds, fixed
// thread partition), but OpenBLAS picks its kernels by CPU, so another
// machine sums in another order; over 30 steps that moves the result by
// well under 0.01 bits per byte. 0.03 leaves room for that and catches real
// regressions (a broken pattern or optimizer costs tenths of a bit or more).
// A change that improves a metric passes; update the golden file with the
// values this test prints ("golden <spec> <bpb>").
#include <dirent.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/prepared.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "gtest/gtest.h"

namespace st::experiments {
namespace {

constexpr double kTolerance = 0.03;  // bits per byte, see above

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string b = s.str();
  return std::vector<uint8_t>(b.begin(), b.end());
}

// Writes a prepared file with the given split sizes (in bytes) from `bytes`.
std::string Prepare(const std::string& name, datasets::Kind kind,
                    std::vector<int64_t> shape,
                    const std::vector<uint8_t>& bytes, int64_t train,
                    int64_t valid) {
  const std::string path = TmpDir() + "/" + name + ".stp";
  auto w = datasets::PreparedWriter::Create(path, kind, shape,
                                            "fixture: experiments/testdata\n");
  EXPECT_TRUE(w.ok()) << w.status();
  absl::Span<const uint8_t> all(bytes);
  EXPECT_TRUE(
      (*w)->Append(datasets::Split::kTrain, all.subspan(0, train)).ok());
  EXPECT_TRUE(
      (*w)->Append(datasets::Split::kValid, all.subspan(train, valid)).ok());
  // The test split repeats the validation split: the tiny runs report valid.
  EXPECT_TRUE(
      (*w)->Append(datasets::Split::kTest, all.subspan(train, valid)).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return path;
}

std::map<std::string, double> ReadGolden() {
  std::map<std::string, double> golden;
  std::ifstream in("experiments/results/golden_cpu_tiny.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name;
    double bpb;
    if (ls >> name >> bpb) golden[name] = bpb;
  }
  return golden;
}

TEST(GoldenTest, CpuTinySpecsMeetTheirGoldenMetrics) {
  const std::map<std::string, double> golden = ReadGolden();
  ASSERT_FALSE(golden.empty()) << "experiments/results/golden_cpu_tiny.tsv";
  const std::string text =
      Prepare("text", datasets::Kind::kText, {1},
              ReadBytes("experiments/testdata/text.bin"), 28000, 9847);
  const std::string images = Prepare(
      "images", datasets::Kind::kImage, {32, 32, 3},
      ReadBytes("experiments/testdata/images32.bin"), 24 * 3072, 8 * 3072);
  const std::string audio =
      Prepare("audio", datasets::Kind::kAudio, {1},
              ReadBytes("experiments/testdata/audio.bin"), 49152, 16384);
  DIR* d = opendir("experiments/specs");
  ASSERT_NE(d, nullptr);
  int checked = 0;
  while (dirent* e = readdir(d)) {
    const std::string file = e->d_name;
    const std::string suffix = "_cpu_tiny.pbtxt";
    if (file.size() <= suffix.size() ||
        file.substr(file.size() - suffix.size()) != suffix) {
      continue;
    }
    SCOPED_TRACE(file);
    auto spec = LoadSpec("experiments/specs/" + file);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const auto& emb = spec->model().embedding();
    spec->mutable_data()->set_path(emb.has_image()   ? images
                                   : emb.has_audio() ? audio
                                                     : text);
    RunOptions options;
    options.quiet = true;
    options.run_dir = TmpDir() + "/" + spec->name();
    auto result = RunExperiment(*spec, options, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    const double bpb = result->valid_bpb();
    std::printf("golden %s %.4f\n", spec->name().c_str(), bpb);
    auto it = golden.find(spec->name());
    if (it == golden.end()) {
      ADD_FAILURE() << "no golden value for " << spec->name();
      continue;
    }
    EXPECT_LE(bpb, it->second + kTolerance)
        << spec->name() << " regressed: " << bpb << " bits per byte, golden "
        << it->second;
    // Training must have moved clearly below the uniform 8 bits.
    EXPECT_LT(bpb, 7.9) << spec->name();
    ++checked;
  }
  closedir(d);
  EXPECT_EQ(checked, static_cast<int>(golden.size()))
      << "every golden entry must have its spec";
}

}  // namespace
}  // namespace st::experiments
