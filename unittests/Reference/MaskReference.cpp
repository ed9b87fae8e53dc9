//===- MaskReference.cpp - independent reference of the attn masks --------===//
//
// Written from SEMANTICS.md section 2 and the attribute syntax of
// docs/Masks.md; no dialect code.
//
//===----------------------------------------------------------------------===//

#include "Reference/MaskReference.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace attnref {

//===----------------------------------------------------------------------===//
// The reference of SEMANTICS.md section 2
//===----------------------------------------------------------------------===//

namespace ref {

bool keepInDim(int64_t L, int64_t w, int64_t s, int64_t d, bool causal,
               int64_t x, int64_t y) {
  if (x % d != y % d)
    return false;
  int64_t g = x % d, a = x / d, b = y / d;
  int64_t n = (L - g + d - 1) / d;
  if (!causal) {
    int64_t leader = std::min(a / s * s + s / 2, n - 1);
    int64_t start = leader - w / 2;
    if (start > n - w)
      start = n - w;
    if (start < 0)
      start = 0;
    return start <= b && b < start + w;
  }
  int64_t leader = std::min(a / s * s + s - 1, n - 1);
  return std::max<int64_t>(leader - w + 1, 0) <= b && b <= a;
}

std::vector<int64_t> coordsOf(int64_t index, const std::vector<int64_t> &grid) {
  std::vector<int64_t> coords(grid.size());
  for (size_t d = grid.size(); d-- > 0;) {
    coords[d] = index % grid[d];
    index /= grid[d];
  }
  return coords;
}

bool isPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

namespace {

/// The segment holding `index`, the index inside it and the segment's
/// length, for the segments of `sizes`, or (when `offsets` is given) for
/// [offsets[a], offsets[a + 1]), a < sizes.size(). False when no segment
/// holds it.
bool locate(const std::vector<int64_t> &sizes,
            const std::vector<int64_t> *offsets, int64_t index,
            int64_t &segment, int64_t &local, int64_t &length) {
  int64_t start = 0;
  for (size_t a = 0; a < sizes.size(); ++a) {
    int64_t begin = offsets ? (*offsets)[a] : start;
    int64_t end = offsets ? (*offsets)[a + 1] : start + sizes[a];
    if (begin <= index && index < end) {
      segment = static_cast<int64_t>(a);
      local = index - begin;
      length = end - begin;
      return true;
    }
    start = end;
  }
  return false;
}

bool keepSegments(const Spec &s, int64_t i, int64_t j,
                  const SegmentOffsets *offsets) {
  const std::vector<int64_t> *qOffsets = nullptr, *kOffsets = nullptr;
  if (s.dynamic && offsets) {
    qOffsets = &offsets->query;
    kOffsets = offsets->key.empty() ? &offsets->query : &offsets->key;
    if (qOffsets->size() < s.qSizes.size() + 1 ||
        kOffsets->size() < s.kSizes.size() + 1)
      throw std::invalid_argument(
          "segment offsets need one more entry than the segment count");
  }
  int64_t a, b, li, lj, qLen, kLen;
  if (!locate(s.qSizes, qOffsets, i, a, li, qLen) ||
      !locate(s.kSizes, kOffsets, j, b, lj, kLen))
    return false;
  const Spec &entry = s.children[a * s.kSizes.size() + b];
  // Entries see segment-local indices and the segment's own lengths; run-time
  // offsets describe only the outer segments.
  return keep(entry, li, lj, qLen, kLen, nullptr);
}

} // namespace

bool keep(const Spec &s, int64_t i, int64_t j, int64_t nq, int64_t nk,
          const SegmentOffsets *offsets) {
  switch (s.kind) {
  case Kind::Dense:
    return true;
  case Kind::None:
    return false;
  case Kind::Causal: {
    int64_t delta = s.bottomRight ? nk - nq : 0;
    return j <= i + delta;
  }
  case Kind::Sliding: {
    int64_t delta = s.bottomRight ? nk - nq : 0;
    return i + delta - s.left <= j && j <= i + delta + s.right;
  }
  case Kind::Neighborhood: {
    std::vector<int64_t> x = coordsOf(i, s.grid), y = coordsOf(j, s.grid);
    for (size_t d = 0; d < s.grid.size(); ++d)
      if (!keepInDim(s.grid[d], s.window[d], s.stride[d], s.dilation[d],
                     s.causalDims[d], x[d], y[d]))
        return false;
    return true;
  }
  case Kind::PowerLaw: {
    int64_t delta = i / s.block - j / s.block;
    if (s.plCausal) {
      if (j > i)
        return false;
    } else {
      delta = delta < 0 ? -delta : delta;
    }
    return j < s.sink * s.block || delta < s.plWindow || isPowerOfTwo(delta);
  }
  case Kind::Segments:
    return keepSegments(s, i, j, offsets);
  case Kind::And:
    for (const Spec &m : s.children)
      if (!keep(m, i, j, nq, nk, offsets))
        return false;
    return true;
  case Kind::Or:
    for (const Spec &m : s.children)
      if (keep(m, i, j, nq, nk, offsets))
        return true;
    return false;
  }
  return false;
}

bool hasNoRenormalize(const Spec &s) {
  if (s.kind == Kind::Segments && !s.renormalize)
    return true;
  for (const Spec &c : s.children)
    if (hasNoRenormalize(c))
      return true;
  return false;
}

} // namespace ref

