#include "sparse_transformer/train/trainer.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sparse_transformer/core/status.h"
#include "sparse_transformer/train/checkpoint.h"
#include "sparse_transformer/train/schedule.h"

namespace st::train {
namespace {

std::atomic<bool> g_stop_requested{false};

// The first signal asks for a checkpoint and a clean stop; a second one
// (the user insisting) gets the default action at once.
extern "C" void HandleStopSignal(int sig) {
  if (g_stop_requested.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// Installs the stop handler for SIGINT/SIGTERM and restores the previous
// handlers when destroyed.
class ScopedSignalHandlers {
 public:
  explicit ScopedSignalHandlers(bool enable) : enabled_(enable) {
    if (!enabled_) return;
    struct sigaction action = {};
    action.sa_handler = HandleStopSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~ScopedSignalHandlers() {
    if (!enabled_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  bool enabled_;
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

absl::Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      const std::string prefix = path.substr(0, pos);
      if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::InternalError(
            absl::StrCat("cannot create run folder ", prefix));
      }
    }
  }
  return absl::OkStatus();
}

constexpr char kLogHeader[] =
    "step\tloss\tbits_per_byte\tlr\tgrad_norm\tskipped";

}  // namespace

void RequestStop() { g_stop_requested.store(true); }

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

absl::Status ValidateTrainConfig(const TrainConfig& c) {
  if (c.batch <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch must be > 0, got ", c.batch));
  }
  if (c.micro_batches <= 0 || c.batch % c.micro_batches != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("micro_batches must be > 0 and divide batch ", c.batch,
                     ", got ", c.micro_batches));
  }
  if (c.steps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be > 0, got ", c.steps));
  }
  if (c.warmup < 0 || c.warmup >= c.steps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "warmup must be in [0, steps = ", c.steps, "), got ", c.warmup));
  }
  if (!(c.lr > 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lr must be > 0, got ", c.lr));
  }
  if (!(c.adam.beta1 >= 0.0f && c.adam.beta1 < 1.0f) ||
      !(c.adam.beta2 >= 0.0f && c.adam.beta2 < 1.0f) || !(c.adam.eps > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Adam needs 0 <= beta1, beta2 < 1 and eps > 0, got beta1 ",
        c.adam.beta1, ", beta2 ", c.adam.beta2, ", eps ", c.adam.eps));
  }
  if (c.adam.weight_decay < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight_decay must be >= 0, got ", c.adam.weight_decay));
  }
  if (c.eval_interval < 0 || c.checkpoint_interval < 0 || c.log_interval < 0 ||
      c.stop_after < 0) {
    return absl::InvalidArgumentError(
        "eval_interval, checkpoint_interval, log_interval and stop_after must "
        "be >= 0");
  }
  if (c.dynamic_loss_scaling &&
      (!(c.initial_loss_scale >= 1.0f) || c.loss_scale_growth_interval <= 0)) {
    return absl::InvalidArgumentError(
        "dynamic loss scaling needs initial_loss_scale >= 1 and "
        "loss_scale_growth_interval > 0");
  }
  return absl::OkStatus();
}

Trainer::Trainer(Trainable* model, BatchSource* data, const TrainConfig& config,
                 Evaluator evaluator)
    : model_(model),
      data_(data),
      config_(config),
      evaluator_(std::move(evaluator)),
      adam_(static_cast<int64_t>(model->params().size()), config.adam),
      rng_state_(config.seed) {
  if (config_.dynamic_loss_scaling) loss_scale_ = config_.initial_loss_scale;
}

std::string Trainer::checkpoint_path() const {
  return config_.run_dir + "/checkpoint.bin";
}

absl::Status Trainer::SaveCheckpoint(int64_t step) {
  if (config_.run_dir.empty()) return absl::OkStatus();
  TrainState state;
  state.step = step;
  state.adam_steps = adam_.steps();
  state.rng_state = rng_state_;
  state.loss_scale = loss_scale_;
  state.loss_scale_clean_steps = loss_scale_clean_steps_;
  state.model_signature = ModelSignature(*model_);
  state.data_state = data_->GetState();
  const auto params = model_->params();
  state.params.assign(params.begin(), params.end());
  state.adam_m.assign(adam_.m().begin(), adam_.m().end());
  state.adam_v.assign(adam_.v().begin(), adam_.v().end());
  return WriteCheckpoint(checkpoint_path(), state);
}

