#include "sparse_transformer/core/png.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st {
namespace {

using ::st::test::TempPath;

TEST(PngTest, RoundTripsRgbAndGray) {
  for (int channels : {1, 3, 4}) {
    Image image{5, 3, channels, {}};
    for (int i = 0; i < 5 * 3 * channels; ++i) {
      image.pixels.push_back(static_cast<uint8_t>(i * 37 + 11));
    }
    const std::string path = TempPath("rt.png");
    ASSERT_TRUE(WritePng(path, image).ok());
    absl::StatusOr<Image> back = ReadPng(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->width, 5);
    EXPECT_EQ(back->height, 3);
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, image.pixels);
  }
}

TEST(PngTest, RejectsWrongSizeAndNamesFile) {
  Image image{4, 4, 3, std::vector<uint8_t>(10)};
  absl::Status s = WritePng(TempPath("bad.png"), image);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad.png"), absl::string_view::npos);
  EXPECT_FALSE(ReadPng(TempPath("missing.png")).ok());
}

}  // namespace
}  // namespace st
