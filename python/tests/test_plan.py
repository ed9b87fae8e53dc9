"""attention()'s checks, spec and kernel arguments, on shapes (no torch)."""

import subprocess
import sys
from pathlib import Path

import pytest

from attn_mlir import (AttentionSpec, AttnTargetError, Causal, HeadGroup, Heads, Neighborhood,
                       Segments, SoftPag, TensorInfo, plan_call, spec_for_shapes, verify)
from attn_mlir import Precision
from attn_mlir.plan import launch_values
from attn_mlir.targets import TargetTable
import standins

H100 = (9, 0)
STANDIN_TABLE = TargetTable.from_json(standins.TARGET_TABLE, "stand-in")


def dense(shape, dtype="f16", device="cuda:0", ptr=0x1000):
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return TensorInfo(tuple(shape), tuple(strides), dtype, device, ptr)


def qkv(B=2, Hq=8, Hkv=2, Nq=16, Nk=32, D=64, Dv=64, layout="bhnd", dtype="f16"):
    def make(H, N, d, ptr):
        shape = (B, H, N, d) if layout == "bhnd" else (B, N, H, d)
        return dense(shape, dtype, ptr=ptr)
    return make(Hq, Nq, D, 0x1000), make(Hkv, Nk, D, 0x2000), make(Hkv, Nk, Dv, 0x3000)


def plan_on(q, k, v, **options):
    """plan_call for a device of compute capability 9.0 (an H100) unless
    the options say otherwise (the table: the private cache's stand-in, or
    the real attn-opt's)."""
    options.setdefault("device_capability", H100)
    return plan_call(q, k, v, **options)


def test_dims_and_dynamic_spec():
    q, k, v = qkv()
    plan = plan_on(q, k, v, mask="causal")
    assert plan.dims.heads_q == 8 and plan.dims.heads_kv == 2 and plan.dims.seq_k == 32
    assert plan.spec == AttentionSpec(dtype="f16", num_heads_q=8, num_heads_kv=2, head_dim=64,
                                      seq_q=None, seq_k=None, batch=None, mask=Causal(),
                                      target="sm_90a")
    assert plan.out_shape == (2, 8, 16, 64)
    assert plan.lse_shape is None
    # One kernel for every batch and length: the key does not depend on them.
    q2, k2, v2 = qkv(B=5, Nq=100, Nk=7)
    assert plan_on(q2, k2, v2, mask="causal").spec.cache_key() == plan.spec.cache_key()


def test_static_shapes_and_pinned_lengths():
    q, k, v = qkv(Nq=64, Nk=64)
    static = plan_on(q, k, v, static_shapes=True).spec
    assert (static.batch, static.seq_q, static.seq_k) == (2, 64, 64)
    # A grid mask fixes Nq and Nk; batch stays run-time.
    grid = plan_on(q, k, v, mask=Neighborhood([8, 8], 3)).spec
    assert (grid.batch, grid.seq_q, grid.seq_k) == (None, 64, 64)
    grouped = plan_on(q, k, v, heads=Heads(groups=[HeadGroup([1], mask=Neighborhood([8, 8], 3))])).spec
    assert (grouped.seq_q, grouped.seq_k) == (64, 64)
    q, k, v = qkv(Nq=60, Nk=60)
    with pytest.raises(ValueError, match=r"grid \[8, 8\] has 64 tokens but the query length is 60"):
        plan_on(q, k, v, mask=Neighborhood([8, 8], 3))


