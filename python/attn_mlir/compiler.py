"""attn-opt driver and the artifact cache (docs/design/GpuArtifacts.md).

compile() turns an AttentionSpec into `<cache>/<sha256 of the spec's
canonical text>/` holding manifest.json and the kernel binary, and keeps
the compiler's GPU target table beside them (`<cache>/targets.json`,
attn_mlir.targets). The cache is all the GPU machine needs: there, without
attn-opt, compile() only reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from . import config
from . import manifest as schema
from .errors import (AttnArtifactsMissing, AttnCompileError, AttnError,
                     AttnOptNotFound, AttnPipelineUnavailable)
from .spec import AttentionSpec
from .targets import check_target, target_table

MANIFEST = "manifest.json"
# The sha256 of the attn-opt that compiled a cache entry: the key names the
# spec, not the compiler, so a new attn-opt must not reuse old kernels.
COMPILER_FILE = "compiler.sha256"
_fingerprints: Dict[Any, str] = {}


def compiler_fingerprint(tool: str) -> str:
    """sha256 of the attn-opt binary (memoized by path, size and mtime)."""
    info = os.stat(tool)
    key = (os.path.abspath(tool), info.st_size, info.st_mtime_ns)
    if key not in _fingerprints:
        digest = hashlib.sha256()
        with open(tool, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _fingerprints[key] = digest.hexdigest()
    return _fingerprints[key]


def _is_stale(artifacts: "Artifacts", tool: Optional[str]) -> bool:
    """Whether a cached entry was compiled by another attn-opt than `tool`.
    Without a tool (the GPU machine) or a recorded compiler, the entry is
    taken as is."""
    recorded = artifacts.directory / COMPILER_FILE
    if tool is None or not recorded.is_file():
        return False
    resolved = shutil.which(tool) if os.sep not in tool else tool
    if resolved is None or not os.path.isfile(resolved):
        return False
    return recorded.read_text().strip() != compiler_fingerprint(resolved)


# The manifest's format tag and version (names: attn_mlir.manifest).
MANIFEST_FORMAT = schema.FORMAT
MANIFEST_VERSION = schema.VERSION
GPU_PASSES = ("attn-gpu-pipeline", "attn-export-artifacts")

PathLike = Union[str, os.PathLike]


# find_attn_opt's answers by (ATTN_OPT, PATH, the install record's state):
# every attention() call asks (the GPU machine, which has none, would scan
# PATH twice per forward and backward).
_found_attn_opt: Dict[Any, Optional[str]] = {}


def find_attn_opt() -> Optional[str]:
    """$ATTN_OPT, else the attn-opt recorded at install, else attn-opt on
    PATH (attn_mlir.config). Remembered per process for the same ATTN_OPT,
    PATH and install record (an attn-opt appearing later in a directory
    already on PATH is not seen)."""
    try:
        record = os.stat(config.INSTALL_CONFIG)
        record_state: Any = (record.st_size, record.st_mtime_ns, record.st_ino)
    except OSError:
        record_state = None
    key = (os.environ.get("ATTN_OPT"), os.environ.get("PATH"), str(config.INSTALL_CONFIG),
           record_state)
    found = _found_attn_opt.get(key)
    # A remembered file that is gone or no longer executable: search again.
    if key not in _found_attn_opt or (found is not None and not os.access(found, os.X_OK)):
        _found_attn_opt[key] = _search_attn_opt()
    return _found_attn_opt[key]


def _search_attn_opt() -> Optional[str]:
    explicit = os.environ.get("ATTN_OPT")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise AttnOptNotFound(f"ATTN_OPT = {explicit!r} is not an executable file")
        return explicit
    recorded = config.recorded_paths().get("attn_opt")
    if recorded and os.path.isfile(recorded) and os.access(recorded, os.X_OK):
        return recorded
    return shutil.which("attn-opt")


def _require_attn_opt(attn_opt: Optional[str]) -> str:
    found = attn_opt or find_attn_opt()
    if not found:
        recorded = config.recorded_paths().get("attn_opt")
        where = (f" (the one recorded at install, {recorded}, is gone)" if recorded else "")
        raise AttnOptNotFound("attn-opt not found: set ATTN_OPT, put attn-opt on PATH, or "
                              f"install the package from a build tree (README){where}")
    return found


def default_cache_dir() -> Path:
    """$ATTN_MLIR_CACHE, else ~/.cache/attn_mlir."""
    configured = os.environ.get("ATTN_MLIR_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "attn_mlir"


def _check_spec(spec: Any) -> AttentionSpec:
    if not isinstance(spec, AttentionSpec):
        raise TypeError(f"expected an attn_mlir.AttentionSpec, got {spec!r}")
    return spec


def verify(spec: AttentionSpec, attn_opt: Optional[str] = None) -> str:
    """Parses and verifies the spec's module with attn-opt (no pipeline).
    Returns attn-opt's printed module; raises AttnCompileError with its
    diagnostics when the module does not verify."""
    text = _check_spec(spec).canonical_text()
    command = (_require_attn_opt(attn_opt), "-")
    result = subprocess.run(command, input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise AttnCompileError("attn-opt rejected the spec's module:", result.stderr, command)
    return result.stdout


@dataclass(frozen=True)
class Artifacts:
    """A compiled spec in the cache."""

    key: str
    directory: Path
    manifest: Dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    @property
    def binary_path(self) -> Path:
        return self.directory / self.manifest[schema.KEY_BINARY]

    @property
    def kernel_family(self) -> Optional[str]:
        """The MMA family of the attention kernels that were compiled
        (mma_sync, wgmma, ...): the chip's default for the spec's precision,
        mma_sync where the default's engine refuses the spec's tiles or head
        dims (manifest key "kernel"; None in manifests that predate it)."""
        return self.manifest.get(schema.KEY_KERNEL_FAMILY)

    @cached_property
    def manifest_file(self) -> str:
        """manifest_path as a string, built once (still_current stats it on
        every call of attention())."""
        return str(self.manifest_path)

    @cached_property
    def scratch_names(self) -> frozenset:
        """Buffers the pre-kernels write and the attention kernel reads; the
        launcher allocates them (manifest key "scratch")."""
        return frozenset(s[schema.KEY_NAME] for s in self.manifest.get(schema.KEY_SCRATCH, ()))

    def scratch_sizes(self, values: Mapping[str, int]) -> Dict[str, int]:
        """Bytes of each scratch buffer for a launch with these argument
        values: the product of the manifest's factors (an integer, or an
        argument's value, rounded up to a multiple of ceil_div first), as
        the launcher sizes the buffers it allocates itself."""
        sizes = {}
        for scratch in self.manifest.get(schema.KEY_SCRATCH, ()):
            size = 1
            for factor in scratch[schema.KEY_BYTES]:
                if isinstance(factor, Mapping):
                    name = factor[schema.KEY_ARG]
                    if name not in values:
                        raise AttnError(f"scratch buffer {scratch[schema.KEY_NAME]!r} of "
                                        f"{self.directory} is sized by argument {name!r}, "
                                        "which this call does not provide")
                    value = int(values[name])
                    divisor = factor.get(schema.KEY_CEIL_DIV)
                    factor = -(-value // divisor) if divisor else value
                size *= int(factor)
            sizes[scratch[schema.KEY_NAME]] = size
        return sizes

    @cached_property
    def argument_names(self) -> tuple:
        """Every name a launch of these kernels is given, sorted: the
        caller's arguments (param_names) and the scratch buffers."""
        return tuple(sorted(self.param_names | self.scratch_names))

    @cached_property
    def param_names(self) -> frozenset:
        """Every argument name some kernel of the manifest takes that the
        caller provides (scratch buffers excluded). A tensor_map param is no
        argument: the names it is encoded from (its tensor, the sizes and
        strides) are."""
        scratch = self.scratch_names
        return frozenset(name for k in self.manifest[schema.KEY_KERNELS]
                         for p in k[schema.KEY_PARAMS]
                         for name in schema.param_argument_names(p) if name not in scratch)


