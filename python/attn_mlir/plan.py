"""Everything attention() decides before touching a GPU, on plain shapes.

attention() describes each torch tensor as a TensorInfo (shape, strides in
elements, dtype name, device, address) and hands them here. The checks, the
AttentionSpec and the kernel argument values are computed without torch, so
they are tested on the build machine; and `spec_for_shapes` lets the build
machine compile exactly the spec attention() will look up on the GPU
machine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Sequence, Tuple

from . import manifest as schema
from .heads import as_heads
from .masks import as_mask
from .spec import AttentionSpec, Bias, ExplicitMask
from .targets import (FP8_TYPES, MMA_SYNC, WGMMA, Capability, TargetTable, check_target,
                      cuda_device, default_family, target_table)

LAYOUTS = ("bhnd", "bnhd")
INPUT_DTYPES = ("f16", "bf16")
FLOAT_DTYPES = ("f16", "bf16", "f32")
MASK_DTYPES = ("bool", "u8", "i8")


@dataclass(frozen=True)
class TensorInfo:
    """What attention() needs of a tensor (torch-free)."""

    shape: Tuple[int, ...]
    strides: Tuple[int, ...]      # in elements
    dtype: str                    # f16, bf16, f32, bool, u8, i8, i32, i64, ...
    device: str = "cuda:0"
    ptr: int = 0


@dataclass(frozen=True)
class Dims:
    """The logical sizes of one call (SEMANTICS.md section 1)."""

    batch: int
    heads_q: int
    heads_kv: int
    seq_q: int
    seq_k: int
    head_dim: int
    head_dim_v: int


def _axes(layout: str) -> Tuple[int, int, int, int]:
    """Positions of (b, h, n, d) in a tensor of this layout."""
    return (0, 1, 2, 3) if layout == "bhnd" else (0, 2, 1, 3)


def _logical(info: TensorInfo, layout: str) -> Tuple[int, int, int, int]:
    """[B, H, N, D] sizes of a 4-D tensor given in `layout`."""
    b, h, n, d = _axes(layout)
    return (info.shape[b], info.shape[h], info.shape[n], info.shape[d])


def _check_info(name: str, info: Any) -> TensorInfo:
    if not isinstance(info, TensorInfo):
        raise TypeError(f"{name}: expected a tensor, got {info!r}")
    if len(info.shape) != len(info.strides):
        raise ValueError(f"{name}: shape {info.shape} and strides {info.strides} differ in rank")
    return info


def _check_last_dim(name: str, info: TensorInfo) -> None:
    # The kernels index every tensor with run-time strides except along the
    # last dimension, which must be contiguous.
    if info.shape and info.shape[-1] != 1 and info.strides[-1] != 1:
        raise ValueError(f"{name}: the last dimension must be contiguous (stride 1), got strides "
                         f"{info.strides}; call .contiguous() first")


def _check_rank(name: str, info: TensorInfo, ranks: Sequence[int], meaning: str) -> None:
    if len(info.shape) not in ranks:
        raise ValueError(f"{name} must have shape {meaning}, got {list(info.shape)}")


def _check_dtype(name: str, info: TensorInfo, allowed: Sequence[str]) -> None:
    if info.dtype not in allowed:
        raise TypeError(f"{name} has dtype {info.dtype}, expected one of {', '.join(allowed)}")


def check_qkv(q: TensorInfo, k: TensorInfo, v: TensorInfo, layout: str) -> Dims:
    """Checks Q, K, V together; returns the call's sizes."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout = {layout!r} is not one of {', '.join(LAYOUTS)} "
                         "('bnhd': [B, N, H, D], heads after tokens)")
    shape_text = "[B, H, N, D]" if layout == "bhnd" else "[B, N, H, D]"
    for name, info in (("q", q), ("k", k), ("v", v)):
        _check_info(name, info)
        _check_rank(name, info, (4,), f"{shape_text} (layout {layout!r})")
        _check_dtype(name, info, INPUT_DTYPES)
        _check_last_dim(name, info)
    if not q.device.startswith("cuda"):
        raise ValueError(f"q is on {q.device}; attention() runs on CUDA tensors")
    for name, info in (("k", k), ("v", v)):
        if info.device != q.device:
            raise ValueError(f"{name} is on {info.device} but q is on {q.device}")
        if info.dtype != q.dtype:
            raise TypeError(f"{name} has dtype {info.dtype} but q has {q.dtype}")
    B, Hq, Nq, D = _logical(q, layout)
    Bk, Hkv, Nk, Dk = _logical(k, layout)
    Bv, Hv, Nv, Dv = _logical(v, layout)
    for what, q_size, k_size in (("batch size", B, Bk), ("head dim D", D, Dk)):
        if q_size != k_size:
            raise ValueError(f"k has {what} {k_size} but q has {q_size} (layout {layout!r})")
    for what, k_size, v_size in (("batch size", Bk, Bv), ("number of heads", Hkv, Hv),
                                 ("sequence length", Nk, Nv)):
        if k_size != v_size:
            raise ValueError(f"v has {what} {v_size} but k has {k_size} (layout {layout!r})")
    for name, size in (("batch size", B), ("q heads", Hq), ("k heads", Hkv), ("q length", Nq),
                       ("k length", Nk), ("head dim", D), ("v head dim", Dv)):
        if size < 1:
            raise ValueError(f"{name} is {size}; every dimension must be at least 1")
    if Hq % Hkv != 0:
        raise ValueError(f"q has {Hq} heads, not a multiple of the {Hkv} heads of k and v "
                         "(grouped-query attention needs Hq % Hkv == 0)")
    return Dims(B, Hq, Hkv, Nq, Nk, D, Dv)


