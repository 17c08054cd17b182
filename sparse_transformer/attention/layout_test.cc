// Property tests of the pattern builders against the index sets of the paper
// (DESIGN.md "The paper in one page"), written here independently of the
// builders.
#include "sparse_transformer/attention/layout.h"

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace st::attention {
namespace {

using ::testing::HasSubstr;

// Reference index sets, original positions, 0-based.
bool Local(int64_t l, int64_t i, int64_t j) { return j <= i && i - j < l; }
bool StridedA2(int64_t l, int64_t i, int64_t j) {
  return j <= i && (i - j) % l == 0;
}
bool FixedA1(int64_t l, int64_t i, int64_t j) {
  return j <= i && i / l == j / l;
}
// Summary sub-block `sub` (0 = the last c positions of each l-block).
bool FixedA2(int64_t l, int64_t c, int sub, int64_t i, int64_t j) {
  const int64_t off = j % l;
  return j <= i && off >= l - (sub + 1) * c && off < l - sub * c;
}

// Which halves a (layer, head) uses, as the paper's head modes define them.
std::pair<bool, bool> Halves(const PatternConfig& c, int layer, int head) {
  switch (c.head_mode) {
    case HeadMode::kMerged:
      return {c.part != PatternPart::kSecond, c.part != PatternPart::kFirst};
    case HeadMode::kInterleaved:
      return {layer % 2 == 0, layer % 2 == 1};
    case HeadMode::kSplit:
      return {head % 2 == 0, head % 2 == 1};
  }
  return {false, false};
}

bool Reference(const PatternConfig& c, int layer, int head, int64_t i,
               int64_t j) {
  const int64_t l = c.stride;
  switch (c.kind) {
    case PatternKind::kDense:
      return j <= i;
    case PatternKind::kLocal:
      return Local(l, i, j);
    case PatternKind::kStrided: {
      auto [a1, a2] = Halves(c, layer, head);
      return (a1 && Local(l, i, j)) || (a2 && StridedA2(l, i, j));
    }
    case PatternKind::kFixed: {
      auto [a1, a2] = Halves(c, layer, head);
      int sub = 0;
      if (c.distinct_summaries) {
        const int index = c.head_mode == HeadMode::kSplit ? head / 2 : head;
        sub = index % (c.stride / c.c);
      }
      return (a1 && FixedA1(l, i, j)) || (a2 && FixedA2(l, c.c, sub, i, j));
    }
  }
  return false;
}

std::string Describe(const PatternConfig& c, int layer) {
  return absl::StrCat(
      PatternKindName(c.kind), " n=", c.n, " block=", c.block, " l=", c.stride,
      " c=", c.c, " heads=", c.heads, " mode=", HeadModeName(c.head_mode),
      " part=", PatternPartName(c.part), " distinct=", c.distinct_summaries,
      " transposed=", c.strided_transposed, " layer=", layer);
}

// Checks one built layout against the reference in every way we can.
void CheckLayout(const PatternConfig& config, int layer,
                 const AttentionLayout& layout) {
  SCOPED_TRACE(Describe(config, layer));
  const int64_t n = config.n;
  const int b = config.block;
  const int nb = static_cast<int>(n / b);
  ASSERT_EQ(layout.n(), n);
  ASSERT_EQ(layout.block(), b);
  ASSERT_EQ(layout.heads(), config.heads);
  ASSERT_EQ(layout.num_blocks(), nb);
  int64_t total_live = 0;
  double total_pairs = 0;
  for (int h = 0; h < config.heads; ++h) {
    const std::vector<uint8_t> dense = layout.DenseMask(h);
    ASSERT_EQ(static_cast<int64_t>(dense.size()), n * n);
    auto perm = layout.permutation(h);
    // Live blocks counted independently from the reference set, in the
    // head's (possibly permuted) positions.
    std::vector<uint8_t> block_live(static_cast<size_t>(nb) * nb, 0);
    int64_t pairs = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const bool want = Reference(config, layer, h, i, j);
        ASSERT_EQ(dense[i * n + j] != 0, want)
            << "head " << h << " i=" << i << " j=" << j;
        // Allowed() is a binary search per pair: sample it at the largest n.
        if (n <= 128 || (i + j) % 5 == 0) {
          ASSERT_EQ(layout.Allowed(h, i, j), want)
              << "head " << h << " i=" << i << " j=" << j;
        }
        if (!want) continue;
        ASSERT_LE(j, i) << "not causal";
        ++pairs;
        const int64_t pi = perm.empty() ? i : perm[i];
        const int64_t pj = perm.empty() ? j : perm[j];
        block_live[(pi / b) * nb + pj / b] = 1;
      }
    }
    int64_t want_blocks = 0;
    for (uint8_t v : block_live) want_blocks += v;
    EXPECT_EQ(layout.live_blocks(h), want_blocks) << "head " << h;
    EXPECT_EQ(layout.live_pairs(h), pairs) << "head " << h;
    total_live += want_blocks;
    total_pairs += pairs;

    // Row CSR: ascending key blocks, causal, no empty block stored.
    const auto ro = layout.row_offsets();
    for (int qb = 0; qb < nb; ++qb) {
      for (int64_t e = ro[h * (nb + 1) + qb]; e < ro[h * (nb + 1) + qb + 1];
           ++e) {
        const int kb = layout.row_cols()[e];
        ASSERT_LE(kb, qb);
        ASSERT_TRUE(block_live[qb * nb + kb]) << "qb=" << qb << " kb=" << kb;
        if (e > ro[h * (nb + 1) + qb]) {
          ASSERT_LT(layout.row_cols()[e - 1], kb);
        }
        ASSERT_GT(layout.EntryPairs(e), 0);
      }
    }
    // Column CSR is the transpose of the row CSR.
    const auto co = layout.col_offsets();
    int64_t col_count = 0;
    for (int kb = 0; kb < nb; ++kb) {
      for (int64_t t = co[h * (nb + 1) + kb]; t < co[h * (nb + 1) + kb + 1];
           ++t) {
        const int qb = layout.col_rows()[t];
        const int64_t e = layout.col_entries()[t];
        ASSERT_EQ(layout.row_cols()[e], kb);
        ASSERT_GE(e, ro[h * (nb + 1) + qb]);
        ASSERT_LT(e, ro[h * (nb + 1) + qb + 1]);
        if (t > co[h * (nb + 1) + kb]) {
          ASSERT_LT(layout.col_rows()[t - 1], qb);
        }
        ++col_count;
      }
    }
    EXPECT_EQ(col_count, layout.live_blocks(h));
  }
  EXPECT_EQ(layout.live_blocks(), total_live);
  EXPECT_DOUBLE_EQ(
      layout.density(),
      total_pairs / (static_cast<double>(n) * (n + 1) / 2 * config.heads));
}

