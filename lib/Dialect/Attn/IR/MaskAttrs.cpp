//===- MaskAttrs.cpp - the mask rules of SEMANTICS.md section 2 -----------===//
//
// Each mask attribute implements MaskAttrInterface here: the exact keep(i, j)
// rule, exact tile classification (analytic where the mask has a closed form)
// and counting, verification and simplification. Every other part of the
// project asks these methods instead of restating a rule.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/MaskAttrs.h"
#include "AttrParsing.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

// The generated part of the attributes (their storage) is compiled in
// AttnDialect.cpp, so the parsers here pass list parameters as ArrayRef: the
// generated getChecked then matches exactly, instead of the base template
// that would need the storage.

/// Sequence lengths beyond this are rejected, so that token counts and pair
/// counts of one head (at most 2^62) never overflow int64_t.
static constexpr int64_t kMaxTokens = int64_t(1) << 31;

static int64_t floorDiv(int64_t a, int64_t b) {
  return llvm::divideFloorSigned(a, b);
}
static int64_t ceilDiv(int64_t a, int64_t b) {
  return llvm::divideCeilSigned(a, b);
}

/// Kept keys of [keyBegin, keyEnd) for query i of a mask that keeps
/// lo(i) <= j <= hi(i).
static int64_t countInInterval(int64_t lo, int64_t hi, int64_t keyBegin,
                               int64_t keyEnd) {
  return std::max<int64_t>(
      0, std::min(hi + 1, keyEnd) - std::max(lo, keyBegin));
}

/// The delta of causal and sliding-window masks (SEMANTICS.md 2.1).
static int64_t getAlignmentDelta(CausalAlignment alignment,
                                 const MaskContext &context) {
  if (alignment == CausalAlignment::TopLeft)
    return 0;
  assert(context.hasStaticLengths() &&
         "bottom-right alignment needs static sequence lengths");
  return context.keyLength - context.queryLength;
}

static TileClass classOfNonEmpty(const TokenBox &queries, const TokenBox &keys,
                                 TileClass tileClass) {
  return queries.isEmpty() || keys.isEmpty() ? TileClass::Empty : tileClass;
}

static void printIntList(AsmPrinter &printer, ArrayRef<int64_t> values) {
  printer << "[";
  llvm::interleaveComma(values, printer, [&](int64_t v) {
    if (ShapedType::isDynamic(v))
      printer << "?";
    else
      printer << v;
  });
  printer << "]";
}

/// Parses `[1, 2, ?]`; `?` only when `allowDynamic`.
static ParseResult parseIntList(AsmParser &parser,
                                SmallVectorImpl<int64_t> &values,
                                bool allowDynamic = false) {
  return parser.parseCommaSeparatedList(
      AsmParser::Delimiter::Square, [&]() -> ParseResult {
        if (allowDynamic && succeeded(parser.parseOptionalQuestion())) {
          values.push_back(ShapedType::kDynamic);
          return success();
        }
        int64_t v;
        if (parser.parseInteger(v))
          return failure();
        values.push_back(v);
        return success();
      });
}

//===----------------------------------------------------------------------===//
// Dense and none
//===----------------------------------------------------------------------===//

bool DenseMaskAttr::keep(int64_t, int64_t, const MaskContext &) const {
  return true;
}
TileClass DenseMaskAttr::classifyTile(const TokenBox &queries,
                                      const TokenBox &keys,
                                      const MaskContext &) const {
  return classOfNonEmpty(queries, keys, TileClass::Full);
}
int64_t DenseMaskAttr::countKept(const TokenBox &queries, const TokenBox &keys,
                                 const MaskContext &) const {
  return queries.getNumTokens() * keys.getNumTokens();
}

bool NoneMaskAttr::keep(int64_t, int64_t, const MaskContext &) const {
  return false;
}
TileClass NoneMaskAttr::classifyTile(const TokenBox &, const TokenBox &,
                                     const MaskContext &) const {
  return TileClass::Empty;
}
int64_t NoneMaskAttr::countKept(const TokenBox &, const TokenBox &,
                                const MaskContext &) const {
  return 0;
}

//===----------------------------------------------------------------------===//
// Causal and sliding window: keep iff lo(i) <= j <= hi(i), with lo and hi
// offsets of i. On contiguous runs the differences j - i cover an interval,
// so the run classification below is exact.
//===----------------------------------------------------------------------===//

namespace {
/// keep iff i + lowOffset <= j <= i + highOffset.
struct DiagonalBand {
  int64_t lowOffset, highOffset;

  bool keep(int64_t i, int64_t j) const {
    return j - i >= lowOffset && j - i <= highOffset;
  }
  TileClass classifyRuns(int64_t qb, int64_t qe, int64_t kb,
                         int64_t ke) const {
    if (qb >= qe || kb >= ke)
      return TileClass::Empty;
    int64_t minDiff = kb - (qe - 1), maxDiff = (ke - 1) - qb;
    if (maxDiff < lowOffset || minDiff > highOffset)
      return TileClass::Empty;
    if (minDiff >= lowOffset && maxDiff <= highOffset)
      return TileClass::Full;
    return TileClass::Partial;
  }
  int64_t countRuns(int64_t qb, int64_t qe, int64_t kb, int64_t ke) const {
    int64_t count = 0;
    for (int64_t i = qb; i < qe; ++i)
      count += countInInterval(i + lowOffset, i + highOffset, kb, ke);
    return count;
  }
  TileClass classify(const TokenBox &q, const TokenBox &k) const {
    return classifyByRuns(q, k, [&](int64_t a, int64_t b, int64_t c,
                                    int64_t d) { return classifyRuns(a, b, c, d); });
  }
  int64_t count(const TokenBox &q, const TokenBox &k) const {
    return countByRuns(q, k, [&](int64_t a, int64_t b, int64_t c, int64_t d) {
      return countRuns(a, b, c, d);
    });
  }
};
} // namespace

static constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max() / 4;

