#include "eval/report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sparse_transformer/core/status.h"

namespace st::report {
namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kAxisText{40, 40, 40};
constexpr int kTitleScale = 2;
constexpr int kTickLength = 4;        // pixels
constexpr int kMaxMarkedPoints = 40;  // mark points only on sparse series

void FillRect(Image* image, int x0, int y0, int x1, int y1, Rgb color) {
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) SetPixel(image, x, y, color);
  }
}

void DrawRectOutline(Image* image, int x0, int y0, int x1, int y1, Rgb color) {
  for (int x = x0; x <= x1; ++x) {
    SetPixel(image, x, y0, color);
    SetPixel(image, x, y1, color);
  }
  for (int y = y0; y <= y1; ++y) {
    SetPixel(image, x0, y, color);
    SetPixel(image, x1, y, color);
  }
}

// Bresenham with a 2x2 brush, so curves stay visible when downscaled.
void DrawLine(Image* image, int x0, int y0, int x1, int y1, Rgb color) {
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int error = dx + dy;
  while (true) {
    FillRect(image, x0, y0, x0 + 1, y0 + 1, color);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * error;
    if (e2 >= dy) {
      error += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      error += dx;
      y0 += sy;
    }
  }
}

double TickStep(const std::vector<double>& ticks) {
  return ticks.size() >= 2 ? ticks[1] - ticks[0] : 1.0;
}

}  // namespace

Rgb SeriesColor(int i) {
  // Tableau 10's first eight: distinct in colour and in gray level.
  static constexpr Rgb kPalette[] = {
      {31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
      {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
  return kPalette[((i % 8) + 8) % 8];
}

std::vector<double> NiceTicks(double lo, double hi, int max_ticks) {
  max_ticks = std::max(max_ticks, 2);
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo <= std::abs(hi) * 1e-12 || hi == lo) {
    const double half = lo == 0 ? 0.5 : std::abs(lo) * 0.05;
    lo -= half;
    hi += half;
  }
  const double raw = (hi - lo) / (max_ticks - 1);
  double power = std::pow(10.0, std::floor(std::log10(raw)) - 1);
  for (int attempt = 0; attempt < 64; ++attempt) {
    for (double multiple : {1.0, 2.0, 5.0}) {
      const double step = multiple * power;
      // The small slack keeps 0.6000000001 / 0.2 from adding a tick.
      const double first = std::floor(lo / step + 1e-9);
      const double last = std::ceil(hi / step - 1e-9);
      if (last - first + 1 <= max_ticks) {
        std::vector<double> ticks;
        for (double k = first; k <= last; k += 1) {
          const double tick = k * step;
          ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
        }
        return ticks;
      }
    }
    power *= 10;
  }
  return {lo, hi};
}

std::string FormatTick(double value, double step) {
  int decimals = 0;
  if (step > 0 && step < 1) {
    decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    // A step of 0.25 or 0.05 needs one more digit than its magnitude says.
    const double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) > 1e-6) ++decimals;
  }
  return absl::StrFormat("%.*f", decimals, value);
}