std::vector<PatternConfig> SmallConfigs() {
  std::vector<PatternConfig> out;
  for (int64_t n : {64, 128, 256}) {
    for (int block : {16, 32}) {
      PatternConfig dense;
      dense.kind = PatternKind::kDense;
      dense.n = n;
      dense.block = block;
      dense.heads = 2;
      out.push_back(dense);
      for (int l : {16, 32, 64}) {
        if (l % block != 0 || n % l != 0) continue;
        PatternConfig local = dense;
        local.kind = PatternKind::kLocal;
        local.stride = l;
        out.push_back(local);
        for (HeadMode mode :
             {HeadMode::kMerged, HeadMode::kInterleaved, HeadMode::kSplit}) {
          for (PatternPart part : {PatternPart::kBoth, PatternPart::kFirst,
                                   PatternPart::kSecond}) {
            if (mode != HeadMode::kMerged && part != PatternPart::kBoth) {
              continue;
            }
            PatternConfig strided = local;
            strided.kind = PatternKind::kStrided;
            strided.head_mode = mode;
            strided.part = part;
            strided.heads = 3;
            out.push_back(strided);
            const bool a2_alone =
                mode != HeadMode::kMerged || part == PatternPart::kSecond;
            if (a2_alone && (n / l) % block == 0) {
              strided.strided_transposed = true;
              out.push_back(strided);
            }
            for (int c : {1, 8, 16, 32}) {
              if (c > l) continue;
              for (bool distinct : {false, true}) {
                PatternConfig fixed = local;
                fixed.kind = PatternKind::kFixed;
                fixed.c = c;
                fixed.head_mode = mode;
                fixed.part = part;
                fixed.heads = 4;
                fixed.distinct_summaries = distinct;
                out.push_back(fixed);
              }
            }
          }
        }
      }
    }
  }
  return out;
}

TEST(LayoutTest, EveryPatternEqualsItsIndexSet) {
  int checked = 0;
  for (const PatternConfig& config : SmallConfigs()) {
    for (int layer : {0, 1}) {
      auto layout = BuildLayout(config, layer);
      ASSERT_TRUE(layout.ok())
          << Describe(config, layer) << ": " << layout.status();
      CheckLayout(config, layer, **layout);
      if (::testing::Test::HasFatalFailure()) return;
      ++checked;
    }
  }
  EXPECT_GT(checked, 300);
}

