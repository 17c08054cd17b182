#include "sparse_transformer/attention/block_sparse_attention_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sparse_transformer/attention/work_lists.h"

#if ST_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace st::attention {

#if ST_WITH_CUDA

namespace {

absl::Status CudaError(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "block-sparse attention (CUDA): ", what, ": ", cudaGetErrorString(err)));
}

}  // namespace

DeviceAttentionLayout::~DeviceAttentionLayout() {
  for (void* p : allocations_) cudaFree(p);
}

cuda::LayoutView DeviceAttentionLayout::CallView(
    const CudaAttentionShape& shape, bool backward) const {
  cuda::LayoutView v = view_;
  const int64_t batch_heads = static_cast<int64_t>(shape.batch) * shape.heads;
  switch (interleave_heads_) {
    case UploadOptions::Choice::kOff:
      v.interleave_heads = false;
      break;
    case UploadOptions::Choice::kOn:
      v.interleave_heads = true;
      break;
    case UploadOptions::Choice::kAuto: {
      // Each pass streams two [n, head_dim] tensors of a head (K and V, or
      // Q and dO) of 2-byte elements.
      const double heads_bytes =
          2.0 * static_cast<double>(v.n) * shape.head_dim * 2 * shape.heads;
      v.interleave_heads =
          uneven_lists_ && heads_bytes <= static_cast<double>(l2_bytes_);
      break;
    }
  }
  if (!backward) return v;
  // No split tiles with dq fused into the dk/dv pass.
  const int nc =
      v.hopper_fused_dq ? 0 : static_cast<int>(dkv_tile_steps_.size());
  switch (dkv_split_) {
    case UploadOptions::Choice::kOff:
      v.dkv_split_tiles = 0;
      break;
    case UploadOptions::Choice::kOn:
      v.dkv_split_tiles = (nc + 1) / 2;
      break;
    case UploadOptions::Choice::kAuto: {
      // The tiles (longest first) with more than twice the steps of an SM's
      // share of the pass (one CTA per SM): such a tile alone would set the
      // pass's length. (Down to one share, the clusters' scheduling cost
      // more than they saved: KERNEL_NOTES.md, v40.)
      int64_t total = 0;
      for (int32_t s : dkv_tile_steps_) total += s;
      const double share =
          static_cast<double>(total) * batch_heads / std::max(1, sm_count_);
      int k = 0;
      while (k < nc && dkv_tile_steps_[k] > 2 * share) ++k;
      v.dkv_split_tiles = k;
      break;
    }
  }
  return v;
}

absl::StatusOr<std::unique_ptr<DeviceAttentionLayout>>
DeviceAttentionLayout::Upload(const AttentionLayout& layout,
                              const UploadOptions& options) {
  std::unique_ptr<DeviceAttentionLayout> d(new DeviceAttentionLayout());
  auto upload = [&](const void* src, size_t bytes,
                    const char* name) -> absl::StatusOr<void*> {
    if (bytes == 0) return nullptr;
    void* dst = nullptr;
    absl::Status s = CudaError(cudaMalloc(&dst, bytes), name);
    if (!s.ok()) return s;
    d->allocations_.push_back(dst);
    d->bytes_ += static_cast<int64_t>(bytes);
    s = CudaError(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), name);
    if (!s.ok()) return s;
    return dst;
  };
  cuda::LayoutView& v = d->view_;
  v.n = layout.n();
  v.block = layout.block();
  v.num_blocks = layout.num_blocks();
  v.layout_heads = layout.heads();
  v.words_per_mask = layout.words_per_mask();
