//===- AttentionReference.h - independent reference of attn.attention -----===//
//
// What `attn.attention` computes (SEMANTICS.md sections 1-4), written
// directly from the contract in plain C++17 (standard library only; no
// dialect, MLIR or LLVM), accumulating in f64. It is the oracle the backends'
// execution tests compare against.
//
// Two paths:
//
//  * The exact path (Problem::precision is empty): section 1 evaluated
//    literally in f64, two passes per row (max, then sums). Use it as the
//    f64 reference of the accuracy metrics of section 3.
//
//  * The emulation path (any precision field set): a bit-faithful model of
//    what a quantized flash-attention kernel computes, so that a backend
//    running the same precision can be compared near-exactly. Every rounding
//    the contract names is modelled exactly (quantization of Q and K,
//    rounding of P and V to the P.V type, f16 accumulation, the f32 dS of
//    smooth_q); everything else is f64. Where the contract leaves a schedule
//    detail open, it is a documented field of Emulation.
//
// Layouts are logical and row-major: Q [B, Hq, Nq, D], K [B, Hkv, Nk, D],
// V [B, Hkv, Nk, Dv], O [B, Hq, Nq, Dv], LSE [B, Hq, Nq]. Inputs are taken as
// already rounded to their element type by the caller (see roundToF16 /
// roundToBF16 below). Outputs are f64; round them as the op's types say.
//
// Choices made where SEMANTICS.md is open (each also at its definition):
//  - renormalize = false: the denominator runs over all Nk keys of the row
//    (every score plus its bias, whatever the mask, the explicit mask or the
//    padding of run-time segments say); the numerator over the kept keys.
//    It applies to the whole head when any segments mask inside the head's
//    mask has renormalize = false. LSE = log of that denominator; a row with
//    no kept key still gets O = 0 and LSE = -inf.
//  - Heads: SoftPAG acts on the attention output, then the weight, then the
//    gate multiply O; LSE is not changed by SoftPAG, weights or gates except
//    that w_h == 0 gives LSE = -inf. SoftPAG mixes in the input V, never a
//    quantized V.
//  - Quantization arithmetic: smoothing (means and differences) is exact;
//    scales are stored as f32; x / scale is computed in f64 and rounded once
//    to the target type; dS of smooth_q is rounded to f32.
//  - FP8 Q.K: scale = max|x| / 448 per scale group, values E4M3 (RNE,
//    saturating).
//  - NVFP4: each E4M3 scale is RNE(max|x| / 6) (saturating; a scale that
//    rounds to 0 zeroes its block); no per-tensor f32 scale for Q, K or V;
//    blocks start at multiples of 16; P's per-row f32 scale is per kv tile:
//    tile row max / (6 * 448).
//  - P is rounded in the flash-attention order, against the running max of
//    each kv tile (Emulation::kvTile); l sums the unrounded p.
//  - pv_accum: f32 and two_level accumulate exactly (f64), so they agree;
//    f16 is an f16 accumulator (Emulation::f16AccumChunk).
//  - pv unset: P is not rounded (the op's default rounds P to V's type: set
//    pv to model it).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_UNITTESTS_REFERENCE_ATTENTIONREFERENCE_H
#define ATTN_UNITTESTS_REFERENCE_ATTENTIONREFERENCE_H

#include "Reference/MaskReference.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attnref {

//===----------------------------------------------------------------------===//
// Element types and exact rounding
//===----------------------------------------------------------------------===//

/// The element types of SEMANTICS.md section 3 (E4M3 and E2M1 are the
/// finite-only NVIDIA formats, MLIR's f8E4M3FN and f4E2M1FN).
enum class ElemType { F16, BF16, I8, I4, F8E4M3FN, F4E2M1FN };

/// The MLIR spelling: f16, bf16, i8, i4, f8E4M3FN, f4E2M1FN.
const char *toMlir(ElemType t);

