"""`python -m attn_mlir doctor`: each finding from a stand-in machine (the
stand-in attn-opt and its target table, a fake torch with a given GPU, a
launcher path that does or does not exist)."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

from attn_mlir import doctor, launcher

PYTHON_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_launcher(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "_library", None)
    monkeypatch.setenv("ATTN_LAUNCHER", str(tmp_path / "missing" / "libattn_launcher.so"))


def fake_torch(capability=(9, 0), name="NVIDIA H100 80GB HBM3", available=True):
    cuda = types.SimpleNamespace(is_available=lambda: available,
                                 get_device_capability=lambda: capability,
                                 get_device_name=lambda: name)
    return lambda: types.SimpleNamespace(__version__="2.11.0", cuda=cuda)


def no_torch():
    raise ImportError("No module named 'torch'")


def by_what(findings):
    return {f.what: f for f in findings}


def test_everything_found_on_an_h100(fake_attn_opt, no_launcher):
    findings = by_what(doctor.diagnose(import_torch=fake_torch()))
    assert findings["attn-opt (compiler)"].found.endswith("(from $ATTN_OPT)")
    assert findings["target table"].found == "sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a, sm_120f"
    assert findings["GPU"].found == "NVIDIA H100 80GB HBM3 (compute capability 9.0)"
    assert findings["target for this GPU"].found == "sm_90a (kernel wgmma)"
    assert findings["torch"].found == "2.11.0"
    # The launcher is missing here: named, with what to do.
    missing = findings["launcher (libattn_launcher.so)"]
    assert missing.found is None and not missing.optional
    assert "cannot load libattn_launcher.so" in missing.remedy
    assert "build runtime/" in missing.remedy


def test_an_ampere_gpu_gets_sm_80(fake_attn_opt, no_launcher):
    findings = by_what(doctor.diagnose(import_torch=fake_torch((8, 0), "NVIDIA A100")))
    assert findings["target for this GPU"].found == "sm_80 (kernel mma_sync)"


def test_a_gpu_no_target_serves(fake_attn_opt, no_launcher):
    findings = by_what(doctor.diagnose(import_torch=fake_torch((7, 5), "Tesla T4")))
    finding = findings["target for this GPU"]
    assert finding.found is None
    assert "no target for Tesla T4 (compute capability 7.5)" in finding.remedy


def test_missing_compiler_and_torch(tmp_path, monkeypatch, no_launcher):
    monkeypatch.setenv("ATTN_OPT", str(tmp_path / "no-attn-opt"))
    findings = doctor.diagnose(import_torch=no_torch)
    found = by_what(findings)
    assert found["attn-opt (compiler)"].found is None
    assert "is not an executable file" in found["attn-opt (compiler)"].remedy
    assert "target table" not in found  # nothing to ask
    assert found["torch"].found is None and found["torch"].optional
    text = doctor.report(findings)
    assert "MISSING  attn-opt (compiler): ATTN_OPT = " in text
    assert "optional torch: install PyTorch" in text


def test_no_gpu_is_optional(fake_attn_opt, no_launcher):
    findings = by_what(doctor.diagnose(import_torch=fake_torch(available=False)))
    assert findings["GPU"].found is None and findings["GPU"].optional
    assert "target for this GPU" not in findings


def test_command_line(tmp_path, monkeypatch):
    # The module entry point: a usage error, and the report's exit status
    # (1: a required piece is missing).
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PYTHON_DIR),
           "ATTN_OPT": str(tmp_path / "no-attn-opt"),
           "ATTN_LAUNCHER": str(tmp_path / "no-launcher.so")}
    usage = subprocess.run([sys.executable, "-m", "attn_mlir"], env=env,
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: python -m attn_mlir doctor" in usage.stderr
    run = subprocess.run([sys.executable, "-m", "attn_mlir", "doctor"], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert "MISSING  attn-opt (compiler)" in run.stdout
    assert "MISSING  launcher (libattn_launcher.so)" in run.stdout