def _check_same_device(name: str, info: TensorInfo, device: str) -> None:
    if info.device != device:
        raise ValueError(f"{name} is on {info.device} but q is on {device}")


def _check_pair_operand(name: str, info: TensorInfo, dims: Dims, device: str,
                        dtypes: Sequence[str]) -> Tuple[bool, bool]:
    """explicit_mask / bias: [Nq, Nk] or [B|1, Hq|1, Nq, Nk] (heads first in
    every layout). Returns (per_batch, per_head)."""
    _check_info(name, info)
    _check_rank(name, info, (2, 4), "[Nq, Nk] or [B|1, Hq|1, Nq, Nk]")
    _check_dtype(name, info, dtypes)
    _check_same_device(name, info, device)
    _check_last_dim(name, info)
    if tuple(info.shape[-2:]) != (dims.seq_q, dims.seq_k):
        raise ValueError(f"{name} has shape {list(info.shape)}; its last two dimensions must be "
                         f"[Nq, Nk] = [{dims.seq_q}, {dims.seq_k}]")
    if len(info.shape) == 2:
        return (False, False)
    for dim, full, what in ((0, dims.batch, "B"), (1, dims.heads_q, "Hq")):
        if info.shape[dim] not in (1, full):
            raise ValueError(f"{name} dimension {dim} is {info.shape[dim]} but must be 1 or "
                             f"{what} = {full}")
    return (info.shape[0] != 1, info.shape[1] != 1)


@dataclass(frozen=True)
class CallPlan:
    """A checked call: its spec, sizes and the shapes of the outputs."""

    spec: AttentionSpec
    dims: Dims
    layout: str
    out_shape: Tuple[int, ...]   # in the call's layout
    lse_shape: Optional[Tuple[int, ...]]
    targets: Optional[TargetTable] = None   # the table the target was checked against


