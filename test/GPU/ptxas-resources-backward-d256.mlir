// The backward at D = Dv = 256 (two walks of 128 dK / dV channels each)
// compiles with ptxas for sm_90a, sm_80 and the 99 KB sm_89 (16 queries per
// step there); the deterministic mode's query-tile kernel too (two walks of
// 128 dQ channels). The row and finishing kernels spill nothing; the walks
// hold 128 accumulator registers plus S and dP and spill at most a few
// hundred bytes (sm_90a: 196 when written; 328, with 504 bytes of spill
// loads, since dQ's products are spread over every warp; one query buffer
// at these widths, see getBackwardStages).
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_89 format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_89 -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_80 format=isa deterministic=true" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_80 -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s --check-prefixes=CHECK,DETERMINISTIC

// CHECK: Compiling entry function 'attn_bwd_finish'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// DETERMINISTIC: Compiling entry function 'attn_bwd_query_grads'
// DETERMINISTIC: {{[0-9]?[0-9]?[0-9]}} bytes stack frame, {{[0-9]?[0-9]?[0-9]}} bytes spill stores, {{[0-9]?[0-9]?[0-9]}} bytes spill loads
// CHECK: Compiling entry function 'attn_bwd'
// CHECK: {{[0-9]?[0-9]?[0-9]}} bytes stack frame, {{[0-9]?[0-9]?[0-9]}} bytes spill stores, {{[0-9]?[0-9]?[0-9]}} bytes spill loads
// CHECK: Compiling entry function 'attn_bwd_rows'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

func.func @causal_d256(%q: memref<1x16x?x256xbf16>, %o: memref<1x16x?x256xbf16>, %lse: memref<1x16x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>, memref<1x16x?xf32>, memref<1x16x?x256xbf16>)
    outs(%q, %q, %q : memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>)
    mask = #attn.causal
  return
}
