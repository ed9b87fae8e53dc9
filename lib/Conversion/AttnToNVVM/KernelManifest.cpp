//===- KernelManifest.cpp - launch records as attributes and JSON ---------===//

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"

#include "attn/manifest_schema.h"

#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

static constexpr StringLiteral kKernelsAttr = "attn.kernels";
static constexpr StringLiteral kScratchAttr = "attn.scratch";
static constexpr StringLiteral kFamilyAttr = "attn.kernel_family";
// Keys of the attribute form that are not manifest keys.
static constexpr StringLiteral kConstantKey = "constant";

StringRef mlir::attn::getKernelModuleName() { return "attn_kernels"; }

/// The manifest's name of a parameter type.
static StringRef paramTypeName(Type type) {
  if (isa<LLVM::LLVMPointerType>(type))
    return ATTN_MANIFEST_PARAM_PTR;
  if (type.isInteger(64))
    return ATTN_MANIFEST_PARAM_I64;
  if (type.isInteger(32))
    return ATTN_MANIFEST_PARAM_I32;
  assert(type.isF32() && "kernel parameters are ptr, i64, i32 or f32");
  return ATTN_MANIFEST_PARAM_F32;
}

static Type paramTypeNamed(MLIRContext *context, StringRef name) {
  Builder b(context);
  if (name == ATTN_MANIFEST_PARAM_PTR)
    return LLVM::LLVMPointerType::get(context, 1);
  if (name == ATTN_MANIFEST_PARAM_I64)
    return b.getI64Type();
  if (name == ATTN_MANIFEST_PARAM_I32)
    return b.getI32Type();
  if (name == ATTN_MANIFEST_PARAM_F32)
    return b.getF32Type();
  return Type();
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

static ArrayAttr factorsToAttribute(Builder &b, ArrayRef<GridFactor> product) {
  SmallVector<Attribute> factors;
  for (const GridFactor &f : product) {
    SmallVector<NamedAttribute> fields;
    fields.push_back(
        b.getNamedAttr(kConstantKey, b.getI64IntegerAttr(f.constant)));
    if (!f.arg.empty()) {
      fields.push_back(
          b.getNamedAttr(ATTN_MANIFEST_KEY_ARG, b.getStringAttr(f.arg)));
      fields.push_back(b.getNamedAttr(ATTN_MANIFEST_KEY_CEIL_DIV,
                                      b.getI64IntegerAttr(f.divisor)));
    }
    factors.push_back(b.getDictionaryAttr(fields));
  }
  return b.getArrayAttr(factors);
}

static Attribute launchToAttribute(Builder &b, const KernelLaunch &launch) {
  SmallVector<Attribute> grid;
  for (const auto &dim : launch.grid)
    grid.push_back(factorsToAttribute(b, dim));
  SmallVector<Attribute> params;
  for (const KernelParam &p : launch.params)
    params.push_back(b.getArrayAttr(
        {b.getStringAttr(p.name), b.getStringAttr(paramTypeName(p.type))}));
  return b.getDictionaryAttr({
      b.getNamedAttr(ATTN_MANIFEST_KEY_NAME, b.getStringAttr(launch.name)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_BLOCK,
                     b.getI64IntegerAttr(launch.blockSize)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_SHARED_BYTES,
                     b.getI64IntegerAttr(launch.sharedBytes)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_GRID, b.getArrayAttr(grid)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_PARAMS, b.getArrayAttr(params)),
  });
}

static Attribute scratchToAttribute(Builder &b, const ScratchBuffer &buffer) {
  return b.getDictionaryAttr(
      {b.getNamedAttr(ATTN_MANIFEST_KEY_NAME, b.getStringAttr(buffer.name)),
       b.getNamedAttr(ATTN_MANIFEST_KEY_BYTES,
                      factorsToAttribute(b, buffer.bytes))});
}

static FailureOr<SmallVector<GridFactor>> factorsFromAttribute(Attribute attr) {
  auto array = dyn_cast_or_null<ArrayAttr>(attr);
  if (!array)
    return failure();
  SmallVector<GridFactor> factors;
  for (Attribute entry : array) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto constant = dict ? dict.getAs<IntegerAttr>(kConstantKey) : nullptr;
    if (!constant)
      return failure();
    GridFactor factor{constant.getInt(), "", 1};
    if (auto arg = dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_ARG)) {
      auto divisor = dict.getAs<IntegerAttr>(ATTN_MANIFEST_KEY_CEIL_DIV);
      if (!divisor || divisor.getInt() < 1)
        return failure();
      factor.arg = arg.str();
      factor.divisor = divisor.getInt();
    }
    factors.push_back(factor);
  }
  return factors;
}

