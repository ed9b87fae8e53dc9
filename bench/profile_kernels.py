#!/usr/bin/env python3
"""Where the time of one attention call goes: the CUDA time of each kernel
of the call (quantization pre-kernels, attention kernel) under
torch.profiler, for cases of bench_masks.py. A diagnostic for the quantized
path, not a benchmark: bench_masks.py times whole calls.

  # build machine: compile (the kernels are bench_masks.py's)
  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/bench_masks.py --compile-only
  # GPU machine
  python3 bench/profile_kernels.py --only dense-16384-sage1
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_common_args, configure, require_compiled, select  # noqa: E402
import attn_mlir as am  # noqa: E402
import bench_masks  # noqa: E402

ITERATIONS = 10


def profile(case, cache: Path) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile as torch_profile

    missing = require_compiled(bench_masks.spec_of(case), cache)
    if missing:
        print(f"{case.name}: {missing}")
        return
    q_shape, k_shape, v_shape, dtype, options = bench_masks.call_of(case)
    torch_dtype = {"bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    q, k, v = (torch.randn(s, dtype=torch_dtype, device="cuda") for s in (q_shape, k_shape, v_shape))
    call = am.prepare(q, k, v, cache_dir=cache, **options)
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(ITERATIONS):
            call()
        torch.cuda.synchronize()
    totals = defaultdict(float)
    for event in prof.events():  # kernels: device-side events
        if getattr(event.device_type, "name", "") == "CUDA":
            totals[event.name] += event.time_range.elapsed_us() / ITERATIONS
    whole = sum(totals.values())
    print(f"\n{case.name} ({case.precision or dtype}): {whole / 1000:.3f} ms of kernels per call")
    for name, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {us / 1000:8.3f} ms  {100 * us / whole:5.1f} %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    args = parser.parse_args()
    cache = configure(args)
    for case in select(bench_masks.cases(), args.only):
        profile(case, cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