//===----------------------------------------------------------------------===//
// Attribute syntax
//===----------------------------------------------------------------------===//

namespace {

template <typename T, typename F>
void printList(std::ostream &os, const std::vector<T> &values, F print) {
  os << "[";
  for (size_t n = 0; n < values.size(); ++n) {
    if (n)
      os << ", ";
    print(os, values[n]);
  }
  os << "]";
}

void printInts(std::ostream &os, const std::vector<int64_t> &values) {
  printList(os, values, [](std::ostream &o, int64_t v) { o << v; });
}

void printSizes(std::ostream &os, const std::vector<int64_t> &values,
                bool dynamic) {
  printList(os, values, [&](std::ostream &o, int64_t v) {
    if (dynamic)
      o << "?";
    else
      o << v;
  });
}

const char *alignment(bool bottomRight) {
  return bottomRight ? "bottom_right" : "top_left";
}

const char *boolean(bool b) { return b ? "true" : "false"; }

void print(std::ostream &os, const Spec &s);

/// A visibility entry: the keywords full, none and causal (segment-local,
/// top-left), or a nested mask attribute.
void printEntry(std::ostream &os, const Spec &s) {
  if (s.kind == Kind::Dense)
    os << "full";
  else if (s.kind == Kind::None)
    os << "none";
  else if (s.kind == Kind::Causal && !s.bottomRight)
    os << "causal";
  else
    print(os, s);
}

void print(std::ostream &os, const Spec &s) {
  switch (s.kind) {
  case Kind::Dense:
    os << "#attn.dense";
    return;
  case Kind::None:
    os << "#attn.none";
    return;
  case Kind::Causal:
    os << "#attn.causal<" << alignment(s.bottomRight) << ">";
    return;
  case Kind::Sliding:
    os << "#attn.sliding_window<left = " << s.left << ", right = " << s.right
       << ", alignment = " << alignment(s.bottomRight) << ">";
    return;
  case Kind::Neighborhood:
    os << "#attn.neighborhood<grid = ";
    printInts(os, s.grid);
    os << ", window = ";
    printInts(os, s.window);
    os << ", stride = ";
    printInts(os, s.stride);
    os << ", dilation = ";
    printInts(os, s.dilation);
    os << ", causal = ";
    printList(os, s.causalDims,
              [](std::ostream &o, bool c) { o << boolean(c); });
    os << ">";
    return;
  case Kind::PowerLaw:
    os << "#attn.power_law<block = " << s.block << ", window = " << s.plWindow
       << ", sink = " << s.sink << ", causal = " << boolean(s.plCausal) << ">";
    return;
  case Kind::Segments: {
    os << "#attn.segments<query = ";
    printSizes(os, s.qSizes, s.dynamic);
    os << ", key = ";
    printSizes(os, s.kSizes, s.dynamic);
    os << ", visibility = [";
    size_t numK = s.kSizes.size();
    for (size_t a = 0; a < s.qSizes.size(); ++a) {
      if (a)
        os << ", ";
      os << "[";
      for (size_t b = 0; b < numK; ++b) {
        if (b)
          os << ", ";
        printEntry(os, s.children[a * numK + b]);
      }
      os << "]";
    }
    os << "], renormalize = " << boolean(s.renormalize) << ">";
    return;
  }
  case Kind::And:
  case Kind::Or:
    os << (s.kind == Kind::And ? "#attn.and<" : "#attn.or<");
    for (size_t m = 0; m < s.children.size(); ++m) {
      if (m)
        os << ", ";
      print(os, s.children[m]);
    }
    os << ">";
    return;
  }
}

} // namespace

std::string toMlir(const Spec &s) {
  std::ostringstream os;
  print(os, s);
  return os.str();
}

//===----------------------------------------------------------------------===//
// Constructors
//===----------------------------------------------------------------------===//

