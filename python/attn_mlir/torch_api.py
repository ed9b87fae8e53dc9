"""attention() on PyTorch CUDA tensors.

Where torch is installed, importing this module imports it and registers
the custom op `torch.ops.attn_mlir.attention` (attn_mlir.torch_ops);
without torch, the rest of attn_mlir (specs, compile, plan) works as is.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple, Union

from . import manifest as schema
from .compiler import PathLike, compile, still_current
from .errors import AttnLaunchError
from .launcher import launcher_for
from .options import CallOptions, call_text
from .plan import (TENSOR_COPY_ALIGNMENT, TensorInfo, check_segment_offsets, launch_values,
                   row_misalignment,
                   plan_call)
from .targets import check_runs_on, cuda_device

try:
    from . import torch_ops as _torch_ops
except (ImportError, AttributeError):  # no torch, or one without torch.library.custom_op
    _torch_ops = None

_TORCH_DTYPES = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "bool": "bool",
                 "uint8": "u8", "int8": "i8", "int32": "i32", "int64": "i64"}


def _info(name: str, tensor: Any) -> TensorInfo:
    import torch
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    dtype = _TORCH_DTYPES.get(str(tensor.dtype).replace("torch.", ""), str(tensor.dtype))
    return TensorInfo(tuple(tensor.shape), tuple(tensor.stride()), dtype, str(tensor.device),
                      tensor.data_ptr())


def _rows_aligned(name: str, tensor: Any) -> Any:
    """`tensor`, or a contiguous copy of it at a fresh (aligned) address
    where the kernels could not copy its rows (plan.row_misalignment): a
    strided view of a wider buffer, a view at an odd offset. Only for
    calls that outlive nothing (attention() and its backward); prepare()
    refuses such tensors instead (_refuse_misaligned)."""
    # The hot path: a contiguous tensor at an aligned address has aligned
    # rows wherever a kernel can run (head dims are multiples of 8), and
    # costs two cheap calls rather than a TensorInfo (_info names a
    # non-tensor argument).
    import torch
    if (isinstance(tensor, torch.Tensor) and tensor.data_ptr() % TENSOR_COPY_ALIGNMENT == 0
            and tensor.is_contiguous()):
        return tensor
    if row_misalignment(_info(name, tensor)) is None:
        return tensor
    copy = torch.empty(tuple(tensor.shape), dtype=tensor.dtype, device=tensor.device)
    copy.copy_(tensor)
    return copy


def _refuse_misaligned(tensors: Dict[str, Any]) -> None:
    """prepare() references its tensors, so it cannot copy them."""
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        why = row_misalignment(_info(name, tensor))
        if why is not None:
            raise ValueError(f"{name} cannot be used by the kernels: {why} (they copy rows in "
                             f"{TENSOR_COPY_ALIGNMENT}-byte pieces); pass a contiguous copy "
                             f"({name}.contiguous(), or .clone() for a view at an odd offset)")


def _refuse_gradients(tensors: Dict[str, Any]) -> None:
    """Inputs that require grad where no backward is wired (prepare(),
    `out=`, a torch without custom ops): an output without grad_fn would
    silently stop the gradient."""
    name = _requiring_grad(tensors)
    if name is not None:
        raise NotImplementedError(
            f"{name} requires grad, but this call has no backward: prepare() and out= "
            "compute outputs outside autograd; call attention() without out= (or under "
            "torch.no_grad() for inference)")


def _requiring_grad(tensors: Dict[str, Any]) -> Optional[str]:
    """The first tensor that requires grad with grad mode on, or None."""
    import torch
    if not torch.is_grad_enabled():
        return None
    for name, tensor in tensors.items():
        if tensor is not None and getattr(tensor, "requires_grad", False):
            return name
    return None


def attention(q: Any, k: Any, v: Any, mask: Any = None, precision: Any = None,
              heads: Any = None, scale: Optional[float] = None, layout: str = "bhnd",
              return_lse: bool = False, bias: Any = None, explicit_mask: Any = None,
              segment_offsets: Any = None, gates: Any = None, out: Any = None, *,
              static_shapes: bool = False, target: Optional[str] = None,
              kernel: Optional[str] = None, emulate_block_scaled: bool = False,
              cache_dir: Optional[PathLike] = None) -> Union[Any, Tuple[Any, Any]]:
    """Attention of SEMANTICS.md on CUDA tensors (f16/bf16).

    q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] in layout "bhnd",
    or [B, N, H, D] with layout "bnhd"; the last dimension contiguous.
    Returns out (the layout of q, V's dtype), and with return_lse also
    lse [B, Hq, Nq] float32. explicit_mask / bias: [Nq, Nk] or
    [B|1, Hq|1, Nq, Nk]; gates [B, Nq, Hq]; segment_offsets int32 [B, S+1]
    or [B, 2, S+1]. Runs on torch.cuda.current_stream().

    The call is the custom op `torch.ops.attn_mlir.attention` (a fake
    implementation gives its output shapes): it runs inside
    torch.compile(fullgraph=True) and torch.export without a graph break,
    and in CUDA graphs for every precision (the pre-kernels' scratch
    buffers come from PyTorch's allocator). With `out` given, the result is
    written into it directly instead (eager mode only: a custom op returns
    fresh tensors).

    precision: None (f16/bf16 as the inputs), a preset name ("sage1",
    "sage2-8b", "sage2-4b", "fp8", "nvfp4"), a Precision or a dict of its
    fields; quantized precisions run pre-kernels (smoothing, scales) before
    the attention kernel.

    target: None (default) compiles for the target serving q's device
    (torch.cuda.get_device_capability; attn_mlir.targets has the rule:
    sm_86 for an RTX 3090 or A10, sm_90a for an H100, ...); or a chip of
    the compiler's target table. kernel: the MMA kernel family (mma_sync,
    wgmma, tcgen05), None for the chip's default. A precision that
    multiplies in FP8 needs a chip with the e4m3 mma.sync (sm_89, sm_90a,
    sm_120a in today's table): elsewhere it is an AttnTargetError before
    anything compiles. NVFP4 ("nvfp4", or f4E2M1FN in qk / pv) needs the
    block-scaled mma.sync (sm_120a, sm_120f); emulate_block_scaled=True
    compiles the same kernels for a chip without it but with the E4M3
    conversions (sm_89 and later, e.g. sm_90a for an H100) by emulating
    that instruction: slow, for checking the NVFP4 kernels' results (its
    own cache entry; refused on a chip with the instruction). Kernels
    whose chip cannot run on q's device (an explicit target, a cache entry
    from elsewhere) are refused before they reach the driver.

    Gradients: when q, k, v or gates require grad (with grad mode on),
    the output has a grad_fn and loss.backward() runs the backward's
    kernels (SEMANTICS.md section 5; the custom op
    `torch.ops.attn_mlir.attention_backward`), in eager mode and under
    torch.compile. The forward then also computes the LSE the backward
    reads. Quantized precisions are differentiated as the identity; a
    bias gets its gradient (dBias, summed over its broadcast dimensions).
    Not differentiable: calls with `out` (NotImplementedError).
    """
    if out is not None or _torch_ops is None:
        # One call through prepare(), whose tensors must be aligned: ours
        # are copied where they are not, the caller's `out` is refused.
        q, k, v = _rows_aligned("q", q), _rows_aligned("k", k), _rows_aligned("v", v)
    if out is not None:
        return prepare(q, k, v, mask=mask, precision=precision, heads=heads, scale=scale,
                       layout=layout, return_lse=return_lse, bias=bias,
                       explicit_mask=explicit_mask, segment_offsets=segment_offsets,
                       gates=gates, out=out, static_shapes=static_shapes, target=target,
                       kernel=kernel, emulate_block_scaled=emulate_block_scaled,
                       cache_dir=cache_dir)()
    differentiable = {"q": q, "k": k, "v": v, "bias": bias, "gates": gates}
    if _torch_ops is None:  # a torch older than torch.library.custom_op (2.4)
        _refuse_gradients(differentiable)
        return prepare(q, k, v, mask=mask, precision=precision, heads=heads, scale=scale,
                       layout=layout, return_lse=return_lse, bias=bias,
                       explicit_mask=explicit_mask, segment_offsets=segment_offsets,
                       gates=gates, static_shapes=static_shapes, target=target,
                       kernel=kernel, emulate_block_scaled=emulate_block_scaled,
                       cache_dir=cache_dir)()
    needs_grad = _requiring_grad(differentiable) is not None
    # The options as text by plain string operations (and the spec objects'
    # stored text): torch.compile traces this without a graph break. The
    # backward reads the forward's LSE.
    text = call_text(mask, precision, heads, scale, layout, return_lse or needs_grad,
                     static_shapes, target, kernel, cache_dir, emulate_block_scaled)
    out, lse = _torch_ops.attention_op(q, k, v, bias, explicit_mask, segment_offsets, gates, text)
    return (out, lse) if return_lse else out


def run_call(q: Any, k: Any, v: Any, bias: Any, explicit_mask: Any, segment_offsets: Any,
             gates: Any, call: CallOptions) -> Tuple[Any, Any]:
    """The custom op's CUDA implementation: (out, lse), lse empty unless
    call.return_lse."""
    import torch

    # Gradients were refused before the op (attention()); below autograd
    # the inputs may still say requires_grad.
    q, k, v = _rows_aligned("q", q), _rows_aligned("k", k), _rows_aligned("v", v)
    result = _prepare(q, k, v, mask=call.mask, precision=call.precision, heads=call.heads,
                     scale=call.scale, layout=call.layout, return_lse=call.return_lse,
                     bias=bias, explicit_mask=explicit_mask, segment_offsets=segment_offsets,
                     gates=gates, static_shapes=call.static_shapes, target=call.target,
                     out=None, kernel=call.kernel,
                     emulate_block_scaled=call.emulate_block_scaled,
                     cache_dir=call.cache_dir, memo_key=call)()
    if call.return_lse:
        return result
    return result, torch.empty((0,), dtype=torch.float32, device=q.device)


class Prepared:
    """One attention call, ready to launch again (see prepare())."""

    def __init__(self, bound: Any, device: Any, result: Any, keep_alive: Tuple[Any, ...],
                 artifacts: Any = None) -> None:
        self._bound = bound
        self._device = device
        self.result = result
        self._keep_alive = keep_alive
        #: The compiled kernels (Artifacts): `artifacts.kernel_family` says
        #: which MMA family runs (e.g. wgmma, or mma_sync as the fallback).
        self.artifacts = artifacts

    @property
    def kernel_family(self) -> Optional[str]:
        """The MMA family of the attention kernel this call runs."""
        return self.artifacts.kernel_family if self.artifacts is not None else None

    def __call__(self) -> Any:
        import torch

        with torch.cuda.device(self._device):
            self._bound(torch.cuda.current_stream(self._device).cuda_stream)
        return self.result


def prepare(q: Any, k: Any, v: Any, mask: Any = None, precision: Any = None,
              heads: Any = None, scale: Optional[float] = None, layout: str = "bhnd",
              return_lse: bool = False, bias: Any = None, explicit_mask: Any = None,
              segment_offsets: Any = None, gates: Any = None, out: Any = None, *,
              static_shapes: bool = False, target: Optional[str] = None,
              kernel: Optional[str] = None, emulate_block_scaled: bool = False,
              cache_dir: Optional[PathLike] = None) -> "Prepared":
    """attention() planned, compiled and marshalled once for these tensors:
    the returned callable launches on the current stream and returns the
    same output tensors, at the cost of one ctypes call. The tensors must
    stay alive and keep their storage (they are referenced, not copied).
    target / kernel / emulate_block_scaled: as attention().
    """
    _refuse_gradients({"q": q, "k": k, "v": v, "bias": bias, "gates": gates})
    _refuse_misaligned({"q": q, "k": k, "v": v, "out": out})
    return _prepare(q, k, v, mask=mask, precision=precision, heads=heads, scale=scale,
                    layout=layout, return_lse=return_lse, bias=bias,
                    explicit_mask=explicit_mask, segment_offsets=segment_offsets, gates=gates,
                    out=out, static_shapes=static_shapes, target=target, kernel=kernel,
                    emulate_block_scaled=emulate_block_scaled, cache_dir=cache_dir)


def _named_tensors(q: Any, k: Any, v: Any, bias: Any, explicit_mask: Any,
                   segment_offsets: Any, gates: Any) -> Dict[str, Any]:
    """The call's tensors by kernel argument name, those given (the
    arguments' names coincide with attention()'s, which name the tensors
    in errors)."""
    tensors = {schema.ARG_Q: q, schema.ARG_K: k, schema.ARG_V: v}
    optional = {schema.ARG_BIAS: bias, schema.ARG_EXPLICIT_MASK: explicit_mask,
                schema.ARG_SEGMENT_OFFSETS: segment_offsets, schema.ARG_GATES: gates}
    tensors.update((name, tensor) for name, tensor in optional.items() if tensor is not None)
    return tensors


def _tensor_infos(tensors: Dict[str, Any]) -> Dict[str, TensorInfo]:
    """TensorInfo of each named tensor (a TypeError names one that is not a
    tensor)."""
    return {name: _info(name, tensor) for name, tensor in tensors.items()}


def _signature(tensors: Dict[str, Any]) -> Tuple[Any, ...]:
    """What a call's plan and kernels depend on in its tensors: each one's
    shape, strides, dtype, device and whether its address suits bulk
    tensor copies (which decides the kernel family); never its address or
    values. Read straight from the tensors (hashable torch objects), not
    through TensorInfo: this is the hot path of every call."""
    try:
        return tuple((name, t.shape, t.stride(), t.dtype, t.device,
                      t.data_ptr() % TENSOR_COPY_ALIGNMENT == 0)
                     for name, t in tensors.items())
    except AttributeError:
        _tensor_infos(tensors)  # the TypeError naming what is not a tensor
        raise


def _device_of(q: Any) -> Tuple[Any, Any]:
    """(capability, name) of q's CUDA device; (None, None) off CUDA, where
    plan_call says q must be on CUDA."""
    device = getattr(q, "device", None)  # not a tensor: planning says so
    if device is not None and str(device).startswith("cuda"):
        return cuda_device(device)
    return None, None


def _plan(infos: Dict[str, TensorInfo], capability: Any, device_name: Any, *, mask: Any,
          precision: Any, heads: Any, scale: Optional[float], layout: str, return_lse: bool,
          out: Any, static_shapes: bool, target: Optional[str], kernel: Optional[str],
          cache_dir: Optional[PathLike], emulate_block_scaled: bool = False) -> Any:
    """plan_call for these tensors."""
    return plan_call(infos[schema.ARG_Q], infos[schema.ARG_K], infos[schema.ARG_V], mask=mask,
                     precision=precision, heads=heads, scale=scale, layout=layout,
                     return_lse=return_lse, bias=infos.get(schema.ARG_BIAS),
                     explicit_mask=infos.get(schema.ARG_EXPLICIT_MASK),
                     segment_offsets=infos.get(schema.ARG_SEGMENT_OFFSETS),
                     gates=infos.get(schema.ARG_GATES),
                     out=_info("out", out) if out is not None else None,
                     static_shapes=static_shapes, target=target, kernel=kernel,
                     emulate_block_scaled=emulate_block_scaled,
                     device_capability=capability, device_name=device_name,
                     cache_dir=cache_dir)


def _check_offsets(plan: Any, segment_offsets: Any) -> None:
    import torch

    if segment_offsets is not None and not torch.cuda.is_current_stream_capturing():
        # One small copy to the host (a sync); a captured graph replays
        # whatever offsets it finds, unchecked.
        check_segment_offsets(segment_offsets.tolist(), plan.dims.seq_q, plan.dims.seq_k)


class _LaunchTemplate:
    """The launch of one call signature with everything but the addresses
    filled in: the argument names in the launcher's order, the constant
    values (strides, run-time sizes) already in the launcher's C array,
    the scratch buffers' sizes. A call then only allocates its scratch
    buffers and writes the addresses of its tensors and buffers."""

    def __init__(self, artifacts: Any, plan: Any, infos: Dict[str, TensorInfo]) -> None:
        values = launch_values(plan, infos)
        scratch = artifacts.scratch_sizes(values)
        for name in scratch:
            values[name] = 0
        names = artifacts.argument_names
        missing = sorted(set(names) - values.keys())
        if missing:
            raise AttnLaunchError(f"the kernels of {artifacts.directory} take arguments this "
                                  f"call cannot provide: {', '.join(missing)}")
        slot = {name: i for i, name in enumerate(names)}
        self.tensor_names = tuple(name for name in infos if name in slot)
        self.scratch_sizes = tuple(scratch.values())
        # The slots a call writes: its tensors' addresses, then its buffers'.
        self.address_slots = (tuple(slot[name] for name in self.tensor_names)
                              + tuple(slot[name] for name in scratch))
        self.arguments = launcher_for(artifacts.directory).values_template(
            names, [values[name] for name in names])

    def bind(self, tensors: Dict[str, Any], device: Any) -> Tuple[Any, list]:
        """The launch bound to the addresses of `tensors` (every tensor of
        the call by argument name), and the scratch buffers it uses (kept
        alive by the caller). The buffers come from PyTorch's allocator,
        not the launcher's per-context ones: stream-ordered, private to
        this call (so calls on several streams do not share them) and taken
        from the graph's pool under CUDA graph capture."""
        import torch

        addresses = [tensors[name].data_ptr() for name in self.tensor_names]
        scratch = [torch.empty((size,), dtype=torch.uint8, device=device)
                   for size in self.scratch_sizes]
        addresses.extend(buffer.data_ptr() for buffer in scratch)
        return self.arguments.bind(self.address_slots, addresses), scratch


