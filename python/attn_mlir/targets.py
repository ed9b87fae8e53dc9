"""GPU targets: the compiler's target table and which target serves a device.

attn-opt is the authority on what it can compile for: `attn-opt
--attn-gpu-targets` prints its target table as JSON (format
"attn-gpu-targets", version 1): per chip (`sm_80`, `sm_86`, `sm_89`,
`sm_90a`, `sm_100a`, `sm_120a`, `sm_120f`) its compute capability, whether
the code is arch-specific (the `a` chips; `sm_120f` is the portable
family target of 12.x), the MMA kernel families it supports in
preference order (`kernels`), those implemented (`implemented_kernels`),
the default family (`default_kernel`: the first implemented one) and
feature flags (`fp8_mma_sync`, `block_scaled_mma`, ...). Nothing here
hard-codes a chip.

The table travels with the compile cache: whenever attn-opt is on the
machine, target_table() runs it and writes `<cache>/targets.json`; on a
machine without attn-opt (the GPU machine) the table is read from there.

Device rule (target_for_device): for a device of compute capability
(major, minor), the entries of the same major serve it; an arch-specific
entry serves only its exact capability, a portable one every minor at
least its own (cubins run on later minors of one major). The serving entry
with the highest minor is the target, the first listed on a tie. (8, 7) ->
sm_86, (9, 0) -> sm_90a, (12, 0) -> sm_120a, (12, 1) -> sm_120f, (10, 3)
-> none (an error naming the device).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import (AttnCompileError, AttnError, AttnOptNotFound, AttnTargetError,
                     AttnTargetsMissing)

TARGETS_FILE = "targets.json"
TABLE_FORMAT = "attn-gpu-targets"
TABLE_VERSION = 1
TARGETS_FLAG = "--attn-gpu-targets"
# The precision types that multiply on the e4m3 mma.sync.
FP8_TYPES = ("f8E4M3FN",)
# The precision type that multiplies on the block-scaled mma.sync (NVFP4),
# and the table's flag for that instruction.
NVFP4_TYPES = ("f4E2M1FN",)
BLOCK_SCALED_MMA = "block_scaled_mma"
MMA_SYNC = "mma_sync"
WGMMA = "wgmma"

_CHIP_NAME = re.compile(r"sm_\d+[af]?")
_CHIP_EXAMPLE = "'sm_80', 'sm_90a' or 'sm_120f'"   # for messages only
_KERNEL_NAME = re.compile(r"[a-z][a-z0-9_]*")

PathLike = Union[str, "os.PathLike[str]"]
Capability = Tuple[int, int]


def check_chip_name(owner: str, name: str, value: Any) -> str:
    """The form of a chip name (sm_80, sm_90a); whether the compiler knows
    it is the table's business."""
    if not isinstance(value, str) or not _CHIP_NAME.fullmatch(value):
        raise ValueError(f"{owner}: {name} = {value!r} is not a chip name like {_CHIP_EXAMPLE}")
    return value


