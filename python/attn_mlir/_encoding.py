"""JSON form of the spec objects (masks, precisions, heads), shared by
attn_mlir.options (the custom op's text argument) and the spec classes,
which keep their own text from construction (`options_json`): code that
torch.compile traces then reads an attribute instead of running json.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from typing import Any

KIND = "kind"
MEMBERS = "members"


def _is_spec(value: Any) -> bool:
    return type(value).__module__.startswith("attn_mlir.")


def encode(value: Any) -> Any:
    """A JSON-able value: spec objects as {kind, fields...}, composites as
    {kind, members}, tuples as lists."""
    members = getattr(value, "members", None)
    if _is_spec(value) and isinstance(members, tuple) and not is_dataclass(value):
        return {KIND: type(value).__name__, MEMBERS: [encode(m) for m in members]}
    if is_dataclass(value) and not isinstance(value, type):
        if not _is_spec(value):
            raise TypeError(f"cannot encode {value!r}: not an attn_mlir spec class")
        encoded = {KIND: type(value).__name__}
        encoded.update({f.name: encode(getattr(value, f.name)) for f in fields(value)})
        return encoded
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot encode {value!r} ({type(value).__name__}) in attention options")


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, floats as Python's repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def remember(spec: Any) -> None:
    """Stores the spec's JSON text on it (frozen objects: object.__setattr__)."""
    object.__setattr__(spec, "options_json", dumps(encode(spec)))
