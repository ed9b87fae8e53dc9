"""The ring's backward walk without a GPU: emulate_ring's gradients, with
its chunk pairs computed by section 5's formulas in float64 (a stand-in
for the kernels, given the rows' global O and LSE), against autograd of the
whole problem's float64 reference. Checks the decomposition (each pair's
share of dS from the global O and LSE), the routing of dK / dV to their
owners and the sums, for mask-aware and mask-agnostic plans.

Needs PyTorch (CPU): skipped where it is not installed (CI installs only
numpy and pytest; the GPU check is bench/context_parallel.py).
"""

import math

import pytest

import attn_mlir as am
from attn_mlir.distributed import plan_context_parallel, ring
from attn_mlir.reference import attention_f32, keep_matrix

torch = pytest.importorskip("torch")

N, WORLD, B, H, D = 96, 3, 1, 2, 8
SCALE = 1.0 / math.sqrt(D)

MASKS = {
    "dense": None,
    "causal": am.Causal(),
    "sliding-20-5": am.SlidingWindow(20, 5),
    "powerlaw": am.PowerLaw(block=8, window=1, sink=1),
    "segments": am.Segments(query=[40, 56], visibility=[["causal", "none"], ["full", "full"]]),
}


def _pair_keep(q, k, mask):
    return keep_matrix(mask, q.shape[2], k.shape[2], q.device).view(1, 1, q.shape[2], k.shape[2])


def _pair_forward(q, k, v, mask=None, **kwargs):
    assert not kwargs, kwargs
    o, lse = attention_f32(q, k, v, _pair_keep(q, k, mask), SCALE, dtype=torch.float64)
    return o.to(v.dtype), lse


def _pair_backward(q, k, v, out, lse, grad_out, grad_lse, mask=None, **kwargs):
    """SEMANTICS.md section 5 for one pair, given the rows' O and LSE:
    P = exp(S - LSE) on kept pairs, dS = P (dP - rowsum(dY O) + dLSE)."""
    assert not kwargs, kwargs
    q, k, v, out, grad_out = (x.double() for x in (q, k, v, out, grad_out))
    lse = lse.double()
    s = SCALE * q @ k.transpose(-1, -2)
    live = torch.isfinite(lse)[..., None]
    p = torch.where(live & _pair_keep(q, k, mask),
                    torch.exp(s - torch.where(live, lse[..., None], torch.zeros_like(s))),
                    torch.zeros_like(s))
    dp = grad_out @ v.transpose(-1, -2)
    shift = (grad_out * out).sum(-1, keepdim=True)
    if grad_lse is not None:
        shift = shift - grad_lse.double()[..., None]
    ds = p * (dp - shift)
    return SCALE * ds @ k, SCALE * ds.transpose(-1, -2) @ q, p.transpose(-1, -2) @ grad_out


def _loss(o, lse, dy, dlse=None):
    """sum(O dY) (+ sum(LSE dLSE) over rows that kept a key)."""
    loss = (o * dy).sum()
    if dlse is not None:
        finite = torch.isfinite(lse)
        loss = loss + (torch.where(finite, lse, torch.zeros_like(lse)) * dlse).sum()
    return loss