/// IEEE binary16, round to nearest even; subnormals kept; values that round
/// past 65504 become +-inf; NaN stays NaN.
float roundToF16(float x);
/// bfloat16 (8 exponent bits, 7 fraction bits), round to nearest even;
/// subnormals kept; overflow to +-inf; NaN stays NaN.
float roundToBF16(float x);
/// f8E4M3FN, round to nearest even, saturating: anything (including +-inf)
/// beyond +-448 becomes +-448; the smallest subnormal is 2^-9 = 0.001953125;
/// NaN stays NaN.
float roundToF8E4M3FN(double x);
/// f4E2M1FN (values 0, 0.5, 1, 1.5, 2, 3, 4, 6), round to nearest even,
/// saturating at +-6. The format has no NaN; a NaN input returns NaN so that
/// it stays visible.
float roundToF4E2M1FN(double x);
/// Rounds x to the floating-point type t (F16, BF16, F8E4M3FN, F4E2M1FN).
double roundTo(ElemType t, double x);

std::vector<float> roundToF16(const std::vector<float> &x);
std::vector<float> roundToBF16(const std::vector<float> &x);

/// Integer quantization (section 3): scale = max|x| / qmax, stored as f32
/// (rounded from the exact quotient); an all-zero group has scale 1.
float integerScale(double maxAbs, int64_t qmax);
/// round-half-to-even(x / scale) clamped to [-qmax, qmax]; the quotient is
/// computed in f64.
int64_t quantizeInteger(double x, float scale, int64_t qmax);

//===----------------------------------------------------------------------===//
// Precision (SEMANTICS.md section 3)
//===----------------------------------------------------------------------===//

enum class Granularity { Tensor, Block, Thread, Token };
enum class Accumulation { F32, F16, TwoLevel };

struct PrecisionSpec {
  /// Type Q and K are quantized to before Q.K^T; unset: not rounded.
  std::optional<ElemType> qk;
  /// Tokens sharing one scale (required for I8, I4 and F8E4M3FN only).
  std::optional<Granularity> granularity;
  /// n of block(n) and thread(n); 0 otherwise.
  int64_t granularitySize = 0;
  bool smoothK = false, smoothQ = false;
  /// Type P and V are quantized to before P.V; unset: P is not rounded
  /// (set it to V's element type to model the default path of section 3,
  /// "P rounded to V's type").
  std::optional<ElemType> pv;
  Accumulation pvAccum = Accumulation::F32;

  /// No field set: the exact section-1 computation.
  bool isDefault() const;
  bool operator==(const PrecisionSpec &other) const;
  bool operator!=(const PrecisionSpec &other) const {
    return !(*this == other);
  }
};

/// "" when `p` is a valid precision (the rules of section 3 and of the
/// attribute: granularity exactly for I8 / I4 / F8E4M3FN, a positive size
/// for block and thread, a multiple of 8 for thread, pv a float type,
/// pv_accum = f16 only with pv = f16 or unset), else the reason.
std::string validate(const PrecisionSpec &p);

/// The presets of the dialect (sage1, sage2_8b, sage2_4b, fp8, nvfp4).
const std::vector<std::string> &presetNames();
/// The preset of this name; throws std::invalid_argument for other names.
PrecisionSpec preset(const std::string &name);

/// The precision in the dialect's syntax with every set field spelled out,
/// e.g. `#attn.precision<qk = i8, qk_granularity = block(64), smooth_k,
/// pv = f16, pv_accum = f16>`; `#attn.precision<>` when nothing is set.
std::string toMlir(const PrecisionSpec &p);

/// The scale group, inside one (batch, head), of token t for a granularity:
/// tensor 0; block(n) t / n; token t; thread(n) (t / n) * 8 + t % 8 (inside
/// each block of n tokens, tokens whose index mod 8 is equal share a scale).
int64_t scaleGroup(Granularity g, int64_t size, int64_t t);

/// Rows of one (batch, head) quantized for Q.K^T: row r, column c stands for
/// values[r * cols + c] * scales[r * numBlocks + c / blockCols].
struct QuantizedRows {
  int64_t rows = 0, cols = 0;
  /// Columns sharing one scale: cols (one scale per row), or 16 (NVFP4).
  int64_t blockCols = 1;
  /// The quantized values: integers, E4M3 or E2M1 values, or the values
  /// rounded to f16 / bf16 (or unrounded when qk is unset).
  std::vector<double> values;
  /// [rows, numBlocks]; 1 when the type has no scale.
  std::vector<double> scales;
  int64_t numBlocks() const { return (cols + blockCols - 1) / blockCols; }
  double scaleOf(int64_t r, int64_t c) const {
    return scales[r * numBlocks() + c / blockCols];
  }
  double dequantized(int64_t r, int64_t c) const {
    return values[r * cols + c] * scaleOf(r, c);
  }
};

