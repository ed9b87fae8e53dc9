"""Records, at install time, where the compiler and the launcher of the build
this package is installed from are (pyproject.toml has the metadata).

The package then finds them without the checkout it came from: the paths go
to attn_mlir/_install_config.json (package data, also read by an editable
install), taken from $ATTN_BUILD_DIR (a CMake build tree: bin/attn-opt,
lib/libattn_launcher.so), else from the `build` directory beside python/ if it
holds them; $ATTN_OPT / $ATTN_LAUNCHER at install time name either file
directly. At run time the environment still comes first
(attn_mlir.config)."""

import json
import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "attn_mlir" / "_install_config.json"


def _recorded_paths() -> dict:
    build = Path(os.environ.get("ATTN_BUILD_DIR") or HERE.parent / "build")
    candidates = {
        "attn_opt": [os.environ.get("ATTN_OPT"), build / "bin" / "attn-opt"],
        "launcher": [os.environ.get("ATTN_LAUNCHER"), build / "lib" / "libattn_launcher.so"],
    }
    recorded = {}
    for key, paths in candidates.items():
        for path in paths:
            if path and Path(path).is_file():
                recorded[key] = str(Path(path).resolve())
                break
    return recorded


CONFIG.write_text(json.dumps(_recorded_paths(), indent=2, sort_keys=True) + "\n")
setup()
