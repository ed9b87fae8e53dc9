//===- MmaEngine.h - the tensor-core half of an attention kernel -*- C++ -*-===//
//
// Private to AttnToNVVM: what the kernel skeleton asks of an instruction
// family. One engine per family (MmaSync/ and Wgmma/; Tcgen05/ adds
// its own): how many threads a query tile takes and which accumulator rows
// and columns each holds, the shared-memory swizzle of staged tiles,
// S = Q K^T, the O accumulator (rescale, P V, two-level sums, read-out) and
// the V layout the pre-kernels must produce. Each engine also has static
// rules for the tiles, head dims and precisions it takes, checked before
// any kernel is emitted (Engines.h, verifyKernelShape). The hooks were
// drawn against all three families (docs/design/GpuBackend.md): O is engine state
// because tcgen05 keeps it in tensor memory, and scores come back as a
// Fragment because every family's accumulator maps onto (row, column)
// elements (FragmentLayout.h).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MMAENGINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MMAENGINE_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"
#include "FragmentLayout.h"

#include <memory>

namespace mlir {
namespace attn {
namespace detail {

/// How V reaches the P.V instruction, which the pre-kernels produce.
enum class ValueOperandLayout {
  /// [keys][channels] as stored (16-bit P.V).
  KeyMajor,
  /// FP8: V^T [channels][key slots] per key tile, the slots of each 16 keys
  /// in the order the family's P registers hold the keys.
  TransposedPermutedFp8,
  /// NVFP4: V^T [channels][keys / 2 bytes] per key tile in key order, with
  /// one E4M3 scale per channel and 16 keys ([channels][keys / 16]).
  TransposedNvfp4,
};

class MmaEngine : protected EmitterBase {
public:
  MmaEngine(OpBuilder &b, Location loc, const KernelSignature &signature,
            AttentionKernelContext &context)
      : EmitterBase(b, loc, signature), ctx(context) {}
  virtual ~MmaEngine() = default;

  /// Threads of a block serving one query tile.
  virtual int64_t numThreads() const = 0;
  /// A lower bound of the registers a thread needs (its accumulators and
  /// operands in registers), checked against the chip before emitting.
  virtual int64_t minimumRegisters() const = 0;
  /// The accumulator layout of S and O.
  virtual const FragmentLayout &accumulatorLayout() const = 0;
  /// The layout of S's columns (keys): the accumulator's, unless the engine
  /// relabels S's columns (FragmentLayout::interleavedChunks).
  virtual const FragmentLayout &scoreLayout() const {
    return accumulatorLayout();
  }

  /// This thread's rows of the query tile (emitted once in the kernel
  /// body).
  virtual FragmentPlacement placeThread() = 0;
  /// The offset this thread adds to every static column of the layout,
  /// emitted where it is used (it is cheap; keeping it local keeps the
  /// index arithmetic of each use visible to LLVM).
  virtual Value columnOffset() = 0;
  /// The offset this thread adds to every static column of scoreLayout().
  virtual Value scoreColumnOffset() { return columnOffset(); }
  /// Whether this thread is the one of its row's lanes that writes per-row
  /// results (the LSE).
  virtual Value isRowLeader() = 0;
  /// Byte offset, relative to a staged tile, of 16-byte chunk `chunk` of
  /// row `row` of a tile of `rows` rows of `rowChunks` chunks: the layout
  /// the pipeline writes and the engine reads.
  virtual Value stagedChunkOffset(int64_t rows, int64_t rowChunks, Value row,
                                  Value chunk) = 0;
  /// The width of the column slabs staged rows of `rowBytes` are stored in,
  /// each slab [rows][width] swizzled as a TMA box of that swizzle width
  /// writes it; 0 when the staged layout is not made of such boxes (only
  /// per-thread copies can write it).
  virtual int64_t stagedSlabBytes(int64_t rowBytes) const { return 0; }
  /// The alignment (bytes) of every staged tile in shared memory.
  virtual int64_t stagedTileAlignment() const { return 16; }
  /// Whether the engine reads staged tiles through the async proxy
  /// (wgmma), so that copies by ordinary stores or cp.async need a proxy
  /// fence before it reads them.
  virtual bool readsStagedTilesAsynchronously() const { return false; }

  /// Q has landed at `queryOffset` in shared memory, visible to every
  /// thread: keep what the engine wants of it (registers, descriptors).
  virtual void loadQuery(Value queryOffset) = 0;
  /// S = Q K^T for the key tile staged at `keyOffset`: i32 dot products
  /// for integer Q.K, f32 otherwise.
  virtual Fragment computeScores(Value keyOffset) = 0;

