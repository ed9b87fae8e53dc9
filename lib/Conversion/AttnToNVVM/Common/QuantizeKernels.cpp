//===- QuantizeKernels.cpp - quantization pre-kernels ---------------------===//
//
// The GPU form of the quantization pre-steps of SEMANTICS.md section 3
// (the ops attn-quantize splits out for the CPU): kernels that read Q, K
// and V once and write what the attention kernel's tensor-core
// instructions read, into scratch buffers the launcher allocates:
//
//   key mean      K [B, Hkv, Nk, D] -> per 256-key chunk channel sums
//   quantize K    K - mean -> int8/int4 rows + per-token scales
//   quantize Q    Q -> int8/int4 rows + per-token scales (+ the LSE
//                 correction of smooth_k)
//   Q block mean  smooth_q: the mean of Q over each block of queries
//   dS            smooth_q: dS[block, j] = mean_q[block] . (K[j] - mean_k)
//   convert V     V -> the 16-bit type of P.V
//   V max         per 256-key chunk channel maxima of |V| (FP8 P.V)
//   quantize V    V -> E4M3 V^T per key tile, k-slots permuted to the
//                 order P's registers hold the keys in
//                 (docs/design/FragmentLayouts.md)
//
// The layouts differ from the CPU emulation's f32 buffers (packed bytes,
// dense rows), which is why the GPU splits here, where they are known. The
// arithmetic is the CPU emulation's: means, smoothing, maxima and x / scale
// in f64 with f32 scales, so the quantized Q and K agree with it bit for
// bit up to the order of the mean's sums; FP8 V rounds V / scale once, in
// f64, to the E4M3 grid, as the emulation does.
//
//===----------------------------------------------------------------------===//

#include "QuantizeKernels.h"

#include "KernelBuilderBase.h"
#include "Minifloats.h"
#include "MmaEngine.h"
#include "NvvmIntrinsics.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Keys per chunk of the key-mean kernel.
static constexpr int64_t kMeanChunk = 256;
/// Tokens per thread block of the quantize kernel for token granularity.
static constexpr int64_t kTokenSpan = 64;
/// Warps of the quantize and convert kernels.
static constexpr int64_t kWarps = 4;
/// Tokens a warp of the quantize kernel handles at once (their loads in
/// flight together: the kernel is latency-bound).
static constexpr int64_t kTokensPerStep = 4;
/// Per-channel f64 values the block shares: the K mean, or FP8 V's scales.
static constexpr StringLiteral kChannelsSymbol = "attn_quantize_channels";
static constexpr StringLiteral kValueTileSymbol = "attn_quantize_value_tile";
/// Largest V^T tile the quantize-V kernel stages: Dv <= 256 channels of
/// key tiles of <= 128 tokens.
static constexpr int64_t kValueTileBytes = 256 * 128;

namespace {

class QuantizeKernelBuilder : KernelBuilderBase {
public:
  QuantizeKernelBuilder(AttentionOp op, gpu::GPUModuleOp module,
                        MmaFamily family, const KernelPrecision &precision)
      : KernelBuilderBase(op, module), family(family), precision(precision) {}

  /// Per 256-key chunk channel sums of K (`ofValues` false) or maxima of
  /// |V| (true).
  KernelLaunch buildChannelPartials(StringRef name, bool ofValues);
  /// Q (`isQuery`) or K quantized per scale group.
  KernelLaunch buildQuantizeRows(StringRef name, bool isQuery);
  KernelLaunch buildConvertValue(StringRef name);
  KernelLaunch buildQueryBlockMean(StringRef name);
  KernelLaunch buildScoreCorrection(StringRef name);
  KernelLaunch buildQuantizeValueFp8(StringRef name, const TileGeometry &keys);
  KernelLaunch buildQuantizeValueNvfp4(StringRef name,
                                       const TileGeometry &keys);

