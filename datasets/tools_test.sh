#!/usr/bin/env bash
# The prepare and inspect binaries refuse bad input with exactly one line
# naming the file (and the expected and found size) and a non-zero exit.
set -u
BIN="$TEST_SRCDIR/sparse_transformer/datasets"
T="$TEST_TMPDIR"
failures=0

# expect_one_line <expected substring> <command...>
expect_one_line() {
  local want="$1"
  shift
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  local lines
  lines=$(printf '%s\n' "$err" | wc -l)
  if [[ $rc -eq 0 || $lines -ne 1 || "$err" != *"$want"* ]]; then
    echo "FAIL: $* -> rc $rc, $lines lines: $err (wanted: $want)"
    failures=$((failures + 1))
  fi
}

expect_one_line "error: $T/none.stp: cannot open" "$BIN/inspect" "$T/none.stp"
printf 'NOTPREPxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' > "$T/bad.stp"
expect_one_line "$T/bad.stp: not a prepared data file (wrong magic" "$BIN/inspect" "$T/bad.stp"

head -c 1000 /dev/zero > "$T/enwik8"
expect_one_line "error: $T/enwik8: truncated: expected 100000000 bytes, found 1000" \
  "$BIN/prepare" --dataset=enwik8 --input="$T/enwik8" --out="$T/out"
[[ -e "$T/out/enwik8.stp" || -e "$T/out/enwik8.stp.partial" ]] &&
  { echo "FAIL: output written for a bad input"; failures=$((failures + 1)); }

mkdir -p "$T/cifar"
expect_one_line "$T/cifar/data_batch_1.bin: cannot open" \
  "$BIN/prepare" --dataset=cifar10 --input="$T/cifar" --out="$T/out"
head -c 30729999 /dev/zero > "$T/cifar/data_batch_1.bin"
expect_one_line "$T/cifar/data_batch_1.bin: truncated: expected 30730000 bytes, found 30729999" \
  "$BIN/prepare" --dataset=cifar10 --input="$T/cifar" --out="$T/out"

expect_one_line "unknown --dataset='bogus'" "$BIN/prepare" --dataset=bogus --out="$T/out"
expect_one_line "--dataset=imagenet64 needs --train" \
  "$BIN/prepare" --dataset=imagenet64 --out="$T/out"
expect_one_line "$T/nocache/versions.txt: missing" \
  "$BIN/prepare" --dataset=text --nofetch --cache="$T/nocache" --out="$T/out"

if [[ $failures -ne 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "all checks passed"
