#!/usr/bin/env python3
"""Probe of the NVFP4 Q.K mismatch (bench/RESULTS.md, 2026-12-07): runs one
bench/gpu_check.py NVFP4 case, keeps the pre-kernels' scratch buffers
(q_quant / q_scale / k_quant / k_scale: E2M1 nibbles [B, H, N, D / 2],
E4M3 bytes [B, H, N, D / 16]) and compares them with
bench/quant_reference.py's nvfp4_blocks of the same Q and K, code by code.

  python3 utils/probes/nvfp4_prekernels.py --cache .attn-cache-nvfp4 \\
      [--case q-nvfp4-qk-nosmooth-pvbf16-d64-n256]      # GPU machine
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import gpu_check  # noqa: E402
from common import add_common_args, configure  # noqa: E402
from attn_mlir.precision import as_precision  # noqa: E402
import quant_reference as qref  # noqa: E402
import reference as ref  # noqa: E402
from attn_mlir import torch_api  # noqa: E402

E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def decode_e2m1(codes):
    import torch
    table = torch.tensor(E2M1 + [-x for x in E2M1], dtype=torch.float64, device=codes.device)
    return table[codes.long()]


def decode_e4m3(bytes_):
    import torch
    b = bytes_.long()
    exponent, mantissa = (b >> 3) & 0xF, (b & 0x7).double()
    normal = (1 + mantissa / 8) * qref.power_of_two(exponent - 7)
    subnormal = mantissa / 8 * 2.0 ** -6
    return torch.where(exponent == 0, subnormal, normal)


def main() -> int:
    import torch
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    parser.add_argument("--case", default="q-nvfp4-qk-nosmooth-pvbf16-d64-n256")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cache = configure(args)
    case = next(c for c in gpu_check.nvfp4_cases() if c.name == args.case)
    captured = {}
    bind = torch_api._bind

    def keeping(artifacts, plan, infos, device):
        bound, scratch = bind(artifacts, plan, infos, device)
        names = list(artifacts.scratch_sizes(torch_api.launch_values(plan, infos)).keys())
        captured.update(zip(names, scratch))
        return bound, scratch
    torch_api._bind = keeping
    ok, detail = gpu_check.run_case(case, cache, args.seed)
    print(("PASS " if ok else "FAIL ") + case.name + "  " + detail)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(args.seed)
    q, k, _, _, _ = gpu_check._make_inputs(case, gen, torch.device("cuda"))
    q, k = (ref.to_bhnd(x, case.layout).double() for x in (q, k))
    if as_precision(case.precision).smooth_k:
        k = k - k.mean(dim=2, keepdim=True)
    d = q.shape[-1]
    for name, x in (("q", q), ("k", k)):
        values, scales = qref.nvfp4_blocks(x)
        b, h, n, _ = x.shape
        raw = captured[f"{name}_quant"][: b * h * n * d // 2].view(b, h, n, d // 2)
        codes = torch.stack([raw & 0xF, raw >> 4], dim=-1).reshape(b, h, n, d)
        scale_bytes = captured[f"{name}_scale"][: b * h * n * d // 16].view(b, h, n, d // 16)
        ours_scale = decode_e4m3(scale_bytes).repeat_interleave(16, dim=-1)
        ours_value = decode_e2m1(codes)
        bad_scale = (ours_scale != scales)
        bad_value = (ours_value != values)
        print(f"{name}: scales differ in {int(bad_scale.sum())} of {bad_scale.numel()} "
              f"channel slots, values in {int(bad_value.sum())} of {bad_value.numel()}")
        for label, bad, ours, want in (("scale", bad_scale, ours_scale, scales),
                                       ("value", bad_value, ours_value, values)):
            where = bad.nonzero()[:4].tolist()
            for index in where:
                i = tuple(index)
                print(f"  {label} at {index}: ours {ours[i].item()!r} reference "
                      f"{want[i].item()!r} (x {x[i].item()!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
