"""calibrate(): pick a precision per layer by measurement (SageAttention2's
adaptive scheme).

For one attention call on sample Q/K/V (a layer's typical inputs), each
candidate precision runs through attention(); its output is compared with
an unquantized f32 evaluation of the same call (attn_mlir.reference), and
its time measured (median of CUDA-event timings of the prepared call). The
chosen precision is the FASTEST candidate whose accuracy meets the
threshold, where fastest is what this GPU measured: the ranking is not a
fixed list (Hopper runs sage2-4b's int4 mma.sync slowly, and the wgmma
kernel's 16-bit path can beat its quantized ones).
Candidates run on the device's own target (or `target=`); one the chip
cannot run (FP8 without the e4m3 mma.sync, e.g. sage2-8b on an A100) is
listed with that error and never chosen.

The selection (select_precision) is pure Python on the measurements, so it
is tested without torch or a GPU.

Rules:
- metric "cos": cosine similarity >= threshold (0 < threshold <= 1);
  metric "rel_l1": sum |O - O_ref| / sum |O_ref| <= threshold (>= 0).
- Candidates that failed (compile error, missing kernel, launch error) or
  measured NaN are never chosen.
- Ties: candidates whose time is within `tie_tolerance` (relative, default
  2%) of the fastest eligible one are ties; the most accurate of them wins
  (higher cos, lower rel-L1), then the earlier in the candidate list.
- Nothing meets the threshold: the unquantized precision (None) is returned
  with `fallback = True` and a RuntimeWarning (the safe choice for a layer;
  `strict=True` raises CalibrationError instead).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import AttnError
from .precision import Precision, as_precision
from .reference import cosine, rel_l1

METRICS = ("cos", "rel_l1")
DEFAULT_THRESHOLD = {"cos": 0.999, "rel_l1": 0.04}
DEFAULT_CANDIDATES: Tuple[Any, ...] = ("sage2-4b", "sage2-8b", "sage1", None)
DEFAULT_TIE_TOLERANCE = 0.02
UNQUANTIZED = "unquantized"

# attention() arguments calibrate() sets itself, or that do not describe
# the call's math (not passed to the reference).
_OWN_ARGUMENTS = ("precision", "out")
_NOT_FOR_REFERENCE = ("return_lse", "static_shapes", "target", "kernel",
                      "emulate_block_scaled", "cache_dir")


class CalibrationError(AttnError, ValueError):
    """No candidate met the threshold (calibrate(..., strict=True))."""


def check_metric(metric: Any) -> str:
    """'cos' or 'rel_l1' ('rel-l1' and 'rel_L1' accepted)."""
    if not isinstance(metric, str):
        raise TypeError(f"calibrate: metric must be a string, one of {', '.join(METRICS)}; "
                        f"got {metric!r}")
    name = metric.strip().lower().replace("-", "_")
    if name not in METRICS:
        raise ValueError(f"calibrate: metric = {metric!r} is not one of {', '.join(METRICS)}")
    return name


def check_threshold(threshold: Any, metric: str) -> float:
    """The threshold for `metric` (its default when None), checked."""
    if threshold is None:
        return DEFAULT_THRESHOLD[metric]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"calibrate: threshold must be a number, got {threshold!r} "
                        f"({type(threshold).__name__})")
    value = float(threshold)
    if metric == "cos" and not 0 < value <= 1:
        raise ValueError(f"calibrate: threshold = {threshold!r} is out of range for metric "
                         "'cos' (a cosine similarity: 0 < threshold <= 1)")
    if metric == "rel_l1" and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"calibrate: threshold = {threshold!r} is out of range for metric "
                         "'rel_l1' (a relative L1 error: a finite threshold >= 0)")
    return value


def check_tie_tolerance(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"calibrate: tie_tolerance = {value!r} must be a finite number >= 0")
    return float(value)


def candidate_name(value: Any) -> str:
    """'unquantized', a preset's canonical name, or the #attn.precision text."""
    p = as_precision(value, "calibrate: candidate")
    if p is None:
        return UNQUANTIZED
    return p.preset_name or p.to_mlir()


