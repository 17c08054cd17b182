// CPU reference attention over an AttentionLayout, forward and backward side
// by side, templated on float/double (double for gradient checks).
//
// Two implementations with identical signatures:
//   DenseMasked*:  the oracle. Plain loops over every (i, j) pair, asking the
//                  layout whether the pair is live. Small n only (tests).
//   BlockSparse*:  touches only live blocks (row CSR for the forward and dq,
//                  column CSR for dk/dv), per-block GEMMs through OpenBLAS,
//                  spread over all cores. Its cost follows the live blocks.
//
// Shapes (B batch, H = layout.heads(), N = layout.n(), Kqk / Kv head dims):
//   q, k: [B, H, N, Kqk]; v: [B, H, N, Kv]; out: [B, H, N, Kv];
//   lse:  [B, H, N], natural-log log-sum-exp of the scaled live scores.
// Positions are in ORIGINAL order; a head's permutation (strided transpose) is
// applied inside. A query row with no live key gets out = 0, lse = -inf and
// zero gradients (fixed's A2 alone has such rows at the start).
//
// Forward:  S = scale * q k^T (live pairs only), P = softmax_rows(S),
//           out = P v, lse = log sum_j exp(S_ij).
// Backward: with D_i = sum_k dout_ik out_ik and P recomputed from lse,
//           dv = P^T dout, dP = dout v^T, dS = P * (dP - D),
//           dq = scale * dS k, dk = scale * dS^T q.
// Backward overwrites dq, dk, dv.
#ifndef SPARSE_TRANSFORMER_ATTENTION_ATTENTION_CPU_H_
#define SPARSE_TRANSFORMER_ATTENTION_ATTENTION_CPU_H_

#include "sparse_transformer/attention/layout.h"

namespace st::attention {

template <typename T>
void DenseMaskedAttentionForward(const AttentionLayout& layout, int batch,
                                 int kqk, int kv, T scale,
                                 const T* q,  // [B, H, N, Kqk]
                                 const T* k,  // [B, H, N, Kqk]
                                 const T* v,  // [B, H, N, Kv]
                                 T* out,      // [B, H, N, Kv]
                                 T* lse);     // [B, H, N]

template <typename T>
void DenseMaskedAttentionBackward(const AttentionLayout& layout, int batch,
                                  int kqk, int kv, T scale,
                                  const T* q,     // [B, H, N, Kqk]
                                  const T* k,     // [B, H, N, Kqk]
                                  const T* v,     // [B, H, N, Kv]
                                  const T* out,   // [B, H, N, Kv]
                                  const T* lse,   // [B, H, N]
                                  const T* dout,  // [B, H, N, Kv]
                                  T* dq,          // [B, H, N, Kqk]
                                  T* dk,          // [B, H, N, Kqk]
                                  T* dv);         // [B, H, N, Kv]

template <typename T>
void BlockSparseAttentionForward(const AttentionLayout& layout, int batch,
                                 int kqk, int kv, T scale,
                                 const T* q,  // [B, H, N, Kqk]
                                 const T* k,  // [B, H, N, Kqk]
                                 const T* v,  // [B, H, N, Kv]
                                 T* out,      // [B, H, N, Kv]
                                 T* lse);     // [B, H, N]

template <typename T>
void BlockSparseAttentionBackward(const AttentionLayout& layout, int batch,
                                  int kqk, int kv, T scale,
                                  const T* q,     // [B, H, N, Kqk]
                                  const T* k,     // [B, H, N, Kqk]
                                  const T* v,     // [B, H, N, Kv]
                                  const T* out,   // [B, H, N, Kv]
                                  const T* lse,   // [B, H, N]
                                  const T* dout,  // [B, H, N, Kv]
                                  T* dq,          // [B, H, N, Kqk]
                                  T* dk,          // [B, H, N, Kqk]
                                  T* dv);         // [B, H, N, Kv]

// Worker threads the block-sparse path uses (default: all hardware threads).
// 0 restores the default.
void SetCpuAttentionThreads(int threads);
int CpuAttentionThreads();

}  // namespace st::attention

#endif  // SPARSE_TRANSFORMER_ATTENTION_ATTENTION_CPU_H_