def test_target_follows_the_device():
    q, k, v = qkv()
    for capability, chip in (((8, 0), "sm_80"), ((8, 6), "sm_86"), ((8, 7), "sm_86"),
                             ((8, 9), "sm_89"), ((9, 0), "sm_90a"), ((10, 0), "sm_100a"),
                             ((12, 0), "sm_120a"), ((12, 1), "sm_120f")):
        spec = plan_on(q, k, v, device_capability=capability).spec
        assert (spec.target, spec.kernel) == (chip, None)
    # Integer Q.K with f16 P.V needs no FP8: every chip.
    for precision in ("sage1", Precision(qk="i4", qk_granularity="token", pv="f16")):
        assert plan_on(q, k, v, precision=precision, device_capability=(8, 0)).spec.target == "sm_80"
    # FP8 runs on the device's own target when it has the e4m3 mma.sync (no
    # special target for it any more).
    for precision in ("sage2-8b", "sage2_4b", {"qk": "f8E4M3FN", "qk_granularity": "token"}):
        assert plan_on(q, k, v, precision=precision).spec.target == "sm_90a"
        assert plan_on(q, k, v, precision=precision, device_capability=(8, 9)).spec.target == "sm_89"
    # An explicit target is kept whatever the device (cross-compiling; the
    # launch refuses a binary the device cannot run), and needs no device.
    assert plan_on(q, k, v, target="sm_80").spec.target == "sm_80"
    assert plan_call(q, k, v, target="sm_100a").spec.target == "sm_100a"
    assert plan_on(q, k, v, kernel="mma_sync").spec.kernel == "mma_sync"
    assert plan_on(q, k, v).targets.chips == ("sm_80", "sm_86", "sm_89", "sm_90a", "sm_100a",
                                           "sm_120a", "sm_120f")


def test_tensor_copy_alignment_picks_the_kernel():
    # sm_90a's default wgmma kernel reads Q, K, V with bulk tensor copies:
    # a tensor whose address or row / head / batch strides are not 16-byte
    # multiples gets the warp-level kernel instead (the plan's rule; torch
    # calls never reach it with misaligned rows, which no kernel can read:
    # attention() copies them, prepare() refuses them); an explicit kernel
    # is kept (the launcher then names the tensor).
    q, k, v = qkv()
    assert plan_on(q, k, v).spec.kernel is None
    padded = TensorInfo(k.shape, (k.strides[0] * 2, 36 * 32, 36, 1), "f16", k.device, 0x2000)
    for odd in (padded, TensorInfo(v.shape, v.strides, "f16", v.device, 0x3008)):
        args = (q, odd, v) if odd.shape == k.shape and odd.ptr == 0x2000 else (q, k, odd)
        assert plan_on(*args).spec.kernel == "mma_sync"
        assert plan_on(*args, kernel="wgmma").spec.kernel == "wgmma"
    # A row stride of 72 elements (144 bytes) is a 16-byte multiple.
    wide = TensorInfo(k.shape, (k.strides[0] * 2, 72 * 32, 72, 1), "f16", k.device, 0x2000)
    assert plan_on(q, wide, v).spec.kernel is None
    # Chips whose default is mma_sync, and quantized Q.K or FP8 P.V (the
    # kernel reads the pre-kernels' aligned buffers by cp.async), are
    # unaffected; a 16-bit Q.K with a rounded V still copies Q and K.
    assert plan_on(q, padded, v, device_capability=(8, 0)).spec.kernel is None
    for precision in ("sage1", "sage2-8b", "fp8", {"pv": "f8E4M3FN"}):
        assert plan_on(q, padded, v, precision=precision).spec.kernel is None
    assert plan_on(q, padded, v, precision={"pv": "bf16"}).spec.kernel == "mma_sync"


