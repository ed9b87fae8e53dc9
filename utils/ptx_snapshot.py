#!/usr/bin/env python3
"""PTX of every GPU kernel the lit suite and the bench scripts compile, one
file per (case, target), for diffing two attn-opt builds.

A refactor of the GPU backend must leave the generated PTX unchanged (or
explain each difference). This script compiles the same inputs with a given
attn-opt and writes `<out>/<case>.<target>.ptx` (or `.err` with the
diagnostic when the case does not compile for that target); `diff -r` of two
such directories is the check.

Inputs:
  - every `// -----` case of test/Transforms/lower-to-gpu*.mlir,
    test/Transforms/gpu-pipeline*.mlir and test/GPU/*.mlir, compiled for
    each of --targets;
  - every kernel spec of bench/gpu_check.py and bench/bench_masks.py
    (compiled for the spec's own target).

The pipeline option string is a template, so builds with different option
syntax can be compared:

  utils/ptx_snapshot.py --attn-opt build/bin/attn-opt --out /tmp/ptx-new \
      --lit-options 'target={target}' --bench-options 'target={target}'

Lines that name the PTX version and target (`.version`, `.target`) are
written as they are; filter them when the two builds name chips differently.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIT_GLOBS = ("test/Transforms/lower-to-gpu*.mlir",
             "test/Transforms/gpu-pipeline*.mlir", "test/GPU/*.mlir")


def lit_cases():
    for pattern in LIT_GLOBS:
        for path in sorted(REPO.glob(pattern)):
            chunks = re.split(r"^// -----\s*$", path.read_text(), flags=re.M)
            for n, chunk in enumerate(chunks):
                if "attn.attention" not in chunk:
                    continue
                # expected-error cases are not kernels.
                if "expected-error" in chunk:
                    continue
                yield f"{path.stem}.{n}", chunk


def bench_cases():
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(REPO / "python"))
    import gpu_check  # noqa: E402
    import bench_masks  # noqa: E402
    seen = set()
    for module in (gpu_check, bench_masks):
        for case in module.cases():
            try:
                spec = module.spec_of(case)
            except Exception as error:  # a spec the package rejects
                print(f"skip {case.name}: {error}", file=sys.stderr)
                continue
            key = spec.cache_key()
            if key in seen:
                continue
            seen.add(key)
            yield (f"{module.__name__}.{case.name}", spec.canonical_text(),
                   {"target": spec.target, "chip": getattr(spec, "chip", spec.target),
                    "kernel": getattr(spec, "kernel", "") or ""})


def compile_one(attn_opt, text, options, out_base):
    command = [attn_opt, "-", f"--attn-gpu-pipeline={options} format=isa",
               "--attn-export-artifacts=dir=" + str(out_base) + ".d", "-o", os.devnull]
    result = subprocess.run(command, input=text, capture_output=True, text=True)
    if result.returncode != 0:
        Path(str(out_base) + ".err").write_text(result.stderr)
        return "err"
    directory = Path(str(out_base) + ".d")
    (directory / "kernels.ptx").rename(str(out_base) + ".ptx")
    (directory / "manifest.json").rename(str(out_base) + ".manifest.json")
    directory.rmdir()
    return "ok"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attn-opt", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--targets", default="sm_80,sm_86,sm_89")
    parser.add_argument("--lit-options", default="target={target}",
                        help="pipeline options for lit cases ({target})")
    parser.add_argument("--bench-options", default="target={target}",
                        help="pipeline options for bench specs ({target}, {chip}, {kernel})")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("-j", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name, text in lit_cases():
        for target in args.targets.split(","):
            jobs.append((text, args.lit_options.format(target=target),
                         out / f"lit.{name}.{target}"))
    if not args.no_bench:
        for name, text, fields in bench_cases():
            jobs.append((text, args.bench_options.format(**fields), out / f"bench.{name}"))
    counts = {"ok": 0, "err": 0}
    with concurrent.futures.ThreadPoolExecutor(args.j) as pool:
        for status in pool.map(lambda job: compile_one(args.attn_opt, *job), jobs):
            counts[status] += 1
    print(f"{len(jobs)} compiles: {counts['ok']} PTX, {counts['err']} diagnostics -> {out}")


if __name__ == "__main__":
    main()