/// Quantizes `x` [rows, cols] (the tokens of one batch and head, already
/// smoothed) to p.qk, the way section 3 says:
///  - I8 / I4: integer quantization per scale group of the granularity;
///  - F8E4M3FN: scale = max|x| / 448 per scale group (f32; 1 for an all-zero
///    group), value = E4M3(x / scale), round to nearest even, saturating;
///  - F4E2M1FN (NVFP4): each run of 16 columns of a row shares one E4M3
///    scale = E4M3(max|x| / 6), value = E2M1(x / scale) (saturating);
///    blocks whose scale rounds to 0 quantize to 0 (scale 1 when all-zero);
///  - F16 / BF16: rounded; unset: unchanged. Scales 1.
QuantizedRows quantizeQK(const std::vector<double> &x, int64_t rows,
                         int64_t cols, const PrecisionSpec &p);

/// Schedule choices of a kernel that the contract leaves open. They only
/// matter on the emulation path.
struct Emulation {
  /// Keys per online-softmax step (the kv tile of the kernel). Per tile and
  /// row, in the FlashAttention order: m' = max(m, tile row max); p =
  /// exp(s - m') (0 for dropped keys); l = exp(m - m') l + sum p (the
  /// unrounded p, as FlashAttention and SageAttention sum the f32 P before
  /// converting it); P rounded to the pv type; O = exp(m - m') O + P.V.
  /// The FP8 and NVFP4 roundings of P depend on the running max, hence on
  /// this size. exp here is the natural exponential; kernels use exp2 of
  /// log2(e)-scaled scores, the same function up to f32 rounding.
  int64_t kvTile = 64;
  /// pv_accum = f16: the O accumulator is f16 throughout; each tile
  /// rescales it (rounded to f16), then every run of f16AccumChunk keys of
  /// the tile (16: the k of an m16n8k16 f16 MMA) adds its exact P.V sum
  /// with one rounding to f16.
  int64_t f16AccumChunk = 16;
  /// smooth_q with a granularity that has no block size (NVFP4, f16 / bf16
  /// or unset qk): the Q block whose mean is subtracted. block(n) and
  /// thread(n) use n, token 1, tensor all of Nq.
  int64_t smoothQBlock = 64;
};

//===----------------------------------------------------------------------===//
// Problems
//===----------------------------------------------------------------------===//

/// A per-pair operand (explicit mask or bias): [batches, heads, Nq, Nk]
/// row-major with batches in {1, B} and heads in {1, Hq} (1 broadcasts; a
/// [Nq, Nk] operand is batches = heads = 1). Empty values: no operand.
template <typename T> struct PairOperand {
  std::vector<T> values;
  int64_t batches = 1, heads = 1;
  bool present() const { return !values.empty(); }
};

/// SoftPAG: O'_h[i] = (1 - u) O_h[i] + u V_kv(h)[i] on the listed heads.
struct SoftPag {
  double u = 0;
  std::vector<int64_t> heads;
};

/// Heads with their own mask and / or precision; an unset field means the
/// problem's.
struct HeadGroup {
  std::vector<int64_t> heads;
  std::optional<Spec> mask;
  std::optional<PrecisionSpec> precision;
};

struct Problem {
  int64_t B = 1, Hq = 1, Hkv = 1, Nq = 1, Nk = 1, D = 1, Dv = 1;
  /// The mask attribute (dense by default).
  Spec mask;
  /// Softmax scale; unset: 1 / sqrt(D).
  std::optional<double> scale;
  /// Explicit boolean mask (nonzero keeps), ANDed with `mask`.
  PairOperand<uint8_t> explicitMask;
  /// Additive bias, added to the scaled score s.
  PairOperand<float> bias;
  /// Run-time segment offsets, one entry per batch element (or none: a
  /// run-time segments mask then uses its Spec's sizes).
  std::vector<SegmentOffsets> segmentOffsets;
  /// Head weights [Hq] (empty: none). w_h == 0: O_h = 0 and LSE_h = -inf.
  std::vector<double> weights;
  /// Gates [B, Nq, Hq] (empty: none): O[b, h, i] *= gates[b, i, h].
  std::vector<float> gates;
  std::optional<SoftPag> softpag;
  std::vector<HeadGroup> groups;
  PrecisionSpec precision;
  Emulation emulation;

