// Command-line overrides of spec fields ("model.attention.stride=64"), used by
// --set on the runner and --vary on the ablation driver.
#ifndef SPARSE_TRANSFORMER_EXPERIMENTS_OVERRIDES_H_
#define SPARSE_TRANSFORMER_EXPERIMENTS_OVERRIDES_H_

#include <string>

#include "absl/status/status.h"
#include "sparse_transformer/proto/experiment.pb.h"

namespace st::experiments {

// Sets one scalar field. `path` is dotted from the Experiment root
// ("training.steps") or from `model` ("attention.pattern"); enum values are
// case-insensitive names ("dense"). Errors name the path and the value.
absl::Status ApplyOverride(const std::string& path, const std::string& value,
                           proto::Experiment* spec);

// "path=value" form of the above.
absl::Status ApplyOverride(const std::string& assignment,
                           proto::Experiment* spec);

}  // namespace st::experiments

#endif  // SPARSE_TRANSFORMER_EXPERIMENTS_OVERRIDES_H_
