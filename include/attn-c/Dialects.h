/*===- attn-c/Dialects.h - C API of the attn dialect ----------------------===*\
|*                                                                            *|
|* Registration of the attn dialect and passes for C (and ctypes) clients.   *|
|* The library libAttnCAPI.so also carries MLIR's core C API (mlir-c/IR.h,    *|
|* mlir-c/Pass.h), which Debian's libMLIR.so does not export.                 *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_DIALECTS_H
#define ATTN_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#ifdef __cplusplus
extern "C" {
#endif

MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Attn, attn);

/// Registers the attn passes (attn-materialize-mask, attn-sparsity-report,
/// ...) with the global pass registry, so mlirParsePassPipeline finds them.
MLIR_CAPI_EXPORTED void attnRegisterPasses(void);

/// Registers the attn dialect and the upstream dialects attn IR is written
/// with (func, arith, tensor, memref) in `registry`.
MLIR_CAPI_EXPORTED void attnRegisterDialects(MlirDialectRegistry registry);

#ifdef __cplusplus
}
#endif

#endif // ATTN_C_DIALECTS_H