  /// The V kernels' launch: the size parameters after the kernel's own,
  /// then one block per key tile of the attention kernel (and kv head,
  /// batch element): (key tile, kv head, batch, thread, seq_k).
  std::tuple<Value, Value, Value, Value, Value>
  beginValueTileKernel(StringRef name, const TileGeometry &keys) {
    addParam("batch", b.getI32Type());
    addParam("seq_k", b.getI32Type());
    createFunction(name, kWarps * 32);
    BlockCoordinates block = launchOverHeads(tileCountFactor(keys, "seq_k"),
                                             op.getNumKeyValueHeads());
    return {block.x, block.headSlot, block.batch,
            gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x),
            toIndex(param("seq_k"))};
  }
  /// NVFP4 pass of buildQuantizeRows for one token (row `row` of the
  /// buffers): lanes own channel pairs, 8 lanes a block of 16 channels.
  using SmoothFn = function_ref<std::array<Value, 3>(
      const std::array<Value, 2> &, Value, int64_t, bool)>;
  void emitNvfp4Row(ArrayRef<std::array<Value, 2>> raw, SmoothFn smooth,
                    Value token, Value valid, Value row, Value lane,
                    int64_t pairsPerLane, int64_t stagedPairs,
                    StringRef prefix);

private:
  Value i64(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
  }
  Value maxF(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value f64(double v) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
  }
  Value toF64(Value v) {
    if (v.getType().isF64())
      return v;
    return arith::ExtFOp::create(b, loc, b.getF64Type(), v);
  }
  Value truncToF32(Value v) {
    return arith::TruncFOp::create(b, loc, b.getF32Type(), v);
  }
  /// `x` (f64) rounded to nearest even on the E4M3 grid (3 fraction bits,
  /// smallest normal exponent -6, subnormals below), exactly: the quantum
  /// of x's binade is a power of two built from its exponent bits.
  Value roundToE4M3Grid(Value x) {
    constexpr int64_t kFractionBits = 3, kMinExponent = -6;
    Type i64Type = b.getI64Type();
    Value bits = arith::BitcastOp::create(b, loc, i64Type, x);
    Value biased = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, bits, i64(52)), i64(0x7ff));
    Value exponent = arith::MaxSIOp::create(
        b, loc, arith::SubIOp::create(b, loc, biased, i64(1023)),
        i64(kMinExponent));
    Value quantumBits = arith::ShLIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, exponent, i64(1023 - kFractionBits)),
        i64(52));
    Value quantum =
        arith::BitcastOp::create(b, loc, b.getF64Type(), quantumBits);
    Value steps =
        nb::roundToInt(b, loc, arith::DivFOp::create(b, loc, x, quantum));
    return arith::MulFOp::create(
        b, loc, arith::SIToFPOp::create(b, loc, b.getF64Type(), steps),
        quantum);
  }
  /// The NVFP4 block scale of a block of largest magnitude `absMax` (f64):
  /// E4M3(absMax / 6), saturating, and 1 for an all-zero block.
  Value nvfp4BlockScale(Value absMax) {
    Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                         absMax, f64(0));
    Value scale = arith::MinimumFOp::create(
        b, loc, roundToE4M3Grid(arith::DivFOp::create(b, loc, absMax, f64(6))),
        f64(448));
    return arith::SelectOp::create(b, loc, isZero, f64(1), scale);
  }
  /// The E2M1 code (i32) of `x` in a block of scale `scale` (f64): of
  /// x / scale rounded once, 0 where the scale rounded to 0.
  Value nvfp4Code(Value x, Value scale) {
    Value isZero =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, scale, f64(0));
    Value code =
        nb::emulatedE2M1Code(b, loc, arith::DivFOp::create(b, loc, x, scale));
    return arith::SelectOp::create(
        b, loc, isZero, arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0),
        code);
  }
  Value minIndex(Value x, Value y) {
    return arith::MinSIOp::create(b, loc, x, y);
  }
  /// A value reduced over the 32 lanes of a warp.
  Value warpReduce(Value v, bool isMax) {
    for (int64_t mask : {16, 8, 4, 2, 1}) {
      Value other = nb::shuffleXor(b, loc, v, mask);
      v = isMax ? maxF(v, other)
                : Value(arith::AddFOp::create(b, loc, v, other));
    }
    return v;
  }
  /// scf.for over [lb, ub) by `step` carrying `init`.
  Value reduceLoop(Value lb, Value ub, Value step, Value init,
                   function_ref<Value(Value, Value)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step, ValueRange{init});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    scf::YieldOp::create(
        b, loc, body(loop.getInductionVar(), loop.getRegionIterArgs()[0]));
    return loop.getResult(0);
  }
  void forLoop(Value lb, Value ub, Value step, function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  }
  void ifThen(Value condition, function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, loc, condition, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  }
  /// Element [batch, head, token, channel] of the strided input `name`.
  Value inputElement(StringRef name, Value batch, Value head, Value token,
                     Value channel) {
    return i64Add(elementOffset({{batch, (name + "_stride_b").str()},
                                 {head, (name + "_stride_h").str()},
                                 {token, (name + "_stride_n").str()}}),
                  toI64(channel));
  }
  /// Channels 2p, 2p + 1 of an input row as f32.
  std::array<Value, 2> loadPair(StringRef name, Value element) {
    Type inputType = cast<MemRefType>(op.getQuery().getType()).getElementType();
    Value pair = loadGlobal(VectorType::get({2}, inputType),
                            globalAt(param(name), element, 2));
    return {toF32(vector::ExtractOp::create(b, loc, pair, 0)),
            toF32(vector::ExtractOp::create(b, loc, pair, 1))};
  }
  /// Declares the shared array `symbol` of `count` elements of `type`.
  void declareShared(StringRef symbol, Type type, int64_t count) {
    if (module.lookupSymbol(symbol))
      return;
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(module.getBody());
    LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(type, count),
                           /*isConstant=*/false, LLVM::Linkage::Internal,
                           symbol, Attribute(), /*alignment=*/16,
                           /*addrSpace=*/3);
  }
  /// Element `index` of the shared array `symbol` of `type`.
  Value sharedElement(StringRef symbol, Type type, Value index) {
    Value base = LLVM::AddressOfOp::create(
        b, loc, module.lookupSymbol<LLVM::GlobalOp>(symbol));
    return LLVM::GEPOp::create(
        b, loc, sharedPtrType(), type, base,
        ValueRange{arith::IndexCastOp::create(b, loc, b.getI32Type(), index)});
  }
  /// Fills `attn_quantize_channels` (shared, D f64) with the per-channel
  /// reduction of the chunk partials `partials` of (batch, kvHead): the K
  /// mean (f64 sums / Nk), or the FP8 V scale (f32(max / 448), 1 when 0).
  void emitChannelsToShared(StringRef partials, int64_t channels, Value batch,
                            Value kvHead, Value seqK, bool valueScale);
  Value sharedChannel(Value channel) {
    return LLVM::LoadOp::create(
        b, loc, b.getF64Type(),
        sharedElement(kChannelsSymbol, b.getF64Type(), channel));
  }

  MmaFamily family;
  const KernelPrecision &precision;
};

} // namespace

//===----------------------------------------------------------------------===//
// Key mean (smooth_k)
//===----------------------------------------------------------------------===//

KernelLaunch QuantizeKernelBuilder::buildChannelPartials(StringRef name,
                                                         bool ofValues) {
  // One thread per channel pair, one block per (256-key chunk, kv head,
  // batch): each writes its chunk's channel sums (maxima), which the
  // consumers reduce (f64 sums of K; f32 maxima of |V|, exact).
  int64_t headDim = ofValues ? op.getValueHeadDim() : op.getHeadDim();
  StringRef input = ofValues ? "v" : "k";
  StringRef partials = ofValues ? "v_absmax_partial" : "k_mean_partial";
  addTensorParams(input, ofValues ? op.getValue() : op.getKey(),
                  {"b", "h", "n"});
  addParam(partials, globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_k", b.getI32Type());
  createFunction(name, headDim / 2);
  BlockCoordinates block = launchOverHeads(GridFactor{1, "seq_k", kMeanChunk},
                                           op.getNumKeyValueHeads());
  Value chunk = block.x, head = block.headSlot, batch = block.batch;
  Value pairIndex = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value seqK = toIndex(param("seq_k"));
  Value first = mul(chunk, idx(kMeanChunk));
  Value end = minIndex(add(first, idx(kMeanChunk)), seqK);
  Value channel = mul(pairIndex, idx(2));
  // Four keys per iteration, as independent loads; keys past the end read
  // the chunk's first key and add nothing.
  constexpr int64_t kUnroll = 4;
  // K: f64 sums (exact enough to agree with the emulation); V: f32 maxima
  // (exact: |v| of f16/bf16 values).
  Value zero = ofValues ? f32(0) : f64(0);
  auto loop = scf::ForOp::create(b, loc, first, end, idx(kUnroll),
                                 ValueRange{zero, zero});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = loop.getInductionVar();
    SmallVector<Value> sums(loop.getRegionIterArgs());
    for (int64_t u = 0; u < kUnroll; ++u) {
      Value token = add(t, idx(u));
      Value valid = lt(token, end);
      std::array<Value, 2> x =
          loadPair(input, inputElement(input, batch, head,
                                       select(valid, token, first), channel));
      for (int64_t e = 0; e < 2; ++e) {
        Value term = select(valid, x[e], f32(0));
        sums[e] =
            ofValues
                ? maxF(sums[e], maxF(term, arith::NegFOp::create(b, loc, term)))
                : Value(arith::AddFOp::create(b, loc, sums[e], toF64(term)));
      }
    }
    scf::YieldOp::create(b, loc, sums);
  }
  Value numChunks = arith::CeilDivSIOp::create(b, loc, seqK, idx(kMeanChunk));
  Value row =
      scratchRow(batch, op.getNumKeyValueHeads(), head, numChunks, chunk);
  Value element = i64Add(i64Mul(row, i64(headDim)), toI64(channel));
  Type partialType = ofValues ? b.getF32Type() : b.getF64Type();
  Value pair = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, partialType), loop.getResults());
  LLVM::StoreOp::create(
      b, loc, pair, globalAt(param(partials), element, byteWidth(partialType)));
  finishFunction();
  return launch;
}

