"""Where the package finds attn-opt and the launcher (attn_mlir.config):
the environment, then the paths recorded at install, then PATH / the
loader's search path; never the checkout the package sits in."""

import json
import os
import stat

import pytest

from attn_mlir import config, compiler, doctor, launcher
from attn_mlir.errors import AttnOptNotFound


def _executable(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_configuration(tmp_path, monkeypatch):
    """No environment, no install record, nothing on PATH: what a checkout
    with a built build/bin/attn-opt looks like to a package run from it."""
    monkeypatch.delenv("ATTN_OPT", raising=False)
    monkeypatch.delenv("ATTN_LAUNCHER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    record = tmp_path / "_install_config.json"
    monkeypatch.setattr(config, "INSTALL_CONFIG", record)
    return record


def test_nothing_configured_finds_nothing(no_configuration):
    assert config.recorded_paths() == {}
    assert compiler.find_attn_opt() is None
    with pytest.raises(AttnOptNotFound, match=r"attn-opt not found: set ATTN_OPT, put attn-opt on "
                                              r"PATH, or install the package from a build tree"):
        compiler._require_attn_opt(None)
    assert launcher.library_candidates() == [launcher.LIBRARY_NAME]


def test_recorded_paths_are_used(no_configuration, tmp_path):
    tool = _executable(tmp_path / "attn-opt")
    library = tmp_path / "libattn_launcher.so"
    library.write_bytes(b"")
    no_configuration.write_text(json.dumps({"attn_opt": str(tool), "launcher": str(library),
                                            "unknown": 3}))
    assert config.recorded_paths() == {"attn_opt": str(tool), "launcher": str(library)}
    assert compiler.find_attn_opt() == str(tool)
    assert launcher.library_candidates() == [str(library), launcher.LIBRARY_NAME]
    assert "the install record" in doctor._attn_opt_source(str(tool))
    assert "the install record" in doctor._launcher_source(str(library))


def test_environment_comes_before_the_record(no_configuration, tmp_path, monkeypatch):
    recorded = _executable(tmp_path / "recorded-attn-opt")
    explicit = _executable(tmp_path / "explicit-attn-opt")
    no_configuration.write_text(json.dumps({"attn_opt": str(recorded), "launcher": "/x.so"}))
    monkeypatch.setenv("ATTN_OPT", str(explicit))
    monkeypatch.setenv("ATTN_LAUNCHER", "/y.so")
    assert compiler.find_attn_opt() == str(explicit)
    assert launcher.library_candidates() == ["/y.so"]
    assert doctor._attn_opt_source(str(explicit)) == "$ATTN_OPT"


def test_record_before_path(no_configuration, tmp_path, monkeypatch):
    recorded = _executable(tmp_path / "recorded-attn-opt")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    on_path = _executable(bin_dir / "attn-opt")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert compiler.find_attn_opt() == str(on_path)
    assert doctor._attn_opt_source(str(on_path)) == "PATH"
    no_configuration.write_text(json.dumps({"attn_opt": str(recorded)}))
    assert compiler.find_attn_opt() == str(recorded)


def test_a_vanished_recorded_compiler_is_named(no_configuration, tmp_path):
    no_configuration.write_text(json.dumps({"attn_opt": str(tmp_path / "gone")}))
    assert compiler.find_attn_opt() is None
    with pytest.raises(AttnOptNotFound, match=r"the one recorded at install, .*gone, is gone"):
        compiler._require_attn_opt(None)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"attn_opt": 3}'])
def test_a_broken_record_is_ignored(no_configuration, text):
    no_configuration.write_text(text)
    assert config.recorded_paths() == {}
