//===- AttnPlugin.cpp - attn as a plugin of stock mlir-opt ----------------===//
//
// `mlir-opt --load-dialect-plugin=AttnPlugin.so` registers the attn dialect;
// `--load-pass-plugin=AttnPlugin.so` registers its passes (use them through
// `--pass-pipeline=...`).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"
#include "attn/InitAllPasses.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnDialect", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            registry->insert<attn::AttnDialect>();
            attn::registerBufferizableOpInterfaceExternalModels(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnPasses", LLVM_VERSION_STRING,
          []() {
            attn::registerAllAttnPasses();
          }};
}
