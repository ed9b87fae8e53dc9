"""CallOptions: attention()'s non-tensor arguments as the text argument of
the custom op. The text must read back to equal objects (an exported
program carries only the text) and be canonical (equal options, equal
text), and bad input must fail naming the value."""

import json
import random
import zlib

import pytest

import attn_mlir as am
from attn_mlir.options import SPEC_CLASSES, CallOptions


def _masks():
    table = [["full", "none", am.Causal()],
             [am.SlidingWindow(3, 1, "bottom_right"), "causal", "full"],
             ["none", am.PowerLaw(4, 1, 0, causal=False), "full"]]
    return [
        am.Dense(), am.NoneMask(), am.Causal(), am.Causal("bottom_right"),
        am.SlidingWindow(128, 0), am.SlidingWindow(5, 7, "bottom_right"),
        am.Neighborhood(grid=[16, 32, 32], window=[5, 9, 9], stride=[1, 2, 1],
                        dilation=[1, 1, 2], causal=[True, False, False]),
        am.Neighborhood(grid=[1000], window=31),
        am.PowerLaw(block=256, window=5, sink=1),
        am.Segments(query=[7, 9, 13], key=[5, 6, 7], visibility=table, renormalize=False),
        am.Segments(query=[None, None], visibility=[["full", "none"], ["causal", "full"]]),
        am.And(am.Causal(), am.SlidingWindow(64, 0)) | am.PowerLaw(64, 2),
        am.Shard(am.Neighborhood(grid=[64, 64], window=7), 1024, 0, 4096, 4096),
    ]


def _heads():
    return [None,
            am.Heads(weights=[1.0, 0.0, 0.5, 2.0]),
            am.Heads(softpag=am.SoftPag(0.3, [0, 2]),
                     groups=[am.HeadGroup([1], mask=am.Causal(), precision="fp8"),
                             am.HeadGroup([3], precision=am.Precision())])]


@pytest.mark.parametrize("mask", [None] + _masks())
def test_text_reads_back_to_equal_options(mask):
    rng = random.Random(zlib.crc32(repr(mask).encode()))
    for heads in _heads():
        precision = rng.choice([None, "sage1", "sage2-8b", "sage2_4b", "fp8", "nvfp4",
                                {"qk": "i8", "qk_granularity": "token", "pv": "f16"}])
        options = CallOptions.create(mask=mask, precision=precision, heads=heads,
                                     scale=rng.choice([None, 0.125, 1 / 3, 2]),
                                     layout=rng.choice(["bhnd", "bnhd"]),
                                     return_lse=rng.random() < 0.5,
                                     static_shapes=rng.random() < 0.5,
                                     target=rng.choice([None, "sm_90a", "sm_80"]),
                                     kernel=rng.choice([None, "mma_sync"]),
                                     cache_dir=rng.choice([None, "/tmp/attn cache"]))
        text = options.to_text()
        back = CallOptions.from_text(text)
        assert back == options
        assert back.to_text() == text
        # Mask and precision render the same dialect text after the trip.
        if mask is not None:
            assert back.mask.to_mlir() == mask.to_mlir()
        json.loads(text)  # plain JSON


def test_text_is_canonical():
    # Equal options from different spellings give the same text, so graphs
    # and caches that key on it agree.
    a = CallOptions.create(mask="causal", precision="sage2-8b", scale=0.5)
    b = CallOptions.create(mask=am.Causal(), precision=am.Precision.preset("sage2_8b"),
                           scale=0.5)
    assert a.to_text() == b.to_text()
    # The default precision and empty heads are no precision / no heads.
    assert CallOptions.create(precision=am.Precision(), heads=am.Heads()).to_text() == \
        CallOptions.create().to_text()
    # An int scale is a float in the text; floats read back exactly.
    assert CallOptions.create(scale=2).scale == 2.0
    third = CallOptions.create(scale=1 / 3)
    assert CallOptions.from_text(third.to_text()).scale == 1 / 3
    assert CallOptions.create(mask=am.Causal()).to_text() != CallOptions.create().to_text()


