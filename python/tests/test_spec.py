import dataclasses
import re

import pytest

from attn_mlir import (And, AttentionSpec, AttnCompileError, Bias, Causal, ExplicitMask,
                       HeadGroup, Heads, Neighborhood, NoneMask, Or, PowerLaw, Precision,
                       Segments, SlidingWindow, SoftPag, verify)
from attn_mlir.spec import SPEC_FORMAT_VERSION

DOCS = Segments([None, None, None], [["causal", "none", "none"], ["none", "causal", "none"],
                                     ["none", "none", "causal"]])
VIDEO = Segments([226, 226, 1024, 1024], [["full", "none", "full", "full"],
                                          ["none", "full", "none", "full"],
                                          ["full", "none", "full", "full"],
                                          ["none", "full", "none", "full"]])


def spec(**overrides):
    fields = dict(dtype="f16", num_heads_q=8, num_heads_kv=2, head_dim=64, seq_q=None, seq_k=None)
    fields.update(overrides)
    return AttentionSpec(**fields)


# Specs covering every mask kind, every preset, heads and optional operand.
SPECS = {
    "dense": spec(),
    "dense-static": spec(batch=2, seq_q=128, seq_k=256, dtype="bf16", head_dim_v=32),
    "causal": spec(mask=Causal(), has_lse=True),
    "causal-bottom-right": spec(mask=Causal("bottom_right"), seq_q=1, seq_k=4096),
    "sliding-window": spec(mask=SlidingWindow(128, 0)),
    "sliding-window-br": spec(mask=SlidingWindow(64, 64, "bottom_right")),
    "neighborhood-2d": spec(mask=Neighborhood([32, 32], 13), seq_q=1024, seq_k=1024),
    "blocked": spec(mask=Neighborhood([32, 32], 16, stride=16), seq_q=1024, seq_k=1024),
    "strided-3d": spec(mask=Neighborhood([4, 8, 8], [3, 5, 5], stride=[1, 2, 2], dilation=[1, 1, 1],
                                         causal=[True, False, False]), seq_q=256, seq_k=256),
    "dilated-1d": spec(mask=Neighborhood([10], [3], dilation=[2]), seq_q=10, seq_k=10),
    "power-law": spec(mask=PowerLaw(256, 5, sink=1)),
    "power-law-noncausal": spec(mask=PowerLaw(64, 2, causal=False)),
    "prefix-lm": spec(mask=Segments([64, 192], [["full", "none"], ["full", "causal"]]),
                      seq_q=256, seq_k=256),
    "video": spec(mask=VIDEO, seq_q=2500, seq_k=2500),
    "nested-neighborhood": spec(mask=Segments([16, 64], [["full", "none"],
                                                         ["full", Neighborhood([8, 8], 3)]]),
                                seq_q=80, seq_k=80),
    "prompt-routing": spec(mask=Segments([32, 32], [["full", "none", "full", "none"],
                                                    ["none", "full", "none", "full"]],
                                         key=[8, 8, 32, 32]), seq_q=64, seq_k=80),
    "docs-runtime": spec(mask=DOCS, batch=2),
    "docs-runtime-unnormalized": spec(mask=Segments([None, None], [["full", "none"], ["none", "full"]],
                                                    renormalize=False)),
    "separate-offsets": spec(mask=Segments([None, None], [["full", "none", "full"],
                                                          ["none", "full", "full"]],
                                           key=[None, None, None])),
    "separate-offsets-forced": spec(mask=DOCS, segment_offsets="separate"),
    "and": spec(mask=And(Causal(), SlidingWindow(256, 0))),
    "or": spec(mask=Or(SlidingWindow(128, 0), PowerLaw(64, 1, sink=1))),
    "and-or-none": spec(mask=Causal() & (NoneMask() | DOCS)),
    "sage1": spec(precision="sage1"),
    "sage2_8b": spec(precision="sage2_8b", dtype="bf16"),
    "sage2-4b": spec(precision="sage2-4b"),
    "fp8": spec(precision="fp8"),
    "nvfp4": spec(precision="nvfp4"),
    "keyed": spec(precision=Precision(qk="i8", qk_granularity="token", smooth_k=True, pv="bf16")),
    "keyed-override": spec(precision=Precision.preset("sage1", pv_accum="f32"), dtype="bf16"),
    "heads": spec(mask=Causal(), heads=Heads(
        weights=[1.0, 1.0, 0.5, 0.0, 1, 1, 1, 1], softpag=SoftPag(0.3, [0, 1]),
        groups=[HeadGroup([2], mask=SlidingWindow(128, 0), precision="sage2_4b"),
                HeadGroup([5, 6], precision=Precision())])),
    "group-neighborhood": spec(seq_q=64, seq_k=64, heads=Heads(groups=[HeadGroup([1], mask=Neighborhood([8, 8], 3))])),
    "group-runtime-segments": spec(mask=Causal(), heads=Heads(groups=[HeadGroup([0], mask=DOCS)])),
    "scale": spec(scale=0.125),
    "scale-tiny": spec(scale=1e-5),
    "operands": spec(explicit_mask=ExplicitMask(per_batch=True), bias=Bias("bf16", per_head=True),
                     gates="f32", has_lse=True, mask=DOCS),
    "operands-broadcast": spec(explicit_mask=True, bias=True, gates="f16", batch=3, seq_q=16, seq_k=32),
    "identity-layouts": spec(runtime_strides=False, has_lse=True, gates="bf16", bias=Bias("f16", True, True)),
    "mqa-dv": spec(num_heads_q=16, num_heads_kv=1, head_dim=128, head_dim_v=64, target="sm_89", kernel="mma_sync"),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_verifies_in_attn_opt(name, attn_opt):
    s = SPECS[name]
    printed = verify(s, attn_opt)
    assert "attn.attention" in printed
    # attn-opt prints our masks and precisions exactly as we wrote them: the
    # Python rendering is the dialect's canonical form.
    for attr in s.op_attributes():
        if not attr.startswith(("heads", "scale")):
            assert attr in printed, (attr, printed)
    for _, memref in s.operands():
        assert memref in printed


@pytest.mark.parametrize("name", sorted(SPECS))
def test_grad_module_verifies_in_attn_opt(name, attn_opt):
    """The backward module of every spec is a valid attn.attention_grad."""
    import subprocess
    s = SPECS[name]
    text = s.to_grad_mlir(lse_grad=name.startswith("operands"))
    result = subprocess.run([attn_opt, "-"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    assert "attn.attention_grad" in printed
    for attr in s.op_attributes():
        if not attr.startswith(("heads", "scale")):
            assert attr in printed, (attr, printed)
    names = [n for n, _ in s.grad_operands()]
    assert names[:3] == ["q", "k", "v"]
    assert ("bias_grad" in names) == (s.bias is not None)
    assert ("gates_grad" in names) == (s.gates is not None)


def test_grad_module_lowers_on_the_cpu(attn_opt):
    """attn-cpu-pipeline and the GPU pipeline take the backward module
    (static shapes, every optional operand)."""
    import subprocess
    s = spec(batch=2, seq_q=32, seq_k=48, mask=SlidingWindow(8, 0), runtime_strides=False,
             explicit_mask=True, bias=Bias("f32", per_head=True), gates="f32",
             heads=Heads(weights=[1, 0.5, 1, 1, 1, 1, 1, 0]))
    text = s.to_grad_mlir(lse_grad=True)
    cpu = subprocess.run([attn_opt, "-", "--attn-cpu-pipeline"], input=text,
                         capture_output=True, text=True)
    assert cpu.returncode == 0, cpu.stderr
    assert "llvm.func @attention_grad" in cpu.stdout
    assert "attn." not in cpu.stdout.replace("attention_grad", "")
    # The GPU kernels: dBias zeroed before the key-tile kernel, stored after.
    gpu = subprocess.run([attn_opt, "-", "--attn-gpu-pipeline=target=sm_90a format=isa"],
                         input=text, capture_output=True, text=True)
    assert gpu.returncode == 0, gpu.stderr
    launches = re.findall(r"gpu.launch_func\s+@attn_kernels::@(\w+)", gpu.stdout)
    assert launches == ["attn_bwd_rows", "attn_bwd_bias_grad_init", "attn_bwd",
                        "attn_bwd_finish", "attn_bwd_bias_finish"], launches


def test_constant_bias_gradient(attn_opt):
    """gradient(bias_grad=False): a bias that takes no gradient has no
    bias_grad operand and no dBias kernels, a cache entry of its own; the
    field is refused on a forward spec."""
    import subprocess
    forward = spec(batch=2, seq_q=32, seq_k=48, mask=SlidingWindow(8, 0),
                   runtime_strides=False, bias=Bias("f32", per_head=True))
    with_grad, constant = forward.gradient(), forward.gradient(bias_grad=False)
    assert "bias_grad" in [n for n, _ in with_grad.grad_operands()]
    assert "bias_grad" not in [n for n, _ in constant.grad_operands()]
    assert constant.cache_key() != with_grad.cache_key()
    gpu = subprocess.run([attn_opt, "-", "--attn-gpu-pipeline=target=sm_90a format=isa"],
                         input=constant.to_grad_mlir(), capture_output=True, text=True)
    assert gpu.returncode == 0, gpu.stderr
    launches = re.findall(r"gpu.launch_func\s+@attn_kernels::@(\w+)", gpu.stdout)
    assert launches == ["attn_bwd_rows", "attn_bwd", "attn_bwd_finish"], launches
    with pytest.raises(ValueError, match="bias_grad applies to the backward"):
        spec(bias=Bias("f32"), bias_grad=False)


def test_gradient_spec():
    """gradient(): the backward's spec, a cache entry of its own; the
    forward's key is unchanged by the backward fields."""
    forward = spec(mask=SlidingWindow(8, 0), gates="f32", has_lse=True)
    backward = forward.gradient()
    with_lse_grad = forward.gradient(lse_grad=True)
    assert backward.backward and not forward.backward
    assert "attn.attention_grad" in backward.canonical_text()
    assert "lse_grad(%lse_grad" in with_lse_grad.canonical_text()
    assert "lse_grad" not in backward.canonical_text()
    assert forward.to_module() == forward.to_mlir()
    assert len({forward.cache_key(), backward.cache_key(), with_lse_grad.cache_key()}) == 3
    assert forward.cache_key() == spec(mask=SlidingWindow(8, 0), gates="f32",
                                       has_lse=True).cache_key()
    with pytest.raises(ValueError, match=r"a backward already"):
        backward.gradient()
    with pytest.raises(ValueError, match=r"lse_grad applies to the backward"):
        spec(lse_grad=True)
    # Deterministic: a cache entry of its own and the pipeline option.
    deterministic = forward.gradient(deterministic=True)
    assert deterministic.cache_key() != backward.cache_key()
    assert "deterministic" in deterministic.canonical_text().splitlines()[0]
    from attn_mlir.compiler import pipeline_options
    assert pipeline_options(dataclasses.replace(deterministic, target="sm_80")) == \
        "target=sm_80 deterministic=true"
    assert "deterministic" not in pipeline_options(dataclasses.replace(backward, target="sm_80"))
    with pytest.raises(ValueError, match=r"deterministic applies to the backward"):
        spec(deterministic=True)
    with pytest.raises(TypeError):
        spec(backward="yes")


def test_gradient_spec_compiles_for_the_gpu(attn_opt, tmp_path):
    """The backward's kernels, launches and scratch buffers in the
    manifest; every parameter is a call argument or a scratch buffer."""
    import attn_mlir
    s = spec(batch=None, seq_q=None, seq_k=None, mask=SlidingWindow(8, 0), target="sm_80",
             gates="f32", heads=Heads(softpag=SoftPag(u=0.5, heads=[1])), has_lse=True)
    artifacts = attn_mlir.compile(s.gradient(lse_grad=True), tmp_path, attn_opt=attn_opt)
    names = [k["name"] for k in artifacts.manifest["kernels"]]
    assert names == ["attn_bwd_rows", "attn_bwd", "attn_bwd_finish", "attn_bwd_identity"]
    deterministic = attn_mlir.compile(s.gradient(deterministic=True), tmp_path,
                                      attn_opt=attn_opt)
    assert [k["name"] for k in deterministic.manifest["kernels"]] == [
        "attn_bwd_rows", "attn_bwd", "attn_bwd_query_grads", "attn_bwd_finish",
        "attn_bwd_identity"]
    assert artifacts.kernel_family == "mma_sync"
    assert artifacts.scratch_names == {"bwd_q_grad_accumulator", "bwd_row_values",
                                       "bwd_gate_sum"}
    for name in ("out", "lse", "out_grad", "lse_grad", "q_grad", "k_grad", "v_grad",
                 "gates_grad"):
        assert name in artifacts.param_names, name


def test_gradient_family_by_target(attn_opt, tmp_path):
    """The backward's products on wgmma on sm_90a (D and Dv of 64 or 128),
    recorded as the artifacts' family; kernel="mma_sync" and other head dims
    keep mma.sync."""
    import attn_mlir
    s = spec(batch=None, seq_q=None, seq_k=None, mask=Causal(), target="sm_90a",
             dtype="bf16", head_dim=128, has_lse=True)
    assert attn_mlir.compile(s.gradient(), tmp_path,
                             attn_opt=attn_opt).kernel_family == "wgmma"
    chosen = dataclasses.replace(s, kernel="mma_sync")
    assert attn_mlir.compile(chosen.gradient(), tmp_path,
                             attn_opt=attn_opt).kernel_family == "mma_sync"
    wide = dataclasses.replace(s, head_dim=256)
    assert attn_mlir.compile(wide.gradient(), tmp_path,
                             attn_opt=attn_opt).kernel_family == "mma_sync"


def test_module_text():
    s = spec(batch=2, seq_q=16, seq_k=32, mask=Causal(), has_lse=True, scale=0.125,
             explicit_mask=ExplicitMask(per_head=True), gates="f32")
    assert s.to_mlir() == """func.func @attention(
    %q: memref<2x8x16x64xf16, strided<[?, ?, ?, 1]>>,
    %k: memref<2x2x32x64xf16, strided<[?, ?, ?, 1]>>,
    %v: memref<2x2x32x64xf16, strided<[?, ?, ?, 1]>>,
    %explicit_mask: memref<1x8x16x32xi1, strided<[?, ?, ?, 1]>>,
    %gates: memref<2x16x8xf32, strided<[?, ?, ?]>>,
    %out: memref<2x8x16x64xf16, strided<[?, ?, ?, 1]>>,
    %lse: memref<2x8x16xf32, strided<[?, ?, ?]>>) {
  attn.attention ins(%q, %k, %v : memref<2x8x16x64xf16, strided<[?, ?, ?, 1]>>, memref<2x2x32x64xf16, strided<[?, ?, ?, 1]>>, memref<2x2x32x64xf16, strided<[?, ?, ?, 1]>>)
        explicit_mask(%explicit_mask : memref<1x8x16x32xi1, strided<[?, ?, ?, 1]>>)
        gates(%gates : memref<2x16x8xf32, strided<[?, ?, ?]>>)
        outs(%out : memref<2x8x16x64xf16, strided<[?, ?, ?, 1]>>, %lse : memref<2x8x16xf32, strided<[?, ?, ?]>>)
        mask = #attn.causal
        scale = 0.125
  return
}
"""
    assert [n for n, _ in SPECS["operands"].operands()] == [
        "q", "k", "v", "explicit_mask", "bias", "segment_offsets", "gates", "out", "lse"]
    assert dict(SPECS["docs-runtime"].operands())["segment_offsets"] == "memref<2x4xi32>"
    assert dict(SPECS["separate-offsets"].operands())["segment_offsets"] == "memref<?x2x4xi32>"
    assert dict(SPECS["identity-layouts"].operands())["q"] == "memref<?x8x?x64xf16>"


def test_normalization():
    assert spec(mask="dense") == spec(mask=None) == spec(precision=Precision()) == spec(heads=Heads())
    assert spec(mask="dense").mask is None
    assert spec(num_heads_kv=None).num_heads_kv == 8
    assert spec().head_dim_v == 64
    assert spec(precision="sage2-8b") == spec(precision=Precision.preset("sage2_8b"))
    assert spec(mask=DOCS).segment_offsets == "shared"
    assert SPECS["separate-offsets"].segment_offsets == "separate"
    assert len(set(SPECS.values())) == len(SPECS)


def test_cache_key():
    assert spec().cache_key() == spec().cache_key()
    assert spec(precision="sage2-8b").cache_key() == spec(precision="sage2_8b").cache_key()
    keys = {s.cache_key() for s in SPECS.values()}
    assert len(keys) == len(SPECS)
    assert spec().cache_key() != spec(target="sm_86").cache_key()
    assert spec(target="sm_80").cache_key() != spec(target="sm_86").cache_key()
    assert spec(target="sm_90a").cache_key() != spec(target="sm_90a", kernel="mma_sync").cache_key()
    assert spec().cache_key() != spec(batch=1).cache_key()
    assert re.fullmatch(r"[0-9a-f]{64}", spec().cache_key())
    assert spec().canonical_text().startswith(
        f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target=none kernel=default\n")
    assert spec(target="sm_90a", kernel="wgmma").canonical_text().startswith(
        f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target=sm_90a kernel=wgmma\n")
    text = spec(target="sm_90a").canonical_text()
    assert text.startswith(f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target=sm_90a kernel=default\n")
    assert "/" not in text.split("\n", 1)[1].replace("//", "")  # no paths anywhere


def test_emulated_block_scaled_mma_spec():
    """emulate_block_scaled: its own cache entry and the pipeline option;
    the canonical text of a spec without it is unchanged."""
    from attn_mlir.compiler import pipeline_options
    native = spec(precision="nvfp4", target="sm_90a")
    emulated = spec(precision="nvfp4", target="sm_90a", emulate_block_scaled=True)
    assert not native.emulate_block_scaled and emulated.emulate_block_scaled
    assert emulated.cache_key() != native.cache_key()
    assert emulated.to_module() == native.to_module()
    assert emulated.canonical_text().splitlines()[0] == (
        f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target=sm_90a kernel=default "
        "emulate-block-scaled-mma")
    assert native.canonical_text().splitlines()[0] == (
        f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target=sm_90a kernel=default")
    assert spec(emulate_block_scaled=False) == spec()
    assert pipeline_options(emulated) == "target=sm_90a emulate-block-scaled-mma=true"
    assert pipeline_options(native) == "target=sm_90a"
    assert pipeline_options(dataclasses.replace(emulated, kernel="mma_sync")) == \
        "target=sm_90a kernel=mma_sync emulate-block-scaled-mma=true"
    # The backward of an emulated forward keeps the flag (its own entry too).
    backward = emulated.gradient(deterministic=True)
    assert backward.emulate_block_scaled
    assert pipeline_options(backward) == \
        "target=sm_90a deterministic=true emulate-block-scaled-mma=true"
    assert backward.canonical_text().splitlines()[0].endswith(
        " deterministic emulate-block-scaled-mma")
    with pytest.raises(TypeError, match=r"AttentionSpec: emulate_block_scaled must be a bool"):
        spec(emulate_block_scaled=1)


def test_cache_key_is_stable():
    # A change here invalidates every cache entry on every machine: bump
    # SPEC_FORMAT_VERSION when the rendering changes on purpose.
    assert spec(mask=Causal(), seq_q=128, seq_k=128, target="sm_90a").cache_key() == GOLDEN_KEY


GOLDEN_KEY = "71f6ee1a1d03b352a08de3277a4694899c2cf331f48003b05f6d0f9cb1b0870d"


@pytest.mark.parametrize("overrides, error, message", [
    (dict(dtype="f32"), ValueError, r"AttentionSpec: dtype = 'f32' is not one of f16, bf16"),
    (dict(num_heads_q=0), ValueError, r"num_heads_q = 0 must be >= 1"),
    (dict(num_heads_q=8, num_heads_kv=3), ValueError, r"num_heads_q = 8 is not a multiple of num_heads_kv = 3"),
    (dict(head_dim=64.0), TypeError, r"head_dim must be an int, got 64.0"),
    (dict(batch=0), ValueError, r"batch = 0 must be >= 1"),
    (dict(seq_q=1 << 32), ValueError, r"seq_q = 4294967296 exceeds 2147483648 tokens"),
    (dict(target="hopper"), ValueError, r"target = 'hopper' is not a chip name like 'sm_80', 'sm_90a' or 'sm_120f'"),
    (dict(target=90), ValueError, r"target = 90 is not a chip name"),
    (dict(target="sm_90a", kernel="MMA"), ValueError, r"kernel = 'MMA' is not a kernel family name"),
    (dict(chip="sm_90"), TypeError, r"unexpected keyword argument 'chip'"),
    (dict(scale=0.0), ValueError, r"scale = 0.0 must be positive"),
    (dict(scale=float("inf")), ValueError, r"scale = inf must be finite"),
    (dict(has_lse=1), TypeError, r"has_lse must be a bool"),
    (dict(mask=Neighborhood([8, 8], 3)), ValueError, r"seq_q must be static: the mask #attn.neighborhood<grid = \[8, 8\], window = \[3, 3\]> fixes it to 64"),
    (dict(mask=Neighborhood([8, 8], 3), seq_q=64, seq_k=60), ValueError, r"has 64 tokens but the key length is 60"),
    (dict(mask=VIDEO, seq_q=2000, seq_k=2000), ValueError, r"query segment sizes \[226, 226, 1024, 1024\] sum to 2500 but the query length is 2000"),
    (dict(heads=Heads(groups=[HeadGroup([0], mask=Neighborhood([4], 3))])), ValueError, r"seq_q must be static"),
    (dict(segment_offsets="shared"), ValueError, r"segment_offsets = 'shared' given but no mask has run-time segment sizes"),
    (dict(mask=DOCS, segment_offsets="packed"), ValueError, r"segment_offsets = 'packed' is not one of shared, separate"),
    (dict(mask=SPECS["separate-offsets"].mask, segment_offsets="shared"), ValueError, r"query and key segment counts differ"),
    (dict(mask=DOCS & Segments([None, None], [["full"] * 2] * 2)), ValueError, r"different segment counts"),
    (dict(heads=Heads(weights=[1.0, 1.0])), ValueError, r"heads has 2 weights but there are num_heads_q = 8"),
    (dict(heads=Heads(softpag=SoftPag(0.5, [8]))), ValueError, r"heads softpag head index 8 is out of range for num_heads_q = 8"),
    (dict(heads=Heads(groups=[HeadGroup([9])])), ValueError, r"heads groups\[0\] head index 9 is out of range"),
    (dict(heads=Heads(softpag=SoftPag(0.5, [0])), seq_q=4, seq_k=8), ValueError, r"softpag needs seq_q == seq_k, got 4 and 8"),
    (dict(precision=Precision(pv_accum="f16"), dtype="bf16"), ValueError, r"precision has pv_accum = f16, which needs an f16 P.V product, but P.V runs in bf16"),
    (dict(heads=Heads(groups=[HeadGroup([0], precision=Precision(pv_accum="f16"))]), dtype="bf16"), ValueError, r"heads.groups\[0\].precision has pv_accum = f16"),
    (dict(mask=3), TypeError, r"AttentionSpec: mask must be a Mask"),
    (dict(precision=3), TypeError, r"AttentionSpec: precision must be a Precision"),
    (dict(bias="f32"), TypeError, r"bias must be a Bias"),
    (dict(explicit_mask=Bias()), TypeError, r"explicit_mask must be an ExplicitMask"),
    (dict(gates="f64"), ValueError, r"gates = 'f64' is not one of f16, bf16, f32"),
])
def test_spec_errors(overrides, error, message):
    with pytest.raises(error, match=message):
        spec(**overrides)


def test_operand_spec_errors():
    with pytest.raises(ValueError, match=r"Bias: dtype = 'i8' is not one of f16, bf16, f32"):
        Bias("i8")
    with pytest.raises(TypeError, match=r"ExplicitMask: per_head must be a bool"):
        ExplicitMask(per_head=1)


def test_attn_opt_diagnostics_surface(attn_opt, monkeypatch):
    # A module the dialect rejects (as if Python missed a rule): the
    # diagnostic comes back in the exception.
    s = spec(scale=0.5)
    monkeypatch.setattr(AttentionSpec, "op_attributes", lambda self: ["scale = -1.0"])
    with pytest.raises(AttnCompileError, match=r"scale = -1(\.0|\.000000e\+00) must be a positive finite number") as info:
        verify(s, attn_opt)
    assert "error" in info.value.diagnostics
