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

Importing this module imports torch and registers the op (once per
process); attn_mlir imports it when torch is installed.
"""

# No `from __future__ import annotations`: torch.library.custom_op reads
# the schema from evaluated type hints.
from typing import Any, Optional, Tuple

import torch

from .options import CallOptions

OP_NAMESPACE = "attn_mlir"
OP_NAME = f"{OP_NAMESPACE}::attention"


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


def _no_backward(ctx: Any, grad_out: torch.Tensor, grad_lse: torch.Tensor) -> Any:
    raise NotImplementedError(
        "attn_mlir::attention has no backward pass yet: its inputs must not require grad "
        "(call it under torch.no_grad() or with detached inputs)")


def _setup_context(ctx: Any, inputs: Any, output: Any) -> None:
    pass


# A clear error at backward time for graphs that reach the op with inputs
# that require grad (attention() refuses them before the op in eager mode).
torch.library.register_autograd(OP_NAME, _no_backward, setup_context=_setup_context)


__all__ = ["OP_NAME", "attention_op"]
