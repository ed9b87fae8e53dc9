#!/usr/bin/env python3
"""attention() the PyTorch way, checked on the GPU: the custom op
`torch.ops.attn_mlir.attention` under torch.compile(fullgraph=True) with
each backend, with dynamic shapes, under torch.export (saved and loaded),
captured in CUDA graphs for 16-bit and quantized precisions, checked by
torch.library.opcheck, and autograd: loss.backward() through the
backward's kernels, eager and compiled (inputs that require grad are
refused only where no autograd node exists: out= and prepare()).

Every check compares against something independent: the f32 reference of
SEMANTICS.md (attn_mlir.reference_attention) within the tolerance of
bench/gpu_check.py, and the eager call of the same kernels (bit-equal
where the same kernels run on the same inputs). Outputs come from fresh
random inputs; a check fails on NaN (unwritten) elements.

  # build machine: compile the kernels the checks use into .attn-cache
  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/torch_integration.py --compile-only
  # GPU machine (PyTorch >= 2.7 with CUDA)
  python3 bench/torch_integration.py
"""

from __future__ import annotations

import argparse
import io
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (QUANTIZED_GRAD_RTOL, add_common_args, compile_cases,  # noqa: E402
                    configure, select, target)
import attn_mlir as am  # noqa: E402

SCRIPT = "torch_integration"
B, H, D = 2, 4, 64
N = 1000              # not a multiple of any tile
N_OTHER = 1500        # the second length of the dynamic-shape check
ATOL_16BIT = 2e-2     # bf16 output against the f32 reference (as gpu_check)
# Quantized output against the unquantized f32 reference: the accuracy
# floor of the presets (docs/Accuracy.md), as cosine similarity.
COS_MIN_QUANTIZED = 0.99


@dataclass(frozen=True)
class Call:
    """One attention() call the checks make; its kernel is compiled ahead."""

    name: str
    mask: Any = None
    precision: Optional[str] = None
    layout: str = "bhnd"
    return_lse: bool = False
    n: int = N
    options: Dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def shape(self) -> Tuple[int, int, int, int]:
        return (B, H, self.n, D) if self.layout == "bhnd" else (B, self.n, H, D)

    def kwargs(self) -> Dict[str, Any]:
        return dict(mask=self.mask, precision=self.precision, layout=self.layout,
                    return_lse=self.return_lse, target=target(), **self.options)


CALLS = [
    Call("dense-lse", return_lse=True),
    Call("causal-bnhd", mask=am.Causal(), layout="bnhd"),
    Call("nbhd2d", mask=am.Neighborhood(grid=[25, 40], window=7)),
    Call("causal-sage2-8b", mask=am.Causal(), precision="sage2-8b"),
    Call("dense-fp8-lse", precision="fp8", return_lse=True),
    Call("sliding-sage1", mask=am.SlidingWindow(200, 0), precision="sage1"),
]
BY_NAME = {c.name: c for c in CALLS}


def spec_of(call: Call) -> am.AttentionSpec:
    shape = call.shape()
    return am.spec_for_shapes(shape, shape, shape, "bf16", **call.kwargs())


# ---------------------------------------------------------------- checks

class Failure(Exception):
    pass


def _inputs(call: Call, seed: int, n: Optional[int] = None):
    import torch
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed)
    shape = list(call.shape())
    if n is not None:
        shape[2 if call.layout == "bhnd" else 1] = n
    return tuple(torch.randn(shape, generator=gen, device="cuda", dtype=torch.bfloat16)
                 for _ in range(3))


def _check_against_reference(call: Call, q, k, v, result, what: str) -> str:
    import torch
    out, lse = result if call.return_lse else (result, None)
    expected = am.reference_attention(q.float(), k.float(), v.float(), mask=call.mask,
                                      layout=call.layout, return_lse=call.return_lse)
    ref_out, ref_lse = expected if call.return_lse else (expected, None)
    if out.shape != ref_out.shape or out.dtype != v.dtype:
        raise Failure(f"{what}: out {tuple(out.shape)} {out.dtype}, expected "
                      f"{tuple(ref_out.shape)} {v.dtype}")
    if torch.isnan(out).any():
        raise Failure(f"{what}: {int(torch.isnan(out).sum())} NaN (unwritten?) out elements")
    if call.precision is None:
        err = (out.float() - ref_out).abs().max().item()
        if err > ATOL_16BIT:
            raise Failure(f"{what}: out err {err:.3g} > {ATOL_16BIT}")
        detail = f"out err {err:.2e}"
    else:
        cos = torch.nn.functional.cosine_similarity(out.float().flatten(), ref_out.flatten(),
                                                    dim=0).item()
        if cos < COS_MIN_QUANTIZED:
            raise Failure(f"{what}: cosine {cos:.5f} < {COS_MIN_QUANTIZED}")
        detail = f"cos {cos:.5f}"
    if lse is not None:
        finite = torch.isfinite(ref_lse)
        err = (lse - ref_lse)[finite].abs().max().item()
        tol = 1e-3 if call.precision is None else 5e-2
        if err > tol or torch.isnan(lse).any():
            raise Failure(f"{what}: lse err {err:.3g} > {tol}")
        detail += f", lse err {err:.1e}"
    return detail


