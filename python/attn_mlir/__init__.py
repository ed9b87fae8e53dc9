"""attn_mlir: attention specs for the attn MLIR dialect, compiled by attn-opt
into cached GPU artifacts and run on PyTorch tensors through the C launcher.

Pure Python; torch is imported only inside attention(), calibrate() and the
reference.
"""

from .calibration import CalibrationError, CalibrationResult, calibrate
from .compiler import Artifacts, compile, default_cache_dir, find_attn_opt, lookup, verify
from .errors import (AttnArtifactsMissing, AttnCompileError, AttnError, AttnLaunchError,
                     AttnOptNotFound, AttnPipelineUnavailable, AttnTargetError,
                     AttnTargetsMissing)
from .heads import HeadGroup, Heads, SoftPag
from .masks import (And, Causal, Dense, Mask, Neighborhood, NoneMask, Or, PowerLaw,
                    Segments, Shard, SlidingWindow)
from .plan import TensorInfo, plan_call, spec_for_shapes
from .precision import PRESETS, Precision
from .reference import reference_attention
from .spec import AttentionSpec, Bias, ExplicitMask
from .targets import Target, TargetTable, target_table
from .torch_api import Prepared, attention, prepare

__version__ = "0.1.0"

__all__ = [
    "AttentionSpec", "Bias", "ExplicitMask",
    "Mask", "Dense", "NoneMask", "Causal", "SlidingWindow", "Neighborhood", "PowerLaw",
    "Segments", "And", "Or", "Shard",
    "Precision", "PRESETS", "Heads", "HeadGroup", "SoftPag",
    "compile", "verify", "lookup", "Artifacts", "find_attn_opt", "default_cache_dir",
    "target_table", "TargetTable", "Target",
    "attention", "prepare", "Prepared", "spec_for_shapes", "plan_call", "TensorInfo",
    "calibrate", "CalibrationResult", "CalibrationError", "reference_attention",
    "AttnError", "AttnCompileError", "AttnPipelineUnavailable", "AttnOptNotFound",
    "AttnArtifactsMissing", "AttnLaunchError", "AttnTargetError", "AttnTargetsMissing",
]
