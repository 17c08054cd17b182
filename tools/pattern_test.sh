#!/bin/bash
# Runs //tools:pattern: the enwik8 setting's counts (19,200 live blocks per
# head, PAPER.md §1.5), a PNG is written, and bad input is one error line.
set -u
tool="$1"
fail() { echo "FAIL: $*"; exit 1; }

line=$("$tool" --pattern=fixed --n=12288 --stride=128 --c=32 --block=32 \
  --heads=8 --out="$TEST_TMPDIR/fixed.png") || fail "tool exited non-zero"
[[ "$line" == "live_blocks=153600 dense_causal_blocks=591360 density=0.2597 "* ]] \
  || fail "unexpected counts: $line"
[[ "$(head -c 8 "$TEST_TMPDIR/fixed.png" | od -An -tx1 | tr -d ' \n')" == \
  "89504e470d0a1a0a" ]] || fail "no PNG written"

line=$("$tool" --pattern=strided --n=256 --stride=16 --heads=2 \
  --head_mode=split --transposed) || fail "strided split exited non-zero"
[[ "$line" == "live_blocks=47 dense_causal_blocks=272 "* ]] \
  || fail "unexpected strided counts: $line"

for bad in "--stride=0" "--c=17" "--stride=24 --block=16" "--n=250" \
  "--n=288 --stride=64" \
  "--pattern=sparse"; do
  # shellcheck disable=SC2086
  err=$("$tool" --pattern=fixed --n=256 --stride=16 --c=4 $bad 2>&1 >/dev/null)
  rc=$?
  [[ $rc -eq 1 ]] || fail "$bad: exit code $rc"
  [[ "$err" == error:* && $(echo "$err" | wc -l) -eq 1 ]] \
    || fail "$bad: not one error line: $err"
  echo "$bad -> $err"
done
echo PASS
