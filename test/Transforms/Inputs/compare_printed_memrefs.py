#!/usr/bin/env python3
"""Compares the numbers two printMemrefF32 outputs print (the runner's
`Unranked Memref ... data =` header skipped): same count, and the largest
absolute difference at most TOL. Used by raise-linalg-execute.mlir.

  compare_printed_memrefs.py A B TOL
"""
import re
import sys

NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?inf|nan")


def values(path):
    text = open(path).read()
    body = text.split("data =", 1)[1] if "data =" in text else text
    return [float(v) for v in NUMBER.findall(body)]


def main():
    a, b, tol = values(sys.argv[1]), values(sys.argv[2]), float(sys.argv[3])
    if not a or len(a) != len(b):
        print(f"error: {len(a)} against {len(b)} values")
        sys.exit(1)
    worst = max(abs(x - y) for x, y in zip(a, b))
    if not worst <= tol:  # NaN fails too
        print(f"error: max abs difference {worst} > {tol}")
        sys.exit(1)
    print(f"{len(a)} values, max abs difference {worst:.3g} <= {tol:g}")


if __name__ == "__main__":
    main()
