"""attention()'s torch glue with a stand-in torch module and launcher: the
tensors' shapes, strides and addresses reach the launcher under the
manifest's argument names, outputs are allocated in the call's layout, and
the cache entry compiled from spec_for_shapes() is the one attention() uses.
(The real GPU run is not tested here.)"""

import contextlib
import json
import sys
import types

import pytest

import attn_mlir
from attn_mlir import (AttnArtifactsMissing, AttnLaunchError, AttnTargetError,
                       AttnTargetsMissing, spec_for_shapes)
from attn_mlir import compiler, torch_api


class FakeDtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


class FakeTensor:
    next_ptr = 0x10000

    def __init__(self, shape, dtype, device="cuda:0", strides=None, requires_grad=False):
        self.shape, self.dtype, self.device = tuple(shape), dtype, device
        self.requires_grad = requires_grad
        if strides is None:
            strides, step = [], 1
            for size in reversed(self.shape):
                strides.insert(0, step)
                step *= size
        self._strides = tuple(strides)
        self._ptr = FakeTensor.next_ptr
        FakeTensor.next_ptr += 0x10000

    def stride(self, dim=None):
        return self._strides if dim is None else self._strides[dim]

    def to(self, dtype):
        assert dtype is self.dtype, "the stand-in converts nothing"
        return self

    def float(self):
        assert self.dtype.name == "float32", "the stand-in converts nothing"
        return self

    def contiguous(self):
        return self

    def is_contiguous(self):
        step, strides = 1, []
        for size in reversed(self.shape):
            strides.insert(0, step)
            step *= size
        return all(size == 1 or a == b for size, a, b in zip(self.shape, self._strides, strides))

    def copy_(self, source):
        self.copied_from = source
        return self

    def data_ptr(self):
        return self._ptr

    def tolist(self):
        return self.values


class FakeDevice:
    """What torch.cuda reports about the (one) stand-in GPU."""

    capability = (9, 0)
    name = "NVIDIA H100 80GB HBM3"


@pytest.fixture
def fake_torch(monkeypatch):
    monkeypatch.setattr(FakeDevice, "capability", (9, 0))
    monkeypatch.setattr(FakeDevice, "name", "NVIDIA H100 80GB HBM3")
    torch = types.ModuleType("torch")
    torch.Tensor = FakeTensor
    for name in ("float16", "bfloat16", "float32", "bool", "int32", "uint8"):
        setattr(torch, name, FakeDtype(name))
    torch.empty = lambda shape, dtype, device: FakeTensor(shape, dtype, device)
    torch.empty_like = lambda t: FakeTensor(t.shape, t.dtype, t.device)
    torch.deterministic = False
    torch.are_deterministic_algorithms_enabled = lambda: torch.deterministic
    torch.grad_enabled = True
    torch.is_grad_enabled = lambda: torch.grad_enabled
    cuda = types.SimpleNamespace(
        device=lambda device: contextlib.nullcontext(),
        current_stream=lambda device: types.SimpleNamespace(cuda_stream=0xABC),
        is_available=lambda: True,
        get_device_capability=lambda device=None: FakeDevice.capability,
        get_device_name=lambda device=None: FakeDevice.name,
        is_current_stream_capturing=lambda: False)
    torch.cuda = cuda
    monkeypatch.setitem(sys.modules, "torch", torch)
    return torch


@pytest.fixture
def launches(monkeypatch):
    calls = []

    class Recorder:
        def __init__(self, directory):
            self.directory = directory

        def launch(self, args, stream):
            calls.append((self.directory, dict(args), stream))

        def bind(self, args):
            return lambda stream: self.launch(args, stream)

        def values_template(self, names, values):
            recorder = self

            class Template:
                def bind(self, slots, addresses):
                    bound = list(values)
                    for slot, address in zip(slots, addresses):
                        bound[slot] = address
                    return recorder.bind(dict(zip(names, bound)))
            return Template()

    monkeypatch.setattr(torch_api, "launcher_for", Recorder)
    return calls


