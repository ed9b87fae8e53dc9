"""Mask-aware context-parallel schedules (host code, no torch).

A sequence of N tokens is cut into chunks; each rank owns some chunks of
Q, K and V. Every (query chunk, key chunk) pair is classified full, partial
or empty by the mask attribute's own tile classification (the C++
MaskAttrInterface, through `attn-opt --attn-plan --attn-sparsity` with the
chunk as the tile), exactly as the GPU kernels classify tiles. The plan
says, for each step t of the ring, which rank sends its K/V chunks to which
(rank r to r + t mod P, the ring's order) and which chunk pairs each rank
computes; pairs the mask leaves empty are neither sent nor computed.

Sharding: "contiguous" gives rank r chunk r of P; "zigzag" gives rank r
chunks r and 2P - 1 - r of 2P, which balances causal masks; "auto" picks
zigzag for causal masks, else contiguous.

The classes of a (mask, N, chunk) are cached as JSON in the attn_mlir
cache (like compiled kernels): a machine without attn-opt plans from a
cache filled on the build machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..compiler import default_cache_dir, find_attn_opt
from ..errors import AttnArtifactsMissing, AttnCompileError
from ..masks import Causal, Mask, as_mask

EMPTY, PARTIAL, FULL = 0, 1, 2
CLASS_NAMES = {EMPTY: "empty", PARTIAL: "partial", FULL: "full"}
SCHEMES = ("contiguous", "zigzag", "auto")
PathLike = Union[str, "os.PathLike[str]"]


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"context parallel: {name} = {value!r} must be a positive integer")
    return value


def chunk_layout(n: int, world: int, scheme: str) -> Tuple[int, List[List[int]]]:
    """(chunk size, chunks of each rank). N must split into whole chunks."""
    _check_positive("sequence length N", n)
    _check_positive("world size", world)
    if scheme not in ("contiguous", "zigzag"):
        raise ValueError(f"context parallel: scheme = {scheme!r} is not one of {SCHEMES}")
    count = world if scheme == "contiguous" else 2 * world
    if n % count:
        raise ValueError(f"context parallel: N = {n} does not split into {count} equal chunks "
                         f"({scheme} sharding over {world} ranks); pad N to a multiple of {count}")
    if scheme == "contiguous":
        return n // count, [[r] for r in range(world)]
    return n // count, [[r, 2 * world - 1 - r] for r in range(world)]


def _lower_triangular(mask: Optional[Mask]) -> bool:
    """Masks whose work grows along the sequence (row i keeps about i keys),
    so that contiguous shards give the last rank most of it. Windows and
    power-law rows keep about the same number of keys everywhere:
    contiguous shards are balanced for them and need fewer transfers."""
    return isinstance(mask, Causal)


def resolve_scheme(mask: Optional[Mask], scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"context parallel: scheme = {scheme!r} is not one of {SCHEMES}")
    if scheme != "auto":
        return scheme
    return "zigzag" if _lower_triangular(mask) else "contiguous"


def _classes_module(mask: Optional[Mask], n: int) -> str:
    text = f" mask = {mask.to_mlir()}" if mask is not None else ""
    t = f"memref<1x1x{n}x8xf16>"
    return (f"func.func @plan(%q: {t}, %o: {t}) {{\n"
            f"  attn.attention ins(%q, %q, %q : {t}, {t}, {t}) outs(%o : {t}){text}\n"
            f"  return\n}}\n")


_CLASSES = re.compile(r"tile_classes = dense<(.*?)> : tensor<(\d+)x(\d+)x(\d+)xi8>", re.S)


def classify_chunks(mask: Any, n: int, chunk: int, cache_dir: Optional[PathLike] = None,
                    attn_opt: Optional[str] = None) -> List[List[int]]:
    """classes[a][b] of query chunk a x key chunk b (EMPTY, PARTIAL, FULL),
    by the mask attribute's tile classification in attn-opt; cached."""
    mask = as_mask(mask)
    _check_positive("chunk", chunk)
    module = _classes_module(mask, n)
    key = hashlib.sha256(f"cp-classes v1 chunk={chunk}\n{module}".encode()).hexdigest()
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = directory / f"cp-classes-{key}.json"
    if entry.is_file():
        return json.loads(entry.read_text())["classes"]
    tool = attn_opt or find_attn_opt()
    if tool is None:
        raise AttnArtifactsMissing(
            f"no cached chunk classes {entry.name} in {directory} and no attn-opt here: "
            "plan once on the build machine (attn_mlir.distributed.plan_context_parallel) "
            "and copy the cache")
    if mask is None:
        count = -(-n // chunk)
        classes = [[FULL] * count for _ in range(count)]
    else:
        result = subprocess.run(
            [tool, "-", f"--attn-plan=target=cpu query-tile={chunk} key-tile={chunk}",
             "--attn-sparsity", "--mlir-print-elementsattrs-with-hex-if-larger=-1"],
            input=module, capture_output=True, text=True)
        match = _CLASSES.search(result.stdout) if result.returncode == 0 else None
        if match is None:
            raise AttnCompileError(f"attn-opt could not classify the chunks:\n{result.stderr}")
        parsed = json.loads(match.group(1))
        rows, cols = int(match.group(3)), int(match.group(4))
        # One class for every pair prints as a splat: dense<2>.
        classes = ([[parsed] * cols for _ in range(rows)] if isinstance(parsed, int)
                   else parsed[0])
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
        json.dump({"mask": mask.to_mlir() if mask is not None else None, "n": n,
                   "chunk": chunk, "classes": classes}, f)
    os.replace(f.name, entry)
    return classes


@dataclass(frozen=True)
class PairWork:
    """One (query chunk, key chunk) pair a rank computes."""
    query_chunk: int
    key_chunk: int
    cls: int


@dataclass
class Step:
    """Step t of the ring for one rank: it receives the K/V chunks of
    `source` (= rank - t mod P; itself at t = 0) if `receives`, and computes
    `pairs`."""
    source: int
    receives: bool
    pairs: List[PairWork] = field(default_factory=list)


@dataclass
class ContextParallelPlan:
    n: int
    world: int
    scheme: str
    chunk: int
    chunks: List[List[int]]          # chunks of each rank
    classes: List[List[int]]         # chunk x chunk
    steps: List[List[Step]]          # steps[rank][t]
    mask_aware: bool = True

    def sends(self, rank: int, step: int) -> bool:
        """Whether `rank` sends its K/V chunks at `step` (to rank + step)."""
        if step == 0:
            return False
        return self.steps[(rank + step) % self.world][step].receives

    def computed_pairs(self) -> List[Tuple[int, int, int]]:
        """(rank, query chunk, key chunk) of every computed pair."""
        return [(r, p.query_chunk, p.key_chunk) for r in range(self.world)
                for s in self.steps[r] for p in s.pairs]

    def transfers(self) -> int:
        """K/V chunk-set transfers (one per receiving rank and step > 0)."""
        return sum(s.receives for r in range(self.world) for s in self.steps[r][1:])

    def work(self, rank: int) -> Dict[str, int]:
        pairs = [p for s in self.steps[rank] for p in s.pairs]
        return {"full": sum(p.cls == FULL for p in pairs),
                "partial": sum(p.cls == PARTIAL for p in pairs)}

    def summary(self) -> str:
        lines = [f"context parallel: N = {self.n}, {self.world} ranks, {self.scheme} chunks of "
                 f"{self.chunk}, {'mask-aware' if self.mask_aware else 'mask-agnostic'}: "
                 f"{len(self.computed_pairs())} chunk pairs computed, "
                 f"{self.transfers()} K/V transfers"]
        for r in range(self.world):
            w = self.work(r)
            lines.append(f"  rank {r}: chunks {self.chunks[r]}, {w['full']} full + "
                         f"{w['partial']} partial pairs, receives at steps "
                         f"{[t for t, s in enumerate(self.steps[r]) if s.receives and t]}")
        return "\n".join(lines)


def plan_context_parallel(mask: Any, n: int, world: int, scheme: str = "auto",
                          mask_aware: bool = True, cache_dir: Optional[PathLike] = None,
                          attn_opt: Optional[str] = None) -> ContextParallelPlan:
    """The ring schedule of `mask` over `world` ranks for N tokens.
    mask_aware=False is plain ring attention (every pair sent and computed,
    partial everywhere the mask is not dense): the baseline to compare."""
    mask = as_mask(mask)
    _check_positive("world size", world)
    resolved = resolve_scheme(mask, scheme)
    chunk, chunks = chunk_layout(n, world, resolved)
    classes = classify_chunks(mask, n, chunk, cache_dir, attn_opt)
    steps: List[List[Step]] = []
    for r in range(world):
        mine: List[Step] = []
        for t in range(world):
            source = (r - t) % world
            pairs = []
            for a in chunks[r]:
                for b in chunks[source]:
                    cls = classes[a][b]
                    if not mask_aware:
                        cls = FULL if cls == FULL else PARTIAL
                    if cls != EMPTY:
                        pairs.append(PairWork(a, b, cls))
            mine.append(Step(source, receives=bool(pairs) and t > 0, pairs=pairs))
        steps.append(mine)
    return ContextParallelPlan(n, world, resolved, chunk, chunks, classes, steps, mask_aware)
