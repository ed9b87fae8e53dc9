"""Precision spec: how Q.K and P.V are quantized and accumulated.

Mirrors `#attn.precision` (SEMANTICS.md section 3). A Precision holds the
resolved fields; presets are names for field sets, so `Precision.preset(
"sage1")` equals the same fields written out, and both render
`#attn.precision<sage1>` (the dialect printer's canonical form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple, Union

from ._check import check_bool, check_choice, check_int
from ._encoding import remember

QK_TYPES = ("f16", "bf16", "i8", "i4", "f8E4M3FN", "f4E2M1FN")
PV_TYPES = ("f16", "bf16", "f8E4M3FN", "f4E2M1FN")
ACCUMULATIONS = ("f32", "f16", "two_level")
GRANULARITY_KINDS = ("tensor", "block", "thread", "token")
_SIZED_KINDS = ("block", "thread")
# Q.K types whose quantization needs a scale granularity.
_NEEDS_GRANULARITY = ("i8", "i4", "f8E4M3FN")


def _check_type(name: str, value: Any, allowed: Tuple[str, ...]) -> Optional[str]:
    if value is None:
        return None
    if value in ("f8E4M3", "f4E2M1"):
        # The contract's E4M3/E2M1 are NVIDIA's finite-only formats.
        raise ValueError(f"Precision: {name} = {value!r}: write {value}FN "
                         "(the finite-only NVIDIA format)")
    return check_choice("Precision", name, value, allowed)


def _granularity(value: Any) -> Optional[str]:
    """'tensor', 'token', 'block(64)', 'thread(64)', or ('block', 64):
    normalized to the dialect's spelling."""
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2:
        kind, size = value
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*(-?\d+)\s*\))?\s*", value)
        if not match:
            raise ValueError(f"Precision: qk_granularity = {value!r} is not tensor, "
                             "block(n), thread(n) or token")
        kind, size = match.group(1), (int(match.group(2)) if match.group(2) else None)
    else:
        raise TypeError(f"Precision: qk_granularity must be a string like 'block(64)' "
                        f"or a (kind, size) tuple, got {value!r}")
    check_choice("Precision", "qk_granularity", kind, GRANULARITY_KINDS)
    if kind in _SIZED_KINDS:
        if size is None:
            raise ValueError(f"Precision: qk_granularity {kind} needs a size: '{kind}(n)'")
        check_int("Precision", f"qk_granularity {kind}(n) size", size, 1)
        if kind == "thread" and size % 8 != 0:
            raise ValueError(f"Precision: qk_granularity thread({size}) needs a multiple of 8 tokens")
        return f"{kind}({size})"
    if size is not None:
        raise ValueError(f"Precision: qk_granularity {kind} takes no size, got {value!r}")
    return kind


