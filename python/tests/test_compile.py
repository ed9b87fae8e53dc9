"""compile() and the cache, with a stand-in attn-opt (the real GPU pipeline
may not exist yet) and, when it exists, the real one."""

import json
import os
import stat
import sys

import pytest

import attn_mlir
from attn_mlir import (AttentionSpec, AttnArtifactsMissing, AttnCompileError, AttnError,
                       AttnOptNotFound, AttnPipelineUnavailable, Causal, Neighborhood, compile,
                       lookup)
from attn_mlir import compiler

FAKE_ATTN_OPT = r'''#!{python}
# Stand-in for attn-opt with the GPU pipeline: logs its command line and
# writes what --attn-export-artifacts would.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(),
                          "input": open(args[0]).read()}}) + "\n")
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "unknown-pass":
    sys.stderr.write("attn-opt: Unknown command line argument '" + args[1] + "'.  Try: 'attn-opt --help'\n")
    sys.exit(1)
if mode == "error":
    sys.stderr.write("spec.mlir:3:3: error: 'attn.attention' op needs 300 KiB of shared memory\n")
    sys.exit(1)
if mode == "no-manifest":
    sys.exit(0)
out = [a for a in args if a.startswith("--attn-export-artifacts=dir=")][0].split("=", 2)[2]
with open(os.path.join(out, "kernels.cubin"), "wb") as f:
    f.write(b"\x7fELF fake")
manifest = {{"format": "attn-kernels", "version": 1, "binary": "kernels.cubin",
            "binary_format": "cubin", "chip": "sm_90",
            "kernels": [{{"name": "attn_fwd_0", "block": [128, 1, 1], "shared_bytes": 49152,
                         "grid": [[{{"arg": "seq_q", "ceil_div": 128}}], [8], [{{"arg": "batch"}}]],
                         "params": [{{"name": "q", "type": "ptr"}}, {{"name": "seq_q", "type": "i32"}}]}}]}}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f)
'''

SPEC = AttentionSpec(dtype="bf16", num_heads_q=8, num_heads_kv=2, head_dim=64, seq_q=None,
                     seq_k=None, mask=Causal())


@pytest.fixture
def fake_attn_opt(tmp_path, monkeypatch):
    tool = tmp_path / "fake-attn-opt"
    tool.write_text(FAKE_ATTN_OPT.format(python=sys.executable))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("ATTN_OPT", str(tool))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls


def test_compile_runs_the_pipeline_and_caches(fake_attn_opt, private_cache):
    artifacts = compile(SPEC)
    assert artifacts.key == SPEC.cache_key()
    assert artifacts.directory == private_cache / SPEC.cache_key()
    assert artifacts.manifest["kernels"][0]["name"] == "attn_fwd_0"
    assert artifacts.binary_path.read_bytes() == b"\x7fELF fake"
    assert artifacts.param_names == {"q", "seq_q"}
    assert (artifacts.directory / "spec.mlir").read_text() == SPEC.canonical_text()
    (call,) = fake_attn_opt()
    assert call["args"] == ["spec.mlir", "--attn-gpu-pipeline=target=sm_90a kernel=mma_sync",
                            "--attn-export-artifacts=dir=.", "-o", os.devnull]
    assert call["input"] == SPEC.canonical_text()
    # Written in a staging directory, then renamed: nothing else is left.
    assert os.path.dirname(call["cwd"]) == str(private_cache)
    assert sorted(os.listdir(private_cache)) == [SPEC.cache_key()]

    # Second call: a cache hit, attn-opt is not run again.
    again = compile(SPEC)
    assert again == artifacts
    assert len(fake_attn_opt()) == 1
    assert lookup(SPEC) == artifacts


def test_relative_attn_opt_path(fake_attn_opt, tmp_path, monkeypatch):
    # attn-opt runs in the staging directory; ATTN_OPT=build/bin/attn-opt
    # relative to the caller's directory must still work.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTN_OPT", os.path.join(".", "fake-attn-opt"))
    assert compile(SPEC).manifest["kernels"]


def test_compile_target_and_cache_dir_argument(fake_attn_opt, tmp_path):
    spec = AttentionSpec(dtype="f16", num_heads_q=4, head_dim=32, seq_q=64, seq_k=64,
                         mask=Neighborhood([8, 8], 3), target="sm_89", chip="sm_89")
    artifacts = compile(spec, cache_dir=tmp_path / "elsewhere")
    assert artifacts.directory.parent == tmp_path / "elsewhere"
    assert fake_attn_opt()[0]["args"][1] == "--attn-gpu-pipeline=target=sm_89"


def test_compile_errors_surface_diagnostics(fake_attn_opt, private_cache, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "error")
    with pytest.raises(AttnCompileError, match=r"needs 300 KiB of shared memory") as info:
        compile(SPEC)
    assert not isinstance(info.value, AttnPipelineUnavailable)
    assert "error:" in info.value.diagnostics
    assert info.value.command[2].startswith("--attn-gpu-pipeline")
    assert os.listdir(private_cache) == []  # no entry, no staging left

    monkeypatch.setenv("FAKE_MODE", "no-manifest")
    with pytest.raises(AttnCompileError, match=r"wrote no manifest.json"):
        compile(SPEC)
    assert os.listdir(private_cache) == []


def test_unknown_pass_is_reported_as_unavailable_pipeline(fake_attn_opt, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "unknown-pass")
    with pytest.raises(AttnPipelineUnavailable, match=r"has no GPU pipeline"):
        compile(SPEC)