def precompile(spec, params, cache, chip=None, family="mma_sync", scratch=()):
    """What the build machine leaves in the cache (manifest only; the
    target table is already there, conftest.private_cache)."""
    entry = cache / spec.cache_key()
    entry.mkdir(parents=True)
    manifest = {
        "format": "attn-kernels", "version": 1, "binary": "kernels.cubin",
        "chip": chip or spec.target, "kernel": family,
        "kernels": [{"name": "attn_fwd_0", "block": [128, 1, 1], "shared_bytes": 0,
                     "grid": [[1], [1], [1]],
                     "params": [{"name": n, "type": "i64"} for n in params]}]}
    if scratch:
        manifest["scratch"] = list(scratch)
    (entry / "manifest.json").write_text(json.dumps(manifest))
    return entry


def test_attention_bnhd_with_lse(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)  # the GPU machine
    B, N, Hq, Hkv, D = 2, 16, 8, 2, 64
    spec = spec_for_shapes((B, N, Hq, D), (B, N, Hkv, D), (B, N, Hkv, D), "bf16",
                           layout="bnhd", mask="causal", return_lse=True)
    params = ["q", "k", "v", "out", "lse", "q_stride_b", "q_stride_h", "q_stride_n",
              "out_stride_n", "lse_stride_h", "batch", "seq_q", "seq_k"]
    entry = precompile(spec, params, private_cache)

    bf16 = fake_torch.bfloat16
    q = FakeTensor((B, N, Hq, D), bf16)
    k = FakeTensor((B, N, Hkv, D), bf16)
    v = FakeTensor((B, N, Hkv, D), bf16)
    out, lse = attn_mlir.attention(q, k, v, mask=attn_mlir.Causal(), layout="bnhd",
                                   return_lse=True)
    assert out.shape == (B, N, Hq, D) and out.dtype is bf16
    assert lse.shape == (B, Hq, N) and lse.dtype is fake_torch.float32
    ((directory, args, stream),) = launches
    assert directory == entry and stream == 0xABC
    assert sorted(args) == sorted(params)  # exactly the manifest's names
    assert args["q"] == q.data_ptr() and args["out"] == out.data_ptr() and args["lse"] == lse.data_ptr()
    assert (args["q_stride_b"], args["q_stride_h"], args["q_stride_n"]) == (N * Hq * D, D, Hq * D)
    assert args["out_stride_n"] == Hq * D and args["lse_stride_h"] == N
    assert (args["batch"], args["seq_q"], args["seq_k"]) == (B, N, N)


