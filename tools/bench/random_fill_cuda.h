// Fills device buffers with counter-based pseudo-random bf16/fp16 values in
// [-1, 1) (never zeros), so benchmarks need no host-side generation for
// gigabyte tensors.
#ifndef SPARSE_TRANSFORMER_TOOLS_BENCH_RANDOM_FILL_CUDA_H_
#define SPARSE_TRANSFORMER_TOOLS_BENCH_RANDOM_FILL_CUDA_H_

#include <cstdint>

namespace st::bench {

// dst: [count] 16-bit floats (bf16 when is_bf16, else fp16). Returns a
// cudaError_t value; synchronous.
int FillRandom16(void* dst, int64_t count, bool is_bf16, uint64_t seed);

}  // namespace st::bench

#endif  // SPARSE_TRANSFORMER_TOOLS_BENCH_RANDOM_FILL_CUDA_H_
