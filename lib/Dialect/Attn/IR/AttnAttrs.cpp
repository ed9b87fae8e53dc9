//===- AttnAttrs.cpp - precision and head attributes ----------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "AttrParsing.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/DenseSet.h"
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

// The generated part of the attributes (their storage) is compiled in
// AttnDialect.cpp, so the parsers here pass list parameters as ArrayRef: the
// generated getChecked then matches exactly, instead of the base template
// that would need the storage.

//===----------------------------------------------------------------------===//
// PrecisionAttr
//===----------------------------------------------------------------------===//

static bool isQKType(Type t) {
  return t.isF16() || t.isBF16() || t.isSignlessInteger(8) ||
         t.isSignlessInteger(4) || isa<Float8E4M3FNType, Float4E2M1FNType>(t);
}

static bool isPVType(Type t) {
  return t.isF16() || t.isBF16() || isa<Float8E4M3FNType, Float4E2M1FNType>(t);
}

/// Q.K types whose quantization needs a scale granularity.
static bool needsGranularity(Type t) {
  return t && (t.isSignlessInteger(8) || t.isSignlessInteger(4) ||
               isa<Float8E4M3FNType>(t));
}

bool PrecisionAttr::isQuantizedQK() const {
  return getQk() && !getQk().isF16() && !getQk().isBF16();
}

LogicalResult PrecisionAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, Type qk,
    std::optional<GranularityKind> granularity, int64_t granularitySize,
    bool, bool, Type pv, Accumulation pvAccum) {
  // The contract's E4M3 and E2M1 are the finite-only NVIDIA formats.
  auto hint = [](Type t) -> StringRef {
    return isa<Float8E4M3Type>(t)
               ? " (E4M3 on NVIDIA GPUs is finite-only: write f8E4M3FN)"
               : "";
  };
  if (qk && !isQKType(qk))
    return emitError() << "precision qk = " << qk
                       << " is not one of f16, bf16, i8, i4, f8E4M3FN, "
                          "f4E2M1FN"
                       << hint(qk);
  if (pv && !isPVType(pv))
    return emitError() << "precision pv = " << pv
                       << " is not one of f16, bf16, f8E4M3FN, f4E2M1FN"
                       << hint(pv);
  if (needsGranularity(qk) && !granularity)
    return emitError() << "precision qk = " << qk
                       << " needs qk_granularity (tensor, block(n), "
                          "thread(n) or token)";
  if (granularity && !needsGranularity(qk))
    return emitError() << "qk_granularity applies only to qk = i8, i4 or "
                          "f8E4M3FN"
                       << (qk ? ", not " : "") << qk;
  bool sized = granularity == GranularityKind::Block ||
               granularity == GranularityKind::Thread;
  if (sized && granularitySize < 1)
    return emitError() << "qk_granularity " << stringifyGranularityKind(*granularity)
                       << "(" << granularitySize << ") needs a positive size";
  if (granularity == GranularityKind::Thread && granularitySize % 8 != 0)
    return emitError() << "qk_granularity thread(" << granularitySize
                       << ") needs a multiple of 8 tokens";
  if (!sized && granularitySize != 0)
    return emitError() << "qk_granularity size " << granularitySize
                       << " given for a granularity without a size";
  if (pvAccum == Accumulation::F16 && pv && !pv.isF16())
    return emitError() << "pv_accum = f16 needs pv = f16, not " << pv;
  return success();
}

namespace {
struct Preset {
  StringRef name;
  PrecisionAttr (*build)(MLIRContext *);
};
} // namespace

static ArrayRef<Preset> getPresets() {
  static const Preset presets[] = {
      {"sage1",
       [](MLIRContext *c) {
         Builder b(c);
         return PrecisionAttr::get(c, b.getI8Type(), GranularityKind::Block, 64,
                                   /*smoothK=*/true, /*smoothQ=*/false,
                                   b.getF16Type(), Accumulation::F16);
       }},
      {"sage2_8b",
       [](MLIRContext *c) {
         Builder b(c);
         return PrecisionAttr::get(c, b.getI8Type(), GranularityKind::Thread,
                                   64, true, false, b.getType<Float8E4M3FNType>(),
                                   Accumulation::TwoLevel);
       }},
      {"sage2_4b",
       [](MLIRContext *c) {
         Builder b(c);
         return PrecisionAttr::get(c, b.getIntegerType(4),
                                   GranularityKind::Thread, 64, true, true,
                                   b.getType<Float8E4M3FNType>(),
                                   Accumulation::TwoLevel);
       }},
      {"fp8",
       [](MLIRContext *c) {
         Builder b(c);
         return PrecisionAttr::get(c, b.getType<Float8E4M3FNType>(),
                                   GranularityKind::Block, 64, true, false,
                                   b.getType<Float8E4M3FNType>(),
                                   Accumulation::TwoLevel);
       }},
      {"nvfp4",
       [](MLIRContext *c) {
         Builder b(c);
         return PrecisionAttr::get(c, b.getType<Float4E2M1FNType>(),
                                   std::nullopt, 0, true, false,
                                   b.getType<Float4E2M1FNType>(),
                                   Accumulation::F32);
       }},
  };
  return presets;
}