class _Planned:
    """A call signature's plan and kernels, and its launch templates by the
    signature of the tensors made after planning (outputs, the forward's
    results the backward is given), filled as calls meet them."""

    __slots__ = ("plan", "artifacts", "templates")

    def __init__(self, plan: Any, artifacts: Any) -> None:
        self.plan = plan
        self.artifacts = artifacts
        self.templates: Dict[Any, _LaunchTemplate] = {}

    def bind(self, tensors: Dict[str, Any], late: Dict[str, Any],
             device: Any) -> Tuple[Any, list]:
        """The launch bound to the planned tensors and to `late`, the
        tensors made or received after planning (both by argument name),
        through the template of the late ones' signature (built on its
        first call)."""
        every = {**tensors, **late}
        key = tuple((name, t.shape, t.stride(), t.dtype) for name, t in late.items())
        template = self.templates.get(key)
        if template is None:
            template = self.templates[key] = _LaunchTemplate(self.artifacts, self.plan,
                                                             _tensor_infos(every))
        return template.bind(every, device)


# The hot path of attention() and its backward: a call's plan and kernels
# by its signature (the options, the device, each tensor's shape, strides,
# dtype and device; never its address or values), remembered per process.
# Planning and the cache lookup cost about 0.4 ms per forward + backward,
# against kernels of tens of microseconds at small sizes. An entry is used
# while compiler.still_current() says its cache entry is unchanged.
_MEMO_SIZE = 256
_memo: "OrderedDict[Any, _Planned]" = OrderedDict()
_memo_lock = threading.Lock()


