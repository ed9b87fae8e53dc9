//===- LowerQuantization.cpp - quantized precisions in the CPU loop nest --===//
//
// The pre-passes of attn-lower-to-loops for SEMANTICS.md section 3: smoothing
// means, quantization of Q, K and V per scale group, and the minifloat
// roundings (E4M3, E2M1, NVFP4) the main loop applies to P.
//
//===----------------------------------------------------------------------===//

#include "LoopNestEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

Value LoopNestEmitter::roundToMinifloat(Value x, int64_t mantissaBits,
                                        int64_t minExponent, double maxValue) {
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

void LoopNestEmitter::emitQuantizeRowsNvfp4(Value src, const MeanFn &mean,
                                            Value batchSize, Value heads,
                                            Value length, Value values,
                                            Value blockScales) {
  loop(index(0), batchSize, [&](Value batch) {
    loop(index(0), heads, [&](Value head) {
      loop(index(0), length, [&](Value t) {
        loop(index(0), numScaleBlocks(), [&](Value block) {
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
          store(toF32(scale), blockScales, {batch, head, t, block});
          loop(c0, c1, [&](Value d) {
            store(toF32(quantizeNvfp4(element(d), scale)), values,
                  {batch, head, t, d});
          });
        });
      });
    });
  });
}

Value LoopNestEmitter::nvfp4BlockScale(Value absMax) {
  Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                       absMax, f64(0));
  return arith::SelectOp::create(
      b, loc, isZero, f64(1),
      roundToF8E4M3FN(arith::DivFOp::create(b, loc, absMax, f64(6))));
}

Value LoopNestEmitter::quantizeNvfp4(Value x, Value blockScale) {
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
  Value rowScale = toF64(toF32(arith::DivFOp::create(b, loc, rowMax,
                                                     f64(6.0 * 448.0))));
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

void LoopNestEmitter::emitQuantizeRows(Value src, const MeanFn &mean,
                                       Value batchSize, Value heads,
                                       Value length, Value values,
                                       Value tokenScales) {
  Type qk = precision.getQk();
  if (isNvfp4(qk))
    return emitQuantizeRowsNvfp4(src, mean, batchSize, heads, length, values,
                                 tokenScales);
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
        store(tokenScale, tokenScales, {batch, head, t, index(0)});
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
          store(toF32(quantizedValue), values, {batch, head, t, d});
        });
      });
    });
  });
  memref::DeallocOp::create(b, loc, groupMax);
}

Value LoopNestEmitter::allocScratch(ArrayRef<Value> sizes, Type type) {
  SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
  Value buffer = memref::AllocOp::create(b, loc, MemRefType::get(shape, type),
                                         ValueRange(sizes));
  scratch.push_back(buffer);
  return buffer;
}

LoopNestEmitter::MeanFn LoopNestEmitter::getQueryMean() {
  if (!quantized.queryBlockMean)
    return nullptr;
  return [this](Value batch, Value head, Value t, Value d) {
    Value block = arith::DivUIOp::create(b, loc, t, index(getQueryBlock()));
    return load(quantized.queryBlockMean, {batch, head, block, d});
  };
}

LoopNestEmitter::MeanFn LoopNestEmitter::getKeyMean() {
  if (!quantized.keyMean)
    return nullptr;
  return [this](Value batch, Value head, Value, Value d) {
    return load(quantized.keyMean, {batch, head, d});
  };
}

