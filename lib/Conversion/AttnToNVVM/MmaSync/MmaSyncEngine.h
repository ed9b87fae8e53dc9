//===- MmaSyncEngine.h - the warp-level mma.sync engine ---------*- C++ -*-===//
//
// Private to AttnToNVVM: the MMA engine of sm_80, sm_86, sm_89 (and the
// warp-level kernel on later chips): one warp per 16 query rows (or 32:
// two m16 tiles, `warp-rows=32`), Q in registers (one m-tile, rows of at
// most 256 bytes) or re-read from shared memory, K
// and V fragments by ldmatrix from 128-byte-swizzled tiles, S = Q K^T and
// O += P V on mma.sync m16n8k16 (f16, bf16), m16n8k32 (s8, E4M3) or
// m16n8k64 (s4), with the S accumulator reused as P's A operand and O in
// registers (f32, or f16 pairs for pv_accum = f16).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCENGINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCENGINE_H

#include "../Common/MmaEngine.h"

namespace mlir {
namespace attn {
namespace detail {

/// The byte offset of 16-byte chunk `chunk` of row `row` in a staged tile
/// of rows of `rowChunks` chunks, as the mma.sync kernels stage tiles for
/// ldmatrix: rows one after another, chunks XOR-swizzled by the row.
Value emitSwizzledChunkOffset(OpBuilder &b, Location loc, int64_t rowChunks,
                              Value row, Value chunk);

class MmaSyncEngine : public MmaEngine {
public:
  MmaSyncEngine(OpBuilder &b, Location loc, const KernelSignature &signature,
                AttentionKernelContext &context);

  /// The family's rules for tiles, head dims and precisions.
  static LogicalResult verify(AttentionOp op, const KernelShape &shape,
                              const KernelPrecision &precision);
  /// The accumulator layout of `mTiles` m16n8 tiles per warp: rows g,
  /// g + 8 of each m16 tile; columns 2t, 2t + 1 of each n8 chunk; quads
  /// share rows.
  static FragmentLayout layout(int64_t mTiles);
  /// FP8 V^T: the k-slot of key `position` (the inverse of the relabel by
  /// which P's registers feed m16n8k32 e4m3 as they are).
  static Value fp8ValueSlot(OpBuilder &b, Location loc, Value position);

  int64_t numThreads() const override;
  int64_t minimumRegisters() const override;
  const FragmentLayout &accumulatorLayout() const override {
    return fragmentLayout;
  }
  const FragmentLayout &scoreLayout() const override {
    return scoreFragmentLayout;
  }
  Value scoreColumnOffset() override;
  FragmentPlacement placeThread() override;
  Value columnOffset() override;
  Value isRowLeader() override;
  Value stagedChunkOffset(int64_t rows, int64_t rowChunks, Value row,
                          Value chunk) override;
  void loadQuery(Value queryOffset) override;
  Fragment computeScores(Value keyOffset) override;
  SmallVector<Value> initOutput() override;
  void rescaleOutput(MutableArrayRef<Value> output, int64_t slot,
                     Value alpha) override;
  void accumulateValues(MutableArrayRef<Value> output,
                        const Fragment &probabilities,
                        Value valueOffset) override;
  void addOutput(MutableArrayRef<Value> output,
                 ArrayRef<Value> tile) override;
  Fragment readOutput(ValueRange output) override;
  ValueOperandLayout valueLayout() const override;

private:
  /// The staged layout: rows one after another, chunks XOR-swizzled by the
  /// row (the number of rows does not matter).
  Value swizzledChunkOffset(int64_t rowChunks, Value row, Value chunk);
  /// The B fragments one ldmatrix.x4 reads at (row, chunk) of the staged
  /// tile at `tileOffset`.
  std::array<Value, 4> loadSharedB(Value tileOffset, int64_t rowChunks,
                                   Value row, Value chunk, bool transpose);
  /// O += P V with P * 448 and V^T in E4M3 (m16n8k32).
  void accumulateValuesFp8(MutableArrayRef<Value> output,
                           const Fragment &probabilities, Value valueOffset);
  /// O += P V in NVFP4 (block-scaled m16n8k64): P in two levels (a row
  /// scale per tile, E4M3 scales per 16 keys) quantized in registers, each
  /// tile's product added to O times its row scales.
  void accumulateValuesNvfp4(MutableArrayRef<Value> output,
                             const Fragment &probabilities, Value valueOffset);
  /// For each n8 chunk n of Dv: `fn(n, B registers)` of k-step `kk` of the
  /// V^T tile (channel rows of `rowChunks` chunks, FP8 or NVFP4) staged at
  /// `valueOffset`.
  void
  forEachTransposedValueChunk(Value valueOffset, int64_t rowChunks, int64_t kk,
                              function_ref<void(int64_t, ArrayRef<Value>)> fn);
  /// The staged row of key `column` of n8 chunk `chunk0 + laneChunk` of S
  /// (scoreLayout's relabel; `chunk0` even, `laneChunk` 0 or 1).
  Value keyRow(int64_t chunk0, Value laneChunk, Value column);
  /// NVFP4 Q.K: the B scale register of k64 steps 4 j .. 4 j + 3 for n8
  /// chunk `chunk` of the key tile staged at `keyOffset`.
  Value loadKeyScales(Value keyOffset, int64_t chunk, int64_t j);
  /// k64 steps of one NVFP4 Q or K row.
  int64_t numQueryKeySteps() const { return ctx.qkRowBytes / 32; }
  bool f16Accumulator() const;
  /// E4M3 products use sm_120a's `kind::f8f6f4` form (chips with the
  /// block-scaled mma.sync natively).
  bool fp8Kind() const {
    return ctx.target.blockScaledMma && !ctx.target.emulatedBlockScaledMma;
  }
  int64_t numValueChunks() const {
    return fragmentLayout.numChunks(ctx.valueDim);
  }
  /// The first of the 4 registers of the C fragment of m-tile `mt`, n8
  /// chunk `n` (f32 or i32 accumulators).
  int64_t fragmentStart(int64_t mt, int64_t n) const {
    return fragmentLayout.index(n, 2 * mt, 0);
  }
  /// The f16 pair of row slot `slot`, n8 chunk `n` (pv_accum = f16).
  int64_t halfPairIndex(int64_t n, int64_t slot) const {
    return n * fragmentLayout.rowSlots + slot;
  }
  /// Q's A fragment of m-tile `mt` at k-step `kk`, from shared memory.
  std::array<Value, 4> loadQueryFragment(int64_t mt, int64_t kk);

  /// m16 tiles per warp (KernelShape::warpRows / 16).
  int64_t mTiles = 1;
  FragmentLayout fragmentLayout;
  /// S's layout: fragmentLayout, with groups of 4 chunks interleaved for
  /// NVFP4 P.V (each lane then holds 8 consecutive keys per group).
  FragmentLayout scoreFragmentLayout;
  bool queryInRegisters = true;
  Value queryOffset;
  SmallVector<std::array<Value, 4>> queryFragments;
  /// NVFP4 Q.K: per m-tile, the A scale registers of k64 steps 2 j and
  /// 2 j + 1 (thread-id-a 0 and 1).
  SmallVector<SmallVector<Value, 2>, 2> queryScaleRegisters;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCENGINE_H