def load_manifest(path: PathLike) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    format_, version = manifest.get(schema.KEY_FORMAT), manifest.get(schema.KEY_VERSION)
    if format_ != schema.FORMAT or version != schema.VERSION:
        raise AttnError(f"{path}: not an {schema.FORMAT} v{schema.VERSION} manifest "
                        f"({schema.KEY_FORMAT} {format_!r}, {schema.KEY_VERSION} {version!r})")
    for field in (schema.KEY_BINARY, schema.KEY_KERNELS):
        if field not in manifest:
            raise AttnError(f"{path}: manifest has no {field!r}")
    return manifest


# Artifacts read from a cache entry, by its manifest's path, size and mtime:
# attention() looks its kernels up on every call.
_loaded: Dict[Any, Artifacts] = {}


def _manifest_state(entry: Path, manifest_file: Optional[str] = None) -> Optional[Any]:
    """A cache entry's manifest as _loaded keys it, or None without one
    (manifest_file: its path, where the caller has it as a string)."""
    try:
        info = os.stat(manifest_file if manifest_file is not None else entry / MANIFEST)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (str(entry), info.st_size, info.st_mtime_ns, info.st_ino)


def lookup(spec: AttentionSpec, cache_dir: Optional[PathLike] = None) -> Optional[Artifacts]:
    """The cached artifacts of `spec`, or None."""
    key = _check_spec(spec).cache_key()
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = directory / key
    loaded_key = _manifest_state(entry)
    if loaded_key is None:
        return None
    if loaded_key not in _loaded:
        _loaded[loaded_key] = Artifacts(key, entry, load_manifest(entry / MANIFEST))
    return _loaded[loaded_key]


