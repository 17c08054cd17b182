// Hopper (sm_90a) block-sparse attention kernels on wgmma, head dim 64:
// launchers called by block_sparse_attention_cuda.cu when the layout was
// uploaded with LayoutView::hopper. Each returns a cudaError_t value.
#ifndef SPARSE_TRANSFORMER_ATTENTION_SM90_KERNELS_CUDA_H_
#define SPARSE_TRANSFORMER_ATTENTION_SM90_KERNELS_CUDA_H_

#include "sparse_transformer/attention/attention_kernels_cuda.h"

namespace st::attention::cuda::sm90 {

// The head dim the Hopper kernels take (128-byte rows: one swizzle atom).
inline constexpr int kHeadDim = 64;

// Forward: out, lse from q, k, v (as LaunchForward).
int Forward(const LayoutView& layout, const Problem& problem, const void* q,
            const void* k, const void* v, void* out, float* lse,
            CUstream_st* stream);

// dq pass of the backward (delta already computed); also dk and dv of the
// key blocks in LayoutView::dq_local_keys. after_dkv: launched as the
// programmatic dependent of the dk/dv kernel just launched on `stream` (by
// BackwardDkv, with DkvMainLaunched), whose CTAs let it start once each has
// waited for delta, so that dq's CTAs take the SMs as dk/dv's free them.
int BackwardDq(const LayoutView& layout, const Problem& problem, const void* q,
               const void* k, const void* v, const float* lse, const void* dout,
               const float* delta, void* dq, void* dk, void* dv,
               CUstream_st* stream, bool after_dkv);

// dk/dv pass of the backward over the column tiles (delta already computed).
// With dq_acc ([B, H, N, 64] fp32, zeroed) it also adds sum_j dS_ij k_j to
// dq_acc by fp32 atomics (the dq pass is then not needed; dq = scale *
// dq_acc; layout.dkv_split_tiles is then ignored); nullptr: dk, dv only.
// The split tiles (layout.dkv_split_tiles) are launched on split_stream, the
// others on stream.
// The tiles on `stream` run as the programmatic dependent of the kernel
// before them there (delta, whose writes they wait for).
int BackwardDkv(const LayoutView& layout, const Problem& problem, const void* q,
                const void* k, const void* v, const float* lse,
                const void* dout, const float* delta, void* dk, void* dv,
                float* dq_acc, CUstream_st* stream, CUstream_st* split_stream);

// Whether BackwardDkv without dq_acc launches a kernel on `stream` (some
// tiles are not split).
bool DkvMainLaunched(const LayoutView& layout);

}  // namespace st::attention::cuda::sm90

#endif  // SPARSE_TRANSFORMER_ATTENTION_SM90_KERNELS_CUDA_H_
