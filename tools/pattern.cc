// Draws an attention pattern like the paper's Figure 3 and prints its block
// counts.
//
//   bazel run //tools:pattern -- --pattern=fixed --n=12288 --stride=128
//       --c=32 --block=32 --heads=8 --out=fixed.png
//
// Prints one line: live_blocks (all heads) dense_causal_blocks (all heads)
// density (live / dense causal blocks) pair_density (live / causal pairs).
// The PNG has one panel per distinct head (and, for interleaved patterns, per
// distinct layer): on top, the connectivity of one query with the sequence
// laid out as rows of width l (dark: the query, blue: the keys it attends to,
// pale: earlier keys it skips); below, the full N x N matrix (blue: live).
// For N > 1024 the matrix is drawn at block level and downsampled, shaded by
// the fraction of live pairs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/png.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(pattern, "fixed", "dense, local, strided or fixed");
DEFINE_int64(n, 256, "context length N");
DEFINE_int32(stride, 16, "l (local window, strided stride, fixed block)");
DEFINE_int32(c, 4, "fixed: summary width c");
DEFINE_int32(block, 16, "block size: 16, 32, 64 or 128");
DEFINE_int32(heads, 1, "heads");
DEFINE_string(head_mode, "merged", "merged, interleaved or split");
DEFINE_string(part, "both", "merged only: both (A1 u A2), first or second");
DEFINE_bool(distinct, false, "fixed: each head its own c-wide summary");
DEFINE_bool(transposed, false, "strided: A2 in the transposed order");
DEFINE_int32(layer, 0, "layer whose counts are printed");
DEFINE_int64(query, -1, "query drawn on top (-1: near the end)");
DEFINE_string(out, "", "PNG to write (empty: counts only)");

namespace st::tools {
namespace {

using attention::AttentionLayout;

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kPale{222, 232, 245};   // causal, not attended
constexpr Rgb kLive{33, 102, 172};    // attended
constexpr Rgb kQuery{8, 29, 88};      // the query itself
constexpr Rgb kFrame{160, 160, 160};  // panel outline

class Canvas {
 public:
  Canvas(int width, int height) {
    image_.width = width;
    image_.height = height;
    image_.channels = 3;
    image_.pixels.assign(static_cast<size_t>(width) * height * 3, 255);
  }
  void Fill(int x, int y, int w, int h, Rgb c) {
    for (int yy = std::max(0, y); yy < std::min(image_.height, y + h); ++yy) {
      for (int xx = std::max(0, x); xx < std::min(image_.width, x + w); ++xx) {
        uint8_t* p =
            &image_.pixels[(static_cast<size_t>(yy) * image_.width + xx) * 3];
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
      }
    }
  }
  void Outline(int x, int y, int w, int h) {
    Fill(x - 1, y - 1, w + 2, 1, kFrame);
    Fill(x - 1, y + h, w + 2, 1, kFrame);
    Fill(x - 1, y - 1, 1, h + 2, kFrame);
    Fill(x + w, y - 1, 1, h + 2, kFrame);
  }
  const Image& image() const { return image_; }

 private:
  Image image_;
};

Rgb Mix(Rgb a, Rgb b, double t) {  // t = 0: a, t = 1: b
  auto m = [t](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + (y - x) * t));
  };
  return Rgb{m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

constexpr int kMatrixPixels = 512;  // side of the matrix panel
constexpr int kGap = 12;

// Width of the grid the sequence is laid out in for the query picture.
int64_t GridWidth(int64_t n) {
  if (FLAGS_stride > 0 && n % FLAGS_stride == 0) return FLAGS_stride;
  return static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
}

bool DrawQuery(int64_t n) { return n / GridWidth(n) <= 512; }

int QueryPanelHeight(int64_t n) {
  if (!DrawQuery(n)) return 0;
  const int64_t width = GridWidth(n);
  const int64_t rows = (n + width - 1) / width;
  const int cell = std::max<int>(1, kMatrixPixels / width);
  return static_cast<int>(rows * cell);
}

void DrawPanel(Canvas& canvas, int x0, const AttentionLayout& layout, int head,
               int64_t query) {
  const int64_t n = layout.n();
  int y0 = kGap;
  // Top: one query's connectivity over the sequence as a grid of width l.
  if (DrawQuery(n)) {
    const int64_t width = GridWidth(n);
    const int cell = std::max<int>(1, kMatrixPixels / width);
    for (int64_t j = 0; j < n; ++j) {
      Rgb color = kWhite;
      if (j == query) {
        color = kQuery;
      } else if (j < query) {
        color = layout.Allowed(head, query, j) ? kLive : kPale;
      }
      canvas.Fill(x0 + static_cast<int>(j % width) * cell,
                  y0 + static_cast<int>(j / width) * cell, cell, cell, color);
    }
    canvas.Outline(x0, y0, static_cast<int>(width) * cell, QueryPanelHeight(n));
    y0 += QueryPanelHeight(n) + kGap;
  }
  // Bottom: the matrix, query rows top to bottom, keys left to right.
  if (n <= 1024) {
    const int cell = std::max<int>(1, kMatrixPixels / static_cast<int>(n));
    const std::vector<uint8_t> mask = layout.DenseMask(head);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        const Rgb color =
            mask[i * n + j] ? (i == query ? kQuery : kLive) : kPale;
        canvas.Fill(x0 + static_cast<int>(j) * cell,
                    y0 + static_cast<int>(i) * cell, cell, cell, color);
      }
    }
    canvas.Outline(x0, y0, static_cast<int>(n) * cell,
                   static_cast<int>(n) * cell);
    return;
  }
  // Large n: block level (in the head's computation order), each pixel
  // shaded by the fraction of live pairs among the pairs it covers.
  const int nb = layout.num_blocks();
  const int side = std::min(nb, kMatrixPixels);
  std::vector<double> live(static_cast<size_t>(side) * side, 0.0);
  const auto ro = layout.row_offsets();
  for (int qb = 0; qb < nb; ++qb) {
    const int py = static_cast<int>(int64_t{qb} * side / nb);
    for (int64_t e = ro[head * (nb + 1) + qb]; e < ro[head * (nb + 1) + qb + 1];
         ++e) {
      const int px =
          static_cast<int>(int64_t{layout.row_cols()[e]} * side / nb);
      live[static_cast<size_t>(py) * side + px] +=
          static_cast<double>(layout.EntryPairs(e));
    }
  }
  const double block_pairs = static_cast<double>(layout.block()) *
                             layout.block() * nb / side * nb / side;
  const int cell = std::max(1, kMatrixPixels / side);
  for (int py = 0; py < side; ++py) {
    for (int px = 0; px <= py; ++px) {
      const double t = std::min(1.0, live[py * side + px] / block_pairs);
      // A touch of colour for any live pair, so sparse blocks stay visible.
      const double shade = t > 0 ? 0.25 + 0.75 * t : 0.0;
      canvas.Fill(x0 + px * cell, y0 + py * cell, cell, cell,
                  Mix(kPale, kLive, shade));
    }
  }
  canvas.Outline(x0, y0, side * cell, side * cell);
}

