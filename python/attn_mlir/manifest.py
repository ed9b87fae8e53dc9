"""The names of manifest.json (docs/design/GpuArtifacts.md).

A mirror of runtime/include/attn/manifest_schema.h, the schema's one
definition (the compiler and the launcher include it): each macro
ATTN_MANIFEST_<NAME> is the constant <NAME> here, with the same value.
tests/test_manifest_schema.py checks the two agree, both ways, so a key
added or renamed in the header must be added or renamed here too.
"""

from __future__ import annotations

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
# One parameter: {name, type}.
KEY_TYPE = "type"
PARAM_PTR = "ptr"
PARAM_I64 = "i64"
PARAM_I32 = "i32"
PARAM_F32 = "f32"

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
STRIDE_INFIX = "_stride_"


def stride_name(tensor: str, dim: str) -> str:
    """The argument holding tensor `tensor`'s stride along `dim` (b, h, n or
    q), in elements: stride_name(ARG_Q, "b") == "q_stride_b"."""
    return tensor + STRIDE_INFIX + dim
