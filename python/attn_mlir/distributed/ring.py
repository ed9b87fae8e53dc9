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

Both calls are differentiable (`_RingFunction`). The backward walks the
same schedule again: each pair runs the backward kernels with the global
O and LSE of its query chunk (P = exp(S - LSE) is then the whole row's
probability, and dS = P (dP - rowsum(dY O)) + P dLSE its exact gradient),
dQ is summed on the query chunk's rank, and the dK / dV of a received K/V
chunk go back to the rank that owns it (in f32, summed there).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ..masks import Shard, as_mask
from .merge import merge_partials
from .plan import FULL, ContextParallelPlan

# Quantized precisions would compute their statistics (means, tensor-wide
# scales) per chunk instead of over the sequence: not the op's semantics.
_UNSUPPORTED = ("mask", "precision", "heads", "bias", "explicit_mask", "segment_offsets",
                "gates", "out", "return_lse", "layout")


def _pair_forward(q: Any, k: Any, v: Any, **kwargs: Any) -> Tuple[Any, Any]:
    """(O, LSE) of one chunk pair on the compiled kernels."""
    from ..torch_api import attention
    return attention(q, k, v, return_lse=True, **kwargs)


def _pair_backward(q: Any, k: Any, v: Any, out: Any, lse: Any, grad_out: Any,
                   grad_lse: Optional[Any], **kwargs: Any) -> Tuple[Any, Any, Any]:
    """(dQ, dK, dV) of one chunk pair on the backward kernels, given the
    rows' O and LSE (the global ones: section 5's formulas then give the
    pair's share of the whole gradient)."""
    from ..options import CallOptions
    from ..torch_ops import attention_backward_op
    text = CallOptions.create(return_lse=True, **kwargs).to_text()
    dq, dk, dv, _, _ = attention_backward_op(q, k, v, out, lse, grad_out, grad_lse, None, None,
                                             None, None, text, False)
    return dq, dk, dv


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

    def _pair_kwargs(self, pair: Any) -> Dict[str, Any]:
        """attention()'s arguments for `pair` (its mask where partial)."""
        extra = dict(self.kwargs)
        if pair.cls != FULL:
            extra["mask"] = self._pair_mask(pair.query_chunk, pair.key_chunk)
        return extra

    def compute(self, step: int, k_source: Any, v_source: Any) -> None:
        """The pairs of `step`, with the source rank's K and V chunks."""
        source = self.plan.steps[self.rank][step].source
        for pair in self.plan.steps[self.rank][step].pairs:
            q = self._slice(self.q, self.rank, pair.query_chunk)
            k = self._slice(k_source, source, pair.key_chunk)
            v = self._slice(v_source, source, pair.key_chunk)
            # Partial O in V's type (the kernel's output), merged in f32.
            o, lse = _pair_forward(q, k, v, **self._pair_kwargs(pair))
            self.parts[pair.query_chunk].append((o.float(), lse))

    def backward(self, step: int, k_source: Any, v_source: Any, out: Any, lse: Any,
                 grad_out: Any, grad_lse: Optional[Any], grad_q: Any) -> Tuple[Any, Any]:
        """The gradients of the pairs of `step`: dQ added to `grad_q` (f32,
        this rank's chunks), and the (dK, dV) of the source rank's chunks
        (f32, zero where no pair read them), to be added by their owner.
        out, lse, grad_out, grad_lse: this rank's rows (global O and LSE)."""
        import torch
        source = self.plan.steps[self.rank][step].source
        grad_k = torch.zeros(k_source.shape, dtype=torch.float32, device=k_source.device)
        grad_v = torch.zeros(v_source.shape, dtype=torch.float32, device=v_source.device)
        for pair in self.plan.steps[self.rank][step].pairs:
            a, b = pair.query_chunk, pair.key_chunk
            rows = [self._slice(x, self.rank, a) for x in (self.q, out, lse, grad_out)]
            dlse = self._slice(grad_lse, self.rank, a) if grad_lse is not None else None
            dq, dk, dv = _pair_backward(
                rows[0], self._slice(k_source, source, b), self._slice(v_source, source, b),
                rows[1], rows[2], rows[3], dlse, **self._pair_kwargs(pair))
            self._slice(grad_q, self.rank, a).add_(dq.float())
            self._slice(grad_k, source, b).add_(dk.float())
            self._slice(grad_v, source, b).add_(dv.float())
        return grad_k, grad_v

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