@pytest.mark.parametrize("options, error, message", [
    (dict(device_capability=(10, 3), device_name="NVIDIA B300"), AttnTargetError,
     r"no target for NVIDIA B300 \(compute capability 10.3\): the compiler supports sm_80 "
     r"\(8.0\+\), sm_86 \(8.6\+\), sm_89 \(8.9\+\), sm_90a \(9.0 only\), sm_100a \(10.0 only\), "
     r"sm_120a \(12.0 only\)"),
    (dict(device_capability=(7, 5)), AttnTargetError,
     r"no target for cuda:0 \(compute capability 7.5\)"),
    (dict(device_capability=(8, 0), precision="sage2-8b"), AttnTargetError,
     r"precision #attn.precision<sage2_8b> \(P.V in FP8 E4M3\) needs the FP8 \(e4m3\) "
     r"mma.sync, which sm_80 does not have.*chips with it: sm_89, sm_90a, sm_120a"),
    (dict(device_capability=(8, 6), heads=Heads(groups=[HeadGroup([1], precision="sage2-4b")])),
     AttnTargetError, r"heads.groups\[0\].precision #attn.precision<sage2_4b> .* sm_86"),
    (dict(device_capability=(10, 0), precision="sage2-8b"), AttnTargetError,
     r"which sm_100a does not have"),
    (dict(target="sm_90", device_capability=None), ValueError,
     r"target = 'sm_90' is not a target of this compiler; supported: sm_80, sm_86, sm_89, "
     r"sm_90a, sm_100a, sm_120a, sm_120f"),
    (dict(target="sm_80", kernel="tcgen05"), ValueError,
     r"kernel = 'tcgen05' is not a kernel family of sm_80; it supports: mma_sync"),
    (dict(device_capability=None), ValueError,
     r"no target given and no device capability to choose it from: pass target= \(one of "
     r"sm_80, sm_86"),
    (dict(device_capability="9.0"), ValueError, r"device capability = '9.0' is not a \(major, minor\) pair"),
    (dict(chip="sm_90"), TypeError, r"unexpected keyword argument 'chip'"),
])
def test_target_errors(options, error, message):
    # On the contract's table (standins.py), whatever attn-opt is here: the
    # messages name its chips and flags.
    q, k, v = qkv()
    with pytest.raises(error, match=message):
        plan_on(q, k, v, targets=STANDIN_TABLE, **options)


def test_spec_for_shapes_target():
    shape = (1, 2, 8, 64)
    # The build machine: an explicit target (or a capability), no torch needed.
    assert spec_for_shapes(shape, shape, shape, "bf16", precision="sage2-4b",
                           target="sm_90a").target == "sm_90a"
    assert spec_for_shapes(shape, shape, shape, "bf16",
                           device_capability=(8, 6)).target == "sm_86"


def test_nvfp4_and_its_emulation():
    # NVFP4 runs on the block-scaled mma.sync (a 12.0 device: sm_120a);
    # on an H100 only emulated, which the spec carries into its key.
    q, k, v = qkv(D=128, Dv=128, dtype="bf16")
    for precision in ("nvfp4", Precision(qk="f4E2M1FN", smooth_k=True, pv="bf16"),
                      Precision(pv="f4E2M1FN")):
        native = plan_on(q, k, v, precision=precision, device_capability=(12, 0),
                         targets=STANDIN_TABLE).spec
        assert (native.target, native.emulate_block_scaled) == ("sm_120a", False)
        with pytest.raises(AttnTargetError, match=r"needs the block-scaled mma.sync, which "
                                                  r"sm_90a does not have.*Pass "
                                                  r"emulate_block_scaled=True"):
            plan_on(q, k, v, precision=precision, targets=STANDIN_TABLE)
        emulated = plan_on(q, k, v, precision=precision, emulate_block_scaled=True,
                           targets=STANDIN_TABLE).spec
        assert (emulated.target, emulated.emulate_block_scaled) == ("sm_90a", True)
        assert emulated.cache_key() != plan_on(q, k, v, precision=precision, target="sm_90a",
                                               device_capability=None, targets=STANDIN_TABLE,
                                               kernel="mma_sync",
                                               emulate_block_scaled=True).spec.cache_key()
    # spec_for_shapes, as the build machine compiles for the GPU machine.
    shape = (1, 300, 2, 128)
    spec = spec_for_shapes(shape, shape, shape, "bf16", layout="bnhd", precision="nvfp4",
                           target="sm_90a", emulate_block_scaled=True)
    assert spec.emulate_block_scaled and spec.precision == Precision.preset("nvfp4")
    assert spec == spec_for_shapes((1, 2, 77, 128), (1, 2, 1000, 128), (1, 2, 1000, 128),
                                   "bf16", precision="nvfp4", target="sm_90a",
                                   emulate_block_scaled=True)
    with pytest.raises(AttnTargetError, match=r"emulate_block_scaled=True: sm_120a runs the "
                                              r"block-scaled mma.sync natively"):
        spec_for_shapes(shape, shape, shape, "bf16", precision="nvfp4", target="sm_120a",
                        emulate_block_scaled=True)
    with pytest.raises(AttnTargetError, match=r"emulate_block_scaled=True: sm_80 lacks the E4M3 "
                                              r"conversions"):
        plan_on(q, k, v, target="sm_80", emulate_block_scaled=True)
    with pytest.raises(TypeError, match=r"emulate_block_scaled must be a bool, got 'yes'"):
        plan_on(q, k, v, precision="nvfp4", emulate_block_scaled="yes")


