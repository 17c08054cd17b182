// The training loop: micro-batch gradient accumulation, global-norm clipping,
// Adam with decoupled weight decay under a warmup + cosine schedule, optional
// dynamic loss scaling, periodic evaluation, atomic checkpoints (every K steps,
// at the end and on SIGINT/SIGTERM) and exact resume.
#ifndef SPARSE_TRANSFORMER_TRAIN_TRAINER_H_
#define SPARSE_TRANSFORMER_TRAIN_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparse_transformer/train/batch_source.h"
#include "sparse_transformer/train/optimizer.h"
#include "sparse_transformer/train/trainable.h"

namespace st::train {

struct TrainConfig {
  int batch = 8;          // sequences per optimizer step (all micro-batches)
  int micro_batches = 1;  // batch is split into this many equal parts
  int64_t steps = 1000;   // optimizer steps in the whole run
  float lr = 3e-4f;       // peak learning rate
  int64_t warmup = 100;   // linear warmup steps, then cosine decay to 0
  AdamConfig adam;        // betas, eps, weight decay
  float clip = 1.0f;      // global gradient norm limit (<= 0: off)
  uint64_t seed = 1;      // dropout seeds derive from it
  int64_t eval_interval = 0;        // steps between evaluations (0: end only)
  int64_t checkpoint_interval = 0;  // steps between checkpoints (0: end only)
  int64_t log_interval = 10;        // steps between progress lines (0: none)
  // Folder for checkpoint.bin and log.tsv; empty: no files are written.
  std::string run_dir;
  bool resume = true;  // continue from run_dir/checkpoint.bin when present
  // Dynamic loss scaling (the mixed-precision recipe); off for fp32 training.
  bool dynamic_loss_scaling = false;
  float initial_loss_scale = 65536.0f;
  int64_t loss_scale_growth_interval = 1000;
  // SIGINT/SIGTERM stop the run at the next step boundary with a checkpoint.
  bool handle_signals = false;
  // Stop (as on a signal, with a checkpoint) after this many steps of this
  // invocation; 0: run to `steps`. Lets tests interrupt a run at a set step.
  int64_t stop_after = 0;
};

absl::Status ValidateTrainConfig(const TrainConfig& config);

struct StepRecord {
  int64_t step = 0;   // 0-based
  float loss = 0.0f;  // mean cross-entropy over the batch, nats
  float lr = 0.0f;
  double grad_norm = 0.0;  // before clipping
  bool skipped = false;    // non-finite gradients (loss scaling)
};

struct EvalRecord {
  int64_t step = 0;  // steps completed when evaluated
  double bits_per_byte = 0.0;
};

struct TrainResult {
  int64_t start_step = 0;  // > 0 when resumed
  int64_t end_step = 0;    // steps completed
  bool interrupted = false;
  std::vector<StepRecord> steps;  // this invocation's steps
  std::vector<EvalRecord> evals;
  double tokens_per_second = 0.0;  // training steps only, this invocation
};

// Validation bits per byte of the model as it stands.
using Evaluator = std::function<absl::StatusOr<double>(Trainable&)>;

// Asks a running Trainer::Run to checkpoint and return at the next step
// boundary (what the SIGINT/SIGTERM handler does).
void RequestStop();

class Trainer {
 public:
  // `model` and `data` must outlive the trainer; `evaluator` may be empty.
  Trainer(Trainable* model, BatchSource* data, const TrainConfig& config,
          Evaluator evaluator = nullptr);

  absl::StatusOr<TrainResult> Run();

  std::string checkpoint_path() const;

 private:
  absl::Status SaveCheckpoint(int64_t step);
  absl::Status Resume(int64_t* step);
  absl::Status TrimLog(int64_t start_step);
  void AppendLog(const std::string& line);

  Trainable* model_;
  BatchSource* data_;
  TrainConfig config_;
  Evaluator evaluator_;
  Adam adam_;
  uint64_t rng_state_;
  float loss_scale_ = 1.0f;
  int64_t loss_scale_clean_steps_ = 0;
};

// "1h02m", "3m05s", "42s".
std::string FormatDuration(double seconds);

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_TRAINER_H_
