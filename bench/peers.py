"""Did a peer really run what the benchmark says it ran?

A ratio against a peer is only meaningful when the peer ran its real
kernels: FlexAttention compiled by torch.compile (not an eager fallback
after a failed or abandoned compile, which is 100x slower), SDPA on the
backend named in the column (not the math fallback). Every check here
ends in a Verdict; a failed one puts `failed (<short reason>)` in the
table instead of a ratio, and the full reason below it.

FlexAttention (compile_and_check, judge_compile):
- the benchmark compiles flex_attention once per mask, in its own function,
  after torch._dynamo.reset(), with torch.compile(fullgraph=True) (a graph
  break raises instead of running the rest eagerly) and
  torch._dynamo.config.suppress_errors = False (a failing compile raises
  instead of falling back to eager; fail_on_recompile_limit_hit too where
  it exists);
- the first call must produce a compiled graph (Dynamo's
  counters["stats"]["unique_graphs"] grows), with no graph break
  (counters["graph_break"]) and no recompile-limit hit;
- the warm-up calls after it (and the timed calls) must not compile again
  (no new graph, frame or graph break: the cached compiled code served
  them);
- the first call (the compile) must finish within COMPILE_LIMIT_S seconds
  (--flex-compile-limit): a longer compile is stopped (SIGALRM) or, where
  it cannot be stopped, reported as failed. 120 s: a working compile of
  one mask (Dynamo trace, Inductor, one Triton kernel, no autotuning)
  takes seconds to tens of seconds, so this leaves room for a cold Triton
  cache, and it would have stopped the broken compile of the issue (171 s
  on the causal case before it fell back to eager). A compile that slow
  would dominate any real use anyway.

SDPA (judge_sdpa): the call runs under sdpa_kernel(<that one backend>),
which raises when the backend cannot run these inputs (reported as
failed); then the CUDA kernels of one profiled call must include the
backend's kernels and no other backend's (the math path shows up as
softmax kernels).

Pure Python: torch is not imported here; the benchmark passes Dynamo's
counters and the profiler's kernel names in, and the tests
(python/tests/test_bench_peers.py) pass stand-ins.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

COMPILE_LIMIT_S = 120.0
WARMUP_CALLS = 3
# Counters that grow only when Dynamo compiles (or gives up on) a frame.
COMPILE_COUNTERS = (("stats", "unique_graphs"), ("frames", "total"))
_LIMIT_WORDS = ("recompile_limit", "cache_size_limit", "recompile limit", "cache size limit")
_DETAIL_LINES = 12

Counters = Dict[str, Dict[str, int]]


@dataclass(frozen=True)
class Verdict:
    """ok, or failed with a short reason (a table cell) and a full one."""

    ok: bool
    short: str = ""
    detail: str = ""


def passed(detail: str = "") -> Verdict:
    return Verdict(True, "", detail)


def failed(short: str, detail: str = "") -> Verdict:
    return Verdict(False, short, detail or short)


# ----------------------------------------------------------------------------
# Dynamo's counters (torch._dynamo.utils.counters: a defaultdict of Counters).

def snapshot(counters: Mapping[str, Mapping[str, Any]]) -> Counters:
    """A plain copy of Dynamo's counters: {group: {key: count}}."""
    return {str(group): {str(key): int(value) for key, value in dict(values).items()}
            for group, values in dict(counters).items()}


def delta(before: Counters, after: Counters) -> Counters:
    """What grew between two snapshots (only the keys that changed)."""
    grown: Counters = {}
    for group, values in after.items():
        old = before.get(group, {})
        changed = {k: v - old.get(k, 0) for k, v in values.items() if v != old.get(k, 0)}
        if changed:
            grown[group] = changed
    return grown


def _count(counters: Counters, group: str, key: Optional[str] = None) -> int:
    values = counters.get(group, {})
    return sum(values.values()) if key is None else values.get(key, 0)


def _limit_hits(counters: Counters) -> List[str]:
    return [f"{group}[{key!r}]" for group, values in counters.items() for key in values
            if any(word in key.lower() for word in _LIMIT_WORDS)]


def _first_lines(text: str, lines: int = _DETAIL_LINES) -> str:
    kept = text.strip().splitlines()
    return "\n".join(kept[:lines]) + ("\n..." if len(kept) > lines else "")


