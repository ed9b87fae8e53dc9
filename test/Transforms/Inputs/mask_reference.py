#!/usr/bin/env python3
"""Independent reference of the mask rules of SEMANTICS.md section 2.

Written from the contract only (not from the C++), to compute the expected
`dense<...>` constants of materialize-mask.mlir and the tile counts of
sparsity-report.mlir and sparsity-report-1d.mlir. Usage (the sparsity mode
needs numpy and takes about 20 s):

  mask_reference.py materialize   # every matrix of materialize-mask.mlir
  mask_reference.py sparsity      # every count of sparsity-report*.mlir
  mask_reference.py selftest      # the worked 1-D examples of section 2.3

A mask here is a function keep(i, j, nq, nk) -> bool.
"""
import sys


# --- 2.1 dense and causal ----------------------------------------------------
def dense():
    return lambda i, j, nq, nk: True


def none():
    return lambda i, j, nq, nk: False


def _delta(alignment, nq, nk):
    return 0 if alignment == "top_left" else nk - nq


def causal(alignment="top_left"):
    return lambda i, j, nq, nk: j <= i + _delta(alignment, nq, nk)


# --- 2.2 sliding window (clipped) --------------------------------------------
def sliding_window(left, right, alignment="top_left"):
    def keep(i, j, nq, nk):
        d = _delta(alignment, nq, nk)
        return i + d - left <= j <= i + d + right
    return keep


