// The dk/dv key tiles and the merged query tiles, checked against the layout
// they come from (no GPU needed).
#include "sparse_transformer/attention/work_lists.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sparse_transformer/attention/attention_kernels_cuda.h"

namespace st::attention {
namespace {

std::shared_ptr<const AttentionLayout> Build(const PatternConfig& config) {
  absl::StatusOr<std::shared_ptr<const AttentionLayout>> layout =
      BuildLayout(config, /*layer=*/0);
  EXPECT_TRUE(layout.ok()) << layout.status();
  return *layout;
}

PatternConfig Fixed(int64_t n, int block) {
  PatternConfig c;
  c.kind = PatternKind::kFixed;
  c.n = n;
  c.block = block;
  c.stride = 128;
  c.c = 32;
  return c;
}

// The mask code of (query block q, key block k) in head h, or kAbsent.
int32_t CodeOf(const AttentionLayout& layout, int h, int q, int k) {
  const int nb = layout.num_blocks();
  const int64_t b = static_cast<int64_t>(h) * (nb + 1) + q;
  for (int64_t e = layout.row_offsets()[b]; e < layout.row_offsets()[b + 1];
       ++e) {
    if (layout.row_cols()[e] == k) return layout.row_masks()[e];
  }
  return cuda::kAbsent;
}

// Modelled cost of a head's tiles: steps plus start_steps a non-empty tile.
int64_t Cost(const ColumnTiles& tiles, int h, int block, int start_steps) {
  int64_t cost = 0;
  for (int t = 0; t < tiles.num_tiles; ++t) {
    const int64_t* o = tiles.offsets.data() + h * (tiles.num_tiles + 1);
    const int entries = static_cast<int>(o[t + 1] - o[t]);
    const int32_t* keys =
        tiles.keys.data() + (h * tiles.num_tiles + t) * tiles.cg;
    if (std::any_of(keys, keys + tiles.cg, [](int32_t k) { return k >= 0; }))
      cost += start_steps + cuda::HopperListSteps(entries, block);
  }
  return cost;
}

// Every key block of every head in exactly one tile of at most CG blocks;
// each tile's rows the ascending union of its blocks' column lists, with
// each block's code per entry; tiles longest first; steps the longest head's.
void CheckTiles(const AttentionLayout& layout, const ColumnTiles& tiles) {
  const int nb = layout.num_blocks();
  ASSERT_EQ(tiles.cg, std::max(1, 128 / layout.block()));
  const int nc = tiles.num_tiles;
  ASSERT_EQ(tiles.keys.size(),
            static_cast<size_t>(layout.heads()) * nc * tiles.cg);
  ASSERT_EQ(tiles.offsets.size(),
            static_cast<size_t>(layout.heads()) * (nc + 1));
  ASSERT_EQ(tiles.steps.size(), static_cast<size_t>(nc));
  std::vector<int> longest(nc, 0);
  for (int h = 0; h < layout.heads(); ++h) {
    SCOPED_TRACE(absl::StrCat("head ", h));
    std::vector<int> seen(nb, 0);
    const int64_t* o = tiles.offsets.data() + h * (nc + 1);
    const int64_t* ho =
        layout.col_offsets().data() + static_cast<int64_t>(h) * (nb + 1);
    int64_t previous = -1;
    for (int t = 0; t < nc; ++t) {
      SCOPED_TRACE(absl::StrCat("tile ", t));
      const int32_t* keys = tiles.keys.data() + (h * nc + t) * tiles.cg;
      std::set<int32_t> expect;
      for (int s = 0; s < tiles.cg; ++s) {
        if (keys[s] < 0) continue;
        ASSERT_LT(keys[s], nb);
        ++seen[keys[s]];
        expect.insert(layout.col_rows().begin() + ho[keys[s]],
                      layout.col_rows().begin() + ho[keys[s] + 1]);
      }
      const std::vector<int32_t> rows(tiles.rows.begin() + o[t],
                                      tiles.rows.begin() + o[t + 1]);
      EXPECT_EQ(rows, std::vector<int32_t>(expect.begin(), expect.end()));
      for (size_t e = 0; e < rows.size(); ++e) {
        for (int s = 0; s < tiles.cg; ++s) {
          const int32_t want =
              keys[s] < 0 ? cuda::kAbsent : CodeOf(layout, h, rows[e], keys[s]);
          EXPECT_EQ(tiles.codes[(o[t] + e) * tiles.cg + s], want)
              << "entry " << e << " slot " << s;
        }
      }
      if (previous >= 0) {
        EXPECT_LE(static_cast<int64_t>(rows.size()), previous);
      }
      previous = static_cast<int64_t>(rows.size());
      longest[t] = std::max(
          longest[t],
          cuda::HopperListSteps(static_cast<int>(rows.size()), layout.block()));
    }
    for (int b = 0; b < nb; ++b) EXPECT_EQ(seen[b], 1) << "key block " << b;
  }
  EXPECT_EQ(tiles.steps, longest);
}

TEST(ColumnTilesTest, FixedKeepsEachBlocksNonSummaryKeysTogether) {
  // fixed(128, 32), blocks of 32: per 128-block three non-summary key
  // blocks used by that block's four query blocks only (2 steps of 64
  // queries together), and one summary block used by every later query.
  const auto layout = Build(Fixed(12288, 32));
  const ColumnTiles tiles = BuildColumnTiles(*layout);
  CheckTiles(*layout, tiles);
  ASSERT_EQ(tiles.cg, 4);
  int non_summary_tiles = 0;
  for (int t = 0; t < tiles.num_tiles; ++t) {
    const int32_t* keys = tiles.keys.data() + t * tiles.cg;
    if (keys[0] < 0 || keys[0] % 4 == 3) continue;
    ++non_summary_tiles;
    const int j = keys[0] / 4;
    EXPECT_EQ(keys[0], 4 * j);
    EXPECT_EQ(keys[1], 4 * j + 1);
    EXPECT_EQ(keys[2], 4 * j + 2);
    // The fourth slot: empty, or a summary block whose list adds no step.
    EXPECT_TRUE(keys[3] == -1 || keys[3] % 4 == 3) << keys[3];
    EXPECT_EQ(tiles.steps[t], 2) << "tile " << t;
  }
  EXPECT_EQ(non_summary_tiles, 96);
  // Fewer steps than with the fewest tiles (CG blocks a tile).
  const ColumnTiles fewest = BuildColumnTiles(*layout, /*start_steps=*/1 << 20);
  int64_t steps = 0, fewest_steps = 0;
  for (int s : tiles.steps) steps += s;
  for (int s : fewest.steps) fewest_steps += s;
  // 120 tiles and 2568 steps a head against 96 tiles and 2685 steps.
  EXPECT_LT(steps, fewest_steps);
}

TEST(ColumnTilesTest, CutCostsNoMoreThanTheFewestTiles) {
  // A start cost so large that only the number of tiles counts gives
  // ceil(NB / CG) tiles (as the cut at every CG blocks of the order did);
  // the default cut, optimal for its own cost, never costs more than that.
  PatternConfig local;
  local.kind = PatternKind::kLocal;
  local.n = 4096;
  local.block = 32;
  local.stride = 128;
  PatternConfig strided;
  strided.kind = PatternKind::kStrided;
  strided.n = 4096;
  strided.block = 16;
  strided.stride = 64;
  strided.heads = 2;
  strided.head_mode = HeadMode::kSplit;
  PatternConfig dense;
  dense.kind = PatternKind::kDense;
  dense.n = 1024;
  dense.block = 64;
  for (const PatternConfig& config :
       {Fixed(4096, 32), Fixed(4096, 16), local, strided, dense}) {
    const auto layout = Build(config);
    SCOPED_TRACE(absl::StrCat("kind ", static_cast<int>(config.kind), " block ",
                              config.block));
    const ColumnTiles tiles = BuildColumnTiles(*layout);
    CheckTiles(*layout, tiles);
    const ColumnTiles fewest =
        BuildColumnTiles(*layout, /*start_steps=*/1 << 20);
    CheckTiles(*layout, fewest);
    const int nb = layout->num_blocks();
    EXPECT_EQ(fewest.num_tiles, (nb + tiles.cg - 1) / tiles.cg);
    for (int h = 0; h < layout->heads(); ++h) {
      EXPECT_LE(Cost(tiles, h, config.block, kTileStartSteps),
                Cost(fewest, h, config.block, kTileStartSteps));
    }
  }
}

TEST(DqLocalKeysTest, FixedNonSummaryBlocksOfTheLastTwoSteps) {
  // fixed(128, 32), blocks of 32: query tile j's list is the j summary
  // blocks 3, 7, .., 4j - 1 and then its own 4j .. 4j + 3, two a step. Key
  // blocks 4j + 1 and 4j + 2 (used by tile j's queries only) always fall in
  // the last two steps, 4j only for even j (for odd j it shares a step with
  // summary block 4j - 1), and the last summary block (used by its own query
  // block only) too.
  const auto layout = Build(Fixed(4096, 32));
  const int nb = layout->num_blocks(), nt = nb / 4;
  const TileLists lists = BuildTileLists(*layout, 4);
  const DqLocalKeys local =
      BuildDqLocalKeys(*layout, lists.offsets, lists.ids, nt);
  ASSERT_EQ(local.masks.size(), static_cast<size_t>(nt));
  ASSERT_EQ(local.local.size(), static_cast<size_t>(nb));
  int64_t count = 0;
  for (int b = 0; b < nb; ++b) {
    const int j = b / 4, r = b % 4;
    const bool expect =
        r == 1 || r == 2 || (r == 0 && j % 2 == 0) || b == nb - 1;
    EXPECT_EQ(local.local[b], expect ? 1 : 0) << "key block " << b;
    count += expect;
  }
  EXPECT_EQ(local.count, count);
  for (int j = 0; j < nt; ++j) {
    // Even j: the last two steps [4j, 4j+1] [4j+2, 4j+3], bits 0, 1, 2.
    // Odd j: [4j-1, 4j] [4j+1, 4j+2] [4j+3]: bits 0 and 1 (4j+3, bit 2,
    // only in the last tile).
    int expect = j % 2 == 0 ? 0b111 : 0b011;
    if (j == nt - 1) expect |= 0b100;  // the last summary block
    EXPECT_EQ(local.masks[j], expect) << "tile " << j;
  }
  // Left out of the dk/dv pass's tiles.
  const ColumnTiles tiles = BuildColumnTiles(*layout, kTileStartSteps,
                                             absl::MakeConstSpan(local.local));
  for (int32_t b : tiles.keys) {
    if (b >= 0) {
      EXPECT_FALSE(local.local[b]) << "key block " << b;
    }
  }
}

TEST(DqLocalKeysTest, AlignedFixedListsMakeEveryNonSummaryBlockLocal) {
  // fixed(128, 32), blocks of 32: AlignOwnBlocks puts one empty entry
  // before an odd tile's own blocks (its j summary blocks then fill whole
  // steps with it), which costs no step; then blocks 4j, 4j + 1, 4j + 2 of
  // every tile are in its last two steps and the dq pass's.
  const auto layout = Build(Fixed(4096, 32));
  const int nb = layout->num_blocks(), nt = nb / 4;
  const TileLists lists = BuildTileLists(*layout, 4);
  const TileLists aligned =
      AlignOwnBlocks(lists, layout->heads(), nt, /*G=*/4, /*E=*/2);
  ASSERT_EQ(aligned.offsets.size(), lists.offsets.size());
  for (int j = 0; j < nt; ++j) {
    const int n = static_cast<int>(lists.offsets[j + 1] - lists.offsets[j]);
    const int na =
        static_cast<int>(aligned.offsets[j + 1] - aligned.offsets[j]);
    EXPECT_EQ(cuda::HopperListSteps(na, 32), cuda::HopperListSteps(n, 32))
        << "tile " << j;
    // The same entries and codes, with -1 (codes kAbsent) before block 4j
    // in odd tiles.
    std::vector<int32_t> expect(lists.ids.begin() + lists.offsets[j],
                                lists.ids.begin() + lists.offsets[j + 1]);
    if (j % 2 == 1) expect.insert(expect.end() - 4, -1);
    const std::vector<int32_t> got(
        aligned.ids.begin() + aligned.offsets[j],
        aligned.ids.begin() + aligned.offsets[j + 1]);
    EXPECT_EQ(got, expect) << "tile " << j;
    for (int e = 0; e < na; ++e) {
      for (int g = 0; g < 4; ++g) {
        const int32_t code = aligned.codes[(aligned.offsets[j] + e) * 4 + g];
        EXPECT_EQ(code, got[e] < 0 ? cuda::kAbsent
                                   : CodeOf(*layout, 0, 4 * j + g, got[e]))
            << "tile " << j << " entry " << e;
      }
    }
  }
  const DqLocalKeys local =
      BuildDqLocalKeys(*layout, aligned.offsets, aligned.ids, nt);
  int64_t count = 0;
  for (int b = 0; b < nb; ++b) {
    const bool expect = b % 4 != 3 || b == nb - 1;
    EXPECT_EQ(local.local[b], expect ? 1 : 0) << "key block " << b;
    count += expect;
  }
  EXPECT_EQ(local.count, count);
  for (int j = 0; j < nt; ++j) {
    EXPECT_EQ(local.masks[j], j == nt - 1 ? 0b1111 : 0b111) << "tile " << j;
  }
}

TEST(DqLocalKeysTest, AlignOwnBlocksOnlyWhereItCostsNoStep) {
  // One head, three tiles of G = 4 blocks, E = 2 entries a step; tiles 0
  // and 1 empty. Tile 2 (own blocks 8..11): [5, 8, 9, 10, 11] takes three
  // steps with or without an empty entry before 8, so it gets one;
  // [5, 8, 9, 10] would need a third step for it, so it stays.
  for (const bool full : {true, false}) {
    TileLists lists;
    lists.ids = full ? std::vector<int32_t>{5, 8, 9, 10, 11}
                     : std::vector<int32_t>{5, 8, 9, 10};
    const int64_t n = static_cast<int64_t>(lists.ids.size());
    lists.offsets = {0, 0, 0, n};
    lists.codes.assign(static_cast<size_t>(n) * 4, -1);
    const TileLists aligned = AlignOwnBlocks(lists, 1, 3, 4, 2);
    const std::vector<int32_t> expect =
        full ? std::vector<int32_t>{5, -1, 8, 9, 10, 11} : lists.ids;
    EXPECT_EQ(aligned.ids, expect);
    EXPECT_EQ(aligned.offsets.back(), static_cast<int64_t>(aligned.ids.size()));
    EXPECT_EQ(aligned.codes.size(), aligned.ids.size() * 4);
  }
}

TEST(DqLocalKeysTest, DenseLastBlockOnly) {
  // Dense causal, blocks of 128 (the row CSR, two steps a block): only the
  // last key block is used by one query block alone; its two steps are the
  // last two of that block's list.
  PatternConfig dense;
  dense.kind = PatternKind::kDense;
  dense.n = 1024;
  dense.block = 128;
  const auto layout = Build(dense);
  const int nb = layout->num_blocks();
  const DqLocalKeys local =
      BuildDqLocalKeys(*layout, layout->row_offsets(), layout->row_cols(), nb);
  EXPECT_EQ(local.count, 1);
  EXPECT_EQ(local.local[nb - 1], 1);
  for (int t = 0; t < nb; ++t) {
    EXPECT_EQ(local.masks[t], t == nb - 1 ? 0b11 : 0) << "tile " << t;
  }
}

TEST(LeadingFullStepsTest, StepsOfPresentFullEntriesFromTheFirst) {
  // Two heads of two lists, blocks of 32 (two entries a step), two codes an
  // entry (F: -1, C: -2, A: kAbsent).
  constexpr int F = -1, C = -2, A = cuda::kAbsent;
  // Head 0, list 0: steps {F F | F F}, {F F | F F}, {C F | F F}, {F F}: 2.
  // Head 0, list 1: empty: 0. Head 1, list 0: {F A | F F}: 0. Head 1, list
  // 1: {F F | F F}, then one entry of a step's two: 1.
  const std::vector<int64_t> offsets = {0, 7, 7, 7, 9, 12};
  const std::vector<int32_t> codes = {F, F, F, F, F, F, F,
                                      F, C, F, F, F, F, F,  // head 0, list 0
                                      F, A, F, F,           // head 1, list 0
                                      F, F, F, F, F, F};    // head 1, list 1
  ASSERT_EQ(codes.size(), 12u * 2);
  EXPECT_EQ(LeadingFullSteps(offsets, codes, /*per_entry=*/2, /*heads=*/2,
                             /*num_lists=*/2, /*block=*/32),
            (std::vector<int32_t>{2, 0, 0, 1}));
  // Blocks of 128: two steps an entry; blocks of 64: one.
  const std::vector<int64_t> o1 = {0, 3};
  const std::vector<int32_t> c1 = {F, C, F};
  EXPECT_EQ(LeadingFullSteps(o1, c1, 1, 1, 1, 128), (std::vector<int32_t>{2}));
  EXPECT_EQ(LeadingFullSteps(o1, c1, 1, 1, 1, 64), (std::vector<int32_t>{1}));
  const std::vector<int32_t> c2 = {C, F, F};
  EXPECT_EQ(LeadingFullSteps(o1, c2, 1, 1, 1, 128), (std::vector<int32_t>{0}));
}

TEST(LeadingFullStepsTest, FixedQueryTilesTheirSummarySteps) {
  // fixed(128, 32), the aligned query tiles: tile j's j summary blocks fill
  // j / 2 steps with every code full; an odd tile's last summary block
  // shares its step with an empty entry, and the own blocks are masked.
  const auto layout = Build(Fixed(4096, 32));
  const int nt = layout->num_blocks() / 4;
  const TileLists aligned =
      AlignOwnBlocks(BuildTileLists(*layout, 4), layout->heads(), nt, 4, 2);
  const std::vector<int32_t> lead = LeadingFullSteps(
      aligned.offsets, aligned.codes, 4, layout->heads(), nt, 32);
  ASSERT_EQ(lead.size(), static_cast<size_t>(layout->heads()) * nt);
  for (int j = 0; j < nt; ++j) EXPECT_EQ(lead[j], j / 2) << "tile " << j;
}

TEST(TileListsTest, MergedRowsAreTheUnionOfTheTilesBlocks) {
  const auto layout = Build(Fixed(2048, 32));
  const int G = 4;
  const TileLists lists = BuildTileLists(*layout, G);
  const int nb = layout->num_blocks();
  const int nt = (nb + G - 1) / G;
  ASSERT_EQ(lists.offsets.size(), static_cast<size_t>(nt + 1));
  for (int t = 0; t < nt; ++t) {
    std::set<int32_t> expect;
    for (int g = 0; g < G; ++g) {
      const int q = t * G + g;
      for (int64_t e = layout->row_offsets()[q];
           e < layout->row_offsets()[q + 1]; ++e)
        expect.insert(layout->row_cols()[e]);
    }
    const std::vector<int32_t> ids(lists.ids.begin() + lists.offsets[t],
                                   lists.ids.begin() + lists.offsets[t + 1]);
    ASSERT_EQ(ids, std::vector<int32_t>(expect.begin(), expect.end()))
        << "tile " << t;
    for (size_t e = 0; e < ids.size(); ++e) {
      for (int g = 0; g < G; ++g) {
        EXPECT_EQ(lists.codes[(lists.offsets[t] + e) * G + g],
                  CodeOf(*layout, 0, t * G + g, ids[e]));
      }
    }
  }
}

}  // namespace
}  // namespace st::attention
