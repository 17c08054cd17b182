// AttentionLayout: the single source of truth for a causal block-sparse
// attention pattern. The CPU reference attention, the CUDA kernels, the
// benchmarks and the pattern pictures all read it.
//
// A layout covers H heads over n positions cut into blocks of `block`
// positions. For every head it stores the live (query block, key block) pairs
// and, for each, which (query, key) pairs inside the block are live. Memory is
// proportional to the number of live blocks: no n x n array is ever built, so
// n may reach 1,048,576 for sparse patterns.
//
// Patterns (0-based positions, all causal j <= i; PAPER.md §1):
//   dense:   {j <= i}
//   local(l):  {i-l < j <= i} (l keys including self)
//   strided(l): A1 = local(l), A2 = {j <= i : (i-j) mod l == 0}
//   fixed(l,c): A1 = {j <= i : j/l == i/l}, A2 = {j <= i : j mod l in [l-c, l)}
//     (with distinct summaries, head h's A2 uses its own c-wide sub-block
//      j mod l in [l-(s+1)c, l-sc), s = h mod (l/c)).
#ifndef SPARSE_TRANSFORMER_ATTENTION_LAYOUT_H_
#define SPARSE_TRANSFORMER_ATTENTION_LAYOUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace st::attention {

// In-block mask codes stored in row_masks(); values >= 0 index an explicit
// bit mask.
inline constexpr int32_t kFull = -1;  // every (r, c) pair of the block live
inline constexpr int32_t kCausal =
    -2;  // diagonal block: (r, c) live iff c <= r
inline constexpr int32_t kEmpty =
    -3;  // returned by InternMask only; never stored

// Block sizes the layout (and the kernels) support.
inline bool IsSupportedBlock(int block) {
  return block == 16 || block == 32 || block == 64 || block == 128;
}

class LayoutBuilder;

// One layer's pattern: H heads of a causal block-sparse layout. Immutable once
// built; share it through std::shared_ptr<const AttentionLayout>.
class AttentionLayout {
 public:
  int64_t n() const { return n_; }
  int block() const { return block_; }
  int heads() const { return heads_; }
  int num_blocks() const { return num_blocks_; }  // n / block

  int64_t live_blocks() const { return static_cast<int64_t>(row_cols_.size()); }
  int64_t live_blocks(int head) const;
  // Block-causal count for one head: NB * (NB + 1) / 2.
  int64_t dense_causal_blocks() const;

  // Row-wise CSR (forward kernels). Entries of head h, query block qb are
  // [row_offsets()[h*(NB+1)+qb], row_offsets()[h*(NB+1)+qb+1]), key blocks
  // ascending; offsets are absolute indices into the entry arrays.
  absl::Span<const int64_t> row_offsets() const {
    return row_offsets_;
  }  // [H*(NB+1)]
  absl::Span<const int32_t> row_cols() const {
    return row_cols_;
  }  // [live] key block
  absl::Span<const int32_t> row_masks() const {
    return row_masks_;
  }  // [live] kFull, kCausal or mask index

  // Column-wise CSR (backward dk/dv kernels): for head h, key block kb, the
  // query blocks (ascending) that use it and the index of the same block in the
  // row-wise entry arrays.
  absl::Span<const int64_t> col_offsets() const {
    return col_offsets_;
  }  // [H*(NB+1)]
  absl::Span<const int32_t> col_rows() const {
    return col_rows_;
  }  // [live] query block
  absl::Span<const int64_t> col_entries() const {
    return col_entries_;
  }  // [live] index into row_*()

  // Explicit in-block masks, deduplicated. Mask m is block*block bits,
  // row-major, bit (r*block + c) set iff (query r, key c) is live, packed into
  // 64-bit words [m*words_per_mask(), (m+1)*words_per_mask()).
  int words_per_mask() const { return words_per_mask_; }
  int num_masks() const { return num_masks_; }
  absl::Span<const uint64_t> mask_words() const {
    return mask_words_;
  }  // [num_masks * words_per_mask]

  // Optional per-head permutation of positions (the paper's strided
  // transpose): the blocks of that head are expressed over permuted positions.
  // permutation(h)[p] = where original position p goes; inverse_permutation(h)
  // maps back. Empty span = identity for that head.
  absl::Span<const int32_t> permutation(int head) const;  // [N] or empty
  absl::Span<const int32_t> inverse_permutation(
      int head) const;  // [N] or empty
  bool has_permutation() const;

  // Is (query r, key c) live inside the block of entry `entry`?
  bool EntryAllows(int64_t entry, int r, int c) const;
  // Number of live (query, key) pairs inside the block of entry `entry`.
  int64_t EntryPairs(int64_t entry) const;

  // Position-level queries, in ORIGINAL positions (for tests and tools).
  // False for a head or position out of range.
  bool Allowed(int head, int64_t i, int64_t j) const;
  // n*n row-major mask of head h in original positions. Small n only (tests):
  // returns an empty vector when n > kMaxDenseMaskN or head is out of range.
  static constexpr int64_t kMaxDenseMaskN = 8192;
  std::vector<uint8_t> DenseMask(int head) const;

