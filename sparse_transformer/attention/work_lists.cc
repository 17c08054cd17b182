#include "sparse_transformer/attention/work_lists.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "sparse_transformer/attention/attention_kernels_cuda.h"

namespace st::attention {

void AppendUnion(const AttentionLayout& layout, int h,
                 absl::Span<const int32_t> members, bool columns,
                 std::vector<int32_t>* ids, std::vector<int32_t>* codes) {
  struct Item {
    int32_t id, member, code;
  };
  const int nb = layout.num_blocks();
  absl::Span<const int64_t> off =
      columns ? layout.col_offsets() : layout.row_offsets();
  std::vector<Item> items;
  for (size_t m = 0; m < members.size(); ++m) {
    if (members[m] < 0) continue;
    const int64_t b = static_cast<int64_t>(h) * (nb + 1) + members[m];
    for (int64_t e = off[b]; e < off[b + 1]; ++e) {
      const int64_t entry = columns ? layout.col_entries()[e] : e;
      items.push_back({columns ? layout.col_rows()[e] : layout.row_cols()[e],
                       static_cast<int32_t>(m), layout.row_masks()[entry]});
    }
  }
  std::sort(items.begin(), items.end(), [](const Item& x, const Item& y) {
    return x.id != y.id ? x.id < y.id : x.member < y.member;
  });
  const size_t first = ids->size();
  for (const Item& it : items) {
    if (ids->size() == first || ids->back() != it.id) {
      ids->push_back(it.id);
      codes->insert(codes->end(), members.size(), cuda::kAbsent);
    }
    (*codes)[codes->size() - members.size() + it.member] = it.code;
  }
}

TileLists BuildTileLists(const AttentionLayout& layout, int G) {
  const int nb = layout.num_blocks();
  const int nt = (nb + G - 1) / G;
  TileLists out;
  out.offsets.reserve(static_cast<size_t>(layout.heads()) * (nt + 1));
  std::vector<int32_t> members(G);
  for (int h = 0; h < layout.heads(); ++h) {
    out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
    for (int t = 0; t < nt; ++t) {
      for (int g = 0; g < G; ++g) members[g] = t * G + g < nb ? t * G + g : -1;
      AppendUnion(layout, h, members, /*columns=*/false, &out.ids, &out.codes);
      out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
    }
    // offsets of head h: [h*(nt+1), h*(nt+1)+nt]; the next head starts anew.
  }
  return out;
}

TileLists AlignOwnBlocks(const TileLists& lists, int heads, int num_tiles,
                         int G, int E) {
  TileLists out;
  out.offsets.reserve(lists.offsets.size());
  out.ids.reserve(lists.ids.size());
  out.codes.reserve(lists.codes.size());
  for (int h = 0; h < heads; ++h) {
    const int64_t* to =
        lists.offsets.data() + static_cast<int64_t>(h) * (num_tiles + 1);
    out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
    for (int t = 0; t < num_tiles; ++t) {
      const int n = static_cast<int>(to[t + 1] - to[t]);
      const int32_t* ids = lists.ids.data() + to[t];
      // The first entry among the tile's own blocks (ids ascending).
      const int own =
          static_cast<int>(std::lower_bound(ids, ids + n, t * G) - ids);
      const int pad = (E - own % E) % E;
      const bool align =
          own < n && pad > 0 && (n + pad + E - 1) / E == (n + E - 1) / E;
      for (int e = 0; e < n; ++e) {
        if (align && e == own) {
          out.ids.insert(out.ids.end(), pad, -1);
          out.codes.insert(out.codes.end(), static_cast<size_t>(pad) * G,
                           cuda::kAbsent);
        }
        out.ids.push_back(ids[e]);
        const int32_t* codes = lists.codes.data() + (to[t] + e) * G;
        out.codes.insert(out.codes.end(), codes, codes + G);
      }
      out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
    }
  }
  return out;
}

namespace {

// Per head: the runs of `order` (key blocks; `ho`: the head's column
// offsets) that make its tiles, as [begin, end) index pairs, minimising
// sum(steps(union) + start_steps) by dynamic programming over the order.
// (Cutting at every CG blocks gave the fixed pattern's non-summary blocks,
// three a 128-block and used by that block's queries only, tiles straddling
// two 128-blocks: 4 steps for 4 blocks, where the three blocks of one
// 128-block take 2; KERNEL_NOTES.md, v73.)
std::vector<std::pair<int, int>> CutIntoTiles(const AttentionLayout& layout,
                                              const int64_t* ho,
                                              const std::vector<int32_t>& order,
                                              int cg, int start_steps) {
  const int nb = static_cast<int>(order.size());
  absl::Span<const int32_t> col_rows = layout.col_rows();
  // best[i]: the least cost of order[0, i); cut[i]: the length of its last
  // run.
  std::vector<int64_t> best(nb + 1, 0);
  std::vector<int> cut(nb + 1, 0);
  std::vector<int32_t> uni, merged;
  for (int i = 1; i <= nb; ++i) {
    best[i] = std::numeric_limits<int64_t>::max();
    uni.clear();
    for (int s = 1; s <= cg && s <= i; ++s) {
      // The run order[i - s, i): merge in block order[i - s]'s (ascending)
      // column list.
      const int b = order[i - s];
      merged.clear();
      std::set_union(uni.begin(), uni.end(), col_rows.begin() + ho[b],
                     col_rows.begin() + ho[b + 1], std::back_inserter(merged));
      uni.swap(merged);
      const int64_t cost =
          best[i - s] + start_steps +
          cuda::HopperListSteps(static_cast<int>(uni.size()), layout.block());
      if (cost <= best[i]) {  // ties: the longer run, fewer tiles
        best[i] = cost;
        cut[i] = s;
      }
    }
  }
  std::vector<std::pair<int, int>> runs;
  for (int i = nb; i > 0; i -= cut[i]) runs.push_back({i - cut[i], i});
  std::reverse(runs.begin(), runs.end());
  return runs;
}

}  // namespace

ColumnTiles BuildColumnTiles(const AttentionLayout& layout, int start_steps,
                             absl::Span<const uint8_t> skip) {
  const int nb = layout.num_blocks();
  ColumnTiles out;
  out.cg = std::max(1, 128 / layout.block());
  const int cg = out.cg;
  struct Group {
    std::vector<int32_t> keys, rows, codes;
  };
  // Per head: its tiles, longest union first.
  std::vector<std::vector<Group>> heads(layout.heads());
  std::vector<int32_t> order;
  for (int h = 0; h < layout.heads(); ++h) {
    const int64_t* ho =
        layout.col_offsets().data() + static_cast<int64_t>(h) * (nb + 1);
    auto first = [&](int b) {
      return ho[b] < ho[b + 1] ? layout.col_rows()[ho[b]] : -1;
    };
    auto last = [&](int b) {
      return ho[b] < ho[b + 1] ? layout.col_rows()[ho[b + 1] - 1] : -1;
    };
    order.clear();
    for (int b = 0; b < nb; ++b) {
      if (skip.empty() || !skip[static_cast<int64_t>(h) * nb + b])
        order.push_back(b);
    }
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return std::make_pair(last(a), first(a)) <
             std::make_pair(last(b), first(b));
    });
    std::vector<Group>& groups = heads[h];
    for (const auto& [begin, end] :
         CutIntoTiles(layout, ho, order, cg, start_steps)) {
      Group gr;
      gr.keys.assign(cg, -1);
      std::copy(order.begin() + begin, order.begin() + end, gr.keys.begin());
      AppendUnion(layout, h, gr.keys, /*columns=*/true, &gr.rows, &gr.codes);
      groups.push_back(std::move(gr));
    }
    std::stable_sort(groups.begin(), groups.end(),
                     [](const Group& a, const Group& b) {
                       return a.rows.size() > b.rows.size();
                     });
    out.num_tiles = std::max(out.num_tiles, static_cast<int>(groups.size()));
  }
  out.steps.assign(out.num_tiles, 0);
  for (std::vector<Group>& groups : heads) {
    groups.resize(out.num_tiles);  // padding: no keys, no steps
    out.offsets.push_back(static_cast<int64_t>(out.rows.size()));
    for (int t = 0; t < out.num_tiles; ++t) {
      Group& gr = groups[t];
      if (gr.keys.empty()) gr.keys.assign(cg, -1);
      const int entries = static_cast<int>(gr.rows.size());
      out.steps[t] = std::max(out.steps[t],
                              cuda::HopperListSteps(entries, layout.block()));
      out.keys.insert(out.keys.end(), gr.keys.begin(), gr.keys.end());
      out.rows.insert(out.rows.end(), gr.rows.begin(), gr.rows.end());
      out.codes.insert(out.codes.end(), gr.codes.begin(), gr.codes.end());
      out.offsets.push_back(static_cast<int64_t>(out.rows.size()));
    }
  }
  return out;
}