PrecisionAttr PrecisionAttr::getPreset(MLIRContext *context, StringRef name) {
  for (const Preset &p : getPresets())
    if (p.name == name)
      return p.build(context);
  return {};
}

ArrayRef<StringRef> PrecisionAttr::getPresetNames() {
  static const SmallVector<StringRef> names = [] {
    SmallVector<StringRef> result;
    for (const Preset &p : getPresets())
      result.push_back(p.name);
    return result;
  }();
  return names;
}

StringRef PrecisionAttr::getPresetName() const {
  for (const Preset &p : getPresets())
    if (p.build(getContext()) == *this)
      return p.name;
  return "";
}

Attribute PrecisionAttr::parse(AsmParser &parser, Type) {
  MLIRContext *ctx = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  Type qk, pv;
  std::optional<GranularityKind> granularity;
  int64_t granularitySize = 0;
  bool smoothK = false, smoothQ = false;
  Accumulation pvAccum = Accumulation::F32;
  bool first = true;
  llvm::StringSet<> seen;

  auto parseField = [&]() -> ParseResult {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key))
      return failure();
    if (first) {
      first = false;
      if (PrecisionAttr preset = getPreset(ctx, key)) {
        qk = preset.getQk();
        granularity = preset.getQkGranularity();
        granularitySize = preset.getQkGranularitySize();
        smoothK = preset.getSmoothK();
        smoothQ = preset.getSmoothQ();
        pv = preset.getPv();
        pvAccum = preset.getPvAccum();
        return success();
      }
    }
    if (!seen.insert(key).second)
      return parser.emitError(keyLoc, "precision field '")
             << key << "' given twice";
    if (key == "smooth_k" || key == "smooth_q") {
      bool value = true;
      if (succeeded(parser.parseOptionalEqual())) {
        StringRef v;
        if (parser.parseKeyword(&v))
          return failure();
        if (v != "true" && v != "false")
          return parser.emitError(keyLoc, key) << " must be true or false";
        value = v == "true";
      }
      (key == "smooth_k" ? smoothK : smoothQ) = value;
      return success();
    }
    if (key != "qk" && key != "pv" && key != "qk_granularity" &&
        key != "pv_accum") {
      if (getPreset(ctx, key))
        return parser.emitError(keyLoc, "precision preset '")
               << key << "' must be the first field";
      InFlightDiagnostic diag =
          parser.emitError(keyLoc, "unknown precision field '");
      diag << key << "', expected a preset (";
      llvm::interleaveComma(getPresetNames(), diag);
      return diag
             << ") or qk, qk_granularity, smooth_k, smooth_q, pv, pv_accum";
    }
    if (parser.parseEqual())
      return failure();
    if (key == "qk")
      return parser.parseType(qk);
    if (key == "pv")
      return parser.parseType(pv);
    if (key == "qk_granularity") {
      StringRef kind;
      SMLoc kindLoc = parser.getCurrentLocation();
      if (parser.parseKeyword(&kind))
        return failure();
      granularity = symbolizeGranularityKind(kind);
      if (!granularity)
        return parser.emitError(kindLoc, "unknown qk_granularity '")
               << kind << "', expected tensor, block(n), thread(n) or token";
      granularitySize = 0;
      if (succeeded(parser.parseOptionalLParen()))
        return failure(parser.parseInteger(granularitySize) ||
                       parser.parseRParen());
      if (granularity == GranularityKind::Block ||
          granularity == GranularityKind::Thread)
        return parser.emitError(kindLoc, "qk_granularity ")
               << kind << " needs a size: " << kind << "(n)";
      return success();
    }
    // pv_accum
    StringRef kind;
    SMLoc kindLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&kind))
      return failure();
    std::optional<Accumulation> acc = symbolizeAccumulation(kind);
    if (!acc)
      return parser.emitError(kindLoc, "unknown pv_accum '")
             << kind << "', expected f32, f16 or two_level";
    pvAccum = *acc;
    return success();
  };
  if (parser.parseLess())
    return {};
  if (failed(parser.parseOptionalGreater())) {
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::None,
                                       parseField) ||
        parser.parseGreater())
      return {};
  }
  return parser.getChecked<PrecisionAttr>(loc, ctx, qk, granularity,
                                          granularitySize, smoothK, smoothQ,
                                          pv, pvAccum);
}

