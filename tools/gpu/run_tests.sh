#!/usr/bin/env bash
# Runs on the GPU machine: every staged *_test binary in bin/ beside this
# script, with the staged libraries and CUDA's on the library path. Prints one
# line per test binary and a summary; exits non-zero if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for z in "$here"/lib/*.xz; do  # large libraries travel compressed
  [[ -e "$z" && ! -e "${z%.xz}" ]] && xz -d -k "$z"
done
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
out="${OUT:-/tmp}"
failed=0
passed=0
for t in "$here"/bin/*_test; do
  [[ -x "$t" ]] || continue
  name="$(basename "$t")"
  if "$t" --gtest_brief=1 >"$out/$name.log" 2>&1; then
    passed=$((passed + 1))
    skipped=$(grep -c '\[  SKIPPED \]' "$out/$name.log" || true)
    echo "PASS $name (skipped: $skipped)"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    tail -30 "$out/$name.log"
  fi
done
echo "gpu tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
