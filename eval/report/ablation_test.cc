#include "eval/report/ablation.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "eval/report/curves.h"
#include "eval/report/format.h"
#include "eval/report/metrics_log.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::report {
namespace {

using ::st::test::FreshTempDir;
using ::st::test::ReadFile;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

proto::RunResult Result(const std::string& text) {
  proto::RunResult result;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &result));
  return result;
}

// A metrics log with train bpb at every step in `steps` and valid bpb at
// `valid_steps`, values falling from `start`.
std::string WriteLog(const std::string& path, double start,
                     const std::vector<int>& steps,
                     const std::vector<int>& valid_steps) {
  auto log = MetricsLog::Open(path);
  EXPECT_TRUE(log.ok());
  for (int step : steps) {
    EXPECT_TRUE((*log)
                    ->Append(step, step * 0.1, kSplitTrain, kMetricBpb,
                             start - step * 0.01)
                    .ok());
    EXPECT_TRUE(
        (*log)->Append(step, step * 0.1, kSplitTrain, kMetricLoss, 1.0).ok());
  }
  for (int step : valid_steps) {
    EXPECT_TRUE((*log)
                    ->Append(step, step * 0.1, kSplitValid, kMetricBpb,
                             start - step * 0.005)
                    .ok());
  }
  return path;
}

std::vector<AblationVariant> ThreePatterns(const std::string& dir,
                                           bool with_valid_curves) {
  const std::vector<int> steps = {0, 10, 20, 30};
  const std::vector<int> valid =
      with_valid_curves ? std::vector<int>{10, 30} : std::vector<int>{30};
  return {
      {"dense", Result(R"pb(spec_name: "enwik8_small"
                            seed: 1
                            device: "cpu"
                            data_source: "stand-in: text"
                            steps: 30
                            spec { data { context: 1024 } }
                            valid_bpb: 2.5
                            seconds_per_iter: 0.4
                            peak_memory_bytes: 104857600
                            params: 1230000)pb"),
       WriteLog(dir + "/dense.csv", 4.0, steps, valid)},
      {"fixed", Result(R"pb(spec_name: "enwik8_small"
                            seed: 1
                            device: "cpu"
                            data_source: "stand-in: text"
                            steps: 30
                            spec { data { context: 1024 } }
                            valid_bpb: 2.4375
                            seconds_per_iter: 0.1
                            peak_memory_bytes: 52428800
                            params: 1230000)pb"),
       WriteLog(dir + "/fixed.csv", 3.9, steps, valid)},
      {"strided", Result(R"pb(spec_name: "enwik8_small"
                              seed: 1
                              device: "cpu"
                              data_source: "stand-in: text"
                              steps: 30
                              spec { data { context: 1024 } }
                              valid_bpb: 2.75
                              seconds_per_iter: 2.5
                              params: 1230000)pb"),
       WriteLog(dir + "/strided.csv", 4.1, steps, valid)},
  };
}

TEST(FormatTest, HumanCount) {
  EXPECT_EQ(HumanCount(42), "42");
  EXPECT_EQ(HumanCount(590000), "590k");
  EXPECT_EQ(HumanCount(59000000), "59M");
  EXPECT_EQ(HumanCount(1234567), "1.23M");
  EXPECT_EQ(HumanCount(999999), "1M");
  EXPECT_EQ(HumanCount(2500000000), "2.5B");
}

TEST(FormatTest, MarkdownRows) {
  EXPECT_EQ(MarkdownCell("a|b\nc"), "a\\|b c");
  EXPECT_EQ(MarkdownHeader({"x", "y"}), "| x | y |\n| --- | --- |\n");
}

TEST(CurvesTest, OneSeriesPerSplitThatLoggedTheMetric) {
  const std::string dir = FreshTempDir("curves_series");
  WriteLog(dir + "/m.csv", 4.0, {0, 10}, {10});
  auto rows = ReadMetricsLog(dir + "/m.csv");
  ASSERT_TRUE(rows.ok());
  const std::vector<PlotSeries> series = MetricSeries(*rows, kMetricBpb);
  ASSERT_EQ(series.size(), 2u);  // no test rows
  EXPECT_EQ(series[0].name, "train");
  EXPECT_THAT(series[0].points, ElementsAre(Pair(0.0, 4.0), Pair(10.0, 3.9)));
  EXPECT_EQ(series[1].name, "valid");
  EXPECT_THAT(series[1].points, ElementsAre(Pair(10.0, 3.95)));

  ASSERT_TRUE(WriteRunCurves(dir + "/m.csv", dir + "/curves.png", "run").ok());
  auto png = ReadPng(dir + "/curves.png");
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, 800);

  absl::Status none =
      WriteRunCurves(dir + "/m.csv", dir + "/x.png", "run", "accuracy");
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.message(), HasSubstr("\"accuracy\""));
}

