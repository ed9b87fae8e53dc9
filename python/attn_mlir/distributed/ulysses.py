"""Ulysses-style sequence parallelism over torch.distributed (NCCL).

Each rank holds a contiguous 1/P of the sequence for every head. An
all-to-all turns that into all N tokens for 1/P of the heads (query heads
and K/V heads split alike, so GQA's head mapping is kept); each rank runs
the whole attention, mask included, on its heads with the compiled kernel;
a second all-to-all returns the output to sequence shards. Mask-agnostic by
construction: every rank sees the whole mask, and the kernel skips its
empty tiles. The reshapes are shared by the NCCL path and the one-GPU
emulation (`emulate_ulysses`).

Both are differentiable: attention() is, the reshapes are, and the
all-to-all is torch.distributed.nn's (whose backward is the reverse
all-to-all; in the emulation a transposition of stacked tensors), so the
gradients reach each rank's own shards.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from .ring import _check_kwargs


def _check_heads(world: int, q: Any, k: Any) -> None:
    hq, hkv = q.shape[1], k.shape[1]
    if hq % world or hkv % world:
        raise ValueError(f"ulysses_attention: Hq = {hq} and Hkv = {hkv} must both be "
                         f"multiples of the world size {world}")


def _to_head_major(x: Any, world: int) -> Any:
    """[B, H, n, D] -> [P, B, H/P, n, D]: slot p goes to rank p."""
    b, h, n, d = x.shape
    return x.reshape(b, world, h // world, n, d).permute(1, 0, 2, 3, 4).contiguous()


def _gather_sequence(received: Any) -> Any:
    """[P (source rank), B, H/P, n, D] -> [B, H/P, P n, D] (rank order =
    sequence order for contiguous shards)."""
    p, b, h, n, d = received.shape
    return received.permute(1, 2, 0, 3, 4).reshape(b, h, p * n, d)


def _scatter_sequence(x: Any, world: int) -> Any:
    """[B, H/P, N, D] -> [P (destination rank), B, H/P, N/P, D]."""
    b, h, n, d = x.shape
    return x.reshape(b, h, world, n // world, d).permute(2, 0, 1, 3, 4).contiguous()


def _gather_heads(received: Any) -> Any:
    """[P (head group), B, H/P, n, D] -> [B, H, n, D]."""
    p, b, h, n, d = received.shape
    return received.permute(1, 0, 2, 3, 4).reshape(b, p * h, n, d)


def ulysses_attention(q: Any, k: Any, v: Any, mask: Any = None, group: Any = None,
                      **attention_kwargs: Any) -> Tuple[Any, Any]:
    """This rank's (O, LSE) for its contiguous sequence shard. q, k, v:
    [B, H, N/P, D] (bhnd) of this rank; every rank calls it alike.
    Differentiable (module docstring)."""
    import torch
    import torch.distributed as dist
    from ..torch_api import attention
    _check_kwargs(attention_kwargs)
    world = dist.get_world_size(group)
    _check_heads(world, q, k)

    def all_to_all(x: Any) -> Any:
        # The autograd-aware collective: its backward sends the gradients
        # back the reverse way.
        from torch.distributed.nn.functional import all_to_all_single
        return all_to_all_single(torch.empty_like(x), x, group=group)

    qh, kh, vh = (_gather_sequence(all_to_all(_to_head_major(x, world))) for x in (q, k, v))
    o, lse = attention(qh, kh, vh, mask=mask, return_lse=True, **attention_kwargs)
    o_back = _gather_heads(all_to_all(_scatter_sequence(o, world)))
    lse_back = _gather_heads(all_to_all(_scatter_sequence(lse.unsqueeze(-1), world)))
    return o_back, lse_back.squeeze(-1)


def emulate_ulysses(q: Any, k: Any, v: Any, world: int, mask: Any = None,
                    **attention_kwargs: Any) -> Tuple[Any, Any]:
    """ulysses_attention for `world` ranks on one GPU: the same reshapes,
    the all-to-all as a transposition of the ranks' slots. q, k, v: the
    global [B, H, N, D]; returns the global (O, LSE)."""
    import torch
    from ..torch_api import attention
    _check_kwargs(attention_kwargs)
    _check_heads(world, q, k)
    n = q.shape[2]
    if n % world:
        raise ValueError(f"emulate_ulysses: N = {n} does not split into {world} shards")
    shard = n // world

    def exchange(per_rank: List[Any]) -> List[Any]:
        return [torch.stack([per_rank[s][r] for s in range(world)]) for r in range(world)]

    def shards(x: Any) -> List[Any]:
        return [x[:, :, r * shard:(r + 1) * shard] for r in range(world)]

    gathered = [exchange([_to_head_major(x, world) for x in shards(t)]) for t in (q, k, v)]
    outs, lses = [], []
    for r in range(world):
        qh, kh, vh = (_gather_sequence(g[r]) for g in gathered)
        o, lse = attention(qh, kh, vh, mask=mask, return_lse=True, **attention_kwargs)
        outs.append(_scatter_sequence(o, world))
        lses.append(_scatter_sequence(lse.unsqueeze(-1), world))
    o_ranks = [_gather_heads(x) for x in exchange(outs)]
    lse_ranks = [_gather_heads(x).squeeze(-1) for x in exchange(lses)]
    return torch.cat(o_ranks, dim=2), torch.cat(lse_ranks, dim=2)
