"""Shared fixtures. The tests need neither torch nor a GPU; those that run
attn-opt find it through $ATTN_OPT (set by check-attn), PATH or
<repo>/build/bin, and are skipped when there is none."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attn_mlir.compiler import find_attn_opt  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache/attn_mlir."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ATTN_MLIR_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def attn_opt():
    tool = find_attn_opt()
    if tool is None:
        pytest.skip("attn-opt not built (set ATTN_OPT or build <repo>/build/bin/attn-opt)")
    return tool