static DiagonalBand getBand(CausalMaskAttr mask, const MaskContext &context) {
  return {-kUnbounded, getAlignmentDelta(mask.getAlignment(), context)};
}

static DiagonalBand getBand(SlidingWindowMaskAttr mask,
                            const MaskContext &context) {
  int64_t delta = getAlignmentDelta(mask.getAlignment(), context);
  return {delta - mask.getLeft(), delta + mask.getRight()};
}

/// Whether the band keeps every pair of an Nq x Nk problem.
static bool bandCoversAll(DiagonalBand band, const MaskContext &context) {
  return band.lowOffset <= -(context.queryLength - 1) &&
         band.highOffset >= context.keyLength - 1;
}

bool CausalMaskAttr::keep(int64_t i, int64_t j,
                          const MaskContext &context) const {
  return getBand(*this, context).keep(i, j);
}
TileClass CausalMaskAttr::classifyTile(const TokenBox &queries,
                                       const TokenBox &keys,
                                       const MaskContext &context) const {
  return getBand(*this, context).classify(queries, keys);
}
int64_t CausalMaskAttr::countKept(const TokenBox &queries,
                                  const TokenBox &keys,
                                  const MaskContext &context) const {
  return getBand(*this, context).count(queries, keys);
}
MaskAttrInterface CausalMaskAttr::simplify(const MaskContext &context) const {
  if (!context.hasStaticLengths())
    return *this;
  DiagonalBand band = getBand(*this, context);
  if (bandCoversAll(band, context))
    return DenseMaskAttr::get(getContext());
  if (context.queryLength - 1 + band.highOffset < 0)
    return NoneMaskAttr::get(getContext());
  return *this;
}

LogicalResult
SlidingWindowMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              int64_t left, int64_t right, CausalAlignment) {
  if (left < 0)
    return emitError() << "sliding window left = " << left
                       << " must be non-negative";
  if (right < 0)
    return emitError() << "sliding window right = " << right
                       << " must be non-negative";
  return success();
}
bool SlidingWindowMaskAttr::keep(int64_t i, int64_t j,
                                 const MaskContext &context) const {
  return getBand(*this, context).keep(i, j);
}
TileClass SlidingWindowMaskAttr::classifyTile(const TokenBox &queries,
                                              const TokenBox &keys,
                                              const MaskContext &context) const {
  return getBand(*this, context).classify(queries, keys);
}
int64_t SlidingWindowMaskAttr::countKept(const TokenBox &queries,
                                         const TokenBox &keys,
                                         const MaskContext &context) const {
  return getBand(*this, context).count(queries, keys);
}
MaskAttrInterface
SlidingWindowMaskAttr::simplify(const MaskContext &context) const {
  if (!context.hasStaticLengths())
    return *this;
  DiagonalBand band = getBand(*this, context);
  if (bandCoversAll(band, context))
    return DenseMaskAttr::get(getContext());
  // A window reaching past the first key of every row is causal.
  if (getRight() == 0 && band.lowOffset <= -(context.queryLength - 1))
    return CausalMaskAttr::get(getContext(), getAlignment());
  return *this;
}

//===----------------------------------------------------------------------===//
// Neighborhood / strided / blocked windows (SEMANTICS.md 2.3)
//===----------------------------------------------------------------------===//

namespace {
/// The keys of one query coordinate in one dimension: y with y mod d == group
/// and begin <= y div d < end.
struct DimWindow {
  int64_t group, dilation, begin, end;
};
} // namespace

static DimWindow getDimWindow(NeighborhoodMaskAttr mask, unsigned dim,
                              int64_t x) {
  int64_t extent = mask.getGrid()[dim], window = mask.getWindow()[dim];
  int64_t stride = mask.getStride()[dim], dilation = mask.getDilation()[dim];
  int64_t group = x % dilation, a = x / dilation;
  int64_t groupLength = ceilDiv(extent - group, dilation);
  if (mask.getCausal()[dim]) {
    int64_t leader = std::min(a / stride * stride + stride - 1, groupLength - 1);
    return {group, dilation, std::max<int64_t>(leader - window + 1, 0), a + 1};
  }
  int64_t leader = std::min(a / stride * stride + stride / 2, groupLength - 1);
  int64_t start =
      std::clamp<int64_t>(leader - window / 2, 0, groupLength - window);
  return {group, dilation, start, start + window};
}

bool NeighborhoodMaskAttr::keepInDim(unsigned dim, int64_t x, int64_t y) const {
  DimWindow w = getDimWindow(*this, dim, x);
  int64_t b = y / w.dilation;
  return y % w.dilation == w.group && b >= w.begin && b < w.end;
}

int64_t NeighborhoodMaskAttr::countKeptInDim(unsigned dim, int64_t x,
                                             int64_t keyBegin,
                                             int64_t keyEnd) const {
  DimWindow w = getDimWindow(*this, dim, x);
  // Keys y = group + dilation * b with y in [keyBegin, keyEnd).
  int64_t bMin = ceilDiv(keyBegin - w.group, w.dilation);
  int64_t bMax = floorDiv(keyEnd - 1 - w.group, w.dilation);
  return std::max<int64_t>(
      0, std::min(w.end, bMax + 1) - std::max(w.begin, bMin));
}

