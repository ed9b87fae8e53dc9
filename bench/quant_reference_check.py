#!/usr/bin/env python3
"""Self-check of bench/quant_reference.py: its vectorized torch emulation
against a scalar, loop-by-loop port of the C++ reference emulation
(unittests/Reference/AttentionReference.cpp, emulatedHead) on small random
problems: 9 precisions (the presets, token / block / tensor / thread
granularities, i8 / i4 / E4M3 Q.K, f16 / bf16 / E4M3 P.V, smooth_q,
accumulators), f16 and bf16 inputs, GQA, a mask with an empty row and K with
channel offsets; both the final-max emulation and the running-max model
(kv_tile). Needs torch (CPU is enough), not attn-opt or a GPU:

  python3 bench/quant_reference_check.py        # exit 1 on a mismatch

The final-max emulation does not model the f16 accumulator, so sage1
differs from the scalar port there by the f16 accumulation (~1e-3); every
other comparison must agree to 1e-12.
"""

from __future__ import annotations

import math
import struct
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
def f32(x): return struct.unpack('f', struct.pack('f', x))[0]
def roundto(t, x):
    return {"f16": r16, "bf16": rbf, "f8E4M3FN": r8}[t](x)

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

def head(q, k, v, keep, prec, scale, T, vdtype, qblock_default=64):
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
    qv, qs = quant(q, Nq, D, qk, kind, size)
    kv, ks = quant(k, Nk, D, qk, kind, size)
    def score(i, j):
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


def main() -> int:
    import torch
    import warnings
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
            fields = (pp.qk, qr.parse_granularity(pp.qk_granularity) if pp.qk_granularity else None,
                      pp.smooth_k, pp.smooth_q, pp.pv, pp.pv_accum)
            for tile in (None, 16):
                o, lse = qr.attention_quant(q, k, v, keep, p, kv_tile=tile)
                worst_o = worst_l = 0.0
                for h in range(Hq):
                    kv = h // (Hq // Hkv)
                    so, sl = head(q[0, h].double().tolist(), k[0, kv].double().tolist(),
                                  v[0, kv].double().tolist(), keep.tolist(), fields,
                                  1 / math.sqrt(D), tile or 10 ** 9, qr.dtype_name(v))
                    so = torch.tensor(so, dtype=torch.float64)
                    sl = torch.tensor(sl, dtype=torch.float64)
                    worst_o = max(worst_o, float((so - o[0, h]).abs().max()))
                    fin = torch.isfinite(sl)
                    if not torch.equal(fin, torch.isfinite(lse[0, h])):
                        worst_l = math.inf
                    elif bool(fin.any()):
                        worst_l = max(worst_l, float((sl[fin] - lse[0, h][fin]).abs().max()))
                bound = 5e-3 if (tile is None and pp.pv_accum == "f16") else 1e-12
                ok = worst_o <= bound and worst_l <= 1e-12
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {str(dt)[6:]:<8} {pp.to_mlir()[:72]:<72} "
                      f"kv_tile={tile}  out {worst_o:.1e}  lse {worst_l:.1e}")
    print(f"# {failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
