#!/usr/bin/env bash
# Kills a training run with SIGKILL mid-training, resumes it from its last
# checkpoint and checks that it ends with exactly the same per-step losses,
# final loss and validation bits/byte as an uninterrupted run.
#
#   sparse_transformer/train/kill_resume_check.sh [DATA_FILE]
#
# DATA_FILE: a text file (default the GPL-3 text), or a prepared stream file
# (*.stp, e.g. data/text/text.stp), which trains through the datasets' Batcher.
#
# Environment: TRAIN_TEXT (a built train_text; default: build it with
# BAZEL_OUTPUT_BASE, default /root/.cache/bazel_train), WORK (scratch folder,
# default a fresh mktemp -d), STEPS (120) and KILL_AFTER (65: steps logged
# before the kill; checkpoints come every 25 steps).
set -euo pipefail
DATA=${1:-/usr/share/common-licenses/GPL-3}
WORK=${WORK:-$(mktemp -d -p "${TEST_TMPDIR:-/tmp}")}
STEPS=${STEPS:-120}
KILL_AFTER=${KILL_AFTER:-65}
if [[ -n "${TRAIN_TEXT:-}" ]]; then
  BIN=$(realpath "$TRAIN_TEXT")
else
  cd "$(dirname "$0")/../.."
  OUTPUT_BASE=${BAZEL_OUTPUT_BASE:-/root/.cache/bazel_train}
  bazel --output_base="$OUTPUT_BASE" build -c opt //sparse_transformer/train:train_text >/dev/null 2>&1
  BIN="$OUTPUT_BASE/execroot/sparse_transformer/bazel-out/k8-opt/bin/sparse_transformer/train/train_text"
fi
if [[ "$DATA" == *.stp ]]; then SOURCE=(--prepared="$DATA" --valid_max_bytes=16384); else SOURCE=(--data="$DATA"); fi
FLAGS=("${SOURCE[@]}" --steps=$STEPS --warmup=10 --context=64 --block=16 --stride=16
       --c=4 --d_model=32 --batch=8 --dropout=0.1 --eval_interval=$((STEPS / 2))
       --checkpoint_interval=25 --log_interval=20 --sample_bytes=0)

echo "== uninterrupted run"
"$BIN" "${FLAGS[@]}" --run_dir="$WORK/full" 2>"$WORK/full.err" | tee "$WORK/full.out"

echo "== run killed with SIGKILL after $KILL_AFTER logged steps"
"$BIN" "${FLAGS[@]}" --run_dir="$WORK/killed" 2>"$WORK/killed1.err" >"$WORK/killed1.out" &
PID=$!
while true; do
  LINES=0
  if [[ -f "$WORK/killed/log.tsv" ]]; then LINES=$(($(wc -l <"$WORK/killed/log.tsv") - 1)); fi
  if ((LINES >= KILL_AFTER)); then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then echo "FAIL: the run ended before the kill"; exit 1; fi
  sleep 0.005
done
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
echo "killed at $(($(wc -l <"$WORK/killed/log.tsv") - 1)) logged steps"

echo "== resumed run"
"$BIN" "${FLAGS[@]}" --run_dir="$WORK/killed" 2>"$WORK/killed2.err" | tee "$WORK/killed2.out"
grep "resumed from" "$WORK/killed2.err"

# The final line without its tokens/s (a timing, not a result).
FULL=$(grep '^final' "$WORK/full.out" | sed 's/; [0-9]* tokens\/s//')
RESUMED=$(grep '^final' "$WORK/killed2.out" | sed 's/; [0-9]* tokens\/s//')
echo "uninterrupted: $FULL"
echo "resumed:       $RESUMED"
if [[ "$FULL" == "$RESUMED" ]] && cmp -s "$WORK/full/log.tsv" "$WORK/killed/log.tsv"; then
  echo "PASS: same final loss and bitwise-identical per-step log ($STEPS steps)"
else
  echo "FAIL: the resumed run differs"; diff "$WORK/full/log.tsv" "$WORK/killed/log.tsv" | head; exit 1
fi
