#include "datasets/standins.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/file_util.h"
#include "datasets/photo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace st {
namespace datasets {
namespace {

using ::testing::HasSubstr;

std::string Tmp(const std::string& name) {
  return JoinPath(std::string(getenv("TEST_TMPDIR")), name);
}

TEST(TextStandinTest, DictEntriesGroupIntoDocuments) {
  const std::string text =
      "00-database-url\n   ftp://x\n\n"
      "Ab \\Ab\\ n.\n   The fifth month.\n\n   [1913 Webster]\n\n"
      "Abaca \\Ab\"a*ca\\ n.\n   Manila hemp.\n\n"
      "Abacus n.\n   A counting frame.\n";
  const std::vector<std::string> docs = GroupDictEntries(text, 2);
  // Entries: 00-database-url, Ab (its indented "[1913 Webster]" paragraph
  // stays with it), Abaca, Abacus -> two documents of two entries.
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].rfind("00-database-url", 0), 0u);
  EXPECT_THAT(docs[0], HasSubstr("[1913 Webster]"));
  EXPECT_EQ(docs[1].rfind("Abaca", 0), 0u);
  EXPECT_EQ(docs[0] + docs[1], text);
}

TEST(TextStandinTest, CorpusIsCutExactlyAndDeterministically) {
  std::vector<std::string> docs;
  for (int i = 0; i < 50; ++i)
    docs.push_back(absl::StrCat("<doc", i, ">body</doc>\n"));
  auto a = CutCorpus(docs, 7, 300);
  auto b = CutCorpus(docs, 7, 300);
  auto c = CutCorpus(docs, 8, 300);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->size(), 300u);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  // Shuffled: the corpus does not start with the first document in order.
  auto whole = CutCorpus(docs, 7, 0);
  ASSERT_TRUE(whole.ok());
  int64_t total = 0;
  for (const auto& d : docs) total += d.size();
  auto all = CutCorpus(docs, 7, total);
  ASSERT_TRUE(all.ok());
  std::string in_order;
  for (const auto& d : docs) in_order += d;
  EXPECT_NE(*all, in_order);
  // Every document appears exactly once in the uncut corpus.
  for (const auto& d : docs) {
    EXPECT_NE(all->find(d), std::string::npos) << d;
  }
  EXPECT_THAT(
      CutCorpus(docs, 7, total + 1).status().message(),
      HasSubstr(absl::StrCat("hold only ", total, " bytes, need ", total + 1)));
}

TEST(StandinTest, SplitByNameIsAStableHash) {
  // FNV-1a 64 mod 10, computed independently: 1, 6, 0.
  EXPECT_EQ(SplitByName("baboon.jpg"), Split::kTrain);
  EXPECT_EQ(SplitByName("apple.jpg"), Split::kTrain);
  EXPECT_EQ(SplitByName("Aqua.jpg"), Split::kTrain);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 1000; ++i) {
    ++counts[static_cast<int>(SplitByName(absl::StrCat("photo", i, ".jpg")))];
  }
  EXPECT_NEAR(counts[0], 800, 60);
  EXPECT_NEAR(counts[1], 100, 35);
  EXPECT_NEAR(counts[2], 100, 35);
}

TEST(StandinTest, PackageVersionsComeFromTheCache) {
  const std::string cache = Tmp("cache");
  ASSERT_TRUE(MakeDirs(cache).ok());
  ASSERT_TRUE(WriteFile(JoinPath(cache, "versions.txt"),
                        "dict-gcide 0.48.5 abc\nopencv-doc 4.6.0 def\n")
                  .ok());
  auto v = PackageVersions(cache, {"opencv-doc"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "package: opencv-doc 4.6.0 def\n");
  EXPECT_THAT(PackageVersions(cache, {"wesnoth-1.16-music"}).status().message(),
              HasSubstr("package wesnoth-1.16-music was not fetched"));
  EXPECT_THAT(PackageVersions(Tmp("nocache"), {"x"}).status().message(),
              HasSubstr("run datasets/fetch_sources.sh first"));
}

Image Gradient(int w, int h) {
  Image im;
  im.width = w;
  im.height = h;
  im.channels = 3;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      im.pixels.push_back(static_cast<uint8_t>(x * 255 / (w - 1)));
      im.pixels.push_back(static_cast<uint8_t>(y * 255 / (h - 1)));
      im.pixels.push_back(100);
    }
  }
  return im;
}