#define ST_UPLOAD(field, span)                                       \
  {                                                                  \
    auto s = (span);                                                 \
    absl::StatusOr<void*> p =                                        \
        upload(s.data(), s.size() * sizeof(s[0]), "upload " #field); \
    if (!p.ok()) return p.status();                                  \
    v.field = static_cast<decltype(v.field)>(*p);                    \
  }
  ST_UPLOAD(row_offsets, layout.row_offsets());
  ST_UPLOAD(row_cols, layout.row_cols());
  ST_UPLOAD(row_masks, layout.row_masks());
  ST_UPLOAD(col_offsets, layout.col_offsets());
  ST_UPLOAD(col_rows, layout.col_rows());
  ST_UPLOAD(col_entries, layout.col_entries());
  ST_UPLOAD(mask_words, layout.mask_words());
  // Work decomposition (see LayoutView): merge G = 128 / block query blocks
  // per CTA when at least 75% of the merged entries are used by each block;
  // split the dk/dv column lists over 8 warps when they average >= 8 blocks.
  using Choice = UploadOptions::Choice;
  const bool hopper_ok = cuda::HopperKernelsAvailable();
  if (options.hopper == Choice::kOn && !hopper_ok) {
    return absl::FailedPreconditionError(
        "block-sparse attention (CUDA): UploadOptions::hopper is on, but the "
        "current device is not compute capability 9.0 (the wgmma kernels are "
        "built for sm_90a)");
  }
  // kAuto on a Hopper GPU: forward and dq on wgmma (faster than mma.sync);
  // dk/dv on wgmma where the column lists average at least 128 queries (two
  // wgmma steps: dense, fixed, local, strided from n = 65536), else on
  // mma.sync (strided at n = 12288, 112 queries a list on average, whose
  // short lists the wgmma dk/dv walks slower; KERNEL_NOTES.md v37).
  const double used = static_cast<double>(layout.live_blocks());
  const double mean_col =
      used / (static_cast<double>(layout.heads()) * layout.num_blocks());
  const bool long_columns = mean_col * layout.block() >= 128.0;
  v.hopper_cols =
      options.hopper == Choice::kOn ||
      (options.hopper == Choice::kAuto && hopper_ok && long_columns);
  v.hopper_rows =
      v.hopper_cols || (options.hopper == Choice::kAuto && hopper_ok);
  v.hopper_fused_dq = v.hopper_cols && options.fused_dq;
  v.hopper_dq = v.hopper_rows;  // block 128; smaller blocks decide below
  const int G = cuda::kTileRows / layout.block();
  v.tile_blocks = G;
  v.num_tiles = (layout.num_blocks() + G - 1) / G;
  TileLists rows;  // G > 1: the merged query tiles
  if (G > 1) {
    rows = BuildTileLists(layout, G);
    const double merged = static_cast<double>(rows.ids.size()) * G;
    v.row_merge = merged > 0 && used >= 0.75 * merged;
    v.col_split = mean_col >= 8.0;
    if (options.row_merge != Choice::kAuto)
      v.row_merge = options.row_merge == Choice::kOn;
    if (options.col_split != Choice::kAuto)
      v.col_split = options.col_split == Choice::kOn;
    // The wgmma dq pass walks merged tiles: used by default only where the
    // merge wastes little (as row_merge decides; always for block 128).
    v.hopper_dq = v.hopper_cols || (v.hopper_rows && v.row_merge);
    if (v.row_merge || v.hopper_rows) {
      ST_UPLOAD(tile_row_offsets, absl::MakeConstSpan(rows.offsets));
      ST_UPLOAD(tile_row_cols, absl::MakeConstSpan(rows.ids));
      ST_UPLOAD(tile_row_codes, absl::MakeConstSpan(rows.codes));
    }
  }
  TileLists aligned;  // the Hopper forward's and dq's copy, if uploaded
  if (v.hopper_cols) {
    // The key blocks whose dK, dV the Hopper dq pass computes (blocks of 32
    // to 128, no permutation; not with fused dq, which has no dq pass).
    // For blocks of 32 the Hopper forward and dq walk their own copy of the
    // query tiles' lists, with the tile's own blocks aligned to a step
    // (AlignOwnBlocks) so that more of them are the dq pass's.
    DqLocalKeys local;
    if (options.dq_local_keys != Choice::kOff && v.hopper_dq &&
        !v.hopper_fused_dq && !layout.has_permutation() &&
        layout.block() >= 32) {
      if (G > 1) {
        aligned = AlignOwnBlocks(rows, layout.heads(), v.num_tiles, G,
                                 cuda::HopperEntriesPerStep(layout.block()));
        local =
            BuildDqLocalKeys(layout, aligned.offsets, aligned.ids, v.num_tiles);
      } else {
        local = BuildDqLocalKeys(layout, layout.row_offsets(),
                                 layout.row_cols(), v.num_tiles);
      }
    }
    // Only where they are at least an eighth of the key blocks: the dq
    // kernel that computes them is a variant whose other steps are ~3%
    // slower, more than a few saved dk/dv tiles give back (dense causal has
    // one such block in 96; the fixed pattern three in four).
    if (options.dq_local_keys == Choice::kAuto &&
        local.count * 8 <
            static_cast<int64_t>(layout.heads()) * layout.num_blocks()) {
      local = DqLocalKeys();
    }
    if (local.count > 0) {
      ST_UPLOAD(dq_local_keys, absl::MakeConstSpan(local.masks));
      if (aligned.ids.size() != rows.ids.size()) {
        ST_UPLOAD(hopper_tile_row_offsets,
                  absl::MakeConstSpan(aligned.offsets));
        ST_UPLOAD(hopper_tile_row_cols, absl::MakeConstSpan(aligned.ids));
        ST_UPLOAD(hopper_tile_row_codes, absl::MakeConstSpan(aligned.codes));
      }
    }
    const ColumnTiles cols =
        BuildColumnTiles(layout, kTileStartSteps,
                         local.count > 0 ? absl::MakeConstSpan(local.local)
                                         : absl::Span<const uint8_t>());
    v.col_tile_blocks = cols.cg;
    v.num_col_tiles = cols.num_tiles;
    ST_UPLOAD(col_tile_keys, absl::MakeConstSpan(cols.keys));
    ST_UPLOAD(col_tile_offsets, absl::MakeConstSpan(cols.offsets));
    ST_UPLOAD(col_tile_rows, absl::MakeConstSpan(cols.rows));
    ST_UPLOAD(col_tile_codes, absl::MakeConstSpan(cols.codes));
    d->dkv_tile_steps_ = cols.steps;
    d->dkv_split_ = options.dkv_split;
  }
  if (v.hopper_rows) {
    // The leading full steps of the lists the Hopper forward and dq walk
    // (HopperRowTiles in the kernels).
    std::vector<int32_t> lead;
    if (G == 1) {
      lead =
          LeadingFullSteps(layout.row_offsets(), layout.row_masks(), 1,
                           layout.heads(), layout.num_blocks(), layout.block());
    } else {
      const TileLists& walked =
          v.hopper_tile_row_offsets != nullptr ? aligned : rows;
      lead = LeadingFullSteps(walked.offsets, walked.codes, G, layout.heads(),
                              v.num_tiles, layout.block());
    }
    // None at all (the local pattern): nullptr, and the dq pass runs its
    // kernel without their loop.
    if (std::any_of(lead.begin(), lead.end(), [](int32_t c) { return c > 0; }))
      ST_UPLOAD(hopper_row_leading_full, absl::MakeConstSpan(lead));
  }
#undef ST_UPLOAD
  // What the per-call choices (CallView) need: the GPU's SM count and L2
  // size, and whether the longest query block's list is >= 1.5x the mean.
  int device = 0, l2 = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&d->sm_count_, cudaDevAttrMultiProcessorCount,
                             device) != cudaSuccess ||
      cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device) !=
          cudaSuccess) {
    cudaGetLastError();
    d->sm_count_ = 1;
  }
  d->l2_bytes_ = l2;
  d->interleave_heads_ = options.interleave_heads;
  int64_t longest = 0;
  const absl::Span<const int64_t> ro = layout.row_offsets();
  for (size_t i = 0; i + 1 < ro.size(); ++i) {
    // Each head's offsets end where the next head's begin (a zero-length
    // "block" between them).
    longest = std::max(longest, ro[i + 1] - ro[i]);
  }
  d->uneven_lists_ =
      static_cast<double>(longest) * layout.heads() * layout.num_blocks() >=
      1.5 * used;
  if (layout.has_permutation()) {
    // One table for all heads; identity rows for heads without a permutation.
    const int64_t n = layout.n();
    std::vector<int32_t> inv(static_cast<size_t>(n) * layout.heads());
    for (int h = 0; h < layout.heads(); ++h) {
      absl::Span<const int32_t> ih = layout.inverse_permutation(h);
      for (int64_t p = 0; p < n; ++p) {
        inv[h * n + p] = ih.empty() ? static_cast<int32_t>(p) : ih[p];
      }
    }
    absl::StatusOr<void*> p =
        upload(inv.data(), inv.size() * sizeof(int32_t), "upload permutation");
    if (!p.ok()) return p.status();
    v.inverse_perm = static_cast<const int32_t*>(*p);
  }
  return d;
}

