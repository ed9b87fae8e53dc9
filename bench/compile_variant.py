#!/usr/bin/env python3
"""Compiles the kernels of a bench script with another attn-opt or other
pipeline options into a cache of its own, under the keys the script looks
up, so that the same script times the variant on the GPU machine:

  # build machine: stage depths, or an older compiler, side by side
  /usr/bin/python3 bench/compile_variant.py --script bench_masks \
      --options "target=sm_90a stages=3" --cache .attn-cache-s3
  /usr/bin/python3 bench/compile_variant.py --script bench_masks \
      --attn-opt /path/to/old/attn-opt --options "$OLD_OPTIONS" \
      --options-fp8 "$OLD_FP8_OPTIONS" --cache .attn-cache-old

  # GPU machine: the same run against each cache
  python3 bench/bench_masks.py --peers ours --cache .attn-cache-s3

The spec (shapes, mask, precision) is the script's own (spec_of); only the
pipeline options and the compiler change. `--options-fp8` applies to specs
whose precision multiplies P.V in FP8: compilers before the GPU target
table took a kernel class (sm_80, or sm_89 for FP8 P.V) and the chip as two
options, which is what OLD_OPTIONS / OLD_FP8_OPTIONS spell
(bench/RESULTS.md records the ones used). The target table (targets.json) comes from the
current attn-opt ($ATTN_OPT or build/bin/attn-opt), which the run needs to
derive the keys.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import attn_mlir as am  # noqa: E402
from attn_mlir.precision import as_precision  # noqa: E402


def fp8_value(spec: am.AttentionSpec) -> bool:
    precision = getattr(spec, "precision", None)
    if precision is None:
        return False
    text = as_precision(precision).to_mlir()
    return "sage2" in text or "f8E4M3FN" in text or "fp8" in text


def specs_of(script, case) -> List[am.AttentionSpec]:
    """The specs a case runs: bench_backward's spec_of(case, backward)
    gives the forward's and the backward's."""
    if len(inspect.signature(script.spec_of).parameters) == 2:
        return [script.spec_of(case, False), script.spec_of(case, True)]
    return [script.spec_of(case)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", required=True,
                        choices=("bench_masks", "gpu_check", "bench_backward"))
    parser.add_argument("--attn-opt", default=None,
                        help="the compiler of the variant (default: the current one)")
    parser.add_argument("--options", required=True,
                        help="--attn-gpu-pipeline options (format=bin is added)")
    parser.add_argument("--options-fp8", default=None,
                        help="options for specs with FP8 P.V (default: --options)")
    parser.add_argument("--options-backward", default=None,
                        help="options for backward specs (attn.attention_grad; default: "
                             "--options), e.g. kernel=mma_sync for the mma.sync backward "
                             "beside the default forward")
    parser.add_argument("--cache", required=True, help="the variant's cache directory")
    parser.add_argument("--target", default="sm_90a", help="the scripts' --target")
    parser.add_argument("--only", default=None)
    args = parser.parse_args()

    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    current = am.find_attn_opt()
    variant = str(Path(args.attn_opt).resolve()) if args.attn_opt else current
    # The table the run derives keys with.
    table = subprocess.run([current, "--attn-gpu-targets"], capture_output=True, text=True,
                           check=True).stdout
    (cache / "targets.json").write_text(table)
    common.configure(argparse.Namespace(target=args.target, kernel=None, cache=str(cache)))
    script = importlib.import_module(args.script)
    selected = common.select(script.cases(), args.only)
    if hasattr(script, "base_of"):
        names = {c.name for c in selected}
        selected += list({b.name: b for b in (script.base_of(c) for c in selected)
                          if b is not None and b.name not in names}.values())
    failures = 0
    for case, spec in ((c, s) for c in selected for s in specs_of(script, c)):
        options = args.options_fp8 if args.options_fp8 and fp8_value(spec) else args.options
        if args.options_backward and "attention_grad" in spec.canonical_text():
            options = args.options_backward
        entry = cache / spec.cache_key()
        staging = Path(tempfile.mkdtemp(prefix=".variant-", dir=cache))
        (staging / "spec.mlir").write_text(spec.canonical_text())
        result = subprocess.run([variant, "spec.mlir", f"--attn-gpu-pipeline={options} format=bin",
                                 "--attn-export-artifacts=dir=.", "-o", "/dev/null"],
                                cwd=staging, capture_output=True, text=True)
        if result.returncode != 0:
            failures += 1
            print(f"FAIL {case.name}: {result.stderr.strip().splitlines()[0]}")
            shutil.rmtree(staging)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
        manifest = json.loads((entry / "manifest.json").read_text())
        print(f"ok   {case.name:<36} {options:<32} "
              f"{','.join(str(k['shared_bytes']) for k in manifest['kernels'])} B shared")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
