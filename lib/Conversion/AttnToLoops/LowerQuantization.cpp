//===- LowerQuantization.cpp - quantized precisions on the CPU ------------===//
//
// SEMANTICS.md section 3 on memrefs: the quantization pre-steps (smoothing
// means, quantization of Q, K and V per scale group), which lower the ops of
// attn-quantize and, for an attn.attention without a quantized bundle, run
// as pre-passes of its loop nest; and the minifloat roundings (E4M3, E2M1,
// NVFP4) the main loop applies to P.
//
//===----------------------------------------------------------------------===//

#include "LoopNestEmitter.h"

#include "attn/Conversion/AttnToLoops/AttnToLoops.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

Value QuantizationEmitter::roundToMinifloat(Value x, int64_t mantissaBits,
                                            int64_t minExponent,
                                            double maxValue) {
  // |x| = m 2^e with e = max(floor(log2 |x|), minExponent): the mantissa
  // bits give a quantum of 2^(e - mantissaBits) (subnormals below the
  // smallest normal exponent); round to even, saturate, keep the sign.
  auto constant = [&](double v) {
    return x.getType().isF64() ? f64(v) : f32(v);
  };
  Value ax = math::AbsFOp::create(b, loc, x);
  Value e = arith::MaximumFOp::create(
      b, loc, math::FloorOp::create(b, loc, math::Log2Op::create(b, loc, ax)),
      constant(minExponent));
  Value quantum = math::Exp2Op::create(
      b, loc, arith::SubFOp::create(b, loc, e, constant(mantissaBits)));
  Value rounded = arith::MulFOp::create(
      b, loc,
      math::RoundEvenOp::create(b, loc,
                                arith::DivFOp::create(b, loc, ax, quantum)),
      quantum);
  Value saturated =
      arith::MinimumFOp::create(b, loc, rounded, constant(maxValue));
  return math::CopySignOp::create(b, loc, saturated, x);
}

Value LoopNestEmitter::numScaleBlocks() {
  if (isNvfp4(precision.getQk()))
    return arith::CeilDivSIOp::create(b, loc, headDim, index(16));
  return index(1);
}

QuantizationEmitter::MeanFn QuantizationEmitter::getMeanFn(Value mean,
                                                           int64_t meanBlock) {
  if (!mean)
    return nullptr;
  if (cast<MemRefType>(mean.getType()).getRank() == 3)
    return [this, mean](Value batch, Value head, Value, Value d) {
      return toF64(load(mean, {batch, head, d}));
    };
  return [this, mean, meanBlock](Value batch, Value head, Value t, Value d) {
    Value block = arith::DivUIOp::create(b, loc, t, index(meanBlock));
    return toF64(load(mean, {batch, head, block, d}));
  };
}

void QuantizationEmitter::emitQuantizeRowsNvfp4(Value src, const MeanFn &mean,
                                                Value values,
                                                Value blockScales) {
  Value headDim = dim(src, 3);
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, headDim, index(16));
  loop(index(0), dim(src, 0), [&](Value batch) {
    loop(index(0), dim(src, 1), [&](Value head) {
      loop(index(0), dim(src, 2), [&](Value t) {
        loop(index(0), numBlocks, [&](Value block) {
          Value c0 = arith::MulIOp::create(b, loc, block, index(16));
          Value c1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, c0, index(16)), headDim);
          auto element = [&](Value d) {
            Value x = toF64(load(src, {batch, head, t, d}));
            if (mean)
              x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
            return x;
          };
          Value absMax = reduce(c0, c1, f64(0), [&](Value d, Value m) {
            return Value(arith::MaximumFOp::create(
                b, loc, m, math::AbsFOp::create(b, loc, element(d))));
          });
          Value scale = nvfp4BlockScale(absMax);
          store(fromF64(scale, blockScales), blockScales,
                {batch, head, t, block});
          loop(c0, c1, [&](Value d) {
            store(fromF64(quantizeNvfp4(element(d), scale), values), values,
                  {batch, head, t, d});
          });
        });
      });
    });
  });
}

