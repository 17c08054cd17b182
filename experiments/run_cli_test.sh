#!/usr/bin/env bash
# The runner binary on bad input: exactly one line on stderr that names the
# file and the field, and exit status 1; and the plan on a valid spec.
set -uo pipefail
run="$1"
tmp="${TEST_TMPDIR:-/tmp}"
fails=0

expect_error() {  # <description> <expected substring> <args...>
  local what="$1" want="$2"
  shift 2
  local err rc
  err=$("$run" "$@" 2>&1 >/dev/null)
  rc=$?
  local lines
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [[ $rc -ne 1 || $lines -ne 1 || "$err" != *"$want"* ]]; then
    echo "FAIL $what: rc=$rc lines=$lines stderr: $err"
    fails=$((fails + 1))
  fi
}

expect_error "missing file" "nope.pbtxt: spec file not found" --spec="$tmp/nope.pbtxt"
printf 'name: "x"\nmodel {\n  n_layers: 2\n}\n' >"$tmp/unknown.pbtxt"
expect_error "unknown field" "unknown.pbtxt:3:" --spec="$tmp/unknown.pbtxt"
expect_error "stride" "model.attention.stride: stride 100 does not divide data.context 12288" \
  --spec=experiments/specs/enwik8_fixed_95m.pbtxt --set=attention.stride=100
expect_error "c > l" "model.attention.c: c = 256 is larger than model.attention.stride 128" \
  --spec=experiments/specs/enwik8_fixed_95m.pbtxt --set=attention.c=256
expect_error "heads" "model.n_head: 7 heads do not divide model.d_model 512" \
  --spec=experiments/specs/enwik8_fixed_95m.pbtxt --set=n_head=7
expect_error "block" "block size 64 does not divide model.attention.stride 96" \
  --spec=experiments/specs/cifar10_strided_59m.pbtxt --set=attention.block_size=64
expect_error "bad override" "override foo.bar: no such scalar field" \
  --spec=experiments/specs/enwik8_fixed_95m.pbtxt --set=foo.bar=1

out=$("$run" --spec=experiments/specs/enwik8_fixed_95m.pbtxt --plan_only 2>&1)
if [[ $? -ne 0 || "$out" != *"parameters: 94949632"* || "$out" != *"density 0.2579"* ]]; then
  echo "FAIL plan: $out"
  fails=$((fails + 1))
fi
[[ $fails -eq 0 ]] && echo "PASS"
exit $fails
