// Pattern builders: the paper's index sets (PAPER.md §1) turned into
// block layouts. Each builder enumerates only the live blocks of a query
// block row, so the cost follows the live blocks, never n^2.
#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/status.h"

namespace st::attention {
namespace {

// What one head of one layer computes.
struct HeadSpec {
  PatternKind kind = PatternKind::kDense;
  bool a1 = false;          // strided: local(l); fixed: own l-block
  bool a2 = false;          // strided: (i-j) mod l == 0; fixed: summary columns
  bool transposed = false;  // strided A2 alone, in transposed order
  int lo = 0, hi = 0;       // fixed: summary offsets [lo, hi) within l-block
};

// Is (i, j) live for `spec`, in the positions the head's blocks use (the
// transposed head's blocks are built analytically, never through this)?
bool SpecAllows(const HeadSpec& spec, int64_t l, int64_t i, int64_t j) {
  if (j > i) return false;
  switch (spec.kind) {
    case PatternKind::kDense:
      return true;
    case PatternKind::kLocal:
      return i - j < l;
    case PatternKind::kStrided:
      return (spec.a1 && i - j < l) || (spec.a2 && (i - j) % l == 0);
    case PatternKind::kFixed: {
      const int64_t off = j % l;
      return (spec.a1 && i / l == j / l) ||
             (spec.a2 && off >= spec.lo && off < spec.hi);
    }
  }
  return false;
}

// Emits the blocks of one head. Masks of partial blocks are computed from
// SpecAllows once per class key (a value the caller guarantees determines the
// block's mask) and interned.
class HeadEmitter {
 public:
  HeadEmitter(LayoutBuilder* builder, const HeadSpec& spec, int64_t l,
              int block, int head)
      : builder_(builder),
        spec_(spec),
        l_(l),
        block_(block),
        head_(head),
        words_(block * block / 64) {}

  void Full(int32_t qb, int32_t kb) { builder_->Add(head_, qb, kb, kFull); }
  void Causal(int32_t qb, int32_t kb) { builder_->Add(head_, qb, kb, kCausal); }
  // A block whose mask depends on (qb, kb) only through `key`.
  void Keyed(int64_t key, int32_t qb, int32_t kb) {
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      std::fill(words_.begin(), words_.end(), 0);
      for (int r = 0; r < block_; ++r) {
        for (int c = 0; c < block_; ++c) {
          if (SpecAllows(spec_, l_, int64_t{qb} * block_ + r,
                         int64_t{kb} * block_ + c)) {
            const int bit = r * block_ + c;
            words_[bit >> 6] |= uint64_t{1} << (bit & 63);
          }
        }
      }
      it = cache_.emplace(key, builder_->InternMask(words_)).first;
    }
    builder_->Add(head_, qb, kb, it->second);
  }

