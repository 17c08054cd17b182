// Token embedding plus learned structural position embeddings (paper eq. 15):
// h_i = W_e[x_i] + sum_j W_j[o_j(i)], where o_j(i) is position i's coordinate
// along structural axis j:
//   images: (row, column, channel) of the raster-order HWC byte;
//   text and audio: (row, column) of i in a matrix whose width is the stride,
//   i.e. (i / l, i % l).
#ifndef SPARSE_TRANSFORMER_OPS_EMBEDDING_H_
#define SPARSE_TRANSFORMER_OPS_EMBEDDING_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sparse_transformer/core/parallel.h"

namespace st::ops {

enum class EmbeddingKind { kText, kImage, kAudio };

// "text", "image" or "audio".
inline const char* EmbeddingKindName(EmbeddingKind kind) {
  switch (kind) {
    case EmbeddingKind::kImage:
      return "image";
    case EmbeddingKind::kAudio:
      return "audio";
    case EmbeddingKind::kText:
      break;
  }
  return "text";
}

// The structural axes of a context of n positions.
struct PositionStructure {
  std::vector<std::string> names;           // e.g. "row", "col", "channel"
  std::vector<int64_t> rows;                // [axes] rows of each table
  std::vector<std::vector<int32_t>> index;  // [axes][n] coordinate of i
};

// text/audio need stride > 0; images need image_shape = {H, W, C} with
// H*W*C == n.
inline absl::StatusOr<PositionStructure> MakePositionStructure(
    EmbeddingKind kind, int64_t n, int64_t stride,
    const std::vector<int64_t>& image_shape) {
  if (n <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat("context n=", n, " must be positive"));
  PositionStructure s;
  if (kind == EmbeddingKind::kImage) {
    if (image_shape.size() != 3 || image_shape[0] <= 0 || image_shape[1] <= 0 ||
        image_shape[2] <= 0) {
      return absl::InvalidArgumentError(
          "image embedding needs image_shape = {H, W, C}, all positive");
    }
    const int64_t h = image_shape[0], w = image_shape[1], c = image_shape[2];
    if (h * w * c != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("image_shape ", h, "x", w, "x", c, " = ", h * w * c,
                       " does not equal the context n=", n));
    }
    s.names = {"row", "col", "channel"};
    s.rows = {h, w, c};
    s.index.assign(3, std::vector<int32_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      s.index[0][i] = static_cast<int32_t>(i / (w * c));
      s.index[1][i] = static_cast<int32_t>((i / c) % w);
      s.index[2][i] = static_cast<int32_t>(i % c);
    }
    return s;
  }
  if (stride <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text/audio embedding needs a positive stride, got ", stride));
  }
  s.names = {"row", "col"};
  s.rows = {(n + stride - 1) / stride, std::min(stride, n)};
  s.index.assign(2, std::vector<int32_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    s.index[0][i] = static_cast<int32_t>(i / stride);
    s.index[1][i] = static_cast<int32_t>(i % stride);
  }
  return s;
}

// tokens: [B, N]; w_tok: [256, D]; tables[j]: [rows_j, D]; index[j]: [N];
// out: [B, N, D] (overwritten).
template <typename T>
void EmbeddingForward(int64_t batch, int64_t n, int64_t d,
                      const uint8_t* tokens, const T* w_tok, int num_axes,
                      const T* const* tables, const int32_t* const* index,
                      T* out) {
  ParallelFor(batch * n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % n;
      T* o = out + r * d;
      const T* e = w_tok + static_cast<int64_t>(tokens[r]) * d;
      for (int64_t c = 0; c < d; ++c) o[c] = e[c];
      for (int a = 0; a < num_axes; ++a) {
        const T* p = tables[a] + static_cast<int64_t>(index[a][i]) * d;
        for (int64_t c = 0; c < d; ++c) o[c] += p[c];
      }
    }
  });
}

// The lookups are linear, so each table row receives the sum of dout over the
// positions that read it. Accumulates (+=), serially (rows are shared).
template <typename T>
void EmbeddingBackward(int64_t batch, int64_t n, int64_t d,
                       const uint8_t* tokens, int num_axes,
                       const int32_t* const* index, const T* dout, T* dw_tok,
                       T* const* dtables) {
  for (int64_t r = 0; r < batch * n; ++r) {
    const int64_t i = r % n;
    const T* g = dout + r * d;
    T* e = dw_tok + static_cast<int64_t>(tokens[r]) * d;
    for (int64_t c = 0; c < d; ++c) e[c] += g[c];
    for (int a = 0; a < num_axes; ++a) {
      T* p = dtables[a] + static_cast<int64_t>(index[a][i]) * d;
      for (int64_t c = 0; c < d; ++c) p[c] += g[c];
    }
  }
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_EMBEDDING_H_
