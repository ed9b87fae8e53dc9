// SageAttention-style quantization and head selection on a causal decoder
// layer with grouped-query attention (32 query heads, 8 key/value heads).
func.func @sage_causal(%q: tensor<1x32x8192x128xf16>, %k: tensor<1x8x8192x128xf16>,
                       %v: tensor<1x8x8192x128xf16>, %o: tensor<1x32x8192x128xf16>)
    -> tensor<1x32x8192x128xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x32x8192x128xf16>,
                          tensor<1x8x8192x128xf16>, tensor<1x8x8192x128xf16>)
         outs(%o : tensor<1x32x8192x128xf16>)
         mask = #attn.causal
         precision = #attn.precision<sage1>
         -> tensor<1x32x8192x128xf16>
  return %r : tensor<1x32x8192x128xf16>
}

// Per-head weights (head 3 is switched off), SoftPAG on heads 0 and 1, and a
// group of heads that attends through a local window in 4-bit precision.
func.func @head_selection(%q: tensor<1x4x1024x64xf16>, %k: tensor<1x4x1024x64xf16>,
                          %v: tensor<1x4x1024x64xf16>, %o: tensor<1x4x1024x64xf16>,
                          %gates: tensor<1x1024x4xf32>) -> tensor<1x4x1024x64xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x1024x64xf16>,
                          tensor<1x4x1024x64xf16>, tensor<1x4x1024x64xf16>)
         gates(%gates : tensor<1x1024x4xf32>)
         outs(%o : tensor<1x4x1024x64xf16>)
         mask = #attn.causal
         heads = #attn.heads<weights = [1.0, 1.0, 0.5, 0.0],
                             softpag = #attn.softpag<u = 0.3, heads = [0, 1]>,
                             groups = [#attn.head_group<heads = [2],
                                         mask = #attn.sliding_window<left = 128, right = 0>,
                                         precision = #attn.precision<sage2_4b>>]>
         -> tensor<1x4x1024x64xf16>
  return %r : tensor<1x4x1024x64xf16>
}