void QuantizeKernelBuilder::emitChannelsToShared(StringRef partials,
                                                 int64_t headDim, Value batch,
                                                 Value kvHead, Value seqK,
                                                 bool valueScale) {
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value numChunks = arith::CeilDivSIOp::create(b, loc, seqK, idx(kMeanChunk));
  Value count = arith::UIToFPOp::create(
      b, loc, b.getF64Type(),
      arith::IndexCastOp::create(b, loc, b.getI32Type(), seqK));
  Type partialType = valueScale ? b.getF32Type() : b.getF64Type();
  Value rowBase =
      scratchIndex(batch, op.getNumKeyValueHeads(), kvHead, numChunks);
  // One channel per thread of the block and round.
  for (int64_t c0 = 0; c0 < headDim; c0 += launch.blockSize) {
    Value channel = add(tid, idx(c0));
    ifThen(lt(channel, idx(headDim)), [&] {
      Value total = reduceLoop(
          idx(0), numChunks, idx(1), valueScale ? f32(0) : f64(0),
          [&](Value chunk, Value acc) -> Value {
            Value element =
                i64Add(i64Mul(toI64(add(rowBase, chunk)), i64(headDim)),
                       toI64(channel));
            Value partial =
                loadGlobal(partialType, globalAt(param(partials), element,
                                                 byteWidth(partialType)));
            return valueScale
                       ? maxF(acc, partial)
                       : Value(arith::AddFOp::create(b, loc, acc, partial));
          });
      Value result;
      if (valueScale) {
        // f32(max / 448) as the emulation rounds it, kept as f64.
        Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                             total, f32(0));
        result = toF64(select(
            isZero, f32(1),
            truncToF32(arith::DivFOp::create(b, loc, toF64(total), f64(448)))));
      } else {
        result = arith::DivFOp::create(b, loc, total, count);
      }
      LLVM::StoreOp::create(
          b, loc, result,
          sharedElement(kChannelsSymbol, b.getF64Type(), channel));
    });
  }
  gpu::BarrierOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// Quantize Q or K
//===----------------------------------------------------------------------===//

