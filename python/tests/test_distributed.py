"""attn_mlir.distributed without a GPU: the mask-aware ring plan against a
brute force over the mask (numpy keep() of the reference, written from
SEMANTICS.md independently of attn-opt's classification), and the LSE
merge against a direct softmax."""

import math

import numpy as np
import pytest

import attn_mlir as am
from attn_mlir.distributed import (EMPTY, FULL, PARTIAL, chunk_layout, classify_chunks,
                                   merge_partials, plan_context_parallel)
from attn_mlir.errors import AttnArtifactsMissing
from attn_mlir.reference import keep

N, WORLD = 256, 4

MASKS = {
    "dense": None,
    "causal": am.Causal(),
    "sliding-37-0": am.SlidingWindow(37, 0),
    "sliding-20-20": am.SlidingWindow(20, 20),
    "nbhd1d-33": am.Neighborhood(grid=[N], window=33),
    "nbhd2d-5x5": am.Neighborhood(grid=[16, 16], window=[5, 5]),
    "powerlaw": am.PowerLaw(block=16, window=2, sink=1),
    "segments": am.Segments(query=[100, 156], visibility=[["causal", "none"], ["full", "full"]]),
}


def brute_force(mask, n):
    i = np.arange(n).reshape(-1, 1)
    j = np.arange(n).reshape(1, -1)
    return np.broadcast_to(np.asarray(keep(mask, i, j, n, n)), (n, n))


