#include "eval/report/plot.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "eval/report/font.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace st::report {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Image Blank(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = 3;
  image.pixels.assign(static_cast<size_t>(width) * height * 3, 255);
  return image;
}

bool IsColor(const Image& image, int x, int y, Rgb color) {
  const size_t o = (static_cast<size_t>(y) * image.width + x) * 3;
  return image.pixels[o] == color.r && image.pixels[o + 1] == color.g &&
         image.pixels[o + 2] == color.b;
}

// Mean row of the pixels of exactly `color` in columns [x0, x1), or -1.
double MeanRowOf(const Image& image, Rgb color, int x0, int x1) {
  double sum = 0;
  int count = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = x0; x < x1; ++x) {
      if (IsColor(image, x, y, color)) {
        sum += y;
        ++count;
      }
    }
  }
  return count == 0 ? -1 : sum / count;
}

int CountColor(const Image& image, Rgb color, int x0, int y0, int x1, int y1) {
  int count = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) count += IsColor(image, x, y, color);
  }
  return count;
}

TEST(FontTest, EveryPrintableGlyphIsDrawnAndDistinct) {
  for (char c = '!'; c <= '~'; ++c) {
    int bits = 0;
    for (uint8_t row : Glyph(c)) {
      EXPECT_EQ(row & ~0x1F, 0) << "glyph '" << c << "' wider than 5";
      bits += __builtin_popcount(row);
    }
    EXPECT_GT(bits, 0) << "glyph '" << c << "' is empty";
    for (char d = '!'; d < c; ++d) {
      EXPECT_NE(Glyph(c), Glyph(d)) << "'" << c << "' looks like '" << d << "'";
    }
  }
  int space_bits = 0;
  for (uint8_t row : Glyph(' ')) space_bits += row;
  EXPECT_EQ(space_bits, 0);
  EXPECT_EQ(Glyph('\n'), Glyph('\x7f'));  // both the box
}

TEST(FontTest, DrawsTheOneGlyphPixelForPixel) {
  Image image = Blank(12, 10);
  DrawText(&image, 2, 1, "1", Rgb{0, 0, 0});
  // '1' is ..#.. / .##.. / ..#.. x4 / .###.
  const char* expected[7] = {"..#..", ".##..", "..#..", "..#..",
                             "..#..", "..#..", ".###."};
  for (int row = 0; row < 7; ++row) {
    for (int col = 0; col < 5; ++col) {
      EXPECT_EQ(IsColor(image, 2 + col, 1 + row, Rgb{0, 0, 0}),
                expected[row][col] == '#')
          << "row " << row << " col " << col;
    }
  }
  EXPECT_EQ(CountColor(image, Rgb{0, 0, 0}, 0, 0, 12, 10), 10);
  // Scale 2 quadruples every pixel; text off the image is clipped.
  Image big = Blank(12, 16);
  DrawText(&big, 0, 0, "1", Rgb{0, 0, 0}, 2);
  EXPECT_EQ(CountColor(big, Rgb{0, 0, 0}, 0, 0, 12, 16), 40);
  DrawText(&big, -100, -100, "xyz", Rgb{0, 0, 0});
}

TEST(FontTest, TextWidth) {
  EXPECT_EQ(TextWidth(""), 0);
  EXPECT_EQ(TextWidth("a"), 5);
  EXPECT_EQ(TextWidth("abc"), 17);
  EXPECT_EQ(TextWidth("abc", 2), 34);
}

TEST(PlotTest, NiceTicks) {
  EXPECT_THAT(NiceTicks(0.13, 0.97, 6),
              ElementsAre(0.0, DoubleNear(0.2, 1e-12), DoubleNear(0.4, 1e-12),
                          DoubleNear(0.6, 1e-12), DoubleNear(0.8, 1e-12),
                          DoubleNear(1.0, 1e-12)));
  EXPECT_THAT(NiceTicks(0, 1000, 6),
              ElementsAre(0.0, 200.0, 400.0, 600.0, 800.0, 1000.0));
  EXPECT_THAT(NiceTicks(0, 1000, 3), ElementsAre(0.0, 500.0, 1000.0));
  EXPECT_THAT(NiceTicks(2.71, 2.74, 5),
              ElementsAre(DoubleNear(2.71, 1e-12), DoubleNear(2.72, 1e-12),
                          DoubleNear(2.73, 1e-12), DoubleNear(2.74, 1e-12)));
  EXPECT_THAT(NiceTicks(-3, 7, 4), ElementsAre(-5.0, 0.0, 5.0, 10.0));
  // A flat series still gets a range around it.
  const std::vector<double> flat = NiceTicks(2, 2, 5);
  ASSERT_GE(flat.size(), 2u);
  EXPECT_LT(flat.front(), 2.0);
  EXPECT_GT(flat.back(), 2.0);
}

TEST(PlotTest, FormatTick) {
  EXPECT_EQ(FormatTick(0.2, 0.2), "0.2");
  EXPECT_EQ(FormatTick(2.5, 0.05), "2.50");
  EXPECT_EQ(FormatTick(1500, 500), "1500");
  EXPECT_EQ(FormatTick(0.75, 0.25), "0.75");
  EXPECT_EQ(FormatTick(3, 1), "3");
  EXPECT_EQ(FormatTick(0.001, 0.001), "0.001");
}

