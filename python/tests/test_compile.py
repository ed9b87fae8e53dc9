"""compile() and the cache, with a stand-in attn-opt (the real GPU pipeline
may not exist yet) and, when it exists, the real one."""

import dataclasses
import json
import os

import pytest

import standins

import attn_mlir
from attn_mlir import (AttentionSpec, AttnArtifactsMissing, AttnCompileError, AttnError,
                       AttnOptNotFound, AttnPipelineUnavailable, AttnTargetError,
                       AttnTargetsMissing, Causal, HeadGroup, Heads, Neighborhood, Precision,
                       compile, lookup, target_table)
from attn_mlir import compiler

SPEC = AttentionSpec(dtype="bf16", num_heads_q=8, num_heads_kv=2, head_dim=64, seq_q=None,
                     seq_k=None, mask=Causal(), target="sm_90a")


def test_compile_runs_the_pipeline_and_caches(fake_attn_opt, private_cache):
    (private_cache / "targets.json").unlink()  # a fresh cache
    artifacts = compile(SPEC)
    assert artifacts.key == SPEC.cache_key()
    assert artifacts.directory == private_cache / SPEC.cache_key()
    assert artifacts.manifest["kernels"][0]["name"] == "attn_fwd_0"
    assert artifacts.binary_path.read_bytes() == b"\x7fELF fake"
    assert artifacts.param_names == {"q", "seq_q"}
    assert (artifacts.directory / "spec.mlir").read_text() == SPEC.canonical_text()
    (call,) = fake_attn_opt()
    assert call["args"] == ["spec.mlir", "--attn-gpu-pipeline=target=sm_90a",
                            "--attn-export-artifacts=dir=.", "-o", os.devnull]
    assert call["input"] == SPEC.canonical_text()
    assert artifacts.manifest["chip"] == "sm_90a" and artifacts.manifest["kernel"] == "wgmma"
    # Written in a staging directory, then renamed: nothing else is left
    # but the entry and the compiler's target table.
    assert os.path.dirname(call["cwd"]) == str(private_cache)
    assert sorted(os.listdir(private_cache)) == sorted([SPEC.cache_key(), "targets.json"])
    assert json.loads((private_cache / "targets.json").read_text()) == standins.TARGET_TABLE

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


def test_compile_target_kernel_and_cache_dir_argument(fake_attn_opt, tmp_path):
    spec = AttentionSpec(dtype="f16", num_heads_q=4, head_dim=32, seq_q=64, seq_k=64,
                         mask=Neighborhood([8, 8], 3), target="sm_89", kernel="mma_sync")
    artifacts = compile(spec, cache_dir=tmp_path / "elsewhere")
    assert artifacts.directory.parent == tmp_path / "elsewhere"
    assert fake_attn_opt()[0]["args"][1] == "--attn-gpu-pipeline=target=sm_89 kernel=mma_sync"
    assert artifacts.manifest["chip"] == "sm_89"
    # The table goes into the cache that was used.
    assert json.loads((tmp_path / "elsewhere" / "targets.json").read_text()) == \
        standins.TARGET_TABLE
    # Target and kernel are part of the key.
    keys = {AttentionSpec(dtype="f16", num_heads_q=4, head_dim=32, seq_q=None, seq_k=None,
                          target=t, kernel=k).cache_key()
            for t, k in (("sm_80", None), ("sm_90a", None), ("sm_90a", "mma_sync"),
                         ("sm_90a", "wgmma"))}
    assert len(keys) == 4