def check_kernel_name(owner: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not _KERNEL_NAME.fullmatch(value):
        raise ValueError(f"{owner}: {name} = {value!r} is not a kernel family name like "
                         "'mma_sync'")
    return value


def capability_text(capability: Sequence[int]) -> str:
    return f"{capability[0]}.{capability[1]}"


@dataclass(frozen=True)
class Target:
    """One entry of the target table."""

    chip: str
    compute_capability: Capability
    arch_specific: bool
    kernels: Tuple[str, ...]               # supported families, preferred first
    implemented_kernels: Tuple[str, ...]
    default_kernel: Optional[str]          # None: no family of this chip is implemented
    # Implemented families that also run the quantized precisions; a
    # precision other than the default picks the first of these.
    quantized_kernels: Tuple[str, ...]
    fp8_mma_sync: bool
    # The block-scaled mma.sync (kind::mxf4nvf4) that NVFP4 (f4E2M1FN)
    # multiplies on; a chip without it runs NVFP4 only with the compiler's
    # emulation of it (emulate_block_scaled). False in tables that predate
    # the flag.
    block_scaled_mma: bool = False
    features: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def serves(self, capability: Sequence[int]) -> bool:
        """Whether this target's code runs on a device of `capability`."""
        major, minor = int(capability[0]), int(capability[1])
        own_major, own_minor = self.compute_capability
        if major != own_major:
            return False
        return minor == own_minor if self.arch_specific else minor >= own_minor


def _field(source: str, index: int, entry: Mapping[str, Any], name: str, kind: Any,
           what: str) -> Any:
    if name not in entry:
        raise AttnError(f"{source}: targets[{index}] has no {name!r}")
    value = entry[name]
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise AttnError(f"{source}: targets[{index}].{name} = {value!r} is not {what}")
    return value


def _names(source: str, index: int, entry: Mapping[str, Any], name: str) -> Tuple[str, ...]:
    value = _field(source, index, entry, name, list, "a list of kernel family names")
    for item in value:
        if not isinstance(item, str) or not _KERNEL_NAME.fullmatch(item):
            raise AttnError(f"{source}: targets[{index}].{name} has {item!r}, not a kernel "
                            "family name")
    if len(set(value)) != len(value):
        raise AttnError(f"{source}: targets[{index}].{name} = {value!r} lists a family twice")
    return tuple(value)


def _parse_target(source: str, index: int, entry: Any) -> Target:
    if not isinstance(entry, dict):
        raise AttnError(f"{source}: targets[{index}] = {entry!r} is not an object")
    chip = _field(source, index, entry, "chip", str, "a chip name")
    if not _CHIP_NAME.fullmatch(chip):
        raise AttnError(f"{source}: targets[{index}].chip = {chip!r} is not a chip name like "
                        f"{_CHIP_EXAMPLE}")
    where = f"{source}: {chip}"
    capability = _field(source, index, entry, "compute_capability", list, "[major, minor]")
    if len(capability) != 2 or not all(isinstance(c, int) and not isinstance(c, bool)
                                       and c >= 0 for c in capability):
        raise AttnError(f"{where}: compute_capability = {capability!r} is not [major, minor]")
    arch_specific = _field(source, index, entry, "arch_specific", bool, "a bool")
    kernels = _names(source, index, entry, "kernels")
    implemented = _names(source, index, entry, "implemented_kernels")
    unknown = [k for k in implemented if k not in kernels]
    if unknown:
        raise AttnError(f"{where}: implemented_kernels {unknown} are not among its kernels "
                        f"{list(kernels)}")
    default = entry.get("default_kernel")
    expected = next((k for k in kernels if k in implemented), None)
    if default in ("", None):
        default = None
    if default != expected:
        raise AttnError(f"{where}: default_kernel = {entry.get('default_kernel')!r} but the "
                        f"first implemented family of {list(kernels)} is {expected!r}")
    quantized = _names(source, index, entry, "quantized_kernels")
    unknown = [k for k in quantized if k not in implemented]
    if unknown:
        raise AttnError(f"{where}: quantized_kernels {unknown} are not among its implemented "
                        f"kernels {list(implemented)}")
    fp8 = _field(source, index, entry, "fp8_mma_sync", bool, "a bool")
    # Optional: an attn-opt older than NVFP4 does not print it.
    block_scaled = (_field(source, index, entry, BLOCK_SCALED_MMA, bool, "a bool")
                    if BLOCK_SCALED_MMA in entry else False)
    return Target(chip, (capability[0], capability[1]), arch_specific, kernels, implemented,
                  default, quantized, fp8, block_scaled, dict(entry))


@dataclass(frozen=True)
class TargetTable:
    """The compiler's targets, in the compiler's order."""

    targets: Tuple[Target, ...]
    source: str = field(default="target table", compare=False)

    @classmethod
    def from_json(cls, data: Any, source: str = "target table") -> "TargetTable":
        """Checks and parses the object `attn-opt --attn-gpu-targets`
        prints; a malformed table raises AttnError naming the field."""
        if not isinstance(data, dict):
            raise AttnError(f"{source}: not a JSON object")
        if data.get("format") != TABLE_FORMAT or data.get("version") != TABLE_VERSION:
            raise AttnError(f"{source}: not an {TABLE_FORMAT} v{TABLE_VERSION} table (format "
                            f"{data.get('format')!r}, version {data.get('version')!r})")
        entries = data.get("targets")
        if not isinstance(entries, list) or not entries:
            raise AttnError(f"{source}: 'targets' must be a non-empty list, got {entries!r}")
        targets = tuple(_parse_target(source, i, e) for i, e in enumerate(entries))
        seen: Dict[str, int] = {}
        for i, t in enumerate(targets):
            if t.chip in seen:
                raise AttnError(f"{source}: chip {t.chip} is listed twice (targets[{seen[t.chip]}] "
                                f"and targets[{i}])")
            seen[t.chip] = i
        return cls(targets, source)

    @classmethod
    def from_text(cls, text: str, source: str = "target table") -> "TargetTable":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise AttnError(f"{source}: not valid JSON ({error})") from None
        return cls.from_json(data, source)

    def to_json(self) -> Dict[str, Any]:
        return {"format": TABLE_FORMAT, "version": TABLE_VERSION,
                "targets": [dict(t.features) for t in self.targets]}

    @property
    def chips(self) -> Tuple[str, ...]:
        return tuple(t.chip for t in self.targets)

    def get(self, chip: str, name: str = "target") -> Target:
        """The entry of `chip`; an unknown chip is a ValueError listing the
        supported ones."""
        for t in self.targets:
            if t.chip == chip:
                return t
        raise ValueError(f"{name} = {chip!r} is not a target of this compiler; supported: "
                         f"{', '.join(self.chips)}")

    def lookup(self, chip: str) -> Optional[Target]:
        return next((t for t in self.targets if t.chip == chip), None)

    def serving(self, capability: Sequence[int]) -> List[Target]:
        """Every entry whose code runs on a device of `capability`."""
        return [t for t in self.targets if t.serves(capability)]

    def for_device(self, capability: Sequence[int], device_name: str = "this device") -> Target:
        """The target for a device of `capability` (module docstring: the
        rule). No serving entry: AttnTargetError naming the device."""
        capability = check_capability(capability)
        serving = self.serving(capability)
        if not serving:
            raise AttnTargetError(
                f"no target for {device_name} (compute capability "
                f"{capability_text(capability)}): the compiler supports "
                + ", ".join(f"{t.chip} ({capability_text(t.compute_capability)}"
                            f"{' only' if t.arch_specific else '+'})" for t in self.targets)
                + "; pass target= to compile for another chip")
        return max(serving, key=lambda t: t.compute_capability[1])


def check_capability(capability: Any) -> Capability:
    if not (isinstance(capability, (tuple, list)) and len(capability) == 2
            and all(isinstance(c, int) and not isinstance(c, bool) for c in capability)):
        raise ValueError(f"device capability = {capability!r} is not a (major, minor) pair")
    return (capability[0], capability[1])


# ----------------------------------------------------------------------------
# Checks of a target choice.

def _uses(precisions: Iterable[Tuple[str, Any]], types: Any, format_name: str) -> List[str]:
    """The precisions that multiply Q.K or P.V in one of `types`, as
    "<where> <precision> (<operands> in <format_name>)"."""
    uses = []
    for where, p in precisions:
        if p is None:
            continue
        operands = [name for name, t in (("Q.K", p.qk), ("P.V", p.pv)) if t in types]
        if operands:
            uses.append(f"{where} {p.to_mlir()} ({' and '.join(operands)} in {format_name})")
    return uses


def _fp8_uses(precisions: Iterable[Tuple[str, Any]]) -> List[str]:
    return _uses(precisions, FP8_TYPES, "FP8 E4M3")


def _nvfp4_uses(precisions: Iterable[Tuple[str, Any]]) -> List[str]:
    return _uses(precisions, NVFP4_TYPES, "NVFP4 f4E2M1FN")


def emulation_chips(table: "TargetTable") -> List[str]:
    """The chips where emulate_block_scaled applies: those without the
    block-scaled mma.sync but with the E4M3 conversions (fp8_mma_sync) the
    compiler's emulation uses."""
    return [t.chip for t in table.targets if t.fp8_mma_sync and not t.block_scaled_mma]


def check_emulation(table: "TargetTable", chip: str) -> Target:
    """emulate_block_scaled=True for `chip` (the compiler's
    emulate-block-scaled-mma): refused, as the compiler refuses it, on a
    chip with the block-scaled mma.sync (it runs NVFP4 natively) and on one
    without the E4M3 conversions (fp8_mma_sync) the emulation uses."""
    target = table.get(chip)
    if target.block_scaled_mma:
        raise AttnTargetError(
            f"emulate_block_scaled=True: {chip} runs the block-scaled mma.sync natively "
            f"({BLOCK_SCALED_MMA} is true in the target table); leave emulate_block_scaled "
            "off on this chip")
    if not target.fp8_mma_sync:
        raise AttnTargetError(
            f"emulate_block_scaled=True: {chip} lacks the E4M3 conversions the emulation uses "
            f"(fp8_mma_sync is false in the target table); the emulation runs on "
            f"{', '.join(emulation_chips(table)) or 'no chip of this table'}")
    return target


def default_family(target: Target, precisions: Iterable[Tuple[str, Any]] = ()) -> Optional[str]:
    """The family the compiler picks when none is requested (its
    GpuTarget::defaultFamily): the chip's default, or with a precision other
    than the default the first implemented family that quantizes. (The
    compiler may still fall back to mma_sync for tiles or head dims the
    default family refuses; the manifest's "kernel" says what was built.)"""
    if any(p is not None for _, p in precisions):
        return next((k for k in target.kernels if k in target.quantized_kernels), None)
    return target.default_kernel


def check_target(table: TargetTable, chip: str, kernel: Optional[str] = None,
                 precisions: Iterable[Tuple[str, Any]] = (),
                 emulate_block_scaled: bool = False) -> Target:
    """Checks that `chip` (with kernel family `kernel`, None: its default)
    can compile these precisions ((where, Precision) pairs); returns its
    entry. Unknown chip or family: ValueError listing the valid ones; a
    family not implemented, FP8 on an mma.sync without e4m3, NVFP4
    (f4E2M1FN) on a chip without the block-scaled mma.sync unless
    `emulate_block_scaled`, or `emulate_block_scaled` where the compiler
    refuses it (check_emulation): AttnTargetError."""
    target = table.get(chip)
    precisions = list(precisions)   # read more than once below
    if emulate_block_scaled:
        check_emulation(table, chip)
    if kernel is not None and kernel not in target.kernels:
        raise ValueError(f"kernel = {kernel!r} is not a kernel family of {chip}; it supports: "
                         f"{', '.join(target.kernels)}")
    family = kernel if kernel is not None else default_family(target, precisions)
    if family is None or family not in target.implemented_kernels:
        implemented = ", ".join(target.implemented_kernels) or "none"
        what = f"kernel = {family!r}" if family else "no kernel family"
        raise AttnTargetError(f"{what} is not implemented for {chip} yet (implemented: "
                              f"{implemented})")
    if family == MMA_SYNC and not target.fp8_mma_sync:
        uses = _fp8_uses(precisions)
        if uses:
            having = [t.chip for t in table.targets if t.fp8_mma_sync]
            raise AttnTargetError(
                f"{uses[0]} needs the FP8 (e4m3) mma.sync, which {chip} does not have "
                f"(fp8_mma_sync is false in the target table); chips with it: "
                f"{', '.join(having) or 'none'}. Use a precision without FP8 (e.g. sage1) "
                "on this chip")
    if not target.block_scaled_mma and not emulate_block_scaled:
        uses = _nvfp4_uses(precisions)
        if uses:
            having = [t.chip for t in table.targets if t.block_scaled_mma]
            emulating = emulation_chips(table)
            if chip in emulating:
                hint = (f"Pass emulate_block_scaled=True to compile the same kernels for {chip} "
                        "with that instruction emulated (a correctness check, slow; chips "
                        f"where it applies: {', '.join(emulating)}), or use")
            else:
                hint = (f"{chip} cannot emulate it either (emulate_block_scaled=True needs the "
                        "E4M3 conversions, fp8_mma_sync; chips where it applies: "
                        f"{', '.join(emulating) or 'none'}): use")
            raise AttnTargetError(
                f"{uses[0]} needs the block-scaled mma.sync, which {chip} does not have "
                f"({BLOCK_SCALED_MMA} is false in the target table); chips with it: "
                f"{', '.join(having) or 'none'}. {hint} a precision without f4E2M1FN on "
                "this chip")
    return target


def check_runs_on(chip: Any, table: TargetTable, capability: Sequence[int],
                  device_name: str = "this device", where: str = "the kernels") -> Target:
    """Before a launch: `chip` (a manifest's) must be code that runs on the
    device. Raises AttnTargetError otherwise, so wrong code never reaches
    the driver."""
    capability = check_capability(capability)
    if not isinstance(chip, str):
        raise AttnTargetError(f"{where}: the manifest names no chip (got {chip!r}); recompile it")
    target = table.lookup(chip)
    if target is None:
        raise AttnTargetError(f"{where} are for chip {chip!r}, which the target table does not "
                              f"know (it has {', '.join(table.chips)}); recompile them")
    if not target.serves(capability):
        serving = [t.chip for t in table.serving(capability)]
        hint = (f"compile for {', '.join(serving)} instead (target=None picks it from the device)"
                if serving else "no target of this compiler runs on it")
        raise AttnTargetError(f"{where} are compiled for {chip} (compute capability "
                              f"{capability_text(target.compute_capability)}"
                              f"{' only' if target.arch_specific else ' and later minors'}), "
                              f"which cannot run on {device_name} (compute capability "
                              f"{capability_text(capability)}); {hint}")
    return target


# ----------------------------------------------------------------------------
# Where the table comes from: attn-opt, else the cache.

_from_tool: Dict[Any, TargetTable] = {}


def table_from_attn_opt(tool: str) -> TargetTable:
    """Runs `tool --attn-gpu-targets` (memoized by path, size and mtime)."""
    resolved = shutil.which(tool) if os.sep not in tool else tool
    if resolved is None:
        raise AttnOptNotFound(f"attn-opt {tool!r} not found")
    info = os.stat(resolved)
    key = (os.path.abspath(resolved), info.st_size, info.st_mtime_ns)
    if key not in _from_tool:
        command = (resolved, TARGETS_FLAG)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            if "Unknown command line argument" in result.stderr and TARGETS_FLAG in result.stderr:
                raise AttnCompileError(
                    f"{resolved} has no {TARGETS_FLAG}: it predates target selection "
                    "(target=<chip>); rebuild attn-opt", result.stderr, command)
            raise AttnCompileError(f"{resolved} {TARGETS_FLAG} failed (exit {result.returncode})",
                                   result.stderr, command)
        _from_tool[key] = TargetTable.from_text(result.stdout,
                                                f"{resolved} {TARGETS_FLAG}")
    return _from_tool[key]


def _write_if_changed(path: Path, table: TargetTable) -> None:
    text = json.dumps(table.to_json(), indent=1, sort_keys=True) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".targets-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.unlink(staging)
        raise


def _cache_path(cache_dir: Optional[PathLike]) -> Path:
    from .compiler import default_cache_dir
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / TARGETS_FILE


# Tables read from a cache file (by path, size and mtime), and the cache
# files this process already brought up to date with a tool's table:
# attention() asks for the table on every call, which must not mean a file
# read or write each time.
_from_file: Dict[Any, TargetTable] = {}
_written: Dict[Path, TargetTable] = {}


def read_cached_table(cache_dir: Optional[PathLike] = None) -> Optional[TargetTable]:
    """`<cache>/targets.json`, or None when there is none."""
    path = _cache_path(cache_dir)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    key = (str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _from_file:
        _from_file[key] = TargetTable.from_text(path.read_text(encoding="utf-8"), str(path))
    return _from_file[key]


def target_table(cache_dir: Optional[PathLike] = None,
                 attn_opt: Optional[str] = None) -> TargetTable:
    """The compiler's target table. With attn-opt here (`attn_opt`,
    $ATTN_OPT, the install record or PATH): its `--attn-gpu-targets`, also
    written to `<cache>/targets.json`. Without: that file, compiled on a
    machine with attn-opt and copied with the cache. Neither:
    AttnTargetsMissing saying how to get it."""
    from .compiler import find_attn_opt
    tool = attn_opt
    if tool is None:
        try:
            tool = find_attn_opt()
        except AttnOptNotFound:
            tool = None
    path = _cache_path(cache_dir)
    if tool is not None:
        table = table_from_attn_opt(tool)
        if _written.get(path) is not table or not path.is_file():
            _write_if_changed(path, table)
            _written[path] = table
        return table
    cached = read_cached_table(cache_dir)
    if cached is None:
        raise AttnTargetsMissing(
            f"no GPU target table: no attn-opt on this machine and no {path}. Run attn_mlir "
            "once on a machine with attn-opt (any compile(), or attn_mlir.target_table(), "
            f"writes {TARGETS_FILE} into the cache), then copy the cache directory here "
            "($ATTN_MLIR_CACHE or ~/.cache/attn_mlir)")
    return cached


# ----------------------------------------------------------------------------
# The device (torch, imported only here and only when asked).

def cuda_device(device: Any = None) -> Tuple[Capability, str]:
    """(compute capability, name) of a CUDA device (torch.device, "cuda:1",
    an index, or None for the current one)."""
    try:
        import torch
    except ImportError:
        raise AttnTargetError("no target given and torch is not installed, so there is no "
                              "device to read it from: pass target= (e.g. the chip of the GPU "
                              "machine)") from None
    if not torch.cuda.is_available():
        raise AttnTargetError("no target given and no CUDA device to read it from: pass "
                              "target= (e.g. the chip of the GPU machine)")
    capability = tuple(int(c) for c in torch.cuda.get_device_capability(device))
    return (capability[0], capability[1]), str(torch.cuda.get_device_name(device))


__all__ = ["Target", "TargetTable", "target_table", "read_cached_table", "table_from_attn_opt",
           "check_target", "check_emulation", "emulation_chips", "check_runs_on", "cuda_device",
           "TARGETS_FILE"]