def _same(a, b, what: str) -> None:
    import torch
    pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
    for x, y in pairs:
        if x.shape != y.shape or x.dtype != y.dtype or not torch.equal(x, y):
            raise Failure(f"{what}: differs from the eager call of the same kernels")


def check_eager(call: Call, cache: Path) -> str:
    """The op path (no `out`) against the reference and against the
    direct path (`out=`), which must give the same bits."""
    import torch
    q, k, v = _inputs(call, 1)
    result = am.attention(q, k, v, cache_dir=cache, **call.kwargs())
    detail = _check_against_reference(call, q, k, v, result, "eager")
    out = torch.full_like(result[0] if call.return_lse else result, float("nan"))
    direct = am.attention(q, k, v, out=out, cache_dir=cache, **call.kwargs())
    _same(result, direct, "out= path")
    return detail


def _graph_recorder(targets: List[Any]) -> Callable:
    def backend(gm, example_inputs):
        targets.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward
    return backend


def check_compile(call: Call, cache: Path) -> str:
    """fullgraph=True with each backend; the op must be in Dynamo's graph,
    the output equal to eager's."""
    import torch
    q, k, v = _inputs(call, 2)
    kwargs = call.kwargs()

    def model(q, k, v):
        result = am.attention(q * 1.0, k, v, cache_dir=cache, **kwargs)
        out = result[0] if call.return_lse else result
        return out * 2.0

    eager = model(q, k, v)
    notes = []
    targets: List[Any] = []
    for backend in (_graph_recorder(targets), "aot_eager", "inductor"):
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=True, backend=backend)
        got = compiled(q, k, v)
        name = backend if isinstance(backend, str) else "recorder"
        if torch.isnan(got).any():
            raise Failure(f"compile/{name}: NaN in the output")
        # The same kernels on the same inputs; the elementwise ops around
        # them may round differently under inductor.
        if name == "inductor":
            torch.testing.assert_close(got, eager, rtol=1e-2, atol=1e-2)
        else:
            _same(got, eager, f"compile/{name}")
        notes.append(name)
    if not any("attn_mlir.attention" in t for t in targets):
        raise Failure(f"the op is not in Dynamo's graph: {targets}")
    return "fullgraph ok with " + ", ".join(notes)


def check_dynamic(call: Call, cache: Path) -> str:
    """dynamic=True: two sequence lengths, one graph, both right."""
    import torch
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    kwargs = call.kwargs()

    @torch.compile(fullgraph=True, dynamic=True, backend="aot_eager")
    def model(q, k, v):
        return am.attention(q, k, v, cache_dir=cache, **kwargs)

    details = []
    for n in (call.n, N_OTHER):
        q, k, v = _inputs(call, 3, n)
        details.append(f"N={n}: " + _check_against_reference(call, q, k, v, model(q, k, v),
                                                              f"dynamic N={n}"))
    graphs = counters["stats"]["unique_graphs"]
    if graphs != 1:
        raise Failure(f"dynamic shapes compiled {graphs} graphs, expected 1")
    return "; ".join(details)


def check_export(call: Call, cache: Path) -> str:
    """torch.export, saved and loaded: the op and its options text travel
    in the program."""
    import torch
    kwargs = call.kwargs()

    class Model(torch.nn.Module):
        def forward(self, q, k, v):
            return am.attention(q, k, v, cache_dir=str(cache), **kwargs)

    q, k, v = _inputs(call, 4)
    program = torch.export.export(Model(), (q, k, v))
    ops = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
    if not any("attn_mlir.attention" in o for o in ops):
        raise Failure(f"exported graph has no attn_mlir.attention: {ops}")
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    loaded = torch.export.load(buffer)
    _same(loaded.module()(q, k, v), Model()(q, k, v), "export (saved and loaded)")
    return "exported, saved, loaded: " + ", ".join(o for o in ops if "attn_mlir" in o)