def test_compile_errors_surface_diagnostics(fake_attn_opt, private_cache, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "error")
    with pytest.raises(AttnCompileError, match=r"needs 300 KiB of shared memory") as info:
        compile(SPEC)
    assert not isinstance(info.value, AttnPipelineUnavailable)
    assert "error:" in info.value.diagnostics
    assert info.value.command[2].startswith("--attn-gpu-pipeline")
    assert os.listdir(private_cache) == ["targets.json"]  # no entry, no staging left

    monkeypatch.setenv("FAKE_MODE", "no-manifest")
    with pytest.raises(AttnCompileError, match=r"wrote no manifest.json"):
        compile(SPEC)
    assert os.listdir(private_cache) == ["targets.json"]


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
                  mask=Neighborhood([16, 16], 5), has_lse=True, target="sm_80"),
    AttentionSpec(dtype="bf16", num_heads_q=4, head_dim=64, seq_q=None, seq_k=None,
                  precision="sage2-8b", target="sm_89", kernel="mma_sync"),
]


@pytest.mark.parametrize("spec", PIPELINE_SPECS, ids=["causal-gqa-sm90a", "neighborhood-lse-sm80",
                                                      "sage2-8b-sm89"])
def test_compile_through_the_real_pipeline(spec, attn_opt, private_cache):
    # Cubins come from ptxas (CUDA toolkit); PTX alone would need only LLVM.
    ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
    if not os.path.exists(ptxas):
        pytest.skip(f"no ptxas at {ptxas}: gpu-module-to-binary cannot make cubins here")
    artifacts = compile(spec, attn_opt=attn_opt)
    manifest = artifacts.manifest
    assert manifest["format"] == "attn-kernels" and manifest["version"] == 1
    # The new option syntax reached the compiler: the binary is for the
    # spec's chip, built by its default family (wgmma on sm_90a for 16-bit
    # precisions, else mma_sync), which Artifacts reports.
    assert manifest["chip"] == spec.target
    default_wgmma = spec.target == "sm_90a" and spec.precision is None and spec.kernel is None
    assert manifest["kernel"] == ("wgmma" if default_wgmma else "mma_sync")
    assert artifacts.kernel_family == manifest["kernel"]
    assert (private_cache / "targets.json").is_file()
    assert artifacts.binary_path.is_file()
    assert manifest["kernels"], "no kernels"
    names = artifacts.param_names
    assert {"q", "k", "v", "out", "seq_q", "seq_k"} <= names
    assert ("lse" in names) == spec.has_lse
    for kernel in manifest["kernels"]:
        assert len(kernel["grid"]) == 3 and len(kernel["block"]) == 3
        assert all(p["type"] in ("ptr", "i64", "i32", "f32", "tensor_map")
                   for p in kernel["params"])
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
    # Artifacts derive these once (they are asked on every call): a manifest
    # without the scratch entry is another Artifacts.
    del manifest["scratch"]
    assert Artifacts("key", tmp_path, manifest).param_names == {"q", "seq_q", "out", "q_quant"}


def test_tensor_map_params_are_not_caller_arguments(tmp_path):
    # The launcher encodes a tensor_map param from the arguments it names:
    # those are the caller's to give (a scratch tensor still is not), the
    # param's own name is not.
    from attn_mlir.compiler import Artifacts
    k_map = {"name": "k_tensor_map", "type": "tensor_map",
             "tensor_map": {"tensor": "k", "data_type": "bf16",
                            "dims": [[128], [{"arg": "seq_k"}], [2], [{"arg": "batch"}]],
                            "strides": [[{"arg": "k_stride_n"}, 2], [{"arg": "k_stride_h"}, 2],
                                        [{"arg": "k_stride_b"}, 2]],
                            "box": [64, 128, 1, 1], "swizzle": 128}}
    quant_map = {"name": "k_quant_tensor_map", "type": "tensor_map",
                 "tensor_map": {"tensor": "k_quant", "data_type": "u8",
                                "dims": [[128], [{"arg": "seq_k", "ceil_div": 64}, 64],
                                         [{"arg": "heads_k"}]],
                                "strides": [[128], [{"arg": "seq_k"}, 128]],
                                "box": [128, 64, 1], "swizzle": 128}}
    manifest = {"binary": "k.cubin", "kernels": [
        {"name": "quantize_k", "params": [{"name": "k", "type": "ptr"},
                                          {"name": "k_quant", "type": "ptr"}]},
        {"name": "attn_fwd", "params": [{"name": "q", "type": "ptr"}, k_map, quant_map,
                                        {"name": "out", "type": "ptr"},
                                        {"name": "seq_q", "type": "i32"}]}],
        "scratch": [{"name": "k_quant", "bytes": [{"arg": "seq_k"}, 256]}]}
    artifacts = Artifacts("key", tmp_path, manifest)
    assert artifacts.param_names == {"k", "q", "out", "seq_q", "seq_k", "batch", "k_stride_n",
                                     "k_stride_h", "k_stride_b", "heads_k"}
    # A tensor only a map reads is an argument all the same.
    del manifest["kernels"][0]
    assert "k" in Artifacts("key", tmp_path, manifest).param_names
    del manifest["scratch"]
    assert "k_quant" in Artifacts("key", tmp_path, manifest).param_names


