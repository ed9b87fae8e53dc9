// Two ops for tile-map.mlir: a dense one (map flat.svg) and causal with
// Nq != Nk (flat.1.svg).
func.func @dense(%q: tensor<1x1x64x32xf16>, %o: tensor<1x1x64x32xf16>) -> tensor<1x1x64x32xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x32xf16>, tensor<1x1x64x32xf16>, tensor<1x1x64x32xf16>)
    outs(%o : tensor<1x1x64x32xf16>) -> tensor<1x1x64x32xf16>
  return %r : tensor<1x1x64x32xf16>
}

func.func @causal_bottom_right(%q: tensor<1x1x100x32xf16>, %k: tensor<1x1x128x32xf16>, %o: tensor<1x1x100x32xf16>) -> tensor<1x1x100x32xf16> {
  %r = attn.attention ins(%q, %k, %k : tensor<1x1x100x32xf16>, tensor<1x1x128x32xf16>, tensor<1x1x128x32xf16>)
    outs(%o : tensor<1x1x100x32xf16>) mask = #attn.causal<bottom_right> -> tensor<1x1x100x32xf16>
  return %r : tensor<1x1x100x32xf16>
}