absl::Status Run() {
  attention::PatternConfig config;
  ST_ASSIGN_OR_RETURN(config.kind, attention::ParsePatternKind(FLAGS_pattern));
  ST_ASSIGN_OR_RETURN(config.head_mode,
                      attention::ParseHeadMode(FLAGS_head_mode));
  ST_ASSIGN_OR_RETURN(config.part, attention::ParsePatternPart(FLAGS_part));
  config.n = FLAGS_n;
  config.block = FLAGS_block;
  config.stride = FLAGS_stride;
  config.c = FLAGS_c;
  config.heads = FLAGS_heads;
  config.distinct_summaries = FLAGS_distinct;
  config.strided_transposed = FLAGS_transposed;
  if (FLAGS_layer < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--layer=", FLAGS_layer, " must be >= 0"));
  }
  ST_ASSIGN_OR_RETURN(auto layers,
                      attention::BuildLayerLayouts(config, FLAGS_layer + 2));
  const AttentionLayout& layout = *layers[FLAGS_layer];
  const int64_t dense = layout.dense_causal_blocks() * layout.heads();
  std::printf(
      "live_blocks=%lld dense_causal_blocks=%lld density=%.4f "
      "pair_density=%.4f\n",
      static_cast<long long>(layout.live_blocks()),
      static_cast<long long>(dense),
      static_cast<double>(layout.live_blocks()) / dense, layout.density());
  if (FLAGS_out.empty()) return absl::OkStatus();

  const int64_t n = config.n;
  int64_t query = FLAGS_query;
  if (query < 0) query = n - 1 - GridWidth(n) / 3;
  if (query < 0 || query >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("--query=", FLAGS_query, " is outside [0, n=", n, ")"));
  }
  // Distinct (layer, head) panels: both layers of an interleaved pattern.
  struct Panel {
    const AttentionLayout* layout;
    int head;
  };
  std::vector<Panel> panels;
  const int first_layer = layers[0] != layers[1] ? 0 : FLAGS_layer;
  const int last_layer = layers[0] != layers[1] ? 1 : FLAGS_layer;
  for (int r = first_layer; r <= last_layer; ++r) {
    for (int h = 0; h < config.heads && panels.size() < 8; ++h) {
      bool seen = false;
      for (const Panel& p : panels) {
        seen |= p.layout->SameHead(p.head, *layers[r], h);
      }
      if (!seen) panels.push_back({layers[r].get(), h});
    }
  }
  const int side =
      n <= 1024 ? std::max<int>(1, kMatrixPixels / n) * n
                : std::max(1, kMatrixPixels / std::min(layout.num_blocks(),
                                                       kMatrixPixels)) *
                      std::min(layout.num_blocks(), kMatrixPixels);
  const int query_h = QueryPanelHeight(n);
  const int panel_w = std::max<int>(
      side, DrawQuery(n)
                ? std::max<int>(1, kMatrixPixels / GridWidth(n)) * GridWidth(n)
                : 0);
  const int width = static_cast<int>(panels.size()) * (panel_w + kGap) + kGap;
  const int height = kGap + (query_h > 0 ? query_h + kGap : 0) + side + kGap;
  Canvas canvas(width, height);
  for (size_t p = 0; p < panels.size(); ++p) {
    DrawPanel(canvas, kGap + static_cast<int>(p) * (panel_w + kGap),
              *panels[p].layout, panels[p].head, query);
  }
  return WritePng(FLAGS_out, canvas.image());
}

}  // namespace
}  // namespace st::tools

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Draws an attention pattern and prints its counts.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  st::ExitOnError(st::tools::Run());
  return 0;
}