def plan_call(q: TensorInfo, k: TensorInfo, v: TensorInfo, *, mask: Any = None,
              precision: Any = None, heads: Any = None, scale: Optional[float] = None,
              layout: str = "bhnd", return_lse: bool = False,
              bias: Optional[TensorInfo] = None, explicit_mask: Optional[TensorInfo] = None,
              segment_offsets: Optional[TensorInfo] = None, gates: Optional[TensorInfo] = None,
              out: Optional[TensorInfo] = None, static_shapes: bool = False,
              target: Optional[str] = None, kernel: Optional[str] = None,
              emulate_block_scaled: bool = False,
              device_capability: Optional[Capability] = None,
              device_name: Optional[str] = None, cache_dir: Any = None,
              targets: Optional[TargetTable] = None) -> CallPlan:
    """Checks a call and derives its AttentionSpec.

    Batch and sequence lengths become run-time sizes (one compiled kernel
    for all of them) unless static_shapes is set or a mask fixes the
    lengths (a neighborhood grid, static segment sizes).

    target: a chip of the compiler's target table (`targets`, default
    attn_mlir.targets.target_table(cache_dir)); None: the table's target
    for `device_capability` (the device's (major, minor); device_name
    names it in errors). kernel: the MMA family, None for the chip's
    default. emulate_block_scaled: NVFP4 (f4E2M1FN) precisions on a chip
    without the block-scaled mma.sync (sm_89 and later), the compiler
    emulating that instruction (slow; a correctness check). The choice is
    checked (attn_mlir.targets.check_target): unknown chip or family, FP8
    on a chip without the e4m3 mma.sync, NVFP4 on a chip without the
    block-scaled mma.sync and no emulation, or an emulation the chip does
    not take, raise before anything compiles.
    """
    dims = check_qkv(q, k, v, layout)
    device = q.device
    if not isinstance(return_lse, bool):
        raise TypeError(f"return_lse must be a bool, got {return_lse!r}")
    if not isinstance(static_shapes, bool):
        raise TypeError(f"static_shapes must be a bool, got {static_shapes!r}")
    if not isinstance(emulate_block_scaled, bool):
        raise TypeError(f"emulate_block_scaled must be a bool, got {emulate_block_scaled!r}")

    bias_spec = mask_spec = gate_dtype = offsets_layout = None
    if explicit_mask is not None:
        per_batch, per_head = _check_pair_operand("explicit_mask", explicit_mask, dims, device,
                                                  MASK_DTYPES)
        mask_spec = ExplicitMask(per_batch, per_head)
    if bias is not None:
        per_batch, per_head = _check_pair_operand("bias", bias, dims, device, FLOAT_DTYPES)
        bias_spec = Bias(bias.dtype, per_batch, per_head)
    if gates is not None:
        _check_info("gates", gates)
        _check_rank("gates", gates, (3,), "[B, Nq, Hq]")
        _check_dtype("gates", gates, FLOAT_DTYPES)
        _check_same_device("gates", gates, device)
        expected = (dims.batch, dims.seq_q, dims.heads_q)
        if tuple(gates.shape) != expected:
            raise ValueError(f"gates must have shape [B, Nq, Hq] = {list(expected)}, got "
                             f"{list(gates.shape)}")
        gate_dtype = gates.dtype
    if segment_offsets is not None:
        _check_info("segment_offsets", segment_offsets)
        _check_rank("segment_offsets", segment_offsets, (2, 3), "[B, S+1] or [B, 2, S+1]")
        _check_dtype("segment_offsets", segment_offsets, ("i32",))
        _check_same_device("segment_offsets", segment_offsets, device)
        shape = segment_offsets.shape
        if shape[0] != dims.batch or (len(shape) == 3 and shape[1] != 2):
            raise ValueError(f"segment_offsets must have shape [B, S+1] or [B, 2, S+1] with "
                             f"B = {dims.batch}, got {list(shape)}")
        # The kernel ABI has only the batch stride of the offsets: each
        # batch row must be dense.
        dense = []
        step = 1
        for size in reversed(shape):
            dense.insert(0, step)
            step *= size
        if any(s != d for s, d, n in zip(segment_offsets.strides, dense, shape) if n != 1):
            raise ValueError(f"segment_offsets must be contiguous, got strides "
                             f"{segment_offsets.strides}; call .contiguous() first")
        offsets_layout = "shared" if len(shape) == 2 else "separate"

    mask_value = as_mask(mask)
    heads_value = as_heads(heads)
    pinned_q = pinned_k = False
    group_masks = [g.mask for g in heads_value.groups] if heads_value else []
    for m in [mask_value] + group_masks:
        if m is not None:
            q_len, k_len = m.pinned_lengths()
            pinned_q |= q_len is not None
            pinned_k |= k_len is not None
    if heads_value and heads_value.softpag and dims.seq_q != dims.seq_k:
        raise ValueError(f"heads.softpag needs equal q and k lengths, got {dims.seq_q} and "
                         f"{dims.seq_k}")

    table = targets if targets is not None else target_table(cache_dir)
    if target is None:
        if device_capability is None:
            raise ValueError("no target given and no device capability to choose it from: "
                             "pass target= (one of " + ", ".join(table.chips) + ")")
        target = table.for_device(device_capability, device_name or q.device).chip

    spec = AttentionSpec(
        dtype=q.dtype, num_heads_q=dims.heads_q, num_heads_kv=dims.heads_kv,
        head_dim=dims.head_dim, head_dim_v=dims.head_dim_v,
        batch=dims.batch if static_shapes else None,
        seq_q=dims.seq_q if static_shapes or pinned_q else None,
        seq_k=dims.seq_k if static_shapes or pinned_k else None,
        mask=mask_value, precision=precision, heads=heads_value, scale=scale,
        has_lse=return_lse, explicit_mask=mask_spec, bias=bias_spec, gates=gate_dtype,
        segment_offsets=offsets_layout, target=target, kernel=kernel,
        emulate_block_scaled=emulate_block_scaled)
    if (kernel is None and default_family(table.get(spec.target), spec.precisions()) == WGMMA
            and _reads_inputs_by_tensor_copy(spec)
            and not all(_tensor_copy_compatible(info, layout) for info in (q, k, v))):
        # The wgmma kernel reads Q, K and V with bulk tensor copies, whose
        # tensor maps need every stride 16-byte aligned, a broadcast
        # (size-1) dimension's too; the warp-level kernel, which never
        # steps along such a dimension, serves those (Prepared.kernel_family
        # says which ran). Rows themselves must be aligned for both
        # (row_misalignment): attention() copies tensors whose rows are not.
        spec = replace(spec, kernel=MMA_SYNC)
    check_target(table, spec.target, spec.kernel, spec.precisions(), spec.emulate_block_scaled)
    if segment_offsets is not None and segment_offsets.shape[-1] != spec.num_segments + 1:
        raise ValueError(f"segment_offsets has {segment_offsets.shape[-1]} offsets per list but "
                         f"the mask has {spec.num_segments} segments (needs S+1 = "
                         f"{spec.num_segments + 1})")
    if spec.segment_offsets is not None and segment_offsets is None:
        raise ValueError("the mask has run-time segment sizes (None): pass segment_offsets "
                         "([B, S+1] int32 prefix offsets, or [B, 2, S+1] for separate q and k)")

    b, h, n, d = _axes(layout)
    out_logical = (dims.batch, dims.heads_q, dims.seq_q, dims.head_dim_v)
    out_shape = [0] * 4
    for axis, size in zip((b, h, n, d), out_logical):
        out_shape[axis] = size
    if out is not None:
        _check_info("out", out)
        if tuple(out.shape) != tuple(out_shape):
            raise ValueError(f"out must have shape {out_shape} (layout {layout!r}), got "
                             f"{list(out.shape)}")
        _check_dtype("out", out, (v.dtype,))
        _check_same_device("out", out, device)
        _check_last_dim("out", out)
    lse_shape = (dims.batch, dims.heads_q, dims.seq_q) if return_lse else None
    return CallPlan(spec, dims, layout, tuple(out_shape), lse_shape, table)


