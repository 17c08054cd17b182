#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the build needs,
# runs every test, then builds every CUDA-using target with --config=cuda so the
# GPU code cannot rot on machines without a GPU (GPU tests skip there).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
bazel test //...
if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  cuda_targets=$(bazel query 'rdeps(//..., //third_party/cuda)' 2>/dev/null)
  bazel build --config=cuda $cuda_targets
  echo "test.sh: all tests passed; CUDA targets build with --config=cuda"
else
  echo "test.sh: all tests passed; no CUDA toolkit, --config=cuda build skipped"
fi
