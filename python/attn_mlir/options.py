"""The non-tensor arguments of one attention() call as one value, and its
text form: the string argument of the `attn_mlir::attention` custom op.

A torch.library custom op takes tensors and primitives only, so the mask,
precision and heads specs travel as canonical JSON. The text is
self-contained (an exported program that holds it runs in a process that
never built the objects) and canonical (equal options give equal text, so
graphs and caches key on it). Torch-free: tested on the build machine.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Dict, Optional

from .heads import HeadGroup, Heads, SoftPag, as_heads
from .masks import (And, Causal, Dense, Mask, Neighborhood, NoneMask, Or, PowerLaw, Segments,
                    Shard, SlidingWindow, as_mask)
from .precision import Precision, as_precision

# Every spec class the text may name, by the name it is written with.
SPEC_CLASSES = {cls.__name__: cls for cls in (
    Dense, NoneMask, Causal, SlidingWindow, Neighborhood, PowerLaw, Segments, And, Or, Shard,
    Precision, Heads, HeadGroup, SoftPag)}
_COMPOSITES = (And, Or)
_KIND = "kind"
_MEMBERS = "members"


def _encode(value: Any) -> Any:
    if isinstance(value, _COMPOSITES):
        return {_KIND: type(value).__name__, _MEMBERS: [_encode(m) for m in value.members]}
    if is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if SPEC_CLASSES.get(name) is not type(value):
            raise TypeError(f"cannot encode {value!r}: not an attn_mlir spec class")
        encoded = {_KIND: name}
        encoded.update({f.name: _encode(getattr(value, f.name)) for f in fields(value)})
        return encoded
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot encode {value!r} ({type(value).__name__}) in attention options")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    kind = value.get(_KIND)
    cls = SPEC_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"attention options: unknown spec kind {kind!r}, expected one of "
                         f"{', '.join(sorted(SPEC_CLASSES))}")
    if cls in _COMPOSITES:
        return cls(*_decode(value.get(_MEMBERS, [])))
    arguments = {k: _decode(v) for k, v in value.items() if k != _KIND}
    return cls(**arguments)


@dataclass(frozen=True)
class CallOptions:
    """attention()'s arguments other than tensors, normalized (the spec
    objects as attn_mlir.as_mask / as_precision / as_heads make them)."""

    mask: Optional[Mask] = None
    precision: Optional[Precision] = None
    heads: Optional[Heads] = None
    scale: Optional[float] = None
    layout: str = "bhnd"
    return_lse: bool = False
    static_shapes: bool = False
    target: Optional[str] = None
    kernel: Optional[str] = None
    cache_dir: Optional[str] = None

    @classmethod
    def create(cls, mask: Any = None, precision: Any = None, heads: Any = None,
               scale: Any = None, layout: Any = "bhnd", return_lse: Any = False,
               static_shapes: Any = False, target: Any = None, kernel: Any = None,
               cache_dir: Any = None) -> "CallOptions":
        """From attention()'s arguments; raises TypeError / ValueError naming
        the argument (plan_call checks the rest against the tensors)."""
        if scale is not None:
            if isinstance(scale, bool) or not isinstance(scale, (int, float)):
                raise TypeError(f"scale must be a number or None, got {scale!r}")
            scale = float(scale)
        for name, value in (("layout", layout), ("target", target), ("kernel", kernel)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {value!r}")
        for name, value in (("return_lse", return_lse), ("static_shapes", static_shapes)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        if cache_dir is not None:
            cache_dir = os.fspath(cache_dir)
        return cls(as_mask(mask), as_precision(precision), as_heads(heads), scale, layout,
                   return_lse, static_shapes, target, kernel, cache_dir)

    def to_text(self) -> str:
        """Canonical JSON: sorted keys, no spaces, floats as Python's repr
        (which reads back exactly)."""
        encoded = {f.name: _encode(getattr(self, f.name)) for f in fields(self)}
        return json.dumps(encoded, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @staticmethod
    def from_text(text: str) -> "CallOptions":
        return _from_text(text)


@functools.lru_cache(maxsize=256)
def _from_text(text: str) -> CallOptions:
    try:
        encoded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"attention options are not JSON ({error}): {text[:200]!r}") from None
    if not isinstance(encoded, dict):
        raise ValueError(f"attention options must be a JSON object, got {text[:200]!r}")
    known = {f.name for f in fields(CallOptions)}
    unknown = sorted(set(encoded) - known)
    if unknown:
        raise ValueError(f"attention options: unknown field(s) {', '.join(unknown)}")
    values: Dict[str, Any] = {k: _decode(v) for k, v in encoded.items()}
    return CallOptions.create(**values)


__all__ = ["CallOptions", "SPEC_CLASSES"]
