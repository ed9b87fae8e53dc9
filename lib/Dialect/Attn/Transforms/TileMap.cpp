//===- TileMap.cpp - a picture of a mask and its tiles --------------------===//
//
// Draws, as SVG, what the mask of every attn.attention keeps and what a
// tiling computes: the class of every (query tile, key tile) pair, the kept
// pairs themselves where they fit a picture, and for masks on a 2-D or 3-D
// token grid one query tile's key tiles on the grid. Every picture comes
// from the mask attribute (keep, classifyTile), as the kernels' tile lists
// do.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNTILEMAP
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Colors of the tile classes (and of kept pairs), as in docs/Masks.md.
constexpr const char *kFullColor = "#1f4e79";
constexpr const char *kPartialColor = "#9dc3e6";
constexpr const char *kKeptColor = "#c00000";
/// The largest side of a panel in pixels, and of a tile cell.
constexpr double kPanelPixels = 640;
constexpr double kMaxCellPixels = 24;
/// Panels of kept pairs are drawn up to this many pairs (one rect per run
/// of kept keys in a query row).
constexpr int64_t kMaxDrawnPairs = int64_t(1) << 22;

StringRef classColor(TileClass tileClass) {
  switch (tileClass) {
  case TileClass::Full:
    return kFullColor;
  case TileClass::Partial:
    return kPartialColor;
  case TileClass::Empty:
    return "#ffffff";
  }
  llvm_unreachable("unknown tile class");
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

/// One SVG document of panels stacked vertically.
class SvgWriter {
public:
  /// Starts a panel of `width` x `height` pixels under a title line.
  void beginPanel(StringRef title, double width, double height) {
    body << llvm::format("<text x=\"10\" y=\"%.1f\" font-family=\"sans-serif\" "
                         "font-size=\"14\">",
                         top + 18);
    escape(title);
    body << "</text>\n";
    panelTop = top + 28;
    top = panelTop + height + 16;
    // About 6.8 pixels per character of the 14-pixel sans-serif title.
    maxWidth = std::max({maxWidth, width + 20, 20 + 6.8 * title.size()});
  }
  /// A rectangle at (x, y) of the current panel, in pixels.
  void rect(double x, double y, double w, double h, StringRef fill,
            StringRef attributes = "") {
    body << llvm::format("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                         "height=\"%.2f\" fill=\"%s\"",
                         10 + x, panelTop + y, w, h, fill.str().c_str());
    if (!attributes.empty())
      body << " " << attributes;
    body << "/>\n";
  }
  void frame(double w, double h) {
    body << llvm::format("<rect x=\"10\" y=\"%.2f\" width=\"%.2f\" "
                         "height=\"%.2f\" fill=\"none\" stroke=\"#404040\"/>\n",
                         panelTop, w, h);
  }
  std::string finish() const {
    std::string out;
    llvm::raw_string_ostream os(out);
    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       << llvm::format("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                       "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
                       int(maxWidth), int(top), int(maxWidth), int(top))
       << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
       << text << "</svg>\n";
    return out;
  }

private:
  void escape(StringRef text) {
    for (char c : text) {
      switch (c) {
      case '<':
        body << "&lt;";
        break;
      case '>':
        body << "&gt;";
        break;
      case '&':
        body << "&amp;";
        break;
      case '"':
        body << "&quot;";
        break;
      default:
        body << c;
      }
    }
  }

  std::string text;
  llvm::raw_string_ostream body{text};
  double top = 0, panelTop = 0, maxWidth = 0;
};

struct AttnTileMapPass : mlir::attn::impl::AttnTileMapBase<AttnTileMapPass> {
  using Base::Base;

  void runOnOperation() override {
    // (Named variables, not a structured binding: lambdas below use them.)
    auto tiles = getTileShapeOptions(
        SmallVector<int64_t>(queryTile.begin(), queryTile.end()),
        SmallVector<int64_t>(keyTile.begin(), keyTile.end()));
    SmallVector<int64_t> qTile = tiles.first, kTile = tiles.second;
    if (output.empty()) {
      getOperation()->emitError()
          << "attn-tile-map: the `output` option (an SVG path) is required";
      return signalPassFailure();
    }
    if (failed(verifyTileShapes("attn-tile-map", qTile, kTile,
                                [&] { return getOperation()->emitError(); })))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (auto [index, op] : llvm::enumerate(ops)) {
      // One file per op: `output`, then <stem>.1.svg, <stem>.2.svg, ...
      std::string path = output;
      if (index > 0) {
        StringRef stem = StringRef(output).ends_with(".svg")
                             ? StringRef(output).drop_back(4)
                             : StringRef(output);
        path = (stem + "." + Twine(index) + ".svg").str();
      }
      if (failed(draw(op, qTile, kTile, path)))
        return signalPassFailure();
    }
  }

  LogicalResult draw(AttentionOp op, ArrayRef<int64_t> qTile,
                     ArrayRef<int64_t> kTile, StringRef path) {
    MaskContext context = op.getMaskContext();
    if (!context.hasStaticLengths())
      return op.emitError() << "attn-tile-map: needs static sequence lengths";
    MaskAttrInterface mask = op.getMaskOrDense();
    if (mask.needsSegmentOffsets())
      return op.emitError() << "attn-tile-map: " << mask
                            << " has run-time segment sizes: nothing to draw";
    auto grids = getTilingGrids(mask, context, op.getTokenGrid(), qTile.size());
    if (!grids)
      return op.emitError() << "attn-tile-map: tiles of rank " << qTile.size()
                            << " need a mask with a token grid of that rank, "
                               "got "
                            << mask;
    auto &[queryGrid, keyGrid] = *grids;
    SmallVector<TokenBox> queryTiles, keyTiles;
    forEachTile(queryGrid, qTile,
                [&](const TokenBox &box) { queryTiles.push_back(box); });
    forEachTile(keyGrid, kTile,
                [&](const TokenBox &box) { keyTiles.push_back(box); });
    int64_t numQuery = queryTiles.size(), numKey = keyTiles.size();
    if (numQuery * numKey > maxTilePairs)
      return op.emitError()
             << "attn-tile-map: " << numQuery << " x " << numKey
             << " tile pairs exceed max-tile-pairs = "
             << static_cast<int64_t>(maxTilePairs) << "; use larger tiles";

    SvgWriter svg;
    std::string title;
    llvm::raw_string_ostream os(title);
    os << mask << ", Nq = " << context.queryLength
       << ", Nk = " << context.keyLength << ": query tile "
       << shapeString(qTile) << " x key tile " << shapeString(kTile);

    // Panel 1: the class of every tile pair (query tiles down, key tiles
    // across), with counts in the title.
    SmallVector<TileClass> classes;
    classes.reserve(numQuery * numKey);
    int64_t counts[3] = {0, 0, 0};
    for (const TokenBox &q : queryTiles)
      for (const TokenBox &k : keyTiles) {
        TileClass c = mask.classifyTile(q, k, context);
        classes.push_back(c);
        ++counts[static_cast<int>(c)];
      }
    double cell =
        std::min(kMaxCellPixels, kPanelPixels / std::max(numQuery, numKey));
    std::string tilesTitle;
    llvm::raw_string_ostream ts(tilesTitle);
    ts << title << ": " << counts[int(TileClass::Full)] << " full (dark), "
       << counts[int(TileClass::Partial)] << " partial (light), "
       << counts[int(TileClass::Empty)] << " empty";
    svg.beginPanel(tilesTitle, cell * numKey, cell * numQuery);
    for (int64_t qi = 0; qi < numQuery; ++qi)
      for (int64_t ki = 0; ki < numKey; ++ki) {
        TileClass c = classes[qi * numKey + ki];
        std::string attributes;
        llvm::raw_string_ostream as(attributes);
        as << "class=\"" << stringifyTileClass(c) << "\" data-q=\"" << qi
           << "\" data-k=\"" << ki << "\"";
        if (c == TileClass::Empty)
          as << " stroke=\"#e0e0e0\" stroke-width=\"0.5\"";
        svg.rect(ki * cell, qi * cell, cell, cell, classColor(c), attributes);
      }
    svg.frame(cell * numKey, cell * numQuery);

    // Panel 2: the kept pairs in token order, one rect per run of kept keys
    // of a query row, over flat tiles' boundaries.
    int64_t nq = context.queryLength, nk = context.keyLength;
    if (nq * nk <= kMaxDrawnPairs) {
      double unit = kPanelPixels / std::max(nq, nk);
      svg.beginPanel("kept (query, key) pairs, queries down, keys across (" +
                         std::to_string(nq) + " x " + std::to_string(nk) + ")",
                     unit * nk, unit * nq);
      for (int64_t i = 0; i < nq; ++i) {
        for (int64_t j = 0; j < nk;) {
          if (!mask.keep(i, j, context)) {
            ++j;
            continue;
          }
          int64_t run = j;
          while (run < nk && mask.keep(i, run, context))
            ++run;
          std::string attributes;
          llvm::raw_string_ostream as(attributes);
          as << "class=\"kept\" data-q=\"" << i << "\" data-k=\"" << j
             << "\" data-n=\"" << run - j << "\"";
          svg.rect(j * unit, i * unit, (run - j) * unit, unit, kKeptColor,
                   attributes);
          j = run;
        }
      }
      svg.frame(unit * nk, unit * nq);
    }

    // Panel 3: masks on a token grid, drawn on it: the key tiles of the
    // query tile nearest the grid's center, by class, and the keys its
    // center token keeps (the middle plane of a 3-D grid).
    SmallVector<int64_t> grid = mask.getTokenGrid();
    if ((grid.size() == 2 || grid.size() == 3) && qTile.size() == grid.size())
      drawOnGrid(svg, mask, context, grid, queryTiles, keyTiles, classes);

    std::error_code error;
    llvm::raw_fd_ostream file(path, error, llvm::sys::fs::OF_Text);
    if (error)
      return op.emitError() << "attn-tile-map: cannot write " << path << ": "
                            << error.message();
    file << svg.finish();
    op.emitRemark() << "attn-tile-map: wrote " << path << " (" << numQuery
                    << " x " << numKey << " tile pairs)";
    return success();
  }

  void drawOnGrid(SvgWriter &svg, MaskAttrInterface mask,
                  const MaskContext &context, ArrayRef<int64_t> grid,
                  ArrayRef<TokenBox> queryTiles, ArrayRef<TokenBox> keyTiles,
                  ArrayRef<TileClass> classes) {
    int64_t rank = grid.size();
    SmallVector<int64_t> center;
    for (int64_t extent : grid)
      center.push_back(extent / 2);
    auto flat = [&](ArrayRef<int64_t> position) {
      int64_t index = 0;
      for (int64_t d = 0; d < rank; ++d)
        index = index * grid[d] + position[d];
      return index;
    };
    auto contains = [](const TokenBox &box, ArrayRef<int64_t> position) {
      for (size_t d = 0; d < position.size(); ++d)
        if (position[d] < box.begin[d] || position[d] >= box.end[d])
          return false;
      return true;
    };
    int64_t queryIndex = 0;
    for (auto [i, box] : llvm::enumerate(queryTiles))
      if (contains(box, center))
        queryIndex = i;
    const TokenBox &query = queryTiles[queryIndex];
    // The drawn plane: rows and columns are the last two grid dimensions.
    int64_t plane = rank == 3 ? center[0] : 0;
    int64_t rows = grid[rank - 2], columns = grid[rank - 1];
    double unit =
        std::min(kMaxCellPixels, kPanelPixels / std::max(rows, columns));
    std::string title;
    llvm::raw_string_ostream os(title);
    os << "on the " << shapeString(grid) << " grid"
       << (rank == 3 ? " (plane " + std::to_string(plane) + ")" : "")
       << ": key tiles of query tile " << queryIndex
       << " (outlined) by class, keys kept by its token " << shapeString(center)
       << " (dots)";
    svg.beginPanel(title, unit * columns, unit * rows);
    int64_t numKey = keyTiles.size();
    for (auto [k, box] : llvm::enumerate(keyTiles)) {
      if (rank == 3 && (plane < box.begin[0] || plane >= box.end[0]))
        continue;
      TileClass c = classes[queryIndex * numKey + k];
      std::string attributes = "class=\"grid-" + stringifyTileClass(c).str() +
                               "\" stroke=\"#c0c0c0\" stroke-width=\"0.5\"";
      svg.rect(box.begin[rank - 1] * unit, box.begin[rank - 2] * unit,
               (box.end[rank - 1] - box.begin[rank - 1]) * unit,
               (box.end[rank - 2] - box.begin[rank - 2]) * unit, classColor(c),
               attributes);
    }
    int64_t centerToken = flat(center);
    SmallVector<int64_t> position(rank, 0);
    if (rank == 3)
      position[0] = plane;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < columns; ++c) {
        position[rank - 2] = r;
        position[rank - 1] = c;
        if (!mask.keep(centerToken, flat(position), context))
          continue;
        svg.rect(c * unit + unit / 4, r * unit + unit / 4, unit / 2, unit / 2,
                 kKeptColor, "class=\"grid-kept\"");
      }
    if (rank == 2 || (plane >= query.begin[0] && plane < query.end[0]))
      svg.rect(query.begin[rank - 1] * unit, query.begin[rank - 2] * unit,
               (query.end[rank - 1] - query.begin[rank - 1]) * unit,
               (query.end[rank - 2] - query.begin[rank - 2]) * unit, "none",
               "class=\"grid-query\" stroke=\"#000000\" stroke-width=\"2\"");
    svg.frame(unit * columns, unit * rows);
  }
};

} // namespace
