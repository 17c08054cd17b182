// Block-sparse attention on the GPU over an AttentionLayout: fused
// flash-style forward (online softmax, row log-sum-exp saved) and backward by
// recomputation. Positions are in ORIGINAL order in every tensor, exactly as
// in the CPU reference (attention_cpu.h); a layout's per-head permutation
// (the strided transpose) is applied inside the kernels.
//
// Shapes (B batch, H heads, N positions, K head dim; K = 32, 64 or 128):
//   q, k, v, out, dout, dq, dk, dv: [B, H, N, K] bf16 or fp16, 16-byte aligned
//   lse, delta:                     [B, H, N] fp32 (lse: natural log)
// Head h of the tensors uses head h % layout.heads() of the layout, so a
// layout has either one head per tensor head or one head shared by all.
// Accumulation is fp32 on the tensor cores. Without --config=cuda every
// function returns UNIMPLEMENTED.
#ifndef SPARSE_TRANSFORMER_ATTENTION_BLOCK_SPARSE_ATTENTION_CUDA_H_
#define SPARSE_TRANSFORMER_ATTENTION_BLOCK_SPARSE_ATTENTION_CUDA_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparse_transformer/attention/attention_kernels_cuda.h"
#include "sparse_transformer/attention/layout.h"

namespace st::attention {

using cuda::DType;

// How the kernels split the work (LayoutView::row_merge / col_split) and
// whether the Hopper (wgmma, head dim 64) kernels run. kAuto decides
// row_merge / col_split from the layout's shape; hopper = kAuto runs the
// forward on wgmma on a compute capability 9.0 GPU (H100/H200), the dq pass
// too where query tiles merge well (row_merge, or block 128), and the dk/dv
// pass too where column lists are long (at least 128 queries on average:
// dense, fixed, local), else on mma.sync (the fastest combination measured,
// see KERNEL_NOTES.md); kOn all three on wgmma, kOff none.
// hopper = kOn on another GPU is an error at upload.
// Tests and benchmarks force each path.
struct UploadOptions {
  enum class Choice { kAuto, kOn, kOff };
  Choice row_merge = Choice::kAuto;
  Choice col_split = Choice::kAuto;
  Choice hopper = Choice::kAuto;
  // Where dk/dv runs on wgmma: compute dq in the same pass (fp32 atomics
  // into a workspace) instead of a separate dq pass (no atomics, dq
  // bit-reproducible from run to run). Off by default: on the H200 it is
  // slower than the dq pass at every measured size, e.g. 0.85 against
  // 0.69 ms for fixed(128, 32) at n = 12288 (KERNEL_NOTES.md, v18, v24, v33).
  bool fused_dq = false;
  // Where dk/dv runs on wgmma: column tiles that run as two CTAs (a cluster
  // taking half the steps each, partials summed in a fixed order), so that one
  // long tile does not outlast the rest of the pass. kAuto: per backward
  // call, the tiles longer than twice the average work of an SM for that
  // batch x heads; kOn: the longer half of the tiles (tests); kOff: none.
  Choice dkv_split = Choice::kAuto;
  // Grid order (LayoutView::interleave_heads). kAuto, per call: heads
  // interleaved where the longest query block's list is at least 1.5x the
  // mean (the causal patterns: head after head, one head's longest tiles
  // ran on alone at the end of each pass) and the heads' two streamed
  // [n, head_dim] tensors fit in the L2 cache together (at n = 65536 head
  // after head was 0.5-1% faster); else head after head (strided and local
  // were 2-7% slower interleaved).
  Choice interleave_heads = Choice::kAuto;
  // Where dq and dk/dv run on wgmma (blocks of 32 to 128, no permutation,
  // no fused dq): the dq pass also computes dK and dV of the key blocks
  // whose every query is in one of its CTAs (within its last two steps:
  // the fixed pattern's non-summary blocks, dense's last block), and the
  // dk/dv pass leaves them out (work_lists.h, BuildDqLocalKeys). kAuto: so
  // where such blocks are at least an eighth of the key blocks; kOn: so
  // wherever there are some (tests); kOff: the dk/dv pass does every key
  // block.
  Choice dq_local_keys = Choice::kAuto;
};

// True when the current device runs the Hopper (sm_90a) kernels.
inline bool HopperAttentionAvailable() {
  return cuda::HopperKernelsAvailable();
}

// What one attention call computes over.
struct CudaAttentionShape {
  int batch = 1;
  int heads = 1;
  int head_dim = 64;
  float scale = 0.125f;  // usually 1/sqrt(head_dim); positive, finite
  DType dtype = DType::kBF16;
};

// An AttentionLayout's arrays copied to the GPU once (row and column CSR,
// masks, inverse permutations). Device memory is proportional to the live
// blocks (plus N int32 per head when the layout has a permutation).
class DeviceAttentionLayout {
 public:
  static absl::StatusOr<std::unique_ptr<DeviceAttentionLayout>> Upload(
      const AttentionLayout& layout,
      const UploadOptions& options = UploadOptions());
  ~DeviceAttentionLayout();
  DeviceAttentionLayout(const DeviceAttentionLayout&) = delete;
  DeviceAttentionLayout& operator=(const DeviceAttentionLayout&) = delete;

