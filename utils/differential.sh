#!/bin/sh
# Differential testing at scale: random attention ops (every mask family and
# their compositions, run-time segments, cross attention, GQA, heads
# features, explicit masks, biases, the quantized presets) and as many
# gradient ops (attn.attention_grad) lowered through the CPU pipeline and
# checked against the f64 reference; one process per
# core, each on its own range of seeds. A failure prints the seed to
# replay: ATTN_DIFF_CASES=1 ATTN_DIFF_SEED=<seed>.
#
# usage: utils/differential.sh [cases (100000)] [first seed (1)] [build dir (build)]
set -eu
cases=${1:-100000}
seed=${2:-1}
build=${3:-build}
jobs=$(nproc)
per=$(( (cases + jobs - 1) / jobs ))
pids=""
for j in $(seq 0 $((jobs - 1))); do
  ATTN_DIFF_CASES=$per ATTN_DIFF_SEED=$((seed + j * per)) \
    "$build/bin/AttnCodegenTests" \
    --gtest_filter=CpuVsReference.Differential:CpuGradients.RandomProblems \
    > "/tmp/attn-differential.$j.log" 2>&1 &
  pids="$pids $!"
done
status=0
j=0
for pid in $pids; do
  if ! wait "$pid"; then
    status=1
    grep -A3 "replay:" "/tmp/attn-differential.$j.log" || tail -20 "/tmp/attn-differential.$j.log"
  fi
  j=$((j + 1))
done
echo "differential: $((per * jobs)) ops from seed $seed: $([ $status = 0 ] && echo 'no mismatch' || echo 'FAILED')"
exit $status
