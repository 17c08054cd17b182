// The experiment runner: data -> model -> train -> periodic evaluation ->
// checkpoints -> final evaluation -> samples -> report, into a run folder:
//
//   runs/<spec>-<UTC time>/
//     spec.pbtxt          the resolved spec (after overrides)
//     checkpoint.bin      the last complete checkpoint (resume with --resume)
//     log.tsv             one line per optimizer step (the trainer's)
//     metrics.csv         step, split, metric, value
//     events.out.tfevents.*   the same as TensorBoard scalars
//     curves.png          training and validation bits per byte
//     samples/            sample_<k>.txt / .png / .wav
//     result.pbtxt        st.proto.RunResult (what reports read)
//     report.md           a human summary beside the paper's number
#ifndef SPARSE_TRANSFORMER_EXPERIMENTS_RUNNER_H_
#define SPARSE_TRANSFORMER_EXPERIMENTS_RUNNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "sparse_transformer/proto/experiment.pb.h"
#include "sparse_transformer/proto/result.pb.h"

namespace st::experiments {

struct RunOptions {
  // Where relative data paths are resolved (the workspace root).
  std::string workspace_dir = ".";
  // Parent of new run folders.
  std::string runs_root = "runs";
  // Use (or continue, with resume) this folder instead of a new one.
  std::string run_dir;
  bool resume = false;
  // Progress lines every this many steps.
  int log_interval = 10;
  // Quiet: no progress lines (tests).
  bool quiet = false;
};

// Runs a validated spec end to end and returns its result (also written to
// <run_dir>/result.pbtxt). SIGINT/SIGTERM stop training with a checkpoint.
absl::StatusOr<proto::RunResult> RunExperiment(const proto::Experiment& spec,
                                               const RunOptions& options,
                                               std::string* run_dir_out);

}  // namespace st::experiments

#endif  // SPARSE_TRANSFORMER_EXPERIMENTS_RUNNER_H_
