//===- Minifloats.h - E2M1 and E4M3 conversions -----------------*- C++ -*-===//
//
// Private to AttnToNVVM: the conversions of NVFP4 (SEMANTICS.md section 3)
// that the pre-kernels and the attention kernels share: f32 to E2M1 codes
// (round to nearest even, saturating at 6), natively (cvt ... e2m1x2, sm_100a
// and sm_120a) or by comparisons on chips without it, and E4M3 bytes back
// to f32 (cvt ... e4m3x2, sm_89 onwards).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MINIFLOATS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MINIFLOATS_H

#include "mlir/IR/Builders.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// Two f32 as E2M1 codes in one byte (i8), `low` in the low nibble: the
/// value nearest x (ties to even), +-6 beyond. `emulate`: by comparisons
/// with the midpoints instead of `cvt.rn.satfinite.e2m1x2.f32`.
Value packE2M1Pair(OpBuilder &b, Location loc, Value low, Value high,
                   bool emulate);

/// The E2M1 code (i32, 0..15) of `x` (f32 or f64) by comparisons (the
/// emulated form; f64 quotients are rounded once).
Value emulatedE2M1Code(OpBuilder &b, Location loc, Value x);

/// The f32 value of the E4M3 byte in the low 8 bits of `byte` (an integer),
/// exactly (`cvt.rn.f16x2.e4m3x2`).
Value decodeE4M3(OpBuilder &b, Location loc, Value byte);

/// The E4M3 byte (i32, 0..255) of f32 `x`: round to nearest even,
/// saturating at 448 (`cvt.rn.satfinite.e4m3x2.f32`).
Value encodeE4M3(OpBuilder &b, Location loc, Value x);

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MINIFLOATS_H