@pytest.mark.parametrize("aware", [True, False])
@pytest.mark.parametrize("with_lse", [True, False])
@pytest.mark.parametrize("name", sorted(MASKS))
def test_ring_backward_matches_autograd(attn_opt, monkeypatch, name, with_lse, aware):
    monkeypatch.setattr(ring, "_pair_forward", _pair_forward)
    monkeypatch.setattr(ring, "_pair_backward", _pair_backward)
    mask = MASKS[name]
    plan = plan_context_parallel(mask, N, WORLD, mask_aware=aware, attn_opt=attn_opt)
    gen = torch.Generator().manual_seed(hash((name, with_lse, aware)) % 2**31)
    q, k, v, dy = (torch.randn(B, H, N, D, generator=gen, dtype=torch.float64)
                   for _ in range(4))
    dlse = torch.randn(B, H, N, generator=gen, dtype=torch.float64)

    def loss_of(o, lse):
        return _loss(o, lse, dy, dlse if with_lse else None)

    ours = [x.clone().requires_grad_() for x in (q, k, v)]
    out, lse, _ = ring.emulate_ring(*ours, plan, mask=mask)
    assert out.grad_fn is not None
    grads = torch.autograd.grad(loss_of(out, lse), ours)

    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    keeps = keep_matrix(mask, N, N, "cpu").view(1, 1, N, N)
    exact_out, exact_lse = attention_f32(*leaves, keeps, SCALE, dtype=torch.float64)
    # The ring merges its partial outputs in f32 (as on the GPU), so O, and
    # through rowsum(dY O) the gradients, carry f32 rounding.
    assert torch.allclose(out, exact_out, rtol=0, atol=1e-6)
    exact = torch.autograd.grad(loss_of(exact_out, exact_lse), leaves)
    for label, g, e in zip(("dq", "dk", "dv"), grads, exact):
        assert torch.isfinite(g).all(), label
        err = (g - e).abs().max().item()
        assert err <= 1e-6 * (1 + e.abs().max().item()), (label, err)


