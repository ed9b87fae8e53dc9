"""`python -m attn_mlir doctor`: what this machine gives the package — the
compiler, ptxas, the launcher, torch and the GPU, and the target a call
would compile for — and what is missing, each with how to provide it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from . import compiler, config, launcher, targets
from .errors import AttnError


@dataclass
class Finding:
    """One line of the report: what was looked for, what was found (None:
    missing) and, when missing, how to provide it."""
    what: str
    found: Optional[str]
    remedy: str = ""
    # Missing but optional (e.g. no GPU on a build machine).
    optional: bool = False


def _ptxas() -> Optional[str]:
    """ptxas as gpu-module-to-binary finds it: $CUDA_HOME/bin, else PATH,
    else /usr/local/cuda/bin."""
    home = os.environ.get("CUDA_HOME")
    candidates = [str(Path(home) / "bin" / "ptxas")] if home else []
    on_path = shutil.which("ptxas")
    if on_path:
        candidates.append(on_path)
    candidates.append("/usr/local/cuda/bin/ptxas")
    return next((c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)), None)


def _source(variable: str, key: str, path: str, otherwise: str) -> str:
    """Where `path` came from, in attn_mlir.config's order."""
    if os.environ.get(variable):
        return f"${variable}"
    if config.recorded_paths().get(key) == path:
        return f"the install record, {config.INSTALL_CONFIG}"
    return otherwise


def _attn_opt_source(path: str) -> str:
    return _source("ATTN_OPT", "attn_opt", path, "PATH")


def _launcher_source(path: str) -> str:
    return _source("ATTN_LAUNCHER", "launcher", path, "the dynamic loader's search path")


def diagnose(import_torch: Callable[[], object] = lambda: __import__("torch")) -> List[Finding]:
    """The report's findings, in order (no exception: every failure is a
    finding)."""
    findings: List[Finding] = []
    try:
        attn_opt = compiler.find_attn_opt()
    except AttnError as error:
        attn_opt, problem = None, str(error)
    else:
        problem = ""
    findings.append(Finding(
        "attn-opt (compiler)",
        f"{attn_opt} (from {_attn_opt_source(attn_opt)})" if attn_opt else None,
        problem or "build it (README), then set ATTN_OPT, put it on PATH, or pip install the "
                   "package from the build tree"))

    table = None
    if attn_opt:
        try:
            table = targets.table_from_attn_opt(attn_opt)
        except (AttnError, OSError, ValueError) as error:
            findings.append(Finding("target table", None, f"attn-opt --attn-gpu-targets: {error}"))
        else:
            findings.append(Finding("target table", ", ".join(table.chips)))

    findings.append(Finding(
        "ptxas (cubins)", _ptxas(),
        "install the CUDA toolkit or set CUDA_HOME; without it only PTX "
        "(format=isa) compiles", optional=True))

    try:
        library = launcher.load_library()
    except AttnError as error:
        findings.append(Finding("launcher (libattn_launcher.so)", None,
                                str(error).splitlines()[0] + "; build runtime/ (README)"))
    else:
        findings.append(Finding("launcher (libattn_launcher.so)",
                                f"{library._name} (from {_launcher_source(library._name)})"))

    try:
        torch = import_torch()
    except ImportError:
        findings.append(Finding("torch", None, "install PyTorch to call attention() on tensors",
                                optional=True))
        return findings
    findings.append(Finding("torch", str(getattr(torch, "__version__", "?"))))
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_available():
        findings.append(Finding("GPU", None, "no CUDA device: compile here with target=, run on "
                                "the GPU machine", optional=True))
        return findings
    capability = tuple(int(c) for c in cuda.get_device_capability())
    name = str(cuda.get_device_name())
    findings.append(Finding("GPU", f"{name} (compute capability "
                                   f"{targets.capability_text(capability)})"))
    if table is not None:
        try:
            target = table.for_device(capability, name)
        except AttnError as error:
            findings.append(Finding("target for this GPU", None, str(error)))
        else:
            family = targets.default_family(target) or "none implemented"
            findings.append(Finding("target for this GPU", f"{target.chip} (kernel {family})"))
    return findings


def report(findings: List[Finding]) -> str:
    lines = []
    for f in findings:
        if f.found is not None:
            lines.append(f"ok       {f.what}: {f.found}")
        else:
            lines.append(f"{'optional' if f.optional else 'MISSING':<8} {f.what}: {f.remedy}")
    return "\n".join(lines)


def main() -> int:
    findings = diagnose()
    print(report(findings))
    # Exit status 1 when something required is missing.
    return 0 if all(f.found is not None or f.optional for f in findings) else 1