def _memoized(key: Any, tensors: Dict[str, Any], make_plan: Callable[[], Any],
              check: Callable[[Any], None], kernels_for: Callable[[Any], Any]) -> _Planned:
    """The plan (make_plan()) and kernels (kernels_for(plan)) of this key
    and these tensors' signature (_signature), computed once; check(plan)
    runs on every call, before the kernels are looked up (errors are not
    remembered: they are raised again)."""
    full_key = (key, os.environ.get("ATTN_MLIR_CACHE"), _signature(tensors))
    with _memo_lock:
        planned = _memo.get(full_key)
        if planned is not None:
            _memo.move_to_end(full_key)
    if planned is not None and still_current(planned.artifacts):
        check(planned.plan)
        return planned
    plan = make_plan()
    check(plan)
    planned = _Planned(plan, kernels_for(plan))
    with _memo_lock:
        _memo[full_key] = planned
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return planned


def forget_calls() -> None:
    """Drops the per-process memo of call signatures (their plans and
    kernels); the next call of each plans and looks its kernels up again."""
    with _memo_lock:
        _memo.clear()


def _compile_for(spec: Any, plan: Any, capability: Any, device_name: Any,
                 cache_dir: Optional[PathLike]) -> Any:
    artifacts = compile(spec, cache_dir)
    # The manifest says what the binary is for: a cached sm_90a kernel must
    # not reach the driver of an A100.
    check_runs_on(artifacts.manifest.get(schema.KEY_CHIP), plan.targets, capability, device_name,
                  f"the kernels in {artifacts.directory}")
    return artifacts


