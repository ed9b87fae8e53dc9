//===- CpuRunner.h - compile and run attn IR on the CPU ---------*- C++ -*-===//
//
// Test support: parses a module holding `func.func @<name>` on memrefs (with
// llvm.emit_c_interface), runs the attn CPU pipeline, JIT-compiles it with
// the ExecutionEngine and calls it on host buffers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_UNITTESTS_CPURUNNER_H
#define ATTN_UNITTESTS_CPURUNNER_H

#include "attn/Pipelines/Pipelines.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
class MLIRContext;
namespace attn {
namespace testing {

/// A row-major host buffer passed as a memref argument.
struct MemRefArg {
  void *data;
  std::vector<int64_t> shape;
};

class CpuKernel {
public:
  /// Compiles `source`; `error` receives diagnostics on failure.
  static std::unique_ptr<CpuKernel> compile(const std::string &source,
                                            const CpuPipelineOptions &options,
                                            std::string &error);
  ~CpuKernel();

  /// Calls `func.func @name` with the given memrefs; false on a JIT error.
  bool run(const std::string &name, const std::vector<MemRefArg> &args,
           std::string &error);

private:
  CpuKernel();
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<ExecutionEngine> engine;
};

} // namespace testing
} // namespace attn
} // namespace mlir

#endif // ATTN_UNITTESTS_CPURUNNER_H
