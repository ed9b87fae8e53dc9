import pytest

from attn_mlir import (And, Causal, Dense, Neighborhood, NoneMask, Or, PowerLaw, Segments,
                       SlidingWindow)
from attn_mlir.masks import as_mask


@pytest.mark.parametrize("mask, text", [
    (Dense(), "#attn.dense"),
    (NoneMask(), "#attn.none"),
    (Causal(), "#attn.causal"),
    (Causal("bottom_right"), "#attn.causal<bottom_right>"),
    (SlidingWindow(128, 0), "#attn.sliding_window<left = 128, right = 0>"),
    (SlidingWindow(left=64, right=64, alignment="bottom_right"),
     "#attn.sliding_window<left = 64, right = 64, alignment = bottom_right>"),
    (Neighborhood(grid=[128, 128], window=13),
     "#attn.neighborhood<grid = [128, 128], window = [13, 13]>"),
    (Neighborhood([128, 128], [16, 16], stride=[16, 16]),
     "#attn.neighborhood<grid = [128, 128], window = [16, 16], stride = [16, 16]>"),
    (Neighborhood([16, 32, 32], [5, 9, 9], dilation=[1, 2, 2], causal=[True, False, False]),
     "#attn.neighborhood<grid = [16, 32, 32], window = [5, 9, 9], dilation = [1, 2, 2], "
     "causal = [true, false, false]>"),
    (Neighborhood([10], [3], dilation=2), "#attn.neighborhood<grid = [10], window = [3], dilation = [2]>"),
    (PowerLaw(block=256, window=5, sink=1), "#attn.power_law<block = 256, window = 5, sink = 1>"),
    (PowerLaw(64, 2, causal=False), "#attn.power_law<block = 64, window = 2, causal = false>"),
    (Segments(query=[64, 192], visibility=[["full", "none"], ["full", "causal"]]),
     "#attn.segments<query = [64, 192], visibility = [[full, none], [full, causal]]>"),
    (Segments([None, None], [["causal", "none"], ["none", "causal"]], renormalize=False),
     "#attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]], "
     "renormalize = false>"),
    (Segments([32, 32], [["full", "none", "full", "none"], ["none", "full", "none", "full"]],
              key=[8, 8, 32, 32]),
     "#attn.segments<query = [32, 32], key = [8, 8, 32, 32], visibility = "
     "[[full, none, full, none], [none, full, none, full]]>"),
    (Segments([16, 64], [["full", "none"], ["full", Neighborhood([8, 8], 3)]]),
     "#attn.segments<query = [16, 64], visibility = [[full, none], "
     "[full, #attn.neighborhood<grid = [8, 8], window = [3, 3]>]]>"),
    (Segments([4, 4], [[Causal("bottom_right"), Dense()], [NoneMask(), Causal()]]),
     "#attn.segments<query = [4, 4], visibility = [[#attn.causal<bottom_right>, full], "
     "[none, causal]]>"),
    (And(Causal(), SlidingWindow(256, 0)),
     "#attn.and<#attn.causal, #attn.sliding_window<left = 256, right = 0>>"),
    (SlidingWindow(128, 0) | PowerLaw(64, 1, 1),
     "#attn.or<#attn.sliding_window<left = 128, right = 0>, "
     "#attn.power_law<block = 64, window = 1, sink = 1>>"),
])
def test_rendering(mask, text):
    assert mask.to_mlir() == text
    assert str(mask) == text


def test_equal_masks_are_equal_values():
    assert Neighborhood([8, 8], 3) == Neighborhood((8, 8), [3, 3], stride=1, dilation=[1, 1],
                                                   causal=False)
    assert hash(Neighborhood([8, 8], 3)) == hash(Neighborhood([8, 8], [3, 3]))
    assert Segments([2, 2], [["full"] * 2] * 2) == Segments([2, 2], [["full"] * 2] * 2, key=[2, 2])
    assert Causal() & SlidingWindow(4, 0) == And([Causal(), SlidingWindow(4, 0)])
    assert And(Causal()) != Or(Causal())
    assert len({Causal(), Causal("top_left"), Causal("bottom_right")}) == 2
    assert PowerLaw(64, 1) != PowerLaw(64, 1, sink=1)


def test_masks_are_immutable():
    with pytest.raises(AttributeError):
        Causal().alignment = "bottom_right"
    with pytest.raises(AttributeError):
        And(Causal()).members = ()


def test_as_mask_keywords():
    assert as_mask("causal") == Causal()
    assert as_mask("dense") == Dense()
    assert as_mask(None) is None
    with pytest.raises(ValueError, match="'causl'"):
        as_mask("causl")
    with pytest.raises(TypeError, match="mask must be a Mask"):
        as_mask(3)


