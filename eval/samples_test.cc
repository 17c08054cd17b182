#include "eval/samples.h"

#include <fstream>
#include <iterator>
#include <string>

#include "datasets/mulaw.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/png.h"
#include "sparse_transformer/core/test_files.h"

namespace st::eval {
namespace {

using ::st::test::ReadFile;
using ::st::test::TempPath;

uint32_t Le(const std::string& s, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  }
  return v;
}

TEST(SamplesTest, TextIsWrittenVerbatim) {
  const std::string text = "byte\x00\xff text\n";
  const std::string path = TempPath("sample.txt");
  ASSERT_TRUE(
      WriteTextSample(
          path, absl::MakeConstSpan(
                    reinterpret_cast<const uint8_t*>(text.data()), text.size()))
          .ok());
  EXPECT_EQ(ReadFile(path), text);
}

TEST(SamplesTest, ImageRoundTripsThroughPng) {
  std::vector<uint8_t> rgb(2 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13);
  const std::string path = TempPath("sample.png");
  ASSERT_TRUE(WriteImageSample(path, rgb, 2, 3, 3).ok());
  auto image = ReadPng(path);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->height, 2);
  EXPECT_EQ(image->width, 3);
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(image->pixels, rgb);
  absl::Status bad = WriteImageSample(path, rgb, 3, 3, 3);
  EXPECT_THAT(std::string(bad.message()), ::testing::HasSubstr("needs 27"));
  EXPECT_FALSE(WriteImageSample(path, rgb, 2, 3, 2).ok());
}

TEST(SamplesTest, MuLawDecodesToPcmWithHandValues) {
  const std::vector<uint8_t> codes = {0, 255, 128, 127};
  const std::vector<int16_t> pcm = MuLawToPcm16(codes);
  EXPECT_EQ(pcm[0], -32767);  // code 0 is -1
  EXPECT_EQ(pcm[1], 32767);   // code 255 is +1
  // Codes 127 and 128 straddle 0: y = -+1/255, x = -+(256^(1/255) - 1)/255.
  const double x = (std::pow(256.0, 1.0 / 255) - 1) / 255;
  EXPECT_EQ(pcm[2], std::lround(x * 32767));
  EXPECT_EQ(pcm[3], -std::lround(x * 32767));
  // Monotone in the code.
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  const auto ramp = MuLawToPcm16(all);
  for (int i = 0; i < 255; ++i) EXPECT_LT(ramp[i], ramp[i + 1]) << i;
}

TEST(SamplesTest, WavHeaderAndSamples) {
  const std::vector<uint8_t> codes = {0, 128, 255};
  const std::string path = TempPath("sample.wav");
  ASSERT_TRUE(WriteAudioSample(path, codes, 12000).ok());
  const std::string wav = ReadFile(path);
  ASSERT_EQ(wav.size(), 44u + 6);
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(Le(wav, 4, 4), 36u + 6);
  EXPECT_EQ(wav.substr(8, 8), "WAVEfmt ");
  EXPECT_EQ(Le(wav, 20, 2), 1u);      // PCM
  EXPECT_EQ(Le(wav, 22, 2), 1u);      // mono
  EXPECT_EQ(Le(wav, 24, 4), 12000u);  // rate
  EXPECT_EQ(Le(wav, 28, 4), 24000u);  // bytes/s
  EXPECT_EQ(Le(wav, 34, 2), 16u);     // bits
  EXPECT_EQ(wav.substr(36, 4), "data");
  EXPECT_EQ(Le(wav, 40, 4), 6u);
  EXPECT_EQ(static_cast<int16_t>(Le(wav, 44, 2)), -32767);
  EXPECT_EQ(static_cast<int16_t>(Le(wav, 48, 2)), 32767);
  EXPECT_FALSE(WriteAudioSample(path, codes, 0).ok());
}

}  // namespace
}  // namespace st::eval
