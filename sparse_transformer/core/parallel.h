// Splitting loops over the machine's cores (a small persistent thread pool).
#ifndef SPARSE_TRANSFORMER_CORE_PARALLEL_H_
#define SPARSE_TRANSFORMER_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace st {

// Number of worker threads ParallelFor uses.
int NumThreads();

// Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel when
// n >= 2 * grain. Each index is visited exactly once; chunk boundaries depend
// only on n, grain and NumThreads(), so per-index results are deterministic
// whenever fn's per-index work is (reductions across chunks are the caller's).
void ParallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_PARALLEL_H_