def test_spec_for_shapes_without_target_or_torch():
    # Run in a fresh interpreter where `import torch` fails.
    python = Path(__file__).resolve().parents[1]
    code = ("import sys; sys.modules['torch'] = None\n"
            "import attn_mlir as am\n"
            "try:\n"
            "    am.spec_for_shapes((1, 2, 8, 64), (1, 2, 8, 64), (1, 2, 8, 64))\n"
            "except am.AttnTargetError as e:\n"
            "    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=python, capture_output=True,
                            text=True, check=True)
    assert "no target given and torch is not installed" in result.stdout
    assert "pass target=" in result.stdout


def test_bnhd_layout_strides_and_outputs():
    q, k, v = qkv(layout="bnhd", Dv=32)
    plan = plan_on(q, k, v, layout="bnhd", return_lse=True)
    assert plan.dims.heads_q == 8 and plan.dims.seq_q == 16 and plan.dims.head_dim_v == 32
    assert plan.out_shape == (2, 16, 8, 32)
    assert plan.lse_shape == (2, 8, 16)
    out = dense(plan.out_shape, ptr=0x4000)
    lse = dense(plan.lse_shape, "f32", ptr=0x5000)
    values = launch_values(plan, {"q": q, "k": k, "v": v, "out": out, "lse": lse})
    # q is [B, N, H, D] = [2, 16, 8, 64]: strides (8192, 512, 64, 1).
    assert (values["q_stride_b"], values["q_stride_h"], values["q_stride_n"]) == (8192, 64, 512)
    assert (values["k_stride_b"], values["k_stride_h"], values["k_stride_n"]) == (4096, 64, 128)
    assert (values["out_stride_b"], values["out_stride_h"], values["out_stride_n"]) == (4096, 32, 256)
    assert (values["lse_stride_b"], values["lse_stride_h"], values["lse_stride_n"]) == (128, 16, 1)
    assert (values["q"], values["k"], values["v"], values["out"], values["lse"]) == \
        (0x1000, 0x2000, 0x3000, 0x4000, 0x5000)
    assert (values["batch"], values["seq_q"], values["seq_k"]) == (2, 16, 32)
    # The same problem in bhnd layout compiles to the same kernel.
    q2, k2, v2 = qkv(Dv=32)
    assert plan_on(q2, k2, v2, return_lse=True).spec == plan.spec


def test_backward_launch_values():
    """The backward's tensors: dY and the gradients in the layout of q,
    dLSE as the LSE, dG as the gates."""
    q, k, v = qkv(layout="bnhd", Dv=32)
    plan = plan_on(q, k, v, layout="bnhd", return_lse=True,
                   gates=dense((2, 16, 8), "f32", ptr=0x8000))
    out = dense(plan.out_shape, ptr=0x4000)
    lse = dense(plan.lse_shape, "f32", ptr=0x5000)
    values = launch_values(plan, {
        "q": q, "k": k, "v": v, "out": out, "lse": lse, "gates": dense((2, 16, 8), "f32"),
        "out_grad": dense(plan.out_shape, ptr=0xa000), "lse_grad": dense(plan.lse_shape, "f32"),
        "q_grad": dense(q.shape), "k_grad": dense(k.shape), "v_grad": dense(v.shape),
        "gates_grad": dense((2, 16, 8), "f32", ptr=0xb000)})
    assert values["out_grad"] == 0xa000 and values["gates_grad"] == 0xb000
    assert (values["out_grad_stride_b"], values["out_grad_stride_h"],
            values["out_grad_stride_n"]) == (4096, 32, 256)
    assert (values["q_grad_stride_b"], values["q_grad_stride_h"],
            values["q_grad_stride_n"]) == (8192, 64, 512)
    assert (values["k_grad_stride_b"], values["k_grad_stride_h"],
            values["k_grad_stride_n"]) == (4096, 64, 128)
    assert (values["lse_grad_stride_b"], values["lse_grad_stride_h"],
            values["lse_grad_stride_n"]) == (128, 16, 1)
    assert (values["gates_grad_stride_b"], values["gates_grad_stride_q"],
            values["gates_grad_stride_h"]) == (128, 8, 1)


