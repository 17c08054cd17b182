// Splitting loops over the machine's cores (a small persistent thread pool).
#ifndef SPARSE_TRANSFORMER_CORE_PARALLEL_H_
#define SPARSE_TRANSFORMER_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace st {

// Number of threads ParallelFor uses (the caller's included).
int NumThreads();

// Caps ParallelFor at `threads` (at most the hardware threads); 0 restores
// the default, every hardware thread. OpenBLAS's own threads are set apart
// (OPENBLAS_NUM_THREADS or openblas_set_num_threads).
void SetNumThreads(int threads);

// Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel when
// n >= 2 * grain. Each index is visited exactly once; chunk boundaries depend
// only on n, grain and NumThreads(), so per-index results are deterministic
// whenever fn's per-index work is (reductions across chunks are the caller's).
void ParallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_PARALLEL_H_
