// Pictures of masks (--attn-tile-map), read back and checked: the tile
// classes against --attn-sparsity-report for the same tiles, the kept pairs
// against Inputs/mask_reference.py (written from SEMANTICS.md), and the SVG
// rendered by a real renderer (rsvg-convert) where it is installed.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: attn-opt %s --attn-tile-map="query-tile=4,4 key-tile=4,8 output=%t/map.svg" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// REMARK: remark: attn-tile-map: wrote {{.*}}map.svg (25 x 15 tile pairs)
//
// The 2-D neighborhood, with its grid panel.
// RUN: attn-opt %s --attn-sparsity-report="query-tile=4,4 key-tile=4,8" -o /dev/null 2> %t/report.txt
// RUN: %python %S/Inputs/check_tile_map.py %t/map.svg %t/report.txt "neighborhood([20, 20], [7, 7])" 400 400 | FileCheck %s --check-prefix=NBHD
// NBHD: tiles 5 full, 112 partial, 258 empty; kept pairs 19600; grid panel: 1 query tile, 49 kept keys
// RUN: FileCheck %s --check-prefix=SVG < %t/map.svg
// SVG: <svg xmlns="http://www.w3.org/2000/svg"
// SVG: #attn.neighborhood&lt;grid = [20, 20], window = [7, 7]&gt;, Nq = 400, Nk = 400: query tile 4x4 x key tile 4x8: 5 full (dark), 112 partial (light), 258 empty
// SVG: on the 20x20 grid: key tiles of query tile 12 (outlined) by class, keys kept by its token 10x10 (dots)
//
// Causal with Nq != Nk (bottom right), flat tiles.
// (Inputs/tile-map-causal.mlir holds two ops: the second file is flat.1.svg.)
// RUN: attn-opt %S/Inputs/tile-map-causal.mlir --attn-sparsity-report="query-tile=32 key-tile=32" -o /dev/null 2> %t/report-flat.txt
// RUN: attn-opt %S/Inputs/tile-map-causal.mlir --attn-tile-map="query-tile=32 key-tile=32 output=%t/flat.svg" -o /dev/null
// RUN: grep "attn sparsity" %t/report-flat.txt | tail -n 1 > %t/report-causal.txt
// RUN: %python %S/Inputs/check_tile_map.py %t/flat.1.svg %t/report-causal.txt "causal('bottom_right')" 100 128 | FileCheck %s --check-prefix=CAUSAL
// CAUSAL: tiles 6 full, 7 partial, 3 empty; kept pairs 7850; grid panel: 0 query tile, 0 kept keys
//
// A real renderer draws it (the PNG is as large as the SVG says).
// RUN: %if rsvg-convert %{ rsvg-convert %t/map.svg -o %t/map.png && %python %S/Inputs/check_tile_map.py --png %t/map.png %t/map.svg | FileCheck %s --check-prefix=PNG %}
// PNG: png matches the svg: {{[0-9]+}} x 1852

func.func @nbhd(%q: tensor<1x2x400x64xbf16>, %o: tensor<1x2x400x64xbf16>) -> tensor<1x2x400x64xbf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x400x64xbf16>, tensor<1x2x400x64xbf16>, tensor<1x2x400x64xbf16>)
    outs(%o : tensor<1x2x400x64xbf16>) mask = #attn.neighborhood<grid = [20, 20], window = [7, 7]> -> tensor<1x2x400x64xbf16>
  return %r : tensor<1x2x400x64xbf16>
}

// Refusals, by name.
// RUN: not attn-opt %s --attn-tile-map="query-tile=4,4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOOUT
// NOOUT: error: attn-tile-map: the `output` option (an SVG path) is required
// RUN: not attn-opt %s --attn-tile-map="query-tile=4,4 key-tile=8 output=%t/x.svg" -o /dev/null 2>&1 | FileCheck %s --check-prefix=RANKS
// RANKS: error: attn-tile-map: query-tile has rank 2 but key-tile has rank 1
// RUN: not attn-opt %s --attn-tile-map="query-tile=4,4,4 output=%t/x.svg" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GRID
// GRID: error: attn-tile-map: tiles of rank 3 need a mask with a token grid of that rank, got #attn.neighborhood<grid = [20, 20], window = [7, 7]>
// RUN: not attn-opt %s --attn-tile-map="query-tile=1 output=%t/x.svg max-tile-pairs=1000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PAIRS
// PAIRS: error: attn-tile-map: 400 x 400 tile pairs exceed max-tile-pairs = 1000; use larger tiles