def check_cuda_graph(call: Call, cache: Path) -> str:
    """Captured once, replayed on new inputs copied into the static ones:
    equal to eager on those inputs (quantized precisions included: their
    scratch comes from the graph's memory pool)."""
    import torch
    kwargs = call.kwargs()
    static = _inputs(call, 5)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # warm-up: loads the kernels before capture
            am.attention(*static, cache_dir=cache, **kwargs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = am.attention(*static, cache_dir=cache, **kwargs)
    fresh = _inputs(call, 6)
    for dst, src in zip(static, fresh):
        dst.copy_(src)
    graph.replay()
    torch.cuda.synchronize()
    expected = am.attention(*fresh, cache_dir=cache, **kwargs)
    _same(captured, expected, "CUDA graph replay")
    return "replay == eager on new inputs; " + _check_against_reference(
        call, *fresh, captured, "CUDA graph")


def check_opcheck(call: Call, cache: Path) -> str:
    """torch.library.opcheck: schema, fake tensor, autograd registration and
    AOT dispatch tests of the op."""
    import torch
    from attn_mlir.options import CallOptions
    q, k, v = _inputs(call, 7)
    text = CallOptions.create(**{key: value for key, value in call.kwargs().items()},
                              cache_dir=cache).to_text()
    result = torch.library.opcheck(torch.ops.attn_mlir.attention.default,
                                   (q, k, v, None, None, None, None, text))
    bad = {name: verdict for name, verdict in result.items() if verdict != "SUCCESS"}
    if bad:
        raise Failure(f"opcheck: {bad}")
    return "opcheck: " + ", ".join(result)


def _gradients(call: Call, cache: Path, fn: Callable, seed: int):
    """q, k, v gradients of sum(fn(q, k, v) * dY) (and of the LSE with it
    where the call returns one)."""
    import torch
    q, k, v = (x.requires_grad_() for x in _inputs(call, seed))
    result = fn(q, k, v)
    out, lse = result if call.return_lse else (result, None)
    if out.grad_fn is None:
        raise Failure("the output has no grad_fn")
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed + 100)
    loss = (out.float() * torch.randn(out.shape, generator=gen, device="cuda")).sum()
    if lse is not None:
        loss = loss + (lse * torch.randn(lse.shape, generator=gen, device="cuda")).sum()
    return torch.autograd.grad(loss, (q, k, v)), (q, k, v)


def check_autograd(call: Call, cache: Path) -> str:
    """Gradients through the op's autograd formula (the backward's kernels,
    torch.ops.attn_mlir.attention_backward): against f32 autograd of the
    reference, and the same under torch.compile(fullgraph=True) as in
    eager mode (dQ sums in f32 atomics: equal to 1e-3 of max|g|, not in
    bits); opcheck of the backward op."""
    import torch

    def eager(q, k, v):
        return am.attention(q, k, v, cache_dir=cache, **call.kwargs())
    grads, inputs = _gradients(call, cache, eager, 9)
    leaves = [x.detach().float().requires_grad_() for x in inputs]
    expected = am.reference_attention(*leaves, mask=call.mask, layout=call.layout,
                                      return_lse=call.return_lse)
    out, lse = expected if call.return_lse else (expected, None)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(9 + 100)
    loss = (out * torch.randn(out.shape, generator=gen, device="cuda")).sum()
    if lse is not None:
        finite = torch.isfinite(lse)
        loss = loss + (torch.where(finite, lse, torch.zeros_like(lse)) *
                       torch.randn(lse.shape, generator=gen, device="cuda")).sum()
    exact = torch.autograd.grad(loss, leaves)
    details = []
    # A quantized forward's gradients carry its quantization error.
    tolerance = QUANTIZED_GRAD_RTOL if call.precision else 2e-2
    for name, g, e in zip(("dq", "dk", "dv"), grads, exact):
        if not torch.isfinite(g).all():
            raise Failure(f"eager: {name} has non-finite elements")
        err = (g.float() - e).abs().max().item() / e.abs().max().item()
        if err > tolerance:
            raise Failure(f"eager: {name} err {err:.3g} of max|g| > {tolerance:g}")
        details.append(f"{name} {err:.1e}")
    torch._dynamo.reset()
    compiled = torch.compile(eager, fullgraph=True)
    compiled_grads, _ = _gradients(call, cache, compiled, 9)
    for name, g, c in zip(("dq", "dk", "dv"), grads, compiled_grads):
        diff = (g.float() - c.float()).abs().max().item() / g.float().abs().max().item()
        if diff > 1e-3:
            raise Failure(f"compiled: {name} differs from eager by {diff:.3g} of max|g|")
    q, k, v = _inputs(call, 10)
    from attn_mlir.options import CallOptions
    text = CallOptions.create(**dict(call.kwargs(), return_lse=True),
                              cache_dir=cache).to_text()
    out, lse = torch.ops.attn_mlir.attention(q, k, v, None, None, None, None, text)
    result = torch.library.opcheck(
        torch.ops.attn_mlir.attention_backward.default,
        (q, k, v, out, lse, torch.randn_like(out), None, None, None, None, None, text),
        test_utils=("test_schema", "test_faketensor"))
    bad = {name: verdict for name, verdict in result.items() if verdict != "SUCCESS"}
    if bad:
        raise Failure(f"opcheck (backward): {bad}")
    return "eager vs f32: " + ", ".join(details) + "; compiled = eager; opcheck (backward)"