class _RingFunction:
    """torch.autograd.Function over a ring runner (NCCL or emulated): the
    forward without autograd, the backward by the runner's own walk."""

    _impl = None

    @classmethod
    def apply(cls, runner: Any, q: Any, k: Any, v: Any) -> Tuple[Any, Any]:
        if cls._impl is None:
            import torch

            class Impl(torch.autograd.Function):
                @staticmethod
                def forward(ctx, q, k, v, runner):
                    out, lse = runner.forward(q, k, v)
                    ctx.save_for_backward(q, k, v, out, lse)
                    ctx.runner = runner
                    # No dLSE operand unless the LSE enters the loss.
                    ctx.set_materialize_grads(False)
                    return out, lse

                @staticmethod
                def backward(ctx, grad_out, grad_lse):
                    q, k, v, out, lse = ctx.saved_tensors
                    if grad_out is None:
                        grad_out = torch.zeros_like(out)
                    dq, dk, dv = ctx.runner.backward(q, k, v, out, lse, grad_out, grad_lse)
                    return dq, dk, dv, None
            cls._impl = Impl
        return cls._impl.apply(q, k, v, runner)


class _NcclRing:
    """ring_attention's forward and backward on this rank."""

    def __init__(self, plan: ContextParallelPlan, mask: Any, group: Any,
                 kwargs: Dict[str, Any]) -> None:
        import torch.distributed as dist
        self.plan, self.mask, self.group, self.kwargs = plan, mask, group, kwargs
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        if self.world != plan.world:
            raise ValueError(f"ring_attention: the plan is for {plan.world} ranks, the "
                             f"process group has {self.world}")

    def _peer(self, r: int) -> int:
        import torch.distributed as dist
        return dist.get_global_rank(self.group, r) if self.group is not None else r

    def _exchange(self, t: int, send: Any, receive_like: Any, back: bool = False
                  ) -> Optional[Any]:
        """Step t's message: `send` to rank + t (the rank that computes with
        our chunks), a buffer shaped as the source's chunks of `receive_like`
        from rank - t; with `back`, the reverse direction (gradients home)."""
        import torch
        import torch.distributed as dist
        plan, rank, world = self.plan, self.rank, self.world
        step = plan.steps[rank][t]
        forward_peer, source = (rank + t) % world, step.source
        ops, buffer = [], None
        if back:
            # Our partials of the source's chunks go to it; the rank that
            # read our chunks returns its partials.
            if step.receives:
                ops.append(dist.P2POp(dist.isend, send, self._peer(source), self.group))
            if plan.sends(rank, t):
                buffer = torch.empty_like(receive_like)
                ops.append(dist.P2POp(dist.irecv, buffer, self._peer(forward_peer),
                                      self.group))
        else:
            if plan.sends(rank, t):
                ops.append(dist.P2POp(dist.isend, send, self._peer(forward_peer), self.group))
            if step.receives:
                chunks = len(plan.chunks[source])
                shape = list(receive_like.shape)
                shape[2] = chunks * plan.chunk
                buffer = torch.empty(shape, dtype=receive_like.dtype, device=receive_like.device)
                ops.append(dist.P2POp(dist.irecv, buffer, self._peer(source), self.group))
        for request in (dist.batch_isend_irecv(ops) if ops else []):
            request.wait()
        return buffer

    def forward(self, q: Any, k: Any, v: Any) -> Tuple[Any, Any]:
        import torch
        state = RingRank(self.plan, self.rank, q, self.mask, self.kwargs)
        state.compute(0, k, v)
        kv = torch.cat([k, v], dim=-1).contiguous()      # one message per step
        d = k.shape[-1]
        for t in range(1, self.world):
            buffer = self._exchange(t, kv, kv)
            if buffer is not None:
                state.compute(t, buffer[..., :d], buffer[..., d:])
        return state.finish(v.shape[-1], v.dtype)

    def backward(self, q: Any, k: Any, v: Any, out: Any, lse: Any, grad_out: Any,
                 grad_lse: Optional[Any]) -> Tuple[Any, Any, Any]:
        import torch
        state = RingRank(self.plan, self.rank, q, self.mask, self.kwargs)
        grad_q = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        grad_k, grad_v = state.backward(0, k, v, out, lse, grad_out, grad_lse, grad_q)
        grad_kv = torch.cat([grad_k, grad_v], dim=-1)
        kv = torch.cat([k, v], dim=-1).contiguous()
        d = k.shape[-1]
        for t in range(1, self.world):
            buffer = self._exchange(t, kv, kv)
            partial = None
            if buffer is not None:
                dk, dv = state.backward(t, buffer[..., :d], buffer[..., d:], out, lse, grad_out,
                                        grad_lse, grad_q)
                partial = torch.cat([dk, dv], dim=-1).contiguous()
            returned = self._exchange(t, partial, grad_kv, back=True)
            if returned is not None:
                grad_kv += returned
        return (grad_q.to(q.dtype), grad_kv[..., :d].to(k.dtype),
                grad_kv[..., d:].to(v.dtype))


