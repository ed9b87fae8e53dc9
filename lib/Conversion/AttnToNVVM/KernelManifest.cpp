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
static constexpr StringLiteral kFixedArgumentsAttr = "attn.static_arguments";

void KernelManifest::fixArgument(StringRef name, int64_t value) {
  for (auto &[fixedName, fixedValue] : fixedArguments)
    if (fixedName == name) {
      if (fixedValue != value)
        fixedValue = kConflictingValue;
      return;
    }
  fixedArguments.emplace_back(name.str(), value);
}
// Keys of the attribute form that are not manifest keys.
static constexpr StringLiteral kConstantKey = "constant";

StringRef mlir::attn::getKernelModuleName() { return "attn_kernels"; }

/// The manifest's name of a parameter type.
static StringRef paramTypeName(const KernelParam &param) {
  if (param.tensorMap)
    return ATTN_MANIFEST_PARAM_TENSOR_MAP;
  Type type = param.type;
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
  if (name == ATTN_MANIFEST_PARAM_TENSOR_MAP)
    return LLVM::LLVMPointerType::get(context);
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

static Attribute tensorMapToAttribute(Builder &b,
                                      const TensorMapDescription &map) {
  auto factorLists = [&](ArrayRef<SmallVector<GridFactor>> lists) {
    SmallVector<Attribute> attrs;
    for (const SmallVector<GridFactor> &list : lists)
      attrs.push_back(factorsToAttribute(b, list));
    return b.getArrayAttr(attrs);
  };
  return b.getDictionaryAttr({
      b.getNamedAttr(ATTN_MANIFEST_KEY_TENSOR, b.getStringAttr(map.tensor)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_DATA_TYPE,
                     b.getStringAttr(map.dataType)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_DIMS, factorLists(map.dims)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_STRIDES, factorLists(map.strides)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_BOX, b.getI64ArrayAttr(map.box)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_SWIZZLE,
                     b.getI64IntegerAttr(map.swizzle)),
  });
}

static Attribute launchToAttribute(Builder &b, const KernelLaunch &launch) {
  SmallVector<Attribute> grid;
  for (const auto &dim : launch.grid)
    grid.push_back(factorsToAttribute(b, dim));
  SmallVector<Attribute> params;
  for (const KernelParam &p : launch.params) {
    SmallVector<Attribute> fields = {b.getStringAttr(p.name),
                                     b.getStringAttr(paramTypeName(p))};
    if (p.tensorMap)
      fields.push_back(tensorMapToAttribute(b, *p.tensorMap));
    params.push_back(b.getArrayAttr(fields));
  }
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr(ATTN_MANIFEST_KEY_NAME, b.getStringAttr(launch.name)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_BLOCK,
                     b.getI64IntegerAttr(launch.blockSize)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_SHARED_BYTES,
                     b.getI64IntegerAttr(launch.sharedBytes)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_GRID, b.getArrayAttr(grid)),
      b.getNamedAttr(ATTN_MANIFEST_KEY_PARAMS, b.getArrayAttr(params)),
  };
  if (launch.persistentBlocksPerSM)
    fields.push_back(
        b.getNamedAttr(ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM,
                       b.getI64IntegerAttr(launch.persistentBlocksPerSM)));
  return b.getDictionaryAttr(fields);
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

static FailureOr<TensorMapDescription>
tensorMapFromAttribute(DictionaryAttr dict) {
  auto tensor = dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_TENSOR);
  auto dataType = dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_DATA_TYPE);
  auto dims = dict.getAs<ArrayAttr>(ATTN_MANIFEST_KEY_DIMS);
  auto strides = dict.getAs<ArrayAttr>(ATTN_MANIFEST_KEY_STRIDES);
  auto box = dict.getAs<ArrayAttr>(ATTN_MANIFEST_KEY_BOX);
  auto swizzle = dict.getAs<IntegerAttr>(ATTN_MANIFEST_KEY_SWIZZLE);
  if (!tensor || !dataType || !dims || !strides || !box || !swizzle)
    return failure();
  TensorMapDescription map;
  map.tensor = tensor.str();
  map.dataType = dataType.str();
  map.swizzle = swizzle.getInt();
  for (auto [attrs, lists] :
       {std::pair{dims, &map.dims}, {strides, &map.strides}})
    for (Attribute list : attrs) {
      FailureOr<SmallVector<GridFactor>> factors = factorsFromAttribute(list);
      if (failed(factors))
        return failure();
      lists->push_back(std::move(*factors));
    }
  for (Attribute entry : box) {
    auto size = dyn_cast<IntegerAttr>(entry);
    if (!size)
      return failure();
    map.box.push_back(size.getInt());
  }
  return map;
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
  if (Attribute persistent =
          dict.get(ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM)) {
    auto blocks = dyn_cast<IntegerAttr>(persistent);
    if (!blocks || blocks.getInt() <= 0)
      return failure();
    launch.persistentBlocksPerSM = blocks.getInt();
  }
  for (auto [d, dim] : llvm::enumerate(grid)) {
    FailureOr<SmallVector<GridFactor>> factors = factorsFromAttribute(dim);
    if (failed(factors))
      return failure();
    launch.grid[d] = std::move(*factors);
  }
  for (Attribute param : params) {
    auto pair = dyn_cast<ArrayAttr>(param);
    if (!pair || pair.size() < 2 || !isa<StringAttr>(pair[0]) ||
        !isa<StringAttr>(pair[1]))
      return failure();
    StringRef typeName = cast<StringAttr>(pair[1]).getValue();
    Type type = paramTypeNamed(context, typeName);
    bool isMap = typeName == ATTN_MANIFEST_PARAM_TENSOR_MAP;
    if (!type || pair.size() != (isMap ? 3u : 2u))
      return failure();
    KernelParam kernelParam{cast<StringAttr>(pair[0]).str(), type};
    if (isMap) {
      auto dict = dyn_cast<DictionaryAttr>(pair[2]);
      FailureOr<TensorMapDescription> map =
          dict ? tensorMapFromAttribute(dict)
               : FailureOr<TensorMapDescription>(failure());
      if (failed(map))
        return failure();
      kernelParam.tensorMap = std::move(*map);
    }
    launch.params.push_back(std::move(kernelParam));
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
  SmallVector<NamedAttribute> fixed;
  for (const auto &[name, value] : manifest.fixedArguments)
    fixed.push_back(b.getNamedAttr(name, b.getI64IntegerAttr(value)));
  if (fixed.empty())
    module->removeAttr(kFixedArgumentsAttr);
  else
    module->setAttr(kFixedArgumentsAttr, b.getDictionaryAttr(fixed));
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
  if (auto fixed = module->getAttrOfType<DictionaryAttr>(kFixedArgumentsAttr)) {
    for (NamedAttribute entry : fixed) {
      auto value = dyn_cast<IntegerAttr>(entry.getValue());
      if (!value)
        return module.emitError() << "malformed " << kFixedArgumentsAttr
                                  << " entry " << entry.getName();
      manifest.fixedArguments.emplace_back(entry.getName().str(),
                                           value.getInt());
    }
  }
  if (auto scratch = module->getAttrOfType<ArrayAttr>(kScratchAttr)) {
    for (Attribute entry : scratch) {
      auto dict = dyn_cast<DictionaryAttr>(entry);
      auto name =
          dict ? dict.getAs<StringAttr>(ATTN_MANIFEST_KEY_NAME) : nullptr;
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

llvm::json::Object
mlir::attn::kernelManifestToJson(const KernelManifest &manifest,
                                 StringRef binaryFile, StringRef binaryFormat,
                                 StringRef chip) {
  llvm::json::Array kernels;
  for (const KernelLaunch &launch : manifest.kernels) {
    llvm::json::Array grid, params;
    for (const auto &dim : launch.grid)
      grid.push_back(factorsToJson(dim));
    for (const KernelParam &p : launch.params) {
      llvm::json::Object param{{ATTN_MANIFEST_KEY_NAME, p.name},
                               {ATTN_MANIFEST_KEY_TYPE, paramTypeName(p)}};
      if (p.tensorMap) {
        const TensorMapDescription &map = *p.tensorMap;
        llvm::json::Array dims, strides, box;
        for (const SmallVector<GridFactor> &dim : map.dims)
          dims.push_back(factorsToJson(dim));
        for (const SmallVector<GridFactor> &stride : map.strides)
          strides.push_back(factorsToJson(stride));
        for (int64_t size : map.box)
          box.push_back(size);
        param[ATTN_MANIFEST_KEY_TENSOR_MAP] =
            llvm::json::Object{{ATTN_MANIFEST_KEY_TENSOR, map.tensor},
                               {ATTN_MANIFEST_KEY_DATA_TYPE, map.dataType},
                               {ATTN_MANIFEST_KEY_DIMS, std::move(dims)},
                               {ATTN_MANIFEST_KEY_STRIDES, std::move(strides)},
                               {ATTN_MANIFEST_KEY_BOX, std::move(box)},
                               {ATTN_MANIFEST_KEY_SWIZZLE, map.swizzle}};
      }
      params.push_back(std::move(param));
    }
    llvm::json::Object kernel{
        {ATTN_MANIFEST_KEY_NAME, launch.name},
        {ATTN_MANIFEST_KEY_BLOCK, llvm::json::Array{launch.blockSize, 1, 1}},
        {ATTN_MANIFEST_KEY_SHARED_BYTES, launch.sharedBytes},
        {ATTN_MANIFEST_KEY_GRID, std::move(grid)},
        {ATTN_MANIFEST_KEY_PARAMS, std::move(params)}};
    if (launch.persistentBlocksPerSM)
      kernel[ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM] =
          launch.persistentBlocksPerSM;
    kernels.push_back(std::move(kernel));
  }
  llvm::json::Object json{{ATTN_MANIFEST_KEY_FORMAT, ATTN_MANIFEST_FORMAT},
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
      scratch.push_back(llvm::json::Object{
          {ATTN_MANIFEST_KEY_NAME, buffer.name},
          {ATTN_MANIFEST_KEY_BYTES, factorsToJson(buffer.bytes)}});
    json[ATTN_MANIFEST_KEY_SCRATCH] = std::move(scratch);
  }
  // Sizes the kernels were specialized for (static shapes); ops of the
  // module that disagree leave the argument unchecked.
  llvm::json::Object fixed;
  for (const auto &[name, value] : manifest.fixedArguments)
    if (value != KernelManifest::kConflictingValue)
      fixed[name] = value;
  if (!fixed.empty())
    json[ATTN_MANIFEST_KEY_FIXED_ARGUMENTS] = std::move(fixed);
  return json;
}