def still_current(artifacts: Artifacts) -> bool:
    """Whether compile() of the spec these artifacts came from would return
    them again without compiling: their manifest is unchanged since it was
    read, and the attn-opt found now (if any) compiled them. For callers
    that remember a spec's artifacts instead of asking compile() on every
    call (attention()'s per-signature memo); False sends them back to
    compile()."""
    if _loaded.get(_manifest_state(artifacts.directory, artifacts.manifest_file)) is not artifacts:
        return False
    try:
        tool = find_attn_opt()
    except AttnOptNotFound:
        tool = None
    return not _is_stale(artifacts, tool)


def pipeline_options(spec: AttentionSpec) -> str:
    """The --attn-gpu-pipeline options of a spec: `target=<chip>`, plus
    `kernel=<family>` when the spec overrides the chip's default,
    `deterministic=true` for a deterministic backward and
    `emulate-block-scaled-mma=true` for emulated NVFP4 kernels."""
    return (f"target={spec.target}" + (f" kernel={spec.kernel}" if spec.kernel else "")
            + (" deterministic=true" if spec.deterministic else "")
            + (" emulate-block-scaled-mma=true" if spec.emulate_block_scaled else ""))


def _pipeline_command(attn_opt: str, spec: AttentionSpec) -> Sequence[str]:
    # Run inside the output directory: `dir=.` keeps paths (and their
    # spaces or quotes) out of the pass options.
    return (attn_opt, "spec.mlir", f"--attn-gpu-pipeline={pipeline_options(spec)}",
            "--attn-export-artifacts=dir=.", "-o", os.devnull)


def _is_unknown_gpu_pass(stderr: str) -> bool:
    return "Unknown command line argument" in stderr and any(p in stderr for p in GPU_PASSES)


