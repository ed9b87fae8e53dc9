#!/usr/bin/env python3
"""GPU check of the backward (SEMANTICS.md section 5) through autograd.

Each case runs attn_mlir.attention() on inputs that require grad (our
forward kernel, which then also writes the LSE), a random loss
sum(O * dY) (+ sum(LSE * dLSE) where the case uses the LSE), and
loss.backward() (the backward's kernels, torch.ops.attn_mlir.
attention_backward). The gradients of q, k, v (and gates) are compared
with float64 autograd of the reference (attn_mlir.reference.attention_f32
in float64) under section 5's bound:

    max |g - g64| <= 2 * max |g_torch - g64| + 1e-3 * max |g64|

where g_torch is PyTorch's own gradient of the same reference computed in
the inputs' dtype (the "math SDPA with an explicit mask" of section 5).
Every gradient must also be finite (a NaN is an unwritten or poisoned
element). Quantized forwards: the backward reuses their O and LSE, so the
gradients carry the forward's quantization error; section 5 asks that it
be reported: printed, and bounded by QUANTIZED_GRAD_RTOL * max|g64|.

Two machines, as bench/gpu_check.py:

  ATTN_OPT=build/bin/attn-opt /usr/bin/python3 bench/gpu_grad_check.py --compile-only
  python3 bench/gpu_grad_check.py [--only NAME]       # on the GPU machine
  python3 bench/gpu_grad_check.py --sanitize          # compute-sanitizer memcheck + racecheck + synccheck
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (QUANTIZED_GRAD_RTOL, add_common_args, compile_cases,  # noqa: E402
                    configure, require_compiled, sanitize, select)
import gpu_check as fwd  # noqa: E402
from gpu_check import Case  # noqa: E402
from attn_mlir import (And, Causal, HeadGroup, Heads, Neighborhood, Or,  # noqa: E402
                       PowerLaw, Segments, SlidingWindow, SoftPag)
import reference as ref  # noqa: E402

SCRIPT = "gpu_grad_check"


def cases() -> List[Case]:
    C = Case
    seg = Segments(query=[50, 96, 127],
                   visibility=[["full", "none", "none"],
                               ["full", Neighborhood(grid=[8, 12], window=[3, 5]), "none"],
                               [Causal("bottom_right"), "full", SlidingWindow(10, 0)]])
    seg_doc = Segments(query=[None, None, None],
                       visibility=[["causal", "none", "none"], ["none", "causal", "none"],
                                   ["none", "none", "causal"]])
    return [
        # lse: the loss also uses the LSE (dLSE operand)
        C("dense-bf16-d64-n300", lse=False),
        C("dense-f16-d128-gqa-n1000", dtype="f16", D=128, Hq=8, Hkv=2, Nq=1000, lse=False),
        C("dense-cross-nq77-nk300-lse", Nq=77, Nk=300),
        C("dense-bnhd-d40-dv72-n200", layout="bnhd", D=40, Dv=72, Nq=200, lse=False),
        C("causal-tl-n1000", mask=Causal(), Nq=1000, lse=False),
        C("causal-br-nq1000-nk300-lse", mask=Causal("bottom_right"), Nq=1000, Nk=300,
          note="rows i < 700 keep nothing: no NaN, zero gradients"),
        C("sliding-l64-r16-n1000", mask=SlidingWindow(64, 16), Nq=1000, lse=False),
        C("nbhd1d-n999-w17-s4-d3", mask=Neighborhood(grid=[999], window=17, stride=4, dilation=3),
          Nq=999, lse=False),
        C("nbhd2d-24x20-w7", mask=Neighborhood(grid=[24, 20], window=7), Nq=480, lse=False),
        C("nbhd2d-20x24-causal0", mask=Neighborhood(grid=[20, 24], window=[5, 7],
                                                    causal=[True, False]), Nq=480, lse=False),
        C("nbhd3d-6x10x12-w3x5x5", mask=Neighborhood(grid=[6, 10, 12], window=[3, 5, 5]), Nq=720,
          lse=False),
        C("powerlaw-n1000-b32-w2-s1", mask=PowerLaw(block=32, window=2, sink=1), Nq=1000, lse=False),
        C("segments-nested-n273", mask=seg, Nq=273, lse=False),
        C("segments-runtime-doc", mask=seg_doc, Nq=300, lse=False,
          offsets=[[0, 100, 180, 300], [0, 7, 250, 300]]),
        C("or-sliding-powerlaw-n1000", mask=Or(SlidingWindow(64, 0),
                                                PowerLaw(block=32, window=1, sink=1)),
          Nq=1000, lse=False),
        C("and-nbhd2d-causal-20x30", mask=And(Neighborhood(grid=[20, 30], window=7), Causal()),
          Nq=600, lse=False),
        C("explicit-bh-causal-n300", mask=Causal(), explicit="bh", lse=False),
        C("explicit-nn-gqa-nq77-nk300", Hq=4, Hkv=2, Nq=77, Nk=300, explicit="nn"),
        C("heads-weights-gates-n300", Hq=4, Hkv=2, lse=False, gates=True,
          heads=Heads(weights=[1.0, 0.0, 0.5, 2.0])),
        C("heads-softpag-groups-n300", Hq=4, lse=False, gates=True,
          heads=Heads(softpag=SoftPag(heads=[1, 2], u=0.3),
                      groups=[HeadGroup(heads=[2, 3], mask=Causal())])),
        # Biases (dBias = dS, summed over the bias's broadcast dimensions).
        C("bias-f32-1h-causal-b2-n300", bias=("f32", "1h"), mask=Causal(), B=2, Nq=300,
          lse=False, note="one bias for both batch elements"),
        C("bias-bf16-bh-gqa-nq77-nk300-lse", bias=("bf16", "bh"), Hq=4, Hkv=2, Nq=77, Nk=300),
        C("bias-f16-nn-sliding-n1000", dtype="f16", bias=("f16", "nn"),
          mask=SlidingWindow(64, 16), Nq=1000, lse=False, note="shared by every head"),
        C("bias-const-f32-nn-causal-b2-n300", bias=("f32", "nn"), bias_grad=False, B=2,
          mask=Causal(), Nq=300, lse=False, note="no dBias: the bias requires no grad"),
        # renormalize = false: every key in the denominator, keep in dV and
        # dP only (empty tiles still carry dS).
        C("segments-unnormalized-lse-n300", Nq=300,
          mask=Segments(query=[100, 200], visibility=[["full", "none"], ["causal", "full"]],
                        renormalize=False)),
        # Head dims beyond 128: the key-tile kernel walks once per 128
        # channels of dK and dV (dV's second slice empty at Dv = 64).
        C("wide-d256-gqa-causal-n300", mask=Causal(), D=256, Hq=4, Hkv=2, Nq=300, lse=False),
        C("wide-d192-dv64-sliding-nq77-nk300-lse", mask=SlidingWindow(40, 8), D=192, Dv=64,
          Nq=77, Nk=300),
        C("quant-sage2-8b-causal-d128-n500", mask=Causal(), D=128, Nq=500, lse=False,
          precision="sage2-8b",
          note="quantized forward, backward as the identity (section 5)"),
    ]


# Under --sanitize by default: GQA walks back to back (wgmma and mma.sync
# head dims), a 2-D neighborhood, and explicit masks across GQA heads.
SANITIZE_CASES = ("dense-f16-d128-gqa-n1000", "nbhd2d-24x20-w7", "explicit-nn-gqa-nq77-nk300",
                  "wide-d256-gqa-causal-n300")

# Cases also run in the deterministic mode (torch.use_deterministic_algorithms):
# twice, the gradients must be equal in bits, and within the same bound.
DETERMINISTIC = ("dense-f16-d128-gqa-n1000", "nbhd2d-24x20-w7", "heads-weights-gates-n300",
                 "segments-runtime-doc", "heads-softpag-groups-n300",
                 "bias-bf16-bh-gqa-nq77-nk300-lse", "wide-d256-gqa-causal-n300",
                 "bias-const-f32-nn-causal-b2-n300")




def _forward_case(case: Case) -> Case:
    # The forward of a differentiable call also writes the LSE.
    return dataclasses.replace(case, lse=True)


def forward_spec(case: Case):
    return fwd.spec_of(_forward_case(case))


def backward_spec(case: Case, deterministic: bool = False):
    return forward_spec(case).gradient(lse_grad=case.lse, deterministic=deterministic,
                                       bias_grad=case.bias_grad)


def _reference_grads(case: Case, leaves, tensors, dy, dlse, dtype, device):
    """Gradients of the reference loss in `dtype` (float64, or the inputs'
    type for PyTorch's own error)."""
    import torch
    q, k, v = (ref.to_bhnd(x, case.layout) for x in leaves[:3])
    named = dict(zip(_leaf_names(case), leaves))
    gates = named.get("dgates")
    # A constant bias is no leaf: the inputs' own.
    bias = named.get("dbias", tensors.get("bias") if case.bias else None)
    if bias is not None and bias.dim() == 2:
        bias = bias.view(1, 1, *bias.shape)
    scale = case.scale if case.scale is not None else 1.0 / (case.D ** 0.5)
    keeps = fwd._keeps(case, tensors, device)
    o, lse = ref.attention_f32(q, k, v, keeps, scale, bias=bias, heads=case.heads, gates=gates,
                               dtype=dtype, renormalize=fwd._renormalized(case, device))
    loss = (o.double() * ref.to_bhnd(dy, case.layout).double()).sum()
    if dlse is not None:
        finite = torch.isfinite(lse)
        loss = loss + (torch.where(finite, lse, torch.zeros_like(lse)).double() * dlse).sum()
    return torch.autograd.grad(loss, leaves)


def _leaf_names(case: Case) -> Tuple[str, ...]:
    """The gradients a case checks, in the order of its leaves."""
    return (("dq", "dk", "dv") + (("dgates",) if case.gates else ())
            + (("dbias",) if case.bias and case.bias_grad else ()))


def run_case(case: Case, cache: Path, seed: int, deterministic: bool = False
             ) -> Tuple[bool, str]:
    import torch
    import attn_mlir as am
    device = torch.device("cuda")
    for spec in (forward_spec(case), backward_spec(case, deterministic)):
        missing = require_compiled(spec, cache)
        if missing:
            return False, missing
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    q, k, v, tensors, options = fwd._make_inputs(case, gen, device)
    kwargs = dict(options)
    kwargs["return_lse"] = case.lse
    for name in ("segment_offsets", "explicit_mask"):
        if name in kwargs:
            kwargs[name] = tensors[name]
    leaves = [q.detach().requires_grad_(), k.detach().requires_grad_(),
              v.detach().requires_grad_()]
    if case.gates:
        leaves.append(tensors["gates"].detach().requires_grad_())
        kwargs["gates"] = leaves[-1]
    if case.bias and case.bias_grad:
        leaves.append(tensors["bias"].detach().requires_grad_())
        kwargs["bias"] = leaves[-1]
    elif case.bias:
        kwargs["bias"] = tensors["bias"]
    result = am.attention(*leaves[:3], cache_dir=cache, **kwargs)
    o, lse = result if case.lse else (result, None)
    dy = torch.randn(o.shape, generator=gen, device=device, dtype=torch.float32)
    dlse = (torch.randn(lse.shape, generator=gen, device=device, dtype=torch.float64)
            if case.lse else None)
    loss = (o.double() * dy.double()).sum()
    if dlse is not None:
        finite = torch.isfinite(lse)
        loss = loss + (torch.where(finite, lse, torch.zeros_like(lse)).double() * dlse).sum()
    torch.use_deterministic_algorithms(deterministic)
    try:
        start = time.perf_counter()
        grads = torch.autograd.grad(loss, leaves, retain_graph=deterministic)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        again = torch.autograd.grad(loss, leaves) if deterministic else None
    finally:
        torch.use_deterministic_algorithms(False)
    if o.grad_fn is None:
        return False, "FAIL: the output has no grad_fn"

    def fresh():
        return [x.detach().clone().requires_grad_() for x in leaves]
    exact = _reference_grads(case, fresh(), tensors, dy, dlse, torch.float64, device)
    same_dtype = _reference_grads(case, fresh(), tensors, dy, dlse, q.dtype, device)
    problems, parts = [], []
    for name, g, g64, gt in zip(_leaf_names(case), grads, exact, same_dtype):
        g, g64, gt = g.double(), g64.double(), gt.double()
        nan = int((~torch.isfinite(g)).sum())
        err = (g - g64).abs().max().item() if g.numel() else 0.0
        torch_err = (gt - g64).abs().nan_to_num(nan=0.0).max().item() if g.numel() else 0.0
        scale = g64.abs().max().item() if g.numel() else 0.0
        bound = 2 * torch_err + 1e-3 * scale
        if case.precision:
            # The backward reuses the quantized forward's O and LSE (allowed
            # by section 5, which asks that the error be reported): P and
            # rowsum(dY O) carry the forward's quantization error.
            bound = max(bound, QUANTIZED_GRAD_RTOL * scale)
        parts.append(f"{name} {err:.2e}/{bound:.2e}")
        if nan:
            problems.append(f"{name}: {nan} non-finite elements")
        elif err > bound:
            problems.append(f"{name} err {err:.3g} > bound {bound:.3g} (torch {torch_err:.3g}, "
                            f"max|g| {scale:.3g})")
    if again is not None:
        for name, g, h in zip(_leaf_names(case), grads, again):
            if not torch.equal(g, h):
                problems.append(f"{name}: a second deterministic run differs in "
                                f"{int((g != h).sum())} elements")
        parts.append("2 runs bit-equal" if not problems else "")
    detail = "  ".join(parts) + f"  bwd {seconds * 1e3:.1f} ms (first call)"
    if problems:
        return False, detail + "  FAIL: " + "; ".join(problems)
    return True, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sanitize", action="store_true",
                        help=f"run {', '.join(SANITIZE_CASES)} (or --only's cases) under "
                             "compute-sanitizer memcheck, racecheck and synccheck")
    parser.add_argument("--exact", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = configure(args)
    selected = select(cases(), args.only, args.exact)
    if args.list:
        for case in selected:
            print(case.name)
        return 0
    if args.compile_only:
        failures = compile_cases(SCRIPT, selected, forward_spec, cache)
        failures += compile_cases(SCRIPT + "-backward", selected, backward_spec, cache)
        failures += compile_cases(SCRIPT + "-deterministic",
                                  [c for c in selected if c.name in DETERMINISTIC],
                                  lambda c: backward_spec(c, True), cache)
        return 1 if failures else 0
    if args.sanitize:
        names = [c.name for c in selected] if args.only else list(SANITIZE_CASES)
        return 1 if sanitize(Path(__file__), names, cache, [], "ok   ") else 0
    import torch
    print(f"# device: {torch.cuda.get_device_name()}  torch {torch.__version__}  seed {args.seed}")
    failed = 0
    runs = [(case, False) for case in selected]
    runs += [(case, True) for case in selected if case.name in DETERMINISTIC]
    for case, deterministic in runs:
        try:
            ok, detail = run_case(case, cache, args.seed, deterministic)
        except Exception as error:  # report and go on
            import traceback
            ok, detail = False, f"FAIL: {type(error).__name__}: {error}\n{traceback.format_exc()}"
        failed += not ok
        name = case.name + (" (deterministic)" if deterministic else "")
        print(f"{'ok  ' if ok else 'FAIL'} {name:<52} {detail}", flush=True)
    print(f"# {len(runs) - failed}/{len(runs)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
