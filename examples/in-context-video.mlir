// In-context video generation: [target prompt, reference prompt,
// target video, reference video]. References see only references; targets
// see the target prompt, the target video and the reference video.
func.func @in_context_video(%q: tensor<1x16x35552x64xbf16>,
                            %k: tensor<1x16x35552x64xbf16>,
                            %v: tensor<1x16x35552x64xbf16>,
                            %o: tensor<1x16x35552x64xbf16>,
                            %lse: tensor<1x16x35552xf32>)
    -> (tensor<1x16x35552x64xbf16>, tensor<1x16x35552xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<1x16x35552x64xbf16>,
                            tensor<1x16x35552x64xbf16>, tensor<1x16x35552x64xbf16>)
           outs(%o : tensor<1x16x35552x64xbf16>, %lse : tensor<1x16x35552xf32>)
           mask = #attn.segments<query = [226, 226, 17550, 17550], visibility = [
               [full, none, full, full],
               [none, full, none, full],
               [full, none, full, full],
               [none, full, none, full]]>
           -> tensor<1x16x35552x64xbf16>, tensor<1x16x35552xf32>
  return %r#0, %r#1 : tensor<1x16x35552x64xbf16>, tensor<1x16x35552xf32>
}

// Documents of run-time lengths in a packed batch (varlen): the offsets
// operand holds [0, end of doc 0, end of doc 1, end of doc 2] per batch row.
func.func @packed_documents(%q: tensor<2x8x4096x64xf16>, %k: tensor<2x8x4096x64xf16>,
                            %v: tensor<2x8x4096x64xf16>, %o: tensor<2x8x4096x64xf16>,
                            %offsets: tensor<2x4xi32>) -> tensor<2x8x4096x64xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x4096x64xf16>,
                          tensor<2x8x4096x64xf16>, tensor<2x8x4096x64xf16>)
         segment_offsets(%offsets : tensor<2x4xi32>)
         outs(%o : tensor<2x8x4096x64xf16>)
         mask = #attn.segments<query = [?, ?, ?], visibility = [
             [causal, none, none], [none, causal, none], [none, none, causal]]>
         -> tensor<2x8x4096x64xf16>
  return %r : tensor<2x8x4096x64xf16>
}