Spec makeDense() { return Spec{}; }
Spec makeNone() {
  Spec s;
  s.kind = Kind::None;
  return s;
}
Spec makeCausal(bool bottomRight) {
  Spec s;
  s.kind = Kind::Causal;
  s.bottomRight = bottomRight;
  return s;
}
Spec makeSliding(int64_t left, int64_t right, bool bottomRight) {
  Spec s;
  s.kind = Kind::Sliding;
  s.left = left;
  s.right = right;
  s.bottomRight = bottomRight;
  return s;
}
Spec makePowerLaw(int64_t block, int64_t window, int64_t sink, bool causal) {
  Spec s;
  s.kind = Kind::PowerLaw;
  s.block = block;
  s.plWindow = window;
  s.sink = sink;
  s.plCausal = causal;
  return s;
}
Spec makeNeighborhood(const std::vector<int64_t> &grid,
                      const std::vector<int64_t> &window,
                      const std::vector<int64_t> &stride,
                      const std::vector<int64_t> &dilation,
                      const std::vector<bool> &causal) {
  Spec s;
  s.kind = Kind::Neighborhood;
  s.grid = grid;
  s.window = window;
  s.stride = stride;
  s.dilation = dilation;
  s.causalDims = causal;
  return s;
}
Spec makeComposite(Kind kind, std::vector<Spec> members) {
  Spec s;
  s.kind = kind;
  s.children = std::move(members);
  return s;
}
Spec makeSegments(std::vector<int64_t> q, std::vector<int64_t> k,
                  std::vector<Spec> table, bool dynamic, bool renormalize) {
  Spec s;
  s.kind = Kind::Segments;
  s.qSizes = std::move(q);
  s.kSizes = std::move(k);
  s.children = std::move(table);
  s.dynamic = dynamic;
  s.renormalize = renormalize;
  return s;
}

std::vector<int64_t> prefixOffsets(const std::vector<int64_t> &sizes) {
  std::vector<int64_t> offsets = {0};
  for (int64_t s : sizes)
    offsets.push_back(offsets.back() + s);
  return offsets;
}

//===----------------------------------------------------------------------===//
// Random masks
//===----------------------------------------------------------------------===//