# --- 2.3 neighborhood / strided / blocked (shifted, N-D) ---------------------
def keep_1d(x, y, L, w, s=1, d=1, is_causal=False):
    if x % d != y % d:
        return False
    g, a, b = x % d, x // d, y // d
    n = -(-(L - g) // d)  # ceil((L - g) / d)
    if not is_causal:
        leader = min((a // s) * s + s // 2, n - 1)
        start = min(max(leader - w // 2, 0), n - w)
        return start <= b < start + w
    leader = min((a // s) * s + s - 1, n - 1)
    return max(leader - w + 1, 0) <= b <= a


def unflatten(index, grid):
    coords = []
    for extent in reversed(grid):
        coords.append(index % extent)
        index //= extent
    return list(reversed(coords))


def neighborhood(grid, window, stride=None, dilation=None, causal_dims=None):
    r = len(grid)
    stride = stride or [1] * r
    dilation = dilation or [1] * r
    causal_dims = causal_dims or [False] * r

    def keep(i, j, nq, nk):
        x, y = unflatten(i, grid), unflatten(j, grid)
        return all(keep_1d(x[k], y[k], grid[k], window[k], stride[k],
                           dilation[k], causal_dims[k]) for k in range(r))
    return keep


# --- 2.4 power law -----------------------------------------------------------
def _is_pow2(v):
    return v > 0 and (v & (v - 1)) == 0


def power_law(block, window, sink=0, is_causal=True):
    def keep(i, j, nq, nk):
        delta = i // block - j // block
        if is_causal:
            if j > i:
                return False
        else:
            delta = abs(delta)
        return j < sink * block or delta < window or _is_pow2(delta)
    return keep


# --- 2.5 segments (static sizes) ---------------------------------------------
def segments(query, visibility, key=None):
    key = key if key is not None else query
    qoff = [0]
    for s in query:
        qoff.append(qoff[-1] + s)
    koff = [0]
    for s in key:
        koff.append(koff[-1] + s)

    def seg(offsets, t):
        for a in range(len(offsets) - 1):
            if offsets[a] <= t < offsets[a + 1]:
                return a
        return None

    def keep(i, j, nq, nk):
        a, b = seg(qoff, i), seg(koff, j)
        if a is None or b is None:
            return False
        entry = visibility[a][b]
        return entry(i - qoff[a], j - koff[b], query[a], key[b])
    return keep


FULL, NONE, CAUSAL = dense(), none(), causal()


# --- composites --------------------------------------------------------------
def and_(*members):
    return lambda i, j, nq, nk: all(m(i, j, nq, nk) for m in members)


def or_(*members):
    return lambda i, j, nq, nk: any(m(i, j, nq, nk) for m in members)


# --- printing as MLIR dense<...> ---------------------------------------------
def matrix(mask, nq, nk):
    return [[mask(i, j, nq, nk) for j in range(nk)] for i in range(nq)]


def mlir_bool(v):
    return "true" if v else "false"


def mlir_dense(nested):
    if isinstance(nested, bool):
        return mlir_bool(nested)
    return "[" + ", ".join(mlir_dense(x) for x in nested) + "]"


def print_matrix(name, mask, nq, nk):
    m = matrix(mask, nq, nk)
    print(f"// {name}")
    for row in m:
        print("//   " + "".join("x" if v else "." for v in row))
    print(f"dense<{mlir_dense(m)}> : tensor<{nq}x{nk}xi1>")
    print()
    return m


# --- worked examples of section 2.3 ------------------------------------------
def window_1d(x, L, w, s=1, d=1, c=False):
    return [y for y in range(L) if keep_1d(x, y, L, w, s, d, c)]


def selftest():
    L = 10
    # w=4, s=1: queries 0,1,2 -> [0,4); 3 -> [1,5); 8,9 -> [6,10)
    for x in (0, 1, 2):
        assert window_1d(x, L, 4) == list(range(0, 4))
    assert window_1d(3, L, 4) == list(range(1, 5))
    for x in (8, 9):
        assert window_1d(x, L, 4) == list(range(6, 10))
    # w=5, s=2: 0,1 -> [0,5); 2,3 -> [1,6); 4,5 -> [3,8); 6..9 -> [5,10)
    for xs, r in (((0, 1), (0, 5)), ((2, 3), (1, 6)), ((4, 5), (3, 8)),
                  ((6, 7, 8, 9), (5, 10))):
        for x in xs:
            assert window_1d(x, L, 5, 2) == list(range(*r)), (x, r)
    # w=5, s=2, causal: 4 -> keys 1..4; 5 -> 1..5; 6 -> 3..6
    assert window_1d(4, L, 5, 2, c=True) == [1, 2, 3, 4]
    assert window_1d(5, L, 5, 2, c=True) == [1, 2, 3, 4, 5]
    assert window_1d(6, L, 5, 2, c=True) == [3, 4, 5, 6]
    # w=3, s=1, d=2: query 4 -> keys 2, 4, 6
    assert window_1d(4, L, 3, 1, 2) == [2, 4, 6]
    print("selftest: worked examples of SEMANTICS.md 2.3 hold")


# --- the matrices of materialize-mask.mlir ----------------------------------
# (name of the test function, mask, Nq, Nk), in the order of the test file.
MATERIALIZE_CASES = [
    ("neighborhood_w4_s1", neighborhood([10], [4]), 10, 10),
    ("neighborhood_w5_s2", neighborhood([10], [5], [2]), 10, 10),
    ("neighborhood_w5_s2_causal", neighborhood([10], [5], [2], causal_dims=[True]), 10, 10),
    ("neighborhood_w3_s1_d2", neighborhood([10], [3], [1], [2]), 10, 10),
    ("neighborhood_2d", neighborhood([4, 4], [3, 2], [1, 2]), 16, 16),
    ("neighborhood_3d", neighborhood([2, 2, 3], [1, 2, 2], [1, 1, 1], [1, 1, 1],
                                     [False, True, False]), 12, 12),
    ("causal_top_left_wide", causal(), 3, 5),
    ("causal_bottom_right_wide", causal("bottom_right"), 3, 5),
    ("causal_top_left_tall", causal(), 5, 3),
    ("causal_bottom_right_tall", causal("bottom_right"), 5, 3),
    ("sliding_window", sliding_window(2, 1), 6, 6),
    ("sliding_window_bottom_right", sliding_window(1, 0, "bottom_right"), 4, 6),
    ("power_law", power_law(2, 1, 1), 12, 12),
    ("power_law_non_causal", power_law(1, 1, 0, False), 8, 8),
    ("power_law_no_window", power_law(2, 0, 0), 10, 10),
    ("segments_prefix_lm", segments([3, 5], [[FULL, NONE], [FULL, CAUSAL]]), 8, 8),
    ("segments_cross", segments([2, 2], [[CAUSAL, NONE], [FULL, sliding_window(0, 0)]],
                                key=[3, 1]), 4, 4),
    ("segments_nested_grid", segments([2, 6], [[FULL, NONE],
                                               [FULL, neighborhood([2, 3], [1, 2])]]), 8, 8),
    ("and_causal_window", and_(causal(), sliding_window(2, 0)), 6, 6),
    ("or_window_power_law", or_(sliding_window(1, 0), power_law(1, 0, 1)), 6, 6),
    ("or_and_nested", or_(and_(causal(), sliding_window(1, 1)),
                          segments([2, 4], [[NONE, NONE], [FULL, NONE]])), 6, 6),
]

# The existing explicit mask of @existing_constant_mask, and the per-batch
# one of @existing_constant_mask_per_batch ((i + j + b) mod 3 != 0).
EXISTING_MASK = [[True, True, False, True], [False, True, True, True],
                 [True, True, True, True], [True, False, True, True]]
EXISTING_MASK_PER_BATCH = [[[[(i + j + b) % 3 != 0 for j in range(4)]
                             for i in range(4)]] for b in range(2)]


def materialize():
    for name, mask, nq, nk in MATERIALIZE_CASES:
        print_matrix(name, mask, nq, nk)
    # @head_groups: Hq = 3; head 0 causal, head 1 the op's mask (dense),
    # head 2 sliding window (1, 0).
    hs = [matrix(causal(), 4, 4), matrix(dense(), 4, 4),
          matrix(sliding_window(1, 0), 4, 4)]
    print(f"// head_groups\ndense<{mlir_dense([hs])}> : tensor<1x3x4x4xi1>\n")
    # @head_groups_op_mask: op causal, head 1 none.
    hs = [matrix(causal(), 4, 4), matrix(none(), 4, 4), matrix(causal(), 4, 4)]
    print(f"// head_groups_op_mask\ndense<{mlir_dense([hs])}> : tensor<1x3x4x4xi1>\n")
    c = matrix(causal(), 4, 4)
    anded = [[c[i][j] and EXISTING_MASK[i][j] for j in range(4)]
             for i in range(4)]
    print(f"// existing_constant_mask (causal AND existing)\n"
          f"dense<{mlir_dense(anded)}> : tensor<4x4xi1>\n")
    anded_b = [[[[c[i][j] and EXISTING_MASK_PER_BATCH[b][0][i][j]
                  for j in range(4)] for i in range(4)]] for b in range(2)]
    print(f"// existing_constant_mask_per_batch\n"
          f"dense<{mlir_dense(anded_b)}> : tensor<2x1x4x4xi1>\n")
    print_matrix("existing_splat_mask (all-true AND bottom-right causal)",
                 causal("bottom_right"), 2, 4)
    print_matrix("existing_runtime_mask (the causal constant)", causal(), 4, 4)
    print_matrix("memref_form, first global (causal)", causal(), 3, 3)
    print_matrix("memref_form, second global (window 0, 1)",
                 sliding_window(0, 1), 3, 3)


# --- tile counts of sparsity-report.mlir -------------------------------------
def tile_counts(mask, nq, nk, qtile, ktile, grid=None):
    """Brute force over every pair: see tile_counts_np."""
    import numpy as np
    keep = np.array(matrix(mask, nq, nk), dtype=bool)
    return tile_counts_np(keep, qtile, ktile, grid)


def tiles_of(extents, tile):
    """The flat token indices of each tile (row-major tile order; N-D tiles
    are patches of the row-major grid `extents`; edge tiles are clipped)."""
    import itertools
    import numpy as np
    ranges = [range(0, e, t) for e, t in zip(extents, tile)]
    idx = np.arange(int(np.prod(extents))).reshape(extents)
    result = []
    for starts in itertools.product(*ranges):
        sl = tuple(slice(s, min(s + t, e))
                   for s, t, e in zip(starts, tile, extents))
        result.append(idx[sl].reshape(-1))
    return result


def tile_counts_np(keep, qtile, ktile, grid=None):
    """Classifies every (query tile, key tile) by counting its kept pairs in
    the full boolean keep matrix: full = all kept, empty = none kept."""
    import numpy as np
    nq, nk = keep.shape
    qt = tiles_of(grid if grid else [nq], qtile)
    kt = tiles_of(grid if grid else [nk], ktile)
    # Permute rows and columns so that every tile is contiguous, then sum
    # the kept pairs of each tile with reduceat.
    qperm, kperm = np.concatenate(qt), np.concatenate(kt)
    qstarts = np.cumsum([0] + [len(t) for t in qt[:-1]])
    kstarts = np.cumsum([0] + [len(t) for t in kt[:-1]])
    qsizes = np.array([len(t) for t in qt])
    ksizes = np.array([len(t) for t in kt])
    permuted = keep[qperm][:, kperm].astype(np.int64)
    sums = np.add.reduceat(np.add.reduceat(permuted, qstarts, axis=0),
                           kstarts, axis=1)
    sizes = np.outer(qsizes, ksizes)
    full = int((sums == sizes).sum())
    empty = int((sums == 0).sum())
    partial = sums.size - full - empty
    kept = int(keep.sum())
    total = nq * nk
    tiles = sums.size
    comp = full + partial
    pct = 100.0 * kept / total
    by_tiles = f"{tiles / comp:.2f}x" if comp else "inf"
    by_pairs = f"{total / kept:.2f}x" if kept else "inf"
    return (f"{tiles} tile pairs: {full} full, {partial} partial, {empty} "
            f"empty; kept pairs {kept} of {total} ({pct:.4f}%); speedup "
            f"bound over dense: {by_tiles} by tiles, {by_pairs} by pairs")


def neighborhood_keep_np(grid, window, stride=None, dilation=None,
                         causal_dims=None):
    """The keep matrix of a neighborhood mask on every (i, j): the 1-D rule
    of section 2.3 on the coordinates of i and j, ANDed over dimensions."""
    import numpy as np
    r = len(grid)
    stride = stride or [1] * r
    dilation = dilation or [1] * r
    causal_dims = causal_dims or [False] * r
    n = int(np.prod(grid))
    coords = np.array([unflatten(t, grid) for t in range(n)])  # [n, r]
    keep = np.ones((n, n), dtype=bool)
    for k in range(r):
        L = grid[k]
        k1 = np.array([[keep_1d(x, y, L, window[k], stride[k], dilation[k],
                                causal_dims[k]) for y in range(L)]
                       for x in range(L)], dtype=bool)
        keep &= k1[coords[:, k][:, None], coords[:, k][None, :]]
    return keep


def sparsity():
    """The counts of sparsity-report.mlir and sparsity-report-1d.mlir, by
    brute force over every (query, key) pair."""
    import numpy as np

    def b(mask, nq, nk):
        return np.array(matrix(mask, nq, nk), dtype=bool)

    # Cross-check the vectorized neighborhood against the scalar rule.
    small = neighborhood_keep_np([5, 6], [3, 4], [1, 2], [1, 1], [False, True])
    assert (small == b(neighborhood([5, 6], [3, 4], [1, 2], [1, 1],
                                    [False, True]), 30, 30)).all()

    def show(title, keep, qtile, ktile, grid=None):
        print(f"{title}: tiles {qtile} x {ktile}" + (f" on grid {grid}" if grid else ""))
        print("  " + tile_counts_np(keep, qtile, ktile, grid))

    print("== sparsity-report.mlir (grid masks)")
    g128 = [128, 128]
    big = neighborhood_keep_np(g128, [13, 13])
    g32 = [32, 32]
    op32 = neighborhood_keep_np(g32, [7, 7])
    grp32 = neighborhood_keep_np(g32, [8, 8], [8, 8])
    for qt, kt, grid in (([8, 16], [8, 16], True), ([128], [128], False),
                         ([8, 16], [16, 16], True)):
        show("headline 128x128 window 13x13", big, qt, kt, g128 if grid else None)
        show("op 32x32 window 7x7", op32, qt, kt, g32 if grid else None)
        show("group 1: 32x32 blocked 8x8", grp32, qt, kt, g32 if grid else None)

    print("== sparsity-report-1d.mlir (sequence masks)")
    cases = [
        ("causal 1000", b(causal(), 1000, 1000)),
        ("causal bottom_right 200x520", b(causal("bottom_right"), 200, 520)),
        ("power_law block 16 window 1 sink 1 on 256", b(power_law(16, 1, 1), 256, 256)),
        ("prefix-LM [64, 192]", b(segments([64, 192], [[FULL, NONE], [FULL, CAUSAL]]), 256, 256)),
        ("dense 256", np.ones((256, 256), dtype=bool)),
        ("none 200", np.zeros((200, 200), dtype=bool)),
        ("op causal 256 (head groups case)", b(causal(), 256, 256)),
        ("group 1: 16x16 blocked 4x4", neighborhood_keep_np([16, 16], [4, 4], [4, 4])),
        ("sliding window 100/0 on 1000", b(sliding_window(100, 0), 1000, 1000)),
    ]
    for qt, kt in (([64], [64]), ([128], [64])):
        for title, keep in cases:
            show(title, keep, qt, kt)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "selftest"
    selftest()
    if what == "materialize":
        materialize()
    elif what == "sparsity":
        sparsity()
