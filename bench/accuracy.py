#!/usr/bin/env python3
"""Accuracy of the quantized precisions on the GPU: the kernels' output
against an unquantized f64 reference of SEMANTICS.md section 1, as cosine
similarity and relative L1 = sum |O - O_ref| / sum |O_ref| over the whole
output (SEMANTICS.md section 3).

Problem: B = 1, H = 16, D = 128, dense, N = 4096 (--n 4096,16384 adds the
long one), bf16 and f16 inputs. Inputs: "normal" (Q, K, V ~ randn) and
"K offset" (K + 10 * randn(D): one offset per (b, head, channel) shared by
every key, the outlier channels SageAttention's smoothing exists for).
Precisions: sage1, sage2-8b, sage2-4b, fp8 and nvfp4 (NVFP4 through the
compiler's emulation of the block-scaled MMA where the chip lacks it, as
on the H100 / H200), each also with smoothing turned off
(Precision.preset(name, smooth_k=False, smooth_q=False); sage2-4b also
without smooth_q alone) to show what smoothing buys, and the unquantized
kernel of the input type as the floor of the metrics.

Thresholds (the issue; SageAttention's numbers on an H200 at N = 4096:
int8 + f16 cos 0.99993, rel-L1 0.011; int8 + fp8 cos 0.99927, rel-L1 0.038),
checked on the presets with smoothing, both inputs:
  sage1     cos >= 0.9999 and rel-L1 <= 0.012
  sage2-8b  cos >= 0.999  and rel-L1 <  0.038 (aim <= 0.03)
  sage2-4b  cos >= 0.99
Random normal inputs give flat attention rows, the hard case for 4-bit
Q.K: the CPU emulation gives sage2-4b cos ~0.98 on them (docs/Accuracy.md),
so its FAIL there is a finding, not a broken script.

  # build machine (attn-opt, no GPU, no torch): compile the kernels for
  # --target (default sm_90a, the H100/H200 GPU machine)
  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/accuracy.py --compile-only

  # GPU machine (torch, no attn-opt)
  python3 bench/accuracy.py [--n 4096,16384] [--only sage2-8b]

Prints a markdown table for docs/Accuracy.md ("On the H200"); exit 1 when a
checked row fails or a kernel is missing or wrong.
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

from common import (add_common_args, compile_cases, configure, kernel_options,  # noqa: E402
                    require_compiled, select, target)
import attn_mlir as am  # noqa: E402
from attn_mlir import Precision  # noqa: E402
from attn_mlir.errors import AttnTargetError  # noqa: E402
from attn_mlir.precision import as_precision  # noqa: E402
from attn_mlir.targets import FP8_TYPES  # noqa: E402

SCRIPT = "accuracy"
B, H, D = 1, 16, 128
DTYPES = ("bf16", "f16")
INPUTS = ("normal", "koffset")
K_OFFSET = 10.0
REF_CHUNK = 4096          # query rows per f64 reference block
DEVICE = "cuda"

# preset -> (cos at least, rel-L1 bound, strict "<" on rel-L1)
THRESHOLDS: Dict[str, Tuple[float, Optional[float], bool]] = {
    "sage1": (0.9999, 0.012, False),
    "sage2-8b": (0.999, 0.038, True),
    "sage2-4b": (0.99, None, False),
    # No published figure on these inputs: the CPU emulation of section 3
    # gives fp8 cos 0.99867 and nvfp4 0.98156 on normal inputs
    # (docs/Accuracy.md); the bounds leave a margin under those.
    # SageAttention3's NVFP4 (99.52 % on CogVideoX activations) is not
    # comparable with random inputs' flat rows.
    "fp8": (0.998, None, False),
    "nvfp4": (0.98, None, False),
}
AIM = {"sage2-8b": 0.03}


@dataclass
class Case:
    name: str                  # "<precision label>-<dtype>"
    label: str                 # "sage1", "sage1 without smoothing", "unquantized", ...
    dtype: str
    precision: Any             # a Precision or None (unquantized)
    preset: Optional[str]      # the preset whose thresholds apply (smoothing on), else None


def variants() -> List[Tuple[str, str, Any, Optional[str]]]:
    """(name part, label, precision, thresholds preset)."""
    rows: List[Tuple[str, str, Any, Optional[str]]] = [("unquantized", "unquantized", None, None)]
    for preset in ("sage1", "sage2-8b", "sage2-4b", "fp8", "nvfp4"):
        rows.append((preset, preset, Precision.preset(preset), preset))
        rows.append((f"{preset}-nosmooth", f"{preset} without smoothing",
                     Precision.preset(preset, smooth_k=False, smooth_q=False), None))
        if preset == "sage2-4b":
            rows.append((f"{preset}-nosmoothq", f"{preset} without smooth_q",
                         Precision.preset(preset, smooth_q=False), None))
        if preset == "sage1":
            # SageAttention2's int8 Q.K + f16 P.V kernel (the figures the
            # thresholds quote) groups Q and K per thread, not per block.
            rows.append((f"{preset}-thread64", f"{preset}, qk_granularity thread(64)",
                         Precision.preset(preset, qk_granularity="thread(64)"), preset))
    return rows


def cases() -> List[Case]:
    return [Case(f"{name}-{dtype}", label, dtype, precision, preset)
            for dtype in DTYPES for name, label, precision, preset in variants()]


def call_of(case: Case, n: int = 4096):
    # NVFP4 on a chip without the block-scaled MMA (the H100 / H200): the
    # compiler's emulation of it (common.kernel_options).
    shape = (B, H, n, D)
    return shape, shape, shape, case.dtype, {"precision": case.precision, "layout": "bhnd",
                                             **kernel_options(case.precision)}


def spec_of(case: Case) -> am.AttentionSpec:
    # Run-time lengths: one kernel serves every N.
    q, k, v, dtype, options = call_of(case)
    return am.spec_for_shapes(q, k, v, dtype, **options)


# ----------------------------------------------------------------------------
# Run mode.

def _inputs(n: int, dtype: str, kind: str, seed: int):
    import torch
    dt = {"bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    gen = torch.Generator(device=DEVICE)
    gen.manual_seed(seed)
    shape = (B, H, n, D)
    q = torch.randn(shape, generator=gen, device=DEVICE)
    k = torch.randn(shape, generator=gen, device=DEVICE)
    v = torch.randn(shape, generator=gen, device=DEVICE)
    if kind == "koffset":
        k = k + K_OFFSET * torch.randn((B, H, 1, D), generator=gen, device=DEVICE)
    return q.to(dt), k.to(dt), v.to(dt)


def reference_f64(q, k, v):
    """SEMANTICS.md section 1, dense, in f64 per (b, h) and block of query
    rows; returns f32 [B, H, N, D]."""
    import torch
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = torch.empty(q.shape[:-1] + (v.shape[-1],), dtype=torch.float32, device=q.device)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            kh = k[b, h].double()
            vh = v[b, h].double()
            for i0 in range(0, q.shape[2], REF_CHUNK):
                s = torch.matmul(q[b, h, i0:i0 + REF_CHUNK].double(), kh.t()) * scale
                p = torch.softmax(s, dim=-1)
                out[b, h, i0:i0 + REF_CHUNK] = torch.matmul(p, vh).float()
                del s, p
    return out


def _check(case: Case, cos: float, l1: float) -> Optional[bool]:
    """Thresholds of the case's preset; None when none apply."""
    if case.preset is None:
        return None
    cos_min, l1_max, strict = THRESHOLDS[case.preset]
    ok = cos >= cos_min
    if l1_max is not None:
        ok = ok and (l1 < l1_max if strict else l1 <= l1_max)
    return bool(ok)