int64_t uniform(Rng &rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
bool coin(Rng &rng, double p) { return std::bernoulli_distribution(p)(rng); }

int64_t product(const std::vector<int64_t> &values) {
  int64_t result = 1;
  for (int64_t v : values)
    result *= v;
  return result;
}

std::vector<int64_t> randomFactorization(Rng &rng, int64_t n, unsigned rank) {
  std::vector<int64_t> dims(rank, 1);
  int64_t m = n;
  for (int64_t p = 2; p * p <= m; ++p) {
    while (m % p == 0) {
      dims[uniform(rng, 0, rank - 1)] *= p;
      m /= p;
    }
  }
  if (m > 1)
    dims[uniform(rng, 0, rank - 1)] *= m;
  return dims;
}

std::vector<int64_t> randomComposition(Rng &rng, int64_t total, int64_t parts) {
  std::vector<int64_t> cuts = {0, total};
  for (int64_t p = 1; p < parts; ++p)
    cuts.push_back(uniform(rng, 0, total));
  std::sort(cuts.begin(), cuts.end());
  std::vector<int64_t> sizes;
  for (size_t c = 1; c < cuts.size(); ++c)
    sizes.push_back(cuts[c] - cuts[c - 1]);
  return sizes;
}

std::vector<int64_t> randomGrid(Rng &rng, unsigned rank, int64_t maxExtent) {
  std::vector<int64_t> grid;
  for (unsigned d = 0; d < rank; ++d)
    grid.push_back(uniform(rng, 1, maxExtent));
  return grid;
}

Spec randomNeighborhood(Rng &rng, const std::vector<int64_t> &grid,
                        double causalProb) {
  Spec s;
  s.kind = Kind::Neighborhood;
  s.grid = grid;
  for (int64_t L : grid) {
    int64_t d = coin(rng, 0.3) ? uniform(rng, 1, std::min<int64_t>(L, 3)) : 1;
    int64_t w = uniform(rng, 1, L / d);
    if (coin(rng, 0.15))
      w = L / d; // the largest window of this dilation
    int64_t st = coin(rng, 0.4) ? 1 : uniform(rng, 1, w);
    if (coin(rng, 0.15))
      st = w; // blocked
    s.window.push_back(w);
    s.stride.push_back(st);
    s.dilation.push_back(d);
    s.causalDims.push_back(coin(rng, causalProb));
  }
  return s;
}

Spec randomSliding(Rng &rng, int64_t nq, int64_t nk, bool bottomRight) {
  int64_t reach = std::max(nq, nk) + 2;
  auto side = [&]() -> int64_t {
    switch (uniform(rng, 0, 5)) {
    case 0:
      return 0;
    case 1:
      return 1000; // past every border
    default:
      return uniform(rng, 0, reach);
    }
  };
  // Sequenced, so that the configurations do not depend on the compiler's
  // order of evaluating arguments.
  int64_t left = side();
  int64_t right = side();
  return makeSliding(left, right, bottomRight);
}

Spec randomPowerLaw(Rng &rng, bool causal) {
  int64_t block = uniform(rng, 1, 4);
  int64_t window = uniform(rng, 0, 3);
  int64_t sink = uniform(rng, 0, 2);
  return makePowerLaw(block, window, sink, causal);
}

Spec randomEntry(Rng &rng, int64_t qLen, int64_t kLen, int depth) {
  for (;;) {
    switch (uniform(rng, 0, 9)) {
    case 0:
      return makeNone();
    case 1:
      return makeDense();
    case 2:
      return makeCausal(false);
    case 3:
      return makeCausal(true);
    case 4:
      return randomSliding(rng, qLen, kLen, coin(rng));
    case 5:
      return randomPowerLaw(rng, coin(rng));
    case 6:
    case 7: // a neighborhood over a (square) segment pair
      if (qLen == kLen && qLen > 0)
        return randomNeighborhood(
            rng, randomFactorization(rng, qLen, uniform(rng, 1, 3)));
      break;
    case 8:
      if (depth > 0) {
        Kind kind = coin(rng) ? Kind::And : Kind::Or;
        return makeComposite(kind, {randomEntry(rng, qLen, kLen, depth - 1),
                                    randomEntry(rng, qLen, kLen, depth - 1)});
      }
      break;
    case 9:
      if (depth > 0) { // nested static segments
        bool noDynamic = false;
        Spec nested = randomMask(rng, qLen, kLen, 0, noDynamic);
        if (nested.kind == Kind::Segments)
          return nested;
      }
      break;
    }
  }
}

Spec randomSegments(Rng &rng, int64_t nq, int64_t nk, int depth, bool dynamic) {
  int64_t numQ = uniform(rng, 1, 4);
  std::vector<int64_t> q = randomComposition(rng, nq, numQ);
  std::vector<int64_t> k = nq == nk && coin(rng, 0.7)
                               ? q
                               : randomComposition(rng, nk, uniform(rng, 1, 4));
  std::vector<Spec> table;
  for (int64_t qs : q)
    for (int64_t ks : k)
      table.push_back(randomEntry(rng, qs, ks, depth));
  return makeSegments(q, k, std::move(table), dynamic, coin(rng, 0.8));
}

Spec randomMask(Rng &rng, int64_t nq, int64_t nk, int depth,
                bool &dynamicAllowed) {
  for (;;) {
    switch (uniform(rng, 0, 9)) {
    case 0:
      return coin(rng) ? makeDense() : makeNone();
    case 1:
      return makeCausal(coin(rng));
    case 2:
      return randomSliding(rng, nq, nk, coin(rng));
    case 3:
      return randomPowerLaw(rng, coin(rng));
    case 4:
    case 5:
      if (nq == nk && nq > 0)
        return randomNeighborhood(
            rng, randomFactorization(rng, nq, uniform(rng, 1, 3)));
      break;
    case 6:
    case 7: {
      bool dynamic = dynamicAllowed && coin(rng, 0.4);
      if (dynamic)
        dynamicAllowed = false;
      return randomSegments(rng, nq, nk, std::max(depth - 1, 0), dynamic);
    }
    case 8:
    case 9:
      if (depth > 0) {
        std::vector<Spec> members;
        for (int64_t m = uniform(rng, 2, 3); m > 0; --m)
          members.push_back(randomMask(rng, nq, nk, depth - 1, dynamicAllowed));
        return makeComposite(coin(rng) ? Kind::And : Kind::Or,
                             std::move(members));
      }
      break;
    }
  }
}

Spec randomGridComposite(Rng &rng, Kind kind,
                         const std::vector<int64_t> &grid) {
  int64_t n = product(grid);
  std::vector<Spec> members = {randomNeighborhood(rng, grid)};
  bool dynamicAllowed = true;
  for (int64_t m = uniform(rng, 1, 2); m > 0; --m) {
    if (coin(rng, 0.3))
      members.push_back(randomNeighborhood(
          rng, randomFactorization(rng, n, uniform(rng, 1, 3))));
    else
      members.push_back(randomMask(rng, n, n, 1, dynamicAllowed));
  }
  std::shuffle(members.begin() + 1, members.end(), rng);
  return makeComposite(kind, std::move(members));
}

} // namespace attnref