def test_optional_operands():
    q, k, v = qkv()
    docs = Segments([None, None], [["causal", "none"], ["none", "causal"]])
    plan = plan_on(q, k, v, mask=docs,
                     explicit_mask=dense((1, 8, 16, 32), "bool", ptr=0x6000),
                     bias=dense((16, 32), "f32", ptr=0x7000),
                     gates=dense((2, 16, 8), "bf16", ptr=0x8000),
                     segment_offsets=dense((2, 3), "i32", ptr=0x9000))
    spec = plan.spec
    assert (spec.explicit_mask.per_batch, spec.explicit_mask.per_head) == (False, True)
    assert (spec.bias.dtype, spec.bias.per_batch, spec.bias.per_head) == ("f32", False, False)
    assert spec.gates == "bf16" and spec.segment_offsets == "shared"
    values = launch_values(plan, {
        "q": q, "k": k, "v": v, "out": dense(plan.out_shape),
        "explicit_mask": dense((1, 8, 16, 32), "bool", ptr=0x6000),
        "bias": dense((16, 32), "f32", ptr=0x7000), "gates": dense((2, 16, 8), "bf16"),
        "segment_offsets": dense((2, 3), "i32", ptr=0x9000)})
    assert (values["explicit_mask_stride_b"], values["explicit_mask_stride_h"],
            values["explicit_mask_stride_q"]) == (0, 512, 32)
    assert (values["bias_stride_b"], values["bias_stride_h"], values["bias_stride_q"]) == (0, 0, 32)
    assert (values["gates_stride_b"], values["gates_stride_q"], values["gates_stride_h"]) == (128, 8, 1)
    assert values["segment_offsets"] == 0x9000 and values["segment_offsets_stride_b"] == 3
    separate = plan_on(q, k, v, mask=docs, segment_offsets=dense((2, 2, 3), "i32"))
    assert separate.spec.segment_offsets == "separate"


def test_spec_for_shapes_matches_plan():
    docs = Segments([None, None], [["causal", "none"], ["none", "causal"]])
    q, k, v = qkv(layout="bnhd")
    planned = plan_on(q, k, v, layout="bnhd", mask=docs, precision="sage1",
                        segment_offsets=dense((2, 3), "i32"), return_lse=True).spec
    assert spec_for_shapes(q.shape, k.shape, v.shape, "f16", layout="bnhd", mask=docs,
                           precision="sage1", segment_offsets=((2, 3), "i32"),
                           return_lse=True, device_capability=H100) == planned


def test_planned_specs_verify(attn_opt):
    q, k, v = qkv(Nq=64, Nk=64, layout="bnhd", dtype="bf16")
    plans = [
        plan_on(q, k, v, layout="bnhd", mask=Neighborhood([8, 8], 3), precision="sage2-8b",
                  return_lse=True, gates=dense((2, 64, 8), "f32")),
        plan_on(q, k, v, layout="bnhd", mask="causal", bias=dense((2, 8, 64, 64), "bf16"),
                  explicit_mask=dense((64, 64), "u8"),
                  heads=Heads(weights=[1.0] * 7 + [0.0], softpag=SoftPag(0.25, [3]))),
    ]
    for plan in plans:
        verify(plan.spec, attn_opt)