def test_attention_writes_into_out(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    spec = spec_for_shapes(q.shape, q.shape, q.shape, "f16")
    precompile(spec, ["q", "k", "v", "out", "seq_q"], private_cache)
    out = FakeTensor((1, 4, 8, 32), f16)
    assert attn_mlir.attention(q, q, q, out=out) is out
    assert launches[0][1]["out"] == out.data_ptr()


def test_scratch_buffers_come_from_torch(fake_torch, launches, private_cache, monkeypatch):
    # The pre-kernels' buffers are allocated per call with torch (stream
    # ordered, captured into CUDA graphs), sized as the manifest says, and
    # passed by name, so the launcher allocates none of its own.
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    allocations = []

    def empty(shape, dtype, device):
        tensor = FakeTensor(shape, dtype, device)
        allocations.append((tuple(shape), dtype.name, tensor.data_ptr()))
        return tensor

    monkeypatch.setattr(fake_torch, "empty", empty)
    f16 = fake_torch.float16
    q = FakeTensor((3, 4, 1000, 64), f16)
    spec = spec_for_shapes(q.shape, q.shape, q.shape, "f16", precision="sage2-8b")
    scratch = [{"name": "k_quant", "bytes": [{"arg": "batch"}, 4, {"arg": "seq_k"}, 64]},
               {"name": "k_mean_partial",
                "bytes": [{"arg": "batch"}, 2, {"arg": "seq_k", "ceil_div": 256}, 512]},
               {"name": "unused_when_empty", "bytes": [{"arg": "batch"}, 0]}]
    precompile(spec, ["q", "k", "v", "out", "seq_q", "seq_k", "batch", "k_quant",
                      "k_mean_partial", "unused_when_empty"], private_cache, scratch=scratch)
    out = attn_mlir.attention(q, q, q, precision="sage2-8b")
    args = launches[0][1]
    sizes = {ptr: shape[0] for shape, dtype, ptr in allocations if dtype == "uint8"}
    assert sizes[args["k_quant"]] == 3 * 4 * 1000 * 64
    assert sizes[args["k_mean_partial"]] == 3 * 2 * 4 * 512     # ceil(1000 / 256) = 4
    assert sizes[args["unused_when_empty"]] == 0
    assert out.shape == q.shape
    # Every call has its own buffers.
    attn_mlir.attention(q, q, q, precision="sage2-8b")
    assert launches[1][1]["k_quant"] != args["k_quant"]


@pytest.fixture
def two_documents(fake_torch, monkeypatch):
    """Two run-time documents, each causal within itself, over 300 tokens
    of a [2, 4, 300, 64] f16 batch: (q, mask, offsets, compile), where
    compile(cache) caches the call's kernels. No attn-opt: nothing else is
    compiled behind the test's back."""
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    q = FakeTensor((2, 4, 300, 64), fake_torch.float16)
    docs = attn_mlir.Segments(query=[None, None], visibility=[["causal", "none"],
                                                              ["none", "causal"]])
    offsets = FakeTensor((2, 3), fake_torch.int32)

    def compile(cache):
        spec = spec_for_shapes(q.shape, q.shape, q.shape, "f16", mask=docs,
                               segment_offsets=((2, 3), "i32"))
        precompile(spec, ["q", "k", "v", "out", "seq_q", "segment_offsets"], cache)
    return q, docs, offsets, compile


def test_bad_segment_offsets_never_launch(two_documents, launches, private_cache):
    q, docs, offsets, compile = two_documents
    compile(private_cache)
    offsets.values = [[0, 100, 300], [0, 150, 120]]
    with pytest.raises(ValueError, match=r"segment_offsets\[1\] = \[0, 150, 120\] decreases"):
        attn_mlir.attention(q, q, q, mask=docs, segment_offsets=offsets)
    assert launches == []
    offsets.values = [[0, 100, 300], [0, 150, 200]]
    attn_mlir.attention(q, q, q, mask=docs, segment_offsets=offsets)
    assert launches[0][1]["segment_offsets"] == offsets.data_ptr()


def test_scratch_sized_by_a_missing_argument_is_an_error(private_cache):
    artifacts = compiler.Artifacts("key", private_cache, {
        "kernels": [], "scratch": [{"name": "s", "bytes": [{"arg": "heads"}, 2]}]})
    with pytest.raises(attn_mlir.AttnError, match=r"'s' .* sized by argument 'heads'"):
        artifacts.scratch_sizes({"batch": 1})
    assert artifacts.scratch_sizes({"heads": 5}) == {"s": 10}


def test_prepared_call_reports_its_kernel_family(fake_torch, launches, private_cache,
                                                 monkeypatch):
    # The manifest's "kernel" (what the compiler built: sm_90a's wgmma, or
    # mma_sync where it fell back) is what the prepared call reports.
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 64), f16)
    spec = spec_for_shapes(q.shape, q.shape, q.shape, "f16")
    precompile(spec, ["q", "k", "v", "out", "seq_q"], private_cache, family="wgmma")
    prepared = attn_mlir.prepare(q, q, q)
    assert prepared.kernel_family == "wgmma"
    assert prepared.artifacts.kernel_family == "wgmma"
    prepared()
    assert len(launches) == 1


