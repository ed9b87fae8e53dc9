"""The ctypes binding against a stand-in libattn_launcher.so built from a
few lines of C with the ABI of GpuArtifacts.md (no CUDA)."""

import json
import os
import shutil
import subprocess

import pytest

from attn_mlir import AttnLaunchError, launcher

FAKE_LAUNCHER_C = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct attn_launcher { char path[512]; FILE *log; } attn_launcher;
attn_launcher *attn_launcher_load(const char *manifest_path, char *err, size_t err_len) {
  if (strstr(manifest_path, "missing")) { snprintf(err, err_len, "cannot open %s", manifest_path); return NULL; }
  attn_launcher *l = calloc(1, sizeof *l);
  snprintf(l->path, sizeof l->path, "%s.log", manifest_path);
  return l;
}
int attn_launcher_launch(attn_launcher *l, const char *const *names, const int64_t *values,
                         int count, void *stream, char *err, size_t err_len) {
  FILE *f = fopen(l->path, "w");
  fprintf(f, "stream=%p\n", stream);
  for (int i = 0; i < count; ++i) {
    if (!strcmp(names[i], "bogus")) { fclose(f); snprintf(err, err_len, "unknown argument '%s'", names[i]); return 1; }
    fprintf(f, "%s=%lld\n", names[i], (long long)values[i]);
  }
  fclose(f);
  return 0;
}
void attn_launcher_free(attn_launcher *l) { free(l); }
"""


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the stand-in launcher")
    source = tmp_path / "fake_launcher.c"
    source.write_text(FAKE_LAUNCHER_C)
    library = tmp_path / "libattn_launcher.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    monkeypatch.setenv("ATTN_LAUNCHER", str(library))
    monkeypatch.setattr(launcher, "_library", None)
    monkeypatch.setattr(launcher, "_launchers", {})
    monkeypatch.setattr(launcher, "_launchers_as_given", {})
    return library


def test_launch_passes_names_values_and_stream(fake_library, tmp_path):
    (tmp_path / "entry").mkdir()
    l = launcher.launcher_for(tmp_path / "entry")
    assert launcher.launcher_for(tmp_path / "entry") is l  # loaded once per directory
    l.launch({"q": 0x7F0000001000, "q_stride_n": 512, "seq_q": 4096, "neg": -1}, 0x1234)
    log = (tmp_path / "entry" / "manifest.json.log").read_text().splitlines()
    assert log[0] == "stream=0x1234"
    assert log[1:] == [f"q={0x7F0000001000}", "q_stride_n=512", "seq_q=4096", "neg=-1"]


def test_values_template_writes_only_the_slots_a_call_binds(fake_library, tmp_path):
    # A call signature's values are marshalled once; each bind copies them
    # and writes its addresses, so an earlier bound launch keeps its own.
    (tmp_path / "entry").mkdir()
    l = launcher.launcher_for(tmp_path / "entry")
    template = l.values_template(("q", "q_stride_n", "out", "seq_q"), [0, 512, 0, 4096])
    first = template.bind((0, 2), (0x7F0000001000, 0xFFFF800000002000))
    second = template.bind((0, 2), (0x7F0000003000, 0x7F0000004000))
    log = tmp_path / "entry" / "manifest.json.log"
    first(0x1234)
    assert log.read_text().splitlines()[1:] == [
        f"q={0x7F0000001000}", "q_stride_n=512", f"out={0xFFFF800000002000 - (1 << 64)}",
        "seq_q=4096"]
    second(0)
    assert log.read_text().splitlines()[1:] == [
        f"q={0x7F0000003000}", "q_stride_n=512", f"out={0x7F0000004000}", "seq_q=4096"]
    first(0)  # unchanged by the second bind
    assert log.read_text().splitlines()[1] == f"q={0x7F0000001000}"


def test_an_entry_compiled_again_gets_a_new_launcher(fake_library, tmp_path):
    # compile() replaces a stale entry in place (a new attn-opt): the
    # loaded launcher holds the old kernels and must not serve it.
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "manifest.json").write_text('{"kernels": []}')
    first = launcher.launcher_for(entry)
    assert launcher.launcher_for(entry) is first
    assert launcher.launcher_for(str(entry) + "/") is first  # another spelling, resolved
    replacement = tmp_path / "replacement.json"
    replacement.write_text('{"kernels": [], "compiled": "again"}')
    os.replace(replacement, entry / "manifest.json")
    second = launcher.launcher_for(entry)
    assert second is not first
    assert launcher.launcher_for(entry) is second


def test_launch_and_load_errors(fake_library, tmp_path):
    (tmp_path / "entry").mkdir()
    with pytest.raises(AttnLaunchError, match=r"unknown argument 'bogus'"):
        launcher.launcher_for(tmp_path / "entry").launch({"q": 1, "bogus": 2}, 0)
    with pytest.raises(AttnLaunchError, match=r"attn_launcher_load\(.*missing.*\) failed: cannot open"):
        launcher.Launcher(tmp_path / "missing" / "manifest.json")


def test_library_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_LAUNCHER", str(tmp_path / "nowhere.so"))
    monkeypatch.setattr(launcher, "_library", None)
    with pytest.raises(AttnLaunchError, match=r"cannot load libattn_launcher.so \(set ATTN_LAUNCHER"):
        launcher.load_library()


# -- the real launcher library, when this tree has built it ------------------

def test_real_launcher_loads_a_manifest(tmp_path, monkeypatch):
    library = os.environ.get("ATTN_LAUNCHER")
    if not library or not os.path.isfile(library):
        pytest.skip("libattn_launcher.so not built (ATTN_LAUNCHER; conftest.py)")
    monkeypatch.setattr(launcher, "_library", None)
    (tmp_path / "kernels.cubin").write_bytes(b"not a real cubin")
    (tmp_path / "manifest.json").write_text(json.dumps({
        "format": "attn-kernels", "version": 1, "binary": "kernels.cubin",
        "binary_format": "cubin", "chip": "sm_90",
        "kernels": [{"name": "attn_fwd_0", "block": [128, 1, 1], "shared_bytes": 0,
                     "grid": [[{"arg": "seq_q", "ceil_div": 128}], [4], [{"arg": "batch"}]],
                     "params": [{"name": "q", "type": "ptr"}, {"name": "batch", "type": "i32"},
                                {"name": "seq_q", "type": "i32"}]}]}))
    loaded = launcher.Launcher(tmp_path / "manifest.json")  # does not touch the GPU
    # No GPU here: the launch fails (no driver, or the argument check first),
    # and the library's message comes back in the exception.
    with pytest.raises(AttnLaunchError, match=r"attn_launcher_launch failed \(\d\) for .*: \S"):
        loaded.launch({"q": 0, "batch": 1}, 0)
    loaded.close()
    loaded.close()  # idempotent
