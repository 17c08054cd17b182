#include "datasets/batcher.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace st {
namespace datasets {
namespace {

// SplitMix64 finaliser: a well-mixed 64-bit hash of a counter.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, n) from 64 random bits (multiply-high; bias < n / 2^64).
uint64_t Below(uint64_t bits, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * n) >>
                               64);
}

// Stream ids keep the row offsets and the epoch permutations independent.
constexpr uint64_t kRowStream = 0x726f77ull;    // "row"
constexpr uint64_t kEpochStream = 0x65706full;  // "epo"

uint64_t Key(uint64_t seed, uint64_t stream, uint64_t counter) {
  return Mix(Mix(seed ^ Mix(stream)) ^ counter);
}

}  // namespace

std::string BatcherState::ToString() const {
  return absl::StrCat("seed=", seed, " step=", step);
}

absl::StatusOr<BatcherState> BatcherState::FromString(const std::string& text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ' ');
  BatcherState state;
  if (parts.size() != 2 || parts[0].rfind("seed=", 0) != 0 ||
      parts[1].rfind("step=", 0) != 0 ||
      !absl::SimpleAtoi(parts[0].substr(5), &state.seed) ||
      !absl::SimpleAtoi(parts[1].substr(5), &state.step)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad batcher state '", text, "' (want \"seed=<n> step=<n>\")"));
  }
  return state;
}

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(
    const PreparedSplit& split, const BatcherOptions& options) {
  if (options.batch <= 0 || options.context <= 0 || options.prefetch < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        split.name, ": batcher needs batch > 0 and context > 0, got batch ",
        options.batch, ", context ", options.context, ", prefetch ",
        options.prefetch));
  }
  if (split.is_stream()) {
    if (static_cast<int64_t>(split.data.size()) < options.context + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          split.name, ": a window of context ", options.context, " needs ",
          options.context + 1, " bytes, the split has ", split.data.size()));
    }
  } else {
    if (options.context != split.example_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(split.name, ": image context must be the example size ",
                       split.example_bytes, ", got ", options.context));
    }
    if (split.num_examples() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(split.name, ": no examples"));
    }
  }
  std::unique_ptr<Batcher> b(new Batcher(split, options));
  if (options.prefetch > 0) {
    b->producer_ = std::thread([p = b.get()] { p->ProducerLoop(); });
  }
  return b;
}

Batcher::Batcher(const PreparedSplit& split, const BatcherOptions& options)
    : split_(split), options_(options), row_bytes_(options.context) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
}

int64_t Batcher::Source(uint64_t step, int row, EpochOrder* cache) const {
  const uint64_t index = step * options_.batch + row;
  if (split_.is_stream()) {
    const uint64_t range = split_.data.size() - options_.context;  // >= 1
    return static_cast<int64_t>(
        Below(Key(options_.seed, kRowStream, index), range));
  }
  const int64_t n = split_.num_examples();
  const int64_t epoch = static_cast<int64_t>(index / n);
  if (cache->epoch != epoch) {
    // Fisher-Yates with our own generator: std::shuffle's draws are
    // implementation-defined, this order is the same everywhere.
    cache->order.resize(n);
    for (int64_t i = 0; i < n; ++i) cache->order[i] = i;
    for (int64_t i = n - 1; i > 0; --i) {
      const uint64_t bits = Key(options_.seed, kEpochStream,
                                Mix(epoch) ^ static_cast<uint64_t>(i));
      std::swap(cache->order[i], cache->order[Below(bits, i + 1)]);
    }
    cache->epoch = epoch;
  }
  return cache->order[index % n];
}

int64_t Batcher::RowSource(uint64_t step, int row) const {
  EpochOrder order;
  return Source(step, row, &order);
}

void Batcher::Fill(uint64_t step, EpochOrder* order, uint8_t* inputs,
                   uint8_t* targets) {
  const int64_t n = options_.context;
  for (int b = 0; b < options_.batch; ++b) {
    const int64_t source = Source(step, b, order);
    uint8_t* in = inputs + b * n;    // [N]
    uint8_t* out = targets + b * n;  // [N]
    if (split_.is_stream()) {
      const uint8_t* x = split_.data.data() + source;
      std::memcpy(in, x, n);
      std::memcpy(out, x + 1, n);
    } else {
      const uint8_t* x = split_.data.data() + source * split_.example_bytes;
      in[0] = kStartByte;
      std::memcpy(in + 1, x, n - 1);
      std::memcpy(out, x, n);
    }
  }
}

void Batcher::ProducerLoop() {
  const size_t bytes = static_cast<size_t>(options_.batch) * row_bytes_;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] {
      return stop_ || queue_.size() < static_cast<size_t>(options_.prefetch);
    });
    if (stop_) return;
    const uint64_t step = produce_step_;
    const uint64_t generation = generation_;
    // Reuse a consumed batch's buffers: fresh ones would page-fault.
    Ready ready;
    if (!spare_.empty()) {
      ready = std::move(spare_.back());
      spare_.pop_back();
    } else {
      ready.inputs.resize(bytes);
      ready.targets.resize(bytes);
    }
    ready.step = step;
    lock.unlock();
    Fill(step, &producer_order_, ready.inputs.data(), ready.targets.data());
    lock.lock();
    // SetState may have moved the position meanwhile: then drop this batch.
    if (generation == generation_ && step == produce_step_) {
      queue_.push_back(std::move(ready));
      ++produce_step_;
    }
    cv_.notify_all();
  }
}

