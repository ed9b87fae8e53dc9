"""Head specs: per-head weights, SoftPAG and head groups (`#attn.heads`,
SEMANTICS.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from ._encoding import remember
from ._check import as_sequence, check_float, check_head_list, float_literal
from .masks import Mask, as_mask
from .precision import Precision, as_precision


@dataclass(frozen=True)
class SoftPag:
    """O'_h = (1 - u) O_h + u V_h on the listed heads (needs Nq == Nk)."""

    u: float
    heads: Sequence[int]

    def __post_init__(self) -> None:
        u = check_float("SoftPag", "u", self.u)
        if not 0.0 <= u <= 1.0:
            raise ValueError(f"SoftPag: u = {self.u!r} must be in [0, 1]")
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "heads", check_head_list("SoftPag", "heads", self.heads))
        remember(self)

    def to_mlir(self) -> str:
        heads = ", ".join(map(str, self.heads))
        return f"#attn.softpag<u = {float_literal(self.u)}, heads = [{heads}]>"


@dataclass(frozen=True)
class HeadGroup:
    """Heads with their own mask and/or precision (heads in no group use the op's)."""

    heads: Sequence[int]
    mask: Optional[Mask] = None
    precision: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", check_head_list("HeadGroup", "heads", self.heads))
        object.__setattr__(self, "mask", as_mask(self.mask, "HeadGroup: mask"))
        # Unlike the op's precision, a group's default precision is kept: it
        # overrides the op's precision for those heads.
        precision = self.precision
        if precision is not None and not isinstance(precision, Precision):
            precision = as_precision(precision, "HeadGroup: precision") or Precision()
        object.__setattr__(self, "precision", precision)
        remember(self)

    def to_mlir(self) -> str:
        text = f"#attn.head_group<heads = [{', '.join(map(str, self.heads))}]"
        if self.mask is not None:
            text += f", mask = {self.mask.to_mlir()}"
        if self.precision is not None:
            text += f", precision = {self.precision.to_mlir()}"
        return text + ">"


@dataclass(frozen=True)
class Heads:
    """`#attn.heads`: `weights` (one per query head; 0 skips the head),
    `softpag`, `groups`."""

    weights: Optional[Sequence[float]] = None
    softpag: Optional[SoftPag] = None
    groups: Sequence[HeadGroup] = ()

    def __post_init__(self) -> None:
        if self.weights is not None:
            weights = tuple(check_float("Heads", f"weights[{h}]", w)
                            for h, w in enumerate(as_sequence("Heads", "weights", self.weights)))
            object.__setattr__(self, "weights", weights)
        if self.softpag is not None and not isinstance(self.softpag, SoftPag):
            raise TypeError(f"Heads: softpag must be a SoftPag, got {self.softpag!r}")
        groups = tuple(as_sequence("Heads", "groups", self.groups))
        group_of = {}
        for g, group in enumerate(groups):
            if not isinstance(group, HeadGroup):
                raise TypeError(f"Heads: groups[{g}] must be a HeadGroup, got {group!r}")
            for h in group.heads:
                if h in group_of:
                    raise ValueError(f"Heads: head {h} is in groups[{group_of[h]}] and groups[{g}]")
                group_of[h] = g
        object.__setattr__(self, "groups", groups)
        remember(self)

    @property
    def is_empty(self) -> bool:
        return self.weights is None and self.softpag is None and not self.groups

    def head_indices(self) -> Tuple[Tuple[str, int], ...]:
        """Every (where, head index) named, for range checks against Hq."""
        named = [("softpag", h) for h in (self.softpag.heads if self.softpag else ())]
        named += [(f"groups[{g}]", h) for g, group in enumerate(self.groups) for h in group.heads]
        return tuple(named)

    def to_mlir(self) -> str:
        fields = []
        if self.weights is not None:
            fields.append("weights = [" + ", ".join(float_literal(w) for w in self.weights) + "]")
        if self.softpag is not None:
            fields.append(f"softpag = {self.softpag.to_mlir()}")
        if self.groups:
            fields.append("groups = [" + ", ".join(g.to_mlir() for g in self.groups) + "]")
        return "#attn.heads<" + ", ".join(fields) + ">"

    def __str__(self) -> str:
        return self.to_mlir()


def as_heads(value: Any, name: str = "heads") -> Optional[Heads]:
    """None, Heads, or a dict of its fields; empty heads normalize to None."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = Heads(**value)
    if not isinstance(value, Heads):
        raise TypeError(f"{name} must be an attn_mlir.Heads, got {value!r}")
    return None if value.is_empty else value


__all__ = ["Heads", "HeadGroup", "SoftPag", "as_heads"]