  /// The O accumulator as loop state: its initial (zero) values.
  virtual SmallVector<Value> initOutput() = 0;
  /// O *= alpha on the rows of row slot `slot`.
  virtual void rescaleOutput(MutableArrayRef<Value> output, int64_t slot,
                             Value alpha) = 0;
  /// O += P V with P in the accumulator layout (f32 probabilities) and V
  /// staged at `valueOffset`.
  virtual void accumulateValues(MutableArrayRef<Value> output,
                                const Fragment &probabilities,
                                Value valueOffset) = 0;
  /// O += T elementwise (two-level accumulation: T holds one tile's P V).
  virtual void addOutput(MutableArrayRef<Value> output,
                         ArrayRef<Value> tile) = 0;
  /// O as f32 values in the accumulator layout, for the epilogue.
  virtual Fragment readOutput(ValueRange output) = 0;

  /// How V reaches P.V for the kernel's precision.
  virtual ValueOperandLayout valueLayout() const = 0;

  //===--------------------------------------------------------------------===//
  // Asynchronous issue (engines whose products run behind the threads)
  //===--------------------------------------------------------------------===//

  /// Whether S and P.V are issued and waited for separately, so that the
  /// skeleton can run one tile's softmax while the previous tile's P.V is
  /// in flight. The hooks below are used only then.
  virtual bool issuesAsynchronously() const { return false; }
  /// Issues S = Q K^T for the key tile at `keyOffset` as one group of
  /// products; the values are readable only through waitScores.
  virtual SmallVector<Value> issueScores(Value keyOffset) {
    llvm_unreachable("a synchronous engine issues no scores");
  }
  /// Waits until at most `groupsInFlight` groups issued after the scores'
  /// are pending; returns S.
  virtual Fragment waitScores(ArrayRef<Value> pending,
                              int64_t groupsInFlight) {
    llvm_unreachable("a synchronous engine issues no scores");
  }
  /// P (f32 in the accumulator layout) as the registers P.V reads, kept in
  /// loop state until the next tile issues its P.V.
  virtual SmallVector<Value> packProbabilities(const Fragment &p) {
    llvm_unreachable("a synchronous engine packs no probabilities");
  }
  /// Issues O += P V (P packed, V staged at `valueOffset`) as one group;
  /// `output` then holds values readable only after waitValues.
  virtual void issueValues(MutableArrayRef<Value> output,
                           ArrayRef<Value> packedP, Value valueOffset) {
    llvm_unreachable("a synchronous engine issues no products");
  }
  /// Waits for every issued group: O is readable and P's registers free.
  virtual void waitValues(MutableArrayRef<Value> output,
                          ArrayRef<Value> packedP) {
    llvm_unreachable("a synchronous engine issues no products");
  }
  /// Bracket the issue of one tile's products, so that the engine can
  /// order the issue of several thread groups (ping-pong: one group's
  /// softmax runs while the other's products do).
  virtual void beginIssue() {}
  virtual void endIssue() {}
  /// Before the first tile and after the last: set up and settle the issue
  /// order (no turn left pending). Called only when the skeleton brackets
  /// issues (asynchronous engines on explicitly released stages).
  virtual void beginIssueOrder() {}
  virtual void endIssueOrder() {}

protected:
  /// The m16n8 C layout (mma.sync, and wgmma per warp): a quad of lanes
  /// shares a row, lane 4g + t holding columns 2t and 2t + 1 of each chunk.
  Value quadColumnOffset() { return mul(rem(ctx.lane, 4), idx(2)); }
  Value isQuadLeader() {
    return cmp(arith::CmpIPredicate::eq, rem(ctx.lane, 4), idx(0));
  }

  AttentionKernelContext &ctx;
};

/// The engine of `family`, or null when none is implemented.
std::unique_ptr<MmaEngine> createMmaEngine(MmaFamily family, OpBuilder &b,
                                           Location loc,
                                           const KernelSignature &signature,
                                           AttentionKernelContext &context);

/// The k-slot of key `position` of a key tile in the FP8 V^T layout of
/// `family` (ValueOperandLayout::TransposedPermutedFp8), for the pre-kernel
/// that writes it.
Value emitFp8ValueSlot(MmaFamily family, OpBuilder &b, Location loc,
                       Value position);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_MMAENGINE_H
