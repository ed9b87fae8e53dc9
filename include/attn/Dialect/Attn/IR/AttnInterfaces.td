//===- AttnInterfaces.td - mask attribute interface --------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD
#define ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_MaskAttrInterface : AttrInterface<"MaskAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A rule that says which (query, key) pairs an attention op keeps. Every
    mask kind of the contract is one attribute implementing this interface,
    and every consumer (verifier, canonicalizer, analyses, the CPU and GPU
    backends, the tests) asks the attribute instead of re-implementing the
    rule:

    1. `keep(i, j, context)` answers one pair exactly, on flat token indices.
    2. `classifyTile(queries, keys, context)` says whether a query box x key
       box keeps every pair (full), none (empty) or some (partial). Boxes are
       N-D rectangles of a token grid, so a grid mask can be tiled on its
       grid. Window masks answer with interval arithmetic per dimension.
    3. `countKept` counts the kept pairs of a tile.
    4. `emitKeep` emits the same rule as IR (arith on `index` values), for
       the element predicate of partial tiles in generated code.

    `context` carries the sequence lengths (needed by bottom-right causal
    alignment and by segment tables) and, for run-time segments, the offsets.
  }];

  let methods = [
    InterfaceMethod<
      "Returns true when query `query` keeps key `key` (flat indices).",
      "bool", "keep",
      (ins "int64_t":$query, "int64_t":$key,
           "const ::mlir::attn::MaskContext &":$context)>,
    InterfaceMethod<
      "Classifies every pair of `queries` x `keys` as full, partial or empty.",
      "::mlir::attn::TileClass", "classifyTile",
      (ins "const ::mlir::attn::TokenBox &":$queries,
           "const ::mlir::attn::TokenBox &":$keys,
           "const ::mlir::attn::MaskContext &":$context)>,
    InterfaceMethod<
      "Returns the number of kept pairs of `queries` x `keys`.",
      "int64_t", "countKept",
      (ins "const ::mlir::attn::TokenBox &":$queries,
           "const ::mlir::attn::TokenBox &":$keys,
           "const ::mlir::attn::MaskContext &":$context),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::mlir::attn::countKeptByClassification(
            ::llvm::cast<::mlir::attn::MaskAttrInterface>($_attr), queries,
            keys, context);
      }]>,
    InterfaceMethod<
      "Checks the mask against the sequence lengths of `context` (dynamic "
      "lengths are negative and skip the check).",
      "::llvm::LogicalResult", "verifyLengths",
      (ins "const ::mlir::attn::MaskContext &":$context,
           "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{ return ::mlir::success(); }]>,
    InterfaceMethod<
      "Returns an equivalent, simpler mask (the attribute itself when none).",
      "::mlir::attn::MaskAttrInterface", "simplify",
      (ins "const ::mlir::attn::MaskContext &":$context),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::llvm::cast<::mlir::attn::MaskAttrInterface>($_attr);
      }]>,
    InterfaceMethod<
      "Returns the token grid this mask is defined on, if it has one.",
      "::llvm::SmallVector<int64_t>", "getTokenGrid", (ins),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{ return {}; }]>,
    InterfaceMethod<
      "Emits IR computing keep(query, key) as an i1, from `index` values of "
      "the flat query and key indices. Used inside partial tiles only; the "
      "result folds to a constant when the indices are constants.",
      "::mlir::Value", "emitKeep",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$query, "::mlir::Value":$key,
           "const ::mlir::attn::MaskIRContext &":$context)>,
    InterfaceMethod<
      "Emits IR classifying the tile of flat query indices [queryBegin, "
      "queryEnd) x key indices [keyBegin, keyEnd) (non-empty ranges, "
      "`index` values) at run time. Returns two i1 values (mayKeep, keepsAll): "
      "mayKeep false guarantees an empty tile, keepsAll true a full one. "
      "Masks with a closed form answer exactly; the default says partial.",
      "std::pair<::mlir::Value, ::mlir::Value>", "emitClassifyRange",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$queryBegin, "::mlir::Value":$queryEnd,
           "::mlir::Value":$keyBegin, "::mlir::Value":$keyEnd,
           "const ::mlir::attn::MaskIRContext &":$context),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::mlir::attn::detail::emitPartialClass(builder, loc);
      }]>,
    InterfaceMethod<
      "Emits IR for a range [keyBegin, keyEnd) of key indices (`index` "
      "values, within [0, Nk)) that holds every key kept by some query of "
      "[queryBegin, queryEnd): the active key tiles of a query tile, in "
      "closed form. Not necessarily tight; the default is every key.",
      "std::pair<::mlir::Value, ::mlir::Value>", "emitKeyRange",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$queryBegin, "::mlir::Value":$queryEnd,
           "const ::mlir::attn::MaskIRContext &":$context),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::mlir::attn::detail::emitAllKeys(builder, loc, context);
      }]>,
    InterfaceMethod<
      "Emits IR for a range [queryBegin, queryEnd) of query indices "
      "(`index` values, within [0, Nq)) that holds every query keeping some "
      "key of [keyBegin, keyEnd): the active query tiles of a key tile, "
      "which the backward walks, in closed form. Not necessarily tight; the "
      "default is every query.",
      "std::pair<::mlir::Value, ::mlir::Value>", "emitQueryRange",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$keyBegin, "::mlir::Value":$keyEnd,
           "const ::mlir::attn::MaskIRContext &":$context),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::mlir::attn::detail::emitAllQueries(builder, loc, context);
      }]>,
    InterfaceMethod<
      "Returns true when the mask needs run-time segment offsets.",
      "bool", "needsSegmentOffsets", (ins),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{ return false; }]>,
  ];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD
