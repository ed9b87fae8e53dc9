//===- AttnMaskAttrs.td - mask attributes -----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNMASKATTRS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNMASKATTRS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnEnums.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class Attn_DefaultEnumParameter<EnumAttrInfo info, string value>
    : EnumParameter<info> {
  let defaultValue = value;
}

class Attn_MaskAttr<string name, string attrMnemonic, list<string> overridden = []>
    : Attn_Attr<name, attrMnemonic, [DeclareAttrInterfaceMethods<
          Attn_MaskAttrInterface,
          !listconcat(["classifyTile", "emitKeep"], overridden)>]>;

//===----------------------------------------------------------------------===//
// Masks (SEMANTICS.md section 2)
//===----------------------------------------------------------------------===//

def Attn_DenseMaskAttr : Attn_MaskAttr<"DenseMask", "dense", ["countKept", "emitClassifyRange"]> {
  let summary = "Keeps every (query, key) pair";
  let description = [{
    The mask of plain attention. An op without a `mask` attribute is dense.

    ```mlir
    #attn.dense
    ```
  }];
}

def Attn_NoneMaskAttr : Attn_MaskAttr<"NoneMask", "none", ["countKept", "emitClassifyRange", "emitKeyRange", "emitQueryRange"]> {
  let summary = "Keeps no pair";
  let description = [{
    Drops every pair. Useful as an entry of a segment visibility table, where
    it is written `none`. Rows with no kept key produce O = 0 and LSE = -inf.

    ```mlir
    #attn.none
    ```
  }];
}

def Attn_CausalMaskAttr
    : Attn_MaskAttr<"CausalMask", "causal",
                    ["countKept", "simplify", "emitClassifyRange",
                     "emitKeyRange", "emitQueryRange"]> {
  let summary = "Keeps key j for query i iff j <= i + delta";
  let description = [{
    Causal masking. `delta` is 0 for `top_left` alignment (the default) and
    Nk - Nq for `bottom_right` (the decoding convention, where the last query
    sees every key).

    ```mlir
    #attn.causal                   // j <= i
    #attn.causal<bottom_right>     // j <= i + (Nk - Nq)
    ```
  }];
  let parameters = (ins Attn_DefaultEnumParameter<Attn_CausalAlignment,
                        "CausalAlignment::TopLeft">:$alignment);
  let assemblyFormat = "(`<` $alignment^ `>`)?";
}

def Attn_SlidingWindowMaskAttr : Attn_MaskAttr<"SlidingWindowMask",
    "sliding_window", ["countKept", "simplify", "emitClassifyRange",
                       "emitKeyRange", "emitQueryRange"]> {
  let summary = "Clipped 1-D sliding window: i + delta - left <= j <= i + delta + right";
  let description = [{
    The FlashAttention `window_size` convention. Windows are clipped at the
    sequence borders (queries near a border see fewer keys). `delta` follows
    `alignment` exactly as for `#attn.causal`.

    ```mlir
    #attn.sliding_window<left = 128, right = 0>
    #attn.sliding_window<left = 64, right = 64, alignment = bottom_right>
    ```
  }];
  let parameters = (ins "int64_t":$left, "int64_t":$right,
                        Attn_DefaultEnumParameter<Attn_CausalAlignment,
                        "CausalAlignment::TopLeft">:$alignment);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_NeighborhoodMaskAttr : Attn_MaskAttr<"NeighborhoodMask",
    "neighborhood", ["countKept", "simplify", "verifyLengths", "getTokenGrid",
                     "emitKeyRange", "emitQueryRange"]> {
  let summary = "N-D neighborhood, strided or blocked window on a token grid";
  let description = [{
    Tokens lie on a row-major grid of rank 1 to 3 (`grid`, last coordinate
    fastest, Nq = Nk = product of the extents). Per dimension: `window` w,
    `stride` s (default 1), `dilation` d (default 1) and a `causal` flag
    (default false). A pair is kept iff it is kept in every dimension:

    * dilation: x mod d == y mod d, else dropped; a = x div d, b = y div d,
      n = ceil((L - x mod d) / d);
    * non-causal: leader = min(floor(a/s)*s + floor(s/2), n-1),
      start = clamp(leader - floor(w/2), 0, n-w), keep iff start <= b < start+w
      (windows shift inward at the borders, so every query sees exactly w keys);
    * causal: leader = min(floor(a/s)*s + s-1, n-1),
      keep iff max(leader-w+1, 0) <= b <= a.

    s = 1 is neighborhood attention, 1 < s < w a strided window, s = w blocked
    (Swin-style) attention. Valid: 1 <= s <= w, d >= 1, w*d <= L.

    ```mlir
    #attn.neighborhood<grid = [128, 128], window = [13, 13]>
    #attn.neighborhood<grid = [128, 128], window = [24, 24], stride = [8, 8]>
    #attn.neighborhood<grid = [16, 32, 32], window = [5, 9, 9], dilation = [1, 2, 2], causal = [true, false, false]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$grid,
                        ArrayRefParameter<"int64_t">:$window,
                        ArrayRefParameter<"int64_t">:$stride,
                        ArrayRefParameter<"int64_t">:$dilation,
                        ArrayRefParameter<"bool">:$causal);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getRank() const { return getGrid().size(); }
    /// Number of kept keys of query coordinate `x` in dimension `dim`, with
    /// key coordinates restricted to [keyBegin, keyEnd).
    int64_t countKeptInDim(unsigned dim, int64_t x, int64_t keyBegin,
                           int64_t keyEnd) const;
    /// Whether query coordinate `x` keeps key coordinate `y` in `dim`.
    bool keepInDim(unsigned dim, int64_t x, int64_t y) const;
  }];
}

def Attn_PowerLawMaskAttr : Attn_MaskAttr<"PowerLawMask", "power_law",
    ["countKept", "emitKeyRange", "emitQueryRange", "emitClassifyRange"]> {
  let summary = "PowerAttention: local window, sinks and power-of-two block distances";
  let description = [{
    With block size `block` (tokens), local `window` and `sink` (in blocks)
    and delta = floor(i/block) - floor(j/block):
    keep iff j <= i and (j < sink*block or delta < window or delta is a power
    of two). Token-level causal on the diagonal, block-level elsewhere.
    `causal = false` uses |delta| and drops the j <= i condition.

    ```mlir
    #attn.power_law<block = 256, window = 5, sink = 1>
    #attn.power_law<block = 64, window = 2, sink = 0, causal = false>
    ```
  }];
  let parameters = (ins "int64_t":$block, "int64_t":$window,
                        DefaultValuedParameter<"int64_t", "0">:$sink,
                        DefaultValuedParameter<"bool", "true">:$causal);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The block-level rule (everything but token-level causality).
    bool keepBlocks(int64_t queryBlock, int64_t keyBlock) const;
  }];
}

def Attn_SegmentsMaskAttr : Attn_MaskAttr<"SegmentsMask", "segments",
    ["simplify", "verifyLengths", "needsSegmentOffsets", "emitQueryRange"]> {
  let summary = "In-context segment masks with a visibility table";
  let description = [{
    The query sequence is cut into contiguous segments of sizes `query`, the
    key sequence into `key` (defaults to `query`, for self-attention). Sizes
    are all static or all `?`: run-time sizes come from the op's
    `segment_offsets` operand. `visibility[a][b]` says what a query of segment
    a sees of segment b: `none`, `full`, `causal` (segment-local causal), or
    any mask attribute, applied to segment-local indices (its grid describes
    the segment). `renormalize = false` keeps the softmax denominator over all
    keys and masks only the numerator.

    ```mlir
    // prefix-LM
    #attn.segments<query = [64, 192], visibility = [[full, none], [full, causal]]>
    // document mask with run-time document lengths
    #attn.segments<query = [?, ?, ?], visibility = [[causal, none, none], [none, causal, none], [none, none, causal]]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$querySizes,
                        ArrayRefParameter<"int64_t">:$keySizes,
                        ArrayRefParameter<"MaskAttrInterface">:$visibility,
                        DefaultValuedParameter<"bool", "true">:$renormalize);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getNumQuerySegments() const { return getQuerySizes().size(); }
    int64_t getNumKeySegments() const { return getKeySizes().size(); }
    bool hasDynamicSizes() const;
    /// The entry of the visibility table for query segment `a`, key segment `b`.
    MaskAttrInterface getEntry(int64_t a, int64_t b) const {
      return getVisibility()[a * getNumKeySegments() + b];
    }
  }];
}

