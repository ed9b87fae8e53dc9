"""An f32 PyTorch evaluation of SEMANTICS.md (sections 1, 2 and 4), written
from the text: what calibrate() compares the quantized precisions with, and
what the bench/ scripts check the kernels against. It reads the parameters
of the mask and heads objects, nothing of the compiler.

`keep(mask, i, j, nq, nk, offsets)` is written with tensor operations only
(no data-dependent Python control flow), so the same function serves
  - the reference: i [M, 1] and j [1, Nk] index tensors -> bool [M, Nk];
  - FlexAttention's mask_mod: i and j 0-d tensors under vmap.

torch is imported lazily: importing this module needs no torch.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Optional, Sequence

from .heads import as_heads
from .masks import (And, Causal, Dense, Neighborhood, NoneMask, Or, PowerLaw, Segments,
                    Shard, SlidingWindow, as_mask)


def _false(i, j):
    return (i < 0) & (j < 0)


def _true(i, j):
    return (i >= 0) & (j >= 0)


def _grid_coord(t, grid: Sequence[int], d: int):
    inner = 1
    for extent in grid[d + 1:]:
        inner *= extent
    return (t // inner) % grid[d]


def _neighborhood_dim(x, y, L: int, w: int, s: int, dil: int, causal: bool):
    """SEMANTICS.md 2.3 in one dimension; x query, y key coordinates."""
    g = x % dil
    same = (y % dil) == g
    a = x // dil
    b = y // dil
    n = (L - g + dil - 1) // dil                       # ceil((L - g) / d)
    if causal:
        leader = _minimum((a // s) * s + (s - 1), n - 1)
        lo = _maximum(leader - w + 1, 0)
        return same & (lo <= b) & (b <= a)
    leader = _minimum((a // s) * s + s // 2, n - 1)
    start = _minimum(_maximum(leader - w // 2, 0), n - w)
    return same & (start <= b) & (b < start + w)


def _array_module(*values):
    """torch for torch tensors, else numpy: keep() runs on either (numpy in
    CI, where there is no torch). Only isinstance against an imported
    module: keep() is also traced by Dynamo (a FlexAttention mask_mod),
    which cannot follow a look at type(v).__module__."""
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(v, torch.Tensor) for v in values):
        return torch
    import numpy
    return numpy


def _minimum(x, y):
    xp = _array_module(x, y)
    if xp.__name__ == "torch":
        y = y if isinstance(y, xp.Tensor) else xp.as_tensor(y, device=x.device)
        x = x if isinstance(x, xp.Tensor) else xp.as_tensor(x, device=y.device)
    return xp.minimum(x, y)


def _maximum(x, y):
    xp = _array_module(x, y)
    if xp.__name__ == "torch":
        y = y if isinstance(y, xp.Tensor) else xp.as_tensor(y, device=x.device)
        x = x if isinstance(x, xp.Tensor) else xp.as_tensor(x, device=y.device)
    return xp.maximum(x, y)


def _is_pow2(x):
    return (x > 0) & ((x & (x - 1)) == 0)


def keep(mask: Any, i, j, nq: int, nk: int, offsets: Optional[Any] = None):
    """keep(i, j) of SEMANTICS.md section 2 for `mask` (an attn_mlir mask or
    None = dense). `offsets`: for run-time segments, the offsets of this
    batch element: a list [S+1] (shared) or [[S+1], [S+1]] (query, key)."""
    if mask is None or isinstance(mask, Dense):
        return _true(i, j)
    if isinstance(mask, Shard):
        # The inner mask at global positions, with the global lengths.
        return keep(mask.mask, i + mask.query_start, j + mask.key_start,
                    mask.query_length, mask.key_length, offsets)
    if isinstance(mask, NoneMask):
        return _false(i, j)
    if isinstance(mask, Causal):
        delta = 0 if mask.alignment == "top_left" else nk - nq
        return j <= i + delta
    if isinstance(mask, SlidingWindow):
        delta = 0 if mask.alignment == "top_left" else nk - nq
        return (j >= i + delta - mask.left) & (j <= i + delta + mask.right)
    if isinstance(mask, Neighborhood):
        grid = list(mask.grid)
        tokens = math.prod(grid)
        assert nq == tokens and nk == tokens, (nq, nk, grid)
        out = None
        for d in range(len(grid)):
            x = _grid_coord(i, grid, d)
            y = _grid_coord(j, grid, d)
            kd = _neighborhood_dim(x, y, grid[d], mask.window[d], mask.stride[d],
                                   mask.dilation[d], bool(mask.causal[d]))
            out = kd if out is None else out & kd
        return out
    if isinstance(mask, PowerLaw):
        bk = mask.block
        delta = i // bk - j // bk
        sink = j < mask.sink * bk
        if mask.causal:
            return (j <= i) & (sink | (delta < mask.window) | _is_pow2(delta))
        ad = delta.abs() if hasattr(delta, "abs") else abs(delta)
        return sink | (ad < mask.window) | _is_pow2(ad)
    if isinstance(mask, Segments):
        # renormalize = false keeps the same pairs; attention_f32 applies
        # the keep after the softmax.
        if mask.runtime_sizes:
            assert offsets is not None, "run-time segments need offsets"
            if isinstance(offsets[0], (list, tuple)):
                qo, ko = list(offsets[0]), list(offsets[1])
            else:
                qo = ko = list(offsets)
        else:
            qo, ko = [0], [0]
            for s in mask.query:
                qo.append(qo[-1] + s)
            for s in mask.key:
                ko.append(ko[-1] + s)
        out = _false(i, j)
        for a in range(len(qo) - 1):
            for b in range(len(ko) - 1):
                entry = mask.visibility[a][b]
                if isinstance(entry, NoneMask):
                    continue
                qlen, klen = qo[a + 1] - qo[a], ko[b + 1] - ko[b]
                if qlen <= 0 or klen <= 0:
                    continue
                inside = (i >= qo[a]) & (i < qo[a + 1]) & (j >= ko[b]) & (j < ko[b + 1])
                li, lj = i - qo[a], j - ko[b]
                if isinstance(entry, Neighborhood):
                    # Outside the segment the local indices are out of the
                    # grid: clamp them so the grid arithmetic stays in range
                    # (`inside` drops those pairs anyway).
                    li = _minimum(_maximum(li, 0), qlen - 1)
                    lj = _minimum(_maximum(lj, 0), klen - 1)
                out = out | (inside & keep(entry, li, lj, qlen, klen, None))
        return out
    if isinstance(mask, And):
        out = None
        for m in mask.members:
            k = keep(m, i, j, nq, nk, offsets)
            out = k if out is None else out & k
        return out
    if isinstance(mask, Or):
        out = None
        for m in mask.members:
            k = keep(m, i, j, nq, nk, offsets)
            out = k if out is None else out | k
        return out
    raise NotImplementedError(f"reference: no keep() for {mask!r}")


def keep_matrix(mask: Any, nq: int, nk: int, device: Any, rows: Any = None,
                offsets: Optional[Any] = None):
    """bool [M, Nk]: keep for query rows `rows` (a 1-D index tensor; default
    all Nq) and every key."""
    import torch
    i = rows if rows is not None else torch.arange(nq, device=device)
    i = i.to(device=device, dtype=torch.int64).reshape(-1, 1)
    j = torch.arange(nk, device=device, dtype=torch.int64).reshape(1, -1)
    k = keep(mask, i, j, nq, nk, offsets)
    return k.expand(i.shape[0], nk).contiguous()


def count_kept(mask: Any, nq: int, nk: int, device: Any, chunk: int = 1024,
               offsets: Optional[Any] = None) -> int:
    """The exact number of kept pairs of one (b, h)."""
    import torch
    total = 0
    for start in range(0, nq, chunk):
        rows = torch.arange(start, min(nq, start + chunk), device=device)
        total += int(keep_matrix(mask, nq, nk, device, rows, offsets).sum().item())
    return total


def attention_f32(q, k, v, keep_mask, scale: float, bias=None, heads: Any = None,
                  gates=None, rows=None, dtype=None, renormalize: Any = True):
    """SEMANTICS.md section 1 and 4 in f32 (or in `dtype`: float64 for the
    gradients' reference, the inputs' type for PyTorch's own error; every
    step is differentiable).

    q [B, Hq, M, D] (the query rows `rows`, default all), k [B, Hkv, Nk, D],
    v [B, Hkv, Nk, Dv] (logical bhnd, any float dtype); keep_mask bool
    broadcastable to [B, Hq, M, Nk]; bias float broadcastable to it; heads an
    attn_mlir.Heads (weights, softpag; groups are in keep_mask); gates
    [B, M, Hq]. renormalize: False (or a bool tensor broadcastable to
    [B, Hq, 1, 1], per head) for segments with `renormalize = false`
    (section 2.5): the denominator and the LSE over every key, the keep
    applied to the numerator only; a row with no kept key has O = 0 and
    LSE = -inf either way. Returns O [B, Hq, M, Dv] f32 and LSE [B, Hq, M]
    f32.
    """
    import torch
    dtype = dtype or torch.float32
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    B, Hq, M, _ = q.shape
    Hkv = k.shape[1]
    rep = Hq // Hkv
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        s = s + bias.to(dtype)
    keep_b = keep_mask.expand(s.shape)
    every_key = ~torch.as_tensor(renormalize, dtype=torch.bool, device=s.device)
    s = s.masked_fill(~(keep_b | every_key), float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m_safe)
    l = p.sum(dim=-1, keepdim=True)
    o = torch.matmul(p.masked_fill(~keep_b, 0.0), v)
    nonempty = (l > 0) & keep_b.any(dim=-1, keepdim=True)
    o = torch.where(nonempty, o / torch.where(nonempty, l, torch.ones_like(l)), torch.zeros_like(o))
    lse = torch.where(nonempty, m_safe + torch.log(torch.where(nonempty, l, torch.ones_like(l))),
                      torch.full_like(l, float("-inf"))).squeeze(-1)
    del s, p
    o, lse = apply_heads(o, lse, v, heads, gates, rows)
    return o, lse


def apply_heads(o, lse, v, heads: Any = None, gates=None, rows=None):
    """SEMANTICS.md section 4 on an attention output o [B, Hq, M, Dv] and
    its LSE [B, Hq, M]: SoftPAG (v [B, Hq, Nk, Dv], repeated to the query
    heads; rows: the query rows of o, default all), head weights (weight 0:
    O = 0, LSE = -inf) and gates [B, M, Hq]. Any float dtype."""
    import torch
    B, Hq, M = o.shape[0], o.shape[1], o.shape[2]
    if heads is not None and heads.softpag is not None:
        u = heads.softpag.u
        vr = v if rows is None else v[:, :, rows.to(v.device)]
        for h in heads.softpag.heads:
            o[:, h] = (1 - u) * o[:, h] + u * vr[:, h].to(o.dtype)
    factor = torch.ones(B, Hq, M, 1, device=o.device, dtype=o.dtype)
    if heads is not None and heads.weights is not None:
        w = torch.tensor(heads.weights, device=o.device, dtype=o.dtype)
        factor = factor * w.view(1, Hq, 1, 1)
        zero = (w == 0).view(1, Hq, 1)
        lse = torch.where(zero, torch.full_like(lse, float("-inf")), lse)
    if gates is not None:
        factor = factor * gates.to(o.dtype).permute(0, 2, 1).unsqueeze(-1)
    o = o * factor
    if heads is not None and heads.weights is not None:
        zero = torch.tensor([w == 0 for w in heads.weights], device=o.device).view(1, Hq, 1, 1)
        o = torch.where(zero, torch.zeros_like(o), o)
    return o, lse


def cosine(x, ref) -> float:
    """Cosine similarity of x and ref, flattened, in f64 (1 when both are
    zero, 0 when one is): SEMANTICS.md section 3's accuracy metric."""
    import torch
    a = x.reshape(-1).to(torch.float64)
    b = ref.reshape(-1).to(torch.float64)
    aa, bb = float((a * a).sum()), float((b * b).sum())
    if aa == 0 and bb == 0:
        return 1.0
    if aa == 0 or bb == 0:
        return 0.0
    return float((a * b).sum()) / math.sqrt(aa * bb)


