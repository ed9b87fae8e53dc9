#!/usr/bin/env python3
"""Forward + backward timing of the attn kernels against SDPA (flash,
cuDNN) and FlexAttention, measured in one run (issue 14's table).

Each case first checks correctness: our dQ, dK, dV of head 0 against f32
autograd of the reference on head 0 alone (fresh random inputs; cosine
>= 0.999 and max error <= 2e-2 max|g|), then times one forward + backward
(loss = sum(O * dY), dY fixed) with triton.testing.do_bench (median) for
ours and each peer. Ratios are peer time / our time (> 1: we are faster).
On token-grid masks FlexAttention also runs "tiled": the tokens permuted
into 64-token patches of the grid (bench_masks' flex-tiled column), which
its 128 x 128 blocks skip far better than the row-major order; its output
is checked against the row-major FlexAttention's before it is timed.

  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/bench_backward.py --compile-only
  python3 bench/bench_backward.py            # GPU machine
  python3 bench/bench_backward.py --profile --only w13   # + each kernel's time
"""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (add_common_args, compile_cases, configure, kernel_options,  # noqa: E402
                    print_kernel_times, select)
import attn_mlir as am  # noqa: E402
from attn_mlir import Causal, Neighborhood, PowerLaw, Segments  # noqa: E402
from attn_mlir.reference import cosine  # noqa: E402
import reference as ref  # noqa: E402

SCRIPT = "bench_backward"
# bench_masks' QUERY_TILE_TOKENS: the patch its flex-tiled column permutes by.
FLEX_TILE_TOKENS = 64


@dataclass
class Case:
    name: str
    N: int
    mask: Any = None
    causal: bool = False        # SDPA's is_causal (None: SDPA runs no such mask)
    H: int = 16
    D: int = 128
    sdpa: bool = True           # SDPA can run the mask (dense or causal)


def cases() -> List[Case]:
    # bench_masks' in-context video layout (VFXMaster): references see only
    # references, targets the target prompt and both videos.
    in_context = Segments(query=[226, 226, 17550, 17550],
                          visibility=[["full", "none", "full", "full"],
                                      ["none", "full", "none", "full"],
                                      ["full", "none", "full", "full"],
                                      ["none", "full", "none", "full"]])
    return [
        Case("dense-16384", 16384),
        Case("causal-16384", 16384, mask=Causal(), causal=True),
        Case("dense-4096-d64", 4096, D=64),
        Case("nbhd2d-128x128-w13", 16384, mask=Neighborhood(grid=[128, 128], window=13),
             sdpa=False),
        Case("nbhd2d-128x128-w31", 16384, mask=Neighborhood(grid=[128, 128], window=31),
             sdpa=False),
        Case("powerlaw-32768-b256-w5-s1", 32768, mask=PowerLaw(block=256, window=5, sink=1),
             sdpa=False),
        Case("incontext-35552", 35552, mask=in_context, sdpa=False),
    ]


def spec_of(case: Case, backward: bool) -> am.AttentionSpec:
    shape = (1, case.H, case.N, case.D)
    spec = am.spec_for_shapes(shape, shape, shape, "bf16", mask=case.mask, return_lse=True,
                              **kernel_options())
    return spec.gradient() if backward else spec


def _flex_mask(case: Case, device, perm=None):
    """The case's mask as a FlexAttention block mask (on the token order
    `perm`, a permutation of row-major positions, where given), or None for
    dense."""
    from torch.nn.attention.flex_attention import create_block_mask
    if case.mask is None:
        return None
    keep = ref.keep_matrix(case.mask, case.N, case.N, device)
    if perm is not None:
        keep = keep[perm][:, perm].contiguous()

    def mask_mod(b, h, q_idx, kv_idx):
        return keep[q_idx, kv_idx]
    return create_block_mask(mask_mod, 1, 1, case.N, case.N, device=device)


def _grid(case: Case) -> Optional[List[int]]:
    """The token grid of a case's mask where it has one of rank > 1."""
    grid = getattr(case.mask, "grid", None)
    return list(grid) if grid is not None and len(grid) > 1 else None


def check(case: Case, cache: Path) -> str:
    import torch
    device = torch.device("cuda")
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    shape = (1, case.H, case.N, case.D)
    q, k, v = (torch.randn(shape, generator=gen, device=device).to(torch.bfloat16)
               .requires_grad_() for _ in range(3))
    dy = torch.randn(shape, generator=gen, device=device).to(torch.bfloat16)
    o = am.attention(q, k, v, mask=case.mask, cache_dir=cache, **kernel_options())
    o.backward(dy)
    keep = ref.keep_matrix(case.mask, case.N, case.N, device)
    leaves = [x[:, :1].detach().float().requires_grad_() for x in (q, k, v)]
    o_ref, _ = ref.attention_f32(*leaves, keep, 1.0 / math.sqrt(case.D))
    grads = torch.autograd.grad((o_ref * dy[:, :1].float()).sum(), leaves)
    worst = []
    for name, ours, exact in zip(("dq", "dk", "dv"), (q.grad, k.grad, v.grad), grads):
        ours = ours[:, :1].float()
        err = (ours - exact).abs().max().item() / exact.abs().max().item()
        cos = cosine(ours, exact)
        if not (cos >= 0.999 and err <= 2e-2):
            raise AssertionError(f"{name}: cos {cos:.5f}, max err {err:.2e} of max|g|")
        worst.append(f"{name} cos {cos:.5f} err {err:.1e}")
    return ", ".join(worst)