@pytest.mark.parametrize("case, error, message", [
    (dict(layout="nhd"), ValueError, r"layout = 'nhd' is not one of bhnd, bnhd"),
    (dict(q=dense((2, 8, 16))), ValueError, r"q must have shape \[B, H, N, D\] \(layout 'bhnd'\), got \[2, 8, 16\]"),
    (dict(q=dense((2, 8, 16, 64), "f32")), TypeError, r"q has dtype f32, expected one of f16, bf16"),
    (dict(k=dense((2, 2, 32, 64), "bf16")), TypeError, r"k has dtype bf16, expected one of f16|k has dtype bf16 but q has f16"),
    (dict(q=dense((2, 8, 16, 64), device="cpu")), ValueError, r"q is on cpu; attention\(\) runs on CUDA tensors"),
    (dict(v=dense((2, 2, 32, 64), device="cuda:1")), ValueError, r"v is on cuda:1 but q is on cuda:0"),
    (dict(q=TensorInfo((2, 8, 16, 64), (8192, 1024, 1, 16), "f16")), ValueError, r"q: the last dimension must be contiguous \(stride 1\)"),
    (dict(k=dense((2, 2, 32, 32))), ValueError, r"k has head dim D 32 but q has 64"),
    (dict(k=dense((3, 2, 32, 64))), ValueError, r"k has batch size 3 but q has 2"),
    (dict(v=dense((2, 2, 31, 64))), ValueError, r"v has sequence length 31 but k has 32"),
    (dict(k=dense((2, 3, 32, 64)), v=dense((2, 3, 32, 64))), ValueError, r"q has 8 heads, not a multiple of the 3 heads of k and v"),
    (dict(q=dense((2, 8, 0, 64))), ValueError, r"q length is 0; every dimension must be at least 1"),
    (dict(q="tensor"), TypeError, r"q: expected a tensor"),
    (dict(bias=dense((16, 31), "f32")), ValueError, r"bias has shape \[16, 31\]; its last two dimensions must be \[Nq, Nk\] = \[16, 32\]"),
    (dict(bias=dense((2, 3, 16, 32), "f32")), ValueError, r"bias dimension 1 is 3 but must be 1 or Hq = 8"),
    (dict(bias=dense((16, 32), "i32")), TypeError, r"bias has dtype i32, expected one of f16, bf16, f32"),
    (dict(explicit_mask=dense((8, 16, 32), "bool")), ValueError, r"explicit_mask must have shape \[Nq, Nk\] or \[B\|1, Hq\|1, Nq, Nk\]"),
    (dict(explicit_mask=dense((16, 32), "f16")), TypeError, r"explicit_mask has dtype f16, expected one of bool, u8, i8"),
    (dict(gates=dense((2, 8, 16), "f32")), ValueError, r"gates must have shape \[B, Nq, Hq\] = \[2, 16, 8\], got \[2, 8, 16\]"),
    (dict(gates=dense((2, 16, 8), "f32", device="cuda:1")), ValueError, r"gates is on cuda:1 but q is on cuda:0"),
    (dict(segment_offsets=dense((2, 3), "i64"), mask="docs"), TypeError, r"segment_offsets has dtype i64, expected one of i32"),
    (dict(segment_offsets=dense((3, 3), "i32"), mask="docs"), ValueError, r"segment_offsets must have shape \[B, S\+1\] or \[B, 2, S\+1\] with B = 2"),
    (dict(segment_offsets=dense((2, 4), "i32"), mask="docs"), ValueError, r"segment_offsets has 4 offsets per list but the mask has 2 segments"),
    (dict(segment_offsets=TensorInfo((2, 3), (1, 2), "i32"), mask="docs"), ValueError, r"segment_offsets must be contiguous"),
    (dict(mask="docs"), ValueError, r"the mask has run-time segment sizes \(None\): pass segment_offsets"),
    (dict(segment_offsets=dense((2, 3), "i32")), ValueError, r"segment_offsets = 'shared' given but no mask has run-time segment sizes"),
    (dict(out=dense((2, 8, 16, 32))), ValueError, r"out must have shape \[2, 8, 16, 64\] \(layout 'bhnd'\), got \[2, 8, 16, 32\]"),
    (dict(out=dense((2, 8, 16, 64), "bf16")), TypeError, r"out has dtype bf16, expected one of f16"),
    (dict(heads=Heads(softpag=SoftPag(0.5, [0]))), ValueError, r"heads.softpag needs equal q and k lengths, got 16 and 32"),
    (dict(return_lse="yes"), TypeError, r"return_lse must be a bool"),
    (dict(precision="sage7"), ValueError, r"unknown preset 'sage7'"),
    (dict(scale=-1.0), ValueError, r"scale = -1.0 must be positive"),
])
def test_argument_errors(case, error, message):
    q, k, v = qkv()
    case = dict(case)
    q, k, v = case.pop("q", q), case.pop("k", k), case.pop("v", v)
    if case.get("mask") == "docs":
        case["mask"] = Segments([None, None], [["causal", "none"], ["none", "causal"]])
    with pytest.raises(error, match=message):
        plan_on(q, k, v, **case)