KernelLaunch QuantizeKernelBuilder::buildQuantizeRows(StringRef name,
                                                      bool isQuery) {
  // One block per span of tokens that holds whole scale groups (a block of
  // the granularity, 64 tokens for token granularity, the sequence for
  // tensor); one warp per token, the lanes over channel pairs. Pass 1
  // writes each token's max|x'|; pass 2 forms the group's scale and writes
  // the values.
  int64_t headDim = op.getHeadDim();
  int64_t numHeads = isQuery ? op.getNumQueryHeads() : op.getNumKeyValueHeads();
  StringRef input = isQuery ? "q" : "k";
  std::string prefix = input.str();
  StringRef lengthArg = isQuery ? "seq_q" : "seq_k";
  bool subtractMean = precision.smoothK && !isQuery;
  bool subtractBlockMean = precision.smoothQ && isQuery;
  bool lseCorrection = precision.smoothK && isQuery && op.getLseOutput();
  bool needsMean = subtractMean || lseCorrection;
  // NVFP4: one E4M3 scale per 16 channels of a token, found in pass 2
  // (pass 1 runs only for the LSE's q.mean(K)).
  bool nvfp4 = precision.qkNvfp4;

  addTensorParams(input, isQuery ? op.getQuery() : op.getKey(),
                  {"b", "h", "n"});
  if (needsMean)
    addParam("k_mean_partial", globalPtrType());
  if (subtractBlockMean)
    addParam("q_block_mean", globalPtrType());
  addParam(prefix + "_quant", globalPtrType());
  addParam(prefix + "_scale", globalPtrType());
  addParam(prefix + "_absmax", globalPtrType());
  if (lseCorrection)
    addParam("lse_correction", globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  addParam("seq_k", b.getI32Type());
  if (needsMean)
    declareShared(kChannelsSymbol, b.getF64Type(), 256);
  createFunction(name, kWarps * 32);

  GranularityKind kind = precision.granularity;
  int64_t span =
      kind == GranularityKind::Token ? kTokenSpan : precision.granularitySize;
  BlockCoordinates block = launchOverHeads(
      kind == GranularityKind::Tensor ? GridFactor{1, "", 1}
                                      : GridFactor{1, lengthArg.str(), span},
      numHeads);
  Value spanIndex = block.x, head = block.headSlot, batch = block.batch;
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = rem(tid, 32), warp = div(tid, 32);
  Value length = toIndex(param(lengthArg));
  Value seqK = toIndex(param("seq_k"));
  Value kvHead =
      isQuery ? div(head, op.getNumQueryHeads() / op.getNumKeyValueHeads())
              : head;
  Value spanFirst, spanLength;
  if (kind == GranularityKind::Tensor) {
    spanFirst = idx(0);
    spanLength = length;
  } else {
    spanFirst = mul(spanIndex, idx(span));
    spanLength = minIndex(idx(span), sub(length, spanFirst));
  }
  if (needsMean)
    emitChannelsToShared("k_mean_partial", headDim, batch, kvHead, seqK,
                         /*valueScale=*/false);

  // Rows are written at the staged head dim (getStagedHeadDim): the pairs
  // past the tensor's channels are written as zeros.
  int64_t pairs = headDim / 2;
  int64_t stagedPairs = getStagedHeadDim(headDim) / 2;
  int64_t pairsPerLane = llvm::divideCeil(stagedPairs, 32);
  // E4M3 saturates at 448 (SEMANTICS.md section 3).
  double qmax = precision.qkFloat8 ? 448 : precision.qkBits == 8 ? 127 : 7;
  int64_t rowBytes = precision.rowBytes(getStagedHeadDim(headDim));
  // Channels (2p, 2p + 1) of token t after smoothing; lanes past the
  // channels read pair 0 and count as zero.
  // The raw pair (the global load), then its smoothing: a warp handles
  // kTokensPerStep tokens at once and issues all their loads first.
  auto channelOf = [&](int64_t i) {
    Value pairIndex = add(lane, idx(32 * i));
    Value valid = lt(pairIndex, idx(pairs));
    return std::make_pair(mul(select(valid, pairIndex, idx(0)), idx(2)), valid);
  };
  auto loadRaw = [&](Value token, int64_t i) {
    return loadPair(
        input, inputElement(input, batch, head, token, channelOf(i).first));
  };
  // x' of channels (2p, 2p + 1) and, when `withDot` and the LSE needs it,
  // their part of q.mean(K) (of Q itself, before any smoothing).
  auto smooth = [&](const std::array<Value, 2> &x, Value token, int64_t i,
                    bool withDot) -> std::array<Value, 3> {
    auto [channel, valid] = channelOf(i);
    std::array<Value, 3> result;
    Value dot = f64(0);
    for (int64_t e = 0; e < 2; ++e) {
      Value c = add(channel, idx(e));
      Value value = toF64(x[e]);
      if (withDot && lseCorrection)
        dot = nb::fma(b, loc, value, sharedChannel(c), dot);
      if (subtractBlockMean) {
        // Q' = Q - mean of its block.
        Value blockRow =
            scratchRow(batch, numHeads, head,
                       arith::CeilDivSIOp::create(b, loc, length,
                                                  idx(precision.smoothQBlock)),
                       div(token, precision.smoothQBlock));
        Value element = i64Add(i64Mul(blockRow, i64(headDim)), toI64(c));
        value = arith::SubFOp::create(
            b, loc, value,
            loadGlobal(b.getF64Type(),
                       globalAt(param("q_block_mean"), element, 8)));
      } else if (subtractMean) {
        value = arith::SubFOp::create(b, loc, value, sharedChannel(c));
      }
      result[e] = select(valid, value, f64(0));
    }
    result[2] = select(valid, dot, f64(0));
    return result;
  };
  // max(x, -x): convert-gpu-to-nvvm would send fabs to libdevice.
  auto absOf = [&](Value v) {
    return maxF(v, arith::NegFOp::create(b, loc, v));
  };
  Value absmax = param(prefix + "_absmax");

  // Tokens r0 + u * kWarps (u < kTokensPerStep) of a warp's step: the
  // span position, whether it exists, and its token (the step's first,
  // which exists, stands in for those past the span).
  struct StepToken {
    Value position, valid, token;
  };
  auto stepTokens = [&](Value r0) {
    SmallVector<StepToken, kTokensPerStep> tokens;
    for (int64_t u = 0; u < kTokensPerStep; ++u) {
      Value r = add(r0, idx(u * kWarps));
      Value valid = lt(r, spanLength);
      tokens.push_back({r, valid, add(spanFirst, select(valid, r, r0))});
    }
    return tokens;
  };
  auto loadStep = [&](ArrayRef<StepToken> tokens) {
    SmallVector<SmallVector<std::array<Value, 2>>> raw(tokens.size());
    for (auto [u, t] : llvm::enumerate(tokens))
      for (int64_t i = 0; i < pairsPerLane; ++i)
        raw[u].push_back(loadRaw(t.token, i));
    return raw;
  };
  Value isLaneZero = cmp(arith::CmpIPredicate::eq, lane, idx(0));

  // Pass 1: max|x'| per token (and scale * q.mean(K) for the LSE).
  if (!nvfp4 || lseCorrection)
    forLoop(warp, spanLength, idx(kWarps * kTokensPerStep), [&](Value r0) {
      SmallVector<StepToken, kTokensPerStep> tokens = stepTokens(r0);
      auto raw = loadStep(tokens);
      for (size_t u = 0; u < tokens.size(); ++u) {
        const StepToken &t = tokens[u];
        Value localMax = f64(0), dot = f64(0);
        for (int64_t i = 0; i < pairsPerLane; ++i) {
          std::array<Value, 3> x =
              smooth(raw[u][i], t.token, i, /*withDot=*/true);
          localMax = maxF(localMax, maxF(absOf(x[0]), absOf(x[1])));
          dot = arith::AddFOp::create(b, loc, dot, x[2]);
        }
        Value tokenMax = warpReduce(localMax, /*isMax=*/true);
        Value tokenDot =
            lseCorrection ? warpReduce(dot, /*isMax=*/false) : Value();
        ifThen(andI(isLaneZero, t.valid), [&] {
          Value row = scratchRow(batch, numHeads, head, length, t.token);
          LLVM::StoreOp::create(b, loc, tokenMax, globalAt(absmax, row, 8));
          if (lseCorrection)
            LLVM::StoreOp::create(
                b, loc,
                truncToF32(arith::MulFOp::create(b, loc, tokenDot,
                                                 f64(*op.getEffectiveScale()))),
                globalAt(param("lse_correction"), row, 4));
        });
      }
    });
  gpu::BarrierOp::create(b, loc);

  // The max over tokens first, first + step, ... (count of them).
  auto groupMax = [&](Value first, Value count, int64_t step) {
    Value localMax = reduceLoop(
        lane, count, idx(32), f64(0), [&](Value i, Value m) -> Value {
          Value token = add(first, mul(i, idx(step)));
          Value row = scratchRow(batch, numHeads, head, length, token);
          return maxF(m, loadGlobal(b.getF64Type(), globalAt(absmax, row, 8)));
        });
    return warpReduce(localMax, /*isMax=*/true);
  };
  // Tensor and block groups are the whole span: one max per warp.
  Value spanMax;
  if (!nvfp4 &&
      (kind == GranularityKind::Tensor || kind == GranularityKind::Block))
    spanMax = groupMax(spanFirst, spanLength, 1);

  // Pass 2: scale = max / qmax (1 for an all-zero group), values =
  // round-half-to-even(x' / scale) clamped to [-qmax, qmax], or for E4M3
  // x' / scale rounded to nearest even, saturating.
  Type i32 = b.getI32Type();
  auto i32c = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, loc, i32, v);
  };
  forLoop(warp, spanLength, idx(kWarps * kTokensPerStep), [&](Value r0) {
    SmallVector<StepToken, kTokensPerStep> tokens = stepTokens(r0);
    auto raw = loadStep(tokens);
    for (auto [u, t] : llvm::enumerate(tokens)) {
      Value r = select(t.valid, t.position, r0);
      Value token = t.token;
      Value row = scratchRow(batch, numHeads, head, length, token);
      if (nvfp4) {
        emitNvfp4Row(raw[u], smooth, token, t.valid, row, lane, pairsPerLane,
                     stagedPairs, prefix);
        continue;
      }
      Value maxValue;
      switch (kind) {
      case GranularityKind::Tensor:
      case GranularityKind::Block:
        maxValue = spanMax;
        break;
      case GranularityKind::Thread: {
        // Tokens of the block with this token's index mod 8.
        Value phase = rem(r, 8);
        Value count =
            arith::CeilDivSIOp::create(b, loc, sub(spanLength, phase), idx(8));
        maxValue = groupMax(add(spanFirst, phase), count, 8);
        break;
      }
      case GranularityKind::Token:
        maxValue = loadGlobal(b.getF64Type(), globalAt(absmax, row, 8));
        break;
      }
      Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           maxValue, f64(0));
      Value scale = select(
          isZero, f32(1),
          truncToF32(arith::DivFOp::create(b, loc, maxValue, f64(qmax))));
      Value scale64 = toF64(scale);
      ifThen(andI(isLaneZero, t.valid), [&] {
        LLVM::StoreOp::create(b, loc, scale,
                              globalAt(param(prefix + "_scale"), row, 4));
      });
      for (int64_t i = 0; i < pairsPerLane; ++i) {
        Value pairIndex = add(lane, idx(32 * i));
        std::array<Value, 3> x = smooth(raw[u][i], token, i, /*withDot=*/false);
        std::array<Value, 2> q;
        Value float8Pair;
        if (precision.qkFloat8) {
          auto scaled = [&](int64_t e) {
            return truncToF32(arith::DivFOp::create(b, loc, x[e], scale64));
          };
          float8Pair = nb::packE4M3Pair(b, loc, scaled(0), scaled(1));
        }
        for (int64_t e = 0; e < 2 && !precision.qkFloat8; ++e) {
          Value v = nb::roundToInt(
              b, loc, arith::DivFOp::create(b, loc, x[e], scale64));
          v = arith::MaxSIOp::create(
              b, loc, arith::MinSIOp::create(b, loc, v, i32c(qmax)),
              i32c(-qmax));
          q[e] = v;
        }
        auto store = [&] {
          Value rowStart = i64Mul(row, i64(rowBytes));
          if (precision.qkFloat8) {
            // Two bytes, channel 2p low.
            LLVM::StoreOp::create(
                b, loc, float8Pair,
                globalAt(param(prefix + "_quant"),
                         i64Add(rowStart, toI64(mul(pairIndex, idx(2)))), 1));
          } else if (precision.qkBits == 8) {
            // Two bytes, channel 2p low.
            Value low = arith::AndIOp::create(b, loc, q[0], i32c(0xff));
            Value high = arith::ShLIOp::create(
                b, loc, arith::AndIOp::create(b, loc, q[1], i32c(0xff)),
                i32c(8));
            Value packed = arith::TruncIOp::create(
                b, loc, b.getI16Type(),
                arith::OrIOp::create(b, loc, low, high));
            LLVM::StoreOp::create(
                b, loc, packed,
                globalAt(param(prefix + "_quant"),
                         i64Add(rowStart, toI64(mul(pairIndex, idx(2)))), 1));
          } else {
            // One byte, channel 2p in the low nibble.
            Value low = arith::AndIOp::create(b, loc, q[0], i32c(0xf));
            Value high = arith::ShLIOp::create(
                b, loc, arith::AndIOp::create(b, loc, q[1], i32c(0xf)),
                i32c(4));
            Value packed = arith::TruncIOp::create(
                b, loc, b.getI8Type(), arith::OrIOp::create(b, loc, low, high));
            LLVM::StoreOp::create(b, loc, packed,
                                  globalAt(param(prefix + "_quant"),
                                           i64Add(rowStart, toI64(pairIndex)),
                                           1));
          }
        };
        Value writes = t.valid;
        if (32 * (i + 1) > stagedPairs)
          writes = andI(writes, lt(pairIndex, idx(stagedPairs)));
        ifThen(writes, store);
      }
    }
  });
  finishFunction();
  return launch;
}