def check_segment_offsets(offsets: Sequence[Any], seq_q: int, seq_k: int) -> None:
    """Run-time segment offsets as values ([B][S+1] shared by Q and K, or
    [B][2][S+1]: Q's, then K's): each list starts at >= 0, never decreases
    and ends within its sequence (tokens past the end keep nothing).
    Raises ValueError naming the list and the value, so that offsets the
    kernels would read as nonsense are refused before a launch."""
    for b, entry in enumerate(offsets):
        separate = bool(entry) and isinstance(entry[0], (list, tuple))
        lists = ((f"segment_offsets[{b}][0]", entry[0], seq_q),
                 (f"segment_offsets[{b}][1]", entry[1], seq_k)) if separate else \
            ((f"segment_offsets[{b}]", entry, min(seq_q, seq_k)),)
        for name, values, length in lists:
            values = [int(x) for x in values]
            if values and values[0] < 0:
                raise ValueError(f"{name} = {values} starts below 0")
            for s in range(1, len(values)):
                if values[s] < values[s - 1]:
                    raise ValueError(f"{name} = {values} decreases at index {s} "
                                     f"({values[s - 1]} -> {values[s]}); offsets are prefix sums "
                                     "of segment sizes")
            if values and values[-1] > length:
                raise ValueError(f"{name} = {values} ends at {values[-1]}, past the sequence "
                                 f"length {length}")