 private:
  LayoutBuilder* builder_;
  HeadSpec spec_;
  int64_t l_;
  int block_;
  int head_;
  std::vector<uint64_t> words_;
  std::map<int64_t, int32_t> cache_;
};

void EmitDense(HeadEmitter& e, int32_t nb) {
  for (int32_t qb = 0; qb < nb; ++qb) {
    for (int32_t kb = 0; kb < qb; ++kb) e.Full(qb, kb);
    e.Causal(qb, qb);
  }
}

// local(l) and strided (original order). With L = l / block, the window
// {i-l < j <= i} covers blocks qb-L..qb: the first has the strict upper
// triangle, the inner ones are full, the diagonal is causal. A2 adds the
// diagonal of every block with (qb - kb) % L == 0 (B divides l, so
// (i - j) mod l == 0 forces r == c there and nothing elsewhere).
void EmitLocalStrided(HeadEmitter& e, int32_t nb, int32_t L, bool a1, bool a2) {
  for (int32_t qb = 0; qb < nb; ++qb) {
    const int32_t window_start = a1 ? std::max(0, qb - L) : qb + 1;
    if (a2) {
      // Strided blocks before the window: diagonal-only masks (key 0).
      for (int32_t kb = qb % L; kb < window_start && kb <= qb; kb += L) {
        e.Keyed(0, qb, kb);
      }
    }
    for (int32_t kb = window_start; kb <= qb; ++kb) {
      if (kb == qb) {
        // Causal with A1; A2 alone gives the identity (key 0) on the
        // diagonal block, which for A1 ∪ A2 is inside the causal triangle.
        e.Causal(qb, kb);
      } else if (kb == qb - L) {
        // Window edge: strict upper triangle, plus the diagonal with A2.
        e.Keyed(a2 ? 2 : 1, qb, kb);
      } else {
        e.Full(qb, kb);
      }
    }
  }
}

// strided A2 alone in transposed order: positions of one column of the
// l-wide matrix are contiguous segments of m = n / l, so A2 becomes
// "same segment and j' <= i'" (block-causal within each segment).
void EmitTransposedA2(HeadEmitter& e, int32_t nb, int32_t segment_blocks) {
  for (int32_t qb = 0; qb < nb; ++qb) {
    for (int32_t kb = qb - qb % segment_blocks; kb < qb; ++kb) e.Full(qb, kb);
    e.Causal(qb, qb);
  }
}

// fixed(l, c): A1 = own l-block (block-causal inside it), A2 = summary
// offsets [lo, hi) of every l-block (column masks; on the diagonal block also
// causal).
void EmitFixed(HeadEmitter& e, const HeadSpec& spec, int32_t nb, int32_t L,
               int block) {
  const int32_t s_first = spec.lo / block;       // summary blocks within
  const int32_t s_last = (spec.hi - 1) / block;  // an l-block, inclusive
  for (int32_t qb = 0; qb < nb; ++qb) {
    const int32_t own = qb - qb % L;  // first block of the own l-block
    if (spec.a2) {
      for (int32_t start = 0; start < own; start += L) {
        for (int32_t s = s_first; s <= s_last; ++s) {
          e.Keyed(int64_t{s} * 2, qb, start + s);
        }
      }
    }
    for (int32_t kb = own; kb <= qb; ++kb) {
      if (spec.a1) {
        if (kb == qb) {
          e.Causal(qb, kb);
        } else {
          e.Full(qb, kb);
        }
      } else {
        const int32_t s = kb - own;
        if (s >= s_first && s <= s_last) {
          e.Keyed(int64_t{s} * 2 + (kb == qb ? 1 : 0), qb, kb);
        }
      }
    }
  }
}

absl::StatusOr<HeadSpec> SpecFor(const PatternConfig& config, int layer,
                                 int head) {
  HeadSpec spec;
  spec.kind = config.kind;
  if (config.kind == PatternKind::kDense ||
      config.kind == PatternKind::kLocal) {
    return spec;
  }
  switch (config.head_mode) {
    case HeadMode::kMerged:
      spec.a1 = config.part != PatternPart::kSecond;
      spec.a2 = config.part != PatternPart::kFirst;
      break;
    case HeadMode::kInterleaved:
      spec.a1 = layer % 2 == 0;
      spec.a2 = !spec.a1;
      break;
    case HeadMode::kSplit:
      spec.a1 = head % 2 == 0;
      spec.a2 = !spec.a1;
      break;
  }
  if (config.kind == PatternKind::kFixed) {
    int sub = 0;
    if (config.distinct_summaries) {
      // Heads that use A2 take the c-wide sub-blocks from the end of the
      // l-block backwards, cycling when there are more heads than sub-blocks.
      const int a2_index =
          config.head_mode == HeadMode::kSplit ? head / 2 : head;
      sub = a2_index % (config.stride / config.c);
    }
    spec.hi = config.stride - sub * config.c;
    spec.lo = spec.hi - config.c;
  }
  spec.transposed = config.kind == PatternKind::kStrided &&
                    config.strided_transposed && spec.a2 && !spec.a1;
  return spec;
}

}  // namespace

absl::Status ValidatePatternConfig(const PatternConfig& config) {
  const std::string kind = PatternKindName(config.kind);
  if (config.n <= 0 || config.n > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pattern ", kind, ": n=", config.n, " must be in [1, 2^30]"));
  }
  if (!IsSupportedBlock(config.block)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pattern ", kind, ": block=", config.block,
                     " must be 16, 32, 64 or 128"));
  }
  if (config.n % config.block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pattern ", kind, ": n=", config.n,
                     " is not a multiple of block=", config.block));
  }
  if (config.heads <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pattern ", kind, ": heads=", config.heads, " must be positive"));
  }
  const bool factorized = config.kind == PatternKind::kStrided ||
                          config.kind == PatternKind::kFixed;
  if (config.kind != PatternKind::kDense) {
    if (config.stride <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pattern ", kind, ": stride (l)=", config.stride,
                       " must be positive"));
    }
    if (config.stride % config.block != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pattern ", kind, ": block=", config.block,
                       " does not divide stride (l)=", config.stride));
    }
  }
  if (factorized && config.n % config.stride != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pattern ", kind, ": n=", config.n,
                     " is not a multiple of stride (l)=", config.stride));
  }
  if (config.kind == PatternKind::kFixed) {
    if (config.c < 1 || config.c > config.stride) {
      return absl::InvalidArgumentError(
          absl::StrCat("pattern fixed: c=", config.c,
                       " must be in [1, stride (l)=", config.stride, "]"));
    }
  } else if (config.distinct_summaries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pattern ", kind, ": distinct_summaries applies to fixed only"));
  }
  if (config.part != PatternPart::kBoth &&
      (!factorized || config.head_mode != HeadMode::kMerged)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pattern ", kind, ": part=", PatternPartName(config.part),
        " needs a strided or fixed pattern with head_mode=merged"));
  }
  if (config.strided_transposed) {
    if (config.kind != PatternKind::kStrided) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pattern ", kind, ": strided_transposed applies to strided only"));
    }
    if (config.head_mode == HeadMode::kMerged &&
        config.part == PatternPart::kBoth) {
      return absl::InvalidArgumentError(
          "pattern strided: strided_transposed computes A2 alone; use "
          "head_mode=interleaved or split, or part=second");
    }
    const int64_t m = config.n / config.stride;
    if (m % config.block != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pattern strided: strided_transposed needs n/l=", m,
                       " to be a multiple of block=", config.block));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const AttentionLayout>> BuildLayout(
    const PatternConfig& config, int layer) {
  ST_RETURN_IF_ERROR(ValidatePatternConfig(config));
  if (layer < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pattern: layer=", layer, " must be >= 0"));
  }
  const int block = config.block;
  const int32_t nb = static_cast<int32_t>(config.n / block);
  const int32_t L = config.stride / block;
  LayoutBuilder builder(config.n, block, config.heads);
  for (int h = 0; h < config.heads; ++h) {
    ST_ASSIGN_OR_RETURN(HeadSpec spec, SpecFor(config, layer, h));
    HeadEmitter e(&builder, spec, config.stride, block, h);
    switch (spec.kind) {
      case PatternKind::kDense:
        EmitDense(e, nb);
        break;
      case PatternKind::kLocal:
        EmitLocalStrided(e, nb, L, /*a1=*/true, /*a2=*/false);
        break;
      case PatternKind::kStrided:
        if (spec.transposed) {
          const int64_t m =
              config.n / config.stride;  // rows of the l-wide matrix
          EmitTransposedA2(e, nb, static_cast<int32_t>(m / block));
          std::vector<int32_t> perm(config.n);
          for (int64_t p = 0; p < config.n; ++p) {
            perm[p] = static_cast<int32_t>((p % config.stride) * m +
                                           p / config.stride);
          }
          builder.SetPermutation(h, std::move(perm));
        } else {
          EmitLocalStrided(e, nb, L, spec.a1, spec.a2);
        }
        break;
      case PatternKind::kFixed:
        EmitFixed(e, spec, nb, L, block);
        break;
    }
  }
  return builder.Build();
}