  double effectiveScale() const;
  /// The kv head read by query head h: h / (Hq / Hkv).
  int64_t kvHead(int64_t h) const { return h / (Hq / Hkv); }
};

/// "" when the problem and the input sizes are consistent, else the reason.
std::string validate(const Problem &p, size_t qSize, size_t kSize,
                     size_t vSize);

struct Result {
  std::vector<double> O;   // [B, Hq, Nq, Dv]
  std::vector<double> LSE; // [B, Hq, Nq], natural log
};

/// What attn.attention computes for `p` (see the file comment). Throws
/// std::invalid_argument when validate(p, ...) fails.
///
/// Per batch b and query head h:
///  1. w_h == 0: O = 0, LSE = -inf, nothing else.
///  2. Attention with the head's mask (its group's, else the problem's),
///     ANDed with the explicit mask, and the bias added to the scaled score.
///     A row with no kept key: O = 0, LSE = -inf.
///     renormalize = false (a segments mask with renormalize = false anywhere
///     in the head's mask): m and l run over all Nk keys (every score, plus
///     its bias), the numerator only over the kept keys; LSE is then
///     m + log(l), the log of the denominator actually used, so that
///     O[i] = sum_{j kept} exp(s[i,j] - LSE[i]) V[j] holds as in section 1;
///     a row with no kept key still gets O = 0 and LSE = -inf.
///  3. softpag: O = (1 - u) O + u V_kv(h)[i] (V as given, unquantized).
///  4. O *= w_h, then O *= gates[b, i, h].
///  Steps 3-4 change O only; LSE is that of step 2 (section 1 says section
///  4 changes O), except w_h == 0.
Result reference(const Problem &p, const std::vector<float> &q,
                 const std::vector<float> &k, const std::vector<float> &v);

//===----------------------------------------------------------------------===//
// Gradients (section 5)
//===----------------------------------------------------------------------===//

struct Gradients {
  std::vector<double> dQ;     // [B, Hq, Nq, D]
  std::vector<double> dK;     // [B, Hkv, Nk, D]
  std::vector<double> dV;     // [B, Hkv, Nk, Dv]
  std::vector<double> dBias;  // the bias's shape (empty without a bias)
  std::vector<double> dGates; // [B, Nq, Hq] (empty without gates)
};

/// The gradients of section 5 for `p` at q, k, v, given dO [B, Hq, Nq, Dv]
/// and dLSE [B, Hq, Nq] (empty: none), in f64, literally: per (b, h) the
/// forward's A and LSE of section 1 (unquantized whatever p.precision:
/// the quantization is taken as the identity), then dA, P, dP, Dlt, dS and
/// their sums; dK and dV summed over the query heads of a kv head, dBias
/// over the bias's broadcast dimensions. Throws like reference().
Gradients gradients(const Problem &p, const std::vector<float> &q,
                    const std::vector<float> &k, const std::vector<float> &v,
                    const std::vector<double> &dO,
                    const std::vector<double> &dLSE);

//===----------------------------------------------------------------------===//
// Accuracy (section 3), over whole outputs
//===----------------------------------------------------------------------===//

/// dot(x, ref) / (|x| |ref|); 1 when both are zero, 0 when one is.
double cosineSimilarity(const std::vector<double> &x,
                        const std::vector<double> &ref);
/// sum|x - ref| / sum|ref|; 0 when both are zero, +inf when only ref is
/// zero.
double relativeL1(const std::vector<double> &x, const std::vector<double> &ref);

} // namespace attnref

#endif // ATTN_UNITTESTS_REFERENCE_ATTENTIONREFERENCE_H