void QuantizeKernelBuilder::emitNvfp4Row(ArrayRef<std::array<Value, 2>> raw,
                                         SmoothFn smooth, Value token,
                                         Value valid, Value row, Value lane,
                                         int64_t pairsPerLane,
                                         int64_t stagedPairs,
                                         StringRef prefix) {
  // Scale bytes [row][D / 16], value bytes [row][D / 2] (channel 2p in the
  // low nibble): the arithmetic of the CPU emulation (f64 maxima, E4M3
  // rounding and quotients).
  int64_t rowBytes = precision.rowBytes(2 * stagedPairs);
  int64_t scaleBytes = nvfp4ScaleBytes(2 * stagedPairs);
  Type i32 = b.getI32Type();
  auto i32c = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, loc, i32, v);
  };
  auto absOf = [&](Value v) {
    return maxF(v, arith::NegFOp::create(b, loc, v));
  };
  for (int64_t i = 0; i < pairsPerLane; ++i) {
    Value pairIndex = add(lane, idx(32 * i));
    std::array<Value, 3> x = smooth(raw[i], token, i, /*withDot=*/false);
    Value blockMax = maxF(absOf(x[0]), absOf(x[1]));
    for (int64_t mask : {1, 2, 4})
      blockMax = maxF(blockMax, nb::shuffleXor(b, loc, blockMax, mask));
    Value scale = nvfp4BlockScale(blockMax);
    Value packed = arith::OrIOp::create(
        b, loc, nvfp4Code(x[0], scale),
        arith::ShLIOp::create(b, loc, nvfp4Code(x[1], scale), i32c(4)));
    Value writes = valid;
    if (32 * (i + 1) > stagedPairs)
      writes = andI(writes, lt(pairIndex, idx(stagedPairs)));
    ifThen(writes, [&] {
      LLVM::StoreOp::create(
          b, loc, arith::TruncIOp::create(b, loc, b.getI8Type(), packed),
          globalAt(param((prefix + "_quant").str()),
                   i64Add(i64Mul(row, toI64(idx(rowBytes))), toI64(pairIndex)),
                   1));
    });
    // The block's first lane writes its scale.
    Value firstOfBlock =
        cmp(arith::CmpIPredicate::eq, rem(pairIndex, 8), idx(0));
    ifThen(andI(writes, firstOfBlock), [&] {
      Value byte = nb::encodeE4M3(b, loc, truncToF32(scale));
      LLVM::StoreOp::create(
          b, loc, arith::TruncIOp::create(b, loc, b.getI8Type(), byte),
          globalAt(param((prefix + "_scale").str()),
                   i64Add(i64Mul(row, toI64(idx(scaleBytes))),
                          toI64(div(pairIndex, 8))),
                   1));
    });
  }
}

//===----------------------------------------------------------------------===//
// V to the P.V type
//===----------------------------------------------------------------------===//

KernelLaunch QuantizeKernelBuilder::buildConvertValue(StringRef name) {
  // V rounded to the 16-bit type of P.V, dense [B, Hkv, Nk, Dv] at the
  // staged Dv (zeros past V's channels).
  constexpr int64_t kTokens = 64;
  int64_t valueDim = getStagedHeadDim(op.getValueHeadDim());
  int64_t pairs = valueDim / 2;
  int64_t sourcePairs = op.getValueHeadDim() / 2;
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addParam("v_rounded", globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_k", b.getI32Type());
  createFunction(name, kWarps * 32);
  BlockCoordinates block = launchOverHeads(GridFactor{1, "seq_k", kTokens},
                                           op.getNumKeyValueHeads());
  Value head = block.headSlot, batch = block.batch;
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value first = mul(block.x, idx(kTokens));
  Value seqK = toIndex(param("seq_k"));
  Value count = mul(minIndex(idx(kTokens), sub(seqK, first)), idx(pairs));
  Type pairType = VectorType::get({2}, precision.pvType);
  forLoop(tid, count, idx(kWarps * 32), [&](Value i) {
    Value token = add(first, div(i, pairs));
    Value channel = mul(rem(i, pairs), idx(2));
    Value source = lt(rem(i, pairs), idx(sourcePairs));
    std::array<Value, 2> x =
        loadPair("v", inputElement("v", batch, head, token,
                                   select(source, channel, idx(0))));
    for (Value &element : x)
      element = select(source, element, f32(0));
    Value rounded = vector::FromElementsOp::create(
        b, loc, pairType,
        ValueRange{fromF32(x[0], precision.pvType),
                   fromF32(x[1], precision.pvType)});
    Value element = i64Add(
        i64Mul(scratchRow(batch, op.getNumKeyValueHeads(), head, seqK, token),
               i64(valueDim)),
        toI64(channel));
    LLVM::StoreOp::create(b, loc, rounded,
                          globalAt(param("v_rounded"), element, 2));
  });
  finishFunction();
  return launch;
}

//===----------------------------------------------------------------------===//
// smooth_q: block means of Q and the score correction dS
//===----------------------------------------------------------------------===//

KernelLaunch QuantizeKernelBuilder::buildQueryBlockMean(StringRef name) {
  // One thread per channel pair, one block of threads per query block.
  int64_t headDim = op.getHeadDim();
  int64_t block = precision.smoothQBlock;
  int64_t numHeads = op.getNumQueryHeads();
  addTensorParams("q", op.getQuery(), {"b", "h", "n"});
  addParam("q_block_mean", globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  createFunction(name, headDim / 2);
  BlockCoordinates coordinates =
      launchOverHeads(GridFactor{1, "seq_q", block}, numHeads);
  Value blockIndex = coordinates.x, head = coordinates.headSlot,
        batch = coordinates.batch;
  Value channel =
      mul(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x), idx(2));
  Value seqQ = toIndex(param("seq_q"));
  Value first = mul(blockIndex, idx(block));
  Value end = minIndex(add(first, idx(block)), seqQ);
  auto loop = scf::ForOp::create(b, loc, first, end, idx(1),
                                 ValueRange{f64(0), f64(0)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    std::array<Value, 2> x = loadPair(
        "q", inputElement("q", batch, head, loop.getInductionVar(), channel));
    scf::YieldOp::create(
        b, loc,
        ValueRange{arith::AddFOp::create(b, loc, loop.getRegionIterArgs()[0],
                                         toF64(x[0])),
                   arith::AddFOp::create(b, loc, loop.getRegionIterArgs()[1],
                                         toF64(x[1]))});
  }
  Value count = arith::UIToFPOp::create(
      b, loc, b.getF64Type(),
      arith::IndexCastOp::create(b, loc, b.getI32Type(), sub(end, first)));
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, seqQ, idx(block));
  Value row = scratchRow(batch, numHeads, head, numBlocks, blockIndex);
  Value means = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF64Type()),
      ValueRange{arith::DivFOp::create(b, loc, loop.getResult(0), count),
                 arith::DivFOp::create(b, loc, loop.getResult(1), count)});
  LLVM::StoreOp::create(
      b, loc, means,
      globalAt(param("q_block_mean"),
               i64Add(i64Mul(row, i64(headDim)), toI64(channel)), 8));
  finishFunction();
  return launch;
}