class Attn_CompositeMaskAttr<string name, string attrMnemonic>
    : Attn_MaskAttr<name, attrMnemonic, ["simplify", "verifyLengths",
                                         "getTokenGrid", "needsSegmentOffsets",
                                         "emitClassifyRange", "emitKeyRange",
                                         "emitQueryRange"]> {
  let parameters = (ins ArrayRefParameter<"MaskAttrInterface">:$members);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Attn_AndMaskAttr : Attn_CompositeMaskAttr<"AndMask", "and"> {
  let summary = "Keeps a pair when every member keeps it";
  let description = [{
    ```mlir
    #attn.and<#attn.causal, #attn.sliding_window<left = 256, right = 0>>
    ```
  }];
}

def Attn_OrMaskAttr : Attn_CompositeMaskAttr<"OrMask", "or"> {
  let summary = "Keeps a pair when any member keeps it";
  let description = [{
    ```mlir
    #attn.or<#attn.sliding_window<left = 128, right = 0>, #attn.power_law<block = 64, window = 1, sink = 1>>
    ```
  }];
}

def Attn_ShardMaskAttr : Attn_MaskAttr<"ShardMask", "shard",
    ["countKept", "verifyLengths", "simplify", "emitClassifyRange",
     "emitKeyRange", "emitQueryRange"]> {
  let summary = "`mask` on one shard pair of a longer sequence";
  let description = [{
    Context parallelism computes a query shard against a key shard of a
    sequence of `query_length` x `key_length` tokens. Local query i is
    global query `query_start` + i, local key j global key `key_start` + j,
    and the pair is kept as `mask` keeps the global pair (with the global
    lengths):

    ```
    keep(i, j) = mask.keep(query_start + i, key_start + j)
    ```

    The shard is flat (no token grid of its own), and its tiles are
    classified by classifying their global index ranges with `mask`, so
    empty and full tiles of a shard pair are found exactly as in the whole
    problem. The op's Nq and Nk must fit: query_start + Nq <= query_length,
    key_start + Nk <= key_length. `mask` must not need run-time segment
    offsets.

    ```mlir
    #attn.shard<mask = #attn.sliding_window<left = 4096, right = 0>,
                query_start = 16384, key_start = 8192,
                query_length = 131072, key_length = 131072>
    ```
  }];
  let parameters = (ins "MaskAttrInterface":$mask, "int64_t":$query_start,
                        "int64_t":$key_start, "int64_t":$query_length,
                        "int64_t":$key_length);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The whole problem's context, in which `mask` is evaluated.
    ::mlir::attn::MaskContext getGlobalContext() const {
      return ::mlir::attn::MaskContext(getQueryLength(), getKeyLength());
    }
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNMASKATTRS_TD