LogicalResult NeighborhoodMaskAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, ArrayRef<int64_t> grid,
    ArrayRef<int64_t> window, ArrayRef<int64_t> stride,
    ArrayRef<int64_t> dilation, ArrayRef<bool> causal) {
  if (grid.empty() || grid.size() > 3)
    return emitError() << "neighborhood grid has rank " << grid.size()
                       << ", expected 1, 2 or 3";
  auto checkSize = [&](StringRef name, size_t size) -> LogicalResult {
    if (size == grid.size())
      return success();
    return emitError() << "neighborhood " << name << " has " << size
                       << " entries but the grid has rank " << grid.size();
  };
  if (failed(checkSize("window", window.size())) ||
      failed(checkSize("stride", stride.size())) ||
      failed(checkSize("dilation", dilation.size())) ||
      failed(checkSize("causal", causal.size())))
    return failure();
  for (size_t d = 0; d < grid.size(); ++d) {
    if (grid[d] < 1)
      return emitError() << "grid extent " << grid[d] << " in dimension " << d
                         << " must be positive";
    if (window[d] < 1)
      return emitError() << "window " << window[d] << " in dimension " << d
                         << " must be positive";
    if (window[d] > grid[d])
      return emitError() << "window " << window[d] << " in dimension " << d
                         << " is larger than the grid extent " << grid[d];
    if (stride[d] < 1 || stride[d] > window[d])
      return emitError() << "stride " << stride[d] << " in dimension " << d
                         << " must be in [1, window = " << window[d] << "]";
    if (dilation[d] < 1)
      return emitError() << "dilation " << dilation[d] << " in dimension "
                         << d << " must be positive";
    // window * dilation > grid, without overflowing.
    if (window[d] > grid[d] / dilation[d])
      return emitError() << "window x dilation = " << window[d] << " x "
                         << dilation[d] << " in dimension " << d
                         << " exceeds the grid extent " << grid[d];
  }
  int64_t tokens = 1;
  for (int64_t extent : grid)
    if (llvm::MulOverflow(tokens, extent, tokens) || tokens > kMaxTokens)
      return emitError() << "neighborhood grid has more than " << kMaxTokens
                         << " tokens";
  return success();
}

bool NeighborhoodMaskAttr::keep(int64_t i, int64_t j,
                                const MaskContext &) const {
  SmallVector<int64_t, 3> x = TokenBox::unflatten(i, getGrid());
  SmallVector<int64_t, 3> y = TokenBox::unflatten(j, getGrid());
  for (unsigned d = 0, e = getRank(); d < e; ++d)
    if (!keepInDim(d, x[d], y[d]))
      return false;
  return true;
}

TileClass NeighborhoodMaskAttr::classifyTile(const TokenBox &queries,
                                             const TokenBox &keys,
                                             const MaskContext &) const {
  // Kept pairs of a box pair are the product over dimensions of the kept
  // coordinate pairs, so the box pair is full (empty) iff every (some)
  // dimension is.
  return classifyOnGrid(
      queries, keys, getGrid(), [&](const TokenBox &q, const TokenBox &k) {
        if (q.isEmpty() || k.isEmpty())
          return TileClass::Empty;
        bool allFull = true;
        for (unsigned d = 0, e = getRank(); d < e; ++d) {
          bool dimFull = true, dimEmpty = true;
          for (int64_t x = q.begin[d]; x < q.end[d]; ++x) {
            int64_t kept = countKeptInDim(d, x, k.begin[d], k.end[d]);
            dimFull &= kept == k.getExtent(d);
            dimEmpty &= kept == 0;
          }
          if (dimEmpty)
            return TileClass::Empty;
          allFull &= dimFull;
        }
        return allFull ? TileClass::Full : TileClass::Partial;
      });
}

int64_t NeighborhoodMaskAttr::countKept(const TokenBox &queries,
                                        const TokenBox &keys,
                                        const MaskContext &) const {
  return countOnGrid(queries, keys, getGrid(),
                     [&](const TokenBox &q, const TokenBox &k) {
                       int64_t count = 1;
                       for (unsigned d = 0, e = getRank(); d < e; ++d) {
                         int64_t dimCount = 0;
                         for (int64_t x = q.begin[d]; x < q.end[d]; ++x)
                           dimCount +=
                               countKeptInDim(d, x, k.begin[d], k.end[d]);
                         count *= dimCount;
                       }
                       return count;
                     });
}

LogicalResult NeighborhoodMaskAttr::verifyLengths(
    const MaskContext &context,
    function_ref<InFlightDiagnostic()> emitError) const {
  int64_t tokens = TokenBox::all(getGrid()).getNumTokens();
  auto check = [&](StringRef which, int64_t length) -> LogicalResult {
    if (length < 0 || length == tokens)
      return success();
    InFlightDiagnostic diag = emitError();
    diag << "neighborhood grid [";
    llvm::interleaveComma(getGrid(), diag);
    return diag << "] has " << tokens << " tokens but the " << which
                << " length is " << length;
  };
  if (failed(check("query", context.queryLength)))
    return failure();
  return check("key", context.keyLength);
}

MaskAttrInterface
NeighborhoodMaskAttr::simplify(const MaskContext &) const {
  for (unsigned d = 0, e = getRank(); d < e; ++d)
    if (getWindow()[d] != getGrid()[d] || getDilation()[d] != 1 ||
        getCausal()[d])
      return *this;
  return DenseMaskAttr::get(getContext());
}

SmallVector<int64_t> NeighborhoodMaskAttr::getTokenGrid() const {
  return SmallVector<int64_t>(getGrid());
}

Attribute NeighborhoodMaskAttr::parse(AsmParser &parser, Type) {
  SmallVector<int64_t> grid, window, stride, dilation;
  SmallVector<bool> causal;
  bool seenCausal = false;
  SMLoc loc = parser.getCurrentLocation();
  auto parseValue = [&](StringRef key) -> ParseResult {
    if (key == "grid")
      return parseIntList(parser, grid);
    if (key == "window")
      return parseIntList(parser, window);
    if (key == "stride")
      return parseIntList(parser, stride);
    if (key == "dilation")
      return parseIntList(parser, dilation);
    seenCausal = true;
    return parser.parseCommaSeparatedList(
        AsmParser::Delimiter::Square, [&]() -> ParseResult {
          StringRef value;
          SMLoc valueLoc = parser.getCurrentLocation();
          if (parser.parseKeyword(&value))
            return failure();
          if (value != "true" && value != "false")
            return parser.emitError(valueLoc, "expected true or false, got ")
                   << value;
          causal.push_back(value == "true");
          return success();
        });
  };
  if (parser.parseLess() ||
      parseKeyedFields(parser, "neighborhood",
                       {"grid", "window", "stride", "dilation", "causal"},
                       parseValue) ||
      parser.parseGreater())
    return {};
  if (grid.empty() || window.empty()) {
    parser.emitError(loc, "neighborhood needs grid = [...] and window = [...]");
    return {};
  }
  if (stride.empty())
    stride.assign(grid.size(), 1);
  if (dilation.empty())
    dilation.assign(grid.size(), 1);
  if (!seenCausal)
    causal.assign(grid.size(), false);
  return parser.getChecked<NeighborhoodMaskAttr>(
      loc, parser.getContext(), ArrayRef(grid), ArrayRef(window),
      ArrayRef(stride), ArrayRef(dilation), ArrayRef(causal));
}