@dataclass(frozen=True)
class Precision:
    """`#attn.precision`. All fields optional; Precision() is the default
    f16/bf16 path. Use Precision.preset(name, **overrides) for the presets."""

    qk: Optional[str] = None
    qk_granularity: Union[None, str, Tuple[str, int]] = None
    smooth_k: bool = False
    smooth_q: bool = False
    pv: Optional[str] = None
    pv_accum: str = "f32"

    def __post_init__(self) -> None:
        qk = _check_type("qk", self.qk, QK_TYPES)
        pv = _check_type("pv", self.pv, PV_TYPES)
        granularity = _granularity(self.qk_granularity)
        check_bool("Precision", "smooth_k", self.smooth_k)
        check_bool("Precision", "smooth_q", self.smooth_q)
        check_choice("Precision", "pv_accum", self.pv_accum, ACCUMULATIONS)
        if qk in _NEEDS_GRANULARITY and granularity is None:
            raise ValueError(f"Precision: qk = {qk} needs qk_granularity "
                             "(tensor, block(n), thread(n) or token)")
        if granularity is not None and qk not in _NEEDS_GRANULARITY:
            raise ValueError(f"Precision: qk_granularity applies only to qk = i8, i4 or "
                             f"f8E4M3FN, not qk = {qk}")
        if self.pv_accum == "f16" and pv is not None and pv != "f16":
            raise ValueError(f"Precision: pv_accum = f16 needs pv = f16, not {pv}")
        object.__setattr__(self, "qk_granularity", granularity)
        remember(self)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "Precision":
        """A preset (sage1, sage2_8b / sage2-8b, sage2_4b / sage2-4b, fp8,
        nvfp4), optionally with some fields overridden."""
        if not isinstance(name, str):
            raise TypeError(f"Precision.preset: name must be a string, got {name!r}")
        canonical = name.replace("-", "_")
        if canonical not in PRESETS:
            raise ValueError(f"Precision.preset: unknown preset {name!r}, expected one of "
                             f"{', '.join(PRESET_NAMES)}")
        unknown = set(overrides) - set(_FIELDS)
        if unknown:
            raise TypeError(f"Precision.preset: unknown field(s) {', '.join(sorted(unknown))}, "
                            f"expected {', '.join(_FIELDS)}")
        return replace(PRESETS[canonical], **overrides)

    @property
    def is_default(self) -> bool:
        return self == Precision()

    @property
    def preset_name(self) -> Optional[str]:
        for name, preset in PRESETS.items():
            if preset == self:
                return name
        return None

    def _keyed_fields(self) -> str:
        fields = []
        if self.qk is not None:
            fields.append(f"qk = {self.qk}")
        if self.qk_granularity is not None:
            fields.append(f"qk_granularity = {self.qk_granularity}")
        if self.smooth_k:
            fields.append("smooth_k")
        if self.smooth_q:
            fields.append("smooth_q")
        if self.pv is not None:
            fields.append(f"pv = {self.pv}")
        if self.pv_accum != "f32":
            fields.append(f"pv_accum = {self.pv_accum}")
        return ", ".join(fields)

    def to_mlir(self) -> str:
        # As the dialect prints it: the preset's name when the fields equal
        # one, else the keyed fields.
        name = self.preset_name
        return f"#attn.precision<{name if name else self._keyed_fields()}>"

    def __str__(self) -> str:
        return self.to_mlir()


_FIELDS = ("qk", "qk_granularity", "smooth_k", "smooth_q", "pv", "pv_accum")

PRESETS: Dict[str, Precision] = {
    "sage1": Precision(qk="i8", qk_granularity="block(64)", smooth_k=True,
                       pv="f16", pv_accum="f16"),
    "sage2_8b": Precision(qk="i8", qk_granularity="thread(64)", smooth_k=True,
                          pv="f8E4M3FN", pv_accum="two_level"),
    "sage2_4b": Precision(qk="i4", qk_granularity="thread(64)", smooth_k=True,
                          smooth_q=True, pv="f8E4M3FN", pv_accum="two_level"),
    "fp8": Precision(qk="f8E4M3FN", qk_granularity="block(64)", smooth_k=True,
                     pv="f8E4M3FN", pv_accum="two_level"),
    "nvfp4": Precision(qk="f4E2M1FN", smooth_k=True, pv="f4E2M1FN"),
}
PRESET_NAMES = ("sage1", "sage2_8b", "sage2-8b", "sage2_4b", "sage2-4b", "fp8", "nvfp4")


def as_precision(value: Any, name: str = "precision") -> Optional[Precision]:
    """None, a Precision, a preset name, or a dict of fields. The default
    precision normalizes to None, so it does not change cache keys."""
    if value is None:
        return None
    if isinstance(value, Precision):
        result = value
    elif isinstance(value, str):
        result = Precision.preset(value)
    elif isinstance(value, dict):
        fields = dict(value)
        preset = fields.pop("preset", None)
        result = Precision.preset(preset, **fields) if preset else Precision(**fields)
    else:
        raise TypeError(f"{name} must be a Precision, a preset name or a dict of fields, "
                        f"got {value!r}")
    return None if result.is_default else result


__all__ = ["Precision", "PRESETS", "PRESET_NAMES", "as_precision",
           "QK_TYPES", "PV_TYPES", "ACCUMULATIONS"]
