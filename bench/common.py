"""Shared plumbing of the bench/ scripts: the two modes (compile here, run on
the GPU machine), the kernel cache, the target and the compile-time record.

Pure Python at import time (no torch): `--compile-only` runs on the build
machine with /usr/bin/python3.

Every spec is compiled for `--target` (default sm_90a: the GPU machine is an
H100 or H200), in both modes, so the run looks up exactly what compile-only
compiled; a run on another GPU passes its chip (e.g. `--target sm_80` on an
A100). attention() refuses kernels the device cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))


def _default_to_checkout(variable: str, candidates: Sequence[Path]) -> None:
    """The bench scripts run from a checkout: unless the environment names
    attn-opt or the launcher, they take this checkout's builds (the package
    itself never looks there: attn_mlir.config)."""
    if os.environ.get(variable):
        return
    for candidate in candidates:
        if candidate.is_file():
            os.environ[variable] = str(candidate)
            return


_default_to_checkout("ATTN_OPT", [REPO / "build" / "bin" / "attn-opt"])
_default_to_checkout("ATTN_LAUNCHER", [REPO / "build" / "lib" / "libattn_launcher.so",
                                       REPO / "build-rt" / "libattn_launcher.so",
                                       REPO / "build-rt" / "lib" / "libattn_launcher.so"])

import attn_mlir as am  # noqa: E402

DEFAULT_CACHE = REPO / ".attn-cache"
TIMES_FILE = "compile_times.json"
DEFAULT_TARGET = "sm_90a"   # the GPU machine: an H100 or H200
_target = DEFAULT_TARGET
_kernel: Optional[str] = None   # --kernel: None is the chip's default
_static_shapes = False          # --static-shapes


# Gradients of a quantized forward (the backward reuses its O and LSE,
# section 5's straight-through rule): their max error as a fraction of
# max|g| (sage2-8b on an H100, 2026-12-07: dq 0.042, dk 0.045, dv 0.007).
QUANTIZED_GRAD_RTOL = 0.1

def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compile-only", action="store_true",
                        help="compile every kernel the run needs into --cache (build machine, "
                             "needs attn-opt: $ATTN_OPT or build/bin/attn-opt); no torch")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE),
                        help=f"kernel cache directory (default {DEFAULT_CACHE})")
    parser.add_argument("--only", default=None,
                        help="run only cases whose name contains this substring "
                             "(several: comma-separated)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help="chip every kernel is compiled for and looked up as, in both modes "
                             f"(default {DEFAULT_TARGET}, the H100/H200 GPU machine; one of "
                             "`attn-opt --attn-gpu-targets`)")
    parser.add_argument("--static-shapes", action="store_true",
                        help="sequence lengths as compile-time constants (attention()'s "
                             "static_shapes): every mask's tile classes become compile-time "
                             "tables, one compile per length")
    parser.add_argument("--kernel", default=None,
                        help="MMA kernel family every 16-bit kernel is compiled with (mma_sync, "
                             "wgmma, tcgen05; default: the chip's); quantized precisions keep "
                             "the chip's default")


SANITIZER = "/usr/local/cuda-13.0/bin/compute-sanitizer"
SANITIZER_TOOLS = ("memcheck", "racecheck", "synccheck")


def sanitize(script: Path, names: Sequence[str], cache: Path, inner_args: Sequence[str],
             passed: str) -> int:
    """Runs `script --only NAME --exact` for each case name under each
    compute-sanitizer tool, limited to our kernels (names start with
    attn_) where the sanitizer can filter. A run is clean when the tool
    finds no error, the script exits 0 and its output holds `passed` (the
    case really ran). Prints one line per run (TOOL where the sanitizer
    itself failed: not clean, but no finding about the kernels); returns
    the runs that were not clean."""
    failures = 0
    for tool in SANITIZER_TOOLS:
        for name in names:
            base = [SANITIZER, "--tool", tool, "--error-exitcode", "99"]
            inner = [sys.executable, str(script.resolve()), "--only", name, "--exact",
                     "--cache", str(cache), "--target", target(), *inner_args]
            if _kernel:
                inner += ["--kernel", _kernel]
            attempts = [base + ["--kernel-name", "kns=attn_"] + inner, base + inner]
            for attempt, command in enumerate(attempts):
                start = time.time()
                proc = subprocess.run(command, capture_output=True, text=True)
                text = proc.stdout + proc.stderr
                if attempt == 0 and re.search(r"(?i)unrecognized|invalid (option|value)|unknown option",
                                              text) and "SUMMARY" not in text:
                    continue  # this compute-sanitizer lacks the kernel filter
                break
            summary = [line.strip("= ").strip() for line in text.splitlines() if "SUMMARY" in line]
            errors = sum(int(m.group(1)) for line in summary
                         for m in [re.search(r"(\d+) (?:errors?|hazards?)", line)] if m)
            ok = proc.returncode == 0 and errors == 0 and passed in text
            failures += not ok
            # The tool itself can fail (counted as an error in its summary):
            # say so, rather than let it read as a hazard in our kernels.
            verdict = ("ok" if ok else "TOOL" if "Internal Sanitizer Error" in text
                       else "FAIL")
            print(f"{tool:<10} {name:<40} {verdict:<4} rc={proc.returncode} "
                  f"{time.time() - start:6.1f}s  {' | '.join(summary) or '(no summary)'}",
                  flush=True)
            if not ok:
                print("    " + "\n    ".join(text.strip().splitlines()[-40:]))
    return failures


def print_kernel_times(label: str, step: Callable[[], Any], iterations: int = 10) -> None:
    """Prints where the GPU time of `step` goes: the CUDA time of each
    kernel it launches under torch.profiler, per step (mean of
    `iterations` after three warm-up steps), heaviest first. A diagnostic
    beside the timed tables, not a benchmark."""
    from collections import defaultdict
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iterations):
            step()
        torch.cuda.synchronize()
    totals: Dict[str, float] = defaultdict(float)
    for event in prof.events():  # kernels: device-side events
        if getattr(event.device_type, "name", "") == "CUDA":
            totals[event.name] += event.time_range.elapsed_us() / iterations
    whole = sum(totals.values()) or 1.0
    print(f"\n{label}: {whole / 1000:.3f} ms of kernels per step", flush=True)
    for name, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name[:60]:<60} {us / 1000:8.3f} ms  {100 * us / whole:5.1f} %", flush=True)


def configure(args: argparse.Namespace) -> Path:
    """Applies the common arguments: --target for every spec (target()),
    --cache as attn_mlir's default cache in this process (where
    spec_for_shapes() finds the target table). Returns the cache path."""
    global _target, _kernel, _static_shapes
    _target = args.target
    _kernel = args.kernel
    _static_shapes = getattr(args, "static_shapes", False)
    cache = Path(args.cache).resolve()
    os.environ["ATTN_MLIR_CACHE"] = str(cache)
    return cache


def target() -> str:
    """The chip the scripts compile for (--target)."""
    return _target


def kernel_options(precision: Any = None) -> Dict[str, Any]:
    """attention() options of --target and --kernel (the family applies to
    16-bit cases only: precision None). An NVFP4 precision (f4E2M1FN Q.K
    or P.V) on a --target without the block-scaled mma.sync (the target
    table's block_scaled_mma, e.g. sm_90a) adds emulate_block_scaled=True:
    the compiler's emulation of that instruction, so the NVFP4 kernels run
    (slowly) on the H100 / H200; natively where the chip has it."""
    options: Dict[str, Any] = {"target": _target}
    if _static_shapes:
        options["static_shapes"] = True
    if _kernel and precision is None:
        options["kernel"] = _kernel
    if uses_nvfp4(precision) and not am.target_table().get(_target, "--target").block_scaled_mma:
        options["emulate_block_scaled"] = True
    return options


def uses_nvfp4(precision: Any) -> bool:
    """Whether a precision (preset name, Precision, dict or None)
    multiplies Q.K or P.V in NVFP4 (f4E2M1FN)."""
    from attn_mlir.precision import as_precision
    from attn_mlir.targets import NVFP4_TYPES
    p = as_precision(precision)
    return p is not None and (p.qk in NVFP4_TYPES or p.pv in NVFP4_TYPES)


def select(cases: Sequence[Any], only: Optional[str], exact: bool = False) -> List[Any]:
    if not only:
        return list(cases)
    wanted = [w for w in only.split(",") if w]
    if exact:
        return [c for c in cases if c.name in wanted]
    return [c for c in cases if any(w in c.name for w in wanted)]


def _load_times(cache: Path) -> Dict[str, Any]:
    path = cache / TIMES_FILE
    if path.is_file():
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return {}


def compile_times(cache: Path, script: str) -> Dict[str, Any]:
    """{case name: record} written by the compile-only run of `script`."""
    return _load_times(Path(cache)).get(script, {})


def compile_cases(script: str, cases: Sequence[Any], spec_of: Callable[[Any], "am.AttentionSpec"],
                  cache: Path) -> int:
    """Compiles spec_of(case) for every case into `cache`, timing a real
    attn-opt run per kernel (always into a fresh staging cache, so a warm
    cache does not hide the compile time), and records the times in
    <cache>/compile_times.json under `script`. Continues past failures;
    returns the number of failures."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    tool = am.find_attn_opt()
    print(f"# attn-opt: {tool}")
    print(f"# cache: {cache}")
    if tool is None:
        print("error: no attn-opt (set ATTN_OPT=/path/to/attn-opt)")
        return len(cases)
    # The target table goes into the cache the GPU machine gets (the
    # kernels are compiled in staging caches below); a --target the
    # compiler does not have stops here, once.
    try:
        am.target_table(cache, tool).get(target(), "--target")
    except (ValueError, am.AttnError) as error:
        print(f"error: {error}")
        return len(cases)
    print(f"# target: {target()}")
    times = _load_times(cache)
    record: Dict[str, Any] = times.get(script, {})
    failures: List[Tuple[str, str]] = []
    print(f"{'case':<40} {'compile s':>9}  {'kernels':<24} key")
    for case in cases:
        try:
            spec = spec_of(case)
        except Exception as error:  # a spec the package rejects
            failures.append((case.name, f"spec: {type(error).__name__}: {error}"))
            print(f"{case.name:<40} {'FAIL':>9}  spec: {type(error).__name__}: {error}")
            record[case.name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            continue
        staging = Path(tempfile.mkdtemp(prefix="attn-bench-"))
        try:
            start = time.perf_counter()
            artifacts = am.compile(spec, staging)
            seconds = time.perf_counter() - start
            # The fresh artifacts replace a cached entry: the key names the
            # spec, not the compiler, and this run's attn-opt is the one to
            # measure.
            entry = cache / artifacts.key
            tmp = cache / f".tmp-{artifacts.key[:16]}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(artifacts.directory, tmp)
            old = cache / f".old-{artifacts.key[:16]}-{os.getpid()}"
            if entry.exists():
                os.rename(entry, old)
            try:
                os.rename(tmp, entry)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            kernels = [k["name"] for k in artifacts.manifest["kernels"]]
            shared = [k.get("shared_bytes", 0) for k in artifacts.manifest["kernels"]]
            record[case.name] = {"ok": True, "key": artifacts.key, "seconds": round(seconds, 4),
                                 "kernels": kernels, "shared_bytes": shared}
            print(f"{case.name:<40} {seconds:>9.3f}  {','.join(kernels):<24} {artifacts.key[:16]}")
        except am.AttnCompileError as error:
            diag = (error.diagnostics if hasattr(error, "diagnostics") else str(error)) or str(error)
            failures.append((case.name, diag.strip()))
            record[case.name] = {"ok": False, "key": spec.cache_key(), "error": diag.strip()}
            print(f"{case.name:<40} {'FAIL':>9}  attn-opt: {diag.strip().splitlines()[0] if diag.strip() else error}")
        except Exception as error:
            failures.append((case.name, traceback.format_exc()))
            record[case.name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            print(f"{case.name:<40} {'FAIL':>9}  {type(error).__name__}: {error}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    times[script] = record
    with open(cache / TIMES_FILE, "w", encoding="utf-8") as f:
        json.dump(times, f, indent=1, sort_keys=True)
    ok = [r["seconds"] for n, r in record.items() if r.get("ok") and any(c.name == n for c in cases)]
    if ok:
        ok.sort()
        print(f"# compiled {len(ok)} kernels: compile time per kernel median {ok[len(ok) // 2]:.3f} s, "
              f"min {ok[0]:.3f} s, max {ok[-1]:.3f} s")
    if failures:
        print(f"\n# {len(failures)} case(s) failed to compile:")
        for name, diag in failures:
            print(f"## {name}\n{diag}\n")
    return len(failures)


def require_compiled(spec: "am.AttentionSpec", cache: Path) -> Optional[str]:
    """None when the spec's kernel is in the cache, else a message."""
    if am.lookup(spec, cache) is None:
        return (f"kernel {spec.cache_key()[:16]} not in {cache}: run this script with "
                "--compile-only on the build machine and carry the cache")
    return None
