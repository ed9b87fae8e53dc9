import pytest

from attn_mlir import Causal, HeadGroup, Heads, Precision, SlidingWindow, SoftPag
from attn_mlir.heads import as_heads
from attn_mlir.precision import PRESETS, as_precision


@pytest.mark.parametrize("name, canonical", [
    ("sage1", "sage1"), ("sage2_8b", "sage2_8b"), ("sage2-8b", "sage2_8b"),
    ("sage2_4b", "sage2_4b"), ("sage2-4b", "sage2_4b"), ("fp8", "fp8"), ("nvfp4", "nvfp4"),
])
def test_presets(name, canonical):
    p = Precision.preset(name)
    assert p.to_mlir() == f"#attn.precision<{canonical}>"
    assert p.preset_name == canonical
    assert as_precision(name) == p


def test_preset_equals_its_fields():
    fields = Precision(qk="i8", qk_granularity=("block", 64), smooth_k=True, pv="f16",
                       pv_accum="f16")
    assert fields == Precision.preset("sage1") == PRESETS["sage1"]
    assert fields.to_mlir() == "#attn.precision<sage1>"
    assert hash(fields) == hash(Precision.preset("sage1"))


def test_keyed_form_and_overrides():
    p = Precision.preset("sage1", pv_accum="f32")
    assert p.to_mlir() == "#attn.precision<qk = i8, qk_granularity = block(64), smooth_k, pv = f16>"
    q = Precision(qk="i8", qk_granularity="token", smooth_k=True, pv="bf16")
    assert q.to_mlir() == "#attn.precision<qk = i8, qk_granularity = token, smooth_k, pv = bf16>"
    r = Precision(qk="i4", qk_granularity="thread(32)", smooth_q=True, pv="f8E4M3FN",
                  pv_accum="two_level")
    assert r.to_mlir() == ("#attn.precision<qk = i4, qk_granularity = thread(32), smooth_q, "
                           "pv = f8E4M3FN, pv_accum = two_level>")
    assert Precision(qk="bf16").to_mlir() == "#attn.precision<qk = bf16>"
    assert as_precision({"preset": "fp8", "smooth_k": False}) == Precision.preset("fp8", smooth_k=False)
    assert as_precision(Precision()) is None
    assert as_precision({"qk": "f16"}) == Precision(qk="f16")


@pytest.mark.parametrize("build, error, message", [
    (lambda: Precision(qk="i16"), ValueError, r"Precision: qk = 'i16' is not one of f16, bf16, i8"),
    (lambda: Precision(qk="f8E4M3", qk_granularity="tensor"), ValueError, r"write f8E4M3FN"),
    (lambda: Precision(pv="i8"), ValueError, r"Precision: pv = 'i8' is not one of"),
    (lambda: Precision(qk="i8"), ValueError, r"qk = i8 needs qk_granularity"),
    (lambda: Precision(qk="f16", qk_granularity="token"), ValueError, r"applies only to qk = i8, i4 or f8E4M3FN, not qk = f16"),
    (lambda: Precision(qk="i8", qk_granularity="block"), ValueError, r"qk_granularity block needs a size"),
    (lambda: Precision(qk="i8", qk_granularity="block(0)"), ValueError, r"size = 0 must be >= 1"),
    (lambda: Precision(qk="i8", qk_granularity="thread(12)"), ValueError, r"thread\(12\) needs a multiple of 8"),
    (lambda: Precision(qk="i8", qk_granularity="token(4)"), ValueError, r"qk_granularity token takes no size"),
    (lambda: Precision(qk="i8", qk_granularity="row"), ValueError, r"qk_granularity = 'row' is not one of"),
    (lambda: Precision(qk="i8", qk_granularity=64), TypeError, r"qk_granularity must be a string"),
    (lambda: Precision(smooth_k=1), TypeError, r"Precision: smooth_k must be a bool"),
    (lambda: Precision(pv_accum="f64"), ValueError, r"pv_accum = 'f64' is not one of f32, f16, two_level"),
    (lambda: Precision(pv="bf16", pv_accum="f16"), ValueError, r"pv_accum = f16 needs pv = f16, not bf16"),
    (lambda: Precision.preset("sage3"), ValueError, r"unknown preset 'sage3'"),
    (lambda: Precision.preset("sage1", pv_acum="f32"), TypeError, r"unknown field\(s\) pv_acum"),
    (lambda: as_precision(8), TypeError, r"precision must be a Precision, a preset name or a dict"),
])
def test_precision_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_heads_rendering():
    heads = Heads(weights=[1, 1.0, 0.5, 0.0], softpag=SoftPag(0.3, [0, 1]),
                  groups=[HeadGroup([2], mask=SlidingWindow(128, 0), precision="sage2-4b")])
    assert heads.to_mlir() == (
        "#attn.heads<weights = [1.0, 1.0, 0.5, 0.0], softpag = #attn.softpag<u = 0.3, heads = [0, 1]>, "
        "groups = [#attn.head_group<heads = [2], mask = #attn.sliding_window<left = 128, right = 0>, "
        "precision = #attn.precision<sage2_4b>>]>")
    assert Heads(weights=[1e-5, 2e16]).to_mlir() == "#attn.heads<weights = [1.0e-05, 2.0e+16]>"
    assert HeadGroup([0, 3], mask="causal").to_mlir() == "#attn.head_group<heads = [0, 3], mask = #attn.causal>"
    # A group's default precision is kept: it overrides the op's for those heads.
    assert HeadGroup([1], precision=Precision()).to_mlir() == \
        "#attn.head_group<heads = [1], precision = #attn.precision<>>"
    assert Heads(groups=[HeadGroup([0], mask=Causal())]) == Heads(groups=(HeadGroup((0,), mask="causal"),))
    assert as_heads(Heads()) is None
    assert as_heads({"weights": [1.0]}) == Heads(weights=(1.0,))


@pytest.mark.parametrize("build, error, message", [
    (lambda: SoftPag(1.5, [0]), ValueError, r"SoftPag: u = 1.5 must be in \[0, 1\]"),
    (lambda: SoftPag(float("nan"), [0]), ValueError, r"SoftPag: u = nan must be finite"),
    (lambda: SoftPag(0.5, []), ValueError, r"SoftPag: heads must list at least one head"),
    (lambda: SoftPag(0.5, [1, 1]), ValueError, r"SoftPag: heads lists head 1 twice"),
    (lambda: HeadGroup([-1]), ValueError, r"HeadGroup: heads\[0\] = -1 must be >= 0"),
    (lambda: HeadGroup([0], mask=5), TypeError, r"HeadGroup: mask must be a Mask"),
    (lambda: HeadGroup([0], precision="sage9"), ValueError, r"unknown preset 'sage9'"),
    (lambda: Heads(weights=[1.0, float("inf")]), ValueError, r"Heads: weights\[1\] = inf must be finite"),
    (lambda: Heads(weights=["a"]), TypeError, r"Heads: weights\[0\] must be a number"),
    (lambda: Heads(softpag=(0.3, [0])), TypeError, r"Heads: softpag must be a SoftPag"),
    (lambda: Heads(groups=[HeadGroup([0, 1]), HeadGroup([1])]), ValueError, r"head 1 is in groups\[0\] and groups\[1\]"),
    (lambda: Heads(groups=[[0]]), TypeError, r"Heads: groups\[0\] must be a HeadGroup"),
    (lambda: as_heads([1.0]), TypeError, r"heads must be an attn_mlir.Heads"),
])
def test_heads_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()
