#include "tools/bench/kernel_timeline.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/png.h"

namespace st::bench {
namespace {

using attention::cuda::CtaTimes;
using attention::cuda::kTimelineDkv;
using attention::cuda::kTimelineForward;

// A record with times in us from 1000 us.
CtaTimes Cta(int pass, int cta, int sm, int steps, double start, double first,
             double loop, double end) {
  auto ns = [](double us) { return static_cast<uint64_t>((1000 + us) * 1e3); };
  CtaTimes c;
  c.pass = pass;
  c.cta = cta;
  c.sm = sm;
  c.steps = steps;
  c.start_ns = ns(start);
  c.first_ns = first < 0 ? 0 : ns(first);
  c.loop_ns = ns(loop);
  c.end_ns = ns(end);
  return c;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(KernelTimeline, FileTag) {
  EXPECT_EQ(FileTag("fixed(128,32)"), "fixed_128_32");
  EXPECT_EQ(FileTag("dense"), "dense");
  EXPECT_EQ(FileTag("(a b)"), "a_b");
}

TEST(KernelTimeline, CsvPictureAndSummary) {
  // Two forward CTAs on SMs 0 and 1, then a dk/dv CTA (no step-0 time).
  const std::vector<CtaTimes> ctas = {
      Cta(kTimelineForward, 0, 0, 10, 0, 2, 12, 13),
      Cta(kTimelineForward, 1, 1, 20, 1, 3, 23, 25),
      Cta(kTimelineDkv, 0, 0, 4, 30, -1, 38, 40),
  };
  const std::string base = testing::TempDir() + "/timeline";
  absl::StatusOr<std::string> summary =
      WriteKernelTimeline(ctas, base, "fixed n=12");
  ASSERT_TRUE(summary.ok()) << summary.status();

  // Forward: 2 CTAs, 0 .. 25 us, 2 us to step 0, loop 10 and 20 (15 on
  // average; 30 us over 30 steps: 1 us a step), stores 1 and 2.
  EXPECT_NE(summary->find("fixed n=12: 40.0 us"), std::string::npos)
      << *summary;
  EXPECT_NE(summary->find("forward          2 CTAs      0.0 ..    25.0 us  "
                          "per CTA:  2.00 us to step 0's rows,  15.00 loop, "
                          "1.50 stores; 1.000 us a step"),
            std::string::npos)
      << *summary;
  EXPECT_NE(summary->find("dk/dv            1 CTAs     30.0 ..    40.0 us  "
                          "per CTA:  0.00 us to step 0's rows,   8.00 loop, "
                          "2.00 stores; 2.000 us a step"),
            std::string::npos)
      << *summary;

  const std::vector<std::string> lines =
      absl::StrSplit(ReadFile(base + ".csv"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "pass,cta,sm,steps,start_us,first_us,loop_us,end_us");
  EXPECT_EQ(lines[2], "forward,1,1,20,1.000,3.000,23.000,25.000");
  EXPECT_EQ(lines[3], "dk/dv,0,0,4,30.000,30.000,38.000,40.000");

  absl::StatusOr<Image> png = ReadPng(base + ".png");
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->channels, 3);
  EXPECT_GT(png->width, 1000);
  // Two SM bands of 7 pixels below the 34-pixel header, and the axis.
  EXPECT_EQ(png->height, 34 + 2 * 7 + 24);
}

TEST(KernelTimeline, Errors) {
  EXPECT_FALSE(WriteKernelTimeline({}, testing::TempDir() + "/x", "t").ok());
  CtaTimes bad = Cta(kTimelineForward, 0, 0, 1, 0, 1, 2, 3);
  bad.pass = 9;
  EXPECT_FALSE(WriteKernelTimeline({bad}, testing::TempDir() + "/x", "t").ok());
  const absl::StatusOr<std::string> s =
      WriteKernelTimeline({Cta(kTimelineForward, 0, 0, 1, 0, 1, 2, 3)},
                          "/nonexistent_dir/timeline", "t");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("/nonexistent_dir/timeline.csv"),
            std::string::npos);
}

}  // namespace
}  // namespace st::bench
