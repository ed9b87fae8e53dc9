#!/bin/bash
# Builds attn's libFuzzer targets (tools/fuzz, ATTN_BUILD_FUZZERS) in
# build-fuzz with clang-22, AddressSanitizer and UndefinedBehaviorSanitizer,
# seeds their corpora and runs each for SECONDS (default 60; hours for a
# long search) on JOBS workers (default 1).
#
#   utils/fuzz.sh [SECONDS] [JOBS]
#
# Needs clang-22 and libclang-rt-22-dev (Debian). Corpora grow in
# build-fuzz/corpus/<target>; crashes land in build-fuzz/crashes/<target>
# (turn each into a lit or unit regression test). Exit status 1 when a
# target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${2:-1}
build=build-fuzz

if [ ! -f $build/build.ninja ]; then
  CC=clang-22 CXX=clang++-22 cmake -G Ninja -S . -B $build \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DCMAKE_BUILD_TYPE=Release \
    -DATTN_BUILD_FUZZERS=ON -DATTN_BUILD_TESTS=OFF > /dev/null
fi
targets="attn-parse-fuzzer attn-mask-fuzzer attn-manifest-fuzzer attn-pipeline-fuzzer"
ninja -C $build $targets > /dev/null

# Seeds: every `// -----` case of the lit inputs; the manifests the GPU
# pipeline writes for a few of them.
seed() {
  local target=$1
  mkdir -p $build/corpus/$target $build/crashes/$target
}
seed attn-parse-fuzzer
if [ -z "$(ls -A $build/corpus/attn-parse-fuzzer)" ]; then
  /usr/bin/python3 - "$build/corpus/attn-parse-fuzzer" <<'PY'
import hashlib, pathlib, sys
out = pathlib.Path(sys.argv[1])
for path in sorted(pathlib.Path("test").rglob("*.mlir")):
    for case in path.read_text().split("// -----"):
        case = "\n".join(l for l in case.splitlines() if not l.lstrip().startswith("//"))
        if "attn." in case:
            (out / hashlib.sha1(case.encode()).hexdigest()).write_text(case)
PY
fi
seed attn-mask-fuzzer
if [ -z "$(ls -A $build/corpus/attn-mask-fuzzer)" ]; then
  # 48 bytes of boxes, the mask's text, then Nk - 1 and Nq - 1 as the last
  # bytes (FuzzedDataProvider takes integers from the end).
  /usr/bin/python3 - "$build/corpus/attn-mask-fuzzer" <<'PY'
import pathlib, random, sys
out = pathlib.Path(sys.argv[1])
random.seed(1)
masks = [
    ("#attn.causal", 40, 50), ("#attn.causal<bottom_right>", 30, 70),
    ("#attn.sliding_window<left = 5, right = 2>", 64, 64),
    ("#attn.sliding_window<left = 3, right = 0, alignment = bottom_right>", 20, 33),
    ("#attn.neighborhood<grid = [6, 8], window = [3, 5]>", 48, 48),
    ("#attn.neighborhood<grid = [8, 8], window = [4, 4], stride = [4, 4]>", 64, 64),
    ("#attn.neighborhood<grid = [4, 4, 5], window = [3, 3, 3], dilation = [1, 2, 1], causal = [true, false, false]>", 80, 80),
    ("#attn.neighborhood<grid = [30], window = [7], stride = [2]>", 30, 30),
    ("#attn.power_law<block = 8, window = 2, sink = 1>", 64, 64),
    ("#attn.power_law<block = 4, window = 1, causal = false>", 48, 48),
    ("#attn.segments<query = [10, 20, 30], visibility = [[full, none, none], [causal, full, none], [full, causal, causal]]>", 60, 60),
    ("#attn.segments<query = [8, 8], key = [4, 4, 8, 8], visibility = [[full, none, causal, none], [none, full, none, causal]]>", 16, 24),
    ("#attn.and<#attn.causal, #attn.sliding_window<left = 8, right = 0>>", 50, 50),
    ("#attn.or<#attn.sliding_window<left = 4, right = 0>, #attn.power_law<block = 8, window = 1, sink = 1>>", 64, 64),
    ("#attn.dense", 5, 9), ("#attn.none", 7, 3),
]
for n, (text, nq, nk) in enumerate(masks):
    data = bytes(random.randrange(256) for _ in range(48)) + text.encode() + bytes([nk - 1, nq - 1])
    (out / f"seed-{n}").write_bytes(data)