void QuantizationEmitter::emitQuantizeRows(Value src, const MeanFn &mean,
                                           PrecisionAttr precision,
                                           Value values, Value tokenScales) {
  Type qk = precision.getQk();
  if (isNvfp4(qk))
    return emitQuantizeRowsNvfp4(src, mean, values, tokenScales);
  Value batchSize = dim(src, 0), heads = dim(src, 1), length = dim(src, 2);
  Value headDim = dim(src, 3);
  GranularityKind kind = *precision.getQkGranularity();
  int64_t size = precision.getQkGranularitySize();
  bool fp8 = isa<Float8E4M3FNType>(qk);
  double qmax = fp8 ? 448 : qk.isSignlessInteger(8) ? 127 : 7;
  // The scale group of token t (SEMANTICS.md section 3, granularity).
  auto groupOf = [&](Value t) -> Value {
    switch (kind) {
    case GranularityKind::Tensor:
      return index(0);
    case GranularityKind::Block:
      return arith::DivUIOp::create(b, loc, t, index(size));
    case GranularityKind::Token:
      return t;
    case GranularityKind::Thread:
      return arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(
              b, loc, arith::DivUIOp::create(b, loc, t, index(size)), index(8)),
          arith::RemUIOp::create(b, loc, t, index(8)));
    }
    llvm_unreachable("unknown granularity");
  };
  Value lastToken = arith::SubIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, length, index(1)), index(1));
  Value numGroups = arith::AddIOp::create(
      b, loc, groupOf(lastToken),
      index(kind == GranularityKind::Thread ? 8 : 1));
  Value groupMax = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF64Type()),
      ValueRange{numGroups});
  // Smoothing and quantization in f64, where the contract's arithmetic is
  // exact for f16/bf16 inputs (only the stored scale rounds, to f32).
  auto element = [&](Value batch, Value head, Value t, Value d) {
    Value x = toF64(load(src, {batch, head, t, d}));
    if (mean)
      x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
    return x;
  };
  loop(index(0), batchSize, [&](Value batch) {
    loop(index(0), heads, [&](Value head) {
      loop(index(0), numGroups, [&](Value g) { store(f64(0), groupMax, {g}); });
      loop(index(0), length, [&](Value t) {
        Value rowMax = reduce(index(0), headDim, f64(0), [&](Value d, Value m) {
          return Value(arith::MaximumFOp::create(
              b, loc, m,
              math::AbsFOp::create(b, loc, element(batch, head, t, d))));
        });
        Value g = groupOf(t);
        store(arith::MaximumFOp::create(b, loc, load(groupMax, {g}), rowMax),
              groupMax, {g});
      });
      // scale = max|x| / qmax (1 for an all-zero group); values are
      // round-half-to-even(x / scale) clamped to [-qmax, qmax].
      loop(index(0), length, [&](Value t) {
        Value groupAbsMax = load(groupMax, {groupOf(t)});
        Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                             groupAbsMax, f64(0));
        Value tokenScale = arith::SelectOp::create(
            b, loc, isZero, f32(1),
            toF32(arith::DivFOp::create(b, loc, groupAbsMax, f64(qmax))));
        store(fromF32(tokenScale, elementType(tokenScales)), tokenScales,
              {batch, head, t, index(0)});
        loop(index(0), headDim, [&](Value d) {
          Value scaled = arith::DivFOp::create(
              b, loc, element(batch, head, t, d), toF64(tokenScale));
          Value quantizedValue;
          if (fp8) {
            quantizedValue = roundToF8E4M3FN(scaled);
          } else {
            Value q = math::RoundEvenOp::create(b, loc, scaled);
            quantizedValue = arith::MaximumFOp::create(
                b, loc, arith::MinimumFOp::create(b, loc, q, f64(qmax)),
                f64(-qmax));
          }
          store(fromF64(quantizedValue, values), values, {batch, head, t, d});
        });
      });
    });
  });
  memref::DeallocOp::create(b, loc, groupMax);
}

