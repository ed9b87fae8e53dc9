#!/usr/bin/env python3
"""A few forward + backward steps of one bench_backward.py case through
autograd, our kernels only: a target for Nsight Compute (no peers, no
do_bench, no torch.compile in the process).

  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/bench_backward.py --compile-only --cache C
  ncu --kernel-name attn_bwd --launch-skip 2 --launch-count 1 --set full \\
      python3 utils/probes/backward_steps.py --only nbhd2d-128x128-w13 --cache C
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from common import add_common_args, configure, kernel_options, select  # noqa: E402
import attn_mlir as am  # noqa: E402
import bench_backward  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    cache = configure(args)
    chosen = select(bench_backward.cases(), args.only)
    if len(chosen) != 1:
        parser.error(f"--only must pick one case, picked {[c.name for c in chosen]}")
    case = chosen[0]
    import torch
    shape = (1, case.H, case.N, case.D)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16).requires_grad_()
               for _ in range(3))
    dy = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    for _ in range(args.steps):
        q.grad = k.grad = v.grad = None
        am.attention(q, k, v, mask=case.mask, cache_dir=cache, **kernel_options()).backward(dy)
    torch.cuda.synchronize()
    print(f"{case.name}: {args.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