class _ThreadedProcessGroup:
    """torch.distributed's point-to-point calls for ranks that are threads
    of this process: a FIFO mailbox per (source, destination) pair."""

    def __init__(self, world):
        import queue
        import threading
        self.world = world
        self.local = threading.local()
        self.boxes = {(s, d): queue.Queue() for s in range(world) for d in range(world)}

    def install(self, monkeypatch):
        import torch.distributed as dist
        group = self

        class P2POp:
            def __init__(self, op, tensor, peer, group=None):
                self.op, self.tensor, self.peer = op, tensor, peer

        class Request:
            def __init__(self, wait):
                self.wait = wait

        def isend(tensor, peer):
            group.boxes[(group.local.rank, peer)].put(tensor.detach().clone())
            return Request(lambda: None)

        def irecv(tensor, peer):
            return Request(lambda: tensor.copy_(group.boxes[(peer, group.local.rank)].get(
                timeout=60)))

        monkeypatch.setattr(dist, "P2POp", P2POp)
        monkeypatch.setattr(dist, "isend", isend)
        monkeypatch.setattr(dist, "irecv", irecv)
        monkeypatch.setattr(dist, "batch_isend_irecv",
                            lambda ops: [op.op(op.tensor, op.peer) for op in ops])
        monkeypatch.setattr(dist, "get_rank", lambda group=None: self.local.rank)
        monkeypatch.setattr(dist, "get_world_size", lambda group=None: self.world)

    def run(self, fn):
        """fn(rank) on one thread per rank; their results in rank order."""
        import threading
        results, errors = [None] * self.world, []

        def body(rank):
            self.local.rank = rank
            try:
                results[rank] = fn(rank)
            except BaseException as error:  # reported by the caller
                errors.append(error)
        threads = [threading.Thread(target=body, args=(r,)) for r in range(self.world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


@pytest.mark.parametrize("name", ["causal", "sliding-20-5", "segments"])
def test_ring_attention_message_path(attn_opt, monkeypatch, name):
    """ring_attention itself (the NCCL code: batched isend / irecv per step,
    the gradients sent home) with the ranks as threads: each rank's O, LSE
    and dQ, dK, dV of its own chunks equal the whole problem's."""
    monkeypatch.setattr(ring, "_pair_forward", _pair_forward)
    monkeypatch.setattr(ring, "_pair_backward", _pair_backward)
    group = _ThreadedProcessGroup(WORLD)
    group.install(monkeypatch)
    mask = MASKS[name]
    plan = plan_context_parallel(mask, N, WORLD, attn_opt=attn_opt)
    gen = torch.Generator().manual_seed(7)
    q, k, v, dy = (torch.randn(B, H, N, D, generator=gen, dtype=torch.float64)
                   for _ in range(4))
    dlse = torch.randn(B, H, N, generator=gen, dtype=torch.float64)

    def rank_fn(rank):
        local = [ring.local_chunks(x, plan, rank).clone().requires_grad_() for x in (q, k, v)]
        out, lse = ring.ring_attention(*local, plan, mask=mask)
        loss = _loss(out, lse, ring.local_chunks(dy, plan, rank),
                     ring.local_chunks(dlse, plan, rank))
        return (out.detach(), lse.detach()) + torch.autograd.grad(loss, local)

    results = group.run(rank_fn)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    keeps = keep_matrix(mask, N, N, "cpu").view(1, 1, N, N)
    exact_out, exact_lse = attention_f32(*leaves, keeps, SCALE, dtype=torch.float64)
    exact = torch.autograd.grad(_loss(exact_out, exact_lse, dy, dlse), leaves)
    wanted = [exact_out, exact_lse] + list(exact)
    for rank, got in enumerate(results):
        for label, g, e in zip(("O", "LSE", "dq", "dk", "dv"), got, wanted):
            e = ring.local_chunks(e, plan, rank)
            both = torch.isfinite(e)
            assert torch.equal(torch.isfinite(g), both), (rank, label)
            err = (g[both] - e[both]).abs().max().item()
            assert err <= 1e-6 * (1 + e[both].abs().max().item()), (rank, label, err)


def test_ulysses_attention_message_path(attn_opt, monkeypatch):
    """ulysses_attention itself (its autograd-aware all-to-alls, whose
    backward is the reverse exchange) with the ranks as threads, the
    attention of each rank's heads by the float64 reference: each rank's O,
    LSE and gradients of its own sequence shard equal the whole problem's."""
    import threading
    import torch.distributed as dist
    from attn_mlir import torch_api
    from attn_mlir.distributed import ulysses

    world, heads = 2, 4
    mask = MASKS["sliding-20-5"]

    def reference_attention(q, k, v, mask=None, return_lse=False):
        assert return_lse
        keeps = keep_matrix(mask, q.shape[2], k.shape[2], q.device).view(
            1, 1, q.shape[2], k.shape[2])
        return attention_f32(q, k, v, keeps, SCALE, dtype=torch.float64)
    monkeypatch.setattr(torch_api, "attention", reference_attention)

    ranks = _ThreadedProcessGroup(world)
    ranks.install(monkeypatch)
    slots = [None] * world
    barrier = threading.Barrier(world)

    def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None,
                          group=None):
        # Slot s of every rank's input goes to rank s (equal splits).
        rank = ranks.local.rank
        slots[rank] = input.detach().clone()
        barrier.wait()
        for source in range(world):
            output[source].copy_(slots[source][rank])
        barrier.wait()
    monkeypatch.setattr(dist, "all_to_all_single", all_to_all_single)

    gen = torch.Generator().manual_seed(11)
    q, k, v, dy = (torch.randn(B, heads, N, D, generator=gen, dtype=torch.float64)
                   for _ in range(4))
    dlse = torch.randn(B, heads, N, generator=gen, dtype=torch.float64)
    shard = N // world

    def part(x, rank):
        return x[:, :, rank * shard:(rank + 1) * shard]

    def rank_fn(rank):
        local = [part(x, rank).clone().requires_grad_() for x in (q, k, v)]
        out, lse = ulysses.ulysses_attention(*local, mask=mask)
        loss = _loss(out, lse, part(dy, rank), part(dlse, rank))
        return (out.detach(), lse.detach()) + torch.autograd.grad(loss, local)

    results = ranks.run(rank_fn)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    keeps = keep_matrix(mask, N, N, "cpu").view(1, 1, N, N)
    exact_out, exact_lse = attention_f32(*leaves, keeps, SCALE, dtype=torch.float64)
    loss = _loss(exact_out, exact_lse, dy, dlse)
    wanted = [exact_out, exact_lse] + list(torch.autograd.grad(loss, leaves))
    for rank, got in enumerate(results):
        for label, g, e in zip(("O", "LSE", "dq", "dk", "dv"), got, wanted):
            err = (g - part(e, rank)).abs().max().item()
            assert err <= 1e-9 * (1 + e.abs().max().item()), (rank, label, err)