def test_a_new_attn_opt_recompiles_cached_specs(fake_attn_opt, private_cache, monkeypatch):
    first = compile(SPEC)
    recorded = (first.directory / compiler.COMPILER_FILE).read_text().strip()
    assert recorded == compiler.compiler_fingerprint(os.environ["ATTN_OPT"])
    assert compile(SPEC).directory == first.directory and len(fake_attn_opt()) == 1
    # What attention()'s memo asks before reusing remembered artifacts.
    assert compiler.still_current(first)
    # Another attn-opt (the same script, changed): the entry is compiled again.
    tool = os.environ["ATTN_OPT"]
    with open(tool, "a") as f:
        f.write("# rebuilt\n")
    assert not compiler.still_current(first)
    second = compile(SPEC)
    assert len(fake_attn_opt()) == 2 and second.directory == first.directory
    assert compiler.still_current(second)
    assert (second.directory / compiler.COMPILER_FILE).read_text().strip() != recorded
    assert not list(private_cache.glob(".stale-*")) and not list(private_cache.glob(".tmp-*"))
    # Without attn-opt (the GPU machine) the cached entry is used as is.
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    monkeypatch.delenv("ATTN_OPT")
    assert compile(SPEC).directory == first.directory and len(fake_attn_opt()) == 2
    assert compiler.still_current(second)
    # An entry rewritten since it was read (another machine's, copied in).
    (second.directory / "manifest.json").write_text(json.dumps(second.manifest) + "\n")
    assert not compiler.still_current(second)
    assert compiler.still_current(compile(SPEC))


# -- targets -----------------------------------------------------------------

def test_compile_needs_a_target(fake_attn_opt):
    spec = AttentionSpec(dtype="f16", num_heads_q=4, head_dim=32, seq_q=None, seq_k=None)
    assert spec.target is None  # a spec can be written (and verified) without one
    with pytest.raises(ValueError, match=r"compile: the spec has no target"):
        compile(spec)
    assert fake_attn_opt() == []


@pytest.mark.parametrize("changes, error, message", [
    (dict(target="sm_75"), ValueError,
     r"target = 'sm_75' is not a target of this compiler; supported: sm_80, sm_86, sm_89, "
     r"sm_90a, sm_100a, sm_120a, sm_120f"),
    (dict(target="sm_90"), ValueError, r"target = 'sm_90' is not a target of this compiler"),
    (dict(target="sm_80", kernel="wgmma"), ValueError,
     r"kernel = 'wgmma' is not a kernel family of sm_80; it supports: mma_sync"),
    (dict(target="sm_100a", kernel="tcgen05"), AttnTargetError,
     r"kernel = 'tcgen05' is not implemented for sm_100a yet \(implemented: mma_sync\)"),
    (dict(target="sm_80", precision="sage2-8b"), AttnTargetError,
     r"precision #attn.precision<sage2_8b> \(P.V in FP8 E4M3\) needs the FP8 \(e4m3\) "
     r"mma.sync, which sm_80 does not have .*chips with it: sm_89, sm_90a, sm_120a"),
    (dict(target="sm_100a", precision="sage2-4b"), AttnTargetError,
     r"sage2_4b.* which sm_100a does not have"),
    (dict(target="sm_86", heads=Heads(groups=[HeadGroup([1], precision="fp8")])), AttnTargetError,
     r"heads.groups\[0\].precision #attn.precision<fp8> \(Q.K and P.V in FP8 E4M3\) .*sm_86"),
])
def test_compile_checks_the_target_before_attn_opt_runs(fake_attn_opt, changes, error, message):
    fields = dict(dtype="bf16", num_heads_q=4, head_dim=64, seq_q=None, seq_k=None)
    fields.update(changes)
    with pytest.raises(error, match=message):
        compile(AttentionSpec(**fields))
    assert fake_attn_opt() == []


