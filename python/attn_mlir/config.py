"""Where the package finds attn-opt and the launcher library: explicit
configuration only, never the checkout the package happens to sit in.

Order: the environment ($ATTN_OPT, $ATTN_LAUNCHER), then the paths recorded
when the package was installed (`pip install ./python` writes
_install_config.json from the build tree it was installed from), then PATH
for attn-opt and the dynamic loader's search path for the launcher.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

INSTALL_CONFIG = Path(__file__).resolve().parent / "_install_config.json"


def recorded_paths() -> Dict[str, str]:
    """{"attn_opt": ..., "launcher": ...} as recorded at install (either
    may be missing); {} for a package that was not installed."""
    try:
        data = json.loads(INSTALL_CONFIG.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items()
            if key in ("attn_opt", "launcher") and isinstance(value, str)}
