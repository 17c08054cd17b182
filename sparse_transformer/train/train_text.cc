// Trains a small Sparse Transformer on the CPU, on a text file (the last
// `valid_fraction` is the validation split) or on a prepared text/audio file
// (its train and valid splits), and reports the validation bits per byte,
// tokens/s and a sample (text, or a WAV for audio). Resumes from
// --run_dir/checkpoint.bin when present; SIGINT/SIGTERM write a checkpoint and
// stop.
//
//   bazel run -c opt //sparse_transformer/train:train_text --
//     --data=/usr/share/common-licenses/GPL-3 --run_dir=/tmp/st_run
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "datasets/batcher.h"
#include "datasets/prepared.h"
#include "eval/bits_per_byte.h"
#include "eval/samples.h"
#include "eval/split_eval.h"
#include "gflags/gflags.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/parallel.h"
#include "sparse_transformer/core/status.h"
#include "sparse_transformer/model/model.h"
#include "sparse_transformer/model/sampler.h"
#include "sparse_transformer/train/batch_source.h"
#include "sparse_transformer/train/batcher_source.h"
#include "sparse_transformer/train/trainer.h"

DEFINE_string(data, "", "text file to train on (or --prepared)");
DEFINE_string(prepared, "",
              "prepared stream file (text or audio, datasets/prepared.h) to "
              "train on its train split and validate on its valid split");
DEFINE_double(valid_fraction, 0.1,
              "last fraction of the file used for validation");
DEFINE_int64(valid_max_bytes, 65536,
             "evaluate on at most this many validation bytes (0: all)");
DEFINE_string(
    run_dir, "",
    "folder for checkpoint.bin, log.tsv and sample.txt (empty: none)");
DEFINE_int32(n_layer, 2, "residual blocks");
DEFINE_int32(d_model, 64, "model width D");
DEFINE_int32(n_head, 2, "attention heads");
DEFINE_int32(context, 128, "context length N");
DEFINE_string(pattern, "fixed", "dense, local, strided or fixed");
DEFINE_string(head_mode, "merged", "merged, interleaved or split");
DEFINE_int32(block, 16, "attention block size");
DEFINE_int32(stride, 32, "pattern stride l");
DEFINE_int32(c, 8, "fixed pattern summary width c");
DEFINE_double(ff_multiple, 4.0, "feed-forward width / D");
DEFINE_double(dropout, 0.0, "residual dropout");
DEFINE_bool(recompute, false,
            "recompute attention and FF in the backward pass");
DEFINE_uint64(model_seed, 1, "parameter init seed");
DEFINE_int32(batch, 16, "sequences per step");
DEFINE_int32(micro_batches, 1, "gradient accumulation: micro-batches per step");
DEFINE_int64(steps, 600, "optimizer steps");
DEFINE_double(lr, 3e-3, "peak learning rate");
DEFINE_int64(warmup, 50, "linear warmup steps");
DEFINE_double(beta1, 0.9, "Adam beta1");
DEFINE_double(beta2, 0.999, "Adam beta2");
DEFINE_double(eps, 1e-8, "Adam epsilon");
DEFINE_double(weight_decay, 0.01, "decoupled weight decay on matrices");
DEFINE_double(clip, 1.0, "global gradient norm limit");
DEFINE_uint64(seed, 1, "data order and dropout seed");
DEFINE_int64(eval_interval, 100, "steps between validation evaluations");
DEFINE_int32(eval_min_context, 0, "minimum context for evaluation windows");
DEFINE_string(min_contexts, "",
              "comma-separated minimum contexts to evaluate the final model "
              "at (the paper's Table 3 mode), e.g. 0,64,112");
DEFINE_int64(checkpoint_interval, 50, "steps between checkpoints");
DEFINE_int64(log_interval, 10, "steps between progress lines");
DEFINE_int32(sample_bytes, 200, "bytes to sample at the end (0: none)");
DEFINE_double(temperature, 0.8, "sampling temperature");