PY
fi
seed attn-pipeline-fuzzer
if [ -z "$(ls -A $build/corpus/attn-pipeline-fuzzer)" ]; then
  # One byte naming the pipeline (PipelineFuzzer.cpp), then a module: 64
  # lit cases, the pipelines taken in turn.
  /usr/bin/python3 - "$build/corpus/attn-pipeline-fuzzer" <<'PY'
import pathlib, sys
out = pathlib.Path(sys.argv[1])
cases = []
for path in sorted(pathlib.Path("test").rglob("*.mlir")):
    for case in path.read_text().split("// -----"):
        case = "\n".join(l for l in case.splitlines() if not l.lstrip().startswith("//"))
        if "attn.attention" in case and "gpu." not in case:
            cases.append(case)
step = max(1, len(cases) // 64)
for n, case in enumerate(cases[::step][:64]):
    (out / f"seed-{n}").write_bytes(bytes([n % 8]) + case.encode())
PY
fi
seed attn-manifest-fuzzer
if [ -z "$(ls -A $build/corpus/attn-manifest-fuzzer)" ]; then
  tmp=$(mktemp -d)
  n=0
  for spec in "dense|" "#attn.causal|precision = #attn.precision<sage2_8b>" \
              "#attn.neighborhood<grid = [16, 16], window = [5, 5]>|"; do
    mask=${spec%%|*}; extra=${spec#*|}
    [ "$mask" = dense ] && mask_text="" || mask_text="mask = $mask"
    cat > $tmp/op.mlir <<MLIR
func.func @f(%q: memref<?x4x256x128xbf16>, %o: memref<?x4x256x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<?x4x256x128xbf16>, memref<?x4x256x128xbf16>, memref<?x4x256x128xbf16>)
    outs(%o : memref<?x4x256x128xbf16>) $mask_text $extra
  return
}
MLIR
    for target in sm_90a sm_80; do
      if ${ATTN_OPT:-build/bin/attn-opt} $tmp/op.mlir --attn-gpu-pipeline="target=$target format=isa" \
           --attn-export-artifacts="dir=$tmp/$n" -o /dev/null > /dev/null 2>&1; then
        cp $tmp/$n/manifest.json $build/corpus/attn-manifest-fuzzer/seed-$n.json
      fi
      n=$((n + 1))
    done
  done
  rm -rf "$tmp"
fi

# libMLIR / libLLVM are not instrumented, but LLVM's allocators poison and
# unpoison memory in header code that is (compiled into the fuzzers):
# without this, every StringAttr the parser creates is a false
# use-after-poison.
export ASAN_OPTIONS=allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}

status=0
for target in $targets; do
  dict=()
  [ $target != attn-manifest-fuzzer ] && dict=(-dict=tools/fuzz/attn.dict)
  log=$build/crashes/$target/run.log
  # -timeout: one input running past 120 s is a hang (a timeout- file), not
  # a 20-minute stall of the run (libFuzzer's default).
  if ! $build/bin/$target $build/corpus/$target "${dict[@]}" -max_total_time=$seconds -timeout=120 \
       -jobs=$jobs -workers=$jobs -artifact_prefix=$build/crashes/$target/ \
       -print_final_stats=1 > $log 2>&1; then
    status=1
  fi
  runs=$(grep -h "stat::number_of_executed_units" $log fuzz-*.log 2>/dev/null | awk '{s += $2} END {print s + 0}')
  crashes=$(ls $build/crashes/$target | grep -c -E "^(crash|leak|timeout|oom)-" || true)
  echo "$target: $runs executions in ${seconds}s, $crashes crash files (log: $log)"
done
rm -f fuzz-*.log
exit $status
