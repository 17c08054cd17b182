// Loading and validating experiment specs (text protos, see
// sparse_transformer/proto/experiment.proto).
//
// Every error is one line that names the file, the field and what is wrong,
// e.g. "experiments/specs/x.pbtxt: model.attention.stride: 100 does not divide
// data.context 12288".
#ifndef SPARSE_TRANSFORMER_EXPERIMENTS_SPEC_H_
#define SPARSE_TRANSFORMER_EXPERIMENTS_SPEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/proto/experiment.pb.h"

namespace st::experiments {

// Parses the text proto at `path`. Errors: missing/unreadable file, parse
// errors and unknown fields (with line and column).
absl::StatusOr<proto::Experiment> ParseSpecFile(const std::string& path);

// Parses `text` as if it were the file `path` (for tests and --set overrides).
absl::StatusOr<proto::Experiment> ParseSpecText(const std::string& path,
                                                const std::string& text);

// Checks required fields, ranges and the consistency of pattern, data and
// model. `path` only labels the errors.
absl::Status ValidateSpec(const std::string& path,
                          const proto::Experiment& spec);

// ParseSpecFile + ValidateSpec.
absl::StatusOr<proto::Experiment> LoadSpec(const std::string& path);

// The attention-pattern part of a (validated) spec, for the layout builders.
attention::PatternConfig PatternConfigFromSpec(const proto::Experiment& spec);

}  // namespace st::experiments

#endif  // SPARSE_TRANSFORMER_EXPERIMENTS_SPEC_H_
