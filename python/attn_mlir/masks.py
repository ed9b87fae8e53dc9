"""Mask specs: one class per mask attribute of the attn dialect.

Each renders the exact attribute text (`to_mlir()`), validates its
parameters like the dialect's verifier does (with Python exceptions), and is
an immutable, hashable value: equal masks are equal objects and give equal
cache keys. Semantics: docs/Masks.md and SEMANTICS.md section 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

from ._encoding import remember
from ._check import (as_sequence, check_bool, check_choice, check_int,
                     check_optional_int, int_list)

# Sequence lengths and segment totals are limited to 2^31 tokens.
MAX_TOKENS = 1 << 31

ALIGNMENTS = ("top_left", "bottom_right")


class Mask:
    """Base of every mask spec. Combine masks with `&` (And) and `|` (Or)."""

    def to_mlir(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_mlir()

    def __and__(self, other: "Mask") -> "And":
        return And(self, other)

    def __or__(self, other: "Mask") -> "Or":
        return Or(self, other)

    # What an AttentionSpec needs to know about its masks.

    def pinned_lengths(self) -> Tuple[Optional[int], Optional[int]]:
        """(Nq, Nk) this mask forces, None where it does not force one."""
        return (None, None)

    def check_lengths(self, seq_q: Optional[int], seq_k: Optional[int]) -> None:
        """Raises ValueError when the mask cannot apply to these lengths
        (None: a run-time length, not checked)."""

    def runtime_segments(self) -> List["Segments"]:
        """The segments masks with run-time sizes (they read the op's
        segment_offsets operand)."""
        return []

    @property
    def needs_segment_offsets(self) -> bool:
        return bool(self.runtime_segments())


def _check_alignment(owner: str, alignment: Any) -> str:
    return check_choice(owner, "alignment", alignment, ALIGNMENTS)


@dataclass(frozen=True)
class Dense(Mask):
    """Keeps every pair (plain attention; an op without a mask is dense)."""

    def __post_init__(self) -> None:
        remember(self)

    def to_mlir(self) -> str:
        return "#attn.dense"


@dataclass(frozen=True)
class NoneMask(Mask):
    """Keeps no pair (useful in segment visibility tables)."""

    def __post_init__(self) -> None:
        remember(self)

    def to_mlir(self) -> str:
        return "#attn.none"


@dataclass(frozen=True)
class Causal(Mask):
    """keep iff j <= i + delta; delta = 0 (top_left) or Nk - Nq (bottom_right)."""

    alignment: str = "top_left"

    def __post_init__(self) -> None:
        _check_alignment("Causal", self.alignment)
        remember(self)

    def to_mlir(self) -> str:
        if self.alignment == "top_left":
            return "#attn.causal"
        return f"#attn.causal<{self.alignment}>"


@dataclass(frozen=True)
class SlidingWindow(Mask):
    """Clipped window: i + delta - left <= j <= i + delta + right."""

    left: int
    right: int
    alignment: str = "top_left"

    def __post_init__(self) -> None:
        check_int("SlidingWindow", "left", self.left, 0)
        check_int("SlidingWindow", "right", self.right, 0)
        _check_alignment("SlidingWindow", self.alignment)
        remember(self)

    def to_mlir(self) -> str:
        text = f"#attn.sliding_window<left = {self.left}, right = {self.right}"
        if self.alignment != "top_left":
            text += f", alignment = {self.alignment}"
        return text + ">"


def _per_dim(owner: str, name: str, value: Any, rank: int, default: Any,
             kind: type) -> Tuple[Any, ...]:
    """A per-dimension parameter: None (the default everywhere), one value
    for every dimension, or a list of `rank` values."""
    if value is None:
        return (default,) * rank
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return (value,) * rank
    values = tuple(as_sequence(owner, name, value))
    if len(values) != rank:
        raise ValueError(f"{owner}: {name} has {len(values)} entries but the grid has rank {rank}")
    return values


@dataclass(frozen=True)
class Neighborhood(Mask):
    """N-D neighborhood / strided / blocked window on a row-major token grid.

    `window`, `stride`, `dilation` and `causal` take one value per grid
    dimension, or one value for all of them. Nq = Nk = prod(grid).
    """

    grid: Sequence[int]
    window: Union[int, Sequence[int]]
    stride: Union[None, int, Sequence[int]] = None
    dilation: Union[None, int, Sequence[int]] = None
    causal: Union[None, bool, Sequence[bool]] = None

    def __post_init__(self) -> None:
        owner = "Neighborhood"
        grid = tuple(as_sequence(owner, "grid", self.grid))
        rank = len(grid)
        if not 1 <= rank <= 3:
            raise ValueError(f"{owner}: grid {list(grid)} has rank {rank}, expected 1, 2 or 3")
        window = _per_dim(owner, "window", self.window, rank, None, int)
        stride = _per_dim(owner, "stride", self.stride, rank, 1, int)
        dilation = _per_dim(owner, "dilation", self.dilation, rank, 1, int)
        causal = _per_dim(owner, "causal", self.causal, rank, False, bool)
        tokens = 1
        for d in range(rank):
            L = check_int(owner, f"grid[{d}]", grid[d], 1)
            w = check_int(owner, f"window[{d}]", window[d], 1)
            s = check_int(owner, f"stride[{d}]", stride[d], 1)
            dil = check_int(owner, f"dilation[{d}]", dilation[d], 1)
            check_bool(owner, f"causal[{d}]", causal[d])
            if w > L:
                raise ValueError(f"{owner}: window[{d}] = {w} is larger than grid[{d}] = {L}")
            if s > w:
                raise ValueError(f"{owner}: stride[{d}] = {s} must be in [1, window[{d}] = {w}]")
            if w * dil > L:
                raise ValueError(f"{owner}: window[{d}] x dilation[{d}] = {w} x {dil} "
                                 f"exceeds grid[{d}] = {L}")
            tokens *= L
        if tokens > MAX_TOKENS:
            raise ValueError(f"{owner}: grid {list(grid)} has more than {MAX_TOKENS} tokens")
        for name, value in (("grid", grid), ("window", window), ("stride", stride),
                            ("dilation", dilation), ("causal", causal)):
            object.__setattr__(self, name, value)
        remember(self)

    @property
    def num_tokens(self) -> int:
        tokens = 1
        for extent in self.grid:
            tokens *= extent
        return tokens

    def to_mlir(self) -> str:
        # The dialect printer's form: defaults are left out.
        text = f"#attn.neighborhood<grid = {int_list(self.grid)}, window = {int_list(self.window)}"
        if any(s != 1 for s in self.stride):
            text += f", stride = {int_list(self.stride)}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation = {int_list(self.dilation)}"
        if any(self.causal):
            text += ", causal = [" + ", ".join("true" if c else "false" for c in self.causal) + "]"
        return text + ">"

    def pinned_lengths(self) -> Tuple[Optional[int], Optional[int]]:
        return (self.num_tokens, self.num_tokens)

    def check_lengths(self, seq_q: Optional[int], seq_k: Optional[int]) -> None:
        for which, length in (("query", seq_q), ("key", seq_k)):
            if length is not None and length != self.num_tokens:
                raise ValueError(f"neighborhood grid {list(self.grid)} has {self.num_tokens} "
                                 f"tokens but the {which} length is {length}")


@dataclass(frozen=True)
class PowerLaw(Mask):
    """PowerAttention: local window and sink (in blocks), power-of-two block distances."""

    block: int
    window: int
    sink: int = 0
    causal: bool = True

    def __post_init__(self) -> None:
        check_int("PowerLaw", "block", self.block, 1)
        check_int("PowerLaw", "window", self.window, 0)
        check_int("PowerLaw", "sink", self.sink, 0)
        check_bool("PowerLaw", "causal", self.causal)
        remember(self)

    def to_mlir(self) -> str:
        text = f"#attn.power_law<block = {self.block}, window = {self.window}"
        if self.sink != 0:
            text += f", sink = {self.sink}"
        if not self.causal:
            text += ", causal = false"
        return text + ">"


VisibilityEntry = Union[str, Mask]
_ENTRY_KEYWORDS = {"full": Dense(), "none": NoneMask(), "causal": Causal()}


def _visibility_entry(owner: str, name: str, entry: VisibilityEntry) -> Mask:
    if isinstance(entry, Mask):
        if entry.needs_segment_offsets:
            raise ValueError(f"{owner}: {name} has run-time segment sizes; nested segments "
                             "must have static sizes")
        return entry
    if isinstance(entry, str):
        if entry not in _ENTRY_KEYWORDS:
            raise ValueError(f"{owner}: {name} = {entry!r} is not 'none', 'full', 'causal' or a Mask")
        return _ENTRY_KEYWORDS[entry]
    raise TypeError(f"{owner}: {name} must be 'none', 'full', 'causal' or a Mask, got {entry!r}")


def _entry_mlir(entry: Mask) -> str:
    # The short names the dialect printer uses inside a table.
    if isinstance(entry, Dense):
        return "full"
    if isinstance(entry, NoneMask):
        return "none"
    if isinstance(entry, Causal) and entry.alignment == "top_left":
        return "causal"
    return entry.to_mlir()


def _segment_sizes(owner: str, name: str, value: Any) -> Tuple[Optional[int], ...]:
    sizes = tuple(check_optional_int(owner, f"{name}[{i}]", s, 0)
                  for i, s in enumerate(as_sequence(owner, name, value)))
    if not sizes:
        raise ValueError(f"{owner}: {name} must list at least one segment")
    if any(s is None for s in sizes) and not all(s is None for s in sizes):
        raise ValueError(f"{owner}: {name} = {int_list(sizes)} must be all static or all None (run-time)")
    if sizes[0] is not None and sum(sizes) > MAX_TOKENS:
        raise ValueError(f"{owner}: {name} segments have more than {MAX_TOKENS} tokens")
    return sizes


@dataclass(frozen=True)
class Segments(Mask):
    """In-context segment mask.

    `query` (and `key`, default: the query list) are segment sizes, all ints
    or all None (run-time sizes, read from the `segment_offsets` operand).
    `visibility[a][b]` is 'none', 'full', 'causal' or a Mask applied to
    segment-local indices.
    """

    query: Sequence[Optional[int]]
    visibility: Sequence[Sequence[VisibilityEntry]]
    key: Optional[Sequence[Optional[int]]] = None
    renormalize: bool = True

    def __post_init__(self) -> None:
        owner = "Segments"
        query = _segment_sizes(owner, "query", self.query)
        key = query if self.key is None else _segment_sizes(owner, "key", self.key)
        if (query[0] is None) != (key[0] is None):
            raise ValueError(f"{owner}: query {int_list(query)} and key {int_list(key)} sizes "
                             "must be both static or both run-time (None)")
        rows = as_sequence(owner, "visibility", self.visibility)
        if len(rows) != len(query):
            raise ValueError(f"{owner}: visibility has {len(rows)} rows but there are "
                             f"{len(query)} query segments")
        table = []
        for a, row in enumerate(rows):
            row = as_sequence(owner, f"visibility[{a}]", row)
            if len(row) != len(key):
                raise ValueError(f"{owner}: visibility[{a}] has {len(row)} entries but there are "
                                 f"{len(key)} key segments")
            table.append(tuple(_visibility_entry(owner, f"visibility[{a}][{b}]", e)
                               for b, e in enumerate(row)))
        check_bool(owner, "renormalize", self.renormalize)
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "visibility", tuple(table))
        remember(self)

    @property
    def runtime_sizes(self) -> bool:
        return self.query[0] is None

    def to_mlir(self) -> str:
        text = f"#attn.segments<query = {int_list(self.query)}"
        if self.key != self.query:
            text += f", key = {int_list(self.key)}"
        rows = ("[" + ", ".join(_entry_mlir(e) for e in row) + "]" for row in self.visibility)
        text += ", visibility = [" + ", ".join(rows) + "]"
        if not self.renormalize:
            text += ", renormalize = false"
        return text + ">"

    def pinned_lengths(self) -> Tuple[Optional[int], Optional[int]]:
        if self.runtime_sizes:
            return (None, None)
        return (sum(self.query), sum(self.key))

    def check_lengths(self, seq_q: Optional[int], seq_k: Optional[int]) -> None:
        if self.runtime_sizes:
            return
        for which, sizes, length in (("query", self.query, seq_q), ("key", self.key, seq_k)):
            if length is not None and sum(sizes) != length:
                raise ValueError(f"{which} segment sizes {list(sizes)} sum to {sum(sizes)} "
                                 f"but the {which} length is {length}")
        for a, row in enumerate(self.visibility):
            for b, entry in enumerate(row):
                try:
                    entry.check_lengths(self.query[a], self.key[b])
                except ValueError as error:
                    raise ValueError(f"visibility[{a}][{b}] (a segment pair of {self.query[a]} x "
                                     f"{self.key[b]} tokens): {error}") from None

    def runtime_segments(self) -> List["Segments"]:
        return [self] if self.runtime_sizes else []


def _members(owner: str, members: Tuple[Any, ...]) -> Tuple[Mask, ...]:
    # And([a, b]) and And(a, b) both work.
    if len(members) == 1 and isinstance(members[0], (list, tuple)):
        members = tuple(members[0])
    if not members:
        raise ValueError(f"{owner}: needs at least one member mask")
    for i, m in enumerate(members):
        if not isinstance(m, Mask):
            raise TypeError(f"{owner}: member {i} must be a Mask, got {m!r}")
    return members


class _Composite(Mask):
    mnemonic = ""
    members: Tuple[Mask, ...]

    def __init__(self, *members: Any) -> None:
        object.__setattr__(self, "members", _members(type(self).__name__, members))
        remember(self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.members == self.members  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.members))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.members))})"

    def to_mlir(self) -> str:
        return f"#attn.{self.mnemonic}<" + ", ".join(m.to_mlir() for m in self.members) + ">"

    def pinned_lengths(self) -> Tuple[Optional[int], Optional[int]]:
        seq_q = seq_k = None
        for m in self.members:
            q, k = m.pinned_lengths()
            seq_q = q if seq_q is None else seq_q
            seq_k = k if seq_k is None else seq_k
        return (seq_q, seq_k)

    def check_lengths(self, seq_q: Optional[int], seq_k: Optional[int]) -> None:
        for m in self.members:
            m.check_lengths(seq_q, seq_k)

    def runtime_segments(self) -> List["Segments"]:
        return [s for m in self.members for s in m.runtime_segments()]


class And(_Composite):
    """Keeps a pair when every member keeps it."""

    mnemonic = "and"


class Or(_Composite):
    """Keeps a pair when any member keeps it."""

    mnemonic = "or"


@dataclass(frozen=True)
class Shard(Mask):
    """`mask` on one shard pair of a longer sequence (context parallelism):
    local (i, j) is the pair (query_start + i, key_start + j) of a
    query_length x key_length problem (#attn.shard)."""

    mask: Mask
    query_start: int
    key_start: int
    query_length: int
    key_length: int

    def __post_init__(self) -> None:
        if not isinstance(self.mask, Mask):
            raise TypeError(f"Shard: mask must be a Mask, got {self.mask!r}")
        if isinstance(self.mask, Segments) and self.mask.runtime_sizes:
            raise ValueError("Shard: a segments mask with run-time sizes cannot be sharded")
        check_int("Shard", "query_start", self.query_start, 0)
        check_int("Shard", "key_start", self.key_start, 0)
        check_int("Shard", "query_length", self.query_length, self.query_start + 1)
        check_int("Shard", "key_length", self.key_length, self.key_start + 1)
        remember(self)

    def to_mlir(self) -> str:
        return (f"#attn.shard<mask = {self.mask.to_mlir()}, query_start = {self.query_start}, "
                f"key_start = {self.key_start}, query_length = {self.query_length}, "
                f"key_length = {self.key_length}>")


def as_mask(value: Any, name: str = "mask") -> Optional[Mask]:
    """None, a Mask, or the keywords 'dense', 'none', 'causal'."""
    if value is None or isinstance(value, Mask):
        return value
    if isinstance(value, str):
        keywords = {"dense": Dense(), "none": NoneMask(), "causal": Causal(),
                    "causal_bottom_right": Causal("bottom_right")}
        if value in keywords:
            return keywords[value]
        raise ValueError(f"{name} = {value!r} is not a Mask or one of {', '.join(keywords)}")
    raise TypeError(f"{name} must be a Mask (attn_mlir.masks), got {value!r}")


__all__ = ["Mask", "Dense", "NoneMask", "Causal", "SlidingWindow", "Neighborhood",
           "PowerLaw", "Segments", "And", "Or", "Shard", "as_mask", "MAX_TOKENS"]