# Bulk tensor copies (TMA): the tensor's address and its row, head and
# batch strides must be multiples of this many bytes.
TENSOR_COPY_ALIGNMENT = 16


def row_misalignment(info: TensorInfo) -> Optional[str]:
    """Why the kernels cannot read or write this 16-bit tensor's rows, or
    None. Every kernel copies the rows of Q, K, V (and the backward's dY)
    in 16-byte pieces (cp.async, bulk tensor copies; a misaligned piece is
    a fault, not a slow read) and writes O's rows in pieces up to as wide:
    the address and the stride of every dimension but the last (where it
    has more than one index) must be multiples of 16 bytes. Other dtypes
    are refused by the dtype checks."""
    element_bytes = {"f16": 2, "bf16": 2}.get(info.dtype)
    if element_bytes is None:
        return None
    if info.ptr % TENSOR_COPY_ALIGNMENT:
        return f"its address {info.ptr:#x} is not a multiple of {TENSOR_COPY_ALIGNMENT} bytes"
    for dim, (size, stride) in enumerate(zip(info.shape[:-1], info.strides[:-1])):
        if size > 1 and stride * element_bytes % TENSOR_COPY_ALIGNMENT:
            return (f"its stride {stride} along dimension {dim} is not a multiple of "
                    f"{TENSOR_COPY_ALIGNMENT // element_bytes} elements "
                    f"({TENSOR_COPY_ALIGNMENT} bytes)")
    return None


def _reads_inputs_by_tensor_copy(spec: AttentionSpec) -> bool:
    """Whether a wgmma kernel of `spec` copies the caller's tensors with
    bulk tensor copies: those whose Q.K is not quantized and whose P.V is
    not FP8 do (the others read the pre-kernels' aligned buffers by
    cp.async)."""
    return any(p is None or (p.qk in (None, "f16", "bf16") and p.pv not in FP8_TYPES)
               for _, p in spec.precisions())


def _tensor_copy_compatible(info: TensorInfo, layout: str) -> bool:
    element_bytes = {"f16": 2, "bf16": 2}.get(info.dtype, 0)
    if not element_bytes or info.ptr % TENSOR_COPY_ALIGNMENT:
        return False
    return all(stride * element_bytes % TENSOR_COPY_ALIGNMENT == 0
               for stride in _strides_bhn(info, layout))


def _strides_bhn(info: TensorInfo, layout: str) -> Tuple[int, int, int]:
    b, h, n, _ = _axes(layout)
    return (info.strides[b], info.strides[h], info.strides[n])


def _broadcast_stride(info: TensorInfo, dim: int) -> int:
    # A broadcast (size-1) dimension is read at index 0 for every b / h.
    return 0 if info.shape[dim] == 1 else info.strides[dim]