KernelLaunch QuantizeKernelBuilder::buildScoreCorrection(StringRef name) {
  // dS[b, h, blk, j] = sum_d mean_q[blk, d] (K[j, d] - mean_k[d]) in f32:
  // a [blocks x D] by [D x Nk] product per head, 64 x 64 outputs per
  // thread block, 4 x 4 per thread, D in steps of 16 through shared
  // memory.
  constexpr int64_t kTile = 64, kStep = 16, kThreads = 256;
  int64_t headDim = op.getHeadDim();
  int64_t numHeads = op.getNumQueryHeads();
  int64_t block = precision.smoothQBlock;
  addTensorParams("k", op.getKey(), {"b", "h", "n"});
  if (precision.smoothK)
    addParam("k_mean_partial", globalPtrType());
  addParam("q_block_mean", globalPtrType());
  addParam("score_correction", globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  addParam("seq_k", b.getI32Type());
  if (precision.smoothK)
    declareShared(kChannelsSymbol, b.getF64Type(), 256);
  declareShared("attn_quantize_block_means", b.getF32Type(), kTile * kStep);
  declareShared("attn_quantize_keys", b.getF32Type(), kTile * kStep);
  createFunction(name, kThreads);
  BlockCoordinates coordinates =
      launchOverHeads(GridFactor{1, "seq_k", kTile}, numHeads);
  Value head = coordinates.headSlot, batch = coordinates.batch;
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value keyFirst = mul(coordinates.x, idx(kTile));
  Value kvHead = div(head, numHeads / op.getNumKeyValueHeads());
  Value seqQ = toIndex(param("seq_q")), seqK = toIndex(param("seq_k"));
  if (precision.smoothK)
    emitChannelsToShared("k_mean_partial", headDim, batch, kvHead, seqK,
                         /*valueScale=*/false);
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, seqQ, idx(block));
  Value blockRowBase = scratchIndex(batch, numHeads, head, numBlocks);
  Value ty = div(tid, 16), tx = rem(tid, 16);
  Type f32Type = b.getF32Type();
  auto meansAt = [&](Value i) {
    return sharedElement("attn_quantize_block_means", f32Type, i);
  };
  auto keysAt = [&](Value i) {
    return sharedElement("attn_quantize_keys", f32Type, i);
  };
  // Rows of blocks in chunks of 64.
  forLoop(idx(0), numBlocks, idx(kTile), [&](Value blockFirst) {
    SmallVector<Value> init(16, f32(0));
    auto steps =
        scf::ForOp::create(b, loc, idx(0), idx(headDim), idx(kStep), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(steps.getBody());
      Value d0 = steps.getInductionVar();
      // Stage [64 x 16] of the means and of K - mean_k (0 outside).
      for (int64_t i = 0; i < kTile * kStep / kThreads; ++i) {
        Value flat = add(tid, idx(i * kThreads));
        Value r = div(flat, kStep), d = add(d0, rem(flat, kStep));
        // The last step of a D that is no multiple of 16 reads channels
        // past the row: they count as zero.
        Value channelValid = lt(d, idx(headDim));
        d = select(channelValid, d, idx(0));
        Value blk = add(blockFirst, r);
        Value blockValid = andI(lt(blk, numBlocks), channelValid);
        Value meanElement = i64Add(
            i64Mul(toI64(add(blockRowBase, select(blockValid, blk, idx(0)))),
                   i64(headDim)),
            toI64(d));
        Value mean = select(blockValid,
                            truncToF32(loadGlobal(
                                b.getF64Type(), globalAt(param("q_block_mean"),
                                                         meanElement, 8))),
                            f32(0));
        LLVM::StoreOp::create(b, loc, mean, meansAt(flat));
        Value key = add(keyFirst, r);
        Value keyValid = andI(lt(key, seqK), channelValid);
        Type inputType =
            cast<MemRefType>(op.getKey().getType()).getElementType();
        Value x = toF32(loadGlobal(
            inputType, globalAt(param("k"),
                                inputElement("k", batch, kvHead,
                                             select(keyValid, key, idx(0)), d),
                                2)));
        if (precision.smoothK)
          x = truncToF32(
              arith::SubFOp::create(b, loc, toF64(x), sharedChannel(d)));
        LLVM::StoreOp::create(b, loc, select(keyValid, x, f32(0)),
                              keysAt(flat));
      }
      gpu::BarrierOp::create(b, loc);
      SmallVector<Value> acc(steps.getRegionIterArgs());
      for (int64_t d = 0; d < kStep; ++d) {
        std::array<Value, 4> means, keyValues;
        for (int64_t i = 0; i < 4; ++i) {
          means[i] = LLVM::LoadOp::create(
              b, loc, f32Type,
              meansAt(
                  add(mul(add(mul(ty, idx(4)), idx(i)), idx(kStep)), idx(d))));
          keyValues[i] = LLVM::LoadOp::create(
              b, loc, f32Type,
              keysAt(
                  add(mul(add(mul(tx, idx(4)), idx(i)), idx(kStep)), idx(d))));
        }
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 4; ++j)
            acc[4 * i + j] =
                nb::fma(b, loc, means[i], keyValues[j], acc[4 * i + j]);
      }
      gpu::BarrierOp::create(b, loc);
      scf::YieldOp::create(b, loc, acc);
    }
    for (int64_t i = 0; i < 4; ++i) {
      Value blk = add(blockFirst, add(mul(ty, idx(4)), idx(i)));
      for (int64_t j = 0; j < 4; ++j) {
        Value key = add(keyFirst, add(mul(tx, idx(4)), idx(j)));
        ifThen(andI(lt(blk, numBlocks), lt(key, seqK)), [&] {
          Value element = i64Add(
              i64Mul(toI64(add(blockRowBase, blk)), toI64(seqK)), toI64(key));
          LLVM::StoreOp::create(
              b, loc, steps.getResult(4 * i + j),
              globalAt(param("score_correction"), element, 4));
        });
      }
    }
  });
  finishFunction();
  return launch;
}

//===----------------------------------------------------------------------===//
// V to E4M3 V^T (FP8 P.V)
//===----------------------------------------------------------------------===//

