"""Stand-ins the tests share: the target table of the compiler contract
(what `attn-opt --attn-gpu-targets` prints) and a stand-in attn-opt script
that prints it, logs its pipeline calls and writes what
--attn-export-artifacts would."""

import copy
import json
import stat
import sys

_PORTABLE = {"arch_specific": False, "ptx_features": "", "block_scaled_mma": False,
             "tma": False, "wgmma": False, "tcgen05": False, "max_registers_per_thread": 255}


def _entry(chip, capability, kernels, implemented, **flags):
    entry = dict(_PORTABLE)
    entry.update(chip=chip, compute_capability=list(capability), kernels=list(kernels),
                 implemented_kernels=list(implemented),
                 quantized_kernels=list(implemented),
                 default_kernel=next((k for k in kernels if k in implemented), ""))
    entry.update(flags)
    return entry


# The contract of the compiler's target table (format attn-gpu-targets v1):
# mma_sync everywhere, and wgmma on sm_90a (16-bit precisions only: not a
# quantized kernel); fp8_mma_sync on sm_89, sm_90a, sm_120a.
# (The real attn-opt may differ in flags, e.g. it has printed fp8_mma_sync
# true for sm_100a, where the instruction is emulated, with
# native_fp8_mma_sync false: tests that depend on a flag's value use this
# table explicitly.)
TARGET_TABLE = {
    "format": "attn-gpu-targets", "version": 1,
    "targets": [
        _entry("sm_80", (8, 0), ["mma_sync"], ["mma_sync"], fp8_mma_sync=False,
               native_fp8_mma_sync=False, native_int4_mma_sync=True,
               max_shared_bytes_per_block=166912),
        _entry("sm_86", (8, 6), ["mma_sync"], ["mma_sync"], fp8_mma_sync=False,
               native_fp8_mma_sync=False, native_int4_mma_sync=True,
               max_shared_bytes_per_block=101376),
        _entry("sm_89", (8, 9), ["mma_sync"], ["mma_sync"], fp8_mma_sync=True,
               native_fp8_mma_sync=True, native_int4_mma_sync=True, ptx_features="+ptx84",
               max_shared_bytes_per_block=101376),
        _entry("sm_90a", (9, 0), ["wgmma", "mma_sync"], ["wgmma", "mma_sync"], arch_specific=True,
               fp8_mma_sync=True, native_fp8_mma_sync=False, native_int4_mma_sync=False,
               tma=True, wgmma=True, ptx_features="+ptx84",
               max_shared_bytes_per_block=232448),
        _entry("sm_100a", (10, 0), ["tcgen05", "mma_sync"], ["mma_sync"], arch_specific=True,
               fp8_mma_sync=False, native_fp8_mma_sync=False, native_int4_mma_sync=False,
               tma=True, tcgen05=True, max_shared_bytes_per_block=232448),
        _entry("sm_120a", (12, 0), ["mma_sync"], ["mma_sync"], arch_specific=True,
               fp8_mma_sync=True, native_fp8_mma_sync=True, native_int4_mma_sync=False,
               block_scaled_mma=True, tma=True, max_shared_bytes_per_block=101376),
        _entry("sm_120f", (12, 0), ["mma_sync"], ["mma_sync"],
               fp8_mma_sync=True, native_fp8_mma_sync=True, native_int4_mma_sync=False,
               block_scaled_mma=True, tma=True, max_shared_bytes_per_block=101376),
    ],
}


def table(**changes_by_chip):
    """A deep copy of TARGET_TABLE, entries updated per chip:
    table(sm_80={"fp8_mma_sync": True})."""
    result = copy.deepcopy(TARGET_TABLE)
    for entry in result["targets"]:
        entry.update(changes_by_chip.get(entry["chip"], {}))
    return result


FAKE_ATTN_OPT = r'''#!{python}
# Stand-in for attn-opt: --attn-gpu-targets prints the target table; the GPU
# pipeline logs its command line and writes what --attn-export-artifacts
# would, with the manifest's chip and kernel taken from the options.
import json, os, sys
TABLE = {table}
args = sys.argv[1:]
if "--attn-gpu-targets" in args:
    if os.environ.get("FAKE_TARGETS") == "unknown":
        sys.stderr.write("attn-opt: Unknown command line argument '--attn-gpu-targets'.  Try: 'attn-opt --help'\n")
        sys.exit(1)
    with open(os.environ["FAKE_LOG"] + ".targets", "a") as log:
        log.write("targets\n")
    print(json.dumps(TABLE))
    sys.exit(0)
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
pipeline = [a for a in args if a.startswith("--attn-gpu-pipeline=")][0].split("=", 1)[1]
options = dict(o.split("=", 1) for o in pipeline.split())
entry = [t for t in TABLE["targets"] if t["chip"] == options["target"]][0]
out = [a for a in args if a.startswith("--attn-export-artifacts=dir=")][0].split("=", 2)[2]
with open(os.path.join(out, "kernels.cubin"), "wb") as f:
    f.write(b"\x7fELF fake")
manifest = {{"format": "attn-kernels", "version": 1, "binary": "kernels.cubin",
            "binary_format": "cubin", "chip": options["target"],
            "kernel": options.get("kernel", entry["default_kernel"]),
            "kernels": [{{"name": "attn_fwd_0", "block": [128, 1, 1], "shared_bytes": 49152,
                         "grid": [[{{"arg": "seq_q", "ceil_div": 128}}], [8], [{{"arg": "batch"}}]],
                         "params": [{{"name": "q", "type": "ptr"}}, {{"name": "seq_q", "type": "i32"}}]}}]}}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f)
'''


def write_fake_attn_opt(path, target_table=None):
    """Writes the stand-in attn-opt (printing `target_table`, default
    TARGET_TABLE) to `path`, executable."""
    text = FAKE_ATTN_OPT.format(python=sys.executable,
                                table=repr(target_table or TARGET_TABLE))
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def write_cached_table(cache, target_table=None):
    """What a run with attn-opt leaves in the cache: <cache>/targets.json."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "targets.json"
    path.write_text(json.dumps(target_table or TARGET_TABLE))
    return path