absl::Status Trainer::Resume(int64_t* step) {
  *step = 0;
  if (config_.run_dir.empty() || !config_.resume) return absl::OkStatus();
  struct stat st;
  if (::stat(checkpoint_path().c_str(), &st) != 0) return absl::OkStatus();
  ST_ASSIGN_OR_RETURN(TrainState state, ReadCheckpoint(checkpoint_path()));
  const std::string signature = ModelSignature(*model_);
  const std::string groups = ModelSignature(model_->param_groups());
  if (state.model_signature == groups && signature != groups) {
    // Written before checkpoints recorded the model's structure (e.g. its
    // attention pattern): the parameters match, the rest cannot be checked.
    std::fprintf(stderr,
                 "warning: checkpoint %s does not record the model's "
                 "structure; resuming without checking it (this model: %s)\n",
                 checkpoint_path().c_str(), model_->structure().c_str());
  } else if (state.model_signature != signature) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", checkpoint_path(),
                     state.model_signature.rfind(groups, 0) == 0
                         ? " was written by a model of another structure: "
                         : " was written by a model with other parameters: ",
                     state.model_signature, " vs this model's ", signature));
  }
  auto params = model_->params();
  if (state.params.size() != params.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", checkpoint_path(), " holds ", state.params.size(),
        " parameters, the model has ", params.size()));
  }
  if (state.step > config_.steps) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", checkpoint_path(), " is at step ",
                     state.step, ", past the configured ", config_.steps));
  }
  ST_RETURN_IF_ERROR(data_->SetState(state.data_state));
  std::copy(state.params.begin(), state.params.end(), params.begin());
  std::copy(state.adam_m.begin(), state.adam_m.end(), adam_.m().begin());
  std::copy(state.adam_v.begin(), state.adam_v.end(), adam_.v().begin());
  adam_.set_steps(state.adam_steps);
  rng_state_ = state.rng_state;
  loss_scale_ = state.loss_scale;
  loss_scale_clean_steps_ = state.loss_scale_clean_steps;
  *step = state.step;
  return absl::OkStatus();
}

