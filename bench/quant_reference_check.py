#!/usr/bin/env python3
"""Self-check of bench/quant_reference.py: its vectorized torch emulation
against a scalar, loop-by-loop port of the C++ reference emulation
(unittests/Reference/AttentionReference.cpp, emulatedHead) on small random
problems: 9 precisions (the presets, token / block / tensor / thread
granularities, i8 / i4 / E4M3 Q.K, f16 / bf16 / E4M3 P.V, smooth_q,
accumulators), f16 and bf16 inputs, GQA, a mask with an empty row and K with
channel offsets; both the final-max emulation and the running-max model
(kv_tile). Then NVFP4 (qk and / or pv = f4E2M1FN, 6 precisions) on odd
sizes (Nq = 37, Nk = 83, D = 40), softmax scales 1/sqrt(D) and 2, with
blocks whose E4M3 scale rounds to 0 or is subnormal, P's key tiles of 16,
24 and 64. Needs torch (CPU is enough), not a GPU:

  python3 bench/quant_reference_check.py        # exit 1 on a mismatch

The final-max emulation does not model the f16 accumulator, so sage1
differs from the scalar port there by the f16 accumulation (~1e-3); every
other comparison must agree to 1e-12.

Where attn-opt ($ATTN_OPT or build/bin/attn-opt) and mlir-runner (on PATH
or /usr/lib/llvm-*/bin) are found, the NVFP4 cases also run through the
CPU lowering (attn-cpu-pipeline with key-tile = 16, 24, 64, a sliding
window) against the running-max model with the same key tile; --no-cpu
skips that.
"""

from __future__ import annotations

import itertools
import math
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401  (puts <repo>/python on sys.path)
import attn_mlir as am  # noqa: E402
from attn_mlir import Precision  # noqa: E402
import quant_reference as qr  # noqa: E402
import reference as ref  # noqa: E402


# ----------------------------------------------------------------------------
# Scalar port of the C++ emulation (one head, Python floats).


def rb(x, fraction, emin):
    if x == 0 or not math.isfinite(x): return x
    m, e = math.frexp(x)
    ex = max(e - 1, emin)
    qn = math.ldexp(1.0, ex - fraction)
    return round(x / qn) * qn   # python round: half even

def r16(x):
    r = rb(x, 10, -14); return math.copysign(math.inf, r) if abs(r) > 65504 else r
def rbf(x):
    r = rb(x, 7, -126); return r
def r8(x):
    r = rb(x, 3, -6); return max(-448.0, min(448.0, r))
def r4(x):
    r = rb(x, 1, 0); return max(-6.0, min(6.0, r))
def f32(x): return struct.unpack('f', struct.pack('f', x))[0]
def roundto(t, x):
    return {"f16": r16, "bf16": rbf, "f8E4M3FN": r8, "f4E2M1FN": r4}[t](x)

# NVFP4: block scale E4M3(max / 6) (1 for an all-zero block), value
# E2M1(x / scale) (0 when the scale rounded to 0).
def fp4_scale(mx): return 1.0 if mx == 0 else r8(mx / 6.0)
def fp4_value(x, sc): return 0.0 if sc == 0 else r4(x / sc)

def quant_fp4(x, rows, cols):
    """E2M1 values and, per row, the scales of its blocks of 16 columns."""
    vals = [r[:] for r in x]; scales = []
    for r in range(rows):
        scales.append([])
        for c0 in range(0, cols, 16):
            c1 = min(cols, c0 + 16)
            sc = fp4_scale(max(abs(x[r][c]) for c in range(c0, c1)))
            scales[r].append(sc)
            for c in range(c0, c1): vals[r][c] = fp4_value(x[r][c], sc)
    return vals, scales

