// The per-CTA timeline of one forward+backward of the Hopper attention
// kernels (attention_bench --timeline; records from a build with
// --define=kernel_timeline=1): a CSV, a picture (SMs down, time across, one
// colour per pass) and a summary per pass.
#ifndef TOOLS_BENCH_KERNEL_TIMELINE_H_
#define TOOLS_BENCH_KERNEL_TIMELINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sparse_transformer/attention/attention_kernels_cuda.h"

namespace st::bench {

// A file-name part from a pattern label: "fixed(128,32)" -> "fixed_128_32".
std::string FileTag(absl::string_view label);

// Writes `base`.csv (one row per CTA: pass, cta, sm, steps, then its start,
// step-0 rows (dk/dv: its start), loop-end and end times in us after the
// first CTA's start) and
// `base`.png (titled `title`), and returns the summary: per pass its span,
// the mean wait for step 0's rows (forward, dq), loop and stores per CTA,
// and the loop's time a step. `ctas` must not be empty. Errors name the file.
absl::StatusOr<std::string> WriteKernelTimeline(
    const std::vector<attention::cuda::CtaTimes>& ctas, const std::string& base,
    const std::string& title);

}  // namespace st::bench

#endif  // TOOLS_BENCH_KERNEL_TIMELINE_H_
