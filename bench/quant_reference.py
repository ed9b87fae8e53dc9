"""An emulation of the quantized precisions of /work/shared/SEMANTICS.md
section 3 in PyTorch float64, written from the text. It reads the fields of
an attn_mlir Precision and nothing else of the package (no compiler code,
no kernel tables).

What it computes, for each batch b and query head h (kv head h / (Hq/Hkv)):

1. Smoothing (exact, f64). smooth_k: K' = K - mean over all Nk keys, per
   (b, kv head, channel). smooth_q: Q' = Q - the mean of each block of
   queries (the granularity's block: block(n) / thread(n): n queries,
   token: 1, tensor: all Nq; 64 when Q.K is not quantized),
   dS[block, j] = dot(mean_q, K'[j]) rounded to f32 and added back to
   every row of the block (times the softmax scale).
2. Q.K quantization (qk = i8 / i4 / f8E4M3FN) per scale group of tokens
   (tensor: one per (b, head); block(n): n consecutive tokens; token: each
   token; thread(n): inside each block of n tokens, the tokens with equal
   index mod 8): scale = max|x| over the group / qmax, stored in f32 (an
   all-zero group has scale 1); integers: round-half-to-even(x / scale)
   clamped to [-qmax, qmax] (127 for i8, 7 for i4); f8E4M3FN: E4M3(x /
   scale) with qmax 448. qk = f16 / bf16 rounds Q' and K' to that type.
   Scores s = q_scale * k_scale * softmax scale * exact dot (+ scale * dS).
   qk = f4E2M1FN (NVFP4) has no granularity (a Precision refuses one):
   per token, each run of 16 channels along D (the last one partial)
   shares the block scale E4M3(max|x| / 6) (1 for an all-zero block);
   values E2M1(x / scale) (round to nearest even, saturating at 6; 0 where
   the scale rounded to 0). s = softmax scale * the exact dot of the
   dequantized rows (+ scale * dS); smooth_q blocks of 64 queries.
3. Masks: a dense bool keep matrix (bench/reference.py keep_matrix).
4. Softmax with P = exp(s - m) relative to the FINAL row max m (not the
   running max of the key tiles seen so far, as the GPU kernel does: one of
   the sources of difference that the tolerances of bench/gpu_check.py
   cover; `kv_tile` selects a model of the running max instead, see
   attention_quant). l sums the unrounded P.
5. P.V: pv = f16 / bf16: P and V rounded to that type; pv = f8E4M3FN: P
   times 448 rounded to E4M3 (round to nearest even, saturating), V per
   channel: scale_c = max|V[:, c]| / 448 (f32), E4M3(V / scale_c), both
   undone on O; pv = f4E2M1FN (NVFP4): V per channel in blocks of 16 keys
   aligned to multiples of 16 (block scale and values as for Q.K, V
   dequantized exactly), P in two levels per key tile [t T, (t + 1) T)
   (clipped to Nk): row scale r = f32(max of the row's P in the tile /
   (6 * 448)), P = 0 where r = 0, else each run of 16 keys (aligned to
   multiples of 16, clipped to the tile) gets the block scale
   E4M3(max(p / r) / 6) and p becomes f32(E2M1(p / r / scale) * scale * r).
   T is `kv_tile` in the running-max model (P relative to the running
   max), `p_tile` (default 64) in the final-max model (P relative to the
   final max); with T = p_tile the two agree up to the f32 roundings of r
   and p (the row scale cancels the max P is taken relative to). No pv:
   P rounded to V's type (the default path). The product is accumulated
   exactly (f64): pv_accum f32 and two_level are modelled as exact, f16
   only in the running-max model (kv_tile).
6. O = P.V / l; LSE = m + log l (+ scale * dot(Q[i], mean_k) with smooth_k).
   A row with no kept key: O = 0, LSE = -inf.

NVFP4 (qk and / or pv = f4E2M1FN) is the reference of the sm_120a NVFP4
kernels (the block-scaled mma.sync on Blackwell) and of their emulation on
Hopper. Where the contract's text leaves NVFP4 open (the block scale
E4M3(max / 6), P's f32 row scale per key tile, the f32 P), it follows the
CPU lowering (lib/Conversion/AttnToLoops/LowerQuantization.cpp).

torch is imported lazily: importing this module needs no torch.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Tuple

import attn_mlir as am
from attn_mlir.precision import as_precision

# Largest finite magnitudes and their rounding grids (fraction bits, the
# smallest normal exponent).
E4M3_MAX = 448.0
E2M1_MAX = 6.0
_FORMATS = {"f16": (10, -14, 65504.0), "bf16": (7, -126, 3.3895313892515355e38),
            "f8E4M3FN": (3, -6, E4M3_MAX), "f4E2M1FN": (1, 0, E2M1_MAX)}
_SATURATING = ("f8E4M3FN", "f4E2M1FN")
_QMAX = {"i8": 127, "i4": 7, "f8E4M3FN": E4M3_MAX}
NVFP4 = "f4E2M1FN"
NVFP4_BLOCK = 16     # values per E4M3 block scale
NVFP4_P_TILE = 64    # keys per tile of P's row scale in the final-max model


# ----------------------------------------------------------------------------
# Rounding (exact in f64: every step scales by a power of two).

def round_binary(x, fraction: int, emin: int):
    """x (f64) rounded to nearest even on a grid with `fraction` fraction
    bits and smallest normal exponent `emin` (subnormals below it); no
    overflow handling."""
    import torch
    _, e = torch.frexp(x)                      # |x| = f * 2^e, f in [0.5, 1)
    exponent = torch.clamp(e.to(torch.int64) - 1, min=emin)
    quantum = power_of_two(exponent - fraction)
    return torch.round(x / quantum) * quantum  # torch.round: half to even


def power_of_two(k):
    """2^k (int64 tensor k, normal range) as f64, exactly: built from its
    bits, since pow() on a GPU need not be exact (a quantum one ulp off
    flips the rounding of the exact ties bf16 inputs produce)."""
    import torch
    return ((k + 1023) << 52).view(torch.float64)


def round_to(x, fmt: str):
    """One rounding of x (f64) to f16, bf16 (overflow to inf), f8E4M3FN
    (saturating to +-448, cvt.rn.satfinite) or f4E2M1FN (saturating to
    +-6)."""
    import torch
    fraction, emin, largest = _FORMATS[fmt]
    r = round_binary(x, fraction, emin)
    if fmt in _SATURATING:
        return torch.clamp(r, -largest, largest)
    return torch.where(r.abs() > largest, torch.sign(r) * math.inf, r)


def to_f32(x):
    """x rounded to f32 (one rounding), back in f64."""
    import torch
    return x.to(torch.float32).to(torch.float64)


def dtype_name(tensor) -> Optional[str]:
    """f16 / bf16 for those torch dtypes, None for f32 / f64 (no rounding)."""
    return {"torch.float16": "f16", "torch.bfloat16": "bf16"}.get(str(tensor.dtype))


# ----------------------------------------------------------------------------
# Granularity.

def parse_granularity(text: Optional[str]) -> Tuple[Optional[str], int]:
    """'block(64)' -> ('block', 64); 'token' -> ('token', 0); None -> (None, 0)."""
    if text is None:
        return None, 0
    match = re.fullmatch(r"(\w+)(?:\((\d+)\))?", str(text).replace(" ", ""))
    if not match:
        raise ValueError(f"quant_reference: granularity {text!r}")
    return match.group(1), int(match.group(2) or 0)


def scale_groups(n: int, kind: str, size: int, device: Any = None):
    """int64 [n]: the scale group of each token index t (SEMANTICS.md 3):
    tensor 0; block(size) t // size; token t; thread(size)
    (t // size) * 8 + t % 8."""
    import torch
    t = torch.arange(n, device=device, dtype=torch.int64)
    if kind == "tensor":
        return torch.zeros_like(t)
    if kind == "block":
        return t // size
    if kind == "token":
        return t
    if kind == "thread":
        return (t // size) * 8 + t % 8
    raise ValueError(f"quant_reference: unknown granularity {kind!r}")


def group_absmax(x, kind: str, size: int):
    """[..., N, 1]: max|x| over the scale group of each token of x [..., N, D]."""
    import torch
    per_token = x.abs().amax(dim=-1)                          # [..., N]
    n = per_token.shape[-1]
    groups = scale_groups(n, kind, size, x.device)
    count = int(groups.max().item()) + 1 if n else 0
    shape = per_token.shape[:-1] + (count,)
    index = groups.expand(per_token.shape)
    table = torch.zeros(shape, dtype=per_token.dtype, device=x.device)
    table = table.scatter_reduce(-1, index, per_token, reduce="amax", include_self=True)
    return torch.gather(table, -1, index).unsqueeze(-1)


# ----------------------------------------------------------------------------
# NVFP4: E2M1 values, one E4M3 scale per block of 16.

def nvfp4_block_scale(absmax):
    """E4M3(absmax / 6) (f64, absmax >= 0); 1 for an all-zero block."""
    import torch
    return torch.where(absmax == 0, torch.ones_like(absmax),
                       round_to(absmax / E2M1_MAX, "f8E4M3FN"))


def nvfp4_blocks(x, offset: int = 0):
    """(values, scales): x [..., n] (f64) quantized to NVFP4 along its last
    axis, element i at position offset + i: each run of 16 positions
    aligned to multiples of 16 (the first and last clipped to x) shares
    the block scale; values = E2M1(x / scale), 0 where the scale rounded to
    0. scales [..., n] holds each element's block scale, so values * scales
    is the dequantized x (exact in f64)."""
    import torch
    n = x.shape[-1]
    if n == 0:
        return x, torch.ones_like(x)
    left = offset % NVFP4_BLOCK
    right = -(left + n) % NVFP4_BLOCK
    padded = torch.nn.functional.pad(x, (left, right))           # zeros: max|x| unchanged
    blocks = padded.reshape(x.shape[:-1] + (-1, NVFP4_BLOCK))
    scale = nvfp4_block_scale(blocks.abs().amax(dim=-1, keepdim=True))
    scales = scale.expand(blocks.shape).reshape(padded.shape)[..., left:left + n]
    safe = torch.where(scales == 0, torch.ones_like(scales), scales)
    values = torch.where(scales == 0, torch.zeros_like(x), round_to(x / safe, NVFP4))
    return values, scales


def nvfp4_probabilities(p, offset: int):
    """P [..., n] (f64, >= 0) of one key tile whose first key is `offset`,
    in two levels: row scale r = f32(max / (6 * 448)) (all 0 where r = 0),
    then NVFP4 blocks of p / r aligned to multiples of 16 keys; returns the
    dequantized P rounded to f32."""
    import torch
    row_scale = to_f32(p.amax(dim=-1, keepdim=True) / (E2M1_MAX * E4M3_MAX))
    usable = row_scale != 0
    safe = torch.where(usable, row_scale, torch.ones_like(row_scale))
    values, scales = nvfp4_blocks(p / safe, offset)
    return torch.where(usable, to_f32(values * scales * safe), torch.zeros_like(p))


def quantize_rows(x, qk: Optional[str], granularity: Optional[str]):
    """(values, scales): x [..., N, D] f64 quantized to `qk`; values * scales
    is the dequantized tensor, the dot of two value rows is exact in f64.
    scales [..., N, 1] (ones for unquantized or f16/bf16); f4E2M1FN:
    [..., N, D], each channel's block scale (blocks of 16 channels; the
    granularity is not used)."""
    import torch
    ones = torch.ones(x.shape[:-1] + (1,), dtype=x.dtype, device=x.device)
    if qk is None:
        return x, ones
    if qk in ("f16", "bf16"):
        return round_to(x, qk), ones
    if qk == NVFP4:
        return nvfp4_blocks(x)
    if qk not in _QMAX:
        raise NotImplementedError(f"quant_reference: qk = {qk} is not emulated")
    kind, size = parse_granularity(granularity)
    if kind is None:
        raise ValueError(f"quant_reference: qk = {qk} needs a granularity")
    qmax = _QMAX[qk]
    absmax = group_absmax(x, kind, size)
    scale = torch.where(absmax == 0, torch.ones_like(absmax), to_f32(absmax / qmax))
    if qk == "f8E4M3FN":
        values = round_to(x / scale, "f8E4M3FN")
    else:
        values = torch.clamp(torch.round(x / scale), -qmax, qmax)
    return values, scale


def smooth_q_block(precision: "am.Precision", nq: int) -> int:
    """Queries per smooth_q block: the granularity's block (block(n),
    thread(n): n; token: 1; tensor: all), else (NVFP4, f16 / bf16, none)
    64."""
    kind, size = parse_granularity(precision.qk_granularity)
    if kind in ("block", "thread"):
        return size
    if kind == "token":
        return 1
    if kind == "tensor":
        return max(nq, 1)
    return 64


# ----------------------------------------------------------------------------
# The emulation.

def _prepare_v(v, pv: Optional[str]):
    """(V as P.V multiplies it, per-channel factor undone on O)."""
    import torch
    undo = torch.ones(v.shape[:-2] + (1, v.shape[-1]), dtype=v.dtype, device=v.device)
    if pv is None:
        return v, undo
    if pv in ("f16", "bf16"):
        return round_to(v, pv), undo
    if pv == "f8E4M3FN":
        absmax = v.abs().amax(dim=-2, keepdim=True)            # [B, Hkv, 1, Dv]
        scale = torch.where(absmax == 0, torch.ones_like(absmax), to_f32(absmax / E4M3_MAX))
        return round_to(v / scale, "f8E4M3FN"), scale / E4M3_MAX
    if pv == NVFP4:                                            # blocks of 16 keys per channel
        values, scales = nvfp4_blocks(v.transpose(-1, -2))
        return (values * scales).transpose(-1, -2), undo
    raise NotImplementedError(f"quant_reference: pv = {pv} is not emulated")


def _round_p(p, pv: Optional[str], tile: int, offset: int = 0):
    """P in [0, 1] in the units _prepare_v expects. p [..., n] holds keys
    offset .. offset + n - 1; NVFP4 rounds each key tile of `tile` keys
    (aligned to multiples of `tile` from offset) on its own."""
    import torch
    if pv is None:
        return p
    if pv in ("f16", "bf16"):
        return round_to(p, pv)
    if pv == "f8E4M3FN":
        return round_to(p * E4M3_MAX, "f8E4M3FN")
    if pv == NVFP4:
        n = p.shape[-1]
        if n == 0:
            return p
        return torch.cat([nvfp4_probabilities(p[..., t0:t0 + tile], offset + t0)
                          for t0 in range(0, n, tile)], dim=-1)
    raise NotImplementedError(f"quant_reference: pv = {pv} is not emulated")


def quantized_scores(q, k, precision: Optional["am.Precision"], scale: float):
    """Scores [B, Hq, Nq, Nk] (f64) of section 3 before masking, and the
    smooth_k mean [B, Hkv, 1, D] (None without smooth_k). q [B, Hq, Nq, D],
    k [B, Hkv, Nk, D], any float dtype."""
    import torch
    p = precision or am.Precision()
    q = q.to(torch.float64)
    k = k.to(torch.float64)
    B, Hq, Nq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    rep = Hq // Hkv
    mean_k = None
    if p.smooth_k and Nk > 0:
        mean_k = k.mean(dim=2, keepdim=True)
        k = k - mean_k
    ds = None
    block = 1
    if p.smooth_q and Nq > 0:
        block = smooth_q_block(p, Nq)
        nb = -(-Nq // block)
        pad = nb * block - Nq
        qp = torch.nn.functional.pad(q, (0, 0, 0, pad))            # zero rows
        counts = torch.full((nb,), float(block), dtype=torch.float64, device=q.device)
        counts[-1] = block - pad
        mean_q = qp.view(B, Hq, nb, block, D).sum(dim=3) / counts.view(1, 1, nb, 1)
        q = q - mean_q.repeat_interleave(block, dim=2)[:, :, :Nq]
        ds = to_f32(torch.matmul(mean_q, k.repeat_interleave(rep, dim=1).transpose(-1, -2)))
    qv, qs = quantize_rows(q, p.qk, p.qk_granularity)
    kv, ks = quantize_rows(k, p.qk, p.qk_granularity)
    kv = kv.repeat_interleave(rep, dim=1)
    ks = ks.repeat_interleave(rep, dim=1)
    if p.qk == NVFP4:                 # block scales along D: dot of the dequantized rows
        s = torch.matmul(qv * qs, (kv * ks).transpose(-1, -2)) * scale
    else:
        s = torch.matmul(qv, kv.transpose(-1, -2)) * (qs * ks.transpose(-1, -2)) * scale
    if ds is not None:
        s = s + scale * ds.repeat_interleave(block, dim=2)[:, :, :Nq]
    return s, mean_k


def attention_quant(q, k, v, keep, precision: Any, scale: Optional[float] = None, *,
                    kv_tile: Optional[int] = None, f16_chunk: int = 16,
                    p_tile: int = NVFP4_P_TILE):
    """Section 3 emulated in f64. q [B, Hq, Nq, D], k [B, Hkv, Nk, D],
    v [B, Hkv, Nk, Dv] in logical bhnd (the tensors the kernel reads: f16 or
    bf16; their values are used exactly); keep: bool broadcastable to
    [B, Hq, Nq, Nk] or None (dense); precision: an attn_mlir Precision, a
    preset name or None (the default path). Returns O [B, Hq, Nq, Dv] and
    LSE [B, Hq, Nq], both f64.

    kv_tile=None: P relative to the final row max, exact accumulation;
    pv = f4E2M1FN rounds P in key tiles of `p_tile` keys (default 64, the
    key tile bench/gpu_check.py models; pass the kernel's).
    kv_tile=T: a model of the kernel's online softmax over key tiles
    [0, T), [T, 2T), ... in increasing order (P relative to the running
    max, rescaled by exp(m_old - m_new)), with pv_accum = f16 an f16
    accumulator rounded after each f16_chunk keys and at every rescale;
    pv = f4E2M1FN rounds each key tile's P (p_tile is not used).
    It equals the kernel only where the kernel visits 1-D key tiles of T
    keys in that order (grid masks use N-D key tiles)."""
    import torch
    p = as_precision(precision) or am.Precision()
    B, Hq, Nq, D = q.shape
    Hkv, Nk, Dv = k.shape[1], k.shape[2], v.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    pv = p.pv if p.pv is not None else dtype_name(v)
    s, mean_k = quantized_scores(q, k, p, scale)
    if keep is not None:
        s = s.masked_fill(~keep.expand(s.shape), -math.inf)
    vp, undo = _prepare_v(v.to(torch.float64), pv)
    vp = vp.repeat_interleave(Hq // Hkv, dim=1)
    undo = undo.repeat_interleave(Hq // Hkv, dim=1)

    if kv_tile is None:
        m = s.amax(dim=-1, keepdim=True) if Nk else torch.full(s.shape[:-1] + (1,), -math.inf,
                                                                 dtype=s.dtype, device=s.device)
        mu = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        e = torch.exp(s - mu)                                       # masked: exp(-inf) = 0
        l = e.sum(dim=-1, keepdim=True)
        acc = torch.matmul(_round_p(e, pv, p_tile), vp)
    else:
        m, l, acc = _online(s, vp, pv, p.pv_accum, kv_tile, f16_chunk)
        mu = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    nonempty = l > 0
    safe_l = torch.where(nonempty, l, torch.ones_like(l))
    o = torch.where(nonempty, acc * undo / safe_l, torch.zeros_like(acc))
    lse = mu + torch.log(safe_l)
    if mean_k is not None:
        shift = torch.matmul(q.to(torch.float64), mean_k.repeat_interleave(Hq // Hkv, dim=1)
                             .transpose(-1, -2))                    # [B, Hq, Nq, 1]
        lse = lse + scale * shift
    lse = torch.where(nonempty, lse, torch.full_like(lse, -math.inf)).squeeze(-1)
    return o, lse


def _online(s, vp, pv: Optional[str], accum: str, tile: int, chunk: int):
    """The online softmax over key tiles in increasing order (see
    attention_quant); returns the final (m, l, acc)."""
    import torch
    shape = s.shape[:-1] + (1,)
    m = torch.full(shape, -math.inf, dtype=s.dtype, device=s.device)
    l = torch.zeros(shape, dtype=s.dtype, device=s.device)
    acc = torch.zeros(s.shape[:-1] + (vp.shape[-1],), dtype=s.dtype, device=s.device)
    f16 = accum == "f16"
    for j0 in range(0, s.shape[-1], tile):
        j1 = min(s.shape[-1], j0 + tile)
        st = s[..., j0:j1]
        m_new = torch.maximum(m, st.amax(dim=-1, keepdim=True))
        mu = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
        alpha = torch.exp(m - mu)                                   # m = -inf: 0
        e = torch.exp(st - mu)
        l = alpha * l + e.sum(dim=-1, keepdim=True)
        pr = _round_p(e, pv, tile, j0)
        if not f16:
            acc = alpha * acc + torch.matmul(pr, vp[..., j0:j1, :])
        else:
            acc = round_to(alpha * acc, "f16")
            for c0 in range(j0, j1, chunk):
                c1 = min(j1, c0 + chunk)
                acc = round_to(acc + torch.matmul(pr[..., c0 - j0:c1 - j0], vp[..., c0:c1, :]), "f16")
        m = m_new
    return m, l, acc


# ----------------------------------------------------------------------------
# Accuracy metrics (SEMANTICS.md section 3: over the whole output).

# cosine() and rel_l1() live in attn_mlir.reference (calibrate() uses them).
from attn_mlir.reference import cosine, rel_l1  # noqa: E402,F401


__all__ = ["attention_quant", "quantized_scores", "quantize_rows", "round_to", "scale_groups",
           "group_absmax", "smooth_q_block", "nvfp4_block_scale", "nvfp4_blocks",
           "nvfp4_probabilities", "cosine", "rel_l1", "E4M3_MAX", "E2M1_MAX", "NVFP4_P_TILE",
           "power_of_two"]