namespace st::train {
namespace {

absl::StatusOr<std::vector<uint8_t>> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot open --data=", path));
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

// The training and validation bytes: a text file cut at valid_fraction, or
// the train/valid splits of a prepared stream file.
struct Data {
  std::vector<uint8_t> text;
  std::unique_ptr<datasets::PreparedFile> file;
  datasets::PreparedSplit train, valid;
  bool audio = false;
};

absl::StatusOr<Data> LoadData() {
  Data d;
  if (FLAGS_data.empty() == FLAGS_prepared.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --data (a text file) and --prepared (a prepared "
        "stream file)");
  }
  if (!FLAGS_prepared.empty()) {
    ST_ASSIGN_OR_RETURN(d.file, datasets::PreparedFile::Open(FLAGS_prepared));
    if (!d.file->header().is_stream()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prepared=", FLAGS_prepared,
                       " holds images; this binary trains "
                       "on streams (text, audio)"));
    }
    d.audio = d.file->header().kind == datasets::Kind::kAudio;
    d.train = d.file->split(datasets::Split::kTrain);
    d.valid = d.file->split(datasets::Split::kValid);
  } else {
    ST_ASSIGN_OR_RETURN(d.text, ReadFile(FLAGS_data));
    if (!(FLAGS_valid_fraction > 0 && FLAGS_valid_fraction < 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--valid_fraction must be in (0, 1), got ", FLAGS_valid_fraction));
    }
    const size_t cut =
        static_cast<size_t>(d.text.size() * (1 - FLAGS_valid_fraction));
    d.train.name = FLAGS_data + ":train";
    d.train.data = absl::MakeConstSpan(d.text.data(), cut);
    d.valid.name = FLAGS_data + ":valid";
    d.valid.data =
        absl::MakeConstSpan(d.text.data() + cut, d.text.size() - cut);
  }
  if (FLAGS_valid_max_bytes > 0 &&
      d.valid.data.size() > size_t(FLAGS_valid_max_bytes)) {
    d.valid.data = d.valid.data.subspan(0, FLAGS_valid_max_bytes);
  }
  if (d.train.data.size() <= size_t(FLAGS_context) ||
      d.valid.data.size() <= size_t(FLAGS_context)) {
    return absl::InvalidArgumentError(
        absl::StrCat(d.train.name, " and ", d.valid.name, " (",
                     d.train.data.size(), " and ", d.valid.data.size(),
                     " bytes) must each be longer than "
                     "--context=",
                     FLAGS_context));
  }
  return d;
}

absl::Status Main() {
  ST_ASSIGN_OR_RETURN(Data data, LoadData());
  const absl::Span<const uint8_t> train = data.train.data;
  const absl::Span<const uint8_t> valid = data.valid.data;

  model::ModelConfig mc;
  mc.n_layer = FLAGS_n_layer;
  mc.d_model = FLAGS_d_model;
  mc.n_head = FLAGS_n_head;
  mc.ff_multiple = FLAGS_ff_multiple;
  mc.resid_dropout = FLAGS_dropout;
  mc.recompute = FLAGS_recompute;
  mc.init_seed = FLAGS_model_seed;
  ST_ASSIGN_OR_RETURN(mc.pattern.kind,
                      attention::ParsePatternKind(FLAGS_pattern));
  ST_ASSIGN_OR_RETURN(mc.pattern.head_mode,
                      attention::ParseHeadMode(FLAGS_head_mode));
  mc.pattern.n = FLAGS_context;
  mc.pattern.block = FLAGS_block;
  mc.pattern.stride =
      mc.pattern.kind == attention::PatternKind::kDense ? 0 : FLAGS_stride;
  mc.pattern.c =
      mc.pattern.kind == attention::PatternKind::kFixed ? FLAGS_c : 0;
  mc.pattern.heads = FLAGS_n_head;
  ST_ASSIGN_OR_RETURN(auto model, model::TrainableModel::Create(mc));

  TrainConfig tc;
  tc.batch = FLAGS_batch;
  tc.micro_batches = FLAGS_micro_batches;
  tc.steps = FLAGS_steps;
  tc.lr = FLAGS_lr;
  tc.warmup = FLAGS_warmup;
  tc.adam.beta1 = FLAGS_beta1;
  tc.adam.beta2 = FLAGS_beta2;
  tc.adam.eps = FLAGS_eps;
  tc.adam.weight_decay = FLAGS_weight_decay;
  tc.clip = FLAGS_clip;
  tc.seed = FLAGS_seed;
  tc.eval_interval = FLAGS_eval_interval;
  tc.checkpoint_interval = FLAGS_checkpoint_interval;
  tc.log_interval = FLAGS_log_interval;
  tc.run_dir = FLAGS_run_dir;
  tc.handle_signals = true;

  // Activation memory of one micro-batch, stored vs recomputed (paper 5.4).
  const int micro = FLAGS_batch / std::max(1, FLAGS_micro_batches);
  auto& net = model->model();
  net.set_recompute(false);
  const double stored_mib = net.ActivationBytes(micro) / 1048576.0;
  net.set_recompute(true);
  const double recompute_mib = net.ActivationBytes(micro) / 1048576.0;
  net.set_recompute(FLAGS_recompute);
  std::fprintf(stderr,
               "data %s: %zu train + %zu validation bytes; model %zu "
               "parameters; activations %.2f MiB stored, %.2f MiB with "
               "recompute (%s); %d threads\n",
               data.train.name.c_str(), train.size(), valid.size(),
               model->params().size(), stored_mib, recompute_mib,
               FLAGS_recompute ? "on" : "off", NumThreads());
  // Training batches: random windows of the bytes in memory, or the
  // datasets' Batcher (prefetching) over a prepared file.
  std::unique_ptr<BatchSource> source;
  std::unique_ptr<datasets::Batcher> batcher;
  if (data.file) {
    datasets::BatcherOptions options;
    options.context = model->context();
    options.batch = micro;
    options.seed = FLAGS_seed;
    ST_ASSIGN_OR_RETURN(batcher,
                        datasets::Batcher::Create(data.train, options));
    source = std::make_unique<BatcherSource>(batcher.get());
  } else {
    source = std::make_unique<RandomWindowSource>(train, model->context(),
                                                  FLAGS_seed);
  }
  const int eval_batch = micro;
  Evaluator evaluator = [&](Trainable& m) -> absl::StatusOr<double> {
    ST_ASSIGN_OR_RETURN(
        eval::EvalResult r,
        eval::EvaluateSplit(m, data.valid, eval_batch, FLAGS_eval_min_context));
    return r.bits_per_byte;
  };
  Trainer trainer(model.get(), source.get(), tc, evaluator);
  ST_ASSIGN_OR_RETURN(TrainResult result, trainer.Run());
  if (result.interrupted) return absl::OkStatus();

  const double valid_bpb =
      result.evals.empty() ? 0.0 : result.evals.back().bits_per_byte;
  if (result.steps.empty()) {
    std::printf(
        "final step %ld (the run was already complete); validation "
        "%.4f bits/byte\n",
        static_cast<long>(result.end_step), valid_bpb);
  } else {
    std::printf(
        "final step %ld: train loss %.9g nats; validation %.4f bits/byte; "
        "%.0f tokens/s\n",
        static_cast<long>(result.end_step), result.steps.back().loss, valid_bpb,
        result.tokens_per_second);
  }
  if (!FLAGS_min_contexts.empty()) {
    std::printf("minimum context | validation bits/byte | scored bytes\n");
    for (absl::string_view field : absl::StrSplit(FLAGS_min_contexts, ',')) {
      int m = 0;
      if (!absl::SimpleAtoi(field, &m)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--min_contexts: '", field, "' is not an integer"));
      }
      ST_ASSIGN_OR_RETURN(
          eval::EvalResult r,
          eval::EvaluateSplit(*model, data.valid, eval_batch, m));
      std::printf("%15d | %20.4f | %ld\n", m, r.bits_per_byte,
                  static_cast<long>(r.scored));
    }
  }
  if (FLAGS_sample_bytes > 0) {
    const int64_t count =
        std::min<int64_t>(FLAGS_sample_bytes, model->context());
    ST_ASSIGN_OR_RETURN(std::vector<uint8_t> sample,
                        model::SampleBytes(model->model(), {'\n'}, count,
                                           FLAGS_temperature, FLAGS_seed));
    if (data.audio) {
      if (!FLAGS_run_dir.empty()) {
        ST_RETURN_IF_ERROR(
            eval::WriteAudioSample(FLAGS_run_dir + "/sample.wav", sample));
      }
    } else {
      std::printf("sample: %s\n",
                  std::string(sample.begin(), sample.end()).c_str());
      if (!FLAGS_run_dir.empty()) {
        ST_RETURN_IF_ERROR(
            eval::WriteTextSample(FLAGS_run_dir + "/sample.txt", sample));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace st::train

int main(int argc, char** argv) {
  gflags::SetUsageMessage("train a small Sparse Transformer on a text file");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  st::ExitOnError(st::train::Main());
  return 0;
}
