//===- AttrParsing.h - `key = value` field lists of attn attributes -------===//
//
// Private to the dialect library: the parsers of the attributes written as
// `<key = value, ...>` share the checks for unknown and repeated keys.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_IR_ATTRPARSING_H
#define ATTN_LIB_DIALECT_ATTN_IR_ATTRPARSING_H

#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

namespace mlir {
namespace attn {

/// Parses `key = value (, key = value)*` (no delimiters) where every key is
/// one of `knownKeys` and appears once; `parseValue(key)` parses the value.
/// `attrName` names the attribute in diagnostics.
inline ParseResult
parseKeyedFields(AsmParser &parser, StringRef attrName,
                 ArrayRef<StringRef> knownKeys,
                 function_ref<ParseResult(StringRef key)> parseValue) {
  llvm::StringSet<> seen;
  return parser.parseCommaSeparatedList(
      AsmParser::Delimiter::None, [&]() -> ParseResult {
        StringRef key;
        SMLoc keyLoc = parser.getCurrentLocation();
        if (parser.parseKeyword(&key))
          return failure();
        if (!llvm::is_contained(knownKeys, key)) {
          InFlightDiagnostic diag = parser.emitError(keyLoc, "unknown ");
          diag << attrName << " field '" << key << "', expected one of: ";
          llvm::interleaveComma(knownKeys, diag);
          return diag;
        }
        if (!seen.insert(key).second)
          return parser.emitError(keyLoc, "")
                 << attrName << " field '" << key << "' given twice";
        if (parser.parseEqual())
          return failure();
        return parseValue(key);
      });
}

} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_DIALECT_ATTN_IR_ATTRPARSING_H