namespace {

absl::Status CheckShape(const DeviceAttentionLayout& layout,
                        const CudaAttentionShape& shape,
                        std::initializer_list<const void*> tensors) {
  const cuda::LayoutView& v = layout.view();
  if (shape.batch <= 0 || shape.heads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("block-sparse attention (CUDA): batch=", shape.batch,
                     " and heads=", shape.heads, " must be positive"));
  }
  if (shape.heads % v.layout_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block-sparse attention (CUDA): heads=", shape.heads,
        " is not a multiple of the layout's heads=", v.layout_heads));
  }
  if (shape.head_dim != 32 && shape.head_dim != 64 && shape.head_dim != 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("block-sparse attention (CUDA): head_dim=", shape.head_dim,
                     " must be 32, 64 or 128"));
  }
  if (static_cast<int64_t>(v.num_blocks) * v.block != v.n ||
      !IsSupportedBlock(v.block)) {
    return absl::InvalidArgumentError(
        absl::StrCat("block-sparse attention (CUDA): layout block=", v.block,
                     " n=", v.n, " unsupported"));
  }
  if (!(shape.scale > 0.f) || !std::isfinite(shape.scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("block-sparse attention (CUDA): scale=", shape.scale,
                     " must be positive and finite"));
  }
  if (v.n > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("block-sparse attention (CUDA): n=", v.n,
                     " is too long (positions are 32-bit in the kernels)"));
  }
  if (static_cast<int64_t>(shape.batch) * shape.heads * v.n * shape.head_dim >
      (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        "block-sparse attention (CUDA): tensor too large");
  }
  for (const void* t : tensors) {
    if (t == nullptr || reinterpret_cast<uintptr_t>(t) % 16 != 0) {
      return absl::InvalidArgumentError(
          "block-sparse attention (CUDA): every tensor must be non-null and "
          "16-byte aligned");
    }
  }
  return absl::OkStatus();
}

