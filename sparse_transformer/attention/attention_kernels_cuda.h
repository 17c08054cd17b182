// The raw-array interface of the block-sparse attention kernels: plain structs
// of device pointers, no absl and no AttentionLayout, so nvcc compiles the
// kernels without the host libraries. block_sparse_attention_cuda.h is the
// user-facing API on top of it.
#ifndef SPARSE_TRANSFORMER_ATTENTION_ATTENTION_KERNELS_CUDA_H_
#define SPARSE_TRANSFORMER_ATTENTION_ATTENTION_KERNELS_CUDA_H_

#include <cstdint>

struct CUstream_st;

namespace st::attention::cuda {

// Device copy of an AttentionLayout's arrays (all pointers on the GPU).
struct LayoutView {
  int64_t n = 0;       // positions N
  int block = 0;       // 16, 32, 64 or 128
  int num_blocks = 0;  // NB = n / block
  int layout_heads =
      0;  // heads of the layout; head h of the tensors uses h % layout_heads
  const int64_t* row_offsets = nullptr;  // [LH*(NB+1)]
  const int32_t* row_cols = nullptr;     // [live]
  const int32_t* row_masks =
      nullptr;  // [live] -1 full, -2 causal, >= 0 explicit mask
  const int64_t* col_offsets = nullptr;  // [LH*(NB+1)]
  const int32_t* col_rows = nullptr;     // [live]
  const int64_t* col_entries = nullptr;  // [live]
  const uint64_t* mask_words = nullptr;  // [num_masks * words_per_mask]
  int words_per_mask = 0;
  // Per layout head, permuted position -> original position; nullptr when no
  // head has a permutation (identity rows are stored for heads without one).
  const int32_t* inverse_perm = nullptr;  // [LH*N] or nullptr

  // Tile lists: the kernels work on tiles of G = 128 / block consecutive
  // blocks (128 rows; G = 1 for block 128). For the query tile t of head h,
  // the union of its blocks' key blocks, ascending, with one mask code per
  // block of the tile (kAbsent when that block does not use the key block);
  // uploaded only when row_merge is set (below):
  //   entries [tile_row_offsets[h*(NT+1)+t], ...[+1]); NT = ceil(NB / G).
  int tile_blocks = 1;                        // G
  int num_tiles = 0;                          // NT
  const int64_t* tile_row_offsets = nullptr;  // [LH*(NT+1)]
  const int32_t* tile_row_cols = nullptr;     // [U] key block
  const int32_t* tile_row_codes = nullptr;    // [U*G] mask code or kAbsent
  // Work decomposition chosen at upload from the layout's shape:
  // row_merge: forward and dq CTAs take G query blocks over the merged list
  //   (when the merge wastes little: the G blocks share most key blocks);
  //   else one query block per CTA over the row CSR.
  // col_split: the dk/dv CTA's 8 warps split the key block's column list into
  //   G parts (long lists, e.g. the fixed pattern's summary columns); else
  //   one key block of block/16 warps walks its list alone.
  bool row_merge = false;
  bool col_split = false;

