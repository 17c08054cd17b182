#include "eval/report/tfevents.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "eval/report/crc32c.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::report {
namespace {

using ::st::test::FreshTempDir;
using ::st::test::ReadFile;

using ::testing::HasSubstr;

// Check values from RFC 3720 (iSCSI) appendix B.4 and the common "123456789".
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), Crc32c("123456789"));
}

TEST(Crc32cTest, MaskByHand) {
  // 0xE3069283 rotated right by 15 is 0x2507C60D; + 0xa282ead8 = 0xC78AB0E5.
  EXPECT_EQ(MaskCrc(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(UnmaskCrc(0xC78AB0E5u), 0xE3069283u);
  for (uint32_t crc : {0u, 1u, 0xFFFFFFFFu, 0x12345678u}) {
    EXPECT_EQ(UnmaskCrc(MaskCrc(crc)), crc);
  }
}

TEST(TfEventsTest, FrameRecordLayout) {
  const std::string record = FrameRecord("abc");
  ASSERT_EQ(record.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(record.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(record.substr(12, 3), "abc");
  const uint32_t length_crc =
      static_cast<uint8_t>(record[8]) | static_cast<uint8_t>(record[9]) << 8 |
      static_cast<uint8_t>(record[10]) << 16 |
      static_cast<uint32_t>(static_cast<uint8_t>(record[11])) << 24;
  EXPECT_EQ(length_crc, MaskCrc(Crc32c(record.substr(0, 8))));
}

// The field numbers are TensorFlow's: check the serialized bytes by hand.
TEST(TfEventsTest, EventWireFormatMatchesTensorFlow) {
  tfevents::Event event;
  event.set_wall_time(1.0);
  event.set_step(2);
  tfevents::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag("a");
  value->set_simple_value(0.5f);
  std::string bytes;
  ASSERT_TRUE(event.SerializeToString(&bytes));
  const std::string expected(
      // wall_time = 1: tag (1 << 3 | 1 fixed64), 1.0 as little-endian double.
      "\x09\x00\x00\x00\x00\x00\x00\xf0\x3f"
      // step = 2: tag (2 << 3 | 0 varint).
      "\x10\x02"
      // summary = 5: tag (5 << 3 | 2 length-delimited), 10 bytes.
      "\x2a\x0a"
      // Summary.value = 1, 8 bytes: tag "a" (1 << 3 | 2), simple_value 0.5
      // (2 << 3 | 5 fixed32).
      "\x0a\x08\x0a\x01\x61\x15\x00\x00\x00\x3f",
      23);
  EXPECT_EQ(bytes, expected);

  tfevents::Event version;
  version.set_file_version("brain.Event:2");
  ASSERT_TRUE(version.SerializeToString(&bytes));
  EXPECT_EQ(bytes, std::string("\x1a\x0d") + "brain.Event:2");
}

TEST(TfEventsTest, WritesAndReadsBackScalars) {
  const std::string dir = FreshTempDir("tfevents_write");
  auto writer = EventWriter::Create(dir, 1700000000.25, "testhost");
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->path(),
            dir + "/events.out.tfevents.1700000000.testhost");
  ASSERT_TRUE((*writer)->AddScalar("train/bpb", 10, 3.5, 1700000001.0).ok());
  ASSERT_TRUE((*writer)->AddScalar("valid/bpb", 20, 2.25, 1700000002.0).ok());
  const std::string path = (*writer)->path();

  // Read while the writer is open: every event is flushed already.
  auto events = ReadEvents(path);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].file_version(), "brain.Event:2");
  EXPECT_DOUBLE_EQ((*events)[0].wall_time(), 1700000000.25);
  EXPECT_EQ((*events)[1].step(), 10);
  EXPECT_DOUBLE_EQ((*events)[1].wall_time(), 1700000001.0);
  ASSERT_EQ((*events)[1].summary().value_size(), 1);
  EXPECT_EQ((*events)[1].summary().value(0).tag(), "train/bpb");
  EXPECT_FLOAT_EQ((*events)[1].summary().value(0).simple_value(), 3.5f);
  EXPECT_EQ((*events)[2].step(), 20);
  EXPECT_EQ((*events)[2].summary().value(0).tag(), "valid/bpb");
  EXPECT_FLOAT_EQ((*events)[2].summary().value(0).simple_value(), 2.25f);

  // The file is exactly the three framed records, nothing else.
  std::string expected;
  for (const auto& event : *events) {
    expected += FrameRecord(event.SerializeAsString());
  }
  EXPECT_EQ(ReadFile(path), expected);

  // A second writer in the same second does not overwrite the first file.
  auto second = EventWriter::Create(dir, 1700000000.5, "testhost");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->path(), path + ".1");
}

TEST(TfEventsTest, DetectsCorruptionAndTruncation) {
  const std::string dir = FreshTempDir("tfevents_corrupt");
  std::string path;
  {
    auto writer = EventWriter::Create(dir, 1700000000.0, "h");
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->AddScalar("loss", 1, 1.0, 1700000000.0).ok());
    path = (*writer)->path();
  }
  const std::string good = ReadFile(path);

  std::string flipped = good;
  flipped[good.size() - 6] ^= 0x01;  // a data byte of the last record
  std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped;
  auto corrupt = ReadRecords(path);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(corrupt.status().message(), HasSubstr("data CRC mismatch"));

  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << good.substr(0, good.size() - 3);
  auto truncated = ReadRecords(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr("past the end"));

  std::string bad_length = good;
  bad_length[0] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bad_length;
  auto length_error = ReadRecords(path);
  ASSERT_FALSE(length_error.ok());
  EXPECT_THAT(length_error.status().message(), HasSubstr("length CRC"));
}

TEST(TfEventsTest, MissingFolderIsAnError) {
  auto writer = EventWriter::Create("/nonexistent/folder/for/events");
  ASSERT_FALSE(writer.ok());
  EXPECT_THAT(writer.status().message(), HasSubstr("/nonexistent/folder"));
}

}  // namespace
}  // namespace st::report
