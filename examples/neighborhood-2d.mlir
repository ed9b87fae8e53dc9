// 2-D neighborhood attention on a 128x128 token grid (an image of 16384
// patches), 16 heads of 128 channels, bf16: the NATTEN setting.
//
//   attn-opt neighborhood-2d.mlir --attn-sparsity-report="query-tile=8,16"
func.func @neighborhood_2d(%q: tensor<1x16x16384x128xbf16>,
                           %k: tensor<1x16x16384x128xbf16>,
                           %v: tensor<1x16x16384x128xbf16>,
                           %o: tensor<1x16x16384x128xbf16>)
    -> tensor<1x16x16384x128xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x16x16384x128xbf16>,
                          tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>)
         outs(%o : tensor<1x16x16384x128xbf16>)
         mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
         -> tensor<1x16x16384x128xbf16>
  return %r : tensor<1x16x16384x128xbf16>
}

// Swin-style blocked windows (stride = window) and a strided window.
func.func @blocked_and_strided(%q: tensor<1x16x16384x128xbf16>,
                               %k: tensor<1x16x16384x128xbf16>,
                               %v: tensor<1x16x16384x128xbf16>,
                               %o: tensor<1x16x16384x128xbf16>)
    -> (tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>) {
  %blocked = attn.attention ins(%q, %k, %v : tensor<1x16x16384x128xbf16>,
                                tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>)
         outs(%o : tensor<1x16x16384x128xbf16>)
         mask = #attn.neighborhood<grid = [128, 128], window = [16, 16], stride = [16, 16]>
         -> tensor<1x16x16384x128xbf16>
  %strided = attn.attention ins(%q, %k, %v : tensor<1x16x16384x128xbf16>,
                                tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>)
         outs(%o : tensor<1x16x16384x128xbf16>)
         mask = #attn.neighborhood<grid = [128, 128], window = [24, 24], stride = [8, 8]>
         -> tensor<1x16x16384x128xbf16>
  return %blocked, %strided : tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>
}
