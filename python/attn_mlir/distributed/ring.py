"""Ring attention over torch.distributed (NCCL), mask-aware.

Each rank holds the Q, K and V of its chunks (plan.chunks[rank], in that
order, concatenated along the sequence). At step t it receives the K/V
chunks of rank - t directly from that rank (step 0: its own) and computes
the chunk pairs the plan lists; pairs the mask leaves empty are neither
sent nor computed. Partial results are merged exactly by their LSE
(merge.py). One code path serves the NCCL run and the one-GPU emulation
(`emulate_ring`): only the exchange of K/V differs.

Pairs run on the compiled kernels through attn_mlir.attention: a full pair
with no mask, a partial pair with the mask at the chunks' global positions
(`Shard`, #attn.shard: one kernel per distinct pair of chunk offsets, which
skips the pair's empty tiles and runs no mask code on its full ones).
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..masks import Shard, as_mask
from .merge import merge_partials
from .plan import FULL, ContextParallelPlan

# Quantized precisions would compute their statistics (means, tensor-wide
# scales) per chunk instead of over the sequence: not the op's semantics.
_UNSUPPORTED = ("mask", "precision", "heads", "bias", "explicit_mask", "segment_offsets",
                "gates", "out", "return_lse", "layout")


def _check_kwargs(kwargs: Dict[str, Any]) -> None:
    for name in _UNSUPPORTED:
        if name in kwargs:
            raise ValueError(f"context parallel attention: {name}= is not supported "
                             "(the chunk pairs are plain attention calls on bhnd tensors)")


class RingRank:
    """One rank's part of the ring: its query chunks, the partial results
    of each, and the kernels' calls for the pairs of a step."""

    def __init__(self, plan: ContextParallelPlan, rank: int, q: Any, mask: Any,
                 attention_kwargs: Dict[str, Any]) -> None:
        _check_kwargs(attention_kwargs)
        self.plan, self.rank, self.q = plan, rank, q
        self.mask = as_mask(mask)
        self.kwargs = attention_kwargs
        self.parts: Dict[int, List[Tuple[Any, Any]]] = {c: [] for c in plan.chunks[rank]}

    def _slice(self, tensor: Any, owner: int, chunk: int) -> Any:
        index = self.plan.chunks[owner].index(chunk)
        c = self.plan.chunk
        return tensor[:, :, index * c:(index + 1) * c]

    def _pair_mask(self, a: int, b: int) -> Any:
        """The mask of query chunk a x key chunk b: `mask` at the chunks'
        global positions (#attn.shard), so the kernel skips the pair's
        empty tiles and runs no mask code on its full ones."""
        c, n = self.plan.chunk, self.plan.n
        return Shard(self.mask, a * c, b * c, n, n)

    def compute(self, step: int, k_source: Any, v_source: Any) -> None:
        """The pairs of `step`, with the source rank's K and V chunks."""
        from ..torch_api import attention
        source = self.plan.steps[self.rank][step].source
        for pair in self.plan.steps[self.rank][step].pairs:
            q = self._slice(self.q, self.rank, pair.query_chunk)
            k = self._slice(k_source, source, pair.key_chunk)
            v = self._slice(v_source, source, pair.key_chunk)
            extra = {}
            if pair.cls != FULL:
                extra["mask"] = self._pair_mask(pair.query_chunk, pair.key_chunk)
            # Partial O in V's type (the kernel's output), merged in f32.
            o, lse = attention(q, k, v, return_lse=True, **extra, **self.kwargs)
            self.parts[pair.query_chunk].append((o.float(), lse))

    def finish(self, value_dim: int, dtype: Any) -> Tuple[Any, Any]:
        """This rank's O [B, H, len(chunks) C, Dv] (dtype) and LSE (f32). A
        chunk with no computed pair (the mask keeps none of its rows' keys)
        is O = 0, LSE = -inf."""
        import torch
        b, h, c = self.q.shape[0], self.q.shape[1], self.plan.chunk
        outs, lses = [], []
        for chunk in self.plan.chunks[self.rank]:
            parts = self.parts[chunk]
            if parts:
                o, lse = merge_partials([p[0] for p in parts], [p[1] for p in parts])
            else:
                o = torch.zeros(b, h, c, value_dim, device=self.q.device)
                lse = torch.full((b, h, c), float("-inf"), device=self.q.device)
            outs.append(o)
            lses.append(lse)
        return torch.cat(outs, dim=2).to(dtype), torch.cat(lses, dim=2)


