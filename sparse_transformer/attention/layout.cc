#include "sparse_transformer/attention/layout.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace st::attention {
namespace {

int Popcount(absl::Span<const uint64_t> words) {
  int count = 0;
  for (uint64_t w : words) count += __builtin_popcountll(w);
  return count;
}

bool MaskBit(absl::Span<const uint64_t> words, int bit) {
  return (words[bit >> 6] >> (bit & 63)) & 1;
}

}  // namespace

int64_t AttentionLayout::live_blocks(int head) const {
  const int64_t stride = num_blocks_ + 1;
  return row_offsets_[head * stride + num_blocks_] -
         row_offsets_[head * stride];
}

int64_t AttentionLayout::dense_causal_blocks() const {
  return static_cast<int64_t>(num_blocks_) * (num_blocks_ + 1) / 2;
}

absl::Span<const int32_t> AttentionLayout::permutation(int head) const {
  return permutation_[head];
}

absl::Span<const int32_t> AttentionLayout::inverse_permutation(int head) const {
  return inverse_permutation_[head];
}

bool AttentionLayout::has_permutation() const {
  for (const auto& p : permutation_) {
    if (!p.empty()) return true;
  }
  return false;
}

bool AttentionLayout::EntryAllows(int64_t entry, int r, int c) const {
  const int32_t mask = row_masks_[entry];
  if (mask == kFull) return true;
  if (mask == kCausal) return c <= r;
  absl::Span<const uint64_t> words(
      mask_words_.data() + static_cast<int64_t>(mask) * words_per_mask_,
      words_per_mask_);
  return MaskBit(words, r * block_ + c);
}

int64_t AttentionLayout::EntryPairs(int64_t entry) const {
  const int32_t mask = row_masks_[entry];
  const int64_t b = block_;
  if (mask == kFull) return b * b;
  if (mask == kCausal) return b * (b + 1) / 2;
  return mask_popcount_[mask];
}

bool AttentionLayout::Allowed(int head, int64_t i, int64_t j) const {
  if (head < 0 || head >= heads_ || i < 0 || j < 0 || i >= n_ || j >= n_) {
    return false;
  }
  if (!permutation_[head].empty()) {
    i = permutation_[head][i];
    j = permutation_[head][j];
  }
  const int32_t qb = static_cast<int32_t>(i / block_);
  const int32_t kb = static_cast<int32_t>(j / block_);
  const int64_t row = static_cast<int64_t>(head) * (num_blocks_ + 1) + qb;
  const auto begin = row_cols_.begin() + row_offsets_[row];
  const auto end = row_cols_.begin() + row_offsets_[row + 1];
  const auto it = std::lower_bound(begin, end, kb);
  if (it == end || *it != kb) return false;
  return EntryAllows(it - row_cols_.begin(), static_cast<int>(i % block_),
                     static_cast<int>(j % block_));
}

std::vector<uint8_t> AttentionLayout::DenseMask(int head) const {
  if (n_ > kMaxDenseMaskN || head < 0 || head >= heads_) return {};
  std::vector<uint8_t> mask(n_ * n_, 0);  // [N, N]
  const int64_t stride = num_blocks_ + 1;
  const auto& inv = inverse_permutation_[head];
  for (int32_t qb = 0; qb < num_blocks_; ++qb) {
    for (int64_t e = row_offsets_[head * stride + qb];
         e < row_offsets_[head * stride + qb + 1]; ++e) {
      const int32_t kb = row_cols_[e];
      for (int r = 0; r < block_; ++r) {
        for (int c = 0; c < block_; ++c) {
          if (!EntryAllows(e, r, c)) continue;
          int64_t i = static_cast<int64_t>(qb) * block_ + r;
          int64_t j = static_cast<int64_t>(kb) * block_ + c;
          if (!inv.empty()) {
            i = inv[i];
            j = inv[j];
          }
          mask[i * n_ + j] = 1;
        }
      }
    }
  }
  return mask;
}

int64_t AttentionLayout::live_pairs(int head) const {
  const int64_t stride = num_blocks_ + 1;
  int64_t pairs = 0;
  for (int64_t e = row_offsets_[head * stride];
       e < row_offsets_[head * stride + num_blocks_]; ++e) {
    pairs += EntryPairs(e);
  }
  return pairs;
}