TEST(PlotTest, CurvesLandWhereTheirValuesSay) {
  // Two flat series at y = 2.9 and y = 1.1 over x in [0, 100], and a legend.
  PlotSeries high{"dense", {{0, 2.9}, {50, 2.9}, {100, 2.9}}};
  PlotSeries low{"strided", {{0, 1.1}, {100, 1.1}}};
  PlotOptions options;
  options.title = "Title";
  auto image = RenderLinePlot({high, low}, options);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 800);
  EXPECT_EQ(image->height, 480);
  EXPECT_EQ(image->channels, 3);

  // Left half of the plot (the legend sits top right).
  const double high_row = MeanRowOf(*image, SeriesColor(0), 100, 400);
  const double low_row = MeanRowOf(*image, SeriesColor(1), 100, 400);
  ASSERT_GT(high_row, 0);
  ASSERT_GT(low_row, 0);
  EXPECT_LT(high_row, low_row);  // larger values are higher up

  // The y ticks are 1.0 .. 3.0 in steps of 0.5 (at most 7 ticks) and the
  // frame spans rows [top, bottom], so y = 2.9 lies 5% of the way down from
  // the top edge and y = 1.1 5% of the way up from the bottom edge.
  int top = -1, bottom = -1;
  const int column = 300;
  // Below the title (rows < 30), the first black pixel is the frame's top.
  for (int y = 30; y < image->height && top < 0; ++y) {
    if (IsColor(*image, column, y, Rgb{0, 0, 0})) top = y;
  }
  for (int y = image->height - 1; y >= 0; --y) {
    if (IsColor(*image, column, y, Rgb{0, 0, 0})) {
      bottom = y;
      break;
    }
  }
  ASSERT_GT(top, 0);
  ASSERT_GT(bottom, top);
  // +0.5: the line is 2 pixels wide, drawn down from its row.
  EXPECT_NEAR(high_row, top + 0.05 * (bottom - top) + 0.5, 1.0);
  EXPECT_NEAR(low_row, bottom - 0.05 * (bottom - top) + 0.5, 1.0);

  // The legend has a swatch of each colour in the right part of the frame.
  EXPECT_GT(CountColor(*image, SeriesColor(0), 600, top, 780, top + 40), 10);
  EXPECT_GT(CountColor(*image, SeriesColor(1), 600, top, 780, top + 40), 10);
  // The title is drawn at scale 2 above the frame.
  EXPECT_GT(CountColor(*image, Rgb{0, 0, 0}, 0, 0, 800, 24), 50);
}

TEST(PlotTest, LegendAvoidsTheCurves) {
  // A curve rising to the top right corner: the legend moves to the bottom
  // right, the first free corner in the order top right, bottom right, ...
  PlotSeries rising{"rising", {}};
  for (int x = 0; x <= 100; ++x) rising.points.push_back({x, x * x * 1e-4});
  PlotOptions options;
  options.width = 400;
  options.height = 300;
  auto image = RenderLinePlot({rising}, options);
  ASSERT_TRUE(image.ok()) << image.status();
  const Rgb color = SeriesColor(0);
  // The swatch is a solid 19x3 bar; the curve is thinner at any one spot, so
  // count bars: a pixel whose right neighbours 1..18 share its colour.
  auto has_swatch = [&](int x0, int y0, int x1, int y1) {
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x + 18 < x1; ++x) {
        bool bar = true;
        for (int dx = 0; dx <= 18 && bar; ++dx) {
          for (int dy = 0; dy <= 2 && bar; ++dy) {
            bar = IsColor(*image, x + dx, y + dy, color);
          }
        }
        if (bar) return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has_swatch(200, 150, 400, 300));  // bottom right
  EXPECT_FALSE(has_swatch(200, 0, 400, 150));   // not top right
}

TEST(PlotTest, SkipsNonFiniteAndRejectsEmpty) {
  PlotSeries s{"loss", {{0, 2}, {1, std::nan("")}, {2, 1}}};
  EXPECT_TRUE(RenderLinePlot({s}, PlotOptions()).ok());
  PlotSeries empty{"none", {{0, std::nan("")}}};
  auto status = RenderLinePlot({empty}, PlotOptions()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("no finite point"));
  PlotOptions tiny;
  tiny.width = 10;
  EXPECT_FALSE(RenderLinePlot({s}, tiny).ok());
}

TEST(PlotTest, WritesAReadablePng) {
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string path =
      (std::filesystem::path(outputs != nullptr ? outputs
                                                : ::testing::TempDir()) /
       "plot.png")
          .string();
  PlotSeries s{"train", {}};
  for (int step = 0; step <= 1000; step += 10) {
    s.points.push_back({step, 4.0 * std::exp(-step / 300.0) + 1.2});
  }
  PlotOptions options;
  options.title = "bits per byte (train)";
  options.width = 400;
  options.height = 300;
  ASSERT_TRUE(WriteLinePlot(path, {s}, options).ok());
  auto read = ReadPng(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->width, 400);
  EXPECT_EQ(read->height, 300);
  EXPECT_GT(CountColor(*read, SeriesColor(0), 0, 0, 400, 300), 200);
}

}  // namespace
}  // namespace st::report