def test_attention_errors(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    with pytest.raises(TypeError, match=r"k must be a torch.Tensor, got list"):
        attn_mlir.attention(q, [1], q)
    with pytest.raises(TypeError, match=r"v has dtype f32, expected one of f16, bf16"):
        attn_mlir.attention(q, q, FakeTensor((1, 4, 8, 32), fake_torch.float32))
    with pytest.raises(AttnArtifactsMissing, match=r"no attn-opt on this machine"):
        attn_mlir.attention(q, q, q, mask="causal")
    # A manifest asking for an argument the call cannot give.
    precompile(spec_for_shapes(q.shape, q.shape, q.shape, "f16"), ["q", "alibi_slopes"],
               private_cache)
    with pytest.raises(AttnLaunchError, match=r"cannot provide: alibi_slopes"):
        attn_mlir.attention(q, q, q)
    assert not launches


def test_inputs_that_require_grad_are_refused(fake_torch, launches, private_cache,
                                              monkeypatch):
    # Without torch.library custom ops (the stand-in torch), and for
    # prepare() and out= everywhere, there is no autograd node: inputs that
    # require grad are refused rather than silently cut from the graph.
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    for name in ("q", "k", "v"):
        tensors = {n: FakeTensor((1, 4, 8, 32), f16, requires_grad=(n == name))
                   for n in ("q", "k", "v")}
        with pytest.raises(NotImplementedError,
                           match=rf"{name} requires grad, but this call has no backward"):
            attn_mlir.attention(tensors["q"], tensors["k"], tensors["v"])
        with pytest.raises(NotImplementedError, match=rf"{name} requires grad"):
            attn_mlir.prepare(tensors["q"], tensors["k"], tensors["v"])
        with pytest.raises(NotImplementedError, match=rf"{name} requires grad"):
            attn_mlir.attention(tensors["q"], tensors["k"], tensors["v"],
                                out=FakeTensor((1, 4, 8, 32), f16))
    with pytest.raises(NotImplementedError, match=r"bias requires grad"):
        attn_mlir.attention(q, q, q, bias=FakeTensor((8, 8), f16, requires_grad=True))
    # Under no_grad (inference) nothing is refused: the call goes on to
    # compiling, which this machine cannot do.
    fake_torch.grad_enabled = False
    with pytest.raises(AttnArtifactsMissing):
        attn_mlir.attention(q, q, FakeTensor((1, 4, 8, 32), f16, requires_grad=True))
    assert not launches


def test_attention_compiles_for_the_device(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    # The build machine compiled for both GPUs of the lab (explicit targets).
    entries = {chip: precompile(spec_for_shapes(q.shape, q.shape, q.shape, "f16", target=chip),
                                ["q", "k", "v", "out", "seq_q"], private_cache)
               for chip in ("sm_80", "sm_86", "sm_90a")}
    # No target: each device takes its own, from the cached table.
    for capability, name, chip in (((9, 0), "NVIDIA H100", "sm_90a"),
                                   ((8, 0), "NVIDIA A100-SXM4-80GB", "sm_80"),
                                   ((8, 7), "Jetson AGX Orin", "sm_86"),
                                   ((8, 6), "NVIDIA A10", "sm_86")):
        monkeypatch.setattr(FakeDevice, "capability", capability)
        monkeypatch.setattr(FakeDevice, "name", name)
        attn_mlir.attention(q, q, q)
        assert launches[-1][0] == entries[chip]
    # spec_for_shapes() on the GPU machine reads the same device.
    assert spec_for_shapes(q.shape, q.shape, q.shape, "f16").target == "sm_86"


def test_kernels_for_another_chip_never_launch(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    monkeypatch.setattr(FakeDevice, "capability", (8, 0))
    monkeypatch.setattr(FakeDevice, "name", "NVIDIA A100-SXM4-80GB")
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    hopper = spec_for_shapes(q.shape, q.shape, q.shape, "f16", target="sm_90a")
    precompile(hopper, ["q", "k", "v", "out", "seq_q"], private_cache)
    with pytest.raises(AttnTargetError, match=r"compiled for sm_90a \(compute capability 9.0 "
                                              r"only\), which cannot run on NVIDIA A100-SXM4-80GB "
                                              r"\(compute capability 8.0\); compile for sm_80 "
                                              r"instead"):
        attn_mlir.attention(q, q, q, target="sm_90a")
    # A cache entry whose manifest is for another chip than its key says.
    ampere = spec_for_shapes(q.shape, q.shape, q.shape, "f16", target="sm_80", mask="causal")
    precompile(ampere, ["q", "k", "v", "out", "seq_q"], private_cache, chip="sm_90a")
    with pytest.raises(AttnTargetError, match=r"compiled for sm_90a .* cannot run on NVIDIA A100"):
        attn_mlir.attention(q, q, q, mask="causal")
    # A chip the table does not know (an entry from an older compiler).
    old = spec_for_shapes(q.shape, q.shape, q.shape, "f16", target="sm_80", scale=0.5)
    precompile(old, ["q", "k", "v", "out", "seq_q"], private_cache, chip="sm_90")
    with pytest.raises(AttnTargetError, match=r"are for chip 'sm_90', which the target table does "
                                              r"not know \(it has sm_80, .*\); recompile them"):
        attn_mlir.attention(q, q, q, scale=0.5)
    assert not launches


def test_attention_target_errors(fake_torch, launches, private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    q = FakeTensor((1, 4, 8, 32), f16)
    monkeypatch.setattr(FakeDevice, "capability", (8, 6))
    monkeypatch.setattr(FakeDevice, "name", "NVIDIA A10")
    with pytest.raises(AttnTargetError, match=r"sage2_8b.*needs the FP8 \(e4m3\) mma.sync, which "
                                              r"sm_86 does not have"):
        attn_mlir.attention(q, q, q, precision="sage2-8b")
    monkeypatch.setattr(FakeDevice, "capability", (10, 3))
    monkeypatch.setattr(FakeDevice, "name", "NVIDIA B300")
    with pytest.raises(AttnTargetError, match=r"no target for NVIDIA B300 \(compute capability "
                                              r"10.3\): the compiler supports sm_80"):
        attn_mlir.attention(q, q, q)
    with pytest.raises(ValueError, match=r"target = 'sm_75' is not a target of this compiler"):
        attn_mlir.attention(q, q, q, target="sm_75")
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'chip'"):
        attn_mlir.attention(q, q, q, chip="sm_90")
    # No table: not in the cache, no attn-opt.
    (private_cache / "targets.json").unlink()
    monkeypatch.setattr(FakeDevice, "capability", (9, 0))
    with pytest.raises(AttnTargetsMissing, match=r"no GPU target table"):
        attn_mlir.attention(q, q, q)
    assert not launches


@pytest.fixture
def plan_calls(monkeypatch):
    """Counts plan_call()s of the torch glue; the memo of call signatures
    starts empty."""
    torch_api.forget_calls()
    calls = []
    real = torch_api.plan_call

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)
    monkeypatch.setattr(torch_api, "plan_call", counting)
    yield calls
    torch_api.forget_calls()


def test_custom_op_plans_each_signature_once(fake_torch, launches, private_cache, monkeypatch,
                                             plan_calls):
    # The custom op's calls (run_call) plan a signature once per process;
    # later calls with other tensors of the same shapes and strides launch
    # the same kernels with their own addresses.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    shape = (2, 4, 40, 64)
    call = CallOptions.create(mask="causal")
    spec = spec_for_shapes(shape, shape, shape, "f16", mask="causal")
    params = ["q", "k", "v", "out", "q_stride_n", "seq_q"]
    entry = precompile(spec, params, private_cache)
    outs = []
    for _ in range(3):
        q, k, v = (FakeTensor(shape, f16) for _ in range(3))
        out, lse = torch_api.run_call(q, k, v, None, None, None, None, call)
        assert lse.shape == (0,)
        args = launches[-1][1]
        assert (args["q"], args["k"], args["v"], args["out"]) == (
            q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr())
        assert launches[-1][0] == entry
        outs.append(out.data_ptr())
    assert len(plan_calls) == 1 and len(set(outs)) == 3
    # Other strides are another signature: planned, and their strides reach
    # the kernels (the same dynamic-stride kernels serve them).
    wide = FakeTensor(shape, f16, strides=(4 * 40 * 128, 40 * 128, 128, 1))
    torch_api.run_call(wide, wide, wide, None, None, None, None, call)
    assert len(plan_calls) == 2 and launches[-1][1]["q_stride_n"] == 128
    # Other options are another signature too: an entry that is missing
    # raises now, not a launch of the causal kernels.
    with pytest.raises(AttnArtifactsMissing):
        torch_api.run_call(q, k, v, None, None, None, None, CallOptions.create())
    assert len(plan_calls) == 3 and len(launches) == 4
    # A cache entry replaced since (recompiled elsewhere and copied in) is
    # read again rather than remembered.
    import shutil
    shutil.rmtree(entry)
    precompile(spec, params + ["seq_k"], private_cache)
    torch_api.run_call(q, k, v, None, None, None, None, call)
    assert len(plan_calls) == 4 and "seq_k" in launches[-1][1]
    torch_api.run_call(q, k, v, None, None, None, None, call)
    assert len(plan_calls) == 4


def test_custom_op_memo_follows_the_device(fake_torch, launches, private_cache, monkeypatch,
                                           plan_calls):
    # The device's chip is part of the signature: the same tensors' call
    # on an A100 must not reuse an H100's sm_90a kernels.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    q = FakeTensor((1, 4, 8, 32), fake_torch.float16)
    entries = {chip: precompile(spec_for_shapes(q.shape, q.shape, q.shape, "f16", target=chip),
                                ["q", "k", "v", "out", "seq_q"], private_cache)
               for chip in ("sm_80", "sm_90a")}
    call = CallOptions.create()
    for capability, chip in (((9, 0), "sm_90a"), ((8, 0), "sm_80"), ((9, 0), "sm_90a")):
        monkeypatch.setattr(FakeDevice, "capability", capability)
        torch_api.run_call(q, q, q, None, None, None, None, call)
        assert launches[-1][0] == entries[chip]
    assert len(plan_calls) == 2


def test_backward_memo_keys_its_variants(fake_torch, launches, private_cache, monkeypatch,
                                         plan_calls):
    # The backward's kernels depend on more than the forward's signature:
    # whether dLSE is given and deterministic mode are in its key.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16, f32 = fake_torch.float16, fake_torch.float32
    shape = (1, 4, 40, 64)
    call = CallOptions.create(return_lse=True)
    plan = spec_for_shapes(shape, shape, shape, "f16", return_lse=True)
    params = ["q", "k", "v", "out", "lse", "out_grad", "q_grad", "k_grad", "v_grad", "seq_q"]
    entries = {}
    for lse_grad in (False, True):
        for deterministic in (False, True):
            grad = plan.gradient(lse_grad=lse_grad, deterministic=deterministic,
                                 bias_grad=False)
            extra = ["lse_grad"] if lse_grad else []
            entries[lse_grad, deterministic] = precompile(grad, params + extra, private_cache)
    q, out, dy = (FakeTensor(shape, f16) for _ in range(3))
    lse, dlse = (FakeTensor(shape[:3], f32) for _ in range(2))
    for lse_grad, deterministic in ((False, False), (True, False), (False, True),
                                    (False, False), (True, True), (False, True)):
        fake_torch.deterministic = deterministic
        dq, dk, dv, dgates, dbias = torch_api.run_backward(
            q, q, q, out, lse, dy, dlse if lse_grad else None, None, None, None, None, call)
        directory, args, _ = launches[-1]
        assert directory == entries[lse_grad, deterministic]
        assert args["q_grad"] == dq.data_ptr() and args["out_grad"] == dy.data_ptr()
        assert ("lse_grad" in args) == lse_grad
    assert len(plan_calls) == 4


def test_launch_template_per_signature_of_late_tensors(fake_torch, launches, private_cache,
                                                      monkeypatch, plan_calls):
    # A signature's launch values (strides, sizes, argument order) are
    # derived once; calls write only their addresses. The tensors the
    # backward receives after planning (here dY) have a signature of their
    # own: a dY with other strides gets its strides, not the first call's.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    derived = []
    real = torch_api.launch_values
    monkeypatch.setattr(torch_api, "launch_values",
                        lambda *a: derived.append(1) or real(*a))
    f16, f32 = fake_torch.float16, fake_torch.float32
    shape = (1, 4, 40, 64)
    call = CallOptions.create(return_lse=True)
    grad = spec_for_shapes(shape, shape, shape, "f16", return_lse=True).gradient(
        lse_grad=False, deterministic=False, bias_grad=False)
    precompile(grad, ["q", "k", "v", "out", "lse", "out_grad", "out_grad_stride_n",
                      "out_grad_stride_h", "q_grad", "k_grad", "v_grad", "seq_q"], private_cache)
    q, out = (FakeTensor(shape, f16) for _ in range(2))
    lse = FakeTensor(shape[:3], f32)
    for _ in range(2):
        dy = FakeTensor(shape, f16)
        dq, *_ = torch_api.run_backward(q, q, q, out, lse, dy, None, None, None, None, None, call)
        args = launches[-1][1]
        assert (args["out_grad"], args["q_grad"]) == (dy.data_ptr(), dq.data_ptr())
        assert (args["out_grad_stride_h"], args["out_grad_stride_n"]) == (40 * 64, 64)
    assert len(derived) == 1 and len(plan_calls) == 1
    # dY in bnhd order (a transposed view): a new template, the same plan.
    bnhd = FakeTensor(shape, f16, strides=(40 * 4 * 64, 64, 4 * 64, 1))
    torch_api.run_backward(q, q, q, out, lse, bnhd, None, None, None, None, None, call)
    args = launches[-1][1]
    assert (args["out_grad_stride_h"], args["out_grad_stride_n"]) == (64, 4 * 64)
    assert args["out_grad"] == bnhd.data_ptr()
    assert len(derived) == 2 and len(plan_calls) == 1
    dy = FakeTensor(shape, f16)
    torch_api.run_backward(q, q, q, out, lse, dy, None, None, None, None, None, call)
    assert launches[-1][1]["out_grad_stride_n"] == 64 and len(derived) == 2


def test_custom_op_copies_rows_the_kernels_cannot_read(fake_torch, launches, private_cache,
                                                        monkeypatch, plan_calls):
    # Every kernel copies q, k, v rows in 16-byte pieces (a misaligned one
    # faults): a view at an odd address or with a row stride that is no
    # 16-byte multiple is read from a contiguous copy at a fresh address,
    # the same signature as an aligned tensor.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    shape = (1, 4, 40, 64)
    params = ["q", "k", "v", "out", "seq_q", "q_stride_n"]
    entry = precompile(spec_for_shapes(shape, shape, shape, "f16"), params, private_cache,
                       family="wgmma")
    aligned = FakeTensor(shape, f16)
    odd = FakeTensor(shape, f16)
    odd._ptr += 2
    # A [.., 40, 64] view of a [.., 40, 68] buffer: rows 136 bytes apart.
    wide_rows = FakeTensor(shape, f16, strides=(4 * 40 * 68, 40 * 68, 68, 1))
    call = CallOptions.create()
    for tensor in (aligned, odd, wide_rows, aligned, odd):
        torch_api.run_call(tensor, aligned, aligned, None, None, None, None, call)
        directory, args, _ = launches[-1]
        assert directory == entry
        if tensor is aligned:
            assert args["q"] == aligned.data_ptr()
        else:
            assert args["q"] not in (tensor.data_ptr(), aligned.data_ptr())
            assert args["q"] % 16 == 0 and args["q_stride_n"] == 64
        assert args["k"] == aligned.data_ptr()
    assert len(plan_calls) == 1


def test_backward_copies_rows_the_kernels_cannot_read(fake_torch, launches, private_cache,
                                                      monkeypatch):
    # The backward stages q, k, v and dY rows the same way: a dY view at an
    # odd address is read from a copy; the aligned tensors are read in place.
    from attn_mlir.options import CallOptions
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    f16 = fake_torch.float16
    shape = (1, 4, 40, 64)
    params = ["q", "k", "v", "out", "lse", "out_grad", "q_grad", "k_grad", "v_grad", "seq_q"]
    spec = spec_for_shapes(shape, shape, shape, "f16", return_lse=True)
    precompile(spec.gradient(), params, private_cache)
    q, out = FakeTensor(shape, f16), FakeTensor(shape, f16)
    lse = FakeTensor(shape[:3], fake_torch.float32)
    dy = FakeTensor(shape, f16)
    dy._ptr += 8
    call = CallOptions.create(return_lse=True)
    torch_api.run_backward(q, q, q, out, lse, dy, None, None, None, None, None, call)
    args = launches[-1][1]
    assert args["out_grad"] not in (dy.data_ptr(), 0) and args["out_grad"] % 16 == 0
    assert args["q"] == q.data_ptr() and args["out"] == out.data_ptr()


def test_prepare_refuses_rows_the_kernels_cannot_read(fake_torch, private_cache):
    # prepare() references its tensors (later calls read them again), so it
    # cannot copy them: it names the tensor and the offending stride.
    f16 = fake_torch.float16
    shape = (1, 4, 40, 64)
    aligned = FakeTensor(shape, f16)
    wide_rows = FakeTensor(shape, f16, strides=(4 * 40 * 68, 40 * 68, 68, 1))
    with pytest.raises(ValueError, match=r"k cannot be used by the kernels: its stride 68 along "
                                         r"dimension 2 is not a multiple of 8 elements"):
        torch_api.prepare(aligned, wide_rows, aligned, cache_dir=private_cache)
    out = FakeTensor(shape, f16)
    out._ptr += 4
    with pytest.raises(ValueError, match=r"out cannot be used by the kernels: its address "
                                         r"0x[0-9a-f]+ is not a multiple of 16 bytes"):
        torch_api.prepare(aligned, aligned, aligned, out=out, cache_dir=private_cache)


def test_custom_op_checks_offsets_before_looking_for_kernels(two_documents, launches,
                                                             private_cache, plan_calls):
    # Bad segment offsets are the caller's error, raised before anything
    # is compiled or looked up (here nothing is cached: the kernels would
    # be missing), on the first call and on remembered signatures alike.
    from attn_mlir.options import CallOptions
    q, docs, offsets, compile = two_documents
    offsets.values = [[0, 100, 300], [0, 150, 120]]
    call = CallOptions.create(mask=docs)
    with pytest.raises(ValueError, match=r"segment_offsets\[1\] = \[0, 150, 120\] decreases"):
        torch_api.run_call(q, q, q, None, None, offsets, None, call)
    offsets.values = [[0, 100, 300], [0, 150, 200]]
    with pytest.raises(AttnArtifactsMissing):
        torch_api.run_call(q, q, q, None, None, offsets, None, call)
    compile(private_cache)
    torch_api.run_call(q, q, q, None, None, offsets, None, call)
    offsets.values = [[0, 100, 300], [0, 150, 120]]
    with pytest.raises(ValueError, match=r"decreases"):
        torch_api.run_call(q, q, q, None, None, offsets, None, call)
    assert len(launches) == 1