  const cuda::LayoutView& view() const { return view_; }
  int heads() const { return view_.layout_heads; }
  int64_t device_bytes() const { return bytes_; }
  // view() for one call over `shape`: with the grid order
  // LayoutView::interleave_heads (UploadOptions::interleave_heads) and, for
  // a backward call, the split dk/dv tiles LayoutView::dkv_split_tiles
  // (UploadOptions::dkv_split).
  cuda::LayoutView CallView(const CudaAttentionShape& shape,
                            bool backward) const;

 private:
  DeviceAttentionLayout() = default;
  cuda::LayoutView view_;
  std::vector<void*> allocations_;
  int64_t bytes_ = 0;
  // dk/dv on wgmma: steps of each column tile in launch order (the longest
  // head's), the split choice and the GPU's SM count.
  std::vector<int32_t> dkv_tile_steps_;
  UploadOptions::Choice dkv_split_ = UploadOptions::Choice::kAuto;
  int sm_count_ = 1;
  // Grid order: the option, whether the longest query block's list is at
  // least 1.5x the mean, and the GPU's L2 cache size in bytes.
  UploadOptions::Choice interleave_heads_ = UploadOptions::Choice::kAuto;
  bool uneven_lists_ = false;
  int64_t l2_bytes_ = 0;
};

// out = softmax(scale * q k^T restricted to the layout) v; lse = row
// log-sum-exp of the scaled live scores (-inf for a row with no live key, whose
// out row is 0). Asynchronous on `stream` (nullptr: the default stream). The
// Hopper kernel lets a kernel launched after it with programmatic dependent
// launch start early (the backward's delta kernel does): such a kernel must
// griddepcontrol.wait before it reads out or lse, as that launch mode
// requires anyway.
absl::Status BlockSparseAttentionForwardCuda(
    const DeviceAttentionLayout& layout, const CudaAttentionShape& shape,
    const void* q, const void* k, const void* v, void* out, float* lse,
    CUstream_st* stream = nullptr);

// Overwrites dq, dk, dv. `out` and `lse` are the forward's; delta is a
// [B, H, N] fp32 workspace. By default two recomputation passes without
// atomics, whose results are bit-reproducible (dq over the row CSR, dk/dv
// over the column CSR, run concurrently: where dk/dv runs on wgmma, both on
// `stream`, dq launched as dk/dv's programmatic dependent, and the longest
// dk/dv tiles on an internal side stream joined back by an event; else dk/dv
// on an internal side stream joined back to `stream` by events); with
// UploadOptions::fused_dq where dk/dv runs on wgmma, one pass over the column
// tiles gives dk, dv and dq (dq summed by fp32 atomics in a [B, H, N, K] fp32
// workspace from the stream-ordered pool). Either way the call stays ordered
// on `stream` (graph capture included) for ordinary launches after it; a
// kernel launched after it with programmatic dependent launch must not take
// its griddepcontrol.wait as a guarantee that dk and dv are written (the
// last kernel, dq, does not wait for dk/dv's).
absl::Status BlockSparseAttentionBackwardCuda(
    const DeviceAttentionLayout& layout, const CudaAttentionShape& shape,
    const void* q, const void* k, const void* v, const void* out,
    const float* lse, const void* dout, void* dq, void* dk, void* dv,
    float* delta, CUstream_st* stream = nullptr);

}  // namespace st::attention

#endif  // SPARSE_TRANSFORMER_ATTENTION_BLOCK_SPARSE_ATTENTION_CUDA_H_