def check_no_autograd_paths(call: Call, cache: Path) -> str:
    """prepare() and out= have no autograd node: inputs that require grad
    are refused there, never given an output without grad_fn."""
    import torch
    q, k, v = _inputs(call, 8)
    q.requires_grad_(True)
    try:
        am.attention(q, k, v, out=torch.empty_like(q), cache_dir=cache, **call.kwargs())
        raise Failure("out=: inputs that require grad were accepted")
    except NotImplementedError as error:
        message = str(error).split(":")[0]
    with torch.no_grad():
        am.attention(q, k, v, out=torch.empty_like(q), cache_dir=cache, **call.kwargs())
    return f"out=: {message}; runs under no_grad"


CHECKS: List[Tuple[str, Callable[[Call, Path], str], List[str]]] = [
    ("eager", check_eager, [c.name for c in CALLS]),
    ("compile", check_compile, ["dense-lse", "causal-bnhd", "causal-sage2-8b"]),
    ("dynamic", check_dynamic, ["causal-bnhd", "causal-sage2-8b"]),
    ("export", check_export, ["nbhd2d", "dense-fp8-lse"]),
    ("cuda-graph", check_cuda_graph, ["dense-lse", "causal-sage2-8b", "dense-fp8-lse",
                                      "sliding-sage1"]),
    ("opcheck", check_opcheck, ["dense-lse", "causal-sage2-8b"]),
    ("autograd", check_autograd, ["causal-bnhd", "dense-lse", "causal-sage2-8b"]),
    ("no-autograd", check_no_autograd_paths, ["causal-bnhd"]),
]


CHECKS_BY_NAME = [(name, calls) for name, _, calls in CHECKS]


def _forward_with_lse(call: Call) -> am.AttentionSpec:
    """The forward spec of a differentiable call (it also writes the LSE)."""
    shape = call.shape()
    kwargs = dict(call.kwargs(), return_lse=True)
    return am.spec_for_shapes(shape, shape, shape, "bf16", **kwargs)


def compile_specs() -> List[Call]:
    calls = list(CALLS)
    # The dynamic-shape check's second length shares the run-time-length
    # kernel; neighborhood masks pin N and are not in that check.
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    args = parser.parse_args()
    cache = configure(args)
    if args.list:
        for name, _, calls in CHECKS:
            print(f"{name:<14} {', '.join(calls)}")
        return 0
    if args.compile_only:
        failures = compile_cases(SCRIPT, select(compile_specs(), None), spec_of, cache)
        # The calls autograd runs: the forward with its LSE, and the backward.
        grad_calls = [BY_NAME[c] for c in dict(CHECKS_BY_NAME)["autograd"]]
        failures += compile_cases(SCRIPT + "-autograd", grad_calls, _forward_with_lse, cache)
        failures += compile_cases(SCRIPT + "-backward", grad_calls,
                                  lambda c: _forward_with_lse(c).gradient(
                                      lse_grad=c.return_lse), cache)
        # opcheck of the backward op runs it without dLSE.
        failures += compile_cases(SCRIPT + "-backward-opcheck",
                                  [c for c in grad_calls if c.return_lse],
                                  lambda c: _forward_with_lse(c).gradient(lse_grad=False), cache)
        return 1 if failures else 0

    import torch
    print(f"# {torch.cuda.get_device_name()}  torch {torch.__version__}  cache {cache}")
    failed = 0
    for name, check, call_names in CHECKS:
        for call in select([BY_NAME[c] for c in call_names], args.only):
            label = f"{name}/{call.name}"
            try:
                detail = check(call, cache)
                print(f"PASS {label:<34} {detail}")
            except Failure as error:
                failed += 1
                print(f"FAIL {label:<34} {error}")
            except Exception as error:
                failed += 1
                print(f"FAIL {label:<34} {type(error).__name__}: {error}")
                traceback.print_exc(limit=6)
    print(f"# {'all passed' if not failed else f'{failed} failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