def launch_values(plan: CallPlan, tensors: Dict[str, TensorInfo]) -> Dict[str, int]:
    """The kernel arguments of a planned call, by their ABI names
    (GpuArtifacts.md): pointers, strides in elements, run-time sizes.
    `tensors` maps q, k, v, out and (when present) lse, explicit_mask,
    bias, segment_offsets, gates to their TensorInfo; for the backward
    also out_grad, q_grad, k_grad, v_grad (the layout of q), lse_grad
    and gates_grad."""
    stride = schema.stride_name
    values: Dict[str, int] = {}
    for name, info in tensors.items():
        values[name] = info.ptr
    for name in (schema.ARG_Q, schema.ARG_K, schema.ARG_V, schema.ARG_OUT, schema.ARG_OUT_GRAD,
                 schema.ARG_Q_GRAD, schema.ARG_K_GRAD, schema.ARG_V_GRAD):
        if name in tensors:
            sb, sh, sn = _strides_bhn(tensors[name], plan.layout)
            values.update({stride(name, "b"): sb, stride(name, "h"): sh, stride(name, "n"): sn})
    for name in (schema.ARG_LSE, schema.ARG_LSE_GRAD):
        if name in tensors:
            sb, sh, sn = tensors[name].strides
            values.update({stride(name, "b"): sb, stride(name, "h"): sh, stride(name, "n"): sn})
    for name in (schema.ARG_EXPLICIT_MASK, schema.ARG_BIAS, schema.ARG_BIAS_GRAD):
        if name in tensors:
            info = tensors[name]
            if len(info.shape) == 2:
                sb, sh, sq = 0, 0, info.strides[0]
            else:
                sb, sh, sq = _broadcast_stride(info, 0), _broadcast_stride(info, 1), info.strides[2]
            values.update({stride(name, "b"): sb, stride(name, "h"): sh, stride(name, "q"): sq})
    if schema.ARG_SEGMENT_OFFSETS in tensors:
        values[stride(schema.ARG_SEGMENT_OFFSETS, "b")] = \
            tensors[schema.ARG_SEGMENT_OFFSETS].strides[0]
    for name in (schema.ARG_GATES, schema.ARG_GATES_GRAD):
        if name in tensors:
            sb, sq, sh = tensors[name].strides
            values.update({stride(name, "b"): sb, stride(name, "q"): sq, stride(name, "h"): sh})
    dims = plan.dims
    values.update({schema.ARG_BATCH: dims.batch, schema.ARG_SEQ_Q: dims.seq_q,
                   schema.ARG_SEQ_K: dims.seq_k})
    return values


def spec_for_shapes(q_shape: Sequence[int], k_shape: Sequence[int], v_shape: Sequence[int],
                    dtype: str = "f16", *, device: Any = None, **options: Any) -> AttentionSpec:
    """The AttentionSpec attention() derives for tensors of these shapes (in
    `layout`), with the same keyword options (mask, precision, heads,
    scale, layout, return_lse, static_shapes, target, kernel,
    emulate_block_scaled, cache_dir; bias, explicit_mask, gates,
    segment_offsets given as TensorInfo or as a (shape, dtype) pair). Use
    it to compile on the build machine what the GPU machine will look up:
    there, give target= (the GPU machine's chip, e.g. "sm_90a" for an H100
    or H200; with precision="nvfp4" there also emulate_block_scaled=True,
    as attention() there is given). Without target= (nor
    device_capability=) the target is that of the CUDA device `device`
    (default: the current one), read through torch."""
    def contiguous(shape: Sequence[int], dtype: str) -> TensorInfo:
        strides, step = [], 1
        for size in reversed(tuple(shape)):
            strides.insert(0, step)
            step *= size
        return TensorInfo(tuple(shape), tuple(strides), dtype)

    for name in ("bias", "explicit_mask", "gates", "segment_offsets", "out"):
        value = options.get(name)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            options[name] = contiguous(value[0], value[1])
    if options.get("target") is None and options.get("device_capability") is None:
        options["device_capability"], options["device_name"] = cuda_device(device)
    return plan_call(contiguous(q_shape, dtype), contiguous(k_shape, dtype),
                     contiguous(v_shape, dtype), **options).spec


__all__ = ["TensorInfo", "Dims", "CallPlan", "check_qkv", "check_segment_offsets", "plan_call",
           "launch_values", "row_misalignment",
           "spec_for_shapes", "LAYOUTS"]
