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

// The Hopper kernels' copy of merged query tiles (LayoutView::
// hopper_tile_row_*, read by their forward and dq passes): where it costs no
// 64-key step, empty entries (id -1, every code cuda::kAbsent; the kernels
// load them as zero rows) go before a tile's first key block among its own
// query blocks (t * G .. t * G + G - 1), so that those start a step of E =
// 64 / block entries. In the fixed pattern an odd tile's own first block
// otherwise shares a step with the last summary block, outside the last two
// steps where the dq pass computes dK and dV of the tile's own blocks
// (BuildDqLocalKeys). Lists that gain nothing stay as they are.
TileLists AlignOwnBlocks(const TileLists& lists, int heads, int num_tiles,
                         int G, int E);

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
// Key blocks with skip[h * NB + b] set (the dq pass's, below) are left out.
ColumnTiles BuildColumnTiles(const AttentionLayout& layout,
                             int start_steps = kTileStartSteps,
                             absl::Span<const uint8_t> skip = {});

// Key blocks whose dK and dV the Hopper dq pass computes, so that the dk/dv
// pass leaves them out (LayoutView::dq_local_keys): those whose column list
// lies in one query tile (128 rows) and whose entries in that tile's list
// fall in its last two 64-key steps (where the dq CTA has two ring slots
// free for P and dS). The fixed pattern's non-summary blocks are such: used
// by the queries of their own 128-block only. Without them the dk/dv pass
// ran them as tiles of 2 steps that held an SM 5.8 us each, mostly waiting
// for their first rows (KERNEL_NOTES.md, v76).
// The query tiles' lists as the Hopper kernels walk them: `offsets`
// [LH*(NT+1)] and `cols` (key blocks, -1 for an empty entry), the merged
// lists of BuildTileLists (or AlignOwnBlocks) for blocks of 32 and 64, the
// layout's row CSR for blocks of 128.
struct DqLocalKeys {
  // [LH*NT]: bit (s * E + e) for slice e (of E = 64 / block blocks a step,
  // 1 for block 128) of step nsteps - 2 + s of the tile's list whose key
  // block is the dq pass's.
  std::vector<int32_t> masks;
  std::vector<uint8_t> local;  // [LH*NB] 1: key block b of head h is
  int64_t count = 0;           // blocks with local set
};
DqLocalKeys BuildDqLocalKeys(const AttentionLayout& layout,
                             absl::Span<const int64_t> offsets,
                             absl::Span<const int32_t> cols, int num_tiles);

// Per list of a work list as the Hopper kernels walk it (`heads` x
// `num_lists` lists: entries [offsets[h * (num_lists + 1) + t], ...[+1]),
// `per_entry` mask codes an entry; blocks of `block`), how many of its first
// 64-row steps have every entry present and every code full (-1): the
// Hopper forward and dq run them without loading their codes
// (LayoutView::hopper_row_leading_full). [h * num_lists + t].
std::vector<int32_t> LeadingFullSteps(absl::Span<const int64_t> offsets,
                                      absl::Span<const int32_t> codes,
                                      int per_entry, int heads, int num_lists,
                                      int block);

}  // namespace st::attention

#endif  // SPARSE_TRANSFORMER_ATTENTION_WORK_LISTS_H_
