//===- WgmmaEngine.h - the warpgroup wgmma engine (sm_90a) ------*- C++ -*-===//
//
// Private to AttnToNVVM: the MMA engine of sm_90a. One warpgroup (128
// threads) per 64 query rows; S = Q K^T by wgmma m64nNk16 with both
// operands read from shared memory through descriptors (N = the key tile),
// O += P V by wgmma with P in registers (the S accumulator converted in
// place) and V read MN-major from shared memory (N = Dv). Staged tiles are
// stored as the TMA's swizzled boxes are: columns in slabs of at most 128
// bytes, each slab [rows][slab bytes] with 16-byte chunks XOR-swizzled by
// the row (docs/design/WgmmaKernel.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAENGINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAENGINE_H

#include "../Common/MmaEngine.h"

namespace mlir {
namespace attn {
namespace detail {

class WgmmaEngine : public MmaEngine {
public:
  WgmmaEngine(OpBuilder &b, Location loc, const KernelSignature &signature,
              AttentionKernelContext &context);

  /// The family's rules for tiles, head dims and precisions.
  static LogicalResult verify(AttentionOp op, const KernelShape &shape,
                              const KernelPrecision &precision);

  int64_t numThreads() const override;
  int64_t minimumRegisters() const override;
  const FragmentLayout &accumulatorLayout() const override {
    return fragmentLayout;
  }
  int64_t stagedTileAlignment() const override;
  int64_t stagedSlabBytes(int64_t rowBytes) const override;
  bool readsStagedTilesAsynchronously() const override { return true; }
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
  void addOutput(MutableArrayRef<Value> output, ArrayRef<Value> tile) override;
  Fragment readOutput(ValueRange output) override;
  ValueOperandLayout valueLayout() const override {
    return ctx.precision.fp8Value() ? ValueOperandLayout::TransposedPermutedFp8
                                    : ValueOperandLayout::KeyMajor;
  }
  bool issuesAsynchronously() const override { return true; }
  SmallVector<Value> issueScores(Value keyOffset) override;
  Fragment waitScores(ArrayRef<Value> pending, int64_t groupsInFlight) override;
  SmallVector<Value> packProbabilities(const Fragment &p) override;
  void issueValues(MutableArrayRef<Value> output, ArrayRef<Value> packedP,
                   Value valueOffset) override;
  void waitValues(MutableArrayRef<Value> output,
                  ArrayRef<Value> packedP) override;
  void beginIssue() override;
  void endIssue() override;
  void beginIssueOrder() override;
  void endIssueOrder() override;

private:
  /// The wgmma shared-memory descriptor of the staged tile at byte offset
  /// `tileOffset` (a run-time value), with the layout's fixed fields for
  /// tiles of `rows` rows of `rowBytes` (addToDescriptor moves its start).
  Value tileDescriptor(Value tileOffset, int64_t rows, int64_t rowBytes,
                       bool mnMajor);
  /// This thread's warpgroup (warp-uniform).
  Value warpgroup();
  /// Two warpgroups take turns issuing (named barriers 1 and 2).
  bool pingPong() const;
  /// On warpgroup `onWarpgroup` only: arrives at (or waits on) warpgroup
  /// 0's turn barrier (the ping-pong's first and last turns).
  void firstTurnBarrier(int64_t onWarpgroup, bool arriveOnly);

  FragmentLayout fragmentLayout;
  Value queryDescriptor;
};

/// The rows of one warpgroup's products (wgmma's M) and the bytes of the K
/// dimension one 16-bit k16 step reads.
constexpr int64_t kWarpgroupRows = 64;
constexpr int64_t kWgmmaStepBytes = 32;

/// The wgmma staging layout, shared by every kernel that feeds wgmma from
/// tiles it stages itself: the byte offset of 16-byte chunk `chunk` of row
/// `row` in a tile of `rows` rows of `rowChunks` chunks (slabs of 128-byte
/// row pieces, each swizzled as the TMA's and wgmma's swizzle modes).
Value emitWgmmaChunkOffset(OpBuilder &b, Location loc, int64_t rows,
                           int64_t rowChunks, Value row, Value chunk);
/// The shared-memory descriptor of the tile of `rows` rows of `rowBytes`
/// in that layout at `tileAddress` (a shared pointer, or its address as an
/// i64), K-major or MN-major.
Value emitWgmmaTileDescriptor(OpBuilder &b, Location loc, Value tileAddress,
                              int64_t rows, int64_t rowBytes, bool mnMajor);
/// `descriptor` moved `byteOffset` bytes (a multiple of 16) further.
Value addToWgmmaDescriptor(OpBuilder &b, Location loc, Value descriptor,
                           int64_t byteOffset);
/// The swizzle span of a staged row of `rowBytes` (32, 64 or 128 bytes).
int64_t getWgmmaSwizzleBytes(int64_t rowBytes);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAENGINE_H
