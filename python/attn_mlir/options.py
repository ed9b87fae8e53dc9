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
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

from ._encoding import KIND, MEMBERS, dumps, encode
from .heads import HeadGroup, Heads, SoftPag, as_heads
from .masks import (And, Causal, Dense, Mask, Neighborhood, NoneMask, Or, PowerLaw, Segments,
                    Shard, SlidingWindow, as_mask)
from .precision import Precision, as_precision

# Every spec class the text may name, by the name it is written with.
SPEC_CLASSES = {cls.__name__: cls for cls in (
    Dense, NoneMask, Causal, SlidingWindow, Neighborhood, PowerLaw, Segments, And, Or, Shard,
    Precision, Heads, HeadGroup, SoftPag)}
_COMPOSITES = (And, Or)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if KIND not in value:  # a precision given as a dict of fields
        return {k: _decode(v) for k, v in value.items()}
    kind = value[KIND]
    cls = SPEC_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"attention options: unknown spec kind {kind!r}, expected one of "
                         f"{', '.join(sorted(SPEC_CLASSES))}")
    if cls in _COMPOSITES:
        return cls(*_decode(value.get(MEMBERS, [])))
    arguments = {k: _decode(v) for k, v in value.items() if k != KIND}
    return cls(**arguments)


def _literal(value: Any) -> str:
    """JSON text of one argument value, written with plain string
    operations on constants and the spec objects' stored text
    (`options_json`), so that torch.compile traces it without running
    json."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = getattr(value, "options_json", None)
    if isinstance(text, str):
        return text
    if hasattr(value, "__fspath__"):  # a cache_dir given as a pathlib.Path
        return _literal(value.__fspath__())
    if isinstance(value, dict):
        return "{" + ",".join(_literal(str(k)) + ":" + _literal(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    raise TypeError(f"attention options: cannot pass {value!r} ({type(value).__name__}); "
                    "expected a spec object, a string, a number, a bool, a list or a dict")


# Fields written only when they differ from their default (False), so the
# text of the calls that existed before them stays the same.
_OMITTED_WHEN_FALSE = ("emulate_block_scaled",)


def call_text(mask: Any = None, precision: Any = None, heads: Any = None, scale: Any = None,
              layout: Any = "bhnd", return_lse: Any = False, static_shapes: Any = False,
              target: Any = None, kernel: Any = None, cache_dir: Any = None,
              emulate_block_scaled: Any = False) -> str:
    """attention()'s arguments as the custom op's text, as given (a preset
    name stays a name): CallOptions.from_text reads and checks it. Not
    canonical; CallOptions.to_text is. emulate_block_scaled is written
    only when not False."""
    pairs = (("cache_dir", cache_dir), ("emulate_block_scaled", emulate_block_scaled),
             ("heads", heads), ("kernel", kernel),
             ("layout", layout), ("mask", mask), ("precision", precision),
             ("return_lse", return_lse), ("scale", scale), ("static_shapes", static_shapes),
             ("target", target))
    return "{" + ",".join('"' + name + '":' + _literal(value) for name, value in pairs
                          if not (name in _OMITTED_WHEN_FALSE and value is False)) + "}"


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
    #: NVFP4 kernels with the block-scaled mma.sync emulated
    #: (AttentionSpec.emulate_block_scaled).
    emulate_block_scaled: bool = False

    @classmethod
    def create(cls, mask: Any = None, precision: Any = None, heads: Any = None,
               scale: Any = None, layout: Any = "bhnd", return_lse: Any = False,
               static_shapes: Any = False, target: Any = None, kernel: Any = None,
               cache_dir: Any = None, emulate_block_scaled: Any = False) -> "CallOptions":
        """From attention()'s arguments; raises TypeError / ValueError naming
        the argument (plan_call checks the rest against the tensors)."""
        if scale is not None:
            if isinstance(scale, bool) or not isinstance(scale, (int, float)):
                raise TypeError(f"scale must be a number or None, got {scale!r}")
            scale = float(scale)
        for name, value in (("layout", layout), ("target", target), ("kernel", kernel)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {value!r}")
        for name, value in (("return_lse", return_lse), ("static_shapes", static_shapes),
                            ("emulate_block_scaled", emulate_block_scaled)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        if cache_dir is not None:
            cache_dir = os.fspath(cache_dir)
        return cls(as_mask(mask), as_precision(precision), as_heads(heads), scale, layout,
                   return_lse, static_shapes, target, kernel, cache_dir, emulate_block_scaled)

    def to_text(self) -> str:
        """Canonical JSON: sorted keys, no spaces, floats as Python's repr
        (which reads back exactly); emulate_block_scaled only when True."""
        return dumps({f.name: encode(getattr(self, f.name)) for f in fields(self)
                      if not (f.name in _OMITTED_WHEN_FALSE and getattr(self, f.name) is False)})

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


__all__ = ["CallOptions", "SPEC_CLASSES", "call_text"]
