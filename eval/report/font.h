// A 5x7 bitmap font for printable ASCII and text drawing on st::Image, for
// plot titles, tick labels and legends.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_FONT_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_FONT_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "sparse_transformer/core/png.h"

namespace st::report {

inline constexpr int kGlyphWidth = 5;    // pixels (at scale 1)
inline constexpr int kGlyphHeight = 7;   // pixels (at scale 1)
inline constexpr int kGlyphAdvance = 6;  // glyph plus one column of space

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// Seven rows, top first; bit 4 is the leftmost column. Characters outside
// ' '..'~' get a hollow box.
const std::array<uint8_t, kGlyphHeight>& Glyph(char c);

// Width in pixels of `text` drawn at `scale` (no trailing space column).
int TextWidth(absl::string_view text, int scale = 1);

// Draws `text` with its top-left corner at (x, y), each font pixel a
// scale x scale square; pixels outside the image are skipped. `image` must
// have 3 channels (RGB) or 1 (gray: the mean of the colour).
void DrawText(Image* image, int x, int y, absl::string_view text, Rgb color,
              int scale = 1);

// Sets one pixel, skipping coordinates outside the image.
void SetPixel(Image* image, int x, int y, Rgb color);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_FONT_H_