def _prepare(q: Any, k: Any, v: Any, *, mask: Any, precision: Any, heads: Any,
             scale: Optional[float], layout: str, return_lse: bool, bias: Any,
             explicit_mask: Any, segment_offsets: Any, gates: Any, out: Any,
             static_shapes: bool, target: Optional[str], kernel: Optional[str],
             cache_dir: Optional[PathLike], emulate_block_scaled: bool = False,
             memo_key: Any = None) -> "Prepared":
    """The call planned, its kernels found and bound. memo_key: hashable
    normalized options (the custom op's CallOptions) under which the plan
    and kernels of this signature are remembered; None plans afresh."""
    import torch

    tensors = _named_tensors(q, k, v, bias, explicit_mask, segment_offsets, gates)
    capability, device_name = _device_of(q)

    def make_plan() -> Any:
        return _plan(_tensor_infos(tensors), capability, device_name, mask=mask,
                     precision=precision,
                     heads=heads, scale=scale, layout=layout, return_lse=return_lse, out=out,
                     static_shapes=static_shapes, target=target, kernel=kernel,
                     cache_dir=cache_dir, emulate_block_scaled=emulate_block_scaled)

    def check(plan: Any) -> None:
        _check_offsets(plan, segment_offsets)

    def kernels_for(plan: Any) -> Any:
        return _compile_for(plan.spec, plan, capability, device_name, cache_dir)
    # Only the custom op's calls (normalized options) are remembered; a
    # prepare()d call is planned once anyway.
    if memo_key is not None and out is None:
        planned = _memoized(("forward", memo_key, capability, device_name), tensors,
                            make_plan, check, kernels_for)
    else:
        plan = make_plan()
        check(plan)
        planned = _Planned(plan, kernels_for(plan))
    plan = planned.plan
    if out is None:
        out = torch.empty(plan.out_shape, dtype=v.dtype, device=q.device)
    late = {schema.ARG_OUT: out}
    lse = None
    if plan.lse_shape is not None:
        lse = late[schema.ARG_LSE] = torch.empty(plan.lse_shape, dtype=torch.float32,
                                                 device=q.device)
    bound, scratch = planned.bind(tensors, late, q.device)
    return Prepared(bound, q.device, (out, lse) if return_lse else out,
                    keep_alive=(q, k, v, bias, explicit_mask, segment_offsets, gates,
                                *scratch),
                    artifacts=planned.artifacts)


