// The kernels' work lists, built on the host from an AttentionLayout and
// uploaded by DeviceAttentionLayout::Upload: the merged query tiles of the
// forward and dq passes and the key tiles of the Hopper dk/dv pass (see
// cuda::LayoutView for how the kernels read them). Plain C++, testable
// without a GPU.
#ifndef SPARSE_TRANSFORMER_ATTENTION_WORK_LISTS_H_
#define SPARSE_TRANSFORMER_ATTENTION_WORK_LISTS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "sparse_transformer/attention/layout.h"

namespace st::attention {

// Appends the ascending union of the lists of `members` (blocks of head h,
// -1 for padding; rows: key blocks of query blocks, columns: query blocks of
// key blocks) to *ids, and for every union entry one mask code per member to
// *codes (cuda::kAbsent where that member does not use the entry).
void AppendUnion(const AttentionLayout& layout, int h,
                 absl::Span<const int32_t> members, bool columns,
                 std::vector<int32_t>* ids, std::vector<int32_t>* codes);

// The merged lists of tiles of G consecutive query blocks
// (LayoutView::tile_row_*): per head and tile, AppendUnion of its blocks.
struct TileLists {
  std::vector<int64_t> offsets;  // [LH*(NT+1)]
  std::vector<int32_t> ids;      // [U]
  std::vector<int32_t> codes;    // [U*G]
};
TileLists BuildTileLists(const AttentionLayout& layout, int G);

// The Hopper dk/dv pass's key tiles (LayoutView::col_tile_*): up to
// CG = 128 / block key blocks a tile (CG = 1 from block 128), with the union
// of their column lists; per head the tiles with the longest unions first,
// every head padded with empty tiles (no keys, no entries) to NC tiles.
struct ColumnTiles {
  int cg = 1;
  int num_tiles = 0;             // NC
  std::vector<int32_t> keys;     // [LH*NC*CG] key block or -1
  std::vector<int64_t> offsets;  // [LH*(NC+1)]
  std::vector<int32_t> rows;     // [U] query block
  std::vector<int32_t> codes;    // [U*CG]
  std::vector<int32_t> steps;    // [NC] 64-query steps, the longest head's
};

// A tile's start (its keys and first rows arriving) and its stores, counted
// in steps of the dk/dv loop: ~3 us against ~1.3 us a step in the fixed
// pattern's per-CTA timeline (KERNEL_NOTES.md, "Where it stands").
inline constexpr int kTileStartSteps = 2;

// Key blocks are ordered by (last, first) query block of their column lists,
// so that neighbours have similar lists (the fixed pattern's summary blocks
// pair with each other, local windows with their neighbours), and the order
// is cut into runs of at most CG blocks that minimise the modelled time of
// the pass: the sum over tiles of the union's steps plus `start_steps`.
ColumnTiles BuildColumnTiles(const AttentionLayout& layout,
                             int start_steps = kTileStartSteps);

}  // namespace st::attention

#endif  // SPARSE_TRANSFORMER_ATTENTION_WORK_LISTS_H_
