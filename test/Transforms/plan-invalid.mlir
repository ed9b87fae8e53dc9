// RUN: not attn-opt %s -attn-plan=target=sm_90 -o /dev/null 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not attn-opt %s -attn-plan="query-tile=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not attn-opt %s -attn-plan="query-tile=4,4 key-tile=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=RANKS
// RUN: not attn-opt %s -attn-plan="query-tile=4,4 key-tile=4,4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOGRID
// RUN: not attn-opt %s -attn-plan="target=sm_80 kernel=wgmma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=FAMILY
// RUN: not attn-opt %s -attn-plan="target=sm_90a kernel=mma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not attn-opt %s -attn-plan="kernel=mma_sync" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CPU

// TARGET: error: attn-plan: unknown target 'sm_90', expected cpu, sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a, sm_120f
// FAMILY: error: attn-plan: kernel 'wgmma' is not an MMA family sm_80 executes
// UNKNOWN: error: attn-plan: kernel 'mma' is not an MMA family sm_90a executes
// CPU: error: attn-plan: kernel = 'mma_sync' needs a GPU target
// ZERO: error: attn-plan: query-tile entry 0 must be positive
// RANKS: error: attn-plan: query tile of rank 2 and key tile of rank 1
// NOGRID: error: attn-plan: tiles of rank 2 need a mask with a token grid of that rank
func.func @causal(%q: tensor<1x1x64x8xf16>, %o: tensor<1x1x64x8xf16>) -> tensor<1x1x64x8xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>)
         outs(%o : tensor<1x1x64x8xf16>) mask = #attn.causal -> tensor<1x1x64x8xf16>
  return %r : tensor<1x1x64x8xf16>
}
