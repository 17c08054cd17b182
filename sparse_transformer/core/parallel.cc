#include "sparse_transformer/core/parallel.h"

#include <omp.h>

#include <algorithm>

namespace st {

int NumThreads() { return omp_get_max_threads(); }

void ParallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t threads = NumThreads();
  if (threads <= 1 || n < 2 * std::max<int64_t>(grain, 1)) {
    fn(0, n);
    return;
  }
  // Few large chunks: one per thread keeps the per-call overhead at one
  // fork/join, which matters for the many small ops of a training step.
  const int64_t chunks =
      std::min<int64_t>(threads, n / std::max<int64_t>(grain, 1));
  const int64_t per = (n + chunks - 1) / chunks;
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * per;
    const int64_t end = std::min(n, begin + per);
    if (begin < end) fn(begin, end);
  }
}

}  // namespace st
