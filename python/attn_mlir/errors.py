"""Exceptions of attn_mlir (bad arguments are plain TypeError/ValueError)."""


class AttnError(Exception):
    """Base of the errors attn_mlir raises itself."""


class AttnOptNotFound(AttnError):
    """No attn-opt binary to run."""


class AttnCompileError(AttnError):
    """attn-opt rejected the module or failed; `diagnostics` holds its stderr."""

    def __init__(self, message: str, diagnostics: str = "", command: tuple = ()) -> None:
        super().__init__(message + (f"\n{diagnostics.rstrip()}" if diagnostics else ""))
        self.diagnostics = diagnostics
        self.command = command


class AttnPipelineUnavailable(AttnCompileError):
    """This attn-opt has no GPU pipeline (`--attn-gpu-pipeline` or
    `--attn-export-artifacts` is an unknown option)."""


class AttnArtifactsMissing(AttnError):
    """The cache has no artifacts for a spec and they cannot be compiled here."""


class AttnLaunchError(AttnError):
    """The launcher library could not be loaded or a launch failed."""


class AttnTargetError(AttnError, ValueError):
    """A target that cannot serve the call: no target for the device, a
    precision the chip has no instruction for, a kernel family not
    implemented, or cached kernels for another chip than the device's."""


class AttnTargetsMissing(AttnError):
    """No GPU target table: no attn-opt here and no targets.json in the cache."""