  // Hopper (sm_90a, wgmma) path. Its forward and dq passes use the merged
  // tile lists above (always uploaded then, G = 128 / block, G = 1 for block
  // 128: the row CSR). Its dk/dv pass takes
  // column tiles of up to 128 keys: at most CG = 128 / block key blocks
  // with similar column lists (BuildColumnTiles in work_lists.h), with the
  // ascending union of their query blocks and one mask code per (entry, key
  // block of the tile), kAbsent when unused:
  //   keys of tile t: col_tile_keys[(h*NC+t)*CG + s] (key block or -1),
  //   entries [col_tile_offsets[h*(NC+1)+t], ...[+1]) of col_tile_rows,
  //   codes col_tile_codes[entry*CG + s].
  // Which passes run on wgmma (head dim 64): hopper_rows the forward,
  // hopper_dq the dq pass, hopper_cols the dk/dv pass.
  bool hopper_rows = false;
  bool hopper_dq = false;
  bool hopper_cols = false;
  // With hopper_cols: the wgmma dk/dv pass also accumulates dq (fp32
  // atomics into a workspace, then scaled and converted) and no dq pass
  // runs; dq is then not bit-reproducible from run to run.
  bool hopper_fused_dq = false;
  int col_tile_blocks = 1;  // CG
  int num_col_tiles = 0;    // NC
  // The first dkv_split_tiles tiles of each head run as the two CTAs of a
  // cluster (each half the steps; partial dK/dV summed through distributed
  // shared memory); set per backward call (DeviceAttentionLayout::
  // CallView).
  int dkv_split_tiles = 0;
  // Grid order (every pass): heads interleaved, grid (heads, items,
  // batch), or head after head, grid (items, heads, batch); see SlotOf in
  // kernel_common_cuda.cuh. Set per call (DeviceAttentionLayout::CallView).
  bool interleave_heads = false;
  const int32_t* col_tile_keys = nullptr;     // [LH*NC*CG]
  const int64_t* col_tile_offsets = nullptr;  // [LH*(NC+1)]
  const int32_t* col_tile_rows = nullptr;     // [U] query block
  const int32_t* col_tile_codes = nullptr;    // [U*CG]
  // Per layout head and query tile (NT tiles; the row CSR's NB for block
  // 128): the key blocks of its last two steps whose dK and dV the Hopper
  // dq pass computes (the dk/dv pass's tiles leave them out): bit
  // s * E + e for slice e (E = 64 / block blocks a step, 1 for block 128) of
  // step nsteps - 2 + s; nullptr when there are none (BuildDqLocalKeys).
  const int32_t* dq_local_keys = nullptr;  // [LH*NT]
  // The Hopper forward's and dq pass's own copy of the tile lists (same
  // layout as tile_row_*, with empty entries, key block -1 and every code
  // kAbsent, that align a tile's own blocks to a 64-key step; AlignOwnBlocks
  // in work_lists.h), or nullptr: they walk tile_row_*.
  const int64_t* hopper_tile_row_offsets = nullptr;  // [LH*(NT+1)]
  const int32_t* hopper_tile_row_cols = nullptr;     // [U']
  const int32_t* hopper_tile_row_codes = nullptr;    // [U'*G]
  // Per layout head and list of those the Hopper forward and dq walk
  // (hopper_tile_row_*, else tile_row_*, else for block 128 the row CSR:
  // NT' lists), how many of its first 64-row steps have every entry present
  // with every code full (LeadingFullSteps in work_lists.h): those kernels
  // run them in a loop that neither loads nor tests codes. nullptr: none.
  const int32_t* hopper_row_leading_full = nullptr;  // [LH*NT']
};

inline constexpr int kAbsent =
    -3;  // tile code: this block does not use the entry
inline constexpr int kTileRows = 128;

// The Hopper kernels walk a list of layout blocks in steps of 64 rows
// (queries or keys): 64 / block blocks a step, or block / 64 steps a block.
inline constexpr int kHopperStepRows = 64;
constexpr int HopperEntriesPerStep(int block) {
  return block < kHopperStepRows ? kHopperStepRows / block : 1;
}
constexpr int HopperStepsPerEntry(int block) {
  return block > kHopperStepRows ? block / kHopperStepRows : 1;
}
// The steps of a list of `entries` blocks (the kernels' loop count, and the
// host's estimate of a dk/dv tile's work).
constexpr int HopperListSteps(int entries, int block) {
  const int per_step = HopperEntriesPerStep(block);
  return (entries + per_step - 1) / per_step * HopperStepsPerEntry(block);
}

enum class DType { kBF16, kFP16 };

// q, k, v, out, dout, dq, dk, dv: [B, H, N, K] in ORIGINAL position order,
// element type `dtype`; lse, delta: [B, H, N] fp32 (lse natural log).
struct Problem {
  int batch = 0;
  int heads = 0;
  int head_dim = 0;  // K: 32, 64 or 128
  float scale = 0;   // softmax scale, usually 1/sqrt(K)
  DType dtype = DType::kBF16;
};

// Whether the wgmma kernels can run on the current device (compute
// capability 9.0, i.e. H100/H200; they are built for sm_90a).
bool HopperKernelsAvailable();

// Returns a cudaError_t value (0 on success); launches only, no sync.
int LaunchForward(const LayoutView& layout, const Problem& problem,
                  const void* q, const void* k, const void* v, void* out,
                  float* lse, CUstream_st* stream);

// delta: caller-provided [B, H, N] fp32 workspace (rowsum(dout * out)).
int LaunchBackward(const LayoutView& layout, const Problem& problem,
                   const void* q, const void* k, const void* v, const void* out,
                   const float* lse, const void* dout, void* dq, void* dk,
                   void* dv, float* delta, CUstream_st* stream);

// ---- Per-CTA timeline (diagnostic builds) ----------------------------------
// Built with --define=kernel_timeline=1, thread 0 of every CTA of the Hopper
// kernels records when it ran and where (tools/bench/README.md: the bench's
// --timeline picture). Other builds record nothing and cost nothing.
struct CtaTimes {
  int pass = 0;   // kTimelineForward .. kTimelineDkvSplit
  int cta = 0;    // linear block index in its grid
  int sm = 0;     // the SM it ran on
  int steps = 0;  // steps of its loop (64 keys or queries each)
  // %globaltimer (ns): its start; when step 0's rows had arrived (forward,
  // dq; 0 for dk/dv); after its loop; after its stores.
  uint64_t start_ns = 0, first_ns = 0, loop_ns = 0, end_ns = 0;
};
inline constexpr int kTimelineForward = 0, kTimelineDq = 1, kTimelineDkv = 2,
                     kTimelineDkvSplit = 3, kTimelinePasses = 4;
// CTAs recorded per pass (later ones are dropped).
inline constexpr int kTimelineCtas = 65536;

// Whether this build records timelines.
bool TimelineCompiled();
// Clears the records (cudaError_t value; 0 on success).
int TimelineReset();
// Appends the recorded CTAs (at most `capacity`) to out; *count = how many.
int TimelineRead(CtaTimes* out, int capacity, int* count);

}  // namespace st::attention::cuda

#endif  // SPARSE_TRANSFORMER_ATTENTION_ATTENTION_KERNELS_CUDA_H_