def compile(spec: AttentionSpec, cache_dir: Optional[PathLike] = None,
            attn_opt: Optional[str] = None) -> Artifacts:
    """The artifacts of `spec`: from the cache, else compiled with attn-opt
    into the cache (atomically: a temporary directory renamed into place).
    A cached entry that another attn-opt compiled is compiled again when
    attn-opt is here. With attn-opt here, the spec's target is first
    checked against its target table (attn_mlir.targets.check_target: a
    known chip, an implemented kernel family, FP8 only where the chip has
    the e4m3 mma.sync, NVFP4 only where it has the block-scaled mma.sync or
    with spec.emulate_block_scaled), and the table is written to
    <cache>/targets.json."""
    spec = _check_spec(spec)
    if spec.target is None:
        raise ValueError("compile: the spec has no target; give AttentionSpec(target=...), a "
                         "chip of `attn-opt --attn-gpu-targets` (attention() and "
                         "spec_for_shapes() pick the device's)")
    cached = lookup(spec, cache_dir)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        tool = attn_opt or find_attn_opt()
    except AttnOptNotFound:
        if cached is None:
            raise
        tool = None
    if tool is not None:
        # Also on a hit: the table must travel with every cache attn-opt filled.
        check_target(target_table(directory, tool), spec.target, spec.kernel, spec.precisions(),
                     spec.emulate_block_scaled)
    if cached is not None and not _is_stale(cached, tool):
        return cached
    key = spec.cache_key()
    entry = directory / key
    if tool is None:
        raise AttnArtifactsMissing(
            f"no compiled artifacts for this spec in {entry} and no attn-opt on this machine. "
            "Compile on a machine with attn-opt (attn_mlir.compile(spec) there; "
            "attn_mlir.spec_for_shapes() gives the spec attention() uses), then copy "
            "the cache entry "
            f"<cache>/{key}/ into this machine's cache ($ATTN_MLIR_CACHE or "
            "~/.cache/attn_mlir). Spec:\n" + spec.canonical_text())

    if os.sep in tool:
        # attn-opt runs inside the staging directory: a relative path would
        # no longer point at it there.
        tool = os.path.abspath(tool)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=directory))
    try:
        (staging / "spec.mlir").write_text(spec.canonical_text(), encoding="utf-8")
        command = _pipeline_command(tool, spec)
        result = subprocess.run(command, cwd=staging, capture_output=True, text=True)
        if result.returncode != 0:
            if _is_unknown_gpu_pass(result.stderr):
                raise AttnPipelineUnavailable(
                    f"{tool} has no GPU pipeline (--attn-gpu-pipeline / --attn-export-artifacts "
                    "unknown); build an attn-opt that has it", result.stderr, tuple(command))
            raise AttnCompileError(f"attn-opt failed to compile the spec (exit {result.returncode}):",
                                   result.stderr, tuple(command))
        if not (staging / MANIFEST).is_file():
            raise AttnCompileError(f"attn-opt succeeded but wrote no {MANIFEST}", result.stderr,
                                   tuple(command))
        load_manifest(staging / MANIFEST)
        resolved = shutil.which(tool) if os.sep not in tool else tool
        if resolved:
            (staging / COMPILER_FILE).write_text(compiler_fingerprint(resolved) + "\n")
        stale = None
        if cached is not None:  # compiled by another attn-opt: set aside
            stale = directory / f".stale-{key[:16]}-{os.getpid()}"
            os.rename(entry, stale)
        try:
            os.rename(staging, entry)
        except OSError:
            # Another process published the same key first; theirs is as good.
            if not (entry / MANIFEST).is_file():
                raise
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    # Read through lookup: the artifacts callers remember stay still_current.
    published = lookup(spec, directory)
    if published is None:
        raise AttnError(f"{entry}: the compiled entry vanished before it could be read")
    return published


__all__ = ["compile", "verify", "lookup", "still_current", "Artifacts", "find_attn_opt",
           "default_cache_dir", "load_manifest", "pipeline_options"]