def test_import_needs_no_torch():
    python = Path(__file__).resolve().parents[1]
    code = ("import sys; sys.modules['torch'] = None\n"   # any `import torch` now fails
            "import attn_mlir\n"
            "from attn_mlir import attention, compile, verify, spec_for_shapes\n"
            "assert sys.modules['torch'] is None\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=python)


def test_segment_offsets_values_are_checked():
    from attn_mlir.plan import check_segment_offsets
    # Shared lists end within min(Nq, Nk); empty segments and padding at the
    # end are allowed.
    check_segment_offsets([[0, 100, 250, 280], [0, 7, 7, 290]], 300, 300)
    check_segment_offsets([[[0, 77, 190], [0, 100, 333]]], 200, 333)
    with pytest.raises(ValueError, match=r"segment_offsets\[1\] = \[0, 9, 7, 290\] decreases at "
                                         r"index 2 \(9 -> 7\)"):
        check_segment_offsets([[0, 1, 2, 3], [0, 9, 7, 290]], 300, 300)
    with pytest.raises(ValueError, match=r"segment_offsets\[0\] = \[-1, 5\] starts below 0"):
        check_segment_offsets([[-1, 5]], 300, 300)
    with pytest.raises(ValueError, match=r"segment_offsets\[0\] = \[0, 301\] ends at 301, past "
                                         r"the sequence length 300"):
        check_segment_offsets([[0, 301]], 300, 400)
    # Separate lists: Q's against Nq, K's against Nk.
    with pytest.raises(ValueError, match=r"segment_offsets\[0\]\[1\] = \[0, 100, 334\] ends at 334"):
        check_segment_offsets([[[0, 77, 190], [0, 100, 334]]], 200, 333)
    with pytest.raises(ValueError, match=r"segment_offsets\[0\]\[0\] = \[0, 201\] ends at 201"):
        check_segment_offsets([[[0, 201], [0, 300]]], 200, 333)


def test_backward_bias_grad_launch_values():
    """dBias has the bias's shape: its broadcast dimensions get stride 0,
    as the bias's, so the kernels sum them into one element."""
    q, k, v = qkv()
    plan = plan_on(q, k, v, return_lse=True, bias=dense((1, 8, 16, 32), "f32"))
    values = launch_values(plan, {
        "q": q, "k": k, "v": v, "bias": dense((1, 8, 16, 32), "f32"),
        "bias_grad": dense((1, 8, 16, 32), "f32", ptr=0xc000)})
    assert values["bias_grad"] == 0xc000
    assert (values["bias_grad_stride_b"], values["bias_grad_stride_h"],
            values["bias_grad_stride_q"]) == (0, 512, 32)
    # An [Nq, Nk] bias: one element for every batch element and head.
    plan = plan_on(q, k, v, return_lse=True, bias=dense((16, 32), "bf16"))
    values = launch_values(plan, {"q": q, "k": k, "v": v, "bias": dense((16, 32), "bf16"),
                                  "bias_grad": dense((16, 32), "bf16")})
    assert (values["bias_grad_stride_b"], values["bias_grad_stride_h"],
            values["bias_grad_stride_q"]) == (0, 0, 32)
