#include "sparse_transformer/train/batch_source.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace st::train {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

RandomWindowSource::RandomWindowSource(absl::Span<const uint8_t> data,
                                       int context, uint64_t seed)
    : data_(data), context_(context), seed_(seed) {}

absl::Status RandomWindowSource::Next(int batch, uint8_t* inputs,
                                      uint8_t* targets) {
  const int64_t n = context_;
  if (static_cast<int64_t>(data_.size()) < n + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("RandomWindowSource: ", data_.size(),
                     " bytes of data, a window needs context + 1 = ", n + 1));
  }
  const uint64_t offsets = data_.size() - n;  // valid starts: [0, size - n - 1]
  for (int b = 0; b < batch; ++b) {
    uint64_t s = seed_ ^ (drawn_++ * 0xD1B54A32D192ED03ull);
    const uint64_t start = SplitMix64(&s) % offsets;
    std::memcpy(inputs + b * n, data_.data() + start, n);
    std::memcpy(targets + b * n, data_.data() + start + 1, n);
  }
  return absl::OkStatus();
}

std::string RandomWindowSource::GetState() const {
  return std::string(reinterpret_cast<const char*>(&drawn_), sizeof(drawn_));
}

absl::Status RandomWindowSource::SetState(absl::string_view state) {
  if (state.size() != sizeof(drawn_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RandomWindowSource: data state has ", state.size(),
                     " bytes, expected ", sizeof(drawn_)));
  }
  std::memcpy(&drawn_, state.data(), sizeof(drawn_));
  return absl::OkStatus();
}

}  // namespace st::train