@pytest.mark.parametrize("scheme", ["contiguous", "zigzag"])
@pytest.mark.parametrize("name", sorted(MASKS))
def test_plan_matches_brute_force(attn_opt, name, scheme):
    mask = MASKS[name]
    plan = plan_context_parallel(mask, N, WORLD, scheme=scheme, attn_opt=attn_opt)
    kept = brute_force(mask, N)
    c = plan.chunk
    counts = kept.reshape(N // c, c, N // c, c).sum(axis=(1, 3))
    # Classes: exactly the brute force's empty / full / partial.
    for a in range(N // c):
        for b in range(N // c):
            expected = EMPTY if counts[a, b] == 0 else FULL if counts[a, b] == c * c else PARTIAL
            assert plan.classes[a][b] == expected, (a, b, counts[a, b])
    # Every non-empty pair is computed once, by the rank owning its query
    # chunk, at the step its key chunk's owner sends; nothing else is.
    owner = {chunk: r for r, chunks in enumerate(plan.chunks) for chunk in chunks}
    computed = plan.computed_pairs()
    assert len(computed) == len(set(computed))
    assert {(a, b) for _, a, b in computed} == {(a, b) for a in range(N // c)
                                               for b in range(N // c) if counts[a, b]}
    for rank, a, b in computed:
        assert owner[a] == rank
    for r in range(WORLD):
        for t, step in enumerate(plan.steps[r]):
            assert step.source == (r - t) % WORLD
            for pair in step.pairs:
                assert owner[pair.key_chunk] == step.source
            assert step.receives == (t > 0 and bool(step.pairs))
            assert plan.sends(step.source, t) == step.receives
    # Totals: the computed pairs hold every kept pair of the mask.
    assert sum(int(counts[a, b]) for _, a, b in computed) == int(kept.sum())
    assert plan.transfers() == sum(s.receives for r in range(WORLD) for s in plan.steps[r])


def test_mask_agnostic_ring_sends_and_computes_everything(attn_opt):
    plan = plan_context_parallel(am.SlidingWindow(10, 0), N, WORLD, scheme="contiguous",
                                 mask_aware=False, attn_opt=attn_opt)
    assert len(plan.computed_pairs()) == WORLD * WORLD
    assert plan.transfers() == WORLD * (WORLD - 1)
    aware = plan_context_parallel(am.SlidingWindow(10, 0), N, WORLD, scheme="contiguous",
                                  attn_opt=attn_opt)
    # A 10-token window only reaches the previous shard.
    assert len(aware.computed_pairs()) == 2 * WORLD - 1
    assert aware.transfers() == WORLD - 1


def test_zigzag_balances_causal(attn_opt):
    plan = plan_context_parallel(am.Causal(), 1024, 8, attn_opt=attn_opt)
    assert plan.scheme == "zigzag"
    work = [plan.work(r) for r in range(8)]
    assert all(w == work[0] for w in work), work
    contiguous = plan_context_parallel(am.Causal(), 1024, 8, scheme="contiguous",
                                       attn_opt=attn_opt)
    assert contiguous.work(0)["full"] == 0 and contiguous.work(7)["full"] == 7
    # Auto keeps contiguous shards where rows keep about as many keys.
    assert plan_context_parallel(am.SlidingWindow(64, 0), 1024, 8,
                                 attn_opt=attn_opt).scheme == "contiguous"


def test_chunk_layout_and_errors():
    assert chunk_layout(12, 3, "contiguous") == (4, [[0], [1], [2]])
    assert chunk_layout(12, 3, "zigzag") == (2, [[0, 5], [1, 4], [2, 3]])
    with pytest.raises(ValueError, match=r"N = 10 does not split into 6 equal chunks"):
        chunk_layout(10, 3, "zigzag")
    with pytest.raises(ValueError, match=r"scheme = 'ring' is not one of"):
        chunk_layout(12, 3, "ring")
    with pytest.raises(ValueError, match=r"world size = 0 must be a positive integer"):
        chunk_layout(12, 0, "contiguous")


def test_classes_are_cached_for_machines_without_attn_opt(attn_opt, private_cache,
                                                          monkeypatch):
    first = classify_chunks(am.Causal(), 64, 16, attn_opt=attn_opt)
    assert first == [[1, 0, 0, 0], [2, 1, 0, 0], [2, 2, 1, 0], [2, 2, 2, 1]]
    # The cache answers without a working attn-opt.
    assert classify_chunks(am.Causal(), 64, 16, attn_opt="/nonexistent/attn-opt") == first
    import attn_mlir.distributed.plan as plan_module
    monkeypatch.setattr(plan_module, "find_attn_opt", lambda: None)
    with pytest.raises(AttnArtifactsMissing, match="no cached chunk classes"):
        classify_chunks(am.Causal(), 64, 8)


def _softmax_parts(rng, rows, keys, splits, empty_part=None, empty_row=None):
    s = rng.standard_normal((rows, keys)) * 3
    v = rng.standard_normal((keys, 5))
    kept = np.ones((rows, keys), dtype=bool)
    if empty_row is not None:
        kept[empty_row] = False
    if empty_part is not None:
        a, b = splits[empty_part], splits[empty_part + 1]
        kept[:, a:b] = False

    def attend(cols):
        sc = np.where(kept[:, cols], s[:, cols], -np.inf)
        m = sc.max(axis=1, keepdims=True)
        m_safe = np.where(np.isfinite(m), m, 0.0)
        p = np.exp(sc - m_safe)
        l = p.sum(axis=1, keepdims=True)
        o = np.where(l > 0, (p @ v[cols]) / np.where(l > 0, l, 1), 0.0)
        lse = np.where(l > 0, m_safe + np.log(np.where(l > 0, l, 1)), -np.inf)[:, 0]
        return o, lse

    whole = attend(slice(0, keys))
    parts = [attend(slice(splits[i], splits[i + 1])) for i in range(len(splits) - 1)]
    return whole, parts


def test_merge_is_exact_and_nan_free():
    rng = np.random.default_rng(0)
    splits = [0, 7, 30, 31, 64]
    (o, lse), parts = _softmax_parts(rng, 9, 64, splits, empty_part=1, empty_row=4)
    merged_o, merged_lse = merge_partials([p[0] for p in parts], [p[1] for p in parts])
    assert not np.isnan(merged_o).any() and not np.isnan(merged_lse).any()
    np.testing.assert_allclose(merged_o, o, rtol=1e-12, atol=1e-12)
    finite = np.isfinite(lse)
    np.testing.assert_allclose(merged_lse[finite], lse[finite], rtol=1e-12)
    assert merged_lse[4] == -math.inf and (merged_o[4] == 0).all()
    assert list(np.isfinite(merged_lse)) == list(finite)


def test_merge_rejects_mismatched_parts():
    with pytest.raises(ValueError, match="2 outputs and 1 LSEs"):
        merge_partials([np.zeros((1, 2)), np.zeros((1, 2))], [np.zeros(1)])


def test_shard_mask_is_the_shifted_mask(attn_opt):
    inner = am.Neighborhood(grid=[16, 16], window=[5, 3])
    shard = am.Shard(inner, 64, 32, 256, 256)
    assert shard.to_mlir() == ("#attn.shard<mask = #attn.neighborhood<grid = [16, 16], window = "
                               "[5, 3]>, query_start = 64, key_start = 32, query_length = 256, "
                               "key_length = 256>")
    printed = am.verify(am.spec_for_shapes((1, 1, 100, 8), (1, 1, 120, 8), (1, 1, 120, 8),
                                           mask=shard, target="sm_80"), attn_opt=attn_opt)
    assert shard.to_mlir() in printed
    i = np.arange(100).reshape(-1, 1)
    j = np.arange(120).reshape(1, -1)
    np.testing.assert_array_equal(
        np.broadcast_to(keep(shard, i, j, 100, 120), (100, 120)),
        brute_force(inner, 256)[64:164, 32:152])
    with pytest.raises(ValueError, match=r"Shard: query_length = 64 must be >= 65"):
        am.Shard(am.Causal(), 64, 0, 64, 128)
    with pytest.raises(TypeError, match=r"Shard: mask must be a Mask"):
        am.Shard("causal", 0, 0, 64, 64)


def test_one_rank_plans_one_pair(attn_opt):
    # One chunk prints its classes as a splat (dense<1>).
    plan = plan_context_parallel(am.Causal(), 64, 1, scheme="contiguous", attn_opt=attn_opt)
    assert plan.classes == [[PARTIAL]]
    assert plan.computed_pairs() == [(0, 0, 0)] and plan.transfers() == 0
    assert plan_context_parallel(None, 64, 1, attn_opt=attn_opt).classes == [[FULL]]


def test_distributed_calls_refuse_what_they_cannot_shard():
    from attn_mlir.distributed.ring import _check_kwargs
    with pytest.raises(ValueError, match=r"precision= is not supported"):
        _check_kwargs({"precision": "sage1"})
    with pytest.raises(ValueError, match=r"heads= is not supported"):
        _check_kwargs({"heads": am.Heads(weights=[1.0])})
