"""`torch.ops.attn_mlir.attention`: attention() as a torch.library custom op.

PyTorch compilers see a custom op as one opaque node: its fake
implementation gives the output shapes and dtypes from the input shapes
(symbolic ones too), so torch.compile(fullgraph=True) and torch.export
trace models that call attention() without a graph break, and the CUDA
implementation (attn_mlir.torch_api.run_call) runs the compiled kernels.

The op takes tensors and one string: the other arguments (mask, precision,
heads, scale, layout, ...) as JSON text (attn_mlir.options.call_text),
which the op reads back into an attn_mlir.options.CallOptions (and checks).
attention() writes that text with plain string operations and the JSON
each spec object stored when it was built, so Dynamo traces it as constant
folding and bakes the text into the graph.

Its autograd formula is the second op, `torch.ops.attn_mlir.attention_backward`
(run_backward: the backward's kernels, SEMANTICS.md section 5), so
loss.backward() runs our kernels, in eager mode and under torch.compile.

Importing this module imports torch and registers the ops (once per
process); attn_mlir imports it when torch is installed.
"""

# No `from __future__ import annotations`: torch.library.custom_op reads
# the schema from evaluated type hints.
from typing import Any, Optional, Tuple

import torch

from .options import CallOptions

OP_NAMESPACE = "attn_mlir"
OP_NAME = f"{OP_NAMESPACE}::attention"
BACKWARD_OP_NAME = f"{OP_NAMESPACE}::attention_backward"


def _layout_axes(layout: str) -> Tuple[int, int, int]:
    """Positions of (batch, heads, tokens) in a tensor of this layout."""
    return (0, 1, 2) if layout == "bhnd" else (0, 2, 1)


@torch.library.custom_op(OP_NAME, mutates_args=())
def attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 bias: Optional[torch.Tensor], explicit_mask: Optional[torch.Tensor],
                 segment_offsets: Optional[torch.Tensor], gates: Optional[torch.Tensor],
                 options: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(out, lse); lse is empty unless the options ask for it."""
    from .torch_api import run_call
    return run_call(q, k, v, bias, explicit_mask, segment_offsets, gates,
                    CallOptions.from_text(options))


@attention_op.register_fake
def _attention_fake(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    bias: Optional[torch.Tensor], explicit_mask: Optional[torch.Tensor],
                    segment_offsets: Optional[torch.Tensor], gates: Optional[torch.Tensor],
                    options: str) -> Tuple[torch.Tensor, torch.Tensor]:
    call = CallOptions.from_text(options)
    # Only what the shapes need; the CUDA implementation checks the rest
    # (plan_call) when it runs.
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if tensor.dim() != 4:
            raise ValueError(f"{name} must be 4-D ([B, H, N, D] or [B, N, H, D]), got shape "
                             f"{list(tensor.shape)}")
    if call.layout not in ("bhnd", "bnhd"):
        raise ValueError(f"layout must be 'bhnd' or 'bnhd', got {call.layout!r}")
    out = q.new_empty((*q.shape[:-1], v.shape[-1]), dtype=v.dtype)
    if call.return_lse:
        b, h, n = _layout_axes(call.layout)
        lse = q.new_empty((q.shape[b], q.shape[h], q.shape[n]), dtype=torch.float32)
    else:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


@torch.library.custom_op(BACKWARD_OP_NAME, mutates_args=())
def attention_backward_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          out: torch.Tensor, lse: torch.Tensor, grad_out: torch.Tensor,
                          grad_lse: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                          explicit_mask: Optional[torch.Tensor],
                          segment_offsets: Optional[torch.Tensor],
                          gates: Optional[torch.Tensor],
                          options: str, bias_grad: bool = True
                          ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                     torch.Tensor, torch.Tensor]:
    """(dq, dk, dv, dgates, dbias) of the forward op's call (SEMANTICS.md
    section 5); dgates is empty without gates, dbias without a bias or with
    `bias_grad` False (the bias does not require grad: no dBias computed);
    grad_lse None when the LSE took no gradient."""
    from .torch_api import run_backward
    return run_backward(q, k, v, out, lse, grad_out, grad_lse, bias, explicit_mask,
                        segment_offsets, gates, CallOptions.from_text(options), bias_grad)


@attention_backward_op.register_fake
def _attention_backward_fake(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                             out: torch.Tensor, lse: torch.Tensor, grad_out: torch.Tensor,
                             grad_lse: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                             explicit_mask: Optional[torch.Tensor],
                             segment_offsets: Optional[torch.Tensor],
                             gates: Optional[torch.Tensor],
                             options: str, bias_grad: bool = True
                             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                        torch.Tensor, torch.Tensor]:
    dgates = torch.empty_like(gates) if gates is not None else q.new_empty((0,), dtype=torch.float32)
    dbias = (bias.new_empty(bias.shape) if bias is not None and bias_grad
             else q.new_empty((0,), dtype=torch.float32))
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), dgates, dbias


def _setup_context(ctx: Any, inputs: Any, output: Any) -> None:
    q, k, v, bias, explicit_mask, segment_offsets, gates, options = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, bias, explicit_mask, segment_offsets, gates)
    ctx.options = options
    # An output that takes no part in the loss gets None, not zeros: no
    # dLSE operand unless the LSE was used.
    ctx.set_materialize_grads(False)


def _backward(ctx: Any, grad_out: Optional[torch.Tensor],
              grad_lse: Optional[torch.Tensor]) -> Any:
    q, k, v, out, lse, bias, explicit_mask, segment_offsets, gates = ctx.saved_tensors
    if lse.numel() == 0:
        raise RuntimeError(
            "attn_mlir::attention: the backward needs the forward's LSE; call the op with "
            "return_lse (attn_mlir.attention() asks for it when an input requires grad)")
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    # A bias that does not require grad is a constant: no dBias computed.
    bias_grad = bias is not None and ctx.needs_input_grad[3]
    dq, dk, dv, dgates, dbias = attention_backward_op(q, k, v, out, lse, grad_out, grad_lse,
                                                      bias, explicit_mask, segment_offsets,
                                                      gates, ctx.options, bias_grad)
    return (dq, dk, dv, (dbias if bias_grad else None), None, None,
            (dgates if gates is not None else None), None)


torch.library.register_autograd(OP_NAME, _backward, setup_context=_setup_context)


__all__ = ["BACKWARD_OP_NAME", "OP_NAME", "attention_backward_op", "attention_op"]