def candidate_list(candidates: Optional[Iterable[Any]]) -> List[Tuple[str, Optional[Precision]]]:
    """(name, precision) per candidate: None or 'unquantized' is the
    unquantized precision; a preset name, a Precision or a dict of fields
    otherwise. Default: DEFAULT_CANDIDATES. Duplicates are an error."""
    if candidates is None:
        candidates = DEFAULT_CANDIDATES
    if isinstance(candidates, (str, dict, Precision)):
        raise TypeError(f"calibrate: candidates must be a list of precisions, got {candidates!r}")
    result: List[Tuple[str, Optional[Precision]]] = []
    seen: Dict[Any, str] = {}
    for value in candidates:
        if isinstance(value, str) and value.strip().lower() == UNQUANTIZED:
            value = None
        precision = as_precision(value, "calibrate: candidate")
        name = candidate_name(precision)
        if precision in seen:
            raise ValueError(f"calibrate: candidate {value!r} is listed twice (as {seen[precision]!r})")
        seen[precision] = name
        result.append((name, precision))
    if not result:
        raise ValueError("calibrate: candidates is empty")
    return result


@dataclass(frozen=True)
class Measurement:
    """One candidate on the sample inputs."""

    name: str
    precision: Optional[Precision]
    cos: float = math.nan
    rel_l1: float = math.nan
    time_ms: float = math.nan
    error: Optional[str] = None          # why it could not run

    def value(self, metric: str) -> float:
        return self.cos if metric == "cos" else self.rel_l1

    def usable(self) -> bool:
        return self.error is None and all(math.isfinite(x) for x in (self.cos, self.rel_l1,
                                                                     self.time_ms))

    def meets(self, metric: str, threshold: float) -> bool:
        if not self.usable():
            return False
        return self.cos >= threshold if metric == "cos" else self.rel_l1 <= threshold


@dataclass(frozen=True)
class CalibrationResult:
    """What calibrate() chose and what it measured."""

    precision: Optional[Precision]       # pass to attention(precision=...); None: unquantized
    name: str
    metric: str
    threshold: float
    fallback: bool                       # nothing met the threshold
    candidates: Tuple[Measurement, ...]  # fastest first; failed ones last

    def table(self) -> str:
        bound = ">=" if self.metric == "cos" else "<="
        lines = [f"calibrate: {self.metric} {bound} {self.threshold:.10g}: chose {self.name}"
                 + (" (fallback: no candidate met the threshold)" if self.fallback else ""),
                 f"  {'candidate':<24} {'time ms':>9} {'cos':>9} {'rel-L1':>8}  meets"]
        for m in self.candidates:
            if m.error is not None:
                lines.append(f"  {m.name:<24} {'—':>9} {'—':>9} {'—':>8}  error: {m.error}")
                continue
            mark = "yes" if m.meets(self.metric, self.threshold) else "no"
            chosen = "  <- chosen" if m.name == self.name and not self.fallback else ""
            lines.append(f"  {m.name:<24} {m.time_ms:>9.3f} {m.cos:>9.6f} {m.rel_l1:>8.4f}  "
                         f"{mark}{chosen}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _more_accurate(a: Measurement, b: Measurement, metric: str) -> bool:
    return a.cos > b.cos if metric == "cos" else a.rel_l1 < b.rel_l1


def select_precision(measurements: Sequence[Measurement], threshold: Any = None,
                     metric: Any = "cos", tie_tolerance: Any = DEFAULT_TIE_TOLERANCE,
                     strict: bool = False) -> CalibrationResult:
    """The fastest measurement whose `metric` meets `threshold` (module
    docstring: rules, ties, fallback). `measurements` in candidate order."""
    metric = check_metric(metric)
    threshold = check_threshold(threshold, metric)
    tie_tolerance = check_tie_tolerance(tie_tolerance)
    measurements = list(measurements)
    if not measurements:
        raise ValueError("calibrate: no measurements to choose from")
    order = {id(m): n for n, m in enumerate(measurements)}
    ranked = sorted(measurements, key=lambda m: (not m.usable(),
                                                 m.time_ms if m.usable() else 0.0,
                                                 order[id(m)]))
    eligible = [m for m in ranked if m.meets(metric, threshold)]
    if eligible:
        fastest = eligible[0].time_ms
        tied = [m for m in eligible if m.time_ms <= fastest * (1 + tie_tolerance)]
        best = tied[0]
        for m in tied[1:]:
            if _more_accurate(m, best, metric) or (m.value(metric) == best.value(metric)
                                                   and order[id(m)] < order[id(best)]):
                best = m
        return CalibrationResult(best.precision, best.name, metric, threshold, False, tuple(ranked))
    usable = [m for m in ranked if m.usable()]
    best_text = ""
    if usable:
        closest = max(usable, key=lambda m: m.cos) if metric == "cos" else \
            min(usable, key=lambda m: m.rel_l1)
        best_text = f"; the closest was {closest.name} with {metric} {closest.value(metric):.6g}"
    message = (f"calibrate: no candidate meets {metric} {'>=' if metric == 'cos' else '<='} "
               f"{threshold:.10g}{best_text}")
    if strict:
        raise CalibrationError(message)
    warnings.warn(message + "; using the unquantized precision", RuntimeWarning, stacklevel=3)
    return CalibrationResult(None, UNQUANTIZED, metric, threshold, True, tuple(ranked))


# ----------------------------------------------------------------------------
# The measurement (torch, a GPU).

def _median_ms(launch: Any, warmup: int, repeats: int) -> float:
    import torch
    for _ in range(warmup):
        launch()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])