static FailureOr<KernelLaunch> launchFromAttribute(MLIRContext *context,
                                                   Attribute attr) {
  auto dict = dyn_cast<DictionaryAttr>(attr);
  if (!dict)
    return failure();
  auto name = dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_NAME);
  auto block = dict.getAs<IntegerAttr>(ATTN_MANIFEST_KEY_BLOCK);
  auto shared = dict.getAs<IntegerAttr>(ATTN_MANIFEST_KEY_SHARED_BYTES);
  auto grid = dict.getAs<ArrayAttr>(ATTN_MANIFEST_KEY_GRID);
  auto params = dict.getAs<ArrayAttr>(ATTN_MANIFEST_KEY_PARAMS);
  if (!name || !block || !shared || !grid || grid.size() != 3 || !params)
    return failure();
  KernelLaunch launch;
  launch.name = name.str();
  launch.blockSize = block.getInt();
  launch.sharedBytes = shared.getInt();
  for (auto [d, dim] : llvm::enumerate(grid)) {
    FailureOr<SmallVector<GridFactor>> factors = factorsFromAttribute(dim);
    if (failed(factors))
      return failure();
    launch.grid[d] = std::move(*factors);
  }
  for (Attribute param : params) {
    auto pair = dyn_cast<ArrayAttr>(param);
    if (!pair || pair.size() != 2 || !isa<StringAttr>(pair[0]) ||
        !isa<StringAttr>(pair[1]))
      return failure();
    Type type = paramTypeNamed(context, cast<StringAttr>(pair[1]).getValue());
    if (!type)
      return failure();
    launch.params.push_back({cast<StringAttr>(pair[0]).str(), type});
  }
  return launch;
}

void mlir::attn::writeKernelManifest(ModuleOp module,
                                      const KernelManifest &manifest) {
  Builder b(module.getContext());
  SmallVector<Attribute> kernels, buffers;
  for (const KernelLaunch &launch : manifest.kernels)
    kernels.push_back(launchToAttribute(b, launch));
  for (const ScratchBuffer &buffer : manifest.scratch)
    buffers.push_back(scratchToAttribute(b, buffer));
  module->setAttr(kKernelsAttr, b.getArrayAttr(kernels));
  if (!manifest.kernelFamily.empty())
    module->setAttr(kFamilyAttr, b.getStringAttr(manifest.kernelFamily));
  if (buffers.empty())
    module->removeAttr(kScratchAttr);
  else
    module->setAttr(kScratchAttr, b.getArrayAttr(buffers));
}

bool mlir::attn::hasKernelManifest(ModuleOp module) {
  return module->hasAttr(kKernelsAttr);
}