def ring_attention(q: Any, k: Any, v: Any, plan: ContextParallelPlan, mask: Any = None,
                   group: Any = None, **attention_kwargs: Any) -> Tuple[Any, Any]:
    """This rank's (O, LSE) of the ring over torch.distributed (NCCL).
    q, k, v: the rank's chunks (local_chunks of the global tensors), bhnd,
    on this rank's GPU. Every rank calls it with the same plan and mask.
    Differentiable: the backward walks the ring again (module docstring)
    and returns each K/V chunk's gradient to its rank."""
    _check_kwargs(attention_kwargs)
    return _RingFunction.apply(_NcclRing(plan, mask, group, attention_kwargs), q, k, v)


class _EmulatedRing:
    """The ring of `plan` rank after rank on one GPU, with RingRank's code:
    each K/V exchange is a slice of the global tensors instead of a message,
    each gradient's return an addition into the owner's slice."""

    def __init__(self, plan: ContextParallelPlan, mask: Any, kwargs: Dict[str, Any]) -> None:
        self.plan, self.mask, self.kwargs = plan, mask, kwargs

    def _walk(self, visit: Any) -> None:
        """visit(rank, step, source) for every step a rank computes."""
        for t in range(self.plan.world):
            for r in range(self.plan.world):
                step = self.plan.steps[r][t]
                if t == 0 or step.receives:
                    visit(r, t, step.source)

    def _to_global(self, parts: List[Any], like: Any) -> Any:
        """The ranks' concatenated chunks back at their global positions."""
        import torch
        c = self.plan.chunk
        full = torch.empty((*like.shape[:2], self.plan.n, *parts[0].shape[3:]),
                           dtype=parts[0].dtype, device=like.device)
        for r, part in enumerate(parts):
            for index, chunk in enumerate(self.plan.chunks[r]):
                full[:, :, chunk * c:(chunk + 1) * c] = part[:, :, index * c:(index + 1) * c]
        return full

    def forward(self, q: Any, k: Any, v: Any) -> Tuple[Any, Any]:
        plan = self.plan
        states = [RingRank(plan, r, local_chunks(q, plan, r), self.mask, self.kwargs)
                  for r in range(plan.world)]
        keys = [local_chunks(k, plan, r) for r in range(plan.world)]
        values = [local_chunks(v, plan, r) for r in range(plan.world)]
        self._walk(lambda r, t, source: states[r].compute(t, keys[source], values[source]))
        results = [state.finish(v.shape[-1], v.dtype) for state in states]
        out = self._to_global([o.unsqueeze(-1) for o, _ in results], q).squeeze(-1)
        lse = self._to_global([x.unsqueeze(-1) for _, x in results], q).squeeze(-1)
        return out, lse

    def backward(self, q: Any, k: Any, v: Any, out: Any, lse: Any, grad_out: Any,
                 grad_lse: Optional[Any]) -> Tuple[Any, Any, Any]:
        import torch
        plan, world = self.plan, self.plan.world

        def chunks(x: Any) -> List[Any]:
            return [local_chunks(x, plan, r) if x is not None else None for r in range(world)]
        qs, keys, values = chunks(q), chunks(k), chunks(v)
        outs, lses, grad_outs, grad_lses = chunks(out), chunks(lse), chunks(grad_out), \
            chunks(grad_lse)
        states = [RingRank(plan, r, qs[r], self.mask, self.kwargs) for r in range(world)]
        grad_q = [torch.zeros(x.shape, dtype=torch.float32, device=x.device) for x in qs]
        grad_k = [torch.zeros(x.shape, dtype=torch.float32, device=x.device) for x in keys]
        grad_v = [torch.zeros(x.shape, dtype=torch.float32, device=x.device) for x in values]

        def visit(r: int, t: int, source: int) -> None:
            dk, dv = states[r].backward(t, keys[source], values[source], outs[r], lses[r],
                                        grad_outs[r], grad_lses[r], grad_q[r])
            grad_k[source] += dk          # returned to the owner
            grad_v[source] += dv
        self._walk(visit)
        return (self._to_global(grad_q, q).to(q.dtype), self._to_global(grad_k, k).to(k.dtype),
                self._to_global(grad_v, v).to(v.dtype))


def emulate_ring(q: Any, k: Any, v: Any, plan: ContextParallelPlan, mask: Any = None,
                 **attention_kwargs: Any) -> Tuple[Any, Any, Dict[str, int]]:
    """The ring of `plan` run rank after rank on one GPU, with the same
    per-rank code as ring_attention (the K/V exchange is a slice instead of
    a message). q, k, v: the global [B, H, N, D] tensors. Returns the global
    (O, LSE) and counts: pairs computed, K/V transfers. Differentiable, with
    ring_attention's backward walk."""
    _check_kwargs(attention_kwargs)
    out, lse = _RingFunction.apply(_EmulatedRing(plan, mask, attention_kwargs), q, k, v)
    counts = {"pairs": len(plan.computed_pairs()), "transfers": plan.transfers()}
    return out, lse, counts