def test_emulate_block_scaled_travels_in_the_text():
    # Written only when set: the text of every other call is unchanged.
    plain = CallOptions.create(precision="nvfp4", target="sm_90a")
    emulated = CallOptions.create(precision="nvfp4", target="sm_90a", emulate_block_scaled=True)
    assert "emulate_block_scaled" not in plain.to_text()
    assert '"emulate_block_scaled":true' in emulated.to_text()
    assert CallOptions.from_text(emulated.to_text()) == emulated
    assert CallOptions.from_text(plain.to_text()).emulate_block_scaled is False
    assert "emulate_block_scaled" not in am.options.call_text(precision="nvfp4")
    text = am.options.call_text(precision="nvfp4", target="sm_90a", emulate_block_scaled=True)
    json.loads(text)
    assert CallOptions.from_text(text) == emulated
    with pytest.raises(TypeError, match=r"emulate_block_scaled must be a bool, got 1"):
        CallOptions.create(emulate_block_scaled=1)


def test_bad_arguments_name_the_value():
    with pytest.raises(TypeError, match=r"scale must be a number or None, got True"):
        CallOptions.create(scale=True)
    with pytest.raises(TypeError, match=r"layout must be a string, got 3"):
        CallOptions.create(layout=3)
    with pytest.raises(TypeError, match=r"return_lse must be a bool, got 1"):
        CallOptions.create(return_lse=1)
    with pytest.raises(TypeError, match=r"static_shapes must be a bool, got 'yes'"):
        CallOptions.create(static_shapes="yes")
    with pytest.raises(ValueError, match=r"mask = 'diagonal' is not a Mask"):
        CallOptions.create(mask="diagonal")
    with pytest.raises(ValueError, match=r"unknown preset 'sage9'"):
        CallOptions.create(precision="sage9")


def test_bad_text_is_refused():
    with pytest.raises(ValueError, match=r"not JSON"):
        CallOptions.from_text("{mask: causal")
    with pytest.raises(ValueError, match=r"must be a JSON object"):
        CallOptions.from_text("[1, 2]")
    with pytest.raises(ValueError, match=r"unknown field\(s\) window"):
        CallOptions.from_text('{"window": 3}')
    with pytest.raises(ValueError, match=r"unknown spec kind 'Diagonal'"):
        CallOptions.from_text('{"mask": {"kind": "Diagonal"}}')
    # A spec's own validation runs on the way back in.
    with pytest.raises(ValueError, match=r"SlidingWindow: left = -1 must be >= 0"):
        CallOptions.from_text('{"mask": {"kind": "SlidingWindow", "left": -1, "right": 0}}')


def test_only_spec_classes_are_encoded():
    class NotASpec:
        pass

    with pytest.raises(TypeError, match=r"cannot encode"):
        CallOptions(mask=NotASpec()).to_text()
    # Every class the decoder accepts is a public attn_mlir class.
    assert all(getattr(am, name) is cls for name, cls in SPEC_CLASSES.items())


@pytest.mark.parametrize("mask", [None, "causal"] + _masks())
def test_call_text_reads_back(mask):
    # attention()'s text, written without json from the objects' stored
    # text, reads back to the options CallOptions.create makes.
    for precision in (None, "sage2-8b", am.Precision.preset("fp8"),
                      {"qk": "i8", "qk_granularity": "block(128)", "smooth_k": True}):
        for heads in _heads():
            kwargs = dict(mask=mask, precision=precision, heads=heads, scale=1 / 3,
                          layout="bnhd", return_lse=True, target="sm_90a",
                          cache_dir='/tmp/a "quoted" \\ dir')
            text = am.options.call_text(**kwargs)
            json.loads(text)
            assert CallOptions.from_text(text) == CallOptions.create(**kwargs)


def test_spec_objects_store_their_text():
    mask = am.Neighborhood(grid=[8, 8], window=3) & am.Causal()
    assert json.loads(mask.options_json)["kind"] == "And"
    # Stored text is not a field: equality and hashing ignore it.
    assert am.Causal() == am.Causal() and hash(am.Causal()) == hash(am.Causal())
    with pytest.raises(TypeError, match=r"cannot pass <object"):
        am.options.call_text(mask=object())
