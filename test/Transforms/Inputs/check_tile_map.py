#!/usr/bin/env python3
"""Reads back an SVG of --attn-tile-map and checks it against independent
sources (tile-map.mlir):

  check_tile_map.py SVG REPORT MASK NQ NK
  check_tile_map.py --png PNG SVG   # a renderer's PNG has the SVG's size

- the full / partial / empty tile rects against the counts in REPORT (the
  remark of --attn-sparsity-report for the same tiles);
- the kept runs of the pairs panel against MASK evaluated by
  mask_reference.py (written from SEMANTICS.md, not from the C++) on every
  (query, key) pair: MASK is a Python expression over its functions, e.g.
  "neighborhood([20, 20], [7, 7])";
- the grid panel (if any): one outlined query tile, and as many kept dots
  as the reference keeps for the grid's center token.
Prints one summary line; exits 1 with the first mismatch.
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mask_reference as ref  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"


def fail(message):
    print(f"error: {message}")
    sys.exit(1)


def check_png(png_path, svg_path):
    header = Path(png_path).read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{png_path} is not a PNG")
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    root = ET.parse(svg_path).getroot()
    if (width, height) != (int(root.get("width")), int(root.get("height"))):
        fail(f"PNG {width} x {height}, SVG {root.get('width')} x {root.get('height')}")
    print(f"png matches the svg: {width} x {height}")


def main():
    if sys.argv[1] == "--png":
        return check_png(sys.argv[2], sys.argv[3])
    svg_path, report_path, mask_text, nq, nk = sys.argv[1:6]
    nq, nk = int(nq), int(nk)
    rects = list(ET.parse(svg_path).getroot().iter(SVG_NS + "rect"))
    by_class = {}
    for rect in rects:
        by_class.setdefault(rect.get("class"), []).append(rect)

    report = Path(report_path).read_text()
    counts = re.search(r"(\d+) full, (\d+) partial, (\d+) empty; kept pairs (\d+)", report)
    if not counts:
        fail(f"no sparsity remark in {report_path}")
    full, partial, empty, kept_total = (int(v) for v in counts.groups())
    for name, expected in (("full", full), ("partial", partial), ("empty", empty)):
        got = len(by_class.get(name, []))
        if got != expected:
            fail(f"{got} {name} tile rects, the sparsity report says {expected}")

    mask = eval(mask_text, vars(ref))  # the reference's constructors
    drawn = set()
    for rect in by_class.get("kept", []):
        i, j, n = int(rect.get("data-q")), int(rect.get("data-k")), int(rect.get("data-n"))
        for jj in range(j, j + n):
            if (i, jj) in drawn:
                fail(f"pair ({i}, {jj}) drawn twice")
            drawn.add((i, jj))
    expected_pairs = {(i, j) for i in range(nq) for j in range(nk) if mask(i, j, nq, nk)}
    if drawn != expected_pairs:
        extra = sorted(drawn - expected_pairs)[:3]
        missing = sorted(expected_pairs - drawn)[:3]
        fail(f"kept pairs differ from the reference: drawn but not kept {extra}, "
             f"kept but not drawn {missing}")
    if len(drawn) != kept_total:
        fail(f"{len(drawn)} kept pairs drawn, the sparsity report says {kept_total}")

    queries = by_class.get("grid-query", [])
    dots = len(by_class.get("grid-kept", []))
    print(f"tiles {full} full, {partial} partial, {empty} empty; kept pairs {len(drawn)}; "
          f"grid panel: {len(queries)} query tile, {dots} kept keys")


if __name__ == "__main__":
    main()
