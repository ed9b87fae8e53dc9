//===- AttnAttrDefs.td - precision and head attributes -----*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRDEFS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNATTRDEFS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnEnums.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"

//===----------------------------------------------------------------------===//
// Precision (SEMANTICS.md section 3)
//===----------------------------------------------------------------------===//

def Attn_PrecisionAttr : Attn_Attr<"Precision", "precision"> {
  let summary = "How Q.K and P.V are quantized and accumulated";
  let description = [{
    Fields (all optional; an empty precision is the default f16/bf16 path):

    | field | values |
    |---|---|
    | `qk` | `f16`, `bf16`, `i8`, `i4`, `f8E4M3FN`, `f4E2M1FN` |
    | `qk_granularity` | `tensor`, `block(n)`, `thread(n)`, `token` (required for `i8`, `i4`, `f8E4M3FN`) |
    | `smooth_k`, `smooth_q` | flags |
    | `pv` | `f16`, `bf16`, `f8E4M3FN`, `f4E2M1FN` |
    | `pv_accum` | `f32` (default), `f16`, `two_level` |

    Named presets (SageAttention family), optionally followed by overrides
    (`sage2_8b` spells SageAttention2's "sage2-8b": MLIR keywords have no
    `-`; E4M3 and E2M1 are MLIR's finite-only `f8E4M3FN` and `f4E2M1FN`):

    | preset | meaning |
    |---|---|
    | `sage1` | i8 Q.K, block(64), smooth_k, f16 P.V, f16 accumulation |
    | `sage2_8b` | i8 Q.K, thread(64), smooth_k, f8E4M3FN P.V, two_level |
    | `sage2_4b` | i4 Q.K, thread(64), smooth_k, smooth_q, f8E4M3FN P.V, two_level |
    | `fp8` | f8E4M3FN Q.K, block(64), smooth_k, f8E4M3FN P.V, two_level |
    | `nvfp4` | f4E2M1FN Q.K (16-element E4M3 scales), smooth_k, f4E2M1FN P.V, f32 |

    ```mlir
    #attn.precision<sage1>
    #attn.precision<sage1, pv_accum = f32>
    #attn.precision<qk = i8, qk_granularity = token, smooth_k, pv = bf16>
    ```
  }];
  let parameters = (ins OptionalParameter<"Type">:$qk,
                        OptionalParameter<"std::optional<GranularityKind>">:$qkGranularity,
                        DefaultValuedParameter<"int64_t", "0">:$qkGranularitySize,
                        DefaultValuedParameter<"bool", "false">:$smoothK,
                        DefaultValuedParameter<"bool", "false">:$smoothQ,
                        OptionalParameter<"Type">:$pv,
                        DefaultValuedParameter<"Accumulation", "Accumulation::F32">:$pvAccum);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The preset of this name, or null.
    static PrecisionAttr getPreset(MLIRContext *context, StringRef name);
    /// The name of the preset equal to this precision, or "".
    StringRef getPresetName() const;
    static ArrayRef<StringRef> getPresetNames();
    /// True when Q.K^T runs on quantized operands.
    bool isQuantizedQK() const;
  }];
}

//===----------------------------------------------------------------------===//
// Heads (SEMANTICS.md section 4)
//===----------------------------------------------------------------------===//

def Attn_SoftPagAttr : Attn_Attr<"SoftPag", "softpag"> {
  let summary = "SoftPAG perturbation: O'_h = (1 - u) O_h + u V_h on listed heads";
  let description = [{
    Moves the attention map of the listed heads toward the identity. Needs
    Nq == Nk. `u = 1` computes no attention for those heads.

    ```mlir
    #attn.softpag<u = 0.3, heads = [0, 5]>
    ```
  }];
  let parameters = (ins APFloatParameter<"">:$u, ArrayRefParameter<"int64_t">:$heads);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Attn_HeadGroupAttr : Attn_Attr<"HeadGroup", "head_group"> {
  let summary = "A group of heads with its own mask and precision";
  let description = [{
    ```mlir
    #attn.head_group<heads = [0, 1], mask = #attn.causal, precision = #attn.precision<sage1>>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$heads,
                        OptionalParameter<"MaskAttrInterface">:$mask,
                        OptionalParameter<"PrecisionAttr">:$precision);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Attn_HeadsAttr : Attn_Attr<"Heads", "heads"> {
  let summary = "Per-head weights, SoftPAG perturbation and head groups";
  let description = [{
    * `weights = [w_0, ..., w_(Hq-1)]`: O_h *= w_h; a zero weight means the
      head is not computed (O_h = 0, LSE_h = -inf).
    * `softpag = #attn.softpag<...>`: perturbation of the listed heads.
    * `groups = [#attn.head_group<...>, ...]`: heads with their own mask and
      precision; heads in no group use the op's.

    ```mlir
    #attn.heads<weights = [1.0, 0.0, 0.5, 1.0], softpag = #attn.softpag<u = 0.3, heads = [2]>>
    ```
  }];
  let parameters = (ins OptionalParameter<"DenseF64ArrayAttr">:$weights,
                        OptionalParameter<"SoftPagAttr">:$softpag,
                        OptionalArrayRefParameter<"HeadGroupAttr">:$groups);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Schedule
//===----------------------------------------------------------------------===//

def Attn_TilingAttr : Attn_Attr<"Tiling", "tiling"> {
  let summary = "Query and key tile shapes chosen by attn-plan";
  let description = [{
    The shapes of the query and key tiles of the tiled schedule. Rank 1
    tiles the flat sequences; rank 2 or 3 tiles the token grid of the op's
    mask (an 8x16 query tile is an 8 x 16 patch of a 2-D grid).

    ```mlir
    #attn.tiling<query = [128], key = [64]>
    #attn.tiling<query = [8, 16], key = [8, 16]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$query,
                        ArrayRefParameter<"int64_t">:$key);
  let assemblyFormat = "`<` `query` `=` `[` $query `]` `,` `key` `=` `[` $key `]` `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getRank() const { return getQuery().size(); }
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRDEFS_TD