TEST(PhotoTest, TilesDropFlatRegions) {
  // 64x96: the left 32 columns flat grey, the right 32 columns a checker.
  Image im;
  im.width = 64;
  im.height = 96;
  im.channels = 3;
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 64; ++x) {
      const uint8_t v = x < 32 ? 128 : ((x + y) % 2 ? 200 : 50);
      for (int c = 0; c < 3; ++c) im.pixels.push_back(v);
    }
  }
  std::vector<uint8_t> tiles;
  // 2 x 3 tiles of 32: the 3 flat ones (std 0) are dropped; checker std 75.
  EXPECT_EQ(CutTiles(im, 32, 4.0, &tiles), 3);
  ASSERT_EQ(tiles.size(), 3u * 32 * 32 * 3);
  EXPECT_EQ(tiles[0], 50);   // tile (0, 1) starts at x = 32, y = 0: (32+0)%2=0
  EXPECT_EQ(tiles[3], 200);  // next pixel
  // Tile (1, 1) starts at row 32 of the image.
  EXPECT_EQ(tiles[32 * 32 * 3], 50);
  // One 64x64 tile fits (the rest of 96 rows does not); it is not flat.
  tiles.clear();
  EXPECT_EQ(CutTiles(im, 64, 4.0, &tiles), 1);
  EXPECT_EQ(CutTiles(im, 32, 1000.0, &tiles), 0);
}

TEST(PhotoTest, ResizeKeepsAspectAndNeverUpsamples) {
  const Image im = Gradient(300, 200);
  auto small = ResizeShortSide(im, 64);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->width, 96);
  EXPECT_EQ(small->height, 64);
  // A smooth gradient stays a gradient: left dark, right bright in red.
  EXPECT_LT(small->pixels[(32 * 96 + 0) * 3], 10);
  EXPECT_GT(small->pixels[(32 * 96 + 95) * 3], 245);
  EXPECT_NEAR(small->pixels[(32 * 96 + 48) * 3 + 2], 100, 2);
  EXPECT_FALSE(ResizeShortSide(im, 201).ok());
  auto again = ResizeShortSide(im, 64);
  EXPECT_EQ(again->pixels, small->pixels);
}

TEST(PhotoTest, DecodesJpegAndPngToRgb) {
  const Image im = Gradient(40, 24);
  ASSERT_TRUE(WriteJpeg(Tmp("g.jpg"), im, 95).ok());
  auto decoded = LoadPhotoRgb(Tmp("g.jpg"));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 40);
  EXPECT_EQ(decoded->height, 24);
  EXPECT_EQ(decoded->channels, 3);
  double err = 0;
  for (size_t i = 0; i < im.pixels.size(); ++i) {
    err += std::abs(int{decoded->pixels[i]} - int{im.pixels[i]});
  }
  EXPECT_LT(err / im.pixels.size(), 3.0);  // JPEG q95 of a smooth image
  auto twice = LoadPhotoRgb(Tmp("g.jpg"));
  EXPECT_EQ(twice->pixels, decoded->pixels);

  auto bytes = ReadFile(Tmp("g.jpg"));
  ASSERT_TRUE(bytes.ok());
  // Cut inside the entropy-coded scan: libjpeg would pad with grey.
  ASSERT_TRUE(
      WriteFile(Tmp("cut.jpg"), bytes->substr(0, bytes->size() - 100)).ok());
  EXPECT_THAT(std::string(LoadPhotoRgb(Tmp("cut.jpg")).status().message()),
              HasSubstr("cut.jpg: corrupt or truncated JPEG"));
  // Cut before the scan: no image at all.
  ASSERT_TRUE(WriteFile(Tmp("head.jpg"), bytes->substr(0, 300)).ok());
  EXPECT_THAT(std::string(LoadPhotoRgb(Tmp("head.jpg")).status().message()),
              HasSubstr("head.jpg: JPEG decoding failed"));

  Image gray;
  gray.width = 2;
  gray.height = 1;
  gray.channels = 1;
  gray.pixels = {10, 200};
  ASSERT_TRUE(WritePng(Tmp("gray.png"), gray).ok());
  auto rgb = LoadPhotoRgb(Tmp("gray.png"));
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(rgb->pixels, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
  EXPECT_FALSE(LoadPhotoRgb(Tmp("photo.gif")).ok());
}

}  // namespace
}  // namespace datasets
}  // namespace st