void LoopNestEmitter::emitSmoothedCopies(Value batchSize, Value numHeads,
                                         Value numKvHeads) {
  // Without quantization: Q' and K' are the smoothed values (smoothing is
  // exact: smooth_k shifts each score row by a constant the softmax cancels
  // and the LSE gets back; smooth_q's dS restores the scores), rounded to
  // `qk` when it is a 16-bit float other than the inputs' type.
  Type qk = precision.getQk();
  Type inputType = cast<MemRefType>(op.getQuery().getType()).getElementType();
  Type roundTo = qk && qk != inputType ? qk : Type();
  auto copy = [&](Value src, const MeanFn &mean, Value heads, Value length) {
    Value result = allocScratch({batchSize, heads, length, headDim},
                                b.getF32Type());
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), heads, [&](Value head) {
        loop(index(0), length, [&](Value t) {
          loop(index(0), headDim, [&](Value d) {
            Value x = toF64(load(src, {batch, head, t, d}));
            if (mean)
              x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
            Value value = toF32(x);
            if (roundTo)
              value = roundThrough(value, roundTo);
            store(value, result, {batch, head, t, d});
          });
        });
      });
    });
    return result;
  };
  MeanFn queryMean = getQueryMean(), keyMean = getKeyMean();
  if (queryMean || roundTo)
    quantized.query = copy(op.getQuery(), queryMean, numHeads, nq);
  if (keyMean || roundTo)
    quantized.key = copy(op.getKey(), keyMean, numKvHeads, nk);
}

int64_t LoopNestEmitter::getQueryBlock() {
  switch (precision.getQkGranularity().value_or(GranularityKind::Block)) {
  case GranularityKind::Block:
  case GranularityKind::Thread:
    return precision.getQkGranularity() ? precision.getQkGranularitySize()
                                        : kSmoothQueryBlock;
  case GranularityKind::Token:
    return 1;
  case GranularityKind::Tensor:
    return ShapedType::isDynamic(op.getQueryLength())
               ? kSmoothQueryBlock
               : std::max<int64_t>(op.getQueryLength(), 1);
  }
  llvm_unreachable("unknown granularity");
}

void LoopNestEmitter::emitQueryBlockMeans(Value batchSize, Value numHeads) {
  Value q = op.getQuery(), k = op.getKey();
  int64_t block = getQueryBlock();
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, nq, index(block));
  auto alloc = [&](ArrayRef<Value> sizes, Type type) {
    return allocScratch(sizes, type);
  };
  quantized.queryBlockMean =
      alloc({batchSize, numHeads, numBlocks, headDim}, b.getF64Type());
  quantized.scoreCorrection =
      alloc({batchSize, numHeads, numBlocks, nk}, b.getF32Type());
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, dim(k, 1));
  loop(index(0), batchSize, [&](Value batch) {
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
          store(arith::DivFOp::create(b, loc, sum, count),
                quantized.queryBlockMean, {batch, head, blk, d});
        });
        // dS[blk, j] = dot(mean_q, K'[j]) in f64, stored as f32.
        loop(index(0), nk, [&](Value j) {
          Value dot = reduce(index(0), headDim, f64(0), [&](Value d, Value a) {
            Value kd = toF64(load(k, {batch, kvHead, j, d}));
            if (quantized.keyMean)
              kd = arith::SubFOp::create(
                  b, loc, kd, load(quantized.keyMean, {batch, kvHead, d}));
            Value md = load(quantized.queryBlockMean, {batch, head, blk, d});
            return Value(arith::AddFOp::create(
                b, loc, a, arith::MulFOp::create(b, loc, md, kd)));
          });
          store(toF32(dot), quantized.scoreCorrection, {batch, head, blk, j});
        });
      });
    });
  });
}