def rel_l1(x, ref) -> float:
    """sum |x - ref| / sum |ref| in f64 (0 when both are zero)."""
    import torch
    a = x.reshape(-1).to(torch.float64)
    b = ref.reshape(-1).to(torch.float64)
    diff, norm = float((a - b).abs().sum()), float(b.abs().sum())
    if norm == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / norm


def to_bhnd(x, layout: str):
    """A [B, N, H, D] tensor (layout bnhd) as a [B, H, N, D] view."""
    return x if layout == "bhnd" else x.transpose(1, 2)


def reference_attention(q: Any, k: Any, v: Any, mask: Any = None, heads: Any = None,
                        scale: Optional[float] = None, layout: str = "bhnd",
                        return_lse: bool = False, bias: Any = None, explicit_mask: Any = None,
                        segment_offsets: Any = None, gates: Any = None,
                        max_scores: int = 1 << 26) -> Any:
    """attention()'s call evaluated in f32 by this reference: the same
    arguments (torch tensors on any device, layout "bhnd" or "bnhd"),
    returns out (float32, q's layout) and with return_lse also lse
    [B, Hq, Nq] float32. Head groups' masks apply to their heads (their
    precisions do not: this is the unquantized computation). Works per
    batch element on blocks of query rows holding at most `max_scores`
    scores."""
    import torch
    mask = as_mask(mask)
    heads = as_heads(heads)
    qb, kb, vb = (to_bhnd(x, layout) for x in (q, k, v))
    B, Hq, Nq, D = qb.shape
    Nk, Dv = kb.shape[2], vb.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    head_masks = [mask] * Hq
    if heads is not None:
        for group in heads.groups:
            if group.mask is not None:
                for h in group.heads:
                    head_masks[h] = group.mask

    def pair_operand(x: Any, b: int, rows: Any) -> Any:
        # [Nq, Nk] or [B|1, Hq|1, Nq, Nk] -> [1, Hq|1, M, Nk]
        if x is None:
            return None
        if x.dim() == 2:
            return x[rows].unsqueeze(0).unsqueeze(0)
        return x[b if x.shape[0] > 1 else 0][:, rows].unsqueeze(0)

    out = torch.empty(B, Hq, Nq, Dv, dtype=torch.float32, device=qb.device)
    lse = torch.empty(B, Hq, Nq, dtype=torch.float32, device=qb.device)
    block = max(1, min(Nq, max_scores // max(1, Hq * Nk)))
    for b in range(B):
        offsets = segment_offsets[b].tolist() if segment_offsets is not None else None
        for i0 in range(0, Nq, block):
            rows = torch.arange(i0, min(Nq, i0 + block), device=qb.device)
            keeps = torch.empty(1, Hq, rows.numel(), Nk, dtype=torch.bool, device=qb.device)
            made = {}
            for h, m in enumerate(head_masks):
                if id(m) not in made:
                    made[id(m)] = keep_matrix(m, Nq, Nk, qb.device, rows, offsets)
                keeps[0, h] = made[id(m)]
            em = pair_operand(explicit_mask, b, rows)
            if em is not None:
                keeps &= em.bool()
            o, l = attention_f32(qb[b:b + 1, :, rows], kb[b:b + 1], vb[b:b + 1], keeps, scale,
                                 bias=pair_operand(bias, b, rows), heads=heads,
                                 gates=gates[b:b + 1, rows] if gates is not None else None,
                                 rows=rows)
            out[b, :, rows] = o[0]
            lse[b, :, rows] = l[0]
    if layout != "bhnd":
        out = out.transpose(1, 2).contiguous()
    return (out, lse) if return_lse else out


__all__ = ["keep", "keep_matrix", "count_kept", "attention_f32", "reference_attention", "to_bhnd"]
