//===- RegisterPasses.cpp - register every attn pass ----------------------===//

#include "attn/InitAllPasses.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

void mlir::attn::registerAllAttnPasses() {
  registerAttnPasses();
  registerAttnConversionPasses();
  registerCpuPipeline();
  registerGpuPipeline();
}
