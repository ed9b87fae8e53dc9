"""Exact merge of partial attention results by their LSE.

Attention of a query row over the union of disjoint key sets is the
LSE-weighted combination of its attention over each set:

    m = max_i lse_i,  w_i = exp(lse_i - m),  O = sum_i w_i O_i / sum_i w_i,
    LSE = m + log(sum_i w_i).

A part whose row kept no key has LSE = -inf and O = 0: its weight is 0
(exp(-inf) = 0, never -inf - -inf), and a row empty in every part keeps
O = 0, LSE = -inf (SEMANTICS.md section 1). Works on numpy arrays and
torch tensors (whichever it is given).
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple


def _xp(value: Any):
    if type(value).__module__.split(".")[0] == "numpy":
        import numpy
        return numpy
    import torch
    return torch


def merge_partials(outs: Sequence[Any], lses: Sequence[Any]) -> Tuple[Any, Any]:
    """outs: [..., M, Dv] each, lses: [..., M] each (float). Returns (O, LSE)
    of the union, in the dtype of the inputs' promotion."""
    if not outs or len(outs) != len(lses):
        raise ValueError(f"merge_partials: {len(outs)} outputs and {len(lses)} LSEs; "
                         "need the same positive number of each")
    xp = _xp(outs[0])
    lse = xp.stack(list(lses))
    m = lse.max(0) if xp.__name__ == "numpy" else lse.amax(0)
    finite = xp.isfinite(m)
    m_safe = xp.where(finite, m, xp.zeros_like(m))
    weights = xp.exp(lse - m_safe)                   # -inf -> 0
    total = weights.sum(0)
    nonempty = total > 0
    safe_total = xp.where(nonempty, total, xp.ones_like(total))
    acc = None
    for w, o in zip(weights, outs):
        term = w[..., None] * o
        acc = term if acc is None else acc + term
    out = xp.where(nonempty[..., None], acc / safe_total[..., None], xp.zeros_like(acc))
    merged_lse = xp.where(nonempty, m_safe + xp.log(safe_total),
                          xp.full_like(total, float("-inf")))
    return out, merged_lse
