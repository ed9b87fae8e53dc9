# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "attn"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".c"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%attn_lib_dir", config.attn_lib_dir))
config.substitutions.append(("%attn_src_root", config.attn_src_root))
config.substitutions.append(("%attn_obj_root", config.attn_obj_root))
config.substitutions.append(("%mlir_dir", config.mlir_dir))
config.substitutions.append(("%cmake_generator", config.cmake_generator))
config.substitutions.append(("%cmake", config.cmake_command))
config.substitutions.append(("%cxx", config.cxx_compiler))
config.substitutions.append(("%cc", config.c_compiler))
config.substitutions.append(
    ("%attn_plugin", os.path.join(config.attn_lib_dir, "AttnPlugin.so")))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
tools = ["attn-opt", "attn-capi-test", "mlir-opt", "mlir-runner", "FileCheck",
         "not", "count", "split-file"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The Python of the tests' helper scripts (Debian's, as the README's setup
# installs it), and an SVG renderer for the mask pictures when present.
import shutil
config.substitutions.append(("%python", "/usr/bin/python3"))
if shutil.which("rsvg-convert"):
    config.available_features.add("rsvg-convert")

# mlir-runner and its support libraries run lowered code on the CPU.
mlir_lib_dir = os.path.normpath(os.path.join(config.mlir_dir, "..", ".."))
runner_libs = [os.path.join(mlir_lib_dir, name) for name in
               ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so")]
if (os.path.exists(os.path.join(config.llvm_tools_dir, "mlir-runner")) and
        all(os.path.exists(lib) for lib in runner_libs)):
    config.available_features.add("mlir-runner")
    config.substitutions.append(("%mlir_runner_utils", runner_libs[0]))
    config.substitutions.append(("%mlir_c_runner_utils", runner_libs[1]))

# The libFuzzer targets, where the README's setup built them (build-fuzz).
fuzz_bin = os.path.join(config.attn_src_root, "build-fuzz", "bin")
if all(os.path.exists(os.path.join(fuzz_bin, "attn-%s-fuzzer" % name))
       for name in ("parse", "mask", "pipeline", "manifest")):
    config.available_features.add("fuzzers")

# ptxas (CUDA toolkit) turns PTX into cubins: tests of format=bin and of the
# ptxas resource report need it; PTX (format=isa) needs only LLVM.
ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin",
                     "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