  int64_t live_pairs(int head) const;  // live (i, j) pairs of one head
  // Live (i, j) pairs / dense causal pairs n(n+1)/2, over all heads.
  double density() const;

  // True when head a of this layout and head b of `other` have the same
  // blocks, masks and permutation.
  bool SameHead(int a, const AttentionLayout& other, int b) const;

 private:
  friend class LayoutBuilder;
  AttentionLayout() = default;

  int64_t n_ = 0;
  int block_ = 0;
  int heads_ = 0;
  int num_blocks_ = 0;
  int words_per_mask_ = 0;
  int num_masks_ = 0;
  std::vector<int64_t> row_offsets_;
  std::vector<int32_t> row_cols_;
  std::vector<int32_t> row_masks_;
  std::vector<int64_t> col_offsets_;
  std::vector<int32_t> col_rows_;
  std::vector<int64_t> col_entries_;
  std::vector<uint64_t> mask_words_;
  std::vector<int32_t> mask_popcount_;             // [num_masks]
  std::vector<std::vector<int32_t>> permutation_;  // [H][N] or empty
  std::vector<std::vector<int32_t>> inverse_permutation_;
};

// Assembles an AttentionLayout head by head, query block by query block.
// Entries must be added with (head, query block, key block) strictly
// increasing and key block <= query block (causal at block level).
class LayoutBuilder {
 public:
  LayoutBuilder(int64_t n, int block, int heads);

  // Interns an explicit mask of block*block bits (row-major, packed into
  // 64-bit words). Returns kFull or kCausal when it equals those, kEmpty when
  // no bit is set, otherwise the index of the deduplicated mask.
  int32_t InternMask(absl::Span<const uint64_t> words);
  // Adds a live block. `mask` is kFull, kCausal or an index from InternMask;
  // kEmpty is ignored.
  void Add(int head, int32_t query_block, int32_t key_block, int32_t mask);
  // Sets head h's permutation: perm[p] = where original position p goes.
  void SetPermutation(int head, std::vector<int32_t> perm);

  // Validates the entries (ordering, causality, permutation) and builds the
  // row and column lookup tables.
  absl::StatusOr<std::shared_ptr<const AttentionLayout>> Build();

 private:
  std::unique_ptr<AttentionLayout> layout_;
  std::vector<int32_t> entry_head_;  // [live] head of each entry
  std::vector<int32_t> entry_row_;   // [live] query block of each entry
  std::string error_;                // first ordering error, reported by Build
  std::unordered_map<std::string, int32_t> mask_ids_;  // mask bytes -> index
};

// What the spec/model asks for.
enum class PatternKind { kDense, kLocal, kStrided, kFixed };
enum class PatternPart { kBoth, kFirst, kSecond };  // A1 ∪ A2, A1 only, A2 only
enum class HeadMode { kMerged, kInterleaved, kSplit };

struct PatternConfig {
  PatternKind kind = PatternKind::kDense;
  int64_t n = 0;   // context length N
  int block = 32;  // 16, 32, 64 or 128
  int stride = 0;  // l (local, strided, fixed); a multiple of block
  int c = 0;       // fixed: summary width, 1 <= c <= l
  int heads = 1;
  // kMerged: every head (and layer) uses the union of the selected parts.
  // kInterleaved: layer r uses A^(r mod 2) in every head.
  // kSplit: head h uses A^(h mod 2) in every layer.
  HeadMode head_mode = HeadMode::kMerged;
  // kMerged only: which halves form the union (kFirst / kSecond: one alone).
  PatternPart part = PatternPart::kBoth;
  // fixed: each head that uses A2 gets its own c-wide summary sub-block.
  bool distinct_summaries = false;
  // strided: compute A2 in the paper's transposed order (position r*l + col
  // -> col*(n/l) + r). Needs (n/l) % block == 0; A2 must stand alone in its
  // head (interleaved, split, or merged with part = kSecond).
  bool strided_transposed = false;
};

// Checks a config; the error names the field, its value and what is wrong.
absl::Status ValidatePatternConfig(const PatternConfig& config);

// The layout of layer `layer` (0-based).
absl::StatusOr<std::shared_ptr<const AttentionLayout>> BuildLayout(
    const PatternConfig& config, int layer);

// One layout per layer; layers with the same pattern share one object.
absl::StatusOr<std::vector<std::shared_ptr<const AttentionLayout>>>
BuildLayerLayouts(const PatternConfig& config, int num_layers);

// Parsing and naming, for flags and specs ("dense", "local", "strided",
// "fixed"; "both", "first", "second"; "merged", "interleaved", "split").
absl::StatusOr<PatternKind> ParsePatternKind(const std::string& name);
absl::StatusOr<PatternPart> ParsePatternPart(const std::string& name);
absl::StatusOr<HeadMode> ParseHeadMode(const std::string& name);
std::string PatternKindName(PatternKind kind);
std::string PatternPartName(PatternPart part);
std::string HeadModeName(HeadMode mode);

}  // namespace st::attention

#endif  // SPARSE_TRANSFORMER_ATTENTION_LAYOUT_H_
