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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (add_common_args, configure, print_kernel_times,  # noqa: E402
                    require_compiled, select)
import attn_mlir as am  # noqa: E402
import bench_masks  # noqa: E402

ITERATIONS = 10


def profile(case, cache: Path) -> None:
    import torch

    missing = require_compiled(bench_masks.spec_of(case), cache)
    if missing:
        print(f"{case.name}: {missing}")
        return
    q_shape, k_shape, v_shape, dtype, options = bench_masks.call_of(case)
    torch_dtype = {"bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    q, k, v = (torch.randn(s, dtype=torch_dtype, device="cuda") for s in (q_shape, k_shape, v_shape))
    call = am.prepare(q, k, v, cache_dir=cache, **options)
    print_kernel_times(f"{case.name} ({case.precision or dtype})", call, ITERATIONS)


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
