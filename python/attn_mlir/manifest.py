"""The names of manifest.json (docs/design/GpuArtifacts.md).

A mirror of runtime/include/attn/manifest_schema.h, the schema's one
definition (the compiler and the launcher include it): each macro
ATTN_MANIFEST_<NAME> is the constant <NAME> here, with the same value.
tests/test_manifest_schema.py checks the two agree, both ways, so a key
added or renamed in the header must be added or renamed here too.
"""

from __future__ import annotations

from typing import Any, List, Mapping

# The manifest's top-level object.
FORMAT = "attn-kernels"
VERSION = 1
KEY_FORMAT = "format"
KEY_VERSION = "version"
KEY_BINARY = "binary"
KEY_BINARY_FORMAT = "binary_format"
# The chip the binary is for (an sm_XY[a] name) and the MMA family of its
# attention kernels (mma_sync, wgmma, tcgen05).
KEY_CHIP = "chip"
KEY_KERNEL_FAMILY = "kernel"
KEY_KERNELS = "kernels"
KEY_SCRATCH = "scratch"
# Optional: {name: value} of the arguments compiled for one value (static
# shapes); the launcher refuses others.
KEY_FIXED_ARGUMENTS = "fixed_arguments"

# Binary formats.
BINARY_CUBIN = "cubin"
BINARY_FATBIN = "fatbin"
BINARY_PTX = "ptx"

# One kernel.
KEY_NAME = "name"
KEY_BLOCK = "block"
KEY_SHARED_BYTES = "shared_bytes"
KEY_GRID = "grid"
KEY_PARAMS = "params"
# Optional: a persistent kernel's most blocks per multiprocessor (its blocks
# walk grid[0]'s work units; grid[1] and grid[2] are 1).
KEY_PERSISTENT_BLOCKS_PER_SM = "persistent_blocks_per_sm"
# One parameter: {name, type}.
KEY_TYPE = "type"
PARAM_PTR = "ptr"
PARAM_I64 = "i64"
PARAM_I32 = "i32"
PARAM_F32 = "f32"
# A 128-byte CUtensorMap passed by value (a TMA descriptor), which the
# launcher encodes per launch from other arguments: the param object has
# "tensor_map": {tensor, data_type, dims, strides, box, swizzle}.
PARAM_TENSOR_MAP = "tensor_map"
KEY_TENSOR_MAP = "tensor_map"
# The ptr argument (tensor or scratch buffer) the map addresses.
KEY_TENSOR = "tensor"
# Element type: bf16, f16 or u8.
KEY_DATA_TYPE = "data_type"
DATA_BF16 = "bf16"
DATA_F16 = "f16"
DATA_U8 = "u8"
# Sizes per dimension, innermost first (rank 1 to 5), each a list of
# factors (their product; a factor is an integer or {arg[, ceil_div]}).
KEY_DIMS = "dims"
# Byte strides of dimensions 1 .. rank-1, each a list of factors.
KEY_STRIDES = "strides"
# The box one copy moves, innermost first (integers, 1 to 256).
KEY_BOX = "box"
# Shared-memory swizzle in bytes: 0, 32, 64 or 128.
KEY_SWIZZLE = "swizzle"

# A factor of a grid dimension or of a scratch size: an integer, or
# {arg[, ceil_div]}.
KEY_ARG = "arg"
KEY_CEIL_DIV = "ceil_div"

# One scratch buffer: {name, bytes}.
KEY_BYTES = "bytes"

# Arguments of the attention kernels: run-time sizes (i32), tensors (ptr)
# and the strides of a tensor X, X_stride_{b,h,n,q} (i64; stride_name).
ARG_BATCH = "batch"
ARG_SEQ_Q = "seq_q"
ARG_SEQ_K = "seq_k"
ARG_Q = "q"
ARG_K = "k"
ARG_V = "v"
ARG_OUT = "out"
ARG_LSE = "lse"
ARG_EXPLICIT_MASK = "explicit_mask"
ARG_BIAS = "bias"
ARG_SEGMENT_OFFSETS = "segment_offsets"
ARG_GATES = "gates"
# The backward's (attn.attention_grad): dY and dLSE in, the gradients out
# ("out" and "lse" are then the forward's O and LSE, read).
ARG_OUT_GRAD = "out_grad"
ARG_LSE_GRAD = "lse_grad"
ARG_Q_GRAD = "q_grad"
ARG_K_GRAD = "k_grad"
ARG_V_GRAD = "v_grad"
ARG_BIAS_GRAD = "bias_grad"
ARG_GATES_GRAD = "gates_grad"
STRIDE_INFIX = "_stride_"


def stride_name(tensor: str, dim: str) -> str:
    """The argument holding tensor `tensor`'s stride along `dim` (b, h, n or
    q), in elements: stride_name(ARG_Q, "b") == "q_stride_b"."""
    return tensor + STRIDE_INFIX + dim


def tensor_map_argument_names(tensor_map: Mapping[str, Any]) -> List[str]:
    """The arguments a tensor_map param is encoded from, in first-use order:
    its tensor, then every {"arg": name} factor of its dims and strides.
    `tensor_map` is the param's KEY_TENSOR_MAP object."""
    names = [tensor_map[KEY_TENSOR]]
    for key in (KEY_DIMS, KEY_STRIDES):
        for factors in tensor_map.get(key, ()):
            for factor in factors:
                if isinstance(factor, Mapping) and factor.get(KEY_ARG) not in names:
                    names.append(factor[KEY_ARG])
    return names


def param_argument_names(param: Mapping[str, Any]) -> List[str]:
    """The launch arguments a kernel param takes: its own name, or for a
    tensor_map param (no argument itself) the names it is encoded from."""
    if param.get(KEY_TYPE) == PARAM_TENSOR_MAP:
        return tensor_map_argument_names(param[KEY_TENSOR_MAP])
    return [param[KEY_NAME]]