TEST(LayoutTest, DistinctSummariesDifferPerHeadAndCycle) {
  PatternConfig config;
  config.kind = PatternKind::kFixed;
  config.n = 256;
  config.block = 16;
  config.stride = 64;
  config.c = 16;
  config.heads = 6;
  config.distinct_summaries = true;
  auto layout = BuildLayout(config, 0).value();
  // Key 48..63 of the first l-block is head 0's summary, 32..47 head 1's,
  // 16..31 head 2's, 0..15 head 3's; head 4 cycles back to head 0's.
  const int64_t i = 200;  // in the 4th l-block
  EXPECT_TRUE(layout->Allowed(0, i, 63));
  EXPECT_FALSE(layout->Allowed(0, i, 47));
  EXPECT_TRUE(layout->Allowed(1, i, 47));
  EXPECT_FALSE(layout->Allowed(1, i, 48));
  EXPECT_TRUE(layout->Allowed(3, i, 0));
  EXPECT_TRUE(layout->SameHead(4, *layout, 0));
  // Out-of-range heads and positions are answered, not crashed on.
  EXPECT_FALSE(layout->Allowed(6, i, 63));
  EXPECT_FALSE(layout->Allowed(0, 256, 63));
  EXPECT_TRUE(layout->DenseMask(-1).empty());
  EXPECT_FALSE(layout->SameHead(1, *layout, 0));
  for (int h = 1; h < 6; ++h) {
    EXPECT_EQ(layout->live_blocks(h), layout->live_blocks(0));
  }
}

// The paper's claim for p = 2: every j <= i reaches i within p + 1 steps
// through the interleaved layers (residual connections carry the identity).
TEST(LayoutTest, FactorizedPatternsReachEveryEarlierPosition) {
  for (PatternKind kind : {PatternKind::kStrided, PatternKind::kFixed}) {
    PatternConfig config;
    config.kind = kind;
    config.n = 256;
    config.block = 16;
    config.stride = 16;
    config.c = 4;
    config.heads = 1;
    config.head_mode = HeadMode::kInterleaved;
    auto layers = BuildLayerLayouts(config, 3).value();
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_EQ(layers[0], layers[2]);  // shared object for equal layers
    EXPECT_NE(layers[0], layers[1]);
    const int64_t n = config.n;
    // reach[i][j]: information at j has reached position i.
    std::vector<uint8_t> reach(n * n, 0);
    for (int64_t i = 0; i < n; ++i) reach[i * n + i] = 1;
    std::vector<int> steps_needed(n * n, -1);
    for (int step = 0; step < 3; ++step) {
      const std::vector<uint8_t> m = layers[step]->DenseMask(0);
      std::vector<uint8_t> next(reach);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t a = 0; a < n; ++a) {
          if (!m[i * n + a]) continue;
          for (int64_t j = 0; j < n; ++j) next[i * n + j] |= reach[a * n + j];
        }
      }
      reach.swap(next);
      for (int64_t k = 0; k < n * n; ++k) {
        if (reach[k] && steps_needed[k] < 0) steps_needed[k] = step + 1;
      }
    }
    int64_t needed_more_than_one = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        ASSERT_TRUE(reach[i * n + j])
            << PatternKindName(kind) << ": " << j << " never reaches " << i;
        needed_more_than_one += steps_needed[i * n + j] > 1;
      }
      for (int64_t j = i + 1; j < n; ++j) ASSERT_FALSE(reach[i * n + j]);
    }
    // One factor alone is not enough: the second step does real work.
    EXPECT_GT(needed_more_than_one, n);
  }
}

TEST(LayoutTest, StridedTransposedComputesExactlyA2) {
  PatternConfig config;
  config.kind = PatternKind::kStrided;
  config.n = 256;
  config.block = 16;
  config.stride = 16;
  config.head_mode = HeadMode::kMerged;
  config.part = PatternPart::kSecond;
  auto plain = BuildLayout(config, 0).value();
  config.strided_transposed = true;
  auto transposed = BuildLayout(config, 0).value();
  EXPECT_EQ(plain->DenseMask(0), transposed->DenseMask(0));
  ASSERT_TRUE(transposed->has_permutation());
  EXPECT_FALSE(plain->has_permutation());
  // Position r*l + col goes to col*(n/l) + r, and the inverse undoes it.
  auto perm = transposed->permutation(0);
  auto inv = transposed->inverse_permutation(0);
  EXPECT_EQ(perm[3 * 16 + 5], 5 * 16 + 3);
  for (int p = 0; p < 256; ++p) EXPECT_EQ(inv[perm[p]], p);
  // Transposed: 16 segments of one block, each a causal diagonal block. In
  // original order the same set needs every (qb, kb <= qb) block.
  EXPECT_EQ(transposed->live_blocks(), 16);
  EXPECT_EQ(plain->live_blocks(), 16 * 17 / 2);
  EXPECT_DOUBLE_EQ(plain->density(), transposed->density());
}

