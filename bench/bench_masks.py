#!/usr/bin/env python3
"""Mask benchmark: attn kernels against SDPA (flash, cuDNN) and
FlexAttention, bf16, B=1, H=16, D=128 (DESIGN.md "Performance method").

Per case: correctness first (our output against an f32 reference of
SEMANTICS.md on 256 random query rows, poisoned NaN output, no NaN left
anywhere), then the median time of triton.testing.do_bench for ours and each
peer on the same inputs. TFLOP/s counts the kept pairs exactly
(4 * D * kept_pairs * H * B / time); ratio = peer ms / our ms (> 1: ours is
faster). FlexAttention runs under torch.compile with a block mask built once
by create_block_mask from a mask_mod implementing the same mask
(bench/reference.py keep()); grid masks are measured twice: row-major token
order, and tokens permuted into the N-D query tiles attn-plan chooses for
the mma.sync kernel (query tile 128 tokens, key tile 64, Plan.cpp
getGridTile: 8x16 and 4x16 on a 128x128 grid), the mask_mod mapping
permuted positions back to grid coordinates.

Peers must really run what they claim (bench/peers.py): FlexAttention is
compiled once per mask, in its own function, with fullgraph=True (a graph
break raises instead of falling back to eager) and Dynamo errors not
suppressed; Dynamo's counters before and after the first call and the
warm-up must show a compiled graph, no graph break and no recompile, and
the first call must finish within --flex-compile-limit seconds (default
peers.COMPILE_LIMIT_S). SDPA flash / cuDNN run under sdpa_kernel with that
one backend (an unavailable backend raises), and one profiled call must
show that backend's kernels. A peer that fails any of this is reported as
`failed (<reason>)` in the table, never as a ratio; the full reasons are
printed below the table.

  # build machine (attn-opt, no GPU, no torch): compile the kernels, record compile times
  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/bench_masks.py --compile-only [--target sm_90a]

  # GPU machine (torch + triton, no attn-opt)
  cmake -S runtime -B build-rt && cmake --build build-rt
  python3 bench/bench_masks.py [--only nbhd2d] [--peers ours,flash,cudnn,flex,flex-tiled,gemm]

`gemm` (a default peer) times a bf16 torch.matmul of GEMM_SIZE^3 once per
run; the dense rows are reported as a fraction of that rate too.

Both modes compile for / look up --target (default sm_90a: the H100/H200
GPU machine; bench/common.py).

Quantized rows (dense-16384, causal-16384 and nbhd2d-128x128-w31 in
sage1, sage2-8b, sage2-4b and fp8; names end in the preset) run in the same
process on the same bf16 inputs: the whole call (quantization pre-kernels
and the attention kernel) timed the same way, TOPS = the same kept-pair
count / time, ratios to our bf16 kernel of the same case and to SDPA flash
and cuDNN (dense, causal), and the accuracy (cosine, rel-L1) against the f32
reference on QUANT_REF_ROWS random query rows, and the kernel family that
ran. On sm_90a sage2-8b and fp8 run the wgmma kernel (s8 or e4m3 Q.K,
e4m3 P.V); sage1
(f16 accumulation) and sage2-4b (int4 Q.K, which Hopper's tensor cores
only emulate) run the mma.sync one, so sage2-4b's times on an H100/H200 are
not a speed result. sage1's f16 P.V rounds the bf16 V to f16 (a
pre-kernel).

Prints markdown tables for bench/RESULTS.md. Compile time per kernel comes
from <cache>/compile_times.json written by the compile-only run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (add_common_args, compile_cases, compile_times, configure,  # noqa: E402
                    kernel_options, require_compiled, select, target)
import attn_mlir as am  # noqa: E402
from attn_mlir import Causal, Neighborhood, PowerLaw, Segments  # noqa: E402
import peers as peer_checks  # noqa: E402
import reference as ref  # noqa: E402
from attn_mlir.precision import as_precision  # noqa: E402

SCRIPT = "bench_masks"
B, H, D = 1, 16, 128
DTYPE = "bf16"
ATOL = 5e-2
REF_ROWS = 256
QUERY_TILE_TOKENS = 64   # attn-plan for the mma.sync kernel: grid masks take 64-token query patches
KEY_TILE_TOKENS = 64
PEERS = ("flash", "cudnn", "flex", "flex-tiled")
GEMM_SIZE = 8192   # the bf16 GEMM whose rate the dense rows are compared with
QUANT_PRESETS = ("sage1", "sage2-8b", "sage2-4b", "fp8")
QUANT_BASES = ("dense-16384", "causal-16384", "nbhd2d-128x128-w31")
QUANT_REF_ROWS = 1024
# Sanity bound on the quantized rows' cosine against f32 (a wrong kernel is
# far below; the accuracy itself is bench/accuracy.py's business).
QUANT_COS_MIN = {"sage1": 0.999, "sage2-8b": 0.998, "sage2-4b": 0.95, "fp8": 0.995}


@dataclass
class Case:
    name: str
    N: int
    mask: Any = None        # None: dense
    sdpa: bool = False      # SDPA peers apply (dense / causal)
    note: str = ""
    precision: Optional[str] = None   # quantized row: a preset name
    base: Optional[str] = None        # quantized row: the bf16 case it quantizes

    @property
    def grid(self) -> Optional[List[int]]:
        return list(self.mask.grid) if isinstance(self.mask, Neighborhood) else None


def cases() -> List[Case]:
    return _bf16_cases() + quantized_cases()


def _bf16_cases() -> List[Case]:
    # In-context video: segments [target prompt, reference prompt, target
    # video, reference video] = [226, 226, 17550, 17550]. References (rows 1
    # and 3) see only references (reference prompt and reference video);
    # targets (rows 0 and 2) see the target prompt, the target video and the
    # reference video (docs/Masks.md, SEMANTICS.md 2.5).
    in_context = Segments(query=[226, 226, 17550, 17550],
                          visibility=[["full", "none", "full", "full"],
                                      ["none", "full", "none", "full"],
                                      ["full", "none", "full", "full"],
                                      ["none", "full", "none", "full"]])
    return [
        Case("dense-4096", 4096, None, sdpa=True),
        Case("dense-16384", 16384, None, sdpa=True),
        Case("causal-16384", 16384, Causal(), sdpa=True),
        Case("nbhd1d-16384-w2049", 16384, Neighborhood(grid=[16384], window=2049)),
        Case("nbhd2d-128x128-w13", 16384, Neighborhood(grid=[128, 128], window=13)),
        Case("nbhd2d-128x128-w31", 16384, Neighborhood(grid=[128, 128], window=31)),
        Case("blocked2d-128x128-w16-s16", 16384, Neighborhood(grid=[128, 128], window=16, stride=16)),
        Case("strided2d-128x128-w24-s8", 16384, Neighborhood(grid=[128, 128], window=24, stride=8)),
        Case("nbhd3d-16x32x32-w5x9x9", 16384, Neighborhood(grid=[16, 32, 32], window=[5, 9, 9])),
        Case("powerlaw-32768-b256-w5-s1", 32768, PowerLaw(block=256, window=5, sink=1)),
        Case("incontext-226-226-17550-17550", 35552, in_context),
    ]


def quantized_cases() -> List[Case]:
    """The bases of QUANT_BASES in every preset of QUANT_PRESETS, after all
    bf16 rows (so a full run has measured the bf16 kernel they compare to)."""
    bases = {c.name: c for c in _bf16_cases()}
    return [Case(f"{name}-{preset}", bases[name].N, bases[name].mask, sdpa=bases[name].sdpa,
                 precision=preset, base=name)
            for preset in QUANT_PRESETS for name in QUANT_BASES]


# One description of the call, used by compile-only and the run.

def call_of(case: Case) -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], str, Dict[str, Any]]:
    shape = (B, H, case.N, D)
    # Every row, quantized ones included, is compiled for --target.
    options: Dict[str, Any] = {"mask": case.mask, "layout": "bhnd",
                               **kernel_options(case.precision)}
    if case.precision is not None:
        options["precision"] = case.precision
    return shape, shape, shape, DTYPE, options


def base_of(case: Case) -> Optional[Case]:
    """The bf16 case a quantized row compares with."""
    if case.base is None:
        return None
    return next(c for c in _bf16_cases() if c.name == case.base)


def spec_of(case: Case) -> am.AttentionSpec:
    q, k, v, dtype, options = call_of(case)
    return am.spec_for_shapes(q, k, v, dtype, **options)


# ----------------------------------------------------------------------------
# Run mode.

def _bench(fn, warmup: int, rep: int) -> float:
    import triton.testing
    return float(triton.testing.do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))


def _gemm_tflops(warmup: int, rep: int) -> float:
    """The bf16 tensor-core rate of this GPU in this run: a square
    GEMM_SIZE matmul (2 n^3 flops), checked against an f32 product on a
    slice first."""
    import torch
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, device="cuda", dtype=torch.bfloat16)
    c = a @ b
    expected = a[:64].float() @ b.float()
    if not torch.allclose(c[:64].float(), expected, rtol=2e-2, atol=1.0):
        raise RuntimeError("bf16 GEMM peer: wrong product")
    ms = _bench(lambda: a @ b, warmup, rep)
    return 2.0 * GEMM_SIZE ** 3 / ms * 1e-9


def _err_rows(out_bhnd, ref_o, rows) -> float:
    return (out_bhnd[:, :, rows].float() - ref_o).abs().nan_to_num(nan=float("inf")).max().item()


class Flex:
    """FlexAttention as a peer: flex_attention compiled once per mask, each
    in its own function, and checked to have really compiled
    (bench/peers.py)."""

    def __init__(self, compile_limit_s: float = peer_checks.COMPILE_LIMIT_S) -> None:
        import torch
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        self.torch = torch
        self.create_block_mask = create_block_mask
        self.flex_attention = flex_attention
        self.compile_limit_s = compile_limit_s
        config = torch._dynamo.config
        # A failing compile raises instead of silently running eagerly.
        config.suppress_errors = False
        if hasattr(config, "fail_on_recompile_limit_hit"):
            config.fail_on_recompile_limit_hit = True

    def block_mask(self, mask_mod, n: int):
        try:
            return self.create_block_mask(mask_mod, None, None, n, n, device="cuda", _compile=True)
        except TypeError:
            return self.create_block_mask(mask_mod, None, None, n, n, device="cuda")

    def compiled(self, scale: float):
        """flex_attention in a function of its own, compiled with
        fullgraph=True, in a fresh Dynamo state (so one mask's compile
        neither reuses nor counts against another's)."""
        self.torch._dynamo.reset()
        flex_attention = self.flex_attention

        def attend(q, k, v, block_mask):
            return flex_attention(q, k, v, block_mask=block_mask, scale=scale)
        return self.torch.compile(attend, fullgraph=True, dynamic=False)

    def counters(self):
        return self.torch._dynamo.utils.counters

    def check(self, fn, *args) -> "peer_checks.Verdict":
        """The first call (the compile) and the warm-up, judged by Dynamo's
        counters and the compile time."""
        verdict, seconds = peer_checks.compile_and_check(
            lambda: fn(*args), self.counters(), self.compile_limit_s,
            sync=self.torch.cuda.synchronize)
        if not verdict.ok:
            self.torch._dynamo.reset()  # a stopped or failed compile leaves no state behind
        return verdict


def sdpa_verdict(name: str, run) -> "peer_checks.Verdict":
    """One call of an SDPA peer under the profiler: it must run (the
    single-backend sdpa_kernel raises when the backend is unavailable) and
    show that backend's kernels only."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            run()
            torch.cuda.synchronize()
    except Exception as error:  # noqa: BLE001 -- an unavailable backend is a verdict
        return peer_checks.verdict_from_error(error, "SDPA")
    names = [e.name for e in prof.events() if getattr(e.device_type, "name", "") == "CUDA"]
    return peer_checks.judge_sdpa(name, names)


def _run_once(case: Case, cache: Path, times: Dict[str, Any], ref_rows: int,
              row: Dict[str, Any]):
    """What every row does before timing: the compile record, the inputs
    (bf16, seed 1234: a quantized row sees its base's), the exact kept
    pairs (one head; every head and batch has the same mask), the f32
    reference on `ref_rows` random rows, and one call into a NaN-poisoned
    output. None (with row["error"]) when the kernel is not compiled."""
    import torch
    device = torch.device("cuda")
    rec = times.get(case.name, {})
    row["compile_s"] = rec.get("seconds") if rec.get("ok") else None
    missing = require_compiled(spec_of(case), cache)
    if missing:
        row["error"] = missing
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(1234)
    q_shape, k_shape, v_shape, _, options = call_of(case)
    q, k, v = (torch.randn(shape, generator=gen, device=device, dtype=torch.bfloat16)
               for shape in (q_shape, k_shape, v_shape))
    t0 = time.time()
    kept = ref.count_kept(case.mask, case.N, case.N, device, chunk=2048)
    row["kept_pairs"] = kept
    row["density"] = kept / (case.N * case.N)
    rows = torch.randperm(case.N, generator=gen, device=device)[:ref_rows].sort().values
    keep_rows = ref.keep_matrix(case.mask, case.N, case.N, device, rows)
    ref_o, _ = ref.attention_f32(q[:, :, rows], k, v, keep_rows, 1.0 / math.sqrt(D), rows=rows)
    del keep_rows
    out = torch.full((B, H, case.N, D), float("nan"), dtype=torch.bfloat16, device=device)
    am.attention(q, k, v, out=out, cache_dir=cache, **options)
    torch.cuda.synchronize()
    nan = int(torch.isnan(out).sum())
    return q, k, v, options, out, rows, ref_o, nan, t0


def run_case(case: Case, cache: Path, peers: List[str], warmup: int, rep: int,
             flex: Optional[Flex], times: Dict[str, Any]) -> Dict[str, Any]:
    import torch
    device = torch.device("cuda")
    row: Dict[str, Any] = {"case": case.name, "N": case.N}
    run = _run_once(case, cache, times, REF_ROWS, row)
    if run is None:
        return row
    q, k, v, options, out, rows, ref_o, nan, t0 = run
    flops = 4.0 * D * row["kept_pairs"] * H * B
    scale = 1.0 / math.sqrt(D)
    err = _err_rows(out, ref_o, rows)
    row["err"] = err
    row["ok"] = nan == 0 and err <= ATOL
    if not row["ok"]:
        row["error"] = f"wrong: max err {err:.3g} on {REF_ROWS} rows, {nan} NaN/unwritten"
    row["setup_s"] = time.time() - t0

    # The kernels alone: planning and argument marshalling happen once
    # (attn_mlir.prepare), as a framework would cache them per shape.
    launch = am.prepare(q, k, v, out=out, cache_dir=cache, **options)
    row["kernel"] = launch.kernel_family
    ms = _bench(launch, warmup, rep)
    row["ours_ms"] = ms
    row["ours_tflops"] = flops / ms * 1e-9
    row["peers"] = {}

    def peer(name: str, fn, check=None, verify=None, watch=None) -> None:
        """Times `fn` after `verify()` (a Verdict: did the peer really run
        what it claims?) and `check()` (its error on the reference rows).
        `watch`: Dynamo's counters, which must not move while timing."""
        try:
            if verify is not None:
                verdict = verify()
                if not verdict.ok:
                    row["peers"][name] = peer_checks.failed_entry(verdict)
                    return
            note = check() if check is not None else ""
            before = peer_checks.snapshot(watch) if watch is not None else None
            pms = _bench(fn, warmup, rep)
            if watch is not None:
                verdict = peer_checks.judge_steady(
                    peer_checks.delta(before, peer_checks.snapshot(watch)))
                if not verdict.ok:
                    row["peers"][name] = peer_checks.failed_entry(verdict)
                    return
            row["peers"][name] = {"ms": pms, "tflops": flops / pms * 1e-9, "note": note}
        except Exception as error:
            traceback.print_exc(limit=2, file=sys.stderr)
            row["peers"][name] = peer_checks.failed_entry(
                peer_checks.verdict_from_error(error, name))
        finally:
            torch.cuda.synchronize()

    if case.sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        import torch.nn.functional as F
        causal = case.mask is not None
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            if name not in peers:
                continue

            def run(backend=backend):
                # Only this backend: an unavailable one raises, it never
                # falls back to the math path.
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

            def check(run=run):
                o = run()
                e = _err_rows(o, ref_o, rows)
                return f"err {e:.2e}"
            peer(name, run, check, verify=lambda name=name, run=run: sdpa_verdict(name, run))

    if flex is not None and "flex" in peers:
        try:
            flex_fn = flex.compiled(scale)   # a fresh Dynamo state, then the block mask
            block = None
            if case.mask is not None:
                def mask_mod(b, h, qi, ki, mask=case.mask, n=case.N):
                    return ref.keep(mask, qi, ki, n, n)
                block = flex.block_mask(mask_mod, case.N)

            def run_flex(fn=flex_fn, block=block):
                return fn(q, k, v, block)

            def check_flex(run=run_flex):
                return f"err {_err_rows(run(), ref_o, rows):.2e}"
            peer("flex", run_flex, check_flex,
                 verify=lambda fn=flex_fn, block=block: flex.check(fn, q, k, v, block),
                 watch=flex.counters())
        except Exception as error:
            traceback.print_exc(limit=2, file=sys.stderr)
            row["peers"]["flex"] = peer_checks.failed_entry(
                peer_checks.verdict_from_error(error, "block mask"))

    grid = case.grid
    if flex is not None and "flex-tiled" in peers and grid is not None and len(grid) > 1:
        try:
            tile = ref.grid_tile(grid, QUERY_TILE_TOKENS)
            key_tile = ref.grid_tile(grid, KEY_TILE_TOKENS)
            row["tiles"] = f"q {'x'.join(map(str, tile))}, k {'x'.join(map(str, key_tile))}"
            perm = torch.tensor(ref.tile_permutation(grid, tile), device=device, dtype=torch.int64)
            inv = torch.empty_like(perm)
            inv[perm] = torch.arange(case.N, device=device)
            qp, kp, vp = (x[:, :, perm].contiguous() for x in (q, k, v))
            perm32 = perm.to(torch.int32)

            def mask_mod_p(b, h, qi, ki, mask=case.mask, n=case.N, perm=perm32):
                return ref.keep(mask, perm[qi], perm[ki], n, n)
            flex_fn_p = flex.compiled(scale)
            block_p = flex.block_mask(mask_mod_p, case.N)

            def run_flex_p():
                return flex_fn_p(qp, kp, vp, block_p)

            def check_flex_p():
                o = run_flex_p()[:, :, inv]  # back to row-major token order
                return f"err {_err_rows(o, ref_o, rows):.2e}"
            peer("flex-tiled", run_flex_p, check_flex_p,
                 verify=lambda: flex.check(flex_fn_p, qp, kp, vp, block_p),
                 watch=flex.counters())
        except Exception as error:
            traceback.print_exc(limit=2, file=sys.stderr)
            row["peers"]["flex-tiled"] = peer_checks.failed_entry(
                peer_checks.verdict_from_error(error, "setup"))
    return row


def run_quant_case(case: Case, cache: Path, peers: List[str], warmup: int, rep: int,
                   times: Dict[str, Any], bf16_ms: Dict[str, float]) -> Dict[str, Any]:
    """A quantized row: same inputs as its bf16 base (seed 1234), the whole
    call timed, accuracy on QUANT_REF_ROWS rows, ratios to our bf16 kernel
    (measured now when the base row did not run) and to SDPA."""
    import torch
    import quant_reference as qref
    row: Dict[str, Any] = {"case": case.name, "N": case.N, "precision": case.precision,
                           "quant": True}
    # Accuracy against f32 on QUANT_REF_ROWS random rows; poisoned output.
    run = _run_once(case, cache, times, QUANT_REF_ROWS, row)
    if run is None:
        return row
    q, k, v, options, out, rows, ref_o, nan, t0 = run
    ops = 4.0 * D * row["kept_pairs"] * H * B
    row["cos"] = qref.cosine(out[:, :, rows], ref_o)
    row["rel_l1"] = qref.rel_l1(out[:, :, rows], ref_o)
    cos_min = QUANT_COS_MIN[case.precision]
    row["ok"] = nan == 0 and row["cos"] >= cos_min
    if not row["ok"]:
        row["error"] = (f"wrong: cos {row['cos']:.6f} (sanity bound {cos_min}) on "
                        f"{QUANT_REF_ROWS} rows, {nan} NaN/unwritten")
    del ref_o
    row["setup_s"] = time.time() - t0

    launch = am.prepare(q, k, v, out=out, cache_dir=cache, **options)
    row["kernel"] = launch.kernel_family
    ms = _bench(launch, warmup, rep)
    row["ours_ms"] = ms
    row["ours_tops"] = ops / ms * 1e-9

    base = base_of(case)
    if case.base in bf16_ms:
        row["bf16_ms"] = bf16_ms[case.base]
    elif base is not None and require_compiled(spec_of(base), cache) is None:
        _, _, _, _, base_options = call_of(base)
        out_bf16 = torch.empty_like(out)
        row["bf16_ms"] = _bench(am.prepare(q, k, v, out=out_bf16, cache_dir=cache, **base_options),
                                warmup, rep)
        bf16_ms[case.base] = row["bf16_ms"]
    row["peers"] = {}
    if case.sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        import torch.nn.functional as F
        causal = case.mask is not None
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            if name not in peers:
                continue

            def run(backend=backend):
                with sdpa_kernel(backend):   # this backend only: never the math fallback
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            try:
                verdict = sdpa_verdict(name, run)
                row["peers"][name] = ({"ms": _bench(run, warmup, rep)} if verdict.ok
                                      else peer_checks.failed_entry(verdict))
            except Exception as error:
                row["peers"][name] = peer_checks.failed_entry(
                    peer_checks.verdict_from_error(error, name))
            finally:
                torch.cuda.synchronize()
    return row


def print_quant_table(rows: List[Dict[str, Any]]) -> None:
    if not rows:
        return
    print()
    print("| case | precision | kernel | kept | ours ms | ours TOPS | vs ours bf16 | "
          "vs SDPA-flash | vs SDPA-cuDNN | cos | rel-L1 | compile s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        comp = f"{r['compile_s']:.2f}" if r.get("compile_s") is not None else "n/a"
        if "ours_ms" not in r:
            print(f"| {r['case']} | {r['precision']} | | | n/a ({r.get('error', '?')}) | | | | | "
                  f"| | {comp} |")
            continue

        def ratio(other_ms: Optional[float]) -> str:
            return f"{other_ms / r['ours_ms']:.2f} ({other_ms:.3f} ms)" if other_ms else "—"
        peers = r.get("peers", {})
        cells = [ratio(r.get("bf16_ms"))]
        for name in ("flash", "cudnn"):
            p = peers.get(name)
            cells.append("—" if p is None else f"failed ({p['failed']})" if "failed" in p
                         else ratio(p["ms"]))
        ok = "" if r.get("ok") else " **WRONG**"
        print(f"| {r['case']} | {r['precision']} | {r.get('kernel') or '?'} | "
              f"{100 * r['density']:.2f}% | {r['ours_ms']:.3f} | "
              f"{r['ours_tops']:.0f} | " + " | ".join(cells) +
              f" | {r['cos']:.5f}{ok} | {r['rel_l1']:.4f} | {comp} |")
    print()
    print("Quantized rows: the whole call (quantization pre-kernels + attention kernel) on the "
          "bf16 inputs of the base case. TOPS = 4*D*kept_pairs*H*B / time (as TFLOP/s above); "
          "vs X = X ms / ours ms (> 1: the quantized kernel is faster), X ms in parentheses; "
          f"cos, rel-L1 against the f32 reference on {QUANT_REF_ROWS} random query rows. "
          f"Compiled for {target()}; kernel: the MMA family that ran. sage2-4b's int4 "
          "mma.sync has no Hopper tensor-core path: its times on an H100/H200 are not a "
          "speed result.")
    print_failures(rows)


def print_failures(rows: List[Dict[str, Any]]) -> None:
    """The full reason of every peer shown as `failed (...)` above."""
    notes = peer_checks.failure_notes(rows)
    if notes:
        print("\nPeers reported as failed (not timed, no ratio: they did not run the code the "
              "column names):")
        print("\n".join(notes))


def _fmt_peer(row: Dict[str, Any], name: str) -> Tuple[str, str]:
    """(ms / TFLOP/s cell, ratio cell); a failed peer gets `failed (...)`
    instead of a ratio (bench/peers.py)."""
    return peer_checks.peer_cells(row.get("peers", {}).get(name), row["ours_ms"])


def print_table(rows: List[Dict[str, Any]]) -> None:
    print()
    print("| case | N | kept | ours ms | ours TFLOP/s | max err | compile s | "
          "SDPA-flash ms / TFLOP/s | ratio | SDPA-cuDNN ms / TFLOP/s | ratio | "
          "Flex ms / TFLOP/s | ratio | Flex tiled ms / TFLOP/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "ours_ms" not in r:
            print(f"| {r['case']} | {r['N']} | | n/a ({r.get('error', '?')}) | | | "
                  f"{r.get('compile_s') or 'n/a'} | | | | | | | | |")
            continue
        cells = []
        for name in PEERS:
            cells.extend(_fmt_peer(r, name))
        comp = f"{r['compile_s']:.2f}" if r.get("compile_s") is not None else "n/a"
        ok = "" if r.get("ok") else " **WRONG**"
        print(f"| {r['case']} | {r['N']} | {100 * r['density']:.2f}% | {r['ours_ms']:.3f} | "
              f"{r['ours_tflops']:.0f} | {r['err']:.1e}{ok} | {comp} | " + " | ".join(cells) + " |")
    print()
    print("kept: kept pairs / N^2; TFLOP/s = 4*D*kept_pairs*H*B / time; ratio = peer ms / ours ms "
          "(> 1: ours faster); Flex tiled: tokens permuted into attn-plan's N-D tiles of the "
          "mma.sync kernel.")
    notes = [f"- {r['case']}: {name}: {p['note']}" for r in rows
             for name, p in r.get("peers", {}).items() if p.get("note")]
    notes += [f"- {r['case']}: tiles {r['tiles']}" for r in rows if r.get("tiles")]
    if notes:
        print("\nPeer checks against the same f32 reference rows (max abs err), tiles:")
        print("\n".join(notes))
    print_failures(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--peers", default=",".join(PEERS + ("gemm",)),
                        help=f"comma-separated subset of {','.join(PEERS)},gemm (default all)")
    parser.add_argument("--head-dim", type=int, default=128,
                        help="D of every case (default 128; the targets are stated for 128): "
                             "a multiple of 8 up to 256, e.g. 80 or 96 to time the padded "
                             "head dims against SDPA")
    parser.add_argument("--warmup", type=int, default=25, help="do_bench warmup, ms")
    parser.add_argument("--rep", type=int, default=100, help="do_bench repetitions, ms")
    parser.add_argument("--flex-compile-limit", type=float, default=peer_checks.COMPILE_LIMIT_S,
                        help="seconds the first (compiling) call of FlexAttention may take per "
                             "mask before the peer is reported as failed (default "
                             f"{peer_checks.COMPILE_LIMIT_S:g}; bench/peers.py says why)")
    args = parser.parse_args()
    globals()["D"] = args.head_dim   # every case's D, read at call time
    cache = configure(args)
    selected = select(cases(), args.only)
    if args.list:
        for c in selected:
            tiles = ""
            if c.grid and len(c.grid) > 1:
                tiles = (f"  tiles q {ref.grid_tile(c.grid, QUERY_TILE_TOKENS)} "
                         f"k {ref.grid_tile(c.grid, KEY_TILE_TOKENS)}")
            prec = f"  precision {as_precision(c.precision).to_mlir()} target {spec_of(c).target}" \
                if c.precision else ""
            print(f"{c.name:<32} N={c.N:<6} {c.mask.to_mlir() if c.mask is not None else 'dense'}"
                  f"{tiles}{prec}")
        return 0
    if args.compile_only:
        # A quantized row's ratio needs its bf16 base kernel too.
        names = {c.name for c in selected}
        bases = [b for b in (base_of(c) for c in selected) if b is not None and b.name not in names]
        unique = list({b.name: b for b in bases}.values())
        return 1 if compile_cases(SCRIPT, selected + unique, spec_of, cache) else 0

    import torch
    peers = [p for p in args.peers.split(",") if p]
    times = compile_times(cache, SCRIPT)
    print(f"# {torch.cuda.get_device_name()}  torch {torch.__version__}  cache {cache}  "
          f"B={B} H={H} D={D} {DTYPE}  do_bench warmup {args.warmup} ms rep {args.rep} ms (median)")
    flex = None
    if "flex" in peers or "flex-tiled" in peers:
        try:
            flex = Flex(args.flex_compile_limit)
        except Exception as error:
            print(f"# FlexAttention unavailable: {type(error).__name__}: {error}")
    gemm_tflops = None
    if "gemm" in peers:
        try:
            gemm_tflops = _gemm_tflops(args.warmup, args.rep)
        except Exception as error:   # a peer's failure is reported, not fatal
            print(f"# bf16 GEMM peer failed: {type(error).__name__}: {error}")
    if gemm_tflops:
        print(f"# bf16 GEMM (torch.matmul {GEMM_SIZE}^3): {gemm_tflops:.0f} TFLOP/s")
    rows = []
    bf16_ms: Dict[str, float] = {}
    failed = False
    start_all = time.time()
    if any(c.precision for c in selected):
        print("# quantized rows: sage2-4b's int4 mma.sync is emulated on an H100/H200: its "
              "times are not a speed result")
    for case in selected:
        start = time.time()
        try:
            if case.precision is None:
                row = run_case(case, cache, peers, args.warmup, args.rep, flex, times)
                if "ours_ms" in row:
                    bf16_ms[case.name] = row["ours_ms"]
            else:
                row = run_quant_case(case, cache, peers, args.warmup, args.rep, times, bf16_ms)
        except Exception as error:
            traceback.print_exc()
            row = {"case": case.name, "N": case.N, "error": f"{type(error).__name__}: {error}",
                   "precision": case.precision, "quant": case.precision is not None}
        rows.append(row)
        failed |= not row.get("ok", False)
        if "ours_ms" not in row:
            summary = row.get("error")
        elif row.get("quant"):
            vs = f" vs bf16 {row['bf16_ms'] / row['ours_ms']:.2f}x" if row.get("bf16_ms") else ""
            summary = (f"ours {row['ours_ms']:.3f} ms {row['ours_tops']:.0f} TOPS{vs} "
                       f"cos {row['cos']:.5f} rel-L1 {row['rel_l1']:.4f}")
        else:
            summary = (f"ours {row['ours_ms']:.3f} ms {row['ours_tflops']:.0f} TFLOP/s "
                       f"err {row['err']:.1e}")
        peer_text = "  ".join(f"{n} {p['ms']:.3f}" if "ms" in p
                              else f"{n} failed ({p.get('failed', '?')})"
                              for n, p in row.get("peers", {}).items())
        print(f"{'ok  ' if row.get('ok') else 'FAIL'} {case.name:<32} {summary}  {peer_text}  "
              f"({time.time() - start:.1f}s)", flush=True)
        torch.cuda.empty_cache()
    print(f"# total {time.time() - start_all:.1f}s")
    print_table([r for r in rows if not r.get("quant")])
    if gemm_tflops:
        dense = [f"{r['case']} {r['ours_tflops'] / gemm_tflops:.2f}" for r in rows
                 if not r.get("quant") and r.get("density") == 1.0 and "ours_tflops" in r]
        print(f"\nDense rows against the bf16 GEMM rate of this run ({gemm_tflops:.0f} "
              f"TFLOP/s): {', '.join(dense) or 'none'}")
    print_quant_table([r for r in rows if r.get("quant")])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
