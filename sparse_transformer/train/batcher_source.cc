#include "sparse_transformer/train/batcher_source.h"

#include "absl/strings/str_cat.h"
#include "sparse_transformer/core/status.h"

namespace st::train {

absl::Status BatcherSource::Next(int batch, uint8_t* inputs, uint8_t* targets) {
  if (batch != batcher_->batch()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trainer asks for micro-batches of ", batch,
                     " rows but the batcher makes ", batcher_->batch(),
                     " (make BatcherOptions::batch = batch / micro_batches)"));
  }
  batcher_->Next(inputs, targets);
  return absl::OkStatus();
}

std::string BatcherSource::GetState() const {
  return batcher_->GetState().ToString();
}

absl::Status BatcherSource::SetState(absl::string_view state) {
  ST_ASSIGN_OR_RETURN(datasets::BatcherState s,
                      datasets::BatcherState::FromString(std::string(state)));
  return batcher_->SetState(s);
}

}  // namespace st::train