void PrecisionAttr::print(AsmPrinter &printer) const {
  StringRef preset = getPresetName();
  if (!preset.empty()) {
    printer << "<" << preset << ">";
    return;
  }
  SmallVector<std::string> fields;
  auto add = [&](auto &&...parts) {
    std::string s;
    llvm::raw_string_ostream os(s);
    (os << ... << parts);
    fields.push_back(s);
  };
  if (getQk())
    add("qk = ", getQk());
  if (std::optional<GranularityKind> g = getQkGranularity()) {
    if (*g == GranularityKind::Block || *g == GranularityKind::Thread)
      add("qk_granularity = ", stringifyGranularityKind(*g), "(",
          getQkGranularitySize(), ")");
    else
      add("qk_granularity = ", stringifyGranularityKind(*g));
  }
  if (getSmoothK())
    add("smooth_k");
  if (getSmoothQ())
    add("smooth_q");
  if (getPv())
    add("pv = ", getPv());
  if (getPvAccum() != Accumulation::F32)
    add("pv_accum = ", stringifyAccumulation(getPvAccum()));
  printer << "<";
  llvm::interleaveComma(fields, printer);
  printer << ">";
}

//===----------------------------------------------------------------------===//
// Heads
//===----------------------------------------------------------------------===//

static LogicalResult checkHeadList(function_ref<InFlightDiagnostic()> emitError,
                                   StringRef what, ArrayRef<int64_t> heads) {
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t h : heads) {
    if (h < 0)
      return emitError() << what << " head index " << h
                         << " must be non-negative";
    if (!seen.insert(h).second)
      return emitError() << what << " lists head " << h << " twice";
  }
  return success();
}

static ParseResult parseHeadList(AsmParser &parser,
                                 SmallVectorImpl<int64_t> &heads) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
    return parser.parseInteger(heads.emplace_back());
  });
}

static void printHeadList(AsmPrinter &printer, ArrayRef<int64_t> heads) {
  printer << "[";
  llvm::interleaveComma(heads, printer);
  printer << "]";
}

LogicalResult SoftPagAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  llvm::APFloat uValue,
                                  ArrayRef<int64_t> heads) {
  double u = uValue.convertToDouble();
  if (!(u >= 0.0 && u <= 1.0))
    return emitError() << "softpag u = " << u << " must be in [0, 1]";
  if (heads.empty())
    return emitError() << "softpag needs at least one head";
  return checkHeadList(emitError, "softpag", heads);
}

Attribute SoftPagAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  double u;
  SmallVector<int64_t> heads;
  if (parser.parseLess() || parser.parseKeyword("u") || parser.parseEqual() ||
      parser.parseFloat(u) || parser.parseComma() ||
      parser.parseKeyword("heads") || parser.parseEqual() ||
      parseHeadList(parser, heads) || parser.parseGreater())
    return {};
  return parser.getChecked<SoftPagAttr>(loc, parser.getContext(),
                                        llvm::APFloat(u), ArrayRef(heads));
}

void SoftPagAttr::print(AsmPrinter &printer) const {
  printer << "<u = ";
  printer.printFloat(getU());
  printer << ", heads = ";
  printHeadList(printer, getHeads());
  printer << ">";
}

LogicalResult HeadGroupAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    ArrayRef<int64_t> heads, MaskAttrInterface,
                                    PrecisionAttr) {
  if (heads.empty())
    return emitError() << "head group needs at least one head";
  return checkHeadList(emitError, "head group", heads);
}

Attribute HeadGroupAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> heads;
  MaskAttrInterface mask;
  PrecisionAttr precision;
  if (parser.parseLess() || parser.parseKeyword("heads") ||
      parser.parseEqual() || parseHeadList(parser, heads))
    return {};
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc keyLoc = parser.getCurrentLocation();
    Attribute attr;
    if (parser.parseKeyword(&key) || parser.parseEqual() ||
        parser.parseAttribute(attr))
      return {};
    if (key == "mask" && isa<MaskAttrInterface>(attr)) {
      mask = cast<MaskAttrInterface>(attr);
    } else if (key == "precision" && isa<PrecisionAttr>(attr)) {
      precision = cast<PrecisionAttr>(attr);
    } else {
      parser.emitError(keyLoc, "expected mask = <mask attribute> or "
                               "precision = #attn.precision<...>, got ")
          << key << " = " << attr;
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<HeadGroupAttr>(loc, parser.getContext(),
                                          ArrayRef(heads), mask, precision);
}