void NeighborhoodMaskAttr::print(AsmPrinter &printer) const {
  printer << "<grid = ";
  printIntList(printer, getGrid());
  printer << ", window = ";
  printIntList(printer, getWindow());
  if (llvm::any_of(getStride(), [](int64_t s) { return s != 1; })) {
    printer << ", stride = ";
    printIntList(printer, getStride());
  }
  if (llvm::any_of(getDilation(), [](int64_t d) { return d != 1; })) {
    printer << ", dilation = ";
    printIntList(printer, getDilation());
  }
  if (llvm::is_contained(getCausal(), true)) {
    printer << ", causal = [";
    llvm::interleaveComma(getCausal(), printer,
                          [&](bool c) { printer << (c ? "true" : "false"); });
    printer << "]";
  }
  printer << ">";
}

//===----------------------------------------------------------------------===//
// Power-law (SEMANTICS.md 2.4)
//===----------------------------------------------------------------------===//

LogicalResult
PowerLawMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t block, int64_t window, int64_t sink, bool) {
  if (block < 1)
    return emitError() << "power_law block = " << block << " must be positive";
  if (window < 0)
    return emitError() << "power_law window = " << window
                       << " must be non-negative";
  if (sink < 0)
    return emitError() << "power_law sink = " << sink
                       << " must be non-negative";
  return success();
}

bool PowerLawMaskAttr::keepBlocks(int64_t queryBlock, int64_t keyBlock) const {
  int64_t delta = queryBlock - keyBlock;
  if (!getCausal())
    delta = std::abs(delta);
  return keyBlock < getSink() || delta < getWindow() ||
         (delta > 0 && llvm::isPowerOf2_64(delta));
}

bool PowerLawMaskAttr::keep(int64_t i, int64_t j, const MaskContext &) const {
  if (getCausal() && j > i)
    return false;
  return keepBlocks(i / getBlock(), j / getBlock());
}

namespace {
/// Visits the (query block, key block) pieces of two flat runs.
template <typename Fn>
void forEachBlockPiece(int64_t block, int64_t qb, int64_t qe, int64_t kb,
                       int64_t ke, Fn fn) {
  for (int64_t q = qb / block; q * block < qe; ++q) {
    int64_t q0 = std::max(qb, q * block), q1 = std::min(qe, (q + 1) * block);
    for (int64_t k = kb / block; k * block < ke; ++k) {
      int64_t k0 = std::max(kb, k * block), k1 = std::min(ke, (k + 1) * block);
      if (!fn(q, k, q0, q1, k0, k1))
        return;
    }
  }
}
} // namespace

TileClass PowerLawMaskAttr::classifyTile(const TokenBox &queries,
                                         const TokenBox &keys,
                                         const MaskContext &) const {
  DiagonalBand causalBand{-kUnbounded, 0};
  return classifyByRuns(queries, keys, [&](int64_t qb, int64_t qe, int64_t kb,
                                           int64_t ke) {
    TileClassUnion result;
    forEachBlockPiece(getBlock(), qb, qe, kb, ke,
                      [&](int64_t q, int64_t k, int64_t q0, int64_t q1,
                          int64_t k0, int64_t k1) {
                        if (!keepBlocks(q, k))
                          result.add(TileClass::Empty);
                        else if (getCausal())
                          result.add(causalBand.classifyRuns(q0, q1, k0, k1));
                        else
                          result.add(TileClass::Full);
                        return !result.isPartial();
                      });
    return result.get();
  });
}

int64_t PowerLawMaskAttr::countKept(const TokenBox &queries,
                                    const TokenBox &keys,
                                    const MaskContext &) const {
  DiagonalBand causalBand{-kUnbounded, 0};
  return countByRuns(queries, keys, [&](int64_t qb, int64_t qe, int64_t kb,
                                        int64_t ke) {
    int64_t count = 0;
    forEachBlockPiece(getBlock(), qb, qe, kb, ke,
                      [&](int64_t q, int64_t k, int64_t q0, int64_t q1,
                          int64_t k0, int64_t k1) {
                        if (keepBlocks(q, k))
                          count += getCausal()
                                       ? causalBand.countRuns(q0, q1, k0, k1)
                                       : (q1 - q0) * (k1 - k0);
                        return true;
                      });
    return count;
  });
}

//===----------------------------------------------------------------------===//
// Segments (SEMANTICS.md 2.5)
//===----------------------------------------------------------------------===//

bool SegmentsMaskAttr::hasDynamicSizes() const {
  return llvm::any_of(getQuerySizes(), ShapedType::isDynamic);
}

static SmallVector<int64_t> prefixOffsets(ArrayRef<int64_t> sizes) {
  SmallVector<int64_t> offsets = {0};
  for (int64_t s : sizes)
    offsets.push_back(offsets.back() + s);
  return offsets;
}

namespace {
/// Segment offsets of one problem: static, or taken from the context.
struct SegmentLayout {
  SmallVector<int64_t> queryOffsets, keyOffsets;

