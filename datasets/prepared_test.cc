#include "datasets/prepared.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st {
namespace datasets {
namespace {

using ::st::test::TempPath;

using ::testing::HasSubstr;

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A 2x2x3 image set: 3 train, 1 valid, 2 test examples of 12 bytes.
std::string WriteImageFixture(const std::string& name) {
  std::vector<uint8_t> payload(6 * 12);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = i;
  const std::string path = TempPath(name);
  absl::Span<const uint8_t> all(payload);
  EXPECT_TRUE(WritePrepared(path, Kind::kImage, {2, 2, 3}, "fixture v1",
                            all.subspan(0, 36), all.subspan(36, 12),
                            all.subspan(48, 24))
                  .ok());
  return path;
}

TEST(PreparedTest, RoundTripsImagesAndLayoutIsAsDocumented) {
  const std::string path = WriteImageFixture("images.stp");
  auto file = PreparedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const PreparedHeader& h = (*file)->header();
  EXPECT_EQ(h.kind, Kind::kImage);
  EXPECT_EQ(h.example_shape, (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(h.split_examples, (std::array<int64_t, 3>{3, 1, 2}));
  EXPECT_EQ(h.example_bytes(), 12);
  EXPECT_EQ(h.provenance, "fixture v1");
  EXPECT_EQ(h.payload_offset, 4096);
  EXPECT_EQ(h.payload_bytes, 72);
  const PreparedSplit valid = (*file)->split(Split::kValid);
  ASSERT_EQ(valid.data.size(), 12u);
  EXPECT_EQ(valid.data[0], 36);
  EXPECT_EQ(valid.num_examples(), 1);
  EXPECT_EQ((*file)->data(Split::kTest)[23], 71);
  // Bytes on disk: magic, version 1, kind 2, rank 3, then the payload at 4096.
  const std::vector<uint8_t> raw = ReadAll(path);
  ASSERT_EQ(raw.size(), 4096u + 72u);
  EXPECT_EQ(std::string(raw.begin(), raw.begin() + 8), "STPREP\r\n");
  EXPECT_EQ(raw[8], 1);
  EXPECT_EQ(raw[12], 2);
  EXPECT_EQ(raw[16], 3);
  EXPECT_EQ(raw[56], 3);  // train examples
  EXPECT_EQ(raw[4096 + 5], 5);
}

TEST(PreparedTest, StreamsAreOneBytePerExample) {
  const std::string path = TempPath("text.stp");
  const std::string text = "hello, world";
  absl::Span<const uint8_t> all(reinterpret_cast<const uint8_t*>(text.data()),
                                text.size());
  ASSERT_TRUE(WritePrepared(path, Kind::kText, {1}, "", all.subspan(0, 7),
                            all.subspan(7, 3), all.subspan(10, 2))
                  .ok());
  auto file = PreparedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto test = (*file)->data(Split::kTest);
  EXPECT_EQ(std::string(test.begin(), test.end()), "ld");
  EXPECT_EQ((*file)->split(Split::kTrain).num_examples(), 7);
}

TEST(PreparedTest, IdenticalInputsGiveIdenticalFiles) {
  const std::string a = WriteImageFixture("a.stp");
  const std::string b = WriteImageFixture("b.stp");
  EXPECT_EQ(ReadAll(a), ReadAll(b));
}

TEST(PreparedTest, RefusesMissingFile) {
  auto file = PreparedFile::Open(TempPath("nope.stp"));
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("nope.stp: cannot open"));
}

TEST(PreparedTest, RefusesTruncatedFileNamingSizes) {
  const std::string path = WriteImageFixture("trunc.stp");
  std::vector<uint8_t> raw = ReadAll(path);
  raw.resize(raw.size() - 5);
  WriteAll(path, raw);
  auto file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(),
            path + ": truncated: expected 4168 bytes, found 4163");
  raw.resize(50);
  WriteAll(path, raw);
  file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(),
              HasSubstr("truncated: expected at least 112 header bytes, "
                        "found 50 bytes"));
}

TEST(PreparedTest, RefusesTrailingBytes) {
  const std::string path = WriteImageFixture("long.stp");
  std::vector<uint8_t> raw = ReadAll(path);
  raw.push_back(0);
  WriteAll(path, raw);
  auto file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(),
            path + ": wrong size: expected 4168 bytes, found 4169");
}

TEST(PreparedTest, RefusesWrongMagic) {
  const std::string path = WriteImageFixture("magic.stp");
  std::vector<uint8_t> raw = ReadAll(path);
  raw[0] = 'X';
  WriteAll(path, raw);
  auto file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("wrong magic"));
}

TEST(PreparedTest, RefusesCorruptHeaderAndPayload) {
  const std::string path = WriteImageFixture("corrupt.stp");
  const std::vector<uint8_t> good = ReadAll(path);
  std::vector<uint8_t> raw = good;
  raw[112] ^= 1;  // a provenance byte
  WriteAll(path, raw);
  auto file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("header checksum mismatch"));

  raw = good;
  raw[4096 + 40] ^= 0x80;  // a payload byte
  WriteAll(path, raw);
  file = PreparedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("payload checksum mismatch"));
  // Without payload verification the same file opens (header still checked).
  PreparedFile::Options fast;
  fast.verify_payload = false;
  EXPECT_TRUE(PreparedFile::Open(path, fast).ok());
}

TEST(PreparedTest, WriterRefusesPartialExamplesAndOutOfOrderSplits) {
  const std::string path = TempPath("writer.stp");
  auto writer = PreparedWriter::Create(path, Kind::kImage, {2, 2, 3}, "");
  ASSERT_TRUE(writer.ok());
  std::vector<uint8_t> bytes(13);
  EXPECT_FALSE((*writer)->Append(Split::kTrain, bytes).ok());
  bytes.resize(12);
  EXPECT_TRUE((*writer)->Append(Split::kValid, bytes).ok());
  EXPECT_FALSE((*writer)->Append(Split::kTrain, bytes).ok());
  // Abandoned writers leave nothing that looks complete.
  writer->reset();
  EXPECT_EQ(ReadAll(path).size(), 0u);
  EXPECT_EQ(ReadAll(path + ".partial").size(), 0u);
  EXPECT_FALSE(PreparedWriter::Create(path, Kind::kText, {2, 2, 3}, "").ok());
}

TEST(PreparedTest, HeaderOnlyRead) {
  const std::string path = WriteImageFixture("header.stp");
  auto h = ReadPreparedHeader(path);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->split_bytes(Split::kTrain), 36);
}

}  // namespace
}  // namespace datasets
}  // namespace st
