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
from attn_mlir import AttnArtifactsMissing, AttnLaunchError, spec_for_shapes
from attn_mlir import compiler, torch_api


class FakeDtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


class FakeTensor:
    next_ptr = 0x10000

    def __init__(self, shape, dtype, device="cuda:0", strides=None):
        self.shape, self.dtype, self.device = tuple(shape), dtype, device
        if strides is None:
            strides, step = [], 1
            for size in reversed(self.shape):
                strides.insert(0, step)
                step *= size
        self._strides = tuple(strides)
        self._ptr = FakeTensor.next_ptr
        FakeTensor.next_ptr += 0x10000

    def stride(self):
        return self._strides

    def data_ptr(self):
        return self._ptr


@pytest.fixture
def fake_torch(monkeypatch):
    torch = types.ModuleType("torch")
    torch.Tensor = FakeTensor
    for name in ("float16", "bfloat16", "float32", "bool", "int32"):
        setattr(torch, name, FakeDtype(name))
    torch.empty = lambda shape, dtype, device: FakeTensor(shape, dtype, device)
    cuda = types.SimpleNamespace(
        device=lambda device: contextlib.nullcontext(),
        current_stream=lambda device: types.SimpleNamespace(cuda_stream=0xABC))
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

    monkeypatch.setattr(torch_api, "launcher_for", Recorder)
    return calls


def precompile(spec, params, cache):
    """What the build machine leaves in the cache (manifest only)."""
    entry = cache / spec.cache_key()
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps({
        "format": "attn-kernels", "version": 1, "binary": "kernels.cubin",
        "kernels": [{"name": "attn_fwd_0", "block": [128, 1, 1], "shared_bytes": 0,
                     "grid": [[1], [1], [1]],
                     "params": [{"name": n, "type": "i64"} for n in params]}]}))
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
