//===- BlockScaledMma.h - sm_120a's NVFP4 mma.sync --------------*- C++ -*-===//
//
// Private to AttnToNVVM: `mma.sync.aligned.m16n8k64.row.col.kind::mxf4nvf4
// .block_scale.scale_vec::4X.f32.e2m1.e2m1.f32.ue4m3` (sm_120a, sm_120f),
// natively or emulated with the same register contract on chips without
// it (GpuTarget::emulatedBlockScaledMma). docs/design/Nvfp4Kernels.md
// gives the layouts.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_BLOCKSCALEDMMA_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_BLOCKSCALEDMMA_H

#include "mlir/IR/Builders.h"

#include <array>

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// D = (A * SF_A) (B * SF_B) + C for one m16n8k64 tile of E2M1 values
/// (eight per b32 register, even k in the low nibble; the s4 m16n8k64
/// fragment layouts) with one E4M3 scale per 16 k.
///
/// Scales (4X, byte-id 0): row m's four scales, byte j for k in
/// [16 j, 16 j + 16), are the `scaleA` register of lane
/// 4 (m % 8) + m / 8 + 2 `threadA`; column n's are the `scaleB` register of
/// lane 4 n + `threadB`. `threadA` is 0 or 1, `threadB` 0..3 (constants:
/// one register serves two or four k64 steps).
///
/// `emulate`: four f16 mma.sync m16n8k16 on the values decoded and scaled
/// in registers, the scales fetched from their lanes by shuffles; the
/// products are exact in f16 and summed in f32.
std::array<Value, 4> mmaM16N8K64Nvfp4(OpBuilder &b, Location loc,
                                      ArrayRef<Value> a, ArrayRef<Value> bOp,
                                      ArrayRef<Value> c, Value scaleA,
                                      int64_t threadA, Value scaleB,
                                      int64_t threadB, bool emulate);

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_BLOCKSCALEDMMA_H
