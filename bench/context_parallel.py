#!/usr/bin/env python3
"""Context parallelism (attn_mlir.distributed) checked on one GPU, and the
multi-GPU benchmark when several GPUs are there.

One GPU (default): for every mask family, the mask-aware ring (its plan's
chunk pairs processed rank after rank and merged by LSE, the per-rank code
of ring_attention), the mask-agnostic ring and Ulysses (emulated
all-to-all) against the single-kernel result and an f32 reference of the
whole problem; the plan's counts (pairs computed, K/V transfers) against
the mask-agnostic ring's. Then the backward (skipped with
--no-backward): dQ, dK, dV of the mask-aware ring and of Ulysses (loss
sum(O dY) + sum(LSE dLSE)) against f32 autograd of the whole problem.

  # build machine: compile the kernels and the chunk classes into .attn-cache
  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/context_parallel.py --compile-only
  # GPU machine
  python3 bench/context_parallel.py

Several GPUs (not run yet: no multi-GPU machine was lent; see
docs/design/ContextParallel.md):

  torchrun --nproc-per-node 8 bench/context_parallel.py --distributed --n 131072
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (add_common_args, compile_cases, configure, require_compiled,  # noqa: E402
                    select, target)
import attn_mlir as am  # noqa: E402
from attn_mlir import distributed as cp  # noqa: E402
import reference as ref  # noqa: E402

B, H, D = 1, 4, 64
DTYPE = "bf16"
WORLD = 4
N = 4096
O_ATOL = 2e-2      # bf16 single-kernel output vs the f32 reference (as gpu_check)
RING_ATOL = 2e-2   # the ring: bf16 partial outputs merged in f32
LSE_ATOL = 1e-3
GRAD_RTOL = 2e-2   # gradients: max error / max|g| (bf16 inputs, as bench_backward)


@dataclass
class Case:
    name: str
    mask: Any
    n: int = N


def cases() -> List[Case]:
    return [
        Case("dense", None),
        Case("causal", am.Causal()),
        Case("sliding-512", am.SlidingWindow(512, 0)),
        Case("nbhd1d-w513", am.Neighborhood(grid=[N], window=513)),
        Case("nbhd2d-64x64-w9", am.Neighborhood(grid=[64, 64], window=[9, 9])),
        Case("powerlaw-b64-w2-s1", am.PowerLaw(block=64, window=2, sink=1)),
        Case("segments", am.Segments(query=[1000, 3096],
                                     visibility=[["causal", "none"], ["full", "causal"]])),
    ]


def _shape(h: int, n: int):
    return (B, h, n, D)


def specs_of(case: Case, plans: List["cp.ContextParallelPlan"], world: int = WORLD,
             n: Optional[int] = None, heads: int = H) -> List["am.AttentionSpec"]:
    """Every kernel the checks (or the benchmark) of `case` call: the single
    kernel, the rings' chunk pairs (full: no mask; partial: the mask at the
    pair's offsets, one kernel per offset pair), and Ulysses' kernel on
    heads / world heads."""
    size = n or case.n
    shape = (B, heads, size, D)
    local = (B, heads // world, size, D)
    specs = [am.spec_for_shapes(shape, shape, shape, DTYPE, mask=case.mask, return_lse=True,
                                target=target()),
             am.spec_for_shapes(local, local, local, DTYPE, mask=case.mask, return_lse=True,
                                target=target())]
    masks = {None}
    for plan in plans:
        c = plan.chunk
        for steps in plan.steps:
            for pair in (p for step in steps for p in step.pairs if p.cls != cp.FULL):
                masks.add(am.Shard(case.mask, pair.query_chunk * c, pair.key_chunk * c,
                                   size, size))
    chunk = (B, heads, plans[0].chunk, D)
    specs += [am.spec_for_shapes(chunk, chunk, chunk, DTYPE, mask=m, return_lse=True,
                                 target=target())
              for m in sorted(masks, key=lambda m: m.to_mlir() if m else "")]
    return specs


@dataclass
class _Compiled:
    name: str
    spec: Any


def compile_all(selected: List[Case], cache: Path, world: int = WORLD, n: Optional[int] = None,
                heads: int = H) -> int:
    """The chunk classes (both plans) and every kernel the run needs."""
    items = []
    for case in selected:
        size = n or case.n
        plans = [cp.plan_context_parallel(case.mask, size, world, mask_aware=aware,
                                          cache_dir=cache) for aware in (True, False)]
        print(plans[0].summary())
        specs = specs_of(case, plans, world, size, heads)
        items += [_Compiled(f"{case.name}-{i}", spec) for i, spec in enumerate(specs)]
        # The backward of every kernel but the whole problem's (the ring's
        # pairs and Ulysses' local call), with dLSE as the checks' loss has.
        items += [_Compiled(f"{case.name}-grad-{i}", spec.gradient(lse_grad=True))
                  for i, spec in enumerate(specs) if i > 0]
    return compile_cases("context_parallel", items, lambda item: item.spec, cache)


def run(selected: List[Case], cache: Path, seed: int) -> int:
    import torch
    failures = 0
    rows = []
    for case in selected:
        plan = cp.plan_context_parallel(case.mask, case.n, WORLD, cache_dir=cache)
        agnostic = cp.plan_context_parallel(case.mask, case.n, WORLD, mask_aware=False,
                                            cache_dir=cache)
        missing = [m for m in (require_compiled(s, cache)
                               for s in specs_of(case, [plan, agnostic])) if m]
        if missing:
            print(f"FAIL  {case.name}: {missing[0]}")
            failures += 1
            continue
        gen = torch.Generator(device="cuda")
        gen.manual_seed(seed)
        q, k, v = (torch.randn(_shape(H, case.n), generator=gen, device="cuda")
                   .to(torch.bfloat16) for _ in range(3))
        keeps = ref.keep_matrix(case.mask, case.n, case.n, "cuda").view(1, 1, case.n, case.n)
        ref_o, ref_lse = ref.attention_f32(q, k, v, keeps, 1.0 / D ** 0.5)
        single_o, single_lse = am.attention(q, k, v, mask=case.mask, return_lse=True,
                                            cache_dir=cache, target=target())
        results = {"single kernel": (single_o, single_lse)}
        for name, p in (("ring, mask-aware", plan), ("ring, mask-agnostic", agnostic)):
            o, lse, _ = cp.emulate_ring(q, k, v, p, mask=case.mask, cache_dir=cache,
                                        target=target())
            torch.cuda.synchronize()
            results[name] = (o, lse)
        results["ulysses"] = cp.emulate_ulysses(q, k, v, WORLD, mask=case.mask, cache_dir=cache,
                                                target=target())
        problems = []
        finite = torch.isfinite(ref_lse)
        errors = {}
        for name, (o, lse) in results.items():
            o_err = (o.float() - ref_o).abs().nan_to_num(nan=float("inf")).max().item()
            same_empty = torch.equal(torch.isfinite(lse), finite)
            lse_err = (lse[finite] - ref_lse[finite]).abs().max().item() if finite.any() else 0.0
            errors[name] = (o_err, lse_err)
            bound = O_ATOL if name in ("single kernel", "ulysses") else RING_ATOL
            if not (o_err <= bound) or not (lse_err <= LSE_ATOL) or not same_empty:
                problems.append(f"{name}: O err {o_err:.2e} (bound {bound}), LSE err "
                                f"{lse_err:.2e}, -inf rows {'match' if same_empty else 'differ'}")
        ring_vs_single = (results["ring, mask-aware"][0].float() - single_o.float()).abs().max().item()
        ok = not problems
        failures += not ok
        rows.append((case.name, plan, agnostic, errors, ring_vs_single, ok))
        print(f"{'PASS' if ok else 'FAIL'}  {case.name:<22} " + "  ".join(
            f"{n}: {e[0]:.1e}/{e[1]:.1e}" for n, e in errors.items())
            + ("  " + "; ".join(problems) if problems else ""), flush=True)
    print()
    print("| mask | scheme | pairs computed (aware / agnostic) | K/V transfers (aware / agnostic) "
          "| max err O / LSE vs f32: single | ring aware | ring agnostic | Ulysses | ring vs single |")
    print("|---|---|---:|---:|---|---|---|---|---:|")
    for name, plan, agnostic, errors, vs_single, ok in rows:
        cells = " | ".join(f"{errors[k][0]:.1e} / {errors[k][1]:.1e}" for k in
                           ("single kernel", "ring, mask-aware", "ring, mask-agnostic", "ulysses"))
        print(f"| {name} | {plan.scheme} | {len(plan.computed_pairs())} / "
              f"{len(agnostic.computed_pairs())} | {plan.transfers()} / {agnostic.transfers()} | "
              f"{cells} | {vs_single:.1e} |")
    print(f"\nB={B}, H={H}, D={D}, N={N}, bf16, {WORLD} emulated ranks; O bounds: single kernel "
          f"and Ulysses {O_ATOL} (bf16 output), ring {RING_ATOL} (bf16 partials merged in f32); "
          f"LSE {LSE_ATOL}.")
    return failures


def run_backward(selected: List[Case], cache: Path, seed: int) -> int:
    """Gradients through the emulated mask-aware ring and Ulysses (their
    autograd: the ring's own backward walk, Ulysses' differentiable
    reshapes) against f32 autograd of the whole problem."""
    import torch
    failures = 0
    print("\n| mask | dq / dk / dv err (of max|g|): ring | Ulysses |\n|---|---|---|")
    for case in selected:
        plan = cp.plan_context_parallel(case.mask, case.n, WORLD, cache_dir=cache)
        gen = torch.Generator(device="cuda")
        gen.manual_seed(seed + 1)
        inputs = [torch.randn(_shape(H, case.n), generator=gen, device="cuda")
                  .to(torch.bfloat16) for _ in range(3)]
        dy = torch.randn(_shape(H, case.n), generator=gen, device="cuda")
        dlse = torch.randn(_shape(H, case.n)[:3], generator=gen, device="cuda")

        def loss_of(o, lse):
            finite = torch.isfinite(lse)
            return ((o.float() * dy).sum()
                    + (torch.where(finite, lse, torch.zeros_like(lse)) * dlse).sum())
        leaves = [x.float().requires_grad_() for x in inputs]
        keeps = ref.keep_matrix(case.mask, case.n, case.n, "cuda").view(1, 1, case.n, case.n)
        exact = torch.autograd.grad(loss_of(*ref.attention_f32(*leaves, keeps, 1.0 / D ** 0.5)),
                                    leaves)
        cells, problems = [], []
        for name, call in (
                ("ring", lambda q, k, v: cp.emulate_ring(q, k, v, plan, mask=case.mask,
                                                         cache_dir=cache, target=target())[:2]),
                ("ulysses", lambda q, k, v: cp.emulate_ulysses(q, k, v, WORLD, mask=case.mask,
                                                               cache_dir=cache,
                                                               target=target()))):
            ours = [x.detach().clone().requires_grad_() for x in inputs]
            try:
                grads = torch.autograd.grad(loss_of(*call(*ours)), ours)
            except Exception as error:  # a missing kernel names itself
                problems.append(f"{name}: {type(error).__name__}: {error}")
                cells.append("-")
                continue
            errs = []
            for label, g, e in zip(("dq", "dk", "dv"), grads, exact):
                err = ((g.float() - e).abs().nan_to_num(nan=float("inf")).max().item()
                       / max(e.abs().max().item(), 1e-30))
                errs.append(err)
                if not err <= GRAD_RTOL:
                    problems.append(f"{name} {label}: err {err:.2e} of max|g| > {GRAD_RTOL}")
            cells.append(" / ".join(f"{e:.1e}" for e in errs))
        failures += bool(problems)
        print(f"| {case.name} | {cells[0]} | {cells[1]} |"
              + (("  FAIL: " + "; ".join(problems)) if problems else ""), flush=True)
    return failures


def bench_cases(n: int) -> List[Case]:
    return [Case("causal", am.Causal(), n),
            Case("nbhd1d-w4096", am.Neighborhood(grid=[n], window=4096), n),
            Case("powerlaw-b256-w5-s1", am.PowerLaw(block=256, window=5, sink=1), n)]


def distributed(selected: List[Case], cache: Path, n: int, heads: int, seed: int) -> int:
    """Under torchrun (one process per GPU, NCCL): single GPU vs mask-aware
    ring vs mask-agnostic ring vs Ulysses, for bench_cases(n). Compile first
    with CP_WORLD=<ranks> ... --compile-only --n <n> on the build machine."""
    import torch
    import torch.distributed as dist
    import triton.testing
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(rank % torch.cuda.device_count())
    for case in bench_cases(n):
        gen = torch.Generator(device="cuda")
        gen.manual_seed(seed)
        q, k, v = (torch.randn(B, heads, n, D, generator=gen, device="cuda").to(torch.bfloat16)
                   for _ in range(3))
        times = {}
        for name, aware in (("ring, mask-aware", True), ("ring, mask-agnostic", False)):
            plan = cp.plan_context_parallel(case.mask, n, world, mask_aware=aware,
                                            cache_dir=cache)
            ql, kl, vl = (cp.local_chunks(x, plan, rank) for x in (q, k, v))

            def call(plan=plan, ql=ql, kl=kl, vl=vl):
                cp.ring_attention(ql, kl, vl, plan, mask=case.mask, cache_dir=cache,
                                  target=target())
                dist.barrier()
            times[name] = triton.testing.do_bench(call, return_mode="median")
        shard = n // world
        ql, kl, vl = (x[:, :, rank * shard:(rank + 1) * shard].contiguous() for x in (q, k, v))

        def ulysses():
            cp.ulysses_attention(ql, kl, vl, mask=case.mask, cache_dir=cache, target=target())
            dist.barrier()
        times["ulysses"] = triton.testing.do_bench(ulysses, return_mode="median")
        if rank == 0:
            single = triton.testing.do_bench(
                lambda: am.attention(q, k, v, mask=case.mask, cache_dir=cache, target=target()),
                return_mode="median")
            print(f"| {case.name} | {n} | {world} | {single:.3f} | " + " | ".join(
                f"{times[k]:.3f} ({single / times[k]:.2f}x)" for k in
                ("ring, mask-aware", "ring, mask-agnostic", "ulysses")) + " |", flush=True)
    dist.destroy_process_group()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distributed", action="store_true",
                        help="the benchmark under torchrun on several GPUs (not yet run)")
    parser.add_argument("--n", type=int, default=131072, help="--distributed: sequence length")
    parser.add_argument("--no-backward", action="store_true",
                        help="skip the gradients of the ring and Ulysses")
    parser.add_argument("--heads", type=int, default=16, help="--distributed: heads (D = 128 "
                        "there is not used: D stays %d)" % D)
    args = parser.parse_args()
    selected = select(cases(), args.only)
    if args.list:
        for c in selected:
            print(c.name)
        return 0
    cache = configure(args)
    if args.compile_only:
        world = int(os.environ.get("CP_WORLD", WORLD))
        if world != WORLD:  # the benchmark's plans and kernels for that world size
            return 1 if compile_all(bench_cases(args.n), cache, world, args.n, args.heads) else 0
        return 1 if compile_all(selected, cache) else 0
    if args.distributed:
        return distributed(selected, cache, args.n, args.heads, args.seed)
    failures = run(selected, cache, args.seed)
    if not args.no_backward:
        failures += run_backward(selected, cache, args.seed)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