// Drops log lines of steps after the checkpoint (written by a run that was
// killed later), so that a resumed run's log equals an uninterrupted one's.
absl::Status Trainer::TrimLog(int64_t start_step) {
  if (config_.run_dir.empty()) return absl::OkStatus();
  const std::string path = config_.run_dir + "/log.tsv";
  std::string kept = std::string(kLogHeader) + "\n";
  std::ifstream in(path);
  std::string line;
  bool header = true;
  while (in && std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    int64_t step = -1;
    int fields = 0;
    std::istringstream ls(line);
    std::string field;
    while (std::getline(ls, field, '\t')) ++fields;
    if (fields == 6 && std::sscanf(line.c_str(), "%ld", &step) == 1 &&
        step >= 0 && step < start_step) {
      kept += line + "\n";
    }
  }
  std::ofstream out(path, std::ios::trunc);
  out << kept;
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

void Trainer::AppendLog(const std::string& line) {
  if (config_.run_dir.empty()) return;
  std::ofstream out(config_.run_dir + "/log.tsv", std::ios::app);
  out << line << "\n";
}

absl::StatusOr<TrainResult> Trainer::Run() {
  ST_RETURN_IF_ERROR(ValidateTrainConfig(config_));
  const std::vector<ParamGroup>& groups = model_->param_groups();
  absl::Span<float> params = model_->params();
  absl::Span<float> grads = model_->grads();
  if (grads.size() != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model has ", params.size(),
                                                   " parameters but ",
                                                   grads.size(), " gradients"));
  }
  ST_RETURN_IF_ERROR(ValidateParamGroups(groups, params.size()));
  if (!config_.run_dir.empty()) ST_RETURN_IF_ERROR(MakeDirs(config_.run_dir));

  TrainResult result;
  int64_t step = 0;
  ST_RETURN_IF_ERROR(Resume(&step));
  ST_RETURN_IF_ERROR(TrimLog(step));
  result.start_step = step;
  if (step > 0) {
    std::fprintf(stderr, "resumed from %s at step %ld\n",
                 checkpoint_path().c_str(), static_cast<long>(step));
  }

  const int n = model_->context();
  const int micro = config_.batch / config_.micro_batches;
  std::vector<uint8_t> inputs(static_cast<size_t>(micro) * n);   // [B/k, N]
  std::vector<uint8_t> targets(static_cast<size_t>(micro) * n);  // [B/k, N]
  const double tokens_per_step = static_cast<double>(config_.batch) * n;

  DynamicLossScaler scaler(loss_scale_, config_.loss_scale_growth_interval);
  scaler.Restore(loss_scale_, loss_scale_clean_steps_);

  g_stop_requested.store(false);
  ScopedSignalHandlers signals(config_.handle_signals);
  double train_seconds = 0.0;
  int64_t run_steps = 0;
  int64_t last_eval = -1;

  auto evaluate = [&](int64_t done) -> absl::Status {
    if (!evaluator_ || last_eval == done) return absl::OkStatus();
    ST_ASSIGN_OR_RETURN(double bpb, evaluator_(*model_));
    result.evals.push_back({done, bpb});
    last_eval = done;
    std::fprintf(stderr, "eval step %ld: validation %.4f bits/byte\n",
                 static_cast<long>(done), bpb);
    return absl::OkStatus();
  };

  while (step < config_.steps) {
    if (g_stop_requested.load() ||
        (config_.stop_after > 0 && run_steps >= config_.stop_after)) {
      result.interrupted = true;
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::fill(grads.begin(), grads.end(), 0.0f);
    const float scale = config_.dynamic_loss_scaling ? scaler.scale() : 1.0f;
    double loss_sum = 0.0;
    for (int k = 0; k < config_.micro_batches; ++k) {
      ST_RETURN_IF_ERROR(data_->Next(micro, inputs.data(), targets.data()));
      const uint64_t dropout_seed = SplitMix64(&rng_state_);
      loss_sum +=
          model_->ForwardBackward(inputs.data(), targets.data(), micro,
                                  scale / config_.micro_batches, dropout_seed);
    }
    StepRecord rec;
    rec.step = step;
    rec.loss = static_cast<float>(loss_sum / config_.micro_batches);
    rec.lr = WarmupCosineLr(step, config_.lr, config_.warmup, config_.steps);
    rec.grad_norm = GlobalNorm(grads) / scale;
    const bool finite = std::isfinite(rec.grad_norm) && std::isfinite(rec.loss);
    bool apply = finite;
    if (config_.dynamic_loss_scaling) {
      apply = scaler.Update(finite);
      loss_scale_ = scaler.scale();
      loss_scale_clean_steps_ = scaler.clean_steps();
    } else if (!finite) {
      return absl::InternalError(
          absl::StrCat("training diverged at step ", step, ": loss ", rec.loss,
                       ", gradient norm ", rec.grad_norm));
    }
    rec.skipped = !apply;
    if (apply) {
      const float factor = ClipFactor(rec.grad_norm, config_.clip) / scale;
      ST_RETURN_IF_ERROR(adam_.Step(params, grads, groups, rec.lr, factor));
    }
    train_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    ++step;
    ++run_steps;
    result.steps.push_back(rec);
    const double bpb = rec.loss / M_LN2;
    AppendLog(absl::StrFormat("%d\t%.9g\t%.6f\t%.6g\t%.6g\t%d", rec.step,
                              rec.loss, bpb, rec.lr, rec.grad_norm,
                              rec.skipped ? 1 : 0));
    const double tok_s = tokens_per_step * run_steps / train_seconds;
    if (config_.log_interval > 0 &&
        (step % config_.log_interval == 0 || step == config_.steps)) {
      const double eta = (config_.steps - step) * train_seconds / run_steps;
      std::fprintf(stderr,
                   "step %ld/%ld | loss %.4f | %.4f bits/byte | lr %.3g | "
                   "|g| %.3g | %.0f tok/s | ETA %s\n",
                   static_cast<long>(step), static_cast<long>(config_.steps),
                   rec.loss, bpb, rec.lr, rec.grad_norm, tok_s,
                   FormatDuration(eta).c_str());
    }
    if (config_.eval_interval > 0 && step % config_.eval_interval == 0) {
      ST_RETURN_IF_ERROR(evaluate(step));
    }
    if (config_.checkpoint_interval > 0 &&
        step % config_.checkpoint_interval == 0 && step < config_.steps) {
      ST_RETURN_IF_ERROR(SaveCheckpoint(step));
    }
  }
  if (!result.interrupted) ST_RETURN_IF_ERROR(evaluate(step));
  ST_RETURN_IF_ERROR(SaveCheckpoint(step));
  if (result.interrupted) {
    std::fprintf(stderr, "stopped at step %ld; checkpoint %s\n",
                 static_cast<long>(step),
                 config_.run_dir.empty() ? "(none: no run_dir)"
                                         : checkpoint_path().c_str());
  }
  result.end_step = step;
  result.tokens_per_second =
      train_seconds > 0 ? tokens_per_step * run_steps / train_seconds : 0.0;
  return result;
}

}  // namespace st::train
