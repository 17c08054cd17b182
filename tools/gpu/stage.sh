#!/usr/bin/env bash
# Builds the CUDA binaries and tests (-c opt --config=cuda) and stages them, with
# the non-system shared libraries they need, into gpu_stage/ (git-ignored), a
# folder that runs on a GPU machine without Bazel:
#   gpu_stage/bin/<target name>   the executables
#   gpu_stage/lib/*.so*           their shared libraries (glog, gflags, protobuf, absl, ...;
#                                 the largest xz-compressed: run_tests.sh unpacks them)
#   gpu_stage/run_tests.sh        runs every staged *_test, prints a summary
#
# Usage: tools/gpu/stage.sh [extra bazel targets...]
#   By default: every cc_test whose name ends in _cuda_test, and every binary in
#   //tools/bench/... . Environment: BAZEL_STARTUP (e.g. --output_base=...),
#   ST_STAGE_DIR (default gpu_stage), ST_CUDA_ARCH (default 90), ST_BAZEL_FLAGS
#   (more build flags, e.g. --define=kernel_timeline=1 for attention_bench
#   --timeline).
set -euo pipefail
cd "$(dirname "$0")/../.."
stage="${ST_STAGE_DIR:-gpu_stage}"
bazel_cmd=(bazel ${BAZEL_STARTUP:-})
flags=(-c opt --config=cuda "--define=cuda_arch=${ST_CUDA_ARCH:-90}" ${ST_BAZEL_FLAGS:-})

targets=$("${bazel_cmd[@]}" query --keep_going --noshow_progress \
  'filter("_cuda_test$", kind(cc_test, //...)) + filter("^//tools/bench[/:]", kind(cc_binary, //...))' \
  2>/dev/null || true)
targets="$targets $*"
if [[ -z "${targets// /}" ]]; then
  echo "stage.sh: no CUDA tests or benchmarks found to stage" >&2
  exit 1
fi
"${bazel_cmd[@]}" build "${flags[@]}" $targets >/dev/null 2>"$stage.build.log" || {
  echo "stage.sh: bazel build failed; see $stage.build.log" >&2
  tail -20 "$stage.build.log" >&2
  exit 1
}
bin_dir=$("${bazel_cmd[@]}" info "${flags[@]}" bazel-bin 2>/dev/null)

rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
# Libraries the GPU machine has itself: the C/C++ runtime and CUDA's own.
system_libs='^(linux-vdso|ld-linux|libc\.|libm\.|libstdc\+\+|libgcc_s|libpthread|libdl|librt|libcuda\.|libcudart|libcublas|libcublasLt|libnccl)'
for t in $targets; do
  pkg="${t#//}"; pkg="${pkg%%:*}"; name="${t##*:}"
  [[ "$t" == *:* ]] || name="${pkg##*/}"
  exe="$bin_dir/$pkg/$name"
  [[ -x "$exe" && -f "$exe" ]] || continue
  cp "$exe" "$stage/bin/$name"
  ldd "$exe" | awk '$3 ~ /^\// {print $1, $3}' | while read -r soname path; do
    if ! [[ "$soname" =~ $system_libs ]]; then
      cp -L -n "$path" "$stage/lib/$soname"
    fi
  done
done
# Keep the folder well under the GPU machine's 64 MiB transfer limit: strip
# the binaries and ship large libraries xz-compressed (run_tests.sh unpacks
# them; to unpack by hand: xz -d -k gpu_stage/lib/*.xz).
chmod u+w "$stage"/bin/*
strip "$stage"/bin/*
for lib in "$stage"/lib/*; do
  if [[ $(stat -c %s "$lib") -gt 8000000 ]]; then xz -T0 -6 "$lib"; fi
done
cp tools/gpu/run_tests.sh "$stage/run_tests.sh"
chmod +x "$stage/run_tests.sh"
echo "staged $(ls "$stage/bin" | wc -l) binaries and $(ls "$stage/lib" | wc -l) libraries into $stage/"
