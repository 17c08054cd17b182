#include "eval/report/metrics_log.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::report {
namespace {

using ::st::test::ReadFile;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A temporary path with no file at it yet.
std::string RemovedTempPath(const std::string& name) {
  const std::string path = st::test::TempPath(name);
  std::filesystem::remove(path);
  return path;
}

TEST(MetricsLogTest, WritesHeaderAndFlushedRows) {
  const std::string path = RemovedTempPath("metrics_rows.csv");
  auto log = MetricsLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(10, 1.5, kSplitTrain, kMetricBpb, 2.5).ok());
  // Visible on disk before the log is closed.
  EXPECT_EQ(ReadFile(path),
            "step,wall_seconds,split,metric,value\n"
            "10,1.500,train,bits_per_byte,2.5\n");
  ASSERT_TRUE((*log)->Append(20, 3.25, kSplitValid, kMetricBpb, 0.1).ok());
  auto rows = ReadMetricsLog(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].step, 20);
  EXPECT_DOUBLE_EQ((*rows)[1].wall_seconds, 3.25);
  EXPECT_EQ((*rows)[1].split, "valid");
  EXPECT_EQ((*rows)[1].metric, "bits_per_byte");
  EXPECT_EQ((*rows)[1].value, 0.1);  // exact: %.17g round-trips
}

TEST(MetricsLogTest, ReopenAppendsWithoutSecondHeader) {
  const std::string path = RemovedTempPath("metrics_reopen.csv");
  {
    auto log = MetricsLog::Open(path);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(1, 0, "train", "loss", 5).ok());
    ASSERT_TRUE((*log)->Append(2, 0, "train", "loss", 4).ok());
  }
  {
    auto log = MetricsLog::Open(path);  // a resumed run
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(2, 0, "train", "loss", 3.5).ok());
    ASSERT_TRUE((*log)->Append(3, 0, "train", "loss", 3).ok());
    ASSERT_TRUE((*log)->Append(3, 0, "valid", "loss", 9).ok());
  }
  auto rows = ReadMetricsLog(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 5u);
  // Step 2 was logged twice: the resumed run's value wins.
  EXPECT_THAT(SelectSeries(*rows, "train", "loss"),
              ElementsAre(Pair(1, 5.0), Pair(2, 3.5), Pair(3, 3.0)));
  EXPECT_THAT(SelectSeries(*rows, "valid", "loss"), ElementsAre(Pair(3, 9.0)));
  EXPECT_TRUE(SelectSeries(*rows, "valid", "bpb").empty());
}

TEST(MetricsLogTest, NonFiniteValuesRoundTrip) {
  const std::string path = RemovedTempPath("metrics_nan.csv");
  auto log = MetricsLog::Open(path);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(1, 0, "train", "loss", std::nan("")).ok());
  ASSERT_TRUE((*log)
                  ->Append(2, 0, "train", "loss",
                           std::numeric_limits<double>::infinity())
                  .ok());
  auto rows = ReadMetricsLog(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE(std::isnan((*rows)[0].value));
  EXPECT_TRUE(std::isinf((*rows)[1].value));
}

TEST(MetricsLogTest, RejectsNamesThatBreakTheCsv) {
  const std::string path = RemovedTempPath("metrics_bad_name.csv");
  auto log = MetricsLog::Open(path);
  ASSERT_TRUE(log.ok());
  absl::Status status = (*log)->Append(1, 0, "train", "a,b", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("a,b"));
  EXPECT_FALSE((*log)->Append(1, 0, "", "bpb", 1).ok());
  EXPECT_FALSE((*log)->Append(1, 0, "train\n", "bpb", 1).ok());
}

TEST(MetricsLogTest, TruncatedLastRowIsDropped) {
  const std::string path = RemovedTempPath("metrics_truncated.csv");
  std::ofstream(path) << "step,wall_seconds,split,metric,value\n"
                      << "1,0.5,train,bpb,3\n"
                      << "2,1.0,tra";  // killed mid-row
  auto rows = ReadMetricsLog(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].value, 3.0);
}

TEST(MetricsLogTest, ReadsLogsWithoutWallTime) {
  const std::string path = RemovedTempPath("metrics_no_time.csv");
  std::ofstream(path) << "step,split,metric,value\n"
                      << "1,train,bits_per_byte,3.5\n"
                      << "2,valid,bits_per_byte,3.25\n";
  auto rows = ReadMetricsLog(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].step, 2);
  EXPECT_EQ((*rows)[1].wall_seconds, 0.0);
  EXPECT_EQ((*rows)[1].split, "valid");
  EXPECT_EQ((*rows)[1].value, 3.25);
}

TEST(MetricsLogTest, MalformedRowNamesFileAndLine) {
  const std::string path = RemovedTempPath("metrics_malformed.csv");
  std::ofstream(path) << "step,wall_seconds,split,metric,value\n"
                      << "1,0.5,train,bpb,3\n"
                      << "x,0.5,train,bpb,3\n";
  auto rows = ReadMetricsLog(path);
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.status().message(), HasSubstr("metrics_malformed.csv:3"));

  std::ofstream(path, std::ios::trunc) << "a,b\n";
  rows = ReadMetricsLog(path);
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.status().message(), HasSubstr("header"));

  EXPECT_FALSE(ReadMetricsLog(RemovedTempPath("metrics_missing.csv")).ok());
}

}  // namespace
}  // namespace st::report