// Block counts from PAPER.md §1.5 (an independent derivation).
TEST(LayoutTest, PaperBlockCounts) {
  struct Case {
    PatternKind kind;
    int64_t n;
    int stride, c, block;
    PatternPart part;
    bool transposed;
    int64_t live;
    int64_t dense;
  };
  const Case cases[] = {
      {PatternKind::kFixed, 12288, 128, 32, 32, PatternPart::kBoth, false,
       19200, 73920},
      {PatternKind::kFixed, 12288, 128, 64, 64, PatternPart::kBoth, false, 9408,
       18528},
      {PatternKind::kStrided, 12288, 128, 0, 32, PatternPart::kSecond, true,
       768, 73920},
      {PatternKind::kLocal, 12288, 128, 0, 32, PatternPart::kBoth, false, 1910,
       73920},
      {PatternKind::kStrided, 3072, 96, 0, 32, PatternPart::kSecond, true, 96,
       4656},
      {PatternKind::kLocal, 3072, 96, 0, 32, PatternPart::kBoth, false, 378,
       4656},
  };
  for (const Case& t : cases) {
    PatternConfig config;
    config.kind = t.kind;
    config.n = t.n;
    config.stride = t.stride;
    config.c = t.c;
    config.block = t.block;
    config.part = t.part;
    config.strided_transposed = t.transposed;
    config.heads = 2;
    auto layout = BuildLayout(config, 0);
    ASSERT_TRUE(layout.ok()) << layout.status();
    EXPECT_EQ((*layout)->live_blocks(0), t.live) << PatternKindName(t.kind);
    EXPECT_EQ((*layout)->live_blocks(), 2 * t.live);
    EXPECT_EQ((*layout)->dense_causal_blocks(), t.dense);
  }
}

// Million-position contexts: memory and time follow the live blocks.
TEST(LayoutTest, MillionPositionsWithoutDenseArrays) {
  const int64_t n = 1 << 20;
  PatternConfig local;
  local.kind = PatternKind::kLocal;
  local.n = n;
  local.block = 128;
  local.stride = 256;
  auto l = BuildLayout(local, 0).value();
  const int64_t nb = n / 128;
  EXPECT_EQ(l->live_blocks(), 3 * nb - 3);
  EXPECT_TRUE(l->Allowed(0, n - 1, n - 256));
  EXPECT_FALSE(l->Allowed(0, n - 1, n - 257));
  EXPECT_TRUE(l->DenseMask(0).empty());  // refused, not n*n bytes

  PatternConfig strided = local;
  strided.kind = PatternKind::kStrided;
  strided.stride = 1024;
  strided.part = PatternPart::kSecond;
  strided.strided_transposed = true;
  auto s = BuildLayout(strided, 0).value();
  EXPECT_EQ(s->live_blocks(), 1024 * (8 * 9 / 2));
  EXPECT_TRUE(s->Allowed(0, n - 1, 1023));
  EXPECT_FALSE(s->Allowed(0, n - 1, 1022));

  PatternConfig fixed = local;
  fixed.kind = PatternKind::kFixed;
  fixed.stride = 8192;
  fixed.c = 128;
  auto f = BuildLayout(fixed, 0).value();
  // Per query block: its own l-block up to itself plus one summary block per
  // earlier l-block (64 blocks per l-block, 128 l-blocks).
  int64_t want = 0;
  for (int64_t qb = 0; qb < nb; ++qb) want += qb % 64 + 1 + qb / 64;
  EXPECT_EQ(f->live_blocks(), want);
  EXPECT_TRUE(f->Allowed(0, n - 1, 8191));
  EXPECT_FALSE(f->Allowed(0, n - 1, 8191 - 128));
}

