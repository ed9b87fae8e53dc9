// A dense bf16 attention with run-time lengths (D = 128).
func.func @dense(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                 %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>)
  return
}