def round_p_fp4(pn, k0, k1):
    """P of keys [k0, k1) (one key tile) in two levels, in place; the
    dequantized p is rounded to f32 as the CPU lowering stores it (the C++
    emulation keeps it in f64)."""
    rmax = max(pn[j] for j in range(k0, k1))
    rs = f32(rmax / (6.0 * 448.0))
    if rs == 0:
        for j in range(k0, k1): pn[j] = 0.0
        return
    b0 = k0
    while b0 < k1:
        b1 = min(k1, (b0 // 16 + 1) * 16)
        sc = fp4_scale(max(pn[j] / rs for j in range(b0, b1)))
        for j in range(b0, b1): pn[j] = f32(fp4_value(pn[j] / rs, sc) * sc * rs)
        b0 = b1

def group(kind, size, t):
    return {"tensor": 0, "block": t // size if size else 0, "thread": (t // size) * 8 + t % 8 if size else 0, "token": t}[kind]

def quant(x, rows, cols, qk, kind, size):
    vals = [r[:] for r in x]; scales = [1.0] * rows
    if qk is None: return vals, scales
    if qk in ("f16", "bf16"):
        return [[roundto(qk, v) for v in r] for r in x], scales
    qmax = {"i8": 127, "i4": 7, "f8E4M3FN": 448}[qk]
    g = [group(kind, size, r) for r in range(rows)]
    mx = {}
    for r in range(rows):
        for c in range(cols): mx[g[r]] = max(mx.get(g[r], 0.0), abs(x[r][c]))
    for r in range(rows):
        sc = 1.0 if mx[g[r]] == 0 else f32(mx[g[r]] / qmax)
        scales[r] = sc
        for c in range(cols):
            if qk == "f8E4M3FN": vals[r][c] = r8(x[r][c] / sc)
            else: vals[r][c] = float(max(-qmax, min(qmax, round(x[r][c] / sc))))
    return vals, scales

def head(q, k, v, keep, prec, scale, T, vdtype, qblock_default=64, ptile=None):
    Nq, D = len(q), len(q[0]); Nk, Dv = len(k), len(v[0])
    qk, gran, sk, sq, pv, acc_kind = prec
    kind, size = gran if gran else (None, 0)
    orig_q_row = [r[:] for r in q]
    q = [r[:] for r in q]; k = [r[:] for r in k]
    meanK = [0.0] * D
    if sk:
        for c in range(D): meanK[c] = sum(k[j][c] for j in range(Nk)) / Nk
        for j in range(Nk):
            for c in range(D): k[j][c] -= meanK[c]
    qb = 1; dS = None
    if sq:
        qb = size if kind in ("block", "thread") else 1 if kind == "token" else Nq if kind == "tensor" else qblock_default
        nb = (Nq + qb - 1) // qb; dS = [[0.0] * Nk for _ in range(nb)]
        for b in range(nb):
            i0, i1 = b * qb, min(Nq, b * qb + qb)
            mq = [sum(q[i][c] for i in range(i0, i1)) / (i1 - i0) for c in range(D)]
            for i in range(i0, i1):
                for c in range(D): q[i][c] -= mq[c]
            for j in range(Nk): dS[b][j] = f32(sum(mq[c] * k[j][c] for c in range(D)))
    fp4 = qk == "f4E2M1FN"
    qv, qs = quant_fp4(q, Nq, D) if fp4 else quant(q, Nq, D, qk, kind, size)
    kv, ks = quant_fp4(k, Nk, D) if fp4 else quant(k, Nk, D, qk, kind, size)
    def score(i, j):
        if fp4:   # one factor per block of 16 channels
            s = sum(qs[i][b] * ks[j][b] * scale
                    * sum(qv[i][c] * kv[j][c] for c in range(16 * b, min(D, 16 * b + 16)))
                    for b in range(len(qs[i])))
        else:
            s = qs[i] * ks[j] * scale * sum(qv[i][c] * kv[j][c] for c in range(D))
        if sq: s += scale * dS[i // qb][j]
        return s
    pvt = pv if pv is not None else vdtype
    vhat = [r[:] for r in v]; undo = [1.0] * Dv
    if pvt in ("f16", "bf16"):
        vhat = [[roundto(pvt, x) for x in r] for r in v]
    elif pvt == "f8E4M3FN":
        for c in range(Dv):
            mx = max(abs(v[j][c]) for j in range(Nk))
            sc = 1.0 if mx == 0 else f32(mx / 448)
            for j in range(Nk): vhat[j][c] = r8(v[j][c] / sc)
            undo[c] = sc / 448
    elif pvt == "f4E2M1FN":
        for c in range(Dv):
            for j0 in range(0, Nk, 16):
                j1 = min(Nk, j0 + 16)
                sc = fp4_scale(max(abs(v[j][c]) for j in range(j0, j1)))
                for j in range(j0, j1): vhat[j][c] = fp4_value(v[j][c], sc) * sc
    O = [[0.0] * Dv for _ in range(Nq)]; LSE = [-math.inf] * Nq
    for i in range(Nq):
        if not any(keep[i]): continue
        s = [score(i, j) if keep[i][j] else -math.inf for j in range(Nk)]
        m = -math.inf; l = 0.0; acc = [0.0] * Dv
        for j0 in range(0, Nk, T):
            j1 = min(Nk, j0 + T)
            mn = m
            for j in range(j0, j1):
                if keep[i][j]: mn = max(mn, s[j])
            mu = 0.0 if mn == -math.inf else mn
            alpha = math.exp(m - mu)
            pn = {}
            rs = 0.0
            for j in range(j0, j1):
                e = math.exp(s[j] - mu) if keep[i][j] else 0.0
                rs += e; pn[j] = e
            l = alpha * l + rs
            for j in pn:
                if pvt in ("f16", "bf16"): pn[j] = roundto(pvt, pn[j])
                elif pvt == "f8E4M3FN": pn[j] = r8(pn[j] * 448)
            if pvt == "f4E2M1FN":   # P's key tiles: the online tile, or ptile keys
                for t0 in range(j0, j1, ptile or T):
                    round_p_fp4(pn, t0, min(j1, t0 + (ptile or T)))
            if acc_kind == "f16":
                for c in range(Dv):
                    acc[c] = r16(alpha * acc[c])
                    for c0 in range(j0, j1, 16):
                        c1 = min(j1, c0 + 16)
                        acc[c] = r16(acc[c] + sum(pn[j] * vhat[j][c] for j in range(c0, c1)))
            else:
                for c in range(Dv):
                    acc[c] = alpha * acc[c] + sum(pn[j] * vhat[j][c] for j in range(j0, j1))
            m = mn
        if m == -math.inf or l == 0: continue
        O[i] = [acc[c] * undo[c] / l for c in range(Dv)]
        sh = sum(q0 * mk for q0, mk in zip(orig_q_row[i], meanK)) if sk else 0.0
        LSE[i] = m + math.log(l) + scale * sh
    return O, LSE


# ----------------------------------------------------------------------------

PRECISIONS = [
    Precision.preset("sage1"), Precision.preset("sage2_8b"), Precision.preset("sage2_4b"),
    Precision(qk="i8", qk_granularity="token", smooth_k=True, pv="bf16"),
    Precision(qk="i8", qk_granularity="block(16)", pv="f8E4M3FN", pv_accum="two_level"),
    Precision(qk="i8", qk_granularity="tensor", smooth_k=True, smooth_q=True),
    Precision(qk="f8E4M3FN", qk_granularity="thread(16)", smooth_q=True),
    Precision(qk="i4", qk_granularity="token", smooth_q=True, smooth_k=True, pv="f16"),
    None,
]

# NVFP4 (qk and / or pv = f4E2M1FN) on odd sizes: D = 40 (blocks 16, 16, 8
# along D), Nk = 83 (blocks of 16 keys, the last of 3), Nq = 37.
NVFP4_PRECISIONS = [
    Precision.preset("nvfp4"),
    Precision(qk="f4E2M1FN", smooth_k=True, smooth_q=True, pv="f4E2M1FN", pv_accum="two_level"),
    Precision(qk="f4E2M1FN", pv="bf16"),
    Precision(qk="f4E2M1FN", smooth_q=True),                       # P rounded to V's type
    Precision(qk="i8", qk_granularity="token", smooth_k=True, pv="f4E2M1FN"),
    Precision(pv="f4E2M1FN"),
]
# (kv_tile, p_tile): the final-max model with P's key tiles of 64 (two
# tiles, the last partial) and of 24 (tiles that cut 16-key blocks), the
# running-max model with tiles of 16 and 24.
NVFP4_TILES = [(None, 64), (None, 24), (16, None), (24, None)]
NVFP4_SHAPE = dict(B=1, Hq=4, Hkv=2, Nq=37, Nk=83, D=40, Dv=24)
# The CPU lowering (attn-cpu-pipeline key-tile=T) against the running-max
# model with kv_tile = T. They differ where the CPU's f32 arithmetic (scores,
# exp, scale products) moves a value across an E2M1 / E4M3 rounding
# boundary; the bounds are CpuVsReference.Precisions' (docs/Accuracy.md).
# The LSE bound is relative to max(1, |LSE|): f32 arithmetic and the six
# digits printMemrefF32 prints.
CPU_TILES = (16, 24, 64)
CPU_TOL = {"l1": 2e-3, "max": 5e-2, "lse": 2e-5}


def compare(o, lse, q, k, v, keep, p, scale, tile, ptile):
    """Worst |out| and |lse| differences between the torch emulation's
    (o, lse) and the scalar port, over the heads of batch 0."""
    import torch
    pp = p or Precision()
    fields = (pp.qk, qr.parse_granularity(pp.qk_granularity) if pp.qk_granularity else None,
              pp.smooth_k, pp.smooth_q, pp.pv, pp.pv_accum)
    Hq, Hkv = q.shape[1], k.shape[1]
    worst_o = worst_l = 0.0
    for h in range(Hq):
        kv = h // (Hq // Hkv)
        so, sl = head(q[0, h].double().tolist(), k[0, kv].double().tolist(),
                      v[0, kv].double().tolist(), keep.tolist(), fields,
                      scale, tile or 10 ** 9, qr.dtype_name(v), ptile=ptile)
        so = torch.tensor(so, dtype=torch.float64)
        sl = torch.tensor(sl, dtype=torch.float64)
        worst_o = max(worst_o, float((so - o[0, h]).abs().max()))
        fin = torch.isfinite(sl)
        if not torch.equal(fin, torch.isfinite(lse[0, h])):
            worst_l = math.inf
        elif bool(fin.any()):
            worst_l = max(worst_l, float((sl[fin] - lse[0, h][fin]).abs().max()))
    return worst_o, worst_l


def nvfp4_inputs(g, dt):
    """q, k, v of NVFP4_SHAPE with blocks whose E4M3 scale rounds to 0 (Q
    row 5, channels 16..31; V keys 16..31 of channel 2) or is subnormal (V
    keys 32..47 of channel 3), K with channel offsets."""
    import torch
    c = NVFP4_SHAPE
    q = torch.randn(c["B"], c["Hq"], c["Nq"], c["D"], generator=g)
    k = (torch.randn(c["B"], c["Hkv"], c["Nk"], c["D"], generator=g)
         + 3 * torch.randn(c["B"], c["Hkv"], 1, c["D"], generator=g))
    v = torch.randn(c["B"], c["Hkv"], c["Nk"], c["Dv"], generator=g)
    q[:, :, 5, 16:32] *= 1e-3
    v[:, :, 16:32, 2] *= 1e-3
    v[:, :, 32:48, 3] *= 3e-3
    return q.to(dt), k.to(dt), v.to(dt)


# ----------------------------------------------------------------------------
# The CPU lowering: attn-opt --attn-cpu-pipeline, run by mlir-runner.

def cpu_tools():
    """(attn-opt, mlir-runner, its two runtime libraries), or None."""
    import glob
    import shutil
    attn_opt = am.compiler.find_attn_opt()
    runner = shutil.which("mlir-runner") or next(iter(sorted(
        glob.glob("/usr/lib/llvm-*/bin/mlir-runner"), reverse=True)), None)
    if not attn_opt or not runner:
        return None
    lib = Path(runner).resolve().parent.parent / "lib"
    libs = [lib / "libmlir_runner_utils.so", lib / "libmlir_c_runner_utils.so"]
    if not all(x.is_file() for x in libs):
        return None
    return attn_opt, runner, libs


def run_cpu(tools, q, k, v, mask, p, scale, key_tile):
    """(O [B, Hq, Nq, Dv], LSE [B, Hq, Nq]) in f64 from the CPU lowering of
    one attn.attention on these inputs (O and LSE stored as f32)."""
    import re
    import tempfile
    import torch
    attn_opt, runner, libs = tools
    elem = {torch.float16: "f16", torch.bfloat16: "bf16"}[q.dtype]

    def ty(shape, e):
        return "memref<" + "x".join(str(n) for n in shape) + "x" + e + ">"
    o_shape, l_shape = q.shape[:3] + (v.shape[3],), q.shape[:3]
    lines = []
    for name, t in (("q", q), ("k", k), ("v", v)):
        values = repr(t.double().tolist())
        lines.append(f'memref.global "private" constant @{name}_data : {ty(t.shape, elem)} '
                     f'= dense<{values}>')
    lines.append("func.func private @printMemrefF32(memref<*xf32>) "
                 "attributes {llvm.emit_c_interface}")
    lines.append("func.func @main() {")
    for name, t in (("q", q), ("k", k), ("v", v)):
        lines.append(f"  %{name} = memref.get_global @{name}_data : {ty(t.shape, elem)}")
    lines.append(f"  %o = memref.alloc() : {ty(o_shape, 'f32')}")
    lines.append(f"  %lse = memref.alloc() : {ty(l_shape, 'f32')}")
    attrs = f" mask = {mask.to_mlir()}" if mask is not None else ""
    if p is not None:
        attrs += f" precision = {p.to_mlir()}"
    lines.append(f"  attn.attention ins(%q, %k, %v : {ty(q.shape, elem)}, {ty(k.shape, elem)}, "
                 f"{ty(v.shape, elem)}) outs(%o : {ty(o_shape, 'f32')}, "
                 f"%lse : {ty(l_shape, 'f32')}){attrs} scale = {float(scale)!r}")
    for name, shape in (("o", o_shape), ("lse", l_shape)):
        lines.append(f"  %{name}_u = memref.cast %{name} : {ty(shape, 'f32')} to memref<*xf32>")
        lines.append(f"  call @printMemrefF32(%{name}_u) : (memref<*xf32>) -> ()")
    lines += ["  return", "}"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "case.mlir"
        source.write_text("\n".join(lines) + "\n")
        lowered = subprocess.run(
            [attn_opt, str(source), f"--attn-cpu-pipeline=query-tile=16 key-tile={key_tile}"],
            capture_output=True, text=True, check=True).stdout
        printed = subprocess.run(
            [runner, "-e", "main", "-entry-point-result=void",
             "-shared-libs=" + ",".join(str(x) for x in libs)],
            input=lowered, capture_output=True, text=True, check=True).stdout
    number = re.compile(r"-?(?:inf|nan|\d+(?:\.\d*)?(?:e[-+]?\d+)?)")
    tensors = []
    for block in printed.split("Unranked Memref")[1:]:
        data = block.split("data =", 1)[1]
        tensors.append([float(x) for x in number.findall(data)])
    o = torch.tensor(tensors[0], dtype=torch.float64).view(o_shape)
    lse = torch.tensor(tensors[1], dtype=torch.float64).view(l_shape)
    return o, lse


def report(ok, dt, p, text):
    name = (p or Precision()).to_mlir()[:72]
    print(f"{'ok  ' if ok else 'FAIL'} {str(dt)[6:]:<8} {name:<72} {text}")


def main(argv=None) -> int:
    import argparse
    import torch
    import warnings
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-cpu", action="store_true",
                        help="skip the comparison with the CPU lowering (attn-opt, mlir-runner)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="scatter_reduce")
    g = torch.Generator().manual_seed(1)
    B, Hq, Hkv, Nq, Nk, D, Dv = 1, 4, 2, 37, 45, 16, 8
    failures = 0
    for dt in (torch.float16, torch.bfloat16):
        q = torch.randn(B, Hq, Nq, D, generator=g).to(dt)
        k = (torch.randn(B, Hkv, Nk, D, generator=g)
             + 3 * torch.randn(B, Hkv, 1, D, generator=g)).to(dt)
        v = torch.randn(B, Hkv, Nk, Dv, generator=g).to(dt)
        keep = (ref.keep_matrix(am.Causal("bottom_right"), Nq, Nk, "cpu")
                & ref.keep_matrix(am.SlidingWindow(20, 3), Nq, Nk, "cpu"))
        keep[3, :] = False
        for p in PRECISIONS:
            pp = p or Precision()
            for tile in (None, 16):
                o, lse = qr.attention_quant(q, k, v, keep, p, kv_tile=tile)
                worst_o, worst_l = compare(o, lse, q, k, v, keep, p, 1 / math.sqrt(D), tile, None)
                bound = 5e-3 if (tile is None and pp.pv_accum == "f16") else 1e-12
                ok = worst_o <= bound and worst_l <= 1e-12
                failures += not ok
                report(ok, dt, p, f"kv_tile={tile}  out {worst_o:.1e}  lse {worst_l:.1e}")

    # NVFP4: softmax scales 1/sqrt(D) and 2 (sharp rows: 16-key blocks of P
    # whose E4M3 scale is subnormal or 0).
    c = NVFP4_SHAPE
    keep = (ref.keep_matrix(am.Causal("bottom_right"), c["Nq"], c["Nk"], "cpu")
            & ref.keep_matrix(am.SlidingWindow(50, 3), c["Nq"], c["Nk"], "cpu"))
    keep[3, :] = False
    nvfp4 = {}
    for dt in (torch.float16, torch.bfloat16):
        q, k, v = nvfp4_inputs(g, dt)
        nvfp4[dt] = q, k, v
        for p in NVFP4_PRECISIONS:
            for scale in (1 / math.sqrt(c["D"]), 2.0):
                for tile, ptile in NVFP4_TILES:
                    o, lse = qr.attention_quant(q, k, v, keep, p, scale, kv_tile=tile,
                                                p_tile=ptile or qr.NVFP4_P_TILE)
                    worst_o, worst_l = compare(o, lse, q, k, v, keep, p, scale, tile, ptile)
                    ok = worst_o <= 1e-12 and worst_l <= 1e-12
                    failures += not ok
                    report(ok, dt, p, f"scale={scale:.3f} kv_tile={tile} p_tile={ptile}  "
                           f"out {worst_o:.1e}  lse {worst_l:.1e}")

    tools = None if args.no_cpu else cpu_tools()
    if tools is None:
        print("# CPU lowering: skipped" + ("" if args.no_cpu else
                                             " (attn-opt or mlir-runner not found)"))
    else:
        mask = am.SlidingWindow(50, 3)
        keep = ref.keep_matrix(mask, c["Nq"], c["Nk"], "cpu")
        for dt, (q, k, v) in nvfp4.items():
            for p, scale, tile in itertools.product(NVFP4_PRECISIONS, (1 / math.sqrt(c["D"]), 2.0),
                                                    CPU_TILES):
                try:
                    o_cpu, lse_cpu = run_cpu(tools, q, k, v, mask, p, scale, tile)
                except subprocess.CalledProcessError as error:
                    failures += 1
                    report(False, dt, p, f"CPU scale={scale:.3f} key-tile={tile}: "
                           f"{Path(error.cmd[0]).name} failed: {error.stderr.strip()[:200]}")
                    continue
                o, lse = qr.attention_quant(q, k, v, keep, p, scale, kv_tile=tile)
                l1 = float((o_cpu - o).abs().sum() / o.abs().sum())
                mx = float((o_cpu - o).abs().max())
                fin = torch.isfinite(lse)
                dl = math.inf
                if torch.equal(fin, torch.isfinite(lse_cpu)):
                    dl = float(((lse_cpu - lse)[fin].abs() / lse[fin].abs().clamp(min=1)).max())
                ok = l1 <= CPU_TOL["l1"] and mx <= CPU_TOL["max"] and dl <= CPU_TOL["lse"]
                failures += not ok
                report(ok, dt, p, f"CPU scale={scale:.3f} key-tile={tile}  rel-L1 {l1:.1e}  "
                       f"max {mx:.1e}  lse {dl:.1e}")
    print(f"# {failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
