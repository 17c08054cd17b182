// Checkpoints: everything needed to resume training bit for bit, in one file
// written atomically (temp file, fsync, rename, fsync of the folder).
//
// File layout (little-endian):
//   "STCKPT\r\n"        8-byte magic (the CR/LF catch text-mode mangling)
//   u32 version         kCheckpointVersion
//   u32 crc32           zlib CRC-32 of every byte after this header
//   u64 payload_bytes   bytes after this header
//   payload:
//     i64 step, i64 adam_steps, u64 rng_state, f32 loss_scale, i64
//     loss_scale_clean_steps, str model_signature, str data_state, u64 P, f32
//     params[P], f32 adam_m[P], f32 adam_v[P]
//   where str = u64 length + bytes.
#ifndef SPARSE_TRANSFORMER_TRAIN_CHECKPOINT_H_
#define SPARSE_TRANSFORMER_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparse_transformer/train/trainable.h"

namespace st::train {

inline constexpr uint32_t kCheckpointVersion = 1;

struct TrainState {
  int64_t step = 0;         // training steps completed
  int64_t adam_steps = 0;   // updates applied (skipped steps excluded)
  uint64_t rng_state = 0;   // the trainer's dropout-seed generator
  float loss_scale = 1.0f;  // dynamic loss scaler
  int64_t loss_scale_clean_steps = 0;
  std::string model_signature;  // ModelSignature(model)
  std::string data_state;       // opaque, from BatchSource::GetState()
  std::vector<float> params;    // [P]
  std::vector<float> adam_m;    // [P]
  std::vector<float> adam_v;    // [P]
};

// Names and shapes of every parameter group: a checkpoint only loads into a
// model with the same signature.
std::string ModelSignature(const std::vector<ParamGroup>& groups);
// The signature a trainer records and checks: the parameter groups', then
// "structure: " and the model's structure() where that is not empty.
std::string ModelSignature(const Trainable& model);

// Writes `state` to `path` + ".tmp", flushes it to disk, then renames it over
// `path`: a crash at any point leaves either the old or the new file whole.
absl::Status WriteCheckpoint(const std::string& path, const TrainState& state);

// Reads and verifies a checkpoint; a wrong magic or version, a truncated file
// or a checksum mismatch is an error that names the file.
absl::StatusOr<TrainState> ReadCheckpoint(const std::string& path);

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_CHECKPOINT_H_
