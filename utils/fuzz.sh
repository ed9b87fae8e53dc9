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
ninja -C $build attn-parse-fuzzer attn-manifest-fuzzer > /dev/null

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
      if build/bin/attn-opt $tmp/op.mlir --attn-gpu-pipeline="target=$target format=isa" \
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
for target in attn-parse-fuzzer attn-manifest-fuzzer; do
  dict=()
  [ $target = attn-parse-fuzzer ] && dict=(-dict=tools/fuzz/attn.dict)
  log=$build/crashes/$target/run.log
  if ! $build/bin/$target $build/corpus/$target "${dict[@]}" -max_total_time=$seconds \
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