def local_chunks(x: Any, plan: ContextParallelPlan, rank: int) -> Any:
    """Rank `rank`'s chunks of a global [B, H, N, ...] tensor, concatenated."""
    import torch
    c = plan.chunk
    return torch.cat([x[:, :, i * c:(i + 1) * c] for i in plan.chunks[rank]], dim=2)


def ring_attention(q: Any, k: Any, v: Any, plan: ContextParallelPlan, mask: Any = None,
                   group: Any = None, **attention_kwargs: Any) -> Tuple[Any, Any]:
    """This rank's (O, LSE) of the ring over torch.distributed (NCCL).
    q, k, v: the rank's chunks (local_chunks of the global tensors), bhnd,
    on this rank's GPU. Every rank calls it with the same plan and mask."""
    import torch
    import torch.distributed as dist
    rank = dist.get_rank(group)
    world = dist.get_world_size(group)
    if world != plan.world:
        raise ValueError(f"ring_attention: the plan is for {plan.world} ranks, the process "
                         f"group has {world}")
    peer = (lambda r: dist.get_global_rank(group, r)) if group is not None else (lambda r: r)
    state = RingRank(plan, rank, q, mask, attention_kwargs)
    state.compute(0, k, v)
    kv = torch.cat([k, v], dim=-1).contiguous()      # one message per step
    for t in range(1, world):
        ops = []
        if plan.sends(rank, t):
            ops.append(dist.P2POp(dist.isend, kv, peer((rank + t) % world), group))
        receives = plan.steps[rank][t].receives
        if receives:
            source = plan.steps[rank][t].source
            chunks = len(plan.chunks[source])
            buffer = torch.empty(kv.shape[0], kv.shape[1], chunks * plan.chunk, kv.shape[3],
                                 dtype=kv.dtype, device=kv.device)
            ops.append(dist.P2POp(dist.irecv, buffer, peer(source), group))
        for request in (dist.batch_isend_irecv(ops) if ops else []):
            request.wait()
        if receives:
            d = k.shape[-1]
            state.compute(t, buffer[..., :d], buffer[..., d:])
    return state.finish(v.shape[-1], v.dtype)


def emulate_ring(q: Any, k: Any, v: Any, plan: ContextParallelPlan, mask: Any = None,
                 **attention_kwargs: Any) -> Tuple[Any, Any, Dict[str, int]]:
    """The ring of `plan` run rank after rank on one GPU, with the same
    per-rank code as ring_attention (the K/V exchange is a slice instead of
    a message). q, k, v: the global [B, H, N, D] tensors. Returns the global
    (O, LSE) and counts: pairs computed, K/V transfers."""
    import torch
    states = [RingRank(plan, r, local_chunks(q, plan, r), mask, attention_kwargs)
              for r in range(plan.world)]
    keys = [local_chunks(k, plan, r) for r in range(plan.world)]
    values = [local_chunks(v, plan, r) for r in range(plan.world)]
    for t in range(plan.world):
        for r, state in enumerate(states):
            step = plan.steps[r][t]
            if t == 0 or step.receives:
                state.compute(t, keys[step.source], values[step.source])
    out = torch.empty(q.shape[0], q.shape[1], plan.n, v.shape[-1], dtype=v.dtype,
                      device=q.device)
    lse = torch.empty(q.shape[0], q.shape[1], plan.n, dtype=torch.float32, device=q.device)
    c = plan.chunk
    for r, state in enumerate(states):
        o_local, lse_local = state.finish(v.shape[-1], v.dtype)
        for index, chunk in enumerate(plan.chunks[r]):
            out[:, :, chunk * c:(chunk + 1) * c] = o_local[:, :, index * c:(index + 1) * c]
            lse[:, :, chunk * c:(chunk + 1) * c] = lse_local[:, :, index * c:(index + 1) * c]
    counts = {"pairs": len(plan.computed_pairs()), "transfers": plan.transfers()}
    return out, lse, counts
