"""Shared fixtures. The tests need neither torch nor a GPU; those that run
attn-opt find it through $ATTN_OPT (set by check-attn; run by hand, this
checkout's build/bin), and are skipped when there is none. The package
itself never looks in the checkout (attn_mlir.config).

The GPU target table: with a real attn-opt it comes from `attn-opt
--attn-gpu-targets`; without one, from the private cache's targets.json,
which `private_cache` fills with the contract's table (standins.py) the way
a run with attn-opt would have."""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Run by hand in a checkout: its builds, unless the environment names others.
_BUILD = Path(__file__).resolve().parents[2] / "build"
for _variable, _built in (("ATTN_OPT", _BUILD / "bin" / "attn-opt"),
                          ("ATTN_LAUNCHER", _BUILD / "lib" / "libattn_launcher.so")):
    if not os.environ.get(_variable) and _built.is_file():
        os.environ[_variable] = str(_built)

from attn_mlir.compiler import find_attn_opt  # noqa: E402
import standins  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache/attn_mlir. Holds the stand-in target
    table (targets.json), as if attn-opt had run once."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ATTN_MLIR_CACHE", str(cache))
    standins.write_cached_table(cache)
    return cache


@pytest.fixture(scope="session")
def attn_opt():
    tool = find_attn_opt()
    if tool is None:
        pytest.skip("attn-opt not built (set ATTN_OPT or build this checkout's build/bin/attn-opt)")
    return tool


@pytest.fixture
def fake_attn_opt(tmp_path, monkeypatch):
    """$ATTN_OPT = the stand-in attn-opt; returns a function giving its
    logged pipeline calls (the --attn-gpu-targets calls are counted in
    calls.targets)."""
    tool = standins.write_fake_attn_opt(tmp_path / "fake-attn-opt")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("ATTN_OPT", str(tool))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def table_calls():
        path = Path(str(log) + ".targets")
        return len(path.read_text().splitlines()) if path.exists() else 0
    calls.targets = table_calls
    return calls
