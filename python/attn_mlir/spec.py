"""AttentionSpec: one `attn.attention` op on memrefs, as an MLIR module.

The module is what attn-opt compiles into GPU artifacts (docs/design/
GpuArtifacts.md): `func.func @attention` whose arguments are the op's
operands, in the op's operand order, and one destination-style
`attn.attention` writing `outs(%out[, %lse])`. Its canonical text (module
plus target chip and kernel family, no paths) is hashed into the artifact
cache key.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from ._check import (check_bool, check_choice, check_float, check_int,
                     check_optional_int, float_literal)
from .heads import as_heads
from .masks import MAX_TOKENS, Mask, Segments, as_mask
from .precision import Precision, as_precision
from .targets import check_chip_name, check_kernel_name

DTYPES = ("f16", "bf16")
BIAS_DTYPES = ("f16", "bf16", "f32")
GATE_DTYPES = ("f16", "bf16", "f32")
OFFSET_LAYOUTS = ("shared", "separate")

# Bumped when the rendered module changes meaning, so old cache entries are
# not reused for a new rendering.
SPEC_FORMAT_VERSION = 2


@dataclass(frozen=True)
class ExplicitMask:
    """Boolean [B|1, Hq|1, Nq, Nk] operand (i1; 0/1 bytes on the GPU), ANDed
    with the mask attribute. per_batch / per_head: whether it varies along
    B / Hq (else it is broadcast)."""

    per_batch: bool = False
    per_head: bool = False

    def __post_init__(self) -> None:
        check_bool("ExplicitMask", "per_batch", self.per_batch)
        check_bool("ExplicitMask", "per_head", self.per_head)


@dataclass(frozen=True)
class Bias:
    """Additive float [B|1, Hq|1, Nq, Nk] operand, added to the scores."""

    dtype: str = "f32"
    per_batch: bool = False
    per_head: bool = False

    def __post_init__(self) -> None:
        check_choice("Bias", "dtype", self.dtype, BIAS_DTYPES)
        check_bool("Bias", "per_batch", self.per_batch)
        check_bool("Bias", "per_head", self.per_head)


def _dim(size: Optional[int]) -> str:
    return "?" if size is None else str(size)


def _memref(shape: Tuple[Optional[int], ...], element: str, strides: Optional[str]) -> str:
    text = "memref<" + "x".join(_dim(s) for s in shape) + f"x{element}"
    if strides:
        text += f", {strides}"
    return text + ">"


@dataclass(frozen=True)
class AttentionSpec:
    """Everything that is compile-time about one attention call.

    Sizes given as None are run-time (`?`); the kernel then reads them from
    the `batch`, `seq_q`, `seq_k` arguments. A mask with a token grid
    (neighborhood) or static segment sizes fixes Nq and Nk, which must then
    be given. Head counts and head dims are always compile-time.

    target: the chip the kernels are compiled for (sm_80, sm_86, sm_89,
    sm_90a, sm_100a, sm_120a, sm_120f: whatever `attn-opt --attn-gpu-targets`
    lists; compile() checks it against that table). None: not chosen yet
    (verify() works, compile() refuses); attention() picks the device's.
    kernel: the MMA kernel family (mma_sync, wgmma, tcgen05), None for the
    chip's default. emulate_block_scaled: NVFP4 precisions on a chip
    without the block-scaled mma.sync, by emulating it (field comment).

    runtime_strides: the tensor memrefs carry `strided<[?, ?, ?, 1]>`
    layouts, matching the kernel ABI, which takes strides as arguments (so
    one kernel serves both [B, H, N, D] and [B, N, H, D] layouts).
    """

    dtype: str
    num_heads_q: int
    head_dim: int
    seq_q: Optional[int]
    seq_k: Optional[int]
    num_heads_kv: Optional[int] = None   # default: num_heads_q
    head_dim_v: Optional[int] = None     # default: head_dim
    batch: Optional[int] = None
    mask: Any = None
    precision: Any = None
    heads: Any = None
    scale: Optional[float] = None
    has_lse: bool = False
    explicit_mask: Optional[ExplicitMask] = None
    bias: Optional[Bias] = None
    gates: Optional[str] = None           # element type of the [B, Nq, Hq] gates
    segment_offsets: Optional[str] = None  # "shared" [B, S+1], "separate" [B, 2, S+1]; None: from the mask
    target: Optional[str] = None
    kernel: Optional[str] = None
    runtime_strides: bool = True
    #: The spec of the backward (attn.attention_grad of the same problem,
    #: SEMANTICS.md section 5) instead of the forward; lse_grad: with a
    #: dLSE operand. gradient() derives it from a forward spec.
    backward: bool = False
    lse_grad: bool = False
    #: A backward with a bias computes dBias; False: the bias is a constant
    #: of the loss (no bias_grad operand, no dBias accumulator).
    bias_grad: bool = True
    #: A backward whose dQ is summed without atomics (the same bits every
    #: run; attn-gpu-pipeline's `deterministic`).
    deterministic: bool = False
    #: NVFP4 (f4E2M1FN) kernels for a chip without the block-scaled
    #: mma.sync (sm_89 and later, e.g. sm_90a): the compiler emulates that
    #: instruction (attn-gpu-pipeline's `emulate-block-scaled-mma`; a
    #: correctness check of the sm_120a kernels, not fast). compile()
    #: refuses it on a chip that has the instruction or lacks the E4M3
    #: conversions (attn_mlir.targets.check_target).
    emulate_block_scaled: bool = False

    def __post_init__(self) -> None:
        owner = "AttentionSpec"
        set_ = self._normalize
        check_choice(owner, "dtype", self.dtype, DTYPES)
        check_int(owner, "num_heads_q", self.num_heads_q, 1)
        check_int(owner, "head_dim", self.head_dim, 1)
        if self.num_heads_kv is None:
            set_("num_heads_kv", self.num_heads_q)
        if self.head_dim_v is None:
            set_("head_dim_v", self.head_dim)
        check_int(owner, "num_heads_kv", self.num_heads_kv, 1)
        check_int(owner, "head_dim_v", self.head_dim_v, 1)
        if self.num_heads_q % self.num_heads_kv != 0:
            raise ValueError(f"{owner}: num_heads_q = {self.num_heads_q} is not a multiple of "
                             f"num_heads_kv = {self.num_heads_kv} (GQA needs Hq % Hkv == 0)")
        check_optional_int(owner, "batch", self.batch, 1)
        for name in ("seq_q", "seq_k"):
            length = check_optional_int(owner, name, getattr(self, name), 1)
            if length is not None and length > MAX_TOKENS:
                raise ValueError(f"{owner}: {name} = {length} exceeds {MAX_TOKENS} tokens")
        check_bool(owner, "has_lse", self.has_lse)
        check_bool(owner, "runtime_strides", self.runtime_strides)
        check_bool(owner, "backward", self.backward)
        check_bool(owner, "lse_grad", self.lse_grad)
        check_bool(owner, "bias_grad", self.bias_grad)
        if not self.bias_grad and not self.backward:
            raise ValueError(f"{owner}: bias_grad applies to the backward (backward = True)")
        check_bool(owner, "deterministic", self.deterministic)
        check_bool(owner, "emulate_block_scaled", self.emulate_block_scaled)
        for name in ("lse_grad", "deterministic"):
            if getattr(self, name) and not self.backward:
                raise ValueError(f"{owner}: {name} applies to the backward "
                                 "(backward = True)")
        if self.target is not None:
            check_chip_name(owner, "target", self.target)
        if self.kernel is not None:
            check_kernel_name(owner, "kernel", self.kernel)

        set_("mask", as_mask(self.mask, f"{owner}: mask"))
        # Absent means dense: one spelling, one cache key.
        if self.mask is not None and self.mask.to_mlir() == "#attn.dense":
            set_("mask", None)
        set_("precision", as_precision(self.precision, f"{owner}: precision"))
        set_("heads", as_heads(self.heads, f"{owner}: heads"))
        if self.scale is not None:
            scale = check_float(owner, "scale", self.scale)
            if scale <= 0:
                raise ValueError(f"{owner}: scale = {self.scale!r} must be positive")
            set_("scale", scale)
        if self.explicit_mask is True:
            set_("explicit_mask", ExplicitMask())
        if self.explicit_mask is not None and not isinstance(self.explicit_mask, ExplicitMask):
            raise TypeError(f"{owner}: explicit_mask must be an ExplicitMask, got {self.explicit_mask!r}")
        if self.bias is True:
            set_("bias", Bias())
        if self.bias is not None and not isinstance(self.bias, Bias):
            raise TypeError(f"{owner}: bias must be a Bias, got {self.bias!r}")
        if self.gates is not None:
            check_choice(owner, "gates", self.gates, GATE_DTYPES)

        self._check_masks()
        self._check_heads()
        self._check_precisions()

    def _normalize(self, name: str, value: Any) -> None:
        # Frozen dataclass: normalized fields are written once, here.
        object.__setattr__(self, name, value)

    # -- checks mirroring the op verifier -----------------------------------

    def masks(self) -> List[Optional[Mask]]:
        """The op's mask, then every head group's that has one."""
        groups = self.heads.groups if self.heads else ()
        return [self.mask] + [g.mask for g in groups if g.mask is not None]

    def _check_masks(self) -> None:
        owner = "AttentionSpec"
        runtime_segments: List[Segments] = []
        for m in self.masks():
            if m is None:
                continue
            pinned_q, pinned_k = m.pinned_lengths()
            for name, pinned in (("seq_q", pinned_q), ("seq_k", pinned_k)):
                if pinned is not None and getattr(self, name) is None:
                    raise ValueError(f"{owner}: {name} must be static: the mask {m.to_mlir()} "
                                     f"fixes it to {pinned}")
            m.check_lengths(self.seq_q, self.seq_k)
            runtime_segments += m.runtime_segments()
        layout = self.segment_offsets
        if not runtime_segments:
            if layout is not None:
                raise ValueError(f"{owner}: segment_offsets = {layout!r} given but no mask has "
                                 "run-time segment sizes")
            return
        counts = {(len(s.query), len(s.key)) for s in runtime_segments}
        if len({max(q, k) for q, k in counts}) > 1:
            raise ValueError(f"{owner}: the run-time segments masks have different segment "
                             f"counts {sorted(counts)}; they share one segment_offsets operand")
        unequal = any(q != k for q, k in counts)
        if layout is None:
            layout = "separate" if unequal else "shared"
        check_choice(owner, "segment_offsets", layout, OFFSET_LAYOUTS)
        if layout == "shared" and unequal:
            raise ValueError(f"{owner}: segment_offsets = 'shared' but the query and key segment "
                             "counts differ; use 'separate' ([B, 2, S+1])")
        object.__setattr__(self, "segment_offsets", layout)

    @property
    def num_segments(self) -> int:
        """S: the larger segment count of the run-time segments mask (0 if none)."""
        counts = [max(len(s.query), len(s.key)) for m in self.masks() if m is not None
                  for s in m.runtime_segments()]
        return counts[0] if counts else 0

    def _check_heads(self) -> None:
        owner = "AttentionSpec"
        heads = self.heads
        if heads is None:
            return
        if heads.weights is not None and len(heads.weights) != self.num_heads_q:
            raise ValueError(f"{owner}: heads has {len(heads.weights)} weights but there are "
                             f"num_heads_q = {self.num_heads_q} query heads")
        for where, h in heads.head_indices():
            if h >= self.num_heads_q:
                raise ValueError(f"{owner}: heads {where} head index {h} is out of range for "
                                 f"num_heads_q = {self.num_heads_q}")
        if heads.softpag is not None and None not in (self.seq_q, self.seq_k) \
                and self.seq_q != self.seq_k:
            raise ValueError(f"{owner}: softpag needs seq_q == seq_k, got {self.seq_q} and {self.seq_k}")

    def precisions(self) -> List[Tuple[str, Optional[Precision]]]:
        """(where, precision) of the op and of every head group."""
        precisions = [("precision", self.precision)]
        if self.heads:
            precisions += [(f"heads.groups[{g}].precision", group.precision)
                           for g, group in enumerate(self.heads.groups)]
        return precisions

    def _check_precisions(self) -> None:
        for name, p in self.precisions():
            if p is not None and p.pv_accum == "f16" and (p.pv or self.dtype) != "f16":
                raise ValueError(f"AttentionSpec: {name} has pv_accum = f16, which needs an f16 "
                                 f"P.V product, but P.V runs in {p.pv or self.dtype}")

    # -- rendering -----------------------------------------------------------

    def operands(self) -> List[Tuple[str, str]]:
        """(SSA name, memref type) of each argument of @attention, in order."""
        B, Hq, Hkv = self.batch, self.num_heads_q, self.num_heads_kv
        Nq, Nk, D, Dv = self.seq_q, self.seq_k, self.head_dim, self.head_dim_v
        rows = "strided<[?, ?, ?, 1]>" if self.runtime_strides else None
        any3 = "strided<[?, ?, ?]>" if self.runtime_strides else None
        args = [("q", _memref((B, Hq, Nq, D), self.dtype, rows)),
                ("k", _memref((B, Hkv, Nk, D), self.dtype, rows)),
                ("v", _memref((B, Hkv, Nk, Dv), self.dtype, rows))]

        def pair_shape(per_batch: bool, per_head: bool) -> Tuple[Optional[int], ...]:
            return (B if per_batch else 1, Hq if per_head else 1, Nq, Nk)

        if self.explicit_mask is not None:
            m = self.explicit_mask
            args.append(("explicit_mask", _memref(pair_shape(m.per_batch, m.per_head), "i1", rows)))
        if self.bias is not None:
            b = self.bias
            args.append(("bias", _memref(pair_shape(b.per_batch, b.per_head), b.dtype, rows)))
        if self.segment_offsets is not None:
            S1 = self.num_segments + 1
            shape = (B, S1) if self.segment_offsets == "shared" else (B, 2, S1)
            args.append(("segment_offsets", _memref(shape, "i32", None)))
        if self.gates is not None:
            args.append(("gates", _memref((B, Nq, Hq), self.gates, any3)))
        args.append(("out", _memref((B, Hq, Nq, Dv), self.dtype, rows)))
        if self.has_lse:
            args.append(("lse", _memref((B, Hq, Nq), "f32", any3)))
        return args

    def op_attributes(self) -> List[str]:
        attrs = []
        if self.mask is not None:
            attrs.append(f"mask = {self.mask.to_mlir()}")
        if self.precision is not None:
            attrs.append(f"precision = {self.precision.to_mlir()}")
        if self.heads is not None:
            attrs.append(f"heads = {self.heads.to_mlir()}")
        if self.scale is not None:
            attrs.append(f"scale = {float_literal(self.scale)}")
        return attrs

    def to_mlir(self) -> str:
        args = self.operands()
        types = dict(args)

        def use(*names: str) -> str:
            return ", ".join(f"%{n}" for n in names) + " : " + ", ".join(types[n] for n in names)

        op = f"attn.attention ins(%q, %k, %v : {types['q']}, {types['k']}, {types['v']})"
        for name in ("explicit_mask", "bias", "segment_offsets", "gates"):
            if name in types:
                op += f"\n        {name}(%{name} : {types[name]})"
        outs = [f"%out : {types['out']}"] + ([f"%lse : {types['lse']}"] if self.has_lse else [])
        op += "\n        outs(" + ", ".join(outs) + ")"
        return self._function("attention", args, op)

    def grad_operands(self, lse_grad: bool = False) -> List[Tuple[str, str]]:
        """(SSA name, memref type) of each argument of @attention_grad, in
        the backward op's operand order: the problem's inputs, O, LSE, dO
        (and dLSE with `lse_grad`), then dQ, dK, dV and dBias / dGates where
        the problem has a bias (and `bias_grad`) / gates. The gradients have
        their inputs' types."""
        forward = dict(self.operands())
        B, Hq, Nq = self.batch, self.num_heads_q, self.seq_q
        any3 = "strided<[?, ?, ?]>" if self.runtime_strides else None
        lse = _memref((B, Hq, Nq), "f32", any3)
        args = [(n, t) for n, t in self.operands() if n not in ("out", "lse")]
        args += [("out", forward["out"]), ("lse", lse), ("out_grad", forward["out"])]
        if lse_grad:
            args.append(("lse_grad", lse))
        args += [("q_grad", forward["q"]), ("k_grad", forward["k"]), ("v_grad", forward["v"])]
        if "bias" in forward and self.bias_grad:
            args.append(("bias_grad", forward["bias"]))
        if "gates" in forward:
            args.append(("gates_grad", forward["gates"]))
        return args

    def gradient(self, lse_grad: bool = False, deterministic: bool = False,
                 bias_grad: bool = True) -> "AttentionSpec":
        """The spec of this forward's backward (compile() then builds the
        backward's kernels); `lse_grad` adds the dLSE operand;
        `deterministic` sums dQ without atomics (the same bits every run);
        `bias_grad=False` treats the bias as a constant (no dBias)."""
        if self.backward:
            raise ValueError("AttentionSpec.gradient: the spec is a backward already")
        return dataclasses.replace(self, backward=True, lse_grad=lse_grad,
                                   deterministic=deterministic, bias_grad=bias_grad)

    def to_module(self) -> str:
        """The module compile() builds: the forward's (to_mlir) or, for a
        backward spec, the backward's (to_grad_mlir)."""
        return self.to_grad_mlir(self.lse_grad) if self.backward else self.to_mlir()

    def to_grad_mlir(self, lse_grad: bool = False) -> str:
        """The backward of the spec's op: `func.func @attention_grad` holding
        one destination-style `attn.attention_grad` (SEMANTICS.md section 5)
        with the same mask, precision, heads and scale; `lse_grad` adds the
        dLSE operand. attn-opt lowers it on the CPU (attn-cpu-pipeline) and
        to the backward's mma.sync kernels (attn-gpu-pipeline)."""
        args = self.grad_operands(lse_grad)
        types = dict(args)

        def use(*names: str) -> str:
            return ", ".join(f"%{n}" for n in names) + " : " + ", ".join(types[n] for n in names)

        op = f"attn.attention_grad ins({use('q', 'k', 'v', 'out', 'lse', 'out_grad')})"
        for name in ("lse_grad", "explicit_mask", "bias", "segment_offsets", "gates"):
            if name in types:
                op += f"\n        {name}(%{name} : {types[name]})"
        op += f"\n        outs({use('q_grad', 'k_grad', 'v_grad')})"
        for name in ("bias_grad", "gates_grad"):
            if name in types:
                op += f"\n        {name}(%{name} : {types[name]})"
        return self._function("attention_grad", args, op)

    def _function(self, name: str, args: List[Tuple[str, str]], op: str) -> str:
        """`func.func @name` on `args` holding `op` with the spec's
        attributes."""
        for attr in self.op_attributes():
            op += f"\n        {attr}"
        signature = ",\n    ".join(f"%{n}: {t}" for n, t in args)
        return (f"func.func @{name}(\n    {signature}) {{\n"
                f"  {op}\n"
                f"  return\n}}\n")

    def canonical_text(self) -> str:
        """What the cache key hashes: the module and what it is compiled
        for (target chip, kernel family, the deterministic backward, the
        emulated block-scaled mma.sync). Deterministic and free of paths,
        so equal on every machine; the flags appear only when set."""
        return (f"// attn_mlir spec v{SPEC_FORMAT_VERSION} target={self.target or 'none'} "
                f"kernel={self.kernel or 'default'}"
                + (" deterministic" if self.deterministic else "")
                + (" emulate-block-scaled-mma" if self.emulate_block_scaled else "")
                + "\n" + self.to_module())

    def cache_key(self) -> str:
        return hashlib.sha256(self.canonical_text().encode("utf-8")).hexdigest()


__all__ = ["AttentionSpec", "ExplicitMask", "Bias", "DTYPES"]