double AttentionLayout::density() const {
  double live = 0;
  for (int h = 0; h < heads_; ++h) live += static_cast<double>(live_pairs(h));
  const double dense = static_cast<double>(n_) * (n_ + 1) / 2 * heads_;
  return live / dense;
}

bool AttentionLayout::SameHead(int a, const AttentionLayout& other,
                               int b) const {
  if (n_ != other.n_ || block_ != other.block_) return false;
  if (permutation_[a] != other.permutation_[b]) return false;
  const int64_t stride = num_blocks_ + 1;
  for (int32_t qb = 0; qb < num_blocks_; ++qb) {
    const int64_t ea = row_offsets_[a * stride + qb];
    const int64_t eb = other.row_offsets_[b * stride + qb];
    const int64_t count = row_offsets_[a * stride + qb + 1] - ea;
    if (count != other.row_offsets_[b * stride + qb + 1] - eb) return false;
    for (int64_t t = 0; t < count; ++t) {
      if (row_cols_[ea + t] != other.row_cols_[eb + t]) return false;
      const int32_t ma = row_masks_[ea + t];
      const int32_t mb = other.row_masks_[eb + t];
      if (ma < 0 || mb < 0) {
        if (ma != mb) return false;
        continue;
      }
      if (!std::equal(mask_words_.begin() + int64_t{ma} * words_per_mask_,
                      mask_words_.begin() + int64_t{ma + 1} * words_per_mask_,
                      other.mask_words_.begin() +
                          int64_t{mb} * other.words_per_mask_)) {
        return false;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// LayoutBuilder

LayoutBuilder::LayoutBuilder(int64_t n, int block, int heads)
    : layout_(new AttentionLayout()) {
  AttentionLayout& l = *layout_;
  l.n_ = n;
  l.block_ = block;
  l.heads_ = heads;
  if (n <= 0 || block <= 0 || heads <= 0 || n % block != 0) {
    error_ = absl::StrCat("layout: n=", n, " block=", block, " heads=", heads,
                          " must be positive with n a multiple of block");
    return;
  }
  if (!IsSupportedBlock(block)) {
    error_ =
        absl::StrCat("layout: block=", block, " is not one of 16, 32, 64, 128");
    return;
  }
  if (n / block > (int64_t{1} << 30)) {
    error_ = absl::StrCat("layout: n=", n, " is too large");
    return;
  }
  l.num_blocks_ = static_cast<int>(n / block);
  l.words_per_mask_ = block * block / 64;
  l.permutation_.resize(heads);
  l.inverse_permutation_.resize(heads);
}

int32_t LayoutBuilder::InternMask(absl::Span<const uint64_t> words) {
  AttentionLayout& l = *layout_;
  const int b = l.block_;
  bool full = true, causal = true, empty = true;
  for (int r = 0; r < b; ++r) {
    for (int c = 0; c < b; ++c) {
      const bool bit = MaskBit(words, r * b + c);
      full &= bit;
      causal &= (bit == (c <= r));
      empty &= !bit;
    }
  }
  if (full) return kFull;
  if (causal) return kCausal;
  if (empty) return kEmpty;
  std::string key(reinterpret_cast<const char*>(words.data()),
                  words.size() * sizeof(uint64_t));
  auto it = mask_ids_.find(key);
  if (it != mask_ids_.end()) return it->second;
  const int32_t id = l.num_masks_++;
  l.mask_words_.insert(l.mask_words_.end(), words.begin(), words.end());
  l.mask_popcount_.push_back(Popcount(words));
  mask_ids_.emplace(std::move(key), id);
  return id;
}

void LayoutBuilder::Add(int head, int32_t query_block, int32_t key_block,
                        int32_t mask) {
  if (mask == kEmpty || !error_.empty()) return;
  AttentionLayout& l = *layout_;
  if (head < 0 || head >= l.heads_ || query_block < 0 ||
      query_block >= l.num_blocks_ || key_block < 0 ||
      key_block > query_block || mask < kCausal || mask >= l.num_masks_) {
    error_ = absl::StrCat("layout: bad block (head ", head, ", query block ",
                          query_block, ", key block ", key_block, ", mask ",
                          mask, "): out of range or not causal");
    return;
  }
  if (!entry_head_.empty()) {
    const auto prev = std::make_tuple(entry_head_.back(), entry_row_.back(),
                                      l.row_cols_.back());
    if (std::make_tuple(head, query_block, key_block) <= prev) {
      error_ = absl::StrCat("layout: block (head ", head, ", query block ",
                            query_block, ", key block ", key_block,
                            ") added out of order");
      return;
    }
  }
  entry_head_.push_back(head);
  entry_row_.push_back(query_block);
  l.row_cols_.push_back(key_block);
  l.row_masks_.push_back(mask);
}

void LayoutBuilder::SetPermutation(int head, std::vector<int32_t> perm) {
  if (!error_.empty()) return;
  AttentionLayout& l = *layout_;
  if (head < 0 || head >= l.heads_ ||
      static_cast<int64_t>(perm.size()) != l.n_) {
    error_ = absl::StrCat("layout: permutation for head ", head, " has ",
                          perm.size(), " entries, expected n=", l.n_);
    return;
  }
  std::vector<int32_t> inverse(perm.size(), -1);
  for (size_t p = 0; p < perm.size(); ++p) {
    if (perm[p] < 0 || perm[p] >= l.n_ || inverse[perm[p]] != -1) {
      error_ = absl::StrCat("layout: permutation for head ", head,
                            " is not a permutation (position ", p, ")");
      return;
    }
    inverse[perm[p]] = static_cast<int32_t>(p);
  }
  l.permutation_[head] = std::move(perm);
  l.inverse_permutation_[head] = std::move(inverse);
}

absl::StatusOr<std::shared_ptr<const AttentionLayout>> LayoutBuilder::Build() {
  if (!error_.empty()) return absl::InvalidArgumentError(error_);
  if (!layout_) return absl::FailedPreconditionError("layout: already built");
  AttentionLayout& l = *layout_;
  const int64_t nb = l.num_blocks_;
  const int64_t stride = nb + 1;
  const int64_t live = static_cast<int64_t>(l.row_cols_.size());

  // Row offsets from the (head, query block) of each entry.
  l.row_offsets_.assign(l.heads_ * stride, 0);
  for (int64_t e = 0; e < live; ++e) {
    ++l.row_offsets_[entry_head_[e] * stride + entry_row_[e] + 1];
  }
  for (int h = 0; h < l.heads_; ++h) {
    int64_t* row = l.row_offsets_.data() + h * stride;
    row[0] = h == 0 ? 0 : l.row_offsets_[(h - 1) * stride + nb];
    for (int64_t qb = 0; qb < nb; ++qb) row[qb + 1] += row[qb];
  }

  // Column CSR by counting sort; visiting entries in row order keeps the
  // query blocks of each column ascending.
  l.col_offsets_.assign(l.heads_ * stride, 0);
  for (int64_t e = 0; e < live; ++e) {
    ++l.col_offsets_[entry_head_[e] * stride + l.row_cols_[e] + 1];
  }
  for (int h = 0; h < l.heads_; ++h) {
    int64_t* col = l.col_offsets_.data() + h * stride;
    col[0] = h == 0 ? 0 : l.col_offsets_[(h - 1) * stride + nb];
    for (int64_t kb = 0; kb < nb; ++kb) col[kb + 1] += col[kb];
  }
  l.col_rows_.resize(live);
  l.col_entries_.resize(live);
  std::vector<int64_t> cursor(l.col_offsets_);
  for (int64_t e = 0; e < live; ++e) {
    const int64_t slot = cursor[entry_head_[e] * stride + l.row_cols_[e]]++;
    l.col_rows_[slot] = entry_row_[e];
    l.col_entries_[slot] = e;
  }
  entry_head_.clear();
  entry_row_.clear();
  mask_ids_.clear();
  return std::shared_ptr<const AttentionLayout>(std::move(layout_));
}

}  // namespace st::attention