def test_fp8_compiles_where_the_chip_has_it(fake_attn_opt):
    for chip in ("sm_89", "sm_90a", "sm_120a"):
        spec = AttentionSpec(dtype="bf16", num_heads_q=4, head_dim=64, seq_q=None, seq_k=None,
                             precision="sage2-8b", target=chip)
        assert compile(spec).manifest["chip"] == chip
    # E4M3 Q.K too: sm_90a's wgmma kernel, or the e4m3 mma.sync.
    for chip, kernel in (("sm_90a", None), ("sm_90a", "mma_sync"), ("sm_89", None)):
        spec = AttentionSpec(dtype="bf16", num_heads_q=4, head_dim=128, seq_q=None, seq_k=None,
                             precision="fp8", target=chip, kernel=kernel)
        assert compile(spec).manifest["chip"] == chip
    # sage1 (i8 Q.K, f16 P.V) needs no FP8: fine on sm_80.
    sage1 = AttentionSpec(dtype="f16", num_heads_q=4, head_dim=64, seq_q=None, seq_k=None,
                          precision="sage1", target="sm_80")
    assert compile(sage1).manifest["chip"] == "sm_80"


def test_nvfp4_compiles_natively_or_emulated(fake_attn_opt):
    fields = dict(dtype="bf16", num_heads_q=4, head_dim=128, seq_q=None, seq_k=None,
                  precision="nvfp4")
    assert compile(AttentionSpec(target="sm_120a", **fields)).manifest["chip"] == "sm_120a"
    emulated = AttentionSpec(target="sm_90a", emulate_block_scaled=True, **fields)
    assert compile(emulated).manifest["chip"] == "sm_90a"
    native, emulation = fake_attn_opt()
    assert native["args"][1] == "--attn-gpu-pipeline=target=sm_120a"
    assert emulation["args"][1] == "--attn-gpu-pipeline=target=sm_90a emulate-block-scaled-mma=true"
    assert emulation["input"] == emulated.canonical_text()
    # Refused before attn-opt runs: NVFP4 on sm_90a without the emulation,
    # the emulation on a chip that has the instruction or lacks E4M3.
    for changes, message in ((dict(target="sm_90a"), r"which sm_90a does not have"),
                             (dict(target="sm_120a", emulate_block_scaled=True),
                              r"sm_120a runs the block-scaled mma.sync natively"),
                             (dict(target="sm_86", emulate_block_scaled=True),
                              r"sm_86 lacks the E4M3 conversions")):
        with pytest.raises(AttnTargetError, match=message):
            compile(AttentionSpec(**dict(fields, **changes)))
    assert len(fake_attn_opt()) == 2


NVFP4_KERNELS = ["attn_quantize_key_mean", "attn_quantize_quantize_k", "attn_quantize_quantize_q",
                 "attn_quantize_quantize_v", "attn_fwd"]


@pytest.mark.parametrize("target, emulate", [("sm_120a", False), ("sm_90a", True)],
                         ids=["sm120a", "sm90a-emulated"])