def calibrate(q: Any, k: Any, v: Any, threshold: Optional[float] = None, metric: str = "cos",
              candidates: Optional[Iterable[Any]] = None, *, repeats: int = 10, warmup: int = 3,
              tie_tolerance: float = DEFAULT_TIE_TOLERANCE, strict: bool = False,
              reference: Any = None, **attention_kwargs: Any) -> CalibrationResult:
    """The fastest precision whose accuracy on these sample inputs meets
    `threshold` (module docstring for the rules).

    q, k, v and attention_kwargs (mask, heads, scale, layout, bias,
    explicit_mask, segment_offsets, gates, target, kernel,
    emulate_block_scaled, cache_dir, ...) describe the call as attention()
    takes it. threshold: for metric "cos" the least cosine similarity
    (default 0.999), for "rel_l1" the largest
    relative L1 error (default 0.04), both against `reference` (default: the
    f32 evaluation of the same call, attn_mlir.reference). candidates:
    presets, Precisions, dicts, or None / "unquantized" for the unquantized
    kernel; default ("sage2-4b", "sage2-8b", "sage1", None). Each runs
    `warmup` times, then `repeats` timed launches (median). Returns a
    CalibrationResult; `result.precision` goes to attention(precision=...).
    """
    metric = check_metric(metric)
    threshold = check_threshold(threshold, metric)
    tie_tolerance = check_tie_tolerance(tie_tolerance)
    chosen = candidate_list(candidates)
    for name in _OWN_ARGUMENTS:
        if name in attention_kwargs:
            raise TypeError(f"calibrate: {name} is not an argument here (calibrate chooses "
                            "the precision and allocates the outputs); pass candidates")
    for name, value in (("repeats", repeats), ("warmup", warmup)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "repeats" else 0):
            raise ValueError(f"calibrate: {name} = {value!r} must be an int >= "
                             f"{1 if name == 'repeats' else 0}")
    import torch

    from .reference import reference_attention
    from .torch_api import prepare

    if reference is None:
        ref_kwargs = {n: x for n, x in attention_kwargs.items() if n not in _NOT_FOR_REFERENCE}
        reference = reference_attention(q, k, v, **ref_kwargs)
    measurements: List[Measurement] = []
    argument_errors: List[Exception] = []
    for name, precision in chosen:
        try:
            launch = prepare(q, k, v, precision=precision, **attention_kwargs)
            result = launch()
            torch.cuda.synchronize()
            out = result[0] if isinstance(result, tuple) else result
            cos = cosine(out, reference)
            l1 = rel_l1(out, reference)
            ms = _median_ms(launch, warmup, repeats)
            measurements.append(Measurement(name, precision, cos, l1, ms))
        except (AttnError, RuntimeError, OSError, ValueError, TypeError) as error:
            # A candidate the call cannot use (not compiled here, a precision
            # these inputs do not allow, ...) is recorded, not fatal.
            if isinstance(error, (ValueError, TypeError)) and not isinstance(error, AttnError):
                argument_errors.append(error)
            text = str(error).strip().splitlines()
            measurements.append(Measurement(name, precision, error=f"{type(error).__name__}: "
                                            f"{text[0] if text else ''}"[:200]))
    if len(argument_errors) == len(chosen):
        # Every candidate rejected the arguments: the call itself is wrong.
        raise argument_errors[0]
    return select_precision(measurements, threshold, metric, tie_tolerance, strict)


__all__ = ["calibrate", "select_precision", "CalibrationResult", "Measurement",
           "CalibrationError", "candidate_list", "check_metric", "check_threshold", "METRICS",
           "DEFAULT_THRESHOLD", "DEFAULT_CANDIDATES"]