  /// Fails when the sizes are dynamic and the context has no offsets.
  static std::optional<SegmentLayout> get(SegmentsMaskAttr mask,
                                          const MaskContext &context) {
    SegmentLayout layout;
    if (!mask.hasDynamicSizes()) {
      layout.queryOffsets = prefixOffsets(mask.getQuerySizes());
      layout.keyOffsets = prefixOffsets(mask.getKeySizes());
      return layout;
    }
    size_t expectedQ = mask.getNumQuerySegments() + 1;
    size_t expectedK = mask.getNumKeySegments() + 1;
    if (context.querySegmentOffsets.size() != expectedQ)
      return std::nullopt;
    layout.queryOffsets = context.querySegmentOffsets;
    layout.keyOffsets = context.keySegmentOffsets.empty()
                            ? context.querySegmentOffsets
                            : context.keySegmentOffsets;
    if (layout.keyOffsets.size() != expectedK)
      return std::nullopt;
    return layout;
  }

  /// The segment holding token `index`, or -1 past the last one.
  static int64_t segmentOf(ArrayRef<int64_t> offsets, int64_t index) {
    auto it = llvm::upper_bound(offsets, index);
    if (it == offsets.begin() || it == offsets.end())
      return -1;
    return static_cast<int64_t>(it - offsets.begin()) - 1;
  }
};
} // namespace

LogicalResult
SegmentsMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         ArrayRef<int64_t> querySizes,
                         ArrayRef<int64_t> keySizes,
                         ArrayRef<MaskAttrInterface> visibility, bool) {
  if (querySizes.empty() || keySizes.empty())
    return emitError() << "segments need at least one query and one key "
                          "segment";
  auto checkSizes = [&](StringRef which,
                        ArrayRef<int64_t> sizes) -> LogicalResult {
    bool dynamic = ShapedType::isDynamic(sizes.front());
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (ShapedType::isDynamic(s) != dynamic)
        return emitError() << which
                           << " segment sizes must be all static or all '?'";
      if (!dynamic && s < 0)
        return emitError() << which << " segment size " << s
                           << " must be non-negative";
      if (!dynamic && (llvm::AddOverflow(total, s, total) || total > kMaxTokens))
        return emitError() << which << " segments have more than "
                           << kMaxTokens << " tokens";
    }
    return success();
  };
  if (failed(checkSizes("query", querySizes)) ||
      failed(checkSizes("key", keySizes)))
    return failure();
  if (ShapedType::isDynamic(querySizes.front()) !=
      ShapedType::isDynamic(keySizes.front()))
    return emitError() << "query and key segment sizes must be both static "
                          "or both '?'";
  size_t expected = querySizes.size() * keySizes.size();
  if (visibility.size() != expected)
    return emitError() << "visibility table has " << visibility.size()
                       << " entries, expected " << querySizes.size() << " x "
                       << keySizes.size();
  for (auto [index, entry] : llvm::enumerate(visibility)) {
    if (!entry)
      return emitError() << "visibility table has a null entry";
    // The op's segment_offsets operand describes the outermost segments only.
    if (entry.needsSegmentOffsets())
      return emitError() << "visibility[" << index / keySizes.size() << "]["
                         << index % keySizes.size()
                         << "] has run-time segment sizes; nested segments "
                            "must have static sizes";
  }
  return success();
}

bool SegmentsMaskAttr::keep(int64_t i, int64_t j,
                            const MaskContext &context) const {
  std::optional<SegmentLayout> layout = SegmentLayout::get(*this, context);
  assert(layout && "run-time segments need offsets in the mask context");
  if (!layout)
    return false;
  int64_t a = SegmentLayout::segmentOf(layout->queryOffsets, i);
  int64_t b = SegmentLayout::segmentOf(layout->keyOffsets, j);
  if (a < 0 || b < 0)
    return false;
  int64_t qOffset = layout->queryOffsets[a], kOffset = layout->keyOffsets[b];
  MaskContext local = context.forSegment(
      layout->queryOffsets[a + 1] - qOffset, layout->keyOffsets[b + 1] - kOffset);
  return getEntry(a, b).keep(i - qOffset, j - kOffset, local);
}

TileClass SegmentsMaskAttr::classifyTile(const TokenBox &queries,
                                         const TokenBox &keys,
                                         const MaskContext &context) const {
  std::optional<SegmentLayout> layout = SegmentLayout::get(*this, context);
  if (!layout) // Unknown sizes: only the run-time knows.
    return classOfNonEmpty(queries, keys, TileClass::Partial);
  ArrayRef<int64_t> qOff = layout->queryOffsets, kOff = layout->keyOffsets;
  return classifyByRuns(queries, keys, [&](int64_t qb, int64_t qe, int64_t kb,
                                           int64_t ke) {
    TileClassUnion result;
    for (size_t a = 0; a + 1 < qOff.size() && !result.isPartial(); ++a) {
      int64_t q0 = std::max(qb, qOff[a]), q1 = std::min(qe, qOff[a + 1]);
      if (q0 >= q1)
        continue;
      for (size_t b = 0; b + 1 < kOff.size() && !result.isPartial(); ++b) {
        int64_t k0 = std::max(kb, kOff[b]), k1 = std::min(ke, kOff[b + 1]);
        if (k0 >= k1)
          continue;
        int64_t qLen = qOff[a + 1] - qOff[a], kLen = kOff[b + 1] - kOff[b];
        result.add(getEntry(a, b).classifyTile(
            TokenBox::range(qLen, q0 - qOff[a], q1 - qOff[a]),
            TokenBox::range(kLen, k0 - kOff[b], k1 - kOff[b]),
            context.forSegment(qLen, kLen)));
      }
    }
    // Tokens past the last segment keep nothing.
    if (qe > qOff.back() || ke > kOff.back())
      result.add(TileClass::Empty);
    return result.get();
  });
}