DqLocalKeys BuildDqLocalKeys(const AttentionLayout& layout,
                             absl::Span<const int64_t> offsets,
                             absl::Span<const int32_t> cols, int num_tiles) {
  const int nb = layout.num_blocks();
  const int bl = layout.block();
  const int G = std::max(1, cuda::kTileRows / bl);  // query blocks a tile
  const int E = cuda::HopperEntriesPerStep(bl);
  const int per_block = cuda::HopperStepsPerEntry(bl);
  DqLocalKeys out;
  out.masks.assign(static_cast<size_t>(layout.heads()) * num_tiles, 0);
  out.local.assign(static_cast<size_t>(layout.heads()) * nb, 0);
  for (int h = 0; h < layout.heads(); ++h) {
    const int64_t* ho =
        layout.col_offsets().data() + static_cast<int64_t>(h) * (nb + 1);
    const int64_t* to =
        offsets.data() + static_cast<int64_t>(h) * (num_tiles + 1);
    for (int b = 0; b < nb; ++b) {
      if (ho[b] == ho[b + 1]) continue;  // no queries: the dk/dv pass zeroes
      const int t = layout.col_rows()[ho[b]] / G;
      if (layout.col_rows()[ho[b + 1] - 1] / G != t) continue;
      const int32_t* first = cols.data() + to[t];
      const int32_t* last = cols.data() + to[t + 1];
      // (Not a binary search: the Hopper lists may hold -1 entries.)
      const int32_t* at = std::find(first, last, b);
      if (at == last) continue;  // not in the list (cannot be)
      const int i = static_cast<int>(at - first);
      const int nsteps =
          cuda::HopperListSteps(static_cast<int>(last - first), bl);
      const int step = i / E * per_block;  // its first step
      if (step < nsteps - 2) continue;
      int32_t& mask = out.masks[static_cast<size_t>(h) * num_tiles + t];
      for (int s = step; s < step + per_block; ++s)
        mask |= 1 << ((s - (nsteps - 2)) * E + i % E);
      out.local[static_cast<size_t>(h) * nb + b] = 1;
      ++out.count;
    }
  }
  return out;
}