def _threshold_text(case: Case) -> str:
    if case.preset is None:
        return "—"
    cos_min, l1_max, strict = THRESHOLDS[case.preset]
    text = f"cos >= {cos_min}"
    if l1_max is not None:
        text += f", rel-L1 {'<' if strict else '<='} {l1_max}"
        if case.preset in AIM:
            text += f" (aim <= {AIM[case.preset]})"
    return text


def run(selected: List[Case], sizes: List[int], cache: Path, seed: int) -> int:
    import torch
    import quant_reference as qref
    rows: List[Dict[str, Any]] = []
    failures = 0
    for n in sizes:
        for dtype in DTYPES:
            mine = [c for c in selected if c.dtype == dtype]
            if not mine:
                continue
            results: Dict[str, Dict[str, Any]] = {c.name: {"case": c, "N": n} for c in mine}
            for kind in INPUTS:
                start = time.time()
                q, k, v = _inputs(n, dtype, kind, seed)
                ref_o = reference_f64(q, k, v)
                print(f"# N={n} {dtype} {kind}: reference {time.time() - start:.1f}s", flush=True)
                for case in mine:
                    r = results[case.name]
                    missing = require_compiled(spec_of(case), cache)
                    if missing:
                        r["error"] = missing
                        continue
                    try:
                        out = torch.full_like(q, float("nan"))
                        am.attention(q, k, v, out=out, cache_dir=cache, precision=case.precision,
                                     **kernel_options(case.precision))
                        torch.cuda.synchronize()
                        nan = int(torch.isnan(out).sum())
                        cos = qref.cosine(out, ref_o)
                        l1 = qref.rel_l1(out, ref_o)
                        r[kind] = {"cos": cos, "l1": l1, "nan": nan}
                        # The precision's own limit: the f64 emulation of
                        # section 3 on the same inputs (no kernel involved).
                        emu = ""
                        if case.precision is not None and n <= 4096:  # memory: f64 [H, N, N]
                            emu_o, _ = qref.attention_quant(q, k, v, None, case.precision)
                            r[kind]["emu"] = (qref.cosine(emu_o, ref_o), qref.rel_l1(emu_o, ref_o))
                            emu = (f"  (emulation cos {r[kind]['emu'][0]:.6f} "
                                   f"rel-L1 {r[kind]['emu'][1]:.4f})")
                            del emu_o
                        print(f"  {case.label:<28} {kind:<8} cos {cos:.6f}  rel-L1 {l1:.4f}"
                              + emu + (f"  {nan} NaN/unwritten" if nan else ""), flush=True)
                        del out
                    except Exception as error:  # keep going: report every row
                        traceback.print_exc(limit=2)
                        r["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"[:200]
                del q, k, v, ref_o
                torch.cuda.empty_cache()
            for case in mine:
                r = results[case.name]
                if "error" not in r and all(kind in r for kind in INPUTS):
                    nan = sum(r[kind]["nan"] for kind in INPUTS)
                    checks = [_check(case, r[kind]["cos"], r[kind]["l1"]) for kind in INPUTS]
                    if nan:
                        r["result"] = "WRONG (NaN/unwritten)"
                        failures += 1
                    elif checks[0] is None:
                        r["result"] = "—"
                    else:
                        r["result"] = "PASS" if all(checks) else "FAIL"
                        failures += not all(checks)
                else:
                    failures += 1
                rows.append(r)
    print_table(rows)
    return failures


def print_table(rows: List[Dict[str, Any]]) -> None:
    print()
    print("| N | inputs | precision | normal: cos | normal: rel-L1 | K offset: cos | "
          "K offset: rel-L1 | emulation (normal): cos / rel-L1 | threshold | check |")
    print("|---:|---|---|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        case = r["case"]
        head = f"| {r['N']} | {case.dtype} | {case.label} |"
        if "error" in r or not all(kind in r for kind in INPUTS):
            print(f"{head} n/a ({r.get('error', 'not run')}) | | | | | {_threshold_text(case)} | "
                  f"{'FAIL' if case.preset else '—'} |")
            continue
        cells = []
        for kind in INPUTS:
            cells += [f"{r[kind]['cos']:.5f}", f"{r[kind]['l1']:.4f}"]
        emu = r["normal"].get("emu")
        cells.append(f"{emu[0]:.5f} / {emu[1]:.4f}" if emu else "—")
        print(f"{head} " + " | ".join(cells) + f" | {_threshold_text(case)} | {r['result']} |")
    print()
    print(f"B={B}, H={H}, D={D}, dense; cos and rel-L1 of the kernel's output against an f64 "
          "reference of SEMANTICS.md section 1 over the whole output; K offset: K + "
          f"{K_OFFSET:g} * randn(D) per (b, head, channel). Thresholds on both inputs.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--n", default="4096",
                        help="comma-separated sequence lengths (default 4096; e.g. 4096,16384)")
    parser.add_argument("--seed", type=int, default=0, help="input seed (default 0)")
    args = parser.parse_args()
    cache = configure(args)
    selected = select(cases(), args.only)
    if args.list:
        for c in selected:
            p = as_precision(c.precision)
            try:
                where = f"target {spec_of(c).target}"
            except AttnTargetError:
                # FP8 Q.K or P.V on a chip without the e4m3 mma.sync (sm_80).
                if p is None or not {p.qk, p.pv} & set(FP8_TYPES):
                    raise
                where = f"target {target()} (needs a chip with FP8 mma.sync)"
            print(f"{c.name:<28} {c.dtype:<4} {p.to_mlir() if p else 'unquantized'}  "
                  f"{where}  check: {_threshold_text(c)}")
        return 0
    if args.compile_only:
        return 1 if compile_cases(SCRIPT, selected, spec_of, cache) else 0

    import torch
    sizes = [int(x) for x in args.n.split(",") if x]
    print(f"# {torch.cuda.get_device_name()}  torch {torch.__version__}  cache {cache}  "
          f"B={B} H={H} D={D}  N={sizes}  seed {args.seed}")
    print(f"# target {target()}: on sm_90a sage2-8b and fp8 run the wgmma kernel, sage1 and "
          "sage2-4b the mma.sync one (sage2-4b's int4 products are emulated on an H100/H200: "
          "its speed there is not a result).")
    start = time.time()
    failures = run(selected, sizes, cache, args.seed)
    print(f"# {time.time() - start:.1f}s; {failures} row(s) failed or missing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