TEST(LayoutTest, BadInputGetsClearErrors) {
  PatternConfig base;
  base.kind = PatternKind::kFixed;
  base.n = 1024;
  base.block = 32;
  base.stride = 128;
  base.c = 32;
  std::vector<std::pair<PatternConfig, std::string>> cases;
  auto with = [&](auto edit, std::string want) {
    PatternConfig c = base;
    edit(c);
    cases.emplace_back(c, want);
  };
  with([](PatternConfig& c) { c.stride = 0; }, "stride (l)=0");
  with([](PatternConfig& c) { c.c = 129; }, "c=129");
  with([](PatternConfig& c) { c.c = 0; }, "c=0");
  with([](PatternConfig& c) { c.stride = 48; }, "does not divide stride");
  with([](PatternConfig& c) { c.n = 1024 + 32; }, "not a multiple of stride");
  with([](PatternConfig& c) { c.n = 1000; }, "not a multiple of block");
  with([](PatternConfig& c) { c.block = 8; }, "block=8");
  with([](PatternConfig& c) { c.heads = 0; }, "heads=0");
  with([](PatternConfig& c) { c.n = 0; }, "n=0");
  with(
      [](PatternConfig& c) {
        c.kind = PatternKind::kStrided;
        c.strided_transposed = true;
      },
      "A2 alone");
  with(
      [](PatternConfig& c) {
        c.kind = PatternKind::kStrided;
        c.part = PatternPart::kSecond;
        c.strided_transposed = true;
        c.n = 128 * 8;  // n/l = 8 is not a multiple of 32
      },
      "n/l=8");
  with(
      [](PatternConfig& c) {
        c.head_mode = HeadMode::kSplit;
        c.part = PatternPart::kFirst;
      },
      "part=first");
  with(
      [](PatternConfig& c) {
        c.kind = PatternKind::kLocal;
        c.distinct_summaries = true;
      },
      "distinct_summaries");
  for (const auto& [config, want] : cases) {
    const absl::Status status = ValidatePatternConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_THAT(std::string(status.message()), HasSubstr(want));
    EXPECT_FALSE(BuildLayout(config, 0).ok()) << want;
    EXPECT_FALSE(BuildLayerLayouts(config, 2).ok()) << want;
  }
  EXPECT_FALSE(BuildLayerLayouts(base, 0).ok());
  EXPECT_FALSE(ParsePatternKind("sparse").ok());
  EXPECT_EQ(ParseHeadMode("split").value(), HeadMode::kSplit);
  EXPECT_EQ(ParsePatternPart("second").value(), PatternPart::kSecond);
}

TEST(LayoutBuilderTest, RejectsOutOfOrderAndAcausalBlocks) {
  {
    LayoutBuilder b(64, 16, 1);
    b.Add(0, 1, 1, kCausal);
    b.Add(0, 1, 0, kFull);
    EXPECT_THAT(std::string(b.Build().status().message()),
                HasSubstr("out of order"));
  }
  {
    LayoutBuilder b(64, 16, 1);
    b.Add(0, 1, 2, kFull);
    EXPECT_THAT(std::string(b.Build().status().message()),
                HasSubstr("not causal"));
  }
  {
    LayoutBuilder b(64, 16, 1);
    b.SetPermutation(0, std::vector<int32_t>(64, 0));
    EXPECT_FALSE(b.Build().ok());
  }
  {
    // Interning recognises full, causal and empty masks, and deduplicates.
    LayoutBuilder b(64, 16, 1);
    std::vector<uint64_t> words(4, 0);
    EXPECT_EQ(b.InternMask(words), kEmpty);
    for (int r = 0; r < 16; ++r) {
      for (int c = 0; c <= r; ++c)
        words[(r * 16 + c) / 64] |= 1ull << ((r * 16 + c) % 64);
    }
    EXPECT_EQ(b.InternMask(words), kCausal);
    words[0] |= 2;  // (0, 1): no longer causal
    EXPECT_EQ(b.InternMask(words), 0);
    EXPECT_EQ(b.InternMask(words), 0);
    std::vector<uint64_t> ones(4, ~0ull);
    EXPECT_EQ(b.InternMask(ones), kFull);
    b.Add(0, 0, 0, 0);
    auto layout = b.Build().value();
    EXPECT_EQ(layout->num_masks(), 1);
    EXPECT_TRUE(layout->Allowed(0, 0, 1));
    EXPECT_FALSE(layout->Allowed(0, 0, 2));
    EXPECT_EQ(layout->live_pairs(0), 16 * 17 / 2 + 1);
  }
}

}  // namespace
}  // namespace st::attention