LogicalResult SegmentsMaskAttr::verifyLengths(
    const MaskContext &context,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (hasDynamicSizes())
    return success();
  auto checkSum = [&](StringRef which, ArrayRef<int64_t> sizes,
                      int64_t length) -> LogicalResult {
    int64_t sum = prefixOffsets(sizes).back();
    if (length < 0 || sum == length)
      return success();
    InFlightDiagnostic diag = emitError();
    diag << which << " segment sizes [";
    llvm::interleaveComma(sizes, diag);
    return diag << "] sum to " << sum << " but the " << which << " length is "
                << length;
  };
  if (failed(checkSum("query", getQuerySizes(), context.queryLength)) ||
      failed(checkSum("key", getKeySizes(), context.keyLength)))
    return failure();
  for (int64_t a = 0; a < getNumQuerySegments(); ++a) {
    for (int64_t b = 0; b < getNumKeySegments(); ++b) {
      int64_t qLen = getQuerySizes()[a], kLen = getKeySizes()[b];
      auto emitNested = [&]() {
        return emitError() << "visibility[" << a << "][" << b
                           << "] (a segment pair of " << qLen << " x " << kLen
                           << " tokens): ";
      };
      if (failed(getEntry(a, b).verifyLengths(MaskContext(qLen, kLen),
                                              emitNested)))
        return failure();
    }
  }
  return success();
}

MaskAttrInterface SegmentsMaskAttr::simplify(const MaskContext &) const {
  SmallVector<MaskAttrInterface> entries;
  for (int64_t a = 0; a < getNumQuerySegments(); ++a) {
    for (int64_t b = 0; b < getNumKeySegments(); ++b) {
      MaskContext local;
      if (!hasDynamicSizes())
        local = MaskContext(getQuerySizes()[a], getKeySizes()[b]);
      entries.push_back(getEntry(a, b).simplify(local));
    }
  }
  // Run-time segments may end before the sequence (a variable-length batch
  // element), and tokens past the last segment keep nothing: only static
  // sizes, which cover the sequence, make an all-full table dense.
  if (!hasDynamicSizes() &&
      llvm::all_of(entries, llvm::IsaPred<DenseMaskAttr>))
    return DenseMaskAttr::get(getContext());
  if (getRenormalize() && llvm::all_of(entries, llvm::IsaPred<NoneMaskAttr>))
    return NoneMaskAttr::get(getContext());
  return SegmentsMaskAttr::get(getContext(), getQuerySizes(), getKeySizes(),
                               entries, getRenormalize());
}

bool SegmentsMaskAttr::needsSegmentOffsets() const { return hasDynamicSizes(); }

/// Short names of common visibility entries.
static void printVisibilityEntry(AsmPrinter &printer, MaskAttrInterface entry) {
  if (isa<DenseMaskAttr>(entry))
    printer << "full";
  else if (isa<NoneMaskAttr>(entry))
    printer << "none";
  else if (auto causal = dyn_cast<CausalMaskAttr>(entry);
           causal && causal.getAlignment() == CausalAlignment::TopLeft)
    printer << "causal";
  else
    printer.printAttribute(entry);
}

static ParseResult parseVisibilityEntry(AsmParser &parser,
                                        MaskAttrInterface &entry) {
  MLIRContext *ctx = parser.getContext();
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalKeyword(&keyword))) {
    if (keyword == "full")
      entry = DenseMaskAttr::get(ctx);
    else if (keyword == "none")
      entry = NoneMaskAttr::get(ctx);
    else if (keyword == "causal")
      entry = CausalMaskAttr::get(ctx, CausalAlignment::TopLeft);
    else
      return parser.emitError(loc, "unknown visibility entry '")
             << keyword << "', expected none, full, causal or a mask attribute";
    return success();
  }
  Attribute attr;
  if (parser.parseAttribute(attr))
    return failure();
  entry = dyn_cast<MaskAttrInterface>(attr);
  if (!entry)
    return parser.emitError(loc, "visibility entry ")
           << attr << " is not a mask attribute";
  return success();
}

Attribute SegmentsMaskAttr::parse(AsmParser &parser, Type) {
  SmallVector<int64_t> querySizes, keySizes;
  SmallVector<MaskAttrInterface> visibility;
  bool renormalize = true, seenKey = false, seenVisibility = false;
  SMLoc loc = parser.getCurrentLocation();
  size_t rowLength = 0, row = 0;
  auto parseRow = [&]() -> ParseResult {
    size_t before = visibility.size();
    SMLoc rowLoc = parser.getCurrentLocation();
    if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
          return parseVisibilityEntry(parser, visibility.emplace_back());
        }))
      return failure();
    size_t length = visibility.size() - before;
    if (row++ == 0)
      rowLength = length;
    else if (length != rowLength)
      return parser.emitError(rowLoc, "visibility row ")
             << row - 1 << " has " << length << " entries but row 0 has "
             << rowLength;
    return success();
  };
  auto parseValue = [&](StringRef key) -> ParseResult {
    if (key == "query")
      return parseIntList(parser, querySizes, /*allowDynamic=*/true);
    if (key == "key") {
      seenKey = true;
      return parseIntList(parser, keySizes, /*allowDynamic=*/true);
    }
    if (key == "visibility") {
      seenVisibility = true;
      return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                            parseRow);
    }
    StringRef value;
    SMLoc valueLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&value))
      return failure();
    if (value != "true" && value != "false")
      return parser.emitError(valueLoc, "renormalize must be true or false");
    renormalize = value == "true";
    return success();
  };
  if (parser.parseLess() ||
      parseKeyedFields(parser, "segments",
                       {"query", "key", "visibility", "renormalize"},
                       parseValue) ||
      parser.parseGreater())
    return {};
  if (querySizes.empty() || !seenVisibility) {
    parser.emitError(loc, "segments need query = [...] and visibility = [...]");
    return {};
  }
  if (!seenKey)
    keySizes = querySizes;
  if (row != querySizes.size() || rowLength != keySizes.size()) {
    parser.emitError(loc, "visibility table is ")
        << row << " x " << rowLength << " but there are " << querySizes.size()
        << " query and " << keySizes.size() << " key segments";
    return {};
  }
  return parser.getChecked<SegmentsMaskAttr>(
      loc, parser.getContext(), ArrayRef(querySizes), ArrayRef(keySizes),
      ArrayRef(visibility), renormalize);
}