def test_nvfp4_through_the_real_pipeline(target, emulate, attn_opt, private_cache):
    ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
    if not os.path.exists(ptxas):
        pytest.skip(f"no ptxas at {ptxas}: gpu-module-to-binary cannot make cubins here")
    spec = AttentionSpec(dtype="bf16", num_heads_q=4, num_heads_kv=2, head_dim=128, seq_q=None,
                         seq_k=None, precision="nvfp4", has_lse=True, target=target,
                         emulate_block_scaled=emulate)
    artifacts = compile(spec, attn_opt=attn_opt)
    assert artifacts.manifest["chip"] == target and artifacts.kernel_family == "mma_sync"
    names = [k["name"] for k in artifacts.manifest["kernels"]]
    assert names == NVFP4_KERNELS
    assert {"v_nvfp4_t", "v_block_scale"} <= artifacts.scratch_names
    assert {"q", "k", "v", "out", "lse", "seq_q", "seq_k"} <= artifacts.param_names
    # NVFP4 Q.K alone: no V pre-kernel, P.V in bf16.
    qk_only = dataclasses.replace(spec, precision=Precision(qk="f4E2M1FN", smooth_k=True,
                                                            pv="bf16"))
    names = [k["name"] for k in compile(qk_only, attn_opt=attn_opt).manifest["kernels"]]
    assert "attn_quantize_quantize_v" not in names and names[-1] == "attn_fwd"
    # The native and the emulated kernels are separate cache entries.
    other = dataclasses.replace(spec, target="sm_120a" if emulate else "sm_90a",
                                emulate_block_scaled=not emulate)
    assert other.cache_key() != spec.cache_key()