FailureOr<KernelManifest> mlir::attn::readKernelManifest(ModuleOp module) {
  KernelManifest manifest;
  auto kernels = module->getAttrOfType<ArrayAttr>(kKernelsAttr);
  if (!kernels)
    return module.emitError()
           << "no " << kKernelsAttr
           << " launch description; run attn-gpu-pipeline (or "
              "attn-lower-to-gpu) first";
  if (auto family = module->getAttrOfType<StringAttr>(kFamilyAttr))
    manifest.kernelFamily = family.str();
  for (Attribute kernel : kernels) {
    FailureOr<KernelLaunch> launch =
        launchFromAttribute(module.getContext(), kernel);
    if (failed(launch))
      return module.emitError()
             << "malformed " << kKernelsAttr << " entry " << kernel;
    manifest.kernels.push_back(std::move(*launch));
  }
  if (auto scratch = module->getAttrOfType<ArrayAttr>(kScratchAttr)) {
    for (Attribute entry : scratch) {
      auto dict = dyn_cast<DictionaryAttr>(entry);
      auto name = dict ? dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_NAME)
                       : nullptr;
      FailureOr<SmallVector<GridFactor>> bytes =
          dict ? factorsFromAttribute(dict.get(ATTN_MANIFEST_KEY_BYTES))
               : FailureOr<SmallVector<GridFactor>>(failure());
      if (!name || failed(bytes))
        return module.emitError()
               << "malformed " << kScratchAttr << " entry " << entry;
      manifest.scratch.push_back({name.str(), std::move(*bytes)});
    }
  }
  return manifest;
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

/// Integers and {"arg", "ceil_div"} objects.
static llvm::json::Array factorsToJson(ArrayRef<GridFactor> product) {
  llvm::json::Array factors;
  for (const GridFactor &f : product) {
    if (f.arg.empty()) {
      factors.push_back(f.constant);
      continue;
    }
    if (f.constant != 1)
      factors.push_back(f.constant);
    llvm::json::Object factor{{ATTN_MANIFEST_KEY_ARG, f.arg}};
    if (f.divisor != 1)
      factor[ATTN_MANIFEST_KEY_CEIL_DIV] = f.divisor;
    factors.push_back(std::move(factor));
  }
  return factors;
}

llvm::json::Object mlir::attn::kernelManifestToJson(
    const KernelManifest &manifest, StringRef binaryFile,
    StringRef binaryFormat, StringRef chip) {
  llvm::json::Array kernels;
  for (const KernelLaunch &launch : manifest.kernels) {
    llvm::json::Array grid, params;
    for (const auto &dim : launch.grid)
      grid.push_back(factorsToJson(dim));
    for (const KernelParam &p : launch.params)
      params.push_back(llvm::json::Object{
          {ATTN_MANIFEST_KEY_NAME, p.name},
          {ATTN_MANIFEST_KEY_TYPE, paramTypeName(p.type)}});
    kernels.push_back(llvm::json::Object{
        {ATTN_MANIFEST_KEY_NAME, launch.name},
        {ATTN_MANIFEST_KEY_BLOCK, llvm::json::Array{launch.blockSize, 1, 1}},
        {ATTN_MANIFEST_KEY_SHARED_BYTES, launch.sharedBytes},
        {ATTN_MANIFEST_KEY_GRID, std::move(grid)},
        {ATTN_MANIFEST_KEY_PARAMS, std::move(params)}});
  }
  llvm::json::Object json{
      {ATTN_MANIFEST_KEY_FORMAT, ATTN_MANIFEST_FORMAT},
      {ATTN_MANIFEST_KEY_VERSION, ATTN_MANIFEST_VERSION},
      {ATTN_MANIFEST_KEY_BINARY, binaryFile},
      {ATTN_MANIFEST_KEY_BINARY_FORMAT, binaryFormat},
      {ATTN_MANIFEST_KEY_CHIP, chip},
      {ATTN_MANIFEST_KEY_KERNELS, std::move(kernels)}};
  if (!manifest.kernelFamily.empty())
    json[ATTN_MANIFEST_KEY_KERNEL_FAMILY] = manifest.kernelFamily;
  // Buffers the pre-kernels write and the attention kernel reads; the
  // launcher allocates those the caller does not pass.
  if (!manifest.scratch.empty()) {
    llvm::json::Array scratch;
    for (const ScratchBuffer &buffer : manifest.scratch)
      scratch.push_back(
          llvm::json::Object{{ATTN_MANIFEST_KEY_NAME, buffer.name},
                             {ATTN_MANIFEST_KEY_BYTES,
                              factorsToJson(buffer.bytes)}});
    json[ATTN_MANIFEST_KEY_SCRATCH] = std::move(scratch);
  }
  return json;
}