void QuantizationEmitter::emitSmoothedRows(Value src, const MeanFn &mean,
                                           Type roundTo, Value values) {
  // Smoothing is exact: smooth_k shifts each score row by a constant the
  // softmax cancels and the LSE gets back; smooth_q's dS restores the
  // scores. Q' and K' are rounded to `qk` when it is a 16-bit float other
  // than the inputs' type.
  Value headDim = dim(src, 3);
  loop(index(0), dim(src, 0), [&](Value batch) {
    loop(index(0), dim(src, 1), [&](Value head) {
      loop(index(0), dim(src, 2), [&](Value t) {
        loop(index(0), headDim, [&](Value d) {
          Value x = toF64(load(src, {batch, head, t, d}));
          if (mean)
            x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
          Value value = toF32(x);
          if (roundTo)
            value = roundThrough(value, roundTo);
          store(fromF32(value, elementType(values)), values,
                {batch, head, t, d});
        });
      });
    });
  });
}

void QuantizationEmitter::emitKeyMean(Value key, Value mean) {
  // The mean over all Nk tokens per (batch, kv head, channel).
  Value nk = dim(key, 2);
  Value count = arith::UIToFPOp::create(
      b, loc, b.getF64Type(),
      arith::IndexCastOp::create(b, loc, b.getI64Type(), nk));
  loop(index(0), dim(key, 0), [&](Value batch) {
    loop(index(0), dim(key, 1), [&](Value head) {
      loop(index(0), dim(key, 3), [&](Value d) {
        Value sum = reduce(index(0), nk, f64(0), [&](Value j, Value a) {
          return Value(arith::AddFOp::create(
              b, loc, a, toF64(load(key, {batch, head, j, d}))));
        });
        store(fromF64(arith::DivFOp::create(b, loc, sum, count), mean), mean,
              {batch, head, d});
      });
    });
  });
}

void QuantizationEmitter::emitQueryBlockMeans(Value q, Value k, Value keyMean,
                                              int64_t block, Value means,
                                              Value correction) {
  Value nq = dim(q, 2), nk = dim(k, 2), headDim = dim(q, 3);
  Value numHeads = dim(q, 1);
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, nq, index(block));
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, dim(k, 1));
  loop(index(0), dim(q, 0), [&](Value batch) {
    loop(index(0), numHeads, [&](Value head) {
      Value kvHead = arith::DivSIOp::create(b, loc, head, headsPerKv);
      loop(index(0), numBlocks, [&](Value blk) {
        Value i0 = arith::MulIOp::create(b, loc, blk, index(block));
        Value i1 = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, i0, index(block)), nq);
        Value count = arith::UIToFPOp::create(
            b, loc, b.getF64Type(),
            arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                       arith::SubIOp::create(b, loc, i1, i0)));
        loop(index(0), headDim, [&](Value d) {
          Value sum = reduce(i0, i1, f64(0), [&](Value i, Value a) {
            return Value(arith::AddFOp::create(
                b, loc, a, toF64(load(q, {batch, head, i, d}))));
          });
          store(fromF64(arith::DivFOp::create(b, loc, sum, count), means),
                means, {batch, head, blk, d});
        });
        // dS[blk, j] = dot(mean_q, K'[j]) in f64.
        loop(index(0), nk, [&](Value j) {
          Value dot = reduce(index(0), headDim, f64(0), [&](Value d, Value a) {
            Value kd = toF64(load(k, {batch, kvHead, j, d}));
            if (keyMean)
              kd = arith::SubFOp::create(
                  b, loc, kd, toF64(load(keyMean, {batch, kvHead, d})));
            Value md = toF64(load(means, {batch, head, blk, d}));
            return Value(arith::AddFOp::create(
                b, loc, a, arith::MulFOp::create(b, loc, md, kd)));
          });
          store(fromF64(dot, correction), correction, {batch, head, blk, j});
        });
      });
    });
  });
}