cuda::Problem ToProblem(const CudaAttentionShape& s) {
  cuda::Problem p;
  p.batch = s.batch;
  p.heads = s.heads;
  p.head_dim = s.head_dim;
  p.scale = s.scale;
  p.dtype = s.dtype;
  return p;
}

}  // namespace

absl::Status BlockSparseAttentionForwardCuda(
    const DeviceAttentionLayout& layout, const CudaAttentionShape& shape,
    const void* q, const void* k, const void* v, void* out, float* lse,
    CUstream_st* stream) {
  absl::Status s = CheckShape(layout, shape, {q, k, v, out, lse});
  if (!s.ok()) return s;
  const cuda::LayoutView view = layout.CallView(shape, /*backward=*/false);
  return CudaError(static_cast<cudaError_t>(cuda::LaunchForward(
                       view, ToProblem(shape), q, k, v, out, lse, stream)),
                   "forward launch");
}

absl::Status BlockSparseAttentionBackwardCuda(
    const DeviceAttentionLayout& layout, const CudaAttentionShape& shape,
    const void* q, const void* k, const void* v, const void* out,
    const float* lse, const void* dout, void* dq, void* dk, void* dv,
    float* delta, CUstream_st* stream) {
  absl::Status s =
      CheckShape(layout, shape, {q, k, v, out, lse, dout, dq, dk, dv, delta});
  if (!s.ok()) return s;
  const cuda::LayoutView view = layout.CallView(shape, /*backward=*/true);
  return CudaError(static_cast<cudaError_t>(cuda::LaunchBackward(
                       view, ToProblem(shape), q, k, v, out, lse, dout, dq, dk,
                       dv, delta, stream)),
                   "backward launch");
}

#else  // !ST_WITH_CUDA

namespace cuda {
bool HopperKernelsAvailable() { return false; }
}  // namespace cuda

namespace {
absl::Status NoCuda() {
  return absl::UnimplementedError(
      "block-sparse attention (CUDA): built without --config=cuda");
}
}  // namespace

DeviceAttentionLayout::~DeviceAttentionLayout() = default;

cuda::LayoutView DeviceAttentionLayout::CallView(const CudaAttentionShape&,
                                                 bool) const {
  return view_;
}

absl::StatusOr<std::unique_ptr<DeviceAttentionLayout>>
DeviceAttentionLayout::Upload(const AttentionLayout&, const UploadOptions&) {
  return NoCuda();
}

absl::Status BlockSparseAttentionForwardCuda(const DeviceAttentionLayout&,
                                             const CudaAttentionShape&,
                                             const void*, const void*,
                                             const void*, void*, float*,
                                             CUstream_st*) {
  return NoCuda();
}

absl::Status BlockSparseAttentionBackwardCuda(
    const DeviceAttentionLayout&, const CudaAttentionShape&, const void*,
    const void*, const void*, const void*, const float*, const void*, void*,
    void*, void*, float*, CUstream_st*) {
  return NoCuda();
}

#endif  // ST_WITH_CUDA

}  // namespace st::attention