absl::StatusOr<std::vector<std::shared_ptr<const AttentionLayout>>>
BuildLayerLayouts(const PatternConfig& config, int num_layers) {
  if (num_layers <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pattern: num_layers=", num_layers, " must be positive"));
  }
  // Only interleaved factorized patterns differ between layers, with period 2.
  const bool alternates = config.head_mode == HeadMode::kInterleaved &&
                          (config.kind == PatternKind::kStrided ||
                           config.kind == PatternKind::kFixed);
  std::vector<std::shared_ptr<const AttentionLayout>> distinct;
  for (int r = 0; r < (alternates ? std::min(num_layers, 2) : 1); ++r) {
    ST_ASSIGN_OR_RETURN(auto layout, BuildLayout(config, r));
    distinct.push_back(std::move(layout));
  }
  std::vector<std::shared_ptr<const AttentionLayout>> layers;
  for (int r = 0; r < num_layers; ++r) {
    layers.push_back(distinct[r % distinct.size()]);
  }
  return layers;
}

absl::StatusOr<PatternKind> ParsePatternKind(const std::string& name) {
  if (name == "dense") return PatternKind::kDense;
  if (name == "local") return PatternKind::kLocal;
  if (name == "strided") return PatternKind::kStrided;
  if (name == "fixed") return PatternKind::kFixed;
  return absl::InvalidArgumentError(absl::StrCat(
      "pattern: unknown kind '", name, "' (dense, local, strided, fixed)"));
}

absl::StatusOr<PatternPart> ParsePatternPart(const std::string& name) {
  if (name == "both") return PatternPart::kBoth;
  if (name == "first") return PatternPart::kFirst;
  if (name == "second") return PatternPart::kSecond;
  return absl::InvalidArgumentError(
      absl::StrCat("pattern: unknown part '", name, "' (both, first, second)"));
}

absl::StatusOr<HeadMode> ParseHeadMode(const std::string& name) {
  if (name == "merged") return HeadMode::kMerged;
  if (name == "interleaved") return HeadMode::kInterleaved;
  if (name == "split") return HeadMode::kSplit;
  return absl::InvalidArgumentError(absl::StrCat(
      "pattern: unknown head mode '", name, "' (merged, interleaved, split)"));
}

std::string PatternKindName(PatternKind kind) {
  switch (kind) {
    case PatternKind::kDense:
      return "dense";
    case PatternKind::kLocal:
      return "local";
    case PatternKind::kStrided:
      return "strided";
    case PatternKind::kFixed:
      return "fixed";
  }
  return "?";
}

std::string PatternPartName(PatternPart part) {
  switch (part) {
    case PatternPart::kBoth:
      return "both";
    case PatternPart::kFirst:
      return "first";
    case PatternPart::kSecond:
      return "second";
  }
  return "?";
}

std::string HeadModeName(HeadMode mode) {
  switch (mode) {
    case HeadMode::kMerged:
      return "merged";
    case HeadMode::kInterleaved:
      return "interleaved";
    case HeadMode::kSplit:
      return "split";
  }
  return "?";
}

}  // namespace st::attention