def run_backward(q: Any, k: Any, v: Any, out: Any, lse: Any, grad_out: Any, grad_lse: Any,
                 bias: Any, explicit_mask: Any, segment_offsets: Any, gates: Any,
                 call: CallOptions, bias_grad: bool = True) -> Tuple[Any, Any, Any, Any, Any]:
    """The backward custom op's CUDA implementation (SEMANTICS.md section
    5): (dq, dk, dv, dgates, dbias) for the forward call `call` that
    produced `out` and `lse`, given dY = grad_out and, when not None, dLSE
    = grad_lse; dgates is empty without gates, dbias without a bias or
    with `bias_grad` False (a constant bias: the kernels then keep no dBias
    accumulator); else it has the bias's shape, summed over its broadcast
    dimensions. Quantized precisions are
    differentiated as the identity (the kernels run in the inputs' type).
    Under torch.use_deterministic_algorithms(True) the deterministic
    kernels run (dQ without atomics: the same bits every run)."""
    import torch

    q, k, v = _rows_aligned("q", q), _rows_aligned("k", k), _rows_aligned("v", v)
    planned_tensors = _named_tensors(q, k, v, bias, explicit_mask, segment_offsets, gates)
    capability, device_name = _device_of(q)
    bias_grad = bias_grad and bias is not None
    lse_grad = grad_lse is not None
    # torch.use_deterministic_algorithms(True): dQ without atomics.
    deterministic = torch.are_deterministic_algorithms_enabled()

    def make_plan() -> Any:
        return _plan(_tensor_infos(planned_tensors), capability, device_name, mask=call.mask,
                     precision=call.precision,
                     heads=call.heads, scale=call.scale, layout=call.layout, return_lse=True,
                     out=None, static_shapes=call.static_shapes, target=call.target,
                     kernel=call.kernel, cache_dir=call.cache_dir,
                     emulate_block_scaled=call.emulate_block_scaled)

    def kernels_for(plan: Any) -> Any:
        spec = plan.spec.gradient(lse_grad=lse_grad, deterministic=deterministic,
                                  bias_grad=bias_grad)
        return _compile_for(spec, plan, capability, device_name, call.cache_dir)
    planned = _memoized(("backward", call, capability, device_name, lse_grad, deterministic,
                         bias_grad), planned_tensors, make_plan,
                        lambda plan: _check_offsets(plan, segment_offsets), kernels_for)
    # The kernels read rows with the last dimension contiguous.
    grad_out = grad_out if grad_out.stride(-1) == 1 else grad_out.contiguous()
    grad_out = _rows_aligned("grad_out", grad_out.to(q.dtype))
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    tensors = {schema.ARG_OUT: out, schema.ARG_LSE: lse, schema.ARG_OUT_GRAD: grad_out,
               schema.ARG_Q_GRAD: dq, schema.ARG_K_GRAD: dk, schema.ARG_V_GRAD: dv}
    if grad_lse is not None:
        tensors[schema.ARG_LSE_GRAD] = grad_lse.float().contiguous()
    dgates = torch.empty((0,), dtype=torch.float32, device=q.device)
    if gates is not None:
        dgates = torch.empty_like(gates)
        tensors[schema.ARG_GATES_GRAD] = dgates
    dbias = torch.empty((0,), dtype=torch.float32, device=q.device)
    if bias_grad:
        dbias = torch.empty(bias.shape, dtype=bias.dtype, device=q.device)
        tensors[schema.ARG_BIAS_GRAD] = dbias
    bound, scratch = planned.bind(planned_tensors, tensors, q.device)
    with torch.cuda.device(q.device):
        bound(torch.cuda.current_stream(q.device).cuda_stream)
    del scratch  # stream-ordered: freed after the launches
    return dq, dk, dv, dgates, dbias


__all__ = ["Prepared", "attention", "forget_calls", "prepare", "run_backward", "run_call"]