void HeadGroupAttr::print(AsmPrinter &printer) const {
  printer << "<heads = ";
  printHeadList(printer, getHeads());
  if (getMask()) {
    printer << ", mask = ";
    printer.printAttribute(getMask());
  }
  if (getPrecision()) {
    printer << ", precision = ";
    printer.printAttribute(getPrecision());
  }
  printer << ">";
}

LogicalResult HeadsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                DenseF64ArrayAttr weights, SoftPagAttr,
                                ArrayRef<HeadGroupAttr> groups) {
  ArrayRef<double> weightValues;
  if (weights)
    weightValues = weights.asArrayRef();
  for (auto [h, w] : llvm::enumerate(weightValues))
    if (!std::isfinite(w))
      return emitError() << "weight of head " << h << " is " << w
                         << ", expected a finite value";
  llvm::SmallDenseMap<int64_t, size_t> groupOf;
  for (auto [g, group] : llvm::enumerate(groups)) {
    for (int64_t h : group.getHeads()) {
      auto [it, inserted] = groupOf.try_emplace(h, g);
      if (!inserted)
        return emitError() << "head " << h << " is in head groups "
                           << it->second << " and " << g;
    }
  }
  return success();
}

Attribute HeadsAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<double> weights;
  SoftPagAttr softpag;
  SmallVector<HeadGroupAttr> groups;
  bool seenWeights = false;
  auto parseValue = [&](StringRef key) -> ParseResult {
    SMLoc valueLoc = parser.getCurrentLocation();
    if (key == "weights") {
      seenWeights = true;
      return parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Square,
          [&]() { return parser.parseFloat(weights.emplace_back()); });
    }
    if (key == "softpag") {
      Attribute attr;
      if (parser.parseAttribute(attr))
        return failure();
      softpag = dyn_cast<SoftPagAttr>(attr);
      if (!softpag)
        return parser.emitError(valueLoc, "softpag expects #attn.softpag<...>");
      return success();
    }
    return parser.parseCommaSeparatedList(
        AsmParser::Delimiter::Square, [&]() -> ParseResult {
          Attribute attr;
          SMLoc groupLoc = parser.getCurrentLocation();
          if (parser.parseAttribute(attr))
            return failure();
          auto group = dyn_cast<HeadGroupAttr>(attr);
          if (!group)
            return parser.emitError(groupLoc,
                                    "groups expects #attn.head_group<...>");
          groups.push_back(group);
          return success();
        });
  };
  // `<>` is the printed form of heads without any field.
  if (parser.parseLess())
    return {};
  if (failed(parser.parseOptionalGreater()) &&
      (parseKeyedFields(parser, "heads", {"weights", "softpag", "groups"},
                        parseValue) ||
       parser.parseGreater()))
    return {};
  // An explicit `weights = []` stays, so the op verifier reports the count.
  DenseF64ArrayAttr weightsAttr;
  if (seenWeights)
    weightsAttr = DenseF64ArrayAttr::get(parser.getContext(), weights);
  return parser.getChecked<HeadsAttr>(loc, parser.getContext(), weightsAttr,
                                      softpag, ArrayRef(groups));
}

void HeadsAttr::print(AsmPrinter &printer) const {
  SmallVector<std::function<void()>> fields;
  if (getWeights())
    fields.push_back([&] {
      printer << "weights = [";
      llvm::interleaveComma(getWeights().asArrayRef(), printer, [&](double w) {
        printer.printFloat(llvm::APFloat(w));
      });
      printer << "]";
    });
  if (getSoftpag())
    fields.push_back([&] {
      printer << "softpag = ";
      printer.printAttribute(getSoftpag());
    });
  if (!getGroups().empty())
    fields.push_back([&] {
      printer << "groups = [";
      llvm::interleaveComma(getGroups(), printer, [&](HeadGroupAttr g) {
        printer.printAttribute(g);
      });
      printer << "]";
    });
  printer << "<";
  llvm::interleave(fields, [](const std::function<void()> &f) { f(); },
                   [&] { printer << ", "; });
  printer << ">";
}

//===----------------------------------------------------------------------===//
// TilingAttr
//===----------------------------------------------------------------------===//

LogicalResult TilingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 ArrayRef<int64_t> query,
                                 ArrayRef<int64_t> key) {
  if (query.empty() || query.size() > 3)
    return emitError() << "tiling query tile has rank " << query.size()
                       << ", expected 1 to 3";
  if (key.size() != query.size())
    return emitError() << "tiling key tile has rank " << key.size()
                       << " but the query tile has rank " << query.size();
  for (int64_t t : llvm::concat<const int64_t>(query, key))
    if (t < 1)
      return emitError() << "tiling entry " << t << " must be positive";
  return success();
}