void SegmentsMaskAttr::print(AsmPrinter &printer) const {
  printer << "<query = ";
  printIntList(printer, getQuerySizes());
  if (getKeySizes() != getQuerySizes()) {
    printer << ", key = ";
    printIntList(printer, getKeySizes());
  }
  printer << ", visibility = [";
  for (int64_t a = 0; a < getNumQuerySegments(); ++a) {
    printer << (a ? ", [" : "[");
    for (int64_t b = 0; b < getNumKeySegments(); ++b) {
      if (b)
        printer << ", ";
      printVisibilityEntry(printer, getEntry(a, b));
    }
    printer << "]";
  }
  printer << "]";
  if (!getRenormalize())
    printer << ", renormalize = false";
  printer << ">";
}

//===----------------------------------------------------------------------===//
// and / or
//===----------------------------------------------------------------------===//

static LogicalResult verifyMembers(function_ref<InFlightDiagnostic()> emitError,
                                   StringRef kind,
                                   ArrayRef<MaskAttrInterface> members) {
  if (members.empty())
    return emitError() << "'" << kind << "' mask needs at least one member";
  if (llvm::any_of(members, [](MaskAttrInterface m) { return !m; }))
    return emitError() << "'" << kind << "' mask has a null member";
  return success();
}

static LogicalResult
verifyMemberLengths(ArrayRef<MaskAttrInterface> members,
                    const MaskContext &context,
                    function_ref<InFlightDiagnostic()> emitError) {
  for (MaskAttrInterface member : members)
    if (failed(member.verifyLengths(context, emitError)))
      return failure();
  return success();
}

static bool anyNeedsSegmentOffsets(ArrayRef<MaskAttrInterface> members) {
  return llvm::any_of(members, [](MaskAttrInterface m) {
    return m.needsSegmentOffsets();
  });
}

/// Classifies `and` (absorbing class empty, neutral full) and `or`
/// (absorbing full, neutral empty) from their members; exact when at most
/// one member is partial, else settled by bisection.
static TileClass classifyComposite(MaskAttrInterface self,
                                   ArrayRef<MaskAttrInterface> members,
                                   TileClass absorbing,
                                   const TokenBox &queries,
                                   const TokenBox &keys,
                                   const MaskContext &context) {
  unsigned partial = 0;
  for (MaskAttrInterface m : members) {
    TileClass c = m.classifyTile(queries, keys, context);
    if (c == absorbing)
      return absorbing;
    partial += c == TileClass::Partial;
  }
  if (partial == 0) // Every member is neutral.
    return absorbing == TileClass::Empty ? TileClass::Full : TileClass::Empty;
  if (partial == 1) // The composite is that one member.
    return TileClass::Partial;
  return classifyByBisection(self, queries, keys, context);
}

static SmallVector<int64_t> firstGrid(ArrayRef<MaskAttrInterface> members) {
  for (MaskAttrInterface member : members)
    if (SmallVector<int64_t> grid = member.getTokenGrid(); !grid.empty())
      return grid;
  return {};
}

/// Simplifies a composite whose identity member is `Identity` and absorbing
/// member is `Absorbing` (dense/none for `and`, none/dense for `or`).
template <typename Composite, typename Identity, typename Absorbing>
static MaskAttrInterface simplifyComposite(Composite mask,
                                           const MaskContext &context) {
  llvm::SmallSetVector<MaskAttrInterface, 4> members;
  std::function<void(MaskAttrInterface)> add = [&](MaskAttrInterface m) {
    m = m.simplify(context);
    if (auto nested = dyn_cast<Composite>(m)) {
      for (MaskAttrInterface inner : nested.getMembers())
        add(inner);
      return;
    }
    if (!isa<Identity>(m))
      members.insert(m);
  };
  for (MaskAttrInterface m : mask.getMembers())
    add(m);
  MLIRContext *ctx = mask.getContext();
  if (llvm::any_of(members, llvm::IsaPred<Absorbing>))
    return Absorbing::get(ctx);
  if (members.empty())
    return Identity::get(ctx);
  if (members.size() == 1)
    return members.front();
  return Composite::get(ctx, members.getArrayRef());
}

template <typename Composite>
static Attribute parseComposite(AsmParser &parser) {
  SmallVector<MaskAttrInterface> members;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess())
    return {};
  // `<>` reaches the verifier, which names the missing members.
  if (succeeded(parser.parseOptionalGreater()))
    return parser.getChecked<Composite>(loc, parser.getContext(),
                                        ArrayRef(members));
  if (parser.parseCommaSeparatedList(
          AsmParser::Delimiter::None, [&]() -> ParseResult {
            Attribute attr;
            SMLoc memberLoc = parser.getCurrentLocation();
            if (parser.parseAttribute(attr))
              return failure();
            auto member = dyn_cast<MaskAttrInterface>(attr);
            if (!member)
              return parser.emitError(memberLoc, "member ")
                     << attr << " is not a mask attribute";
            members.push_back(member);
            return success();
          }) ||
      parser.parseGreater())
    return {};
  return parser.getChecked<Composite>(loc, parser.getContext(),
                                      ArrayRef(members));
}

static void printComposite(AsmPrinter &printer,
                           ArrayRef<MaskAttrInterface> members) {
  printer << "<";
  llvm::interleaveComma(members, printer,
                        [&](MaskAttrInterface m) { printer.printAttribute(m); });
  printer << ">";
}

LogicalResult AndMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  ArrayRef<MaskAttrInterface> members) {
  return verifyMembers(emitError, "and", members);
}
bool AndMaskAttr::keep(int64_t i, int64_t j, const MaskContext &context) const {
  return llvm::all_of(getMembers(), [&](MaskAttrInterface m) {
    return m.keep(i, j, context);
  });
}
TileClass AndMaskAttr::classifyTile(const TokenBox &queries,
                                    const TokenBox &keys,
                                    const MaskContext &context) const {
  return classifyComposite(*this, getMembers(), /*absorbing=*/TileClass::Empty,
                           queries, keys, context);
}
LogicalResult
AndMaskAttr::verifyLengths(const MaskContext &context,
                           function_ref<InFlightDiagnostic()> emitError) const {
  return verifyMemberLengths(getMembers(), context, emitError);
}
MaskAttrInterface AndMaskAttr::simplify(const MaskContext &context) const {
  return simplifyComposite<AndMaskAttr, DenseMaskAttr, NoneMaskAttr>(*this,
                                                                      context);
}
SmallVector<int64_t> AndMaskAttr::getTokenGrid() const {
  return firstGrid(getMembers());
}
bool AndMaskAttr::needsSegmentOffsets() const {
  return anyNeedsSegmentOffsets(getMembers());
}
Attribute AndMaskAttr::parse(AsmParser &parser, Type) {
  return parseComposite<AndMaskAttr>(parser);
}
void AndMaskAttr::print(AsmPrinter &printer) const {
  printComposite(printer, getMembers());
}