def steps_of(case: Case, cache: Path, peers: bool = True) -> Dict[str, Callable[[], None]]:
    """One forward + backward step (loss = sum(O * dY)) per implementation,
    on the same fresh random inputs: ours, SDPA flash and cuDNN where SDPA
    runs the mask, FlexAttention (compiled); ours alone without `peers`. A
    peer that cannot be set up is a string saying why."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import flex_attention
    device = torch.device("cuda")
    shape = (1, case.H, case.N, case.D)
    q, k, v = (torch.randn(shape, device=device, dtype=torch.bfloat16).requires_grad_()
               for _ in range(3))
    dy = torch.randn(shape, device=device, dtype=torch.bfloat16)

    def step_of(forward, backend=None):
        def step():
            q.grad = k.grad = v.grad = None
            forward().backward(dy)
        step.context = (lambda: sdpa_kernel(backend)) if backend is not None else nullcontext
        return step

    steps: Dict[str, Any] = {"ours": step_of(lambda: am.attention(
        q, k, v, mask=case.mask, cache_dir=cache, **kernel_options()))}
    if not peers:
        return steps
    if case.sdpa:
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            steps[name] = step_of(lambda: F.scaled_dot_product_attention(
                q, k, v, is_causal=case.causal), backend)
    try:
        block_mask = _flex_mask(case, device)
        flex = torch.compile(flex_attention, fullgraph=True)
        steps["flex"] = step_of(lambda: flex(q, k, v, block_mask=block_mask))
    except Exception as error:  # report, do not stop the table
        steps["flex"] = f"failed ({type(error).__name__})"
    grid = _grid(case)
    if grid is not None and callable(steps["flex"]):
        try:
            steps["flex-tiled"] = _flex_tiled_step(case, grid, (q, k, v), dy, flex,
                                                   block_mask)
        except Exception as error:
            steps["flex-tiled"] = f"failed ({type(error).__name__}: {str(error)[:60]})"
    return steps


def _flex_tiled_step(case: Case, grid: List[int], qkv, dy, flex, block_mask):
    """FlexAttention's step on the tokens permuted into patches of the grid
    (leaves of their own, so the permutation is outside the timed step),
    after checking its output, put back in row-major order, against the
    row-major FlexAttention's."""
    import torch
    device = dy.device
    perm = torch.tensor(ref.tile_permutation(grid, ref.grid_tile(grid, FLEX_TILE_TOKENS)),
                        device=device, dtype=torch.int64)
    q, k, v = (x.detach()[:, :, perm].contiguous().requires_grad_() for x in qkv)
    block_tiled = _flex_mask(case, device, perm)
    with torch.no_grad():
        tiled = flex(q, k, v, block_mask=block_tiled)
        row_major = flex(*(x.detach() for x in qkv), block_mask=block_mask)[:, :, perm]
        err = (tiled.float() - row_major.float()).abs().max().item()
    if not err <= 2e-2:
        raise AssertionError(f"tiled output differs from row-major by {err:.2e}")
    dy_tiled = dy[:, :, perm].contiguous()

    def step():
        q.grad = k.grad = v.grad = None
        flex(q, k, v, block_mask=block_tiled).backward(dy_tiled)
    step.context = nullcontext
    return step


def time_case(steps: Dict[str, Any]) -> Dict[str, Any]:
    """The median time of each step (do_bench), or why it failed."""
    from triton.testing import do_bench
    times: Dict[str, Any] = {}
    for name, step in steps.items():
        if isinstance(step, str):
            times[name] = step
            continue
        try:
            with step.context():  # SDPA's backend choice, outside the timed step
                times[name] = do_bench(step, warmup=5, rep=30, return_mode="median")
        except Exception as error:  # a peer that cannot run this case
            times[name] = f"failed ({str(error).splitlines()[0][:40]})"
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--profile", action="store_true",
                        help="after each case's row, print the CUDA time of each kernel of "
                             "one forward + backward step (ours and FlexAttention)")
    parser.add_argument("--ours-only", action="store_true",
                        help="time our step alone, no peers (A/B runs of two caches' kernels "
                             "in one call)")
    args = parser.parse_args()
    cache = configure(args)
    selected = select(cases(), args.only)
    if args.list:
        for case in selected:
            print(case.name)
        return 0
    if args.compile_only:
        failures = compile_cases(SCRIPT, selected, lambda c: spec_of(c, False), cache)
        failures += compile_cases(SCRIPT + "-backward", selected, lambda c: spec_of(c, True),
                                  cache)
        return 1 if failures else 0
    import torch
    print(f"# device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print("| case | ours ms | flash ms | cuDNN ms | Flex ms | Flex tiled ms | vs flash "
          "| vs cuDNN | vs Flex | vs tiled | check |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in selected:
        try:
            verdict = check(case, cache)
        except Exception as error:
            print(f"| {case.name} | check failed: {type(error).__name__}: {error} |")
            continue
        steps = steps_of(case, cache, peers=not args.ours_only)
        times = time_case(steps)
        ours = times["ours"]

        def cell(name: str) -> str:
            value: Optional[Any] = times.get(name)
            return "-" if value is None else (f"{value:.3f}" if isinstance(value, float)
                                              else value)

        def ratio(name: str) -> str:
            value = times.get(name)
            return f"{value / ours:.2f}x" if isinstance(value, float) else "-"
        print(f"| {case.name} | {ours:.3f} | {cell('flash')} | {cell('cudnn')} | {cell('flex')} "
              f"| {cell('flex-tiled')} | {ratio('flash')} | {ratio('cudnn')} | {ratio('flex')} "
              f"| {ratio('flex-tiled')} | {verdict} |", flush=True)
        if args.profile:
            for name in ("ours", "flex", "flex-tiled"):
                step = steps.get(name)
                if callable(step):
                    with step.context():
                        print_kernel_times(f"{case.name}, {name}", step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