void QuantizationEmitter::emitQuantizeValue(Value v, Type to, Value values,
                                            Value scales) {
  Value nk = dim(v, 2), valueDim = dim(v, 3);
  auto forEachChannel = [&](function_ref<void(Value, Value, Value)> body) {
    loop(index(0), dim(v, 0), [&](Value batch) {
      loop(index(0), dim(v, 1), [&](Value head) {
        loop(index(0), valueDim, [&](Value c) { body(batch, head, c); });
      });
    });
  };
  auto absMaxOver = [&](Value batch, Value head, Value c, Value j0, Value j1) {
    return reduce(j0, j1, f64(0), [&](Value j, Value m) {
      return Value(arith::MaximumFOp::create(
          b, loc, m,
          math::AbsFOp::create(b, loc, toF64(load(v, {batch, head, j, c})))));
    });
  };
  if (isNvfp4(to)) {
    // NVFP4 along the keys: per channel, each run of 16 keys (aligned to
    // multiples of 16) shares the E4M3 scale E4M3(max / 6); the dequantized
    // values are exact in f32.
    forEachChannel([&](Value batch, Value head, Value c) {
      Value numBlocks = arith::CeilDivSIOp::create(b, loc, nk, index(16));
      loop(index(0), numBlocks, [&](Value block) {
        Value j0 = arith::MulIOp::create(b, loc, block, index(16));
        Value j1 = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, j0, index(16)), nk);
        Value scale = nvfp4BlockScale(absMaxOver(batch, head, c, j0, j1));
        loop(j0, j1, [&](Value j) {
          Value x = toF64(load(v, {batch, head, j, c}));
          store(fromF64(arith::MulFOp::create(b, loc, quantizeNvfp4(x, scale),
                                              scale),
                        values),
                values, {batch, head, j, c});
        });
      });
    });
    return;
  }
  if (isa<Float8E4M3FNType>(to)) {
    // Per channel: scale = max|V[:, c]| / 448 (1 when all zero).
    forEachChannel([&](Value batch, Value head, Value c) {
      Value absMax = absMaxOver(batch, head, c, index(0), nk);
      Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           absMax, f64(0));
      Value channelScale = arith::SelectOp::create(
          b, loc, isZero, f32(1),
          toF32(arith::DivFOp::create(b, loc, absMax, f64(448))));
      store(fromF32(channelScale, elementType(scales)), scales,
            {batch, head, c});
      loop(index(0), nk, [&](Value j) {
        Value x = toF64(load(v, {batch, head, j, c}));
        store(fromF64(roundToF8E4M3FN(arith::DivFOp::create(
                          b, loc, x, toF64(channelScale))),
                      values),
              values, {batch, head, j, c});
      });
    });
    return;
  }
  // pv = f16 / bf16 on other data: V is rounded like P.
  forEachChannel([&](Value batch, Value head, Value c) {
    loop(index(0), nk, [&](Value j) {
      Value x = toF32(load(v, {batch, head, j, c}));
      store(fromF32(roundThrough(x, to), elementType(values)), values,
            {batch, head, j, c});
    });
  });
}

Value LoopNestEmitter::allocScratch(ArrayRef<Value> sizes, Type type) {
  SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
  Value buffer = memref::AllocOp::create(b, loc, MemRefType::get(shape, type),
                                         ValueRange(sizes));
  scratch.push_back(buffer);
  return buffer;
}