def test_sm90a_refuses_nvfp4_without_the_emulation(attn_opt, tmp_path):
    # The compiler's own refusal, behind the package's (check_target).
    spec = AttentionSpec(dtype="bf16", num_heads_q=2, head_dim=128, seq_q=None, seq_k=None,
                         precision="nvfp4", target="sm_90a")
    with pytest.raises(AttnTargetError, match=r"emulate_block_scaled=True"):
        compile(spec, tmp_path, attn_opt=attn_opt)
    (tmp_path / "spec.mlir").write_text(spec.canonical_text())
    import subprocess
    result = subprocess.run([attn_opt, "spec.mlir", "--attn-gpu-pipeline=target=sm_90a",
                             "-o", os.devnull], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert "NVFP4 (f4E2M1FN) needs the block-scaled mma.sync" in result.stderr


def test_target_spec_form_errors():
    with pytest.raises(ValueError, match=r"AttentionSpec: target = 'hopper' is not a chip name"):
        AttentionSpec(dtype="f16", num_heads_q=1, head_dim=32, seq_q=None, seq_k=None,
                      target="hopper")
    with pytest.raises(ValueError, match=r"AttentionSpec: kernel = 'WGMMA!' is not a kernel"):
        AttentionSpec(dtype="f16", num_heads_q=1, head_dim=32, seq_q=None, seq_k=None,
                      target="sm_90a", kernel="WGMMA!")
    with pytest.raises(TypeError, match=r"chip"):
        AttentionSpec(dtype="f16", num_heads_q=1, head_dim=32, seq_q=None, seq_k=None,
                      target="sm_80", chip="sm_90")


def test_table_comes_from_attn_opt_once_and_goes_to_the_cache(fake_attn_opt, private_cache):
    (private_cache / "targets.json").unlink()
    table = target_table()
    assert table.chips == ("sm_80", "sm_86", "sm_89", "sm_90a", "sm_100a", "sm_120a", "sm_120f")
    assert json.loads((private_cache / "targets.json").read_text()) == standins.TARGET_TABLE
    compile(SPEC)
    compile(AttentionSpec(dtype="f16", num_heads_q=2, head_dim=32, seq_q=None, seq_k=None,
                          target="sm_80"))
    assert fake_attn_opt.targets() == 1  # memoized per attn-opt binary
    assert len(fake_attn_opt()) == 2


def test_a_cache_hit_with_attn_opt_still_writes_the_table(fake_attn_opt, private_cache):
    compile(SPEC)
    (private_cache / "targets.json").unlink()  # e.g. a cache filled before tables existed
    assert compile(SPEC).directory == private_cache / SPEC.cache_key()
    assert len(fake_attn_opt()) == 1
    assert json.loads((private_cache / "targets.json").read_text()) == standins.TARGET_TABLE


def test_table_from_the_cache_without_attn_opt(private_cache, monkeypatch):
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    standins.write_cached_table(private_cache, standins.table(sm_80={"fp8_mma_sync": True}))
    table = target_table()
    assert table.get("sm_80").fp8_mma_sync  # read from the file, not a built-in list
    (private_cache / "targets.json").unlink()
    with pytest.raises(AttnTargetsMissing) as info:
        target_table()
    message = str(info.value)
    assert str(private_cache / "targets.json") in message
    assert "machine with attn-opt" in message and "copy the cache" in message


def test_attn_opt_without_the_targets_flag(fake_attn_opt, monkeypatch):
    monkeypatch.setenv("FAKE_TARGETS", "unknown")
    with pytest.raises(AttnCompileError, match=r"has no --attn-gpu-targets: it predates target "
                                               r"selection .*rebuild attn-opt"):
        compile(SPEC)
    assert fake_attn_opt() == []


def test_the_real_attn_opt_prints_its_target_table(attn_opt, private_cache):
    (private_cache / "targets.json").unlink()
    table = target_table(attn_opt=attn_opt)
    # The contract's chips and the facts Python relies on.
    assert set(table.chips) >= {"sm_80", "sm_86", "sm_89", "sm_90a", "sm_100a", "sm_120a",
                                "sm_120f"}
    assert table.for_device((9, 0)).chip == "sm_90a"
    assert table.for_device((8, 7)).chip == "sm_86"
    # 12.x: the arch-specific sm_120a where it runs, the family target on
    # later minors (DGX Spark's 12.1).
    assert table.for_device((12, 0)).chip == "sm_120a"
    assert table.for_device((12, 1)).chip == "sm_120f"
    # The e4m3 mma.sync: from Ada on, none on Ampere; sm_90a has it (the
    # bench scripts' FP8 rows compile for it).
    fp8 = {t.chip for t in table.targets if t.fp8_mma_sync}
    assert {"sm_89", "sm_90a", "sm_120a"} <= fp8 and not {"sm_80", "sm_86"} & fp8
    for t in table.targets:
        assert t.default_kernel is not None, f"{t.chip} has no implemented kernel family"
    assert "wgmma" in table.get("sm_90a").kernels
    assert json.loads((private_cache / "targets.json").read_text()) == table.to_json()


def test_the_table_is_read_and_written_once_per_change(fake_attn_opt, private_cache, monkeypatch):
    # attention() asks for the table on every call: no file I/O once known.
    from attn_mlir import targets
    writes, reads = [], []
    original_write, original_parse = targets._write_if_changed, targets.TargetTable.from_text
    monkeypatch.setattr(targets, "_write_if_changed",
                        lambda path, table: (writes.append(path), original_write(path, table)))
    monkeypatch.setattr(targets.TargetTable, "from_text",
                        staticmethod(lambda text, where: (reads.append(where),
                                                          original_parse(text, where))[1]))
    for _ in range(3):
        target_table()
    assert len(writes) <= 1
    (private_cache / "targets.json").unlink()  # written again when it disappears
    target_table()
    assert (private_cache / "targets.json").is_file()
    monkeypatch.setattr(compiler, "find_attn_opt", lambda: None)
    reads.clear()
    for _ in range(3):
        target_table()
    assert len(reads) == 1  # parsed once, then from memory until the file changes
    standins.write_cached_table(private_cache, standins.table(sm_80={"fp8_mma_sync": True}))
    assert target_table().get("sm_80").fp8_mma_sync
