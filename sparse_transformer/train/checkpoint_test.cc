#include "sparse_transformer/train/checkpoint.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::train {
namespace {

using ::st::test::ReadFile;
using ::st::test::TempPath;

using ::testing::AllOf;
using ::testing::HasSubstr;

TrainState Sample() {
  TrainState s;
  s.step = 42;
  s.adam_steps = 40;
  s.rng_state = 0x0123456789ABCDEFull;
  s.loss_scale = 2048.0f;
  s.loss_scale_clean_steps = 7;
  s.model_signature = "w[2,3]@0d;b[3]@6;";
  s.data_state = std::string("\x00\x01pos\xff", 6);
  s.params = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -0.0f, 7, 8, 9};
  for (float p : s.params) {
    s.adam_m.push_back(p * 0.5f);
    s.adam_v.push_back(p * p);
  }
  return s;
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

TEST(CheckpointTest, RoundTripsEveryField) {
  const std::string path = TempPath("roundtrip.bin");
  const TrainState s = Sample();
  ASSERT_TRUE(WriteCheckpoint(path, s).ok());
  auto r = ReadCheckpoint(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step, 42);
  EXPECT_EQ(r->adam_steps, 40);
  EXPECT_EQ(r->rng_state, s.rng_state);
  EXPECT_EQ(r->loss_scale, 2048.0f);
  EXPECT_EQ(r->loss_scale_clean_steps, 7);
  EXPECT_EQ(r->model_signature, s.model_signature);
  EXPECT_EQ(r->data_state, s.data_state);
  EXPECT_EQ(r->params, s.params);
  EXPECT_EQ(r->adam_m, s.adam_m);
  EXPECT_EQ(r->adam_v, s.adam_v);
  // The temporary file is gone after the rename.
  struct stat st;
  EXPECT_NE(::stat((path + ".tmp").c_str(), &st), 0);
}

TEST(CheckpointTest, RefusesTruncatedFilesNamingThem) {
  const std::string path = TempPath("truncated.bin");
  ASSERT_TRUE(WriteCheckpoint(path, Sample()).ok());
  const std::string whole = ReadFile(path);
  for (size_t keep :
       {size_t{0}, size_t{5}, size_t{23}, whole.size() / 2, whole.size() - 1}) {
    WriteAll(path, whole.substr(0, keep));
    auto r = ReadCheckpoint(path);
    ASSERT_FALSE(r.ok()) << keep;
    EXPECT_THAT(std::string(r.status().message()),
                AllOf(HasSubstr(path), HasSubstr("truncated")))
        << keep;
  }
}

TEST(CheckpointTest, RefusesAnyFlippedPayloadByte) {
  const std::string path = TempPath("corrupt.bin");
  ASSERT_TRUE(WriteCheckpoint(path, Sample()).ok());
  const std::string whole = ReadFile(path);
  for (size_t i = 24; i < whole.size(); i += 7) {
    std::string bad = whole;
    bad[i] ^= 0x10;
    WriteAll(path, bad);
    auto r = ReadCheckpoint(path);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_THAT(std::string(r.status().message()),
                AllOf(HasSubstr(path), HasSubstr("corrupt")))
        << i;
  }
}

TEST(CheckpointTest, RefusesWrongMagicVersionAndMissingFile) {
  const std::string path = TempPath("header.bin");
  ASSERT_TRUE(WriteCheckpoint(path, Sample()).ok());
  std::string bad = ReadFile(path);
  bad[0] = 'X';
  WriteAll(path, bad);
  EXPECT_THAT(std::string(ReadCheckpoint(path).status().message()),
              HasSubstr("wrong magic"));
  bad = ReadFile(TempPath("header.bin"));
  bad[0] = 'S';
  bad[8] = 99;  // version field
  WriteAll(path, bad);
  EXPECT_THAT(std::string(ReadCheckpoint(path).status().message()),
              HasSubstr("format version 99"));
  auto missing = ReadCheckpoint(TempPath("no_such_checkpoint.bin"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("no_such_checkpoint.bin"));
}

TEST(CheckpointTest, AFailedWriteLeavesTheLastGoodCheckpoint) {
  const std::string path = TempPath("keep.bin");
  TrainState good = Sample();
  ASSERT_TRUE(WriteCheckpoint(path, good).ok());
  // A folder where the temporary file would go makes the new write fail.
  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0755), 0);
  TrainState next = Sample();
  next.step = 43;
  absl::Status s = WriteCheckpoint(path, next);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  auto r = ReadCheckpoint(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step, 42);
  ::rmdir((path + ".tmp").c_str());
}

TEST(CheckpointTest, RejectsInconsistentState) {
  TrainState s = Sample();
  s.adam_v.pop_back();
  EXPECT_FALSE(WriteCheckpoint(TempPath("bad_state.bin"), s).ok());
}

TEST(ModelSignatureTest, NamesShapesOffsetsAndDecay) {
  std::vector<ParamGroup> groups = {{"w", {2, 3}, 0, 6, true},
                                    {"b", {3}, 6, 3, false}};
  EXPECT_EQ(ModelSignature(groups), "w[2,3]@0d;b[3]@6;");
}

}  // namespace
}  // namespace st::train