def verdict_from_error(error: BaseException, stage: str) -> Verdict:
    """A failed verdict for an exception raised while compiling or running
    a peer; the short reason names the kind of failure."""
    name = type(error).__name__
    text = str(error)
    lowered = f"{name} {text}".lower()
    if isinstance(error, CompileTimeout):
        short = "compile stopped"
    elif "recompilelimit" in lowered or any(w in lowered for w in _LIMIT_WORDS):
        short = "recompile limit"
    elif name in ("Unsupported", "UncapturedHigherOrderOpError") or "graph break" in lowered:
        short = "graph break"
    elif "no available kernel" in lowered:
        short = "backend unavailable"
    elif "backendcompilerfailed" in lowered or "inductor" in lowered:
        short = "compile error"
    else:
        short = f"{stage} error"
    return failed(f"{short}: {name}", f"{stage}: {name}: {_first_lines(text)}")


def judge_compile(first: Counters, steady: Counters, compile_s: float, limit_s: float,
                  error: Optional[BaseException] = None) -> Verdict:
    """The verdict on a torch.compile'd peer from what Dynamo's counters
    did in its first call (`first`: the compile) and in the warm-up calls
    after it (`steady`), how long the first call took, and the exception
    one of them raised (if any)."""
    if isinstance(error, CompileTimeout):
        return failed(f"compile > {limit_s:g} s",
                      f"the first call (the compile) ran past the {limit_s:g} s limit "
                      f"(--flex-compile-limit): {error}")
    if error is not None:
        return verdict_from_error(error, "compile")
    if compile_s > limit_s:
        return failed(f"compile took {compile_s:.0f} s > {limit_s:g} s",
                      f"the first call (the compile) took {compile_s:.1f} s, over the "
                      f"{limit_s:g} s limit (--flex-compile-limit)")
    breaks = first.get("graph_break", {})
    if breaks:
        reasons = "; ".join(f"{reason} (x{n})" for reason, n in breaks.items())
        return failed("graph break (eager fallback)",
                      f"Dynamo broke the graph on the first call and ran the rest eagerly: "
                      f"{reasons}")
    hits = _limit_hits(first) + _limit_hits(steady)
    if hits:
        return failed("recompile limit", f"Dynamo hit its recompile limit ({', '.join(hits)}): "
                      "the frame then runs eagerly")
    graphs = _count(first, "stats", "unique_graphs")
    if graphs < 1:
        return failed("no compiled graph",
                      "the first call produced no compiled graph (Dynamo counters: "
                      f"{first or 'unchanged'}): it ran eagerly")
    again = {f"{g}.{k}": _count(steady, g, k) for g, k in COMPILE_COUNTERS
             if _count(steady, g, k)}
    if again or steady.get("graph_break"):
        return failed("recompiled in warm-up",
                      "calls after the first compiled again (guards failed), so the timed "
                      f"calls would not run one compiled graph: {again or steady}")
    return passed(f"compiled in {compile_s:.1f} s, {graphs} graph(s), no graph break")


def judge_steady(grown: Counters, stage: str = "timing") -> Verdict:
    """Calls that should all hit the compiled code: nothing may compile."""
    again = {f"{g}.{k}": _count(grown, g, k) for g, k in COMPILE_COUNTERS if _count(grown, g, k)}
    if again or grown.get("graph_break") or _limit_hits(grown):
        return failed(f"recompiled during {stage}",
                      f"Dynamo compiled again during {stage} (counters grew: {grown}): the "
                      "time is not that of one compiled graph")
    return passed()


# ----------------------------------------------------------------------------
# A compile that takes too long is stopped (main thread, Unix).

class CompileTimeout(Exception):
    """The compile ran past its limit (raised by deadline())."""


@dataclass
class _Alarm:
    armed: bool = False
    fired: bool = False


