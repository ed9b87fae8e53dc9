#!/usr/bin/env python3
"""Host time of one attn_mlir forward + backward through autograd, on
shapes small enough that the kernels take microseconds: what a training
step pays per attention call beyond its kernels. Prints, per shape, the
median wall time of a step (synchronized) and the kernels' time in it
(CUDA events around the same step, profiler-free).

  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 utils/probes/autograd_overhead.py --compile-only --cache C
  python3 utils/probes/autograd_overhead.py --cache C        # GPU machine
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from common import add_common_args, compile_cases, configure, kernel_options  # noqa: E402
import attn_mlir as am  # noqa: E402

class Case:
    def __init__(self, shape, mask=None, label=""):
        self.shape = shape
        self.mask = mask
        self.name = "x".join(map(str, shape)) + (f" {label}" if label else "")


# Dense at two sizes, and a grid mask (what a masked call adds on the host:
# its spec key, its run-time operands).
CASES = [Case((1, 16, 256, 64)), Case((1, 16, 4096, 64)),
         Case((1, 16, 1024, 64), am.Neighborhood(grid=[32, 32], window=13), "nbhd2d-32x32-w13"),
         Case((1, 16, 16384, 128), am.Neighborhood(grid=[128, 128], window=13),
              "nbhd2d-128x128-w13")]


def spec_of(case: Case, backward: bool) -> am.AttentionSpec:
    spec = am.spec_for_shapes(case.shape, case.shape, case.shape, "bf16", mask=case.mask,
                              return_lse=True, **kernel_options())
    return spec.gradient() if backward else spec


def host_ms(torch, call, repeats: int = 200) -> str:
    """Median host time of one call, in ms, over batches of calls without a
    synchronization between them: the time to issue a batch (host work
    alone while the launch queue has room) and the batch's wall time up to
    the synchronization (the host's or the GPU's, whichever is longer)."""
    for _ in range(10):
        call()
    torch.cuda.synchronize()
    issues, walls = [], []
    count = repeats // 5
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(count):
            call()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        issues.append((t1 - t0) * 1e3 / count)
        walls.append((time.perf_counter() - t0) * 1e3 / count)
    return (f"{statistics.median(issues):.3f} ms to issue, "
            f"{statistics.median(walls):.3f} ms wall")


def print_layers(torch, case: Case, q, k, v, dy, cache) -> None:
    """Where a step's host time goes: each layer from the bare launch up to
    autograd, and PyTorch's own flash attention as the floor of a peer."""
    from attn_mlir import torch_api
    from attn_mlir.options import CallOptions
    options = kernel_options()
    call = CallOptions.create(mask=case.mask, return_lse=True, cache_dir=str(cache), **options)
    text = call.to_text()
    with torch.no_grad():
        prepared = am.prepare(q, k, v, mask=case.mask, return_lse=True, cache_dir=cache,
                              **options)
        out, lse = prepared()
    layers = {
        "prepare()d launch (ctypes only)": prepared,
        "torch_api.run_call": lambda: torch_api.run_call(q, k, v, None, None, None, None, call),
        "torch.ops.attn_mlir.attention": lambda: torch.ops.attn_mlir.attention(
            q, k, v, None, None, None, None, text),
        "torch_api.run_backward": lambda: torch_api.run_backward(
            q, k, v, out, lse, dy, None, None, None, None, None, call),
        "torch.ops.attn_mlir.attention_backward": lambda: torch.ops.attn_mlir.attention_backward(
            q, k, v, out, lse, dy, None, None, None, None, None, text),
    }
    for name, fn in layers.items():
        with torch.no_grad():
            print(f"  {name}: {host_ms(torch, fn)}")

    def ours():
        q.grad = k.grad = v.grad = None
        am.attention(q, k, v, mask=case.mask, cache_dir=cache, **options).backward(dy)

    def custom_op():
        q.grad = k.grad = v.grad = None
        torch.ops.attn_mlir.attention(q, k, v, None, None, None, None, text)[0].backward(dy)

    class Direct(torch.autograd.Function):
        """What attention() would cost in eager mode without the custom
        ops' dispatch: the same functions under a plain autograd.Function."""
        @staticmethod
        def forward(ctx, q, k, v):
            out, lse = torch_api.run_call(q, k, v, None, None, None, None, call)
            ctx.save_for_backward(q, k, v, out, lse)
            return out

        @staticmethod
        def backward(ctx, grad):
            q, k, v, out, lse = ctx.saved_tensors
            dq, dk, dv, _, _ = torch_api.run_backward(q, k, v, out, lse, grad, None, None,
                                                      None, None, None, call)
            return dq, dk, dv

    def direct():
        q.grad = k.grad = v.grad = None
        Direct.apply(q, k, v).backward(dy)

    def sdpa():
        q.grad = k.grad = v.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v).backward(dy)
    print(f"  attention() + backward (autograd): {host_ms(torch, ours)}")
    print(f"  the custom op + backward (autograd): {host_ms(torch, custom_op)}")
    print(f"  autograd.Function around run_call / run_backward + backward: "
          f"{host_ms(torch, direct)}")
    print(f"  SDPA + backward (autograd): {host_ms(torch, sdpa)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of 50 steps of the smallest shape and of "
                             "the masked one (host functions by own time), and torch.profiler's "
                             "CPU events of 50 steps")
    parser.add_argument("--source-dir", default=None,
                        help="with --profile: copy torch's custom-op modules here")
    args = parser.parse_args()
    cache = configure(args)
    cases = CASES
    if args.compile_only:
        failures = compile_cases("autograd_overhead", cases, lambda c: spec_of(c, False), cache)
        failures += compile_cases("autograd_overhead-backward", cases,
                                  lambda c: spec_of(c, True), cache)
        return 1 if failures else 0
    import torch
    for case in cases:
        q, k, v = (torch.randn(case.shape, device="cuda", dtype=torch.bfloat16)
                   .requires_grad_() for _ in range(3))
        dy = torch.randn(case.shape, device="cuda", dtype=torch.bfloat16)

        def step():
            q.grad = k.grad = v.grad = None
            am.attention(q, k, v, mask=case.mask, cache_dir=cache,
                         **kernel_options()).backward(dy)
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        walls, gpus, issues = [], [], []
        for _ in range(30):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter()
            start.record()
            step()
            t1 = time.perf_counter()
            end.record()
            torch.cuda.synchronize()
            walls.append((time.perf_counter() - t0) * 1e3)
            issues.append((t1 - t0) * 1e3)
            gpus.append(start.elapsed_time(end))
        # The host's issue time is the step's return on an idle GPU: where it
        # nears the GPU time, something in the step waits for the GPU.
        print(f"{case.name}: step {statistics.median(walls):.3f} ms wall, "
              f"{statistics.median(gpus):.3f} ms between events, "
              f"{statistics.median(issues):.3f} ms to issue")
        # PyTorch's own synchronizing calls (item(), host copies) in a step.
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            step()
            torch.cuda.set_sync_debug_mode("default")
        for warning in caught:
            print(f"  synchronizing call: {str(warning.message).splitlines()[0][:120]}")
        if case is cases[0] or case is cases[-1]:
            print_layers(torch, case, q, k, v, dy, cache)
        if args.profile and (case is cases[0] or case.mask is not None):
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(50):
                step()
            torch.cuda.synchronize()
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumtime").print_stats(40)
            # cProfile sees the main thread only; the backward runs on the
            # autograd engine's device thread. torch.profiler's CPU events
            # cover both (ops, the custom ops, the engine's nodes).
            from torch.profiler import ProfilerActivity, profile as torch_profile
            with torch_profile(activities=[ProfilerActivity.CPU]) as events:
                for _ in range(50):
                    step()
                torch.cuda.synchronize()
            averages = events.key_averages()
            print(averages.table(sort_by="self_cpu_time_total", row_limit=30))
            print(averages.table(sort_by="cpu_time_total", row_limit=30))
    # The custom-op layer's own source, to read what its dispatch does.
    if args.profile:
        import shutil
        import torch._library.autograd as library_autograd
        import torch._library.custom_ops as library_custom_ops
        for module in (library_custom_ops, library_autograd):
            print(f"# {module.__file__}")
            if args.source_dir:
                shutil.copy(module.__file__, args.source_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