TEST(AblationTest, TableWithRatiosMemoryAndParams) {
  const std::string dir = FreshTempDir("ablation_table");
  const std::string md =
      RenderAblationTable("attention.pattern", ThreePatterns(dir, true));
  EXPECT_THAT(md, HasSubstr("## Ablation: attention.pattern\n"));
  EXPECT_THAT(md, HasSubstr("Shared: base spec enwik8_small; seed 1; data "
                            "stand-in: text, context 1024; device cpu; steps "
                            "30.\n"));
  EXPECT_THAT(md, Not(HasSubstr("Warning")));
  EXPECT_THAT(md, HasSubstr("| Variant | Valid bpb | Time/iter | vs first | "
                            "Peak memory | Params |\n"));
  EXPECT_THAT(md, HasSubstr("| dense | 2.5000 | 400 ms | 1.00× | 100.0 MiB | "
                            "1.23M |\n"));
  // 0.1 / 0.4 = 0.25; 50 MiB.
  EXPECT_THAT(md, HasSubstr("| fixed | 2.4375 | 100 ms | 0.25× | 50.0 MiB | "
                            "1.23M |\n"));
  // 2.5 / 0.4 = 6.25; no memory recorded.
  EXPECT_THAT(md, HasSubstr("| strided | 2.7500 | 2.5 s | 6.25× | — | "
                            "1.23M |\n"));
}

TEST(AblationTest, WarnsWhenVariantsAreNotControlled) {
  const std::string dir = FreshTempDir("ablation_warn");
  std::vector<AblationVariant> variants = ThreePatterns(dir, true);
  variants[1].result.set_seed(2);
  const std::string md = RenderAblationTable("attention.pattern", variants);
  EXPECT_THAT(md, HasSubstr("**Warning:** the variants differ in seed (1 / "
                            "2); their numbers are not a controlled "
                            "comparison."));
  EXPECT_THAT(md, Not(HasSubstr("seed 1;")));
}

TEST(AblationTest, CurvesUseValidWhenEveryVariantHasIt) {
  const std::string dir = FreshTempDir("ablation_curves");
  std::string split;
  auto curves = AblationCurves(ThreePatterns(dir, true), &split);
  ASSERT_TRUE(curves.ok()) << curves.status();
  EXPECT_EQ(split, "valid");
  ASSERT_EQ(curves->size(), 3u);
  EXPECT_EQ((*curves)[1].name, "fixed");
  EXPECT_THAT((*curves)[1].points,
              ElementsAre(Pair(10.0, 3.85), Pair(30.0, 3.75)));

  // One valid point per variant is no curve: fall back to train.
  const std::string dir2 = FreshTempDir("ablation_curves_train");
  curves = AblationCurves(ThreePatterns(dir2, false), &split);
  ASSERT_TRUE(curves.ok());
  EXPECT_EQ(split, "train");
  EXPECT_EQ((*curves)[0].points.size(), 4u);
}

TEST(AblationTest, WritesMarkdownAndPlot) {
  const std::string dir = FreshTempDir("ablation_write");
  const std::vector<AblationVariant> variants = ThreePatterns(dir, true);
  ASSERT_TRUE(WriteAblationReport(dir + "/ablation.md", dir + "/ablation.png",
                                  "attention.pattern", variants)
                  .ok());
  const std::string md = ReadFile(dir + "/ablation.md");
  EXPECT_EQ(md, RenderAblationTable("attention.pattern", variants) +
                    "\n![valid bits per byte per variant](ablation.png)\n");
  auto png = ReadPng(dir + "/ablation.png");
  ASSERT_TRUE(png.ok()) << png.status();
  // Each variant's colour is on the plot.
  for (int i = 0; i < 3; ++i) {
    const Rgb c = SeriesColor(i);
    int count = 0;
    for (size_t p = 0; p + 2 < png->pixels.size(); p += 3) {
      count += png->pixels[p] == c.r && png->pixels[p + 1] == c.g &&
               png->pixels[p + 2] == c.b;
    }
    EXPECT_GT(count, 50) << "variant " << i;
  }
}

TEST(AblationTest, WithoutLogsTheMarkdownSaysSo) {
  const std::string dir = FreshTempDir("ablation_nolog");
  std::vector<AblationVariant> variants = ThreePatterns(dir, true);
  for (AblationVariant& v : variants) v.metrics_csv.clear();
  ASSERT_TRUE(
      WriteAblationReport(dir + "/a.md", dir + "/a.png", "c", variants).ok());
  EXPECT_THAT(ReadFile(dir + "/a.md"), HasSubstr("No curves"));
  EXPECT_FALSE(fs::exists(dir + "/a.png"));
}

TEST(AblationTest, Errors) {
  EXPECT_EQ(WriteAblationReport("/tmp/x.md", "/tmp/x.png", "c", {}).code(),
            absl::StatusCode::kInvalidArgument);
  const std::string dir = FreshTempDir("ablation_errors");
  std::vector<AblationVariant> variants = ThreePatterns(dir, true);
  variants[2].metrics_csv = dir + "/missing.csv";
  absl::Status status =
      WriteAblationReport(dir + "/a.md", dir + "/a.png", "c", variants);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("missing.csv"));
}

}  // namespace
}  // namespace st::report