void LoopNestEmitter::emitQuantization(Value batchSize, Value numHeads,
                                       Value numKvHeads) {
  if (!precision)
    return;
  auto f32Type = b.getF32Type();
  auto alloc = [&](ArrayRef<Value> sizes, Type type = nullptr) {
    return allocScratch(sizes, type ? type : f32Type);
  };
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  if (precision.getSmoothK()) {
    // mean over all Nk tokens per (batch, kv head, channel).
    quantized.keyMean =
        alloc({batchSize, numKvHeads, headDim}, b.getF64Type());
    Value count = arith::UIToFPOp::create(
        b, loc, b.getF64Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), nk));
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), headDim, [&](Value d) {
          Value sum = reduce(index(0), nk, f64(0), [&](Value j, Value a) {
            return Value(arith::AddFOp::create(
                b, loc, a, toF64(load(k, {batch, head, j, d}))));
          });
          store(arith::DivFOp::create(b, loc, sum, count), quantized.keyMean,
                {batch, head, d});
        });
      });
    });
  }
  if (precision.getSmoothQ())
    emitQueryBlockMeans(batchSize, numHeads);
  if (precision.isQuantizedQK()) {
    quantized.query = alloc({batchSize, numHeads, nq, headDim});
    quantized.queryScale = alloc({batchSize, numHeads, nq, numScaleBlocks()});
    quantized.key = alloc({batchSize, numKvHeads, nk, headDim});
    quantized.keyScale = alloc({batchSize, numKvHeads, nk, numScaleBlocks()});
    emitQuantizeRows(q, getQueryMean(), batchSize, numHeads, nq, quantized.query,
                     quantized.queryScale);
    emitQuantizeRows(k, getKeyMean(), batchSize, numKvHeads, nk,
                     quantized.key, quantized.keyScale);
  } else {
    emitSmoothedCopies(batchSize, numHeads, numKvHeads);
  }
  Type valueType = cast<MemRefType>(op.getValue().getType()).getElementType();
  if (isa<FloatType>(probabilityType) &&
      cast<FloatType>(probabilityType).getWidth() == 16 &&
      probabilityType != valueType) {
    // pv = f16 / bf16 on other data: V is rounded like P.
    quantized.value = alloc({batchSize, numKvHeads, nk, valueDim});
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), nk, [&](Value j) {
          loop(index(0), valueDim, [&](Value c) {
            Value x = toF32(load(v, {batch, head, j, c}));
            store(roundThrough(x, probabilityType), quantized.value,
                  {batch, head, j, c});
          });
        });
      });
    });
  }
  if (isNvfp4(probabilityType)) {
    // NVFP4 along the keys: per channel, each run of 16 keys (aligned to
    // multiples of 16) shares the E4M3 scale E4M3(max / 6); the dequantized
    // values are exact in f32.
    quantized.value = alloc({batchSize, numKvHeads, nk, valueDim});
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), valueDim, [&](Value c) {
          Value numBlocks = arith::CeilDivSIOp::create(b, loc, nk, index(16));
          loop(index(0), numBlocks, [&](Value block) {
            Value j0 = arith::MulIOp::create(b, loc, block, index(16));
            Value j1 = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, j0, index(16)), nk);
            Value absMax = reduce(j0, j1, f64(0), [&](Value j, Value m) {
              return Value(arith::MaximumFOp::create(
                  b, loc, m,
                  math::AbsFOp::create(b, loc,
                                       toF64(load(v, {batch, head, j, c})))));
            });
            Value scale = nvfp4BlockScale(absMax);
            loop(j0, j1, [&](Value j) {
              Value x = toF64(load(v, {batch, head, j, c}));
              store(toF32(arith::MulFOp::create(b, loc, quantizeNvfp4(x, scale),
                                                scale)),
                    quantized.value, {batch, head, j, c});
            });
          });
        });
      });
    });
  }
  if (isa<Float8E4M3FNType>(probabilityType)) {
    // V per channel: scale = max|V[:, c]| / 448 (1 when all zero).
    quantized.value = alloc({batchSize, numKvHeads, nk, valueDim});
    quantized.valueScale = alloc({batchSize, numKvHeads, valueDim});
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), valueDim, [&](Value c) {
          Value absMax = reduce(index(0), nk, f64(0), [&](Value j, Value m) {
            return Value(arith::MaximumFOp::create(
                b, loc, m,
                math::AbsFOp::create(b, loc,
                                     toF64(load(v, {batch, head, j, c})))));
          });
          Value isZero = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OEQ, absMax, f64(0));
          Value channelScale = arith::SelectOp::create(
              b, loc, isZero, f32(1),
              toF32(arith::DivFOp::create(b, loc, absMax, f64(448))));
          store(channelScale, quantized.valueScale, {batch, head, c});
          loop(index(0), nk, [&](Value j) {
            Value x = toF64(load(v, {batch, head, j, c}));
            store(toF32(roundToF8E4M3FN(
                      arith::DivFOp::create(b, loc, x, toF64(channelScale)))),
                  quantized.value, {batch, head, j, c});
          });
        });
      });
    });
  }
}