KernelLaunch
QuantizeKernelBuilder::buildQuantizeValueFp8(StringRef name,
                                             const TileGeometry &keys) {
  // One block per key tile of the attention kernel: V / scale[c] in E4M3,
  // transposed to [Dv][slots of the tile] so that the P.V B operand is a
  // plain ldmatrix of rows of keys, with the 16 k-slots of each group in
  // the order P's accumulator registers hold the keys
  // (docs/design/FragmentLayouts.md). The tile is staged in shared memory: read
  // by rows of V, written by rows of V^T, both coalesced. Slots past the
  // sequence hold 0.
  // V^T has the staged Dv's rows: those past V's channels are zero, with
  // scale 1.
  int64_t sourceDim = op.getValueHeadDim();
  int64_t valueDim = getStagedHeadDim(sourceDim);
  int64_t pairs = valueDim / 2;
  int64_t numKvHeads = op.getNumKeyValueHeads();
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addParam("v_absmax_partial", globalPtrType());
  addParam("v_e4m3_t", globalPtrType());
  addParam("v_scale", globalPtrType());
  declareShared(kChannelsSymbol, b.getF64Type(), 256);
  declareShared(kValueTileSymbol, b.getI8Type(), kValueTileBytes);
  Value keyTile, head, batch, tid, seqK;
  std::tie(keyTile, head, batch, tid, seqK) = beginValueTileKernel(name, keys);
  emitChannelsToShared("v_absmax_partial", sourceDim, batch, head, seqK,
                       /*valueScale=*/true);
  auto isSource = [&](Value channel) { return lt(channel, idx(sourceDim)); };
  auto scaleOf = [&](Value channel) {
    return select(isSource(channel),
                  sharedChannel(select(isSource(channel), channel, idx(0))),
                  f64(1));
  };
  // Block 0 of each (batch, head) publishes the scales the epilogue
  // undoes.
  ifThen(cmp(arith::CmpIPredicate::eq, keyTile, idx(0)), [&] {
    for (int64_t c0 = 0; c0 < valueDim; c0 += kWarps * 32) {
      Value channel = add(tid, idx(c0));
      ifThen(lt(channel, idx(valueDim)), [&] {
        Value element =
            scratchRow(batch, numKvHeads, head, idx(valueDim), channel);
        LLVM::StoreOp::create(b, loc, truncToF32(scaleOf(channel)),
                              globalAt(param("v_scale"), element, 4));
      });
    }
  });

  Type i8 = b.getI8Type();
  int64_t tileTokens = keys.tokens;
  forLoop(tid, idx(tileTokens * pairs), idx(kWarps * 32), [&](Value i) {
    Value position = div(i, pairs);
    Value channel = mul(rem(i, pairs), idx(2));
    Value token, valid;
    std::tie(token, valid) = tokenOf(keys, keyTile, position, seqK);
    Value source = isSource(channel);
    std::array<Value, 2> x = loadPair(
        "v", inputElement("v", batch, head, select(valid, token, idx(0)),
                          select(source, channel, idx(0))));
    valid = andI(valid, source);
    // V / scale rounded once, in f64, to the E4M3 grid (the emulation's
    // rounding); the result is exact in f32, so the conversion below does
    // not round again. Dividing in f32 first would round twice, and
    // quotients within half an f32 ulp of an E4M3 midpoint would then
    // round the other way.
    std::array<Value, 2> scaled;
    for (int64_t e = 0; e < 2; ++e)
      scaled[e] =
          select(valid,
                 truncToF32(roundToE4M3Grid(arith::DivFOp::create(
                     b, loc, toF64(x[e]), scaleOf(add(channel, idx(e)))))),
                 f32(0));
    Value bytes = nb::packE4M3Pair(b, loc, scaled[0], scaled[1]);
    // The slot of the key in the family's FP8 V^T layout.
    Value slot = emitFp8ValueSlot(family, b, loc, position);
    for (int64_t e = 0; e < 2; ++e) {
      Value byte = arith::TruncIOp::create(
          b, loc, i8,
          arith::ShRUIOp::create(
              b, loc, bytes,
              arith::ConstantIntOp::create(b, loc, b.getI16Type(), 8 * e)));
      Value at = add(mul(add(channel, idx(e)), idx(tileTokens)), slot);
      LLVM::StoreOp::create(b, loc, byte,
                            sharedElement(kValueTileSymbol, i8, at));
    }
  });
  gpu::BarrierOp::create(b, loc);
  // Rows of V^T: [b, h, c] rows of `slots` bytes (whole key tiles, as the
  // attention kernel counts them), this tile at its offset.
  Value slots = mul(numTiles(keys, seqK), idx(tileTokens));
  int64_t rowChunks = tileTokens / 16;
  Type chunkType = VectorType::get({4}, b.getI32Type());
  forLoop(tid, idx(valueDim * rowChunks), idx(kWarps * 32), [&](Value i) {
    Value channel = div(i, rowChunks);
    Value chunk = rem(i, rowChunks);
    Value data = LLVM::LoadOp::create(
        b, loc, chunkType,
        sharedElement(kValueTileSymbol, i8,
                      add(mul(channel, idx(tileTokens)), mul(chunk, idx(16)))));
    Value row = scratchRow(batch, numKvHeads, head, idx(valueDim), channel);
    Value element =
        i64Add(i64Mul(row, toI64(slots)),
               toI64(add(mul(keyTile, idx(tileTokens)), mul(chunk, idx(16)))));
    LLVM::StoreOp::create(b, loc, data,
                          globalAt(param("v_e4m3_t"), element, 1));
  });
  finishFunction();
  return launch;
}

//===----------------------------------------------------------------------===//
// V to NVFP4 V^T (NVFP4 P.V)
//===----------------------------------------------------------------------===//

