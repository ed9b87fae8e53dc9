"""The f32 PyTorch reference of /work/shared/SEMANTICS.md (sections 1, 2,
4) for the bench scripts: keep(), keep_matrix(), count_kept(),
attention_f32(), apply_heads() and to_bhnd() live in attn_mlir.reference (written from the
text, reading only the parameters of the mask and heads objects; calibrate()
uses them too); this module re-exports them and adds the tiles of the
attn-plan pass (grid_tile, tile_permutation).

torch is imported lazily: importing this module needs no torch.
"""

from __future__ import annotations

import math
from typing import List, Sequence

from attn_mlir.reference import (apply_heads, attention_f32, count_kept, keep,  # noqa: F401
                                 keep_matrix, reference_attention, to_bhnd)


# Tiles of the attn-plan pass (lib/Dialect/Attn/Transforms/Plan.cpp).

def grid_tile(grid: Sequence[int], tokens: int) -> List[int]:
    """Plan.cpp getBalancedPatch (GPU targets): a patch of `tokens` tokens
    of `grid`, as square as the grid allows: the smallest side doubles
    first, the last dimension on ties."""
    tile = [1] * len(grid)
    size = 1
    while size * 2 <= tokens:
        best = -1
        for d in range(len(grid) - 1, -1, -1):
            if tile[d] * 2 > grid[d]:
                continue
            if best < 0 or tile[d] < tile[best]:
                best = d
        if best < 0:
            break
        tile[best] *= 2
        size *= 2
    return tile


def tile_permutation(grid: Sequence[int], tile: Sequence[int]) -> List[int]:
    """Token order with the grid cut into `tile` patches: tiles in row-major
    order of the tile grid, tokens row-major inside a tile (patches at the
    grid's far edges are partial). perm[p] = the row-major grid index of the
    token at position p."""
    import itertools
    rank = len(grid)
    counts = [-(-grid[d] // tile[d]) for d in range(rank)]
    perm = []
    strides = [math.prod(grid[d + 1:]) for d in range(rank)]
    for t in itertools.product(*[range(c) for c in counts]):
        ranges = [range(t[d] * tile[d], min(grid[d], (t[d] + 1) * tile[d])) for d in range(rank)]
        for c in itertools.product(*ranges):
            perm.append(sum(c[d] * strides[d] for d in range(rank)))
    assert len(perm) == math.prod(grid)
    return perm