@contextmanager
def deadline(seconds: Optional[float]) -> Iterator[_Alarm]:
    """Raises CompileTimeout in the body after `seconds` (SIGALRM; only in
    the main thread of a Unix process, else the body is not interrupted and
    the caller judges the elapsed time). Yields whether it is armed and
    whether it fired."""
    alarm = _Alarm()
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield alarm
        return

    def on_alarm(signum: int, frame: Any) -> None:
        alarm.fired = True
        raise CompileTimeout(f"stopped after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    alarm.armed = True
    try:
        yield alarm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def compile_and_check(call: Callable[[], Any], counters: Mapping[str, Mapping[str, Any]],
                      limit_s: float = COMPILE_LIMIT_S, warmup: int = WARMUP_CALLS,
                      sync: Callable[[], Any] = lambda: None,
                      clock: Callable[[], float] = time.perf_counter) -> Tuple[Verdict, float]:
    """Runs a torch.compile'd `call` for the first time (its compile; under
    deadline(limit_s)) and `warmup` times more, watching `counters`
    (torch._dynamo.utils.counters). Returns the verdict and the compile
    time. Nothing raised by `call` escapes: it becomes the verdict."""
    before = snapshot(counters)
    start = clock()
    error: Optional[BaseException] = None
    alarm = _Alarm()
    try:
        with deadline(limit_s) as alarm:
            call()
            sync()
    except Exception as raised:  # noqa: BLE001 -- every failure is a verdict
        error = raised
    compile_s = clock() - start
    if alarm.fired and not isinstance(error, CompileTimeout):
        # Dynamo may wrap the exception raised in its tracer.
        error = CompileTimeout(f"stopped after {limit_s:g} s (surfaced as "
                               f"{type(error).__name__})")
    first = delta(before, snapshot(counters))
    steady: Counters = {}
    if error is None and compile_s <= limit_s:
        middle = snapshot(counters)
        try:
            for _ in range(warmup):
                call()
            sync()
        except Exception as raised:  # noqa: BLE001
            return verdict_from_error(raised, "warm-up"), compile_s
        steady = delta(middle, snapshot(counters))
    return judge_compile(first, steady, compile_s, limit_s, error), compile_s


# ----------------------------------------------------------------------------
# SDPA backends, from the CUDA kernels a call ran.

# Substrings of the kernel names of each SDPA backend (PyTorch's FA2 port,
# cuDNN's runtime-compiled SDPA, the CUTLASS memory-efficient kernel, the
# math path's softmax). cuDNN's names also contain "flash_fprop": it is
# matched first.
BACKEND_KERNELS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("cudnn", ("cudnn",)),
    ("efficient", ("fmha_cutlass", "mem_eff", "efficient_attention")),
    ("flash", ("pytorch_flash", "flash_fwd")),
    ("math", ("softmax",)),
)


def kernel_backend(name: str) -> Optional[str]:
    """The SDPA backend a CUDA kernel name belongs to, or None."""
    lowered = name.lower()
    for backend, words in BACKEND_KERNELS:
        if any(word in lowered for word in words):
            return backend
    return None


def judge_sdpa(backend: str, kernel_names: Sequence[str]) -> Verdict:
    """Whether one call under sdpa_kernel(<backend>) ran that backend's
    kernels and no other backend's."""
    seen: Dict[str, List[str]] = {}
    for name in kernel_names:
        found = kernel_backend(name)
        if found is not None:
            seen.setdefault(found, []).append(name)
    if not kernel_names:
        return passed(f"{backend}: no kernel names recorded (profiler), backend not confirmed")
    others = sorted(b for b in seen if b != backend)
    listed = ", ".join(sorted(set(kernel_names))[:6])
    if others:
        return failed(f"ran {'/'.join(others)} kernels",
                      f"asked for the {backend} backend but the call ran {', '.join(others)} "
                      f"kernels: {listed}")
    if backend not in seen:
        return failed(f"no {backend} kernel",
                      f"asked for the {backend} backend but none of its kernels ran: {listed}")
    return passed(f"{backend} kernels: {', '.join(sorted(set(seen[backend]))[:2])}")


# ----------------------------------------------------------------------------
# Table cells and notes.

def failed_entry(verdict: Verdict) -> Dict[str, str]:
    """A row's peer entry for a failed peer."""
    return {"failed": verdict.short, "reason": verdict.detail}


def peer_cells(entry: Optional[Mapping[str, Any]], ours_ms: float) -> Tuple[str, str]:
    """(time cell, ratio cell) of a peer: "—" when it did not apply, and
    `failed (<short>)` instead of a ratio when it failed."""
    if entry is None:
        return "—", "—"
    if "failed" in entry:
        return "—", f"failed ({entry['failed']})"
    ms = entry["ms"]
    tflops = f" / {entry['tflops']:.0f}" if "tflops" in entry else ""
    return f"{ms:.3f} ms{tflops}", f"{ms / ours_ms:.2f}"


def failure_notes(rows: Iterable[Mapping[str, Any]]) -> List[str]:
    """One paragraph per failed peer: case, peer, full reason."""
    notes = []
    for row in rows:
        for name, entry in row.get("peers", {}).items():
            if "failed" in entry:
                reason = entry.get("reason") or entry["failed"]
                notes.append(f"- {row['case']}: {name}: failed ({entry['failed']})\n    "
                             + reason.replace("\n", "\n    "))
    return notes


__all__ = ["Verdict", "passed", "failed", "snapshot", "delta", "judge_compile", "judge_steady",
           "compile_and_check", "deadline", "CompileTimeout", "verdict_from_error",
           "judge_sdpa", "kernel_backend", "failed_entry", "peer_cells", "failure_notes",
           "COMPILE_LIMIT_S"]
