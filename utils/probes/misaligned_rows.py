#!/usr/bin/env python3
"""attention() and its backward on views whose rows no kernel can copy in
16-byte pieces (a row stride of 68 elements, an address 2 bytes off): the
package reads them from aligned copies, so the results must equal those
of the same values in contiguous tensors (bit for bit: the same kernels
on the same values). Uses autograd_overhead's cache (its dense
[1, 16, 256, 64] case).

  python3 utils/probes/misaligned_rows.py --cache C      # GPU machine
"""

import sys

import torch

import attn_mlir as am


def main() -> int:
    cache = sys.argv[sys.argv.index("--cache") + 1]
    shape = (1, 16, 256, 64)
    torch.manual_seed(0)
    wide = torch.randn(1, 16, 256, 68, device="cuda", dtype=torch.bfloat16)
    flat = torch.randn(1 * 16 * 256 * 64 + 1, device="cuda", dtype=torch.bfloat16)
    views = {"row stride 68": wide[..., :64], "address + 2 bytes": flat[1:].view(shape)}
    k = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    failures = 0
    for label, view in views.items():
        results = []
        # The view as q and as dY, then the same values in fresh tensors.
        for q, grad in ((view, view), (view.clone(), view.clone())):
            q = q.detach().requires_grad_()
            kk = k.clone().requires_grad_()
            out = am.attention(q, kk, kk, cache_dir=cache)
            out.backward(grad.detach())
            results.append((out.detach(), q.grad, kk.grad))
        same = all(torch.equal(a, b) for a, b in zip(*results))
        finite = all(bool(t.isfinite().all()) for t in results[0])
        print(f"{'ok  ' if same and finite else 'FAIL'} {label}: out, dq, dk equal to the "
              f"contiguous call's: {same}")
        failures += not (same and finite)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