void LoopNestEmitter::emitQuantization(int64_t bundle, Value batchSize,
                                       Value numHeads, Value numKvHeads) {
  if (!precision)
    return;
  SmallVector<QuantizedRole> roles = op.getQuantizedRoles(precision);
  if (roles.empty())
    return;
  DenseMap<QuantizedRole, Value> operands = op.getQuantizedBundle(bundle);
  if (operands.empty()) {
    // No bundle: the pre-steps run here, into scratch buffers of the types
    // attn-quantize would give them (f64 means, f32 values and scales).
    auto f32Type = b.getF32Type(), f64Type = b.getF64Type();
    Value numBlocks = arith::CeilDivSIOp::create(
        b, loc, nq, index(op.getSmoothQueryBlockSize(precision)));
    for (QuantizedRole role : roles) {
      Value buffer;
      switch (role) {
      case QuantizedRole::KeyMean:
        buffer = allocScratch({batchSize, numKvHeads, headDim}, f64Type);
        break;
      case QuantizedRole::QueryBlockMean:
        buffer =
            allocScratch({batchSize, numHeads, numBlocks, headDim}, f64Type);
        break;
      case QuantizedRole::ScoreCorrection:
        buffer = allocScratch({batchSize, numHeads, numBlocks, nk}, f32Type);
        break;
      case QuantizedRole::Query:
        buffer = allocScratch({batchSize, numHeads, nq, headDim}, f32Type);
        break;
      case QuantizedRole::QueryScales:
        buffer =
            allocScratch({batchSize, numHeads, nq, numScaleBlocks()}, f32Type);
        break;
      case QuantizedRole::Key:
        buffer = allocScratch({batchSize, numKvHeads, nk, headDim}, f32Type);
        break;
      case QuantizedRole::KeyScales:
        buffer = allocScratch({batchSize, numKvHeads, nk, numScaleBlocks()},
                              f32Type);
        break;
      case QuantizedRole::Value:
        buffer = allocScratch({batchSize, numKvHeads, nk, valueDim}, f32Type);
        break;
      case QuantizedRole::ValueScales:
        buffer = allocScratch({batchSize, numKvHeads, valueDim}, f32Type);
        break;
      }
      operands[role] = buffer;
    }
    emitQuantizationSteps(op, precision, operands, *this);
  }
  quantized.keyMean = operands.lookup(QuantizedRole::KeyMean);
  quantized.queryBlockMean = operands.lookup(QuantizedRole::QueryBlockMean);
  quantized.scoreCorrection = operands.lookup(QuantizedRole::ScoreCorrection);
  quantized.query = operands.lookup(QuantizedRole::Query);
  quantized.queryScale = operands.lookup(QuantizedRole::QueryScales);
  quantized.key = operands.lookup(QuantizedRole::Key);
  quantized.keyScale = operands.lookup(QuantizedRole::KeyScales);
  quantized.value = operands.lookup(QuantizedRole::Value);
  quantized.valueScale = operands.lookup(QuantizedRole::ValueScales);
}

void mlir::attn::detail::emitQuantizationSteps(
    AttentionOp op, PrecisionAttr precision,
    const DenseMap<QuantizedRole, Value> &buffers,
    QuantizationEmitter &emitter) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value keyMean = buffers.lookup(QuantizedRole::KeyMean);
  Value queryMean = buffers.lookup(QuantizedRole::QueryBlockMean);
  int64_t block = op.getSmoothQueryBlockSize(precision);
  if (keyMean)
    emitter.emitKeyMean(k, keyMean);
  if (queryMean)
    emitter.emitQueryBlockMeans(q, k, keyMean, block, queryMean,
                                buffers.lookup(QuantizedRole::ScoreCorrection));
  auto queryMeanFn = emitter.getMeanFn(queryMean, block);
  auto keyMeanFn = emitter.getMeanFn(keyMean, 0);
  Value query = buffers.lookup(QuantizedRole::Query);
  Value key = buffers.lookup(QuantizedRole::Key);
  if (precision.isQuantizedQK()) {
    emitter.emitQuantizeRows(q, queryMeanFn, precision, query,
                             buffers.lookup(QuantizedRole::QueryScales));
    emitter.emitQuantizeRows(k, keyMeanFn, precision, key,
                             buffers.lookup(QuantizedRole::KeyScales));
  } else {
    Type qk = precision.getQk();
    Type roundTo = qk && qk != getElementTypeOrSelf(q.getType()) ? qk : Type();
    if (query)
      emitter.emitSmoothedRows(q, queryMeanFn, roundTo, query);
    if (key)
      emitter.emitSmoothedRows(k, keyMeanFn, roundTo, key);
  }
  if (Value value = buffers.lookup(QuantizedRole::Value))
    emitter.emitQuantizeValue(v, precision.getPv(), value,
                              buffers.lookup(QuantizedRole::ValueScales));
}