def test_cache_hit_needs_no_attn_opt(private_cache, monkeypatch):
    # The GPU machine: artifacts carried over, no attn-opt anywhere.
    entry = private_cache / SPEC.cache_key()
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps(
        {"format": "attn-kernels", "version": 1, "binary": "kernels.cubin", "kernels": []}))
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    assert compile(SPEC).directory == entry


def test_cache_miss_without_attn_opt_explains_the_workflow(private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    with pytest.raises(AttnArtifactsMissing) as info:
        compile(SPEC)
    message = str(info.value)
    assert SPEC.cache_key() in message
    assert "machine with attn-opt" in message and "copy" in message
    assert "#attn.causal" in message  # the spec itself, to compile elsewhere


def test_bad_manifest_is_rejected(private_cache):
    entry = private_cache / SPEC.cache_key()
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps({"format": "attn-kernels", "version": 2}))
    with pytest.raises(AttnError, match=r"not an attn-kernels v1 manifest"):
        compile(SPEC)


def test_attn_opt_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_OPT", str(tmp_path / "missing"))
    with pytest.raises(AttnOptNotFound, match=r"ATTN_OPT = .*missing.* is not an executable"):
        compiler.find_attn_opt()
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    with pytest.raises(AttnOptNotFound, match=r"attn-opt not found: set ATTN_OPT"):
        attn_mlir.verify(SPEC)
    with pytest.raises(TypeError, match=r"expected an attn_mlir.AttentionSpec"):
        attn_mlir.verify("func.func @f()")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_MLIR_CACHE", str(tmp_path / "c"))
    assert compiler.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ATTN_MLIR_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert compiler.default_cache_dir() == tmp_path / ".cache" / "attn_mlir"


# -- the real GPU pipeline ---------------------------------------------------

PIPELINE_SPECS = [
    SPEC,
    AttentionSpec(dtype="f16", num_heads_q=4, head_dim=64, seq_q=256, seq_k=256,
                  mask=Neighborhood([16, 16], 5), has_lse=True),
]


@pytest.mark.parametrize("spec", PIPELINE_SPECS, ids=["causal-gqa", "neighborhood-lse"])
def test_compile_through_the_real_pipeline(spec, attn_opt, private_cache):
    # Cubins come from ptxas (CUDA toolkit); PTX alone would need only LLVM.
    ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
    if not os.path.exists(ptxas):
        pytest.skip(f"no ptxas at {ptxas}: gpu-module-to-binary cannot make cubins here")
    artifacts = compile(spec, attn_opt=attn_opt)
    manifest = artifacts.manifest
    assert manifest["format"] == "attn-kernels" and manifest["version"] == 1
    assert artifacts.binary_path.is_file()
    assert manifest["kernels"], "no kernels"
    names = artifacts.param_names
    assert {"q", "k", "v", "out", "seq_q", "seq_k"} <= names
    assert ("lse" in names) == spec.has_lse
    for kernel in manifest["kernels"]:
        assert len(kernel["grid"]) == 3 and len(kernel["block"]) == 3
        assert all(p["type"] in ("ptr", "i64", "i32", "f32") for p in kernel["params"])
    assert compile(spec, attn_opt=attn_opt) == artifacts  # cached


def test_scratch_buffers_are_not_caller_arguments(tmp_path):
    # The launcher allocates the manifest's scratch buffers: a caller that
    # provides q, seq_q and the output has every argument it must give.
    from attn_mlir.compiler import Artifacts
    manifest = {"binary": "k.cubin", "kernels": [
        {"name": "attn_quantize_quantize_q",
         "params": [{"name": "q", "type": "ptr"}, {"name": "q_quant", "type": "ptr"},
                    {"name": "seq_q", "type": "i32"}]},
        {"name": "attn_fwd",
         "params": [{"name": "q_quant", "type": "ptr"}, {"name": "out", "type": "ptr"}]}],
        "scratch": [{"name": "q_quant", "bytes": [{"arg": "seq_q"}, 128]}]}
    artifacts = Artifacts("key", tmp_path, manifest)
    assert artifacts.scratch_names == {"q_quant"}
    assert artifacts.param_names == {"q", "seq_q", "out"}
    del manifest["scratch"]
    assert artifacts.param_names == {"q", "seq_q", "out", "q_quant"}


def test_a_new_attn_opt_recompiles_cached_specs(fake_attn_opt, private_cache, monkeypatch):
    first = compile(SPEC)
    recorded = (first.directory / compiler.COMPILER_FILE).read_text().strip()
    assert recorded == compiler.compiler_fingerprint(os.environ["ATTN_OPT"])
    assert compile(SPEC).directory == first.directory and len(fake_attn_opt()) == 1
    # Another attn-opt (the same script, changed): the entry is compiled again.
    tool = os.environ["ATTN_OPT"]
    with open(tool, "a") as f:
        f.write("# rebuilt\n")
    second = compile(SPEC)
    assert len(fake_attn_opt()) == 2 and second.directory == first.directory
    assert (second.directory / compiler.COMPILER_FILE).read_text().strip() != recorded
    assert not list(private_cache.glob(".stale-*")) and not list(private_cache.glob(".tmp-*"))
    # Without attn-opt (the GPU machine) the cached entry is used as is.
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    monkeypatch.delenv("ATTN_OPT")
    assert compile(SPEC).directory == first.directory and len(fake_attn_opt()) == 2
