/*===- capi.c - C API test of the attn dialect ----------------------------===*/

/* RUN: attn-capi-test 2>&1 | FileCheck %s
 */

#include "attn-c/Dialects.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#include <stdio.h>
#include <stdlib.h>

static void printToStdout(MlirStringRef str, void *userData) {
  (void)userData;
  fwrite(str.data, 1, str.length, stdout);
}

static MlirLogicalResult printDiagnostic(MlirDiagnostic diagnostic,
                                         void *userData) {
  (void)userData;
  fprintf(stdout, "diagnostic: ");
  fflush(stdout);
  mlirDiagnosticPrint(diagnostic, printToStdout, NULL);
  fprintf(stdout, "\n");
  return mlirLogicalResultSuccess();
}

static const char *kModule =
    "func.func @neighborhood(%q: tensor<1x2x64x16xf16>, "
    "%k: tensor<1x2x64x16xf16>, %v: tensor<1x2x64x16xf16>, "
    "%o: tensor<1x2x64x16xf16>) -> tensor<1x2x64x16xf16> {\n"
    "  %r = attn.attention ins(%q, %k, %v : tensor<1x2x64x16xf16>, "
    "tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) "
    "outs(%o : tensor<1x2x64x16xf16>) "
    "mask = #attn.neighborhood<grid = [8, 8], window = [3, 3]> "
    "-> tensor<1x2x64x16xf16>\n"
    "  return %r : tensor<1x2x64x16xf16>\n"
    "}\n";

int main(void) {
  MlirContext ctx = mlirContextCreate();
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  attnRegisterDialects(registry);
  mlirContextAppendDialectRegistry(ctx, registry);
  mlirDialectRegistryDestroy(registry);
  mlirContextAttachDiagnosticHandler(ctx, printDiagnostic, NULL, NULL);
  attnRegisterPasses();

  /* The dialect handle loads the dialect by itself too. */
  MlirDialect attn =
      mlirDialectHandleLoadDialect(mlirGetDialectHandle__attn__(), ctx);
  MlirStringRef ns = mlirDialectGetNamespace(attn);
  printf("dialect: %.*s\n", (int)ns.length, ns.data);
  // CHECK: dialect: attn

  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kModule));
  if (mlirModuleIsNull(module)) {
    printf("parse failed\n");
    return 1;
  }
  MlirOperation moduleOp = mlirModuleGetOperation(module);
  printf("verified: %d\n", (int)mlirOperationVerify(moduleOp));
  // CHECK: verified: 1

  MlirAttribute mask = mlirAttributeParseGet(
      ctx, mlirStringRefCreateFromCString(
               "#attn.segments<query = [2, 3], visibility = [[full, none], "
               "[full, causal]]>"));
  mlirAttributePrint(mask, printToStdout, NULL);
  printf("\n");
  // CHECK: #attn.segments<query = [2, 3], visibility = {{\[\[}}full, none], [full, causal]]>

  MlirAttribute bad = mlirAttributeParseGet(
      ctx, mlirStringRefCreateFromCString(
               "#attn.neighborhood<grid = [8], window = [9]>"));
  printf("invalid attribute is null: %d\n", (int)mlirAttributeIsNull(bad));
  // CHECK: diagnostic: window 9 in dimension 0 is larger than the grid extent 8
  // CHECK: invalid attribute is null: 1

  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm,
      mlirStringRefCreateFromCString(
          "builtin.module(attn-sparsity-report{query-tile=4,4})"),
      printToStdout, NULL);
  printf("pipeline parsed: %d\n", (int)mlirLogicalResultIsSuccess(parsed));
  // CHECK: pipeline parsed: 1
  MlirLogicalResult ran = mlirPassManagerRunOnOp(pm, moduleOp);
  // A 3x3 window on 4x4 tiles touches every neighbouring tile: all partial.
  // CHECK: diagnostic: attn sparsity: query tile 4x4, key tile 4x4 on grid 8x8: 16 tile pairs: 0 full, 16 partial, 0 empty; kept pairs 576 of 4096
  printf("pipeline ran: %d\n", (int)mlirLogicalResultIsSuccess(ran));
  // CHECK: pipeline ran: 1

  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}