LogicalResult mlir::attn::lowerQuantizationStepToLoops(RewriterBase &rewriter,
                                                       Operation *op) {
  if (op->getNumResults() != 0)
    return op->emitOpError()
           << "attn-lower-to-loops needs memref operands; bufferize first";
  rewriter.setInsertionPoint(op);
  QuantizationEmitter emitter(rewriter, op->getLoc());
  if (auto keyMean = dyn_cast<KeyMeanOp>(op)) {
    emitter.emitKeyMean(keyMean.getKey(), keyMean.getMean());
  } else if (auto blockMean = dyn_cast<QueryBlockMeanOp>(op)) {
    emitter.emitQueryBlockMeans(blockMean.getQuery(), blockMean.getKey(),
                                blockMean.getKeyMean(),
                                blockMean.getBlockSize(), blockMean.getMean(),
                                blockMean.getScoreCorrection());
  } else if (auto rows = dyn_cast<QuantizeRowsOp>(op)) {
    auto mean =
        emitter.getMeanFn(rows.getMean(), rows.getMeanBlockSize().value_or(0));
    if (rows.isQuantized()) {
      emitter.emitQuantizeRows(rows.getInput(), mean, rows.getPrecisionAttr(),
                               rows.getValues(), rows.getScales());
    } else {
      PrecisionAttr precision = rows.getPrecisionAttr();
      Type qk = precision ? precision.getQk() : Type();
      emitter.emitSmoothedRows(rows.getInput(), mean, qk, rows.getValues());
    }
  } else if (auto value = dyn_cast<QuantizeValueOp>(op)) {
    emitter.emitQuantizeValue(value.getValue(), value.getTo(),
                              value.getValues(), value.getScales());
  } else {
    return op->emitOpError() << "is not a quantization pre-step";
  }
  rewriter.eraseOp(op);
  return success();
}
Value QuantizationEmitter::nvfp4BlockScale(Value absMax) {
  Value isZero =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, absMax, f64(0));
  return arith::SelectOp::create(
      b, loc, isZero, f64(1),
      roundToF8E4M3FN(arith::DivFOp::create(b, loc, absMax, f64(6))));
}

Value QuantizationEmitter::quantizeNvfp4(Value x, Value blockScale) {
  Value scaleIsZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            blockScale, f64(0));
  return arith::SelectOp::create(
      b, loc, scaleIsZero, f64(0),
      roundToF4E2M1FN(arith::DivFOp::create(b, loc, x, blockScale)));
}

void LoopNestEmitter::emitRoundProbabilitiesNvfp4(Value k0, Value k1) {
  // Two levels: a per-row f32 scale maps the tile's largest p to 6 * 448;
  // every 16 keys (aligned to multiples of 16, clipped to the tile) share
  // the E4M3 scale E4M3(max / 6). probs keeps the dequantized values.
  Value rowMax = reduce(k0, k1, f64(0), [&](Value j, Value m) {
    Value p = load(probs, {arith::SubIOp::create(b, loc, j, k0)});
    return Value(arith::MaximumFOp::create(b, loc, m, toF64(p)));
  });
  Value rowScale =
      toF64(toF32(arith::DivFOp::create(b, loc, rowMax, f64(6.0 * 448.0))));
  Value usable = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                       rowScale, f64(0));
  auto ifUsable = scf::IfOp::create(b, loc, usable, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifUsable.elseBlock());
  loop(k0, k1, [&](Value j) {
    store(f32(0), probs, {arith::SubIOp::create(b, loc, j, k0)});
  });
  b.setInsertionPointToStart(ifUsable.thenBlock());
  Value firstBlock = arith::DivUIOp::create(b, loc, k0, index(16));
  Value lastBlock = arith::CeilDivUIOp::create(b, loc, k1, index(16));
  loop(firstBlock, lastBlock, [&](Value block) {
    Value start = arith::MulIOp::create(b, loc, block, index(16));
    Value b0 = arith::MaxSIOp::create(b, loc, start, k0);
    Value b1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, start, index(16)), k1);
    auto scaled = [&](Value j) {
      Value p = toF64(load(probs, {arith::SubIOp::create(b, loc, j, k0)}));
      return arith::DivFOp::create(b, loc, p, rowScale);
    };
    Value blockMax = reduce(b0, b1, f64(0), [&](Value j, Value m) {
      return Value(arith::MaximumFOp::create(b, loc, m, scaled(j)));
    });
    Value blockScale = nvfp4BlockScale(blockMax);
    loop(b0, b1, [&](Value j) {
      Value value = arith::MulFOp::create(
          b, loc,
          arith::MulFOp::create(b, loc, quantizeNvfp4(scaled(j), blockScale),
                                blockScale),
          rowScale);
      store(toF32(value), probs, {arith::SubIOp::create(b, loc, j, k0)});
    });
  });
}