LogicalResult OrMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 ArrayRef<MaskAttrInterface> members) {
  return verifyMembers(emitError, "or", members);
}
bool OrMaskAttr::keep(int64_t i, int64_t j, const MaskContext &context) const {
  return llvm::any_of(getMembers(), [&](MaskAttrInterface m) {
    return m.keep(i, j, context);
  });
}
TileClass OrMaskAttr::classifyTile(const TokenBox &queries,
                                   const TokenBox &keys,
                                   const MaskContext &context) const {
  return classifyComposite(*this, getMembers(), /*absorbing=*/TileClass::Full,
                           queries, keys, context);
}
LogicalResult
OrMaskAttr::verifyLengths(const MaskContext &context,
                          function_ref<InFlightDiagnostic()> emitError) const {
  return verifyMemberLengths(getMembers(), context, emitError);
}
MaskAttrInterface OrMaskAttr::simplify(const MaskContext &context) const {
  return simplifyComposite<OrMaskAttr, NoneMaskAttr, DenseMaskAttr>(*this,
                                                                     context);
}
SmallVector<int64_t> OrMaskAttr::getTokenGrid() const {
  return firstGrid(getMembers());
}
bool OrMaskAttr::needsSegmentOffsets() const {
  return anyNeedsSegmentOffsets(getMembers());
}
Attribute OrMaskAttr::parse(AsmParser &parser, Type) {
  return parseComposite<OrMaskAttr>(parser);
}
void OrMaskAttr::print(AsmPrinter &printer) const {
  printComposite(printer, getMembers());
}

//===----------------------------------------------------------------------===//
// shard
//===----------------------------------------------------------------------===//

LogicalResult ShardMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    MaskAttrInterface mask, int64_t queryStart,
                                    int64_t keyStart, int64_t queryLength,
                                    int64_t keyLength) {
  if (!mask)
    return emitError() << "#attn.shard needs a mask";
  if (queryStart < 0 || keyStart < 0)
    return emitError() << "#attn.shard: query_start = " << queryStart
                       << " and key_start = " << keyStart
                       << " must be non-negative";
  if (queryLength <= queryStart || keyLength <= keyStart)
    return emitError() << "#attn.shard: query_length = " << queryLength
                       << " and key_length = " << keyLength
                       << " must exceed query_start = " << queryStart
                       << " and key_start = " << keyStart;
  if (mask.needsSegmentOffsets())
    return emitError() << "#attn.shard: the mask " << mask
                       << " needs run-time segment offsets, which a shard "
                          "cannot place";
  return mask.verifyLengths(MaskContext(queryLength, keyLength), emitError);
}

bool ShardMaskAttr::keep(int64_t i, int64_t j, const MaskContext &) const {
  return getMask().keep(getQueryStart() + i, getKeyStart() + j,
                        getGlobalContext());
}

/// The global range of the local run [begin, end) of a shard.
static TokenBox globalRange(int64_t length, int64_t start, int64_t begin,
                            int64_t end) {
  return TokenBox::range(length, start + begin, start + end);
}

TileClass ShardMaskAttr::classifyTile(const TokenBox &queries,
                                      const TokenBox &keys,
                                      const MaskContext &) const {
  return classifyByRuns(queries, keys,
                        [&](int64_t qb, int64_t qe, int64_t kb, int64_t ke) {
                          return getMask().classifyTile(
                              globalRange(getQueryLength(), getQueryStart(),
                                          qb, qe),
                              globalRange(getKeyLength(), getKeyStart(), kb,
                                          ke),
                              getGlobalContext());
                        });
}

int64_t ShardMaskAttr::countKept(const TokenBox &queries, const TokenBox &keys,
                                 const MaskContext &) const {
  return countByRuns(queries, keys,
                     [&](int64_t qb, int64_t qe, int64_t kb, int64_t ke) {
                       return getMask().countKept(
                           globalRange(getQueryLength(), getQueryStart(), qb,
                                       qe),
                           globalRange(getKeyLength(), getKeyStart(), kb, ke),
                           getGlobalContext());
                     });
}

LogicalResult
ShardMaskAttr::verifyLengths(const MaskContext &context,
                             function_ref<InFlightDiagnostic()> emitError) const {
  if (context.queryLength >= 0 &&
      getQueryStart() + context.queryLength > getQueryLength())
    return emitError() << "#attn.shard: query_start = " << getQueryStart()
                       << " plus Nq = " << context.queryLength
                       << " exceeds query_length = " << getQueryLength();
  if (context.keyLength >= 0 &&
      getKeyStart() + context.keyLength > getKeyLength())
    return emitError() << "#attn.shard: key_start = " << getKeyStart()
                       << " plus Nk = " << context.keyLength
                       << " exceeds key_length = " << getKeyLength();
  return success();
}

MaskAttrInterface ShardMaskAttr::simplify(const MaskContext &) const {
  MaskAttrInterface inner = getMask().simplify(getGlobalContext());
  // Masks that keep the same everywhere need no position.
  if (isa<DenseMaskAttr, NoneMaskAttr>(inner))
    return inner;
  if (inner == getMask())
    return *this;
  return ShardMaskAttr::get(getContext(), inner, getQueryStart(),
                            getKeyStart(), getQueryLength(), getKeyLength());
}

