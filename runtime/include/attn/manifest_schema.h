/*===- manifest_schema.h - the names of manifest.json -------------*- C -*-===*
 *
 * The one definition of the launch manifest's schema
 * (docs/design/GpuArtifacts.md): every key, the format tag and version,
 * and the parameter type names. The compiler (attn-lower-to-gpu,
 * attn-export-artifacts) and the launcher include this header; the Python
 * package mirrors it in attn_mlir/manifest.py, and a test checks the two
 * agree. Plain C, no dependencies, so the launcher builds without MLIR.
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTN_MANIFEST_SCHEMA_H
#define ATTN_MANIFEST_SCHEMA_H

/* The manifest's top-level object. */
#define ATTN_MANIFEST_FORMAT "attn-kernels"
#define ATTN_MANIFEST_VERSION 1
#define ATTN_MANIFEST_KEY_FORMAT "format"
#define ATTN_MANIFEST_KEY_VERSION "version"
#define ATTN_MANIFEST_KEY_BINARY "binary"
#define ATTN_MANIFEST_KEY_BINARY_FORMAT "binary_format"
/* The chip the binary is for (an sm_XY[a] name) and the MMA family of its
 * attention kernels (mma_sync, wgmma, tcgen05). */
#define ATTN_MANIFEST_KEY_CHIP "chip"
#define ATTN_MANIFEST_KEY_KERNEL_FAMILY "kernel"
#define ATTN_MANIFEST_KEY_KERNELS "kernels"
#define ATTN_MANIFEST_KEY_SCRATCH "scratch"
/* Optional: {name: value} of the run-time arguments the kernels were
 * compiled for one value of (static shapes: batch, seq_q, seq_k); the
 * launcher refuses a launch that passes another. */
#define ATTN_MANIFEST_KEY_FIXED_ARGUMENTS "fixed_arguments"

/* Binary formats. */
#define ATTN_MANIFEST_BINARY_CUBIN "cubin"
#define ATTN_MANIFEST_BINARY_FATBIN "fatbin"
#define ATTN_MANIFEST_BINARY_PTX "ptx"

/* One kernel. */
#define ATTN_MANIFEST_KEY_NAME "name"
#define ATTN_MANIFEST_KEY_BLOCK "block"
#define ATTN_MANIFEST_KEY_SHARED_BYTES "shared_bytes"
#define ATTN_MANIFEST_KEY_GRID "grid"
#define ATTN_MANIFEST_KEY_PARAMS "params"
/* Optional, a positive integer: the kernel is persistent. Its blocks walk
 * the grid's work units (grid[0]; grid[1] and grid[2] are 1) from
 * blockIdx.x in steps of gridDim.x, so any block count is correct; the
 * launcher launches at most this many blocks per multiprocessor. */
#define ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM "persistent_blocks_per_sm"
/* One parameter: {name, type}. */
#define ATTN_MANIFEST_KEY_TYPE "type"
#define ATTN_MANIFEST_PARAM_PTR "ptr"
#define ATTN_MANIFEST_PARAM_I64 "i64"
#define ATTN_MANIFEST_PARAM_I32 "i32"
#define ATTN_MANIFEST_PARAM_F32 "f32"
/* A 128-byte CUtensorMap passed by value (a TMA descriptor), which the
 * launcher encodes per launch from other arguments: the param object has
 * "tensor_map": {tensor, data_type, dims, strides, box, swizzle}. */
#define ATTN_MANIFEST_PARAM_TENSOR_MAP "tensor_map"
#define ATTN_MANIFEST_KEY_TENSOR_MAP "tensor_map"
/* The ptr argument (tensor or scratch buffer) the map addresses. */
#define ATTN_MANIFEST_KEY_TENSOR "tensor"
/* Element type: bf16, f16 or u8. */
#define ATTN_MANIFEST_KEY_DATA_TYPE "data_type"
#define ATTN_MANIFEST_DATA_BF16 "bf16"
#define ATTN_MANIFEST_DATA_F16 "f16"
#define ATTN_MANIFEST_DATA_U8 "u8"
/* Sizes per dimension, innermost first (rank 1 to 5), each a list of
 * factors (their product; a factor is an integer or {arg[, ceil_div]}). */
#define ATTN_MANIFEST_KEY_DIMS "dims"
/* Byte strides of dimensions 1 .. rank-1, each a list of factors. */
#define ATTN_MANIFEST_KEY_STRIDES "strides"
/* The box one copy moves, innermost first (integers, 1 to 256). */
#define ATTN_MANIFEST_KEY_BOX "box"
/* Shared-memory swizzle in bytes: 0, 32, 64 or 128. */
#define ATTN_MANIFEST_KEY_SWIZZLE "swizzle"

/* A factor of a grid dimension or of a scratch size: an integer, or
 * {arg[, ceil_div]}. */
#define ATTN_MANIFEST_KEY_ARG "arg"
#define ATTN_MANIFEST_KEY_CEIL_DIV "ceil_div"

/* One scratch buffer: {name, bytes}. */
#define ATTN_MANIFEST_KEY_BYTES "bytes"

/* Arguments of the attention kernels: run-time sizes (i32), tensors
 * (ptr) and the strides of a tensor X, X_stride_{b,h,n,q} (i64). */
#define ATTN_MANIFEST_ARG_BATCH "batch"
#define ATTN_MANIFEST_ARG_SEQ_Q "seq_q"
#define ATTN_MANIFEST_ARG_SEQ_K "seq_k"
#define ATTN_MANIFEST_ARG_Q "q"
#define ATTN_MANIFEST_ARG_K "k"
#define ATTN_MANIFEST_ARG_V "v"
#define ATTN_MANIFEST_ARG_OUT "out"
#define ATTN_MANIFEST_ARG_LSE "lse"
#define ATTN_MANIFEST_ARG_EXPLICIT_MASK "explicit_mask"
#define ATTN_MANIFEST_ARG_BIAS "bias"
#define ATTN_MANIFEST_ARG_SEGMENT_OFFSETS "segment_offsets"
#define ATTN_MANIFEST_ARG_GATES "gates"
/* The backward's (attn.attention_grad): dY and dLSE in, the gradients out
 * ("out" and "lse" are then the forward's O and LSE, read). */
#define ATTN_MANIFEST_ARG_OUT_GRAD "out_grad"
#define ATTN_MANIFEST_ARG_LSE_GRAD "lse_grad"
#define ATTN_MANIFEST_ARG_Q_GRAD "q_grad"
#define ATTN_MANIFEST_ARG_K_GRAD "k_grad"
#define ATTN_MANIFEST_ARG_V_GRAD "v_grad"
#define ATTN_MANIFEST_ARG_BIAS_GRAD "bias_grad"
#define ATTN_MANIFEST_ARG_GATES_GRAD "gates_grad"
#define ATTN_MANIFEST_STRIDE_INFIX "_stride_"

#endif /* ATTN_MANIFEST_SCHEMA_H */
