"""Argument checks shared by the spec objects.

Every check raises TypeError (wrong kind of value) or ValueError (right kind,
bad value) with a message that names the argument and the value, so that a
bad spec fails in Python with a clear message instead of as an MLIR
diagnostic later.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, Tuple


def check_int(owner: str, name: str, value: Any, minimum: Optional[int] = None) -> int:
    # bool is an int subclass; True as a window size is almost surely a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} = {value} must be >= {minimum}")
    return value


def check_optional_int(owner: str, name: str, value: Any, minimum: Optional[int] = None) -> Optional[int]:
    """An int, or None for a run-time (dynamic) size."""
    if value is None:
        return None
    return check_int(owner, name, value, minimum)


def check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {value!r} ({type(value).__name__})")
    return value


def check_float(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r} ({type(value).__name__})")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{owner}: {name} = {value!r} must be finite")
    return result


def check_choice(owner: str, name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a string, one of {', '.join(choices)}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{owner}: {name} = {value!r} is not one of {', '.join(choices)}")
    return value


def as_sequence(owner: str, name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{owner}: {name} must be a list or tuple, got {value!r}")
    return value


def check_head_list(owner: str, name: str, value: Any) -> Tuple[int, ...]:
    """A non-empty list of distinct non-negative head indices."""
    heads = tuple(check_int(owner, f"{name}[{i}]", h, 0)
                  for i, h in enumerate(as_sequence(owner, name, value)))
    if not heads:
        raise ValueError(f"{owner}: {name} must list at least one head")
    seen = set()
    for h in heads:
        if h in seen:
            raise ValueError(f"{owner}: {name} lists head {h} twice")
        seen.add(h)
    return heads


def float_literal(value: float) -> str:
    """An MLIR float literal that round-trips `value` exactly.

    repr() is the shortest exact decimal; MLIR wants a '.' in every float
    literal, which repr leaves out of exponent forms like '1e-05'.
    """
    text = repr(float(value))
    if "." not in text:
        mantissa, _, exponent = text.partition("e")
        text = mantissa + ".0" + ("e" + exponent if exponent else "")
    return text


def int_list(values: Iterable[Optional[int]]) -> str:
    """`[1, 2, ?]`: None is a run-time size."""
    return "[" + ", ".join("?" if v is None else str(v) for v in values) + "]"