absl::StatusOr<Image> RenderLinePlot(const std::vector<PlotSeries>& series,
                                     const PlotOptions& options) {
  if (options.width < 240 || options.height < 180) {
    return absl::InvalidArgumentError(
        absl::StrCat("plot \"", options.title, "\": size ", options.width, "x",
                     options.height, " is below the minimum 240x180"));
  }
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const PlotSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(x_min)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plot \"", options.title, "\": no finite point in any series"));
  }
  const std::vector<double> x_ticks =
      NiceTicks(x_min, x_max, options.max_ticks);
  const std::vector<double> y_ticks =
      NiceTicks(y_min, y_max, options.max_ticks);
  const double x_lo = x_ticks.front(), x_hi = x_ticks.back();
  const double y_lo = y_ticks.front(), y_hi = y_ticks.back();

  std::vector<std::string> y_labels;
  int y_label_width = 0;
  for (double tick : y_ticks) {
    y_labels.push_back(FormatTick(tick, TickStep(y_ticks)));
    y_label_width = std::max(y_label_width, TextWidth(y_labels.back()));
  }

  // Layout: title on top, the y-axis name above the plot area, tick labels
  // left and below, the x-axis name under them.
  const int title_height =
      options.title.empty() ? 8 : kGlyphHeight * kTitleScale + 14;
  const int left = y_label_width + 16;
  const int top = title_height + kGlyphHeight + 10;
  const int right = options.width - 20;
  const int bottom = options.height - (2 * kGlyphHeight + 24);

  Image image;
  image.width = options.width;
  image.height = options.height;
  image.channels = 3;
  image.pixels.assign(static_cast<size_t>(image.width) * image.height * 3, 255);

  auto to_px = [&](double x) {
    return left + static_cast<int>(
                      std::lround((x - x_lo) / (x_hi - x_lo) * (right - left)));
  };
  auto to_py = [&](double y) {
    return bottom - static_cast<int>(std::lround((y - y_lo) / (y_hi - y_lo) *
                                                 (bottom - top)));
  };

  // Grid, ticks and tick labels.
  for (size_t i = 0; i < x_ticks.size(); ++i) {
    const int px = to_px(x_ticks[i]);
    for (int y = top; y < bottom; ++y) SetPixel(&image, px, y, kGrid);
    for (int y = bottom; y < bottom + kTickLength; ++y) {
      SetPixel(&image, px, y, kBlack);
    }
    const std::string label = FormatTick(x_ticks[i], TickStep(x_ticks));
    int lx = px - TextWidth(label) / 2;
    lx = std::clamp(lx, 0, options.width - TextWidth(label));
    DrawText(&image, lx, bottom + kTickLength + 4, label, kAxisText);
  }
  for (size_t i = 0; i < y_ticks.size(); ++i) {
    const int py = to_py(y_ticks[i]);
    for (int x = left + 1; x <= right; ++x) SetPixel(&image, x, py, kGrid);
    for (int x = left - kTickLength; x < left; ++x) {
      SetPixel(&image, x, py, kBlack);
    }
    DrawText(&image, left - kTickLength - 4 - TextWidth(y_labels[i]),
             py - kGlyphHeight / 2, y_labels[i], kAxisText);
  }
  DrawRectOutline(&image, left, top, right, bottom, kBlack);

  // Titles.
  if (!options.title.empty()) {
    const int tw = TextWidth(options.title, kTitleScale);
    DrawText(&image, std::max(0, (options.width - tw) / 2), 8, options.title,
             kBlack, kTitleScale);
  }
  DrawText(&image, std::max(4, left - TextWidth(options.y_label) / 2),
           top - kGlyphHeight - 6, options.y_label, kAxisText);
  DrawText(&image, (left + right - TextWidth(options.x_label)) / 2,
           options.height - kGlyphHeight - 6, options.x_label, kAxisText);

  // Curves: segments between consecutive finite points, in the given order.
  for (size_t s = 0; s < series.size(); ++s) {
    const Rgb color = SeriesColor(static_cast<int>(s));
    int finite = 0;
    for (const auto& [x, y] : series[s].points) {
      finite += std::isfinite(x) && std::isfinite(y);
    }
    bool have_previous = false;
    int px_prev = 0, py_prev = 0;
    for (const auto& [x, y] : series[s].points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const int px = to_px(x), py = to_py(y);
      if (have_previous) DrawLine(&image, px_prev, py_prev, px, py, color);
      if (finite <= kMaxMarkedPoints) {
        FillRect(&image, px - 2, py - 2, px + 2, py + 2, color);
      }
      have_previous = true;
      px_prev = px;
      py_prev = py;
    }
  }

  // Legend: the inside corner of the plot area that covers the fewest curve
  // pixels (top right first: training curves fall from the top left).
  int legend_text = 0;
  for (const PlotSeries& s : series) {
    legend_text = std::max(legend_text, TextWidth(s.name));
  }
  if (!series.empty()) {
    const int row_height = kGlyphHeight + 6;
    const int box_w = legend_text + 34;
    const int box_h = static_cast<int>(series.size()) * row_height + 8;
    const int corners[4][2] = {{right - 8 - box_w, top + 8},
                               {right - 8 - box_w, bottom - 8 - box_h},
                               {left + 8, top + 8},
                               {left + 8, bottom - 8 - box_h}};
    int best = 0;
    long best_covered = -1;
    for (int c = 0; c < 4; ++c) {
      long covered = 0;
      for (int y = corners[c][1]; y <= corners[c][1] + box_h; ++y) {
        for (int x = corners[c][0]; x <= corners[c][0] + box_w; ++x) {
          if (x < 0 || y < 0 || x >= image.width || y >= image.height) continue;
          const uint8_t* p =
              &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
          // Anything neither background nor grid is a curve.
          const bool background =
              (p[0] == kWhite.r && p[1] == kWhite.g && p[2] == kWhite.b) ||
              (p[0] == kGrid.r && p[1] == kGrid.g && p[2] == kGrid.b);
          covered += !background;
        }
      }
      if (best_covered < 0 || covered < best_covered) {
        best = c;
        best_covered = covered;
      }
    }
    const int x0 = corners[best][0], y0 = corners[best][1];
    FillRect(&image, x0, y0, x0 + box_w, y0 + box_h, kWhite);
    DrawRectOutline(&image, x0, y0, x0 + box_w, y0 + box_h, kAxisText);
    for (size_t s = 0; s < series.size(); ++s) {
      const int row_y = y0 + 6 + static_cast<int>(s) * row_height;
      const Rgb color = SeriesColor(static_cast<int>(s));
      FillRect(&image, x0 + 6, row_y + 2, x0 + 24, row_y + 4, color);
      DrawText(&image, x0 + 30, row_y, series[s].name, kBlack);
    }
  }
  return image;
}

absl::Status WriteLinePlot(const std::string& path,
                           const std::vector<PlotSeries>& series,
                           const PlotOptions& options) {
  ST_ASSIGN_OR_RETURN(Image image, RenderLinePlot(series, options));
  return WritePng(path, image);
}

}  // namespace st::report