std::vector<int32_t> LeadingFullSteps(absl::Span<const int64_t> offsets,
                                      absl::Span<const int32_t> codes,
                                      int per_entry, int heads, int num_lists,
                                      int block) {
  const int E = cuda::HopperEntriesPerStep(block);
  const int sub = cuda::HopperStepsPerEntry(block);
  std::vector<int32_t> out(static_cast<size_t>(heads) * num_lists, 0);
  for (int h = 0; h < heads; ++h) {
    const int64_t* ho =
        offsets.data() + static_cast<int64_t>(h) * (num_lists + 1);
    for (int t = 0; t < num_lists; ++t) {
      const int64_t e0 = ho[t];
      const int nent = static_cast<int>(ho[t + 1] - e0);
      const int nsteps = cuda::HopperListSteps(nent, block);
      auto full = [&](int s) {
        for (int e = s / sub * E; e < s / sub * E + E; ++e) {
          if (e >= nent) return false;
          const int32_t* c = codes.data() + (e0 + e) * per_entry;
          for (int j = 0; j < per_entry; ++j)
            if (c[j] != -1) return false;
        }
        return true;
      };
      int32_t& lead = out[static_cast<size_t>(h) * num_lists + t];
      while (lead < nsteps && full(lead)) ++lead;
    }
  }
  return out;
}

}  // namespace st::attention