@pytest.mark.parametrize("build, error, message", [
    (lambda: Causal("top_right"), ValueError, r"Causal: alignment = 'top_right' is not one of"),
    (lambda: SlidingWindow(-1, 0), ValueError, r"SlidingWindow: left = -1 must be >= 0"),
    (lambda: SlidingWindow(4, 2.5), TypeError, r"SlidingWindow: right must be an int, got 2.5"),
    (lambda: SlidingWindow(True, 0), TypeError, r"left must be an int, got True"),
    (lambda: Neighborhood([], [1]), ValueError, r"grid \[\] has rank 0"),
    (lambda: Neighborhood([2, 2, 2, 2], 1), ValueError, r"has rank 4, expected 1, 2 or 3"),
    (lambda: Neighborhood([8, 8], [3]), ValueError, r"window has 1 entries but the grid has rank 2"),
    (lambda: Neighborhood([8, 8], [3, 9]), ValueError, r"window\[1\] = 9 is larger than grid\[1\] = 8"),
    (lambda: Neighborhood([8, 8], 3, stride=4), ValueError, r"stride\[0\] = 4 must be in \[1, window\[0\] = 3\]"),
    (lambda: Neighborhood([8, 8], 3, stride=0), ValueError, r"stride\[0\] = 0 must be >= 1"),
    (lambda: Neighborhood([8, 8], 3, dilation=3), ValueError, r"window\[0\] x dilation\[0\] = 3 x 3 exceeds grid\[0\] = 8"),
    (lambda: Neighborhood([8, 0], 1), ValueError, r"grid\[1\] = 0 must be >= 1"),
    (lambda: Neighborhood([8], 3, causal=[1]), TypeError, r"causal\[0\] must be a bool"),
    (lambda: Neighborhood([1 << 16, 1 << 16], 3), ValueError, r"more than 2147483648 tokens"),
    (lambda: Neighborhood(8, 3), TypeError, r"grid must be a list or tuple, got 8"),
    (lambda: PowerLaw(0, 1), ValueError, r"PowerLaw: block = 0 must be >= 1"),
    (lambda: PowerLaw(64, -1), ValueError, r"PowerLaw: window = -1 must be >= 0"),
    (lambda: PowerLaw(64, 1, causal="yes"), TypeError, r"PowerLaw: causal must be a bool"),
    (lambda: Segments([], []), ValueError, r"Segments: query must list at least one segment"),
    (lambda: Segments([4, None], [["full"] * 2] * 2), ValueError, r"must be all static or all None"),
    (lambda: Segments([4, 4], [["full"] * 2] * 2, key=[None, None]), ValueError, r"both static or both run-time"),
    (lambda: Segments([4, -1], [["full"] * 2] * 2), ValueError, r"query\[1\] = -1 must be >= 0"),
    (lambda: Segments([4, 4], [["full", "none"]]), ValueError, r"visibility has 1 rows but there are 2 query segments"),
    (lambda: Segments([4, 4], [["full"], ["full", "none"]]), ValueError, r"visibility\[0\] has 1 entries but there are 2 key segments"),
    (lambda: Segments([4], [["ful"]]), ValueError, r"visibility\[0\]\[0\] = 'ful' is not 'none', 'full', 'causal'"),
    (lambda: Segments([4], [[7]]), TypeError, r"visibility\[0\]\[0\] must be 'none', 'full', 'causal' or a Mask"),
    (lambda: Segments([4], [[Segments([None], [["full"]])]]), ValueError, r"nested segments must have static sizes"),
    (lambda: And(), ValueError, r"And: needs at least one member mask"),
    (lambda: Or(Causal(), "causal"), TypeError, r"Or: member 1 must be a Mask"),
])
def test_validation_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_lengths_and_offsets():
    assert Neighborhood([8, 16], 3).pinned_lengths() == (128, 128)
    assert Segments([4, 6], [["full"] * 3] * 2, key=[1, 2, 3]).pinned_lengths() == (10, 6)
    assert Segments([None], [["full"]]).pinned_lengths() == (None, None)
    assert And(Causal(), Neighborhood([4], 3)).pinned_lengths() == (4, 4)
    with pytest.raises(ValueError, match=r"grid \[8, 8\] has 64 tokens but the key length is 65"):
        Neighborhood([8, 8], 3).check_lengths(64, 65)
    with pytest.raises(ValueError, match=r"visibility\[1\]\[1\] \(a segment pair of 64 x 64 tokens\): "
                                         r"neighborhood grid \[8, 4\] has 32 tokens"):
        Segments([16, 64], [["full", "none"], ["full", Neighborhood([8, 4], 3)]]).check_lengths(80, 80)
    runtime = Segments([None, None], [["causal", "none"], ["none", "causal"]])
    assert (Causal() & runtime).needs_segment_offsets
    assert (Causal() & runtime).runtime_segments() == [runtime]
    assert not Segments([1], [["full"]]).needs_segment_offsets