KernelLaunch
QuantizeKernelBuilder::buildQuantizeValueNvfp4(StringRef name,
                                               const TileGeometry &keys) {
  // One block per key tile of the attention kernel; a thread per (channel,
  // 16 keys), channels fastest (each of its 16 loads is coalesced across
  // the warp). Per channel, each 16 keys share E4M3(max / 6); the values
  // are E2M1, two keys per byte (the even key low), in V^T rows of whole
  // key tiles: `v_nvfp4_t` [B, Hkv, Dv, slots / 2], `v_block_scale`
  // [B, Hkv, Dv, slots / 16]. Keys past the sequence and channels past V's
  // are 0 (scale 1).
  int64_t sourceDim = op.getValueHeadDim();
  int64_t valueDim = getStagedHeadDim(sourceDim);
  int64_t numKvHeads = op.getNumKeyValueHeads();
  int64_t tileTokens = keys.tokens;
  int64_t blocksPerTile = tileTokens / 16;
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addParam("v_nvfp4_t", globalPtrType());
  addParam("v_block_scale", globalPtrType());
  Value keyTile, head, batch, tid, seqK;
  std::tie(keyTile, head, batch, tid, seqK) = beginValueTileKernel(name, keys);
  Value rowBytes = mul(numTiles(keys, seqK), idx(tileTokens / 2));
  Type inputType = cast<MemRefType>(op.getValue().getType()).getElementType();
  Type i64Type = b.getI64Type();
  forLoop(tid, idx(valueDim * blocksPerTile), idx(kWarps * 32), [&](Value i) {
    Value channel = rem(i, valueDim);
    Value keyBlock = div(i, valueDim);
    Value source = lt(channel, idx(sourceDim));
    SmallVector<Value, 16> x;
    Value absMax = f64(0);
    for (int64_t j = 0; j < 16; ++j) {
      Value token, valid;
      std::tie(token, valid) =
          tokenOf(keys, keyTile, add(mul(keyBlock, idx(16)), idx(j)), seqK);
      valid = andI(valid, source);
      Value loaded = loadGlobal(
          inputType,
          globalAt(param("v"),
                   inputElement("v", batch, head, select(valid, token, idx(0)),
                                select(source, channel, idx(0))),
                   2));
      Value value = select(valid, toF64(toF32(loaded)), f64(0));
      x.push_back(value);
      absMax = maxF(absMax, maxF(value, arith::NegFOp::create(b, loc, value)));
    }
    Value scale = nvfp4BlockScale(absMax);
    Value packed = arith::ConstantIntOp::create(b, loc, i64Type, 0);
    for (int64_t j = 0; j < 16; ++j)
      packed = arith::OrIOp::create(
          b, loc, packed,
          arith::ShLIOp::create(
              b, loc,
              arith::ExtUIOp::create(b, loc, i64Type, nvfp4Code(x[j], scale)),
              i64(4 * j)));
    Value row = scratchRow(batch, numKvHeads, head, idx(valueDim), channel);
    Value valueByte = i64Add(
        i64Mul(row, toI64(rowBytes)),
        toI64(add(mul(keyTile, idx(tileTokens / 2)), mul(keyBlock, idx(8)))));
    LLVM::StoreOp::create(b, loc, packed,
                          globalAt(param("v_nvfp4_t"), valueByte, 1));
    Value scaleByte =
        i64Add(i64Mul(row, toI64(div(rowBytes, idx(8)))),
               toI64(add(mul(keyTile, idx(blocksPerTile)), keyBlock)));
    Value byte = nb::encodeE4M3(b, loc, truncToF32(scale));
    LLVM::StoreOp::create(b, loc,
                          arith::TruncIOp::create(b, loc, b.getI8Type(), byte),
                          globalAt(param("v_block_scale"), scaleByte, 1));
  });
  finishFunction();
  return launch;
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

void mlir::attn::detail::emitQuantizationKernels(
    AttentionOp op, gpu::GPUModuleOp module, StringRef namePrefix,
    MmaFamily family, const KernelShape &shape,
    const KernelPrecision &precision, SmallVectorImpl<KernelLaunch> &launches,
    SmallVectorImpl<ScratchBuffer> &scratch) {
  int64_t headDim = op.getHeadDim();
  int64_t numHeads = op.getNumQueryHeads();
  int64_t numKvHeads = op.getNumKeyValueHeads();
  auto name = [&](StringRef suffix) { return (namePrefix + suffix).str(); };
  // Bytes of a dense [B, heads, length, rowBytes] buffer.
  auto dense = [](StringRef bufferName, int64_t heads, StringRef length,
                  int64_t rowBytes, int64_t lengthDivisor = 1) {
    return ScratchBuffer{bufferName.str(),
                         {GridFactor{1, "batch", 1}, GridFactor{heads, "", 1},
                          GridFactor{1, length.str(), lengthDivisor},
                          GridFactor{rowBytes, "", 1}}};
  };
  if (precision.quantizedQK()) {
    if (precision.smoothK) {
      launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                             .buildChannelPartials(name("_key_mean"),
                                                   /*ofValues=*/false));
      scratch.push_back(dense("k_mean_partial", numKvHeads, "seq_k",
                              headDim * 8, kMeanChunk));
    }
    if (precision.smoothQ) {
      int64_t block = precision.smoothQBlock;
      launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                             .buildQueryBlockMean(name("_query_block_mean")));
      launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                             .buildScoreCorrection(name("_score_correction")));
      scratch.push_back(
          dense("q_block_mean", numHeads, "seq_q", headDim * 8, block));
      // [B, Hq, blocks, Nk] f32.
      scratch.push_back(ScratchBuffer{
          "score_correction",
          {GridFactor{1, "batch", 1}, GridFactor{numHeads * 4, "", 1},
           GridFactor{1, "seq_q", block}, GridFactor{1, "seq_k", 1}}});
    }
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildQuantizeRows(name("_quantize_k"),
                                              /*isQuery=*/false));
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildQuantizeRows(name("_quantize_q"),
                                              /*isQuery=*/true));
    int64_t rowBytes = precision.rowBytes(getStagedHeadDim(headDim));
    // A token's f32 scale, or its NVFP4 E4M3 scales (one per 16 channels).
    int64_t scaleBytes =
        precision.qkNvfp4 ? nvfp4ScaleBytes(getStagedHeadDim(headDim)) : 4;
    for (auto [prefix, heads, length] :
         {std::tuple<StringRef, int64_t, StringRef>{"q", numHeads, "seq_q"},
          {"k", numKvHeads, "seq_k"}}) {
      scratch.push_back(
          dense((prefix + "_quant").str(), heads, length, rowBytes));
      scratch.push_back(
          dense((prefix + "_scale").str(), heads, length, scaleBytes));
      scratch.push_back(dense((prefix + "_absmax").str(), heads, length, 8));
    }
    if (precision.smoothK && op.getLseOutput())
      scratch.push_back(dense("lse_correction", numHeads, "seq_q", 4));
  }
  if (precision.fp8Value()) {
    TileGeometry keys = TileGeometry::of(shape.keyShape, shape.grid);
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildChannelPartials(name("_value_max"),
                                                 /*ofValues=*/true));
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildQuantizeValueFp8(name("_quantize_v"), keys));
    int64_t valueDim = getStagedHeadDim(op.getValueHeadDim());
    scratch.push_back(dense("v_absmax_partial", numKvHeads, "seq_k",
                            op.getValueHeadDim() * 4, kMeanChunk));
    scratch.push_back(
        ScratchBuffer{"v_scale",
                      {GridFactor{1, "batch", 1},
                       GridFactor{numKvHeads * valueDim * 4, "", 1}}});
    // [B, Hkv, Dv, slots]: whole key tiles.
    ScratchBuffer values{
        "v_e4m3_t",
        {GridFactor{1, "batch", 1}, GridFactor{numKvHeads * valueDim, "", 1}}};
    GridFactor slots = tileCountFactor(keys, "seq_k");
    slots.constant *= keys.tokens;
    values.bytes.push_back(slots);
    scratch.push_back(values);
  } else if (precision.fp4Value()) {
    TileGeometry keys = TileGeometry::of(shape.keyShape, shape.grid);
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildQuantizeValueNvfp4(name("_quantize_v"), keys));
    int64_t valueDim = getStagedHeadDim(op.getValueHeadDim());
    // [B, Hkv, Dv, slots / 2] and [B, Hkv, Dv, slots / 16]: whole key
    // tiles.
    for (auto [bufferName, perToken] :
         {std::pair<StringRef, int64_t>{"v_nvfp4_t", 2},
          {"v_block_scale", 16}}) {
      ScratchBuffer buffer{bufferName.str(),
                           {GridFactor{1, "batch", 1},
                            GridFactor{numKvHeads * valueDim, "", 1}}};
      GridFactor slots = tileCountFactor(keys, "seq_k");
      slots.constant *= keys.tokens / perToken;
      buffer.bytes.push_back(slots);
      scratch.push_back(buffer);
    }
  } else if (precision.roundedValue) {
    launches.push_back(QuantizeKernelBuilder(op, module, family, precision)
                           .buildConvertValue(name("_convert_v")));
    scratch.push_back(
        dense("v_rounded", numKvHeads, "seq_k",
              getStagedHeadDim(op.getValueHeadDim()) *
                  (precision.pvType.getIntOrFloatBitWidth() / 8)));
  }
}