void Batcher::Next(uint8_t* inputs, uint8_t* targets) {
  if (options_.prefetch == 0) {
    Fill(next_step_++, &consumer_order_, inputs, targets);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty()) {
    // The producer is behind (on a busy machine it may not get a core in
    // time): fill this batch here instead of waiting; the producer drops its
    // copy of this step if it was working on it and moves on to the next.
    const uint64_t step = next_step_++;
    produce_step_ = step + 1;
    lock.unlock();
    cv_.notify_all();
    Fill(step, &consumer_order_, inputs, targets);
    return;
  }
  Ready ready = std::move(queue_.front());
  queue_.pop_front();
  ++next_step_;
  cv_.notify_all();
  lock.unlock();
  const size_t bytes = ready.inputs.size();
  std::memcpy(inputs, ready.inputs.data(), bytes);
  std::memcpy(targets, ready.targets.data(), bytes);
  lock.lock();
  spare_.push_back(std::move(ready));
}

BatcherState Batcher::GetState() const {
  std::lock_guard<std::mutex> lock(mu_);
  return BatcherState{options_.seed, next_step_};
}

absl::Status Batcher::SetState(const BatcherState& state) {
  if (state.seed != options_.seed) {
    return absl::InvalidArgumentError(
        absl::StrCat(split_.name, ": batcher state has seed ", state.seed,
                     ", this batcher was made with seed ", options_.seed));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
    next_step_ = produce_step_ = state.step;
    ++generation_;
  }
  cv_.notify_all();
  return absl::OkStatus();
}

absl::StatusOr<WindowIterator> WindowIterator::Create(
    const PreparedSplit& split, const WindowOptions& options) {
  WindowIterator it;
  it.split_ = split;
  it.options_ = options;
  const int64_t n = options.context;
  if (options.batch <= 0 || n <= 0 || options.stride < 0 ||
      options.stride > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        split.name,
        ": windows need batch > 0, context > 0 and 0 <= stride "
        "<= context, got batch ",
        options.batch, ", context ", n, ", stride ", options.stride));
  }
  if (options.stride == 0) it.options_.stride = n;
  if (split.is_stream()) {
    const int64_t targets = static_cast<int64_t>(split.data.size()) - 1;
    if (targets < n) {
      return absl::InvalidArgumentError(
          absl::StrCat(split.name, ": a window of context ", n, " needs ",
                       n + 1, " bytes, the split has ", split.data.size()));
    }
    const int64_t s = it.options_.stride;
    it.num_windows_ = 1 + (targets - n + s - 1) / s;
  } else {
    if (n != split.example_bytes || options.stride != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          split.name, ": image windows are whole examples of ",
          split.example_bytes, " bytes with no stride, got context ", n,
          ", stride ", options.stride));
    }
    it.num_windows_ = split.num_examples();
  }
  return it;
}

int64_t WindowIterator::WindowStart(int64_t k) const {
  const int64_t last =
      static_cast<int64_t>(split_.data.size()) - 1 - options_.context;
  return std::min(k * options_.stride, last);
}

int64_t WindowIterator::scored_targets() const {
  return split_.is_stream() ? static_cast<int64_t>(split_.data.size()) - 1
                            : static_cast<int64_t>(split_.data.size());
}

int WindowIterator::Next(uint8_t* inputs, uint8_t* targets,
                         int32_t* score_from) {
  const int64_t n = options_.context;
  int rows = 0;
  for (; rows < options_.batch && next_window_ < num_windows_;
       ++rows, ++next_window_) {
    uint8_t* in = inputs + rows * n;    // [N]
    uint8_t* out = targets + rows * n;  // [N]
    const int64_t k = next_window_;
    if (split_.is_stream()) {
      const int64_t o = WindowStart(k);
      std::memcpy(in, split_.data.data() + o, n);
      std::memcpy(out, split_.data.data() + o + 1, n);
      // Targets up to the previous window's end were scored already.
      score_from[rows] =
          k == 0 ? 0 : static_cast<int32_t>(WindowStart(k - 1) + n - o);
    } else {
      const uint8_t* x = split_.data.data() + k * n;
      in[0] = kStartByte;
      std::memcpy(in + 1, x, n - 1);
      std::memcpy(out, x, n);
      score_from[rows] = 0;
    }
  }
  for (int b = rows; b < options_.batch; ++b) {
    std::memset(inputs + b * n, 0, n);
    std::memset(targets + b * n, 0, n);
    score_from[b] = static_cast<int32_t>(n);
  }
  return rows;
}

}  // namespace datasets
}  // namespace st
