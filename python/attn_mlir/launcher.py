"""ctypes binding of the C launcher (libattn_launcher.so, runtime/).

C ABI (docs/design/GpuArtifacts.md):
    attn_launcher *attn_launcher_load(const char *manifest_path, char *err, size_t err_len);
    int attn_launcher_launch(attn_launcher *l, const char *const *names,
                             const int64_t *values, int count, void *stream,
                             char *err, size_t err_len);
    void attn_launcher_free(attn_launcher *l);
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import config
from .compiler import MANIFEST
from .errors import AttnLaunchError

LIBRARY_NAME = "libattn_launcher.so"
_ERR_LEN = 4096


def library_candidates() -> List[str]:
    """$ATTN_LAUNCHER, else the library recorded at install, else the
    dynamic loader's search path (attn_mlir.config)."""
    explicit = os.environ.get("ATTN_LAUNCHER")
    if explicit:
        return [explicit]
    recorded = config.recorded_paths().get("launcher")
    return ([recorded] if recorded else []) + [LIBRARY_NAME]


_library: Optional[ctypes.CDLL] = None
_library_lock = threading.Lock()


def load_library() -> ctypes.CDLL:
    global _library
    with _library_lock:
        if _library is not None:
            return _library
        errors = []
        for candidate in library_candidates():
            if os.sep in candidate and not os.path.isfile(candidate):
                errors.append(f"{candidate}: no such file")
                continue
            try:
                lib = ctypes.CDLL(candidate)
            except OSError as error:
                errors.append(f"{candidate}: {error}")
                continue
            lib.attn_launcher_load.restype = ctypes.c_void_p
            lib.attn_launcher_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.attn_launcher_launch.restype = ctypes.c_int
            lib.attn_launcher_launch.argtypes = [
                ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_void_p,
                ctypes.c_char_p, ctypes.c_size_t]
            lib.attn_launcher_free.restype = None
            lib.attn_launcher_free.argtypes = [ctypes.c_void_p]
            _library = lib
            return lib
        raise AttnLaunchError(f"cannot load {LIBRARY_NAME} (set ATTN_LAUNCHER to its path); tried:\n  "
                              + "\n  ".join(errors))


class Launcher:
    """One loaded manifest. Launches its kernels, in order, on a stream."""

    def __init__(self, manifest_path: Path) -> None:
        self._lib = load_library()
        err = ctypes.create_string_buffer(_ERR_LEN)
        handle = self._lib.attn_launcher_load(str(manifest_path).encode(), err, _ERR_LEN)
        if not handle:
            raise AttnLaunchError(f"attn_launcher_load({manifest_path}) failed: "
                                  f"{err.value.decode(errors='replace')}")
        self._handle = handle
        self.manifest_path = manifest_path
        self._names_arrays: Dict[Tuple[str, ...], Any] = {}

    def launch(self, args: Mapping[str, int], stream: int) -> None:
        self.bind(args)(stream)

    def bind(self, args: Mapping[str, int]) -> "BoundLaunch":
        """The launch with these arguments, marshalled once: calling it costs
        one ctypes call (for repeated launches on the same buffers)."""
        names = tuple(args)
        return BoundLaunch(self, self.names_array(names), _values_array(args.values()))

    def values_template(self, names: Tuple[str, ...],
                        values: Sequence[int]) -> "ArgumentTemplate":
        """The C arrays of a launch whose values change from call to call
        only in some slots (a call signature's addresses): its bind() copies
        the marshalled values and writes those slots."""
        return ArgumentTemplate(self, names, values)

    def names_array(self, names: Tuple[str, ...]) -> Any:
        """The C array of these argument names, built once per name list
        (every call of a signature passes the same names)."""
        array = self._names_arrays.get(names)
        if array is None:
            array = self._names_arrays[names] = (ctypes.c_char_p * len(names))(
                *(n.encode() for n in names))
        return array

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.attn_launcher_free(self._handle)
            self._handle = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


class BoundLaunch:
    """A launch whose names and values are already C arrays
    (Launcher.names_array, _values_array)."""

    def __init__(self, launcher: Launcher, names: Any, values: Any) -> None:
        self._launcher = launcher  # keeps the module loaded
        self._count = len(values)
        self._names = names
        self._values = values
        self._err = ctypes.create_string_buffer(_ERR_LEN)

    def __call__(self, stream: int) -> None:
        launcher = self._launcher
        rc = launcher._lib.attn_launcher_launch(launcher._handle, self._names, self._values,
                                                self._count, ctypes.c_void_p(stream or None),
                                                self._err, _ERR_LEN)
        if rc != 0:
            raise AttnLaunchError(f"attn_launcher_launch failed ({rc}) for "
                                  f"{launcher.manifest_path}: "
                                  f"{self._err.value.decode(errors='replace')}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _values_array(values: Iterable[int]) -> Any:
    """The C int64 array of launch values; pointers are passed as int64
    too, wrapped into the signed range."""
    signed = [_signed(int(value)) for value in values]
    return (ctypes.c_int64 * len(signed))(*signed)


class ArgumentTemplate:
    """A launch's names and values marshalled once (Launcher.values_template);
    bind() copies the values array and writes the slots given."""

    def __init__(self, launcher: Launcher, names: Tuple[str, ...],
                 values: Sequence[int]) -> None:
        self._launcher = launcher
        self._names = launcher.names_array(names)
        self._values = _values_array(values)

    def bind(self, slots: Sequence[int], values: Sequence[int]) -> BoundLaunch:
        array = type(self._values).from_buffer_copy(self._values)
        for slot, value in zip(slots, values):
            array[slot] = _signed(value)
        return BoundLaunch(self._launcher, self._names, array)


_launchers: Dict[Tuple[str, Any], Launcher] = {}
# The same launchers by the directory as callers spell it: resolving the
# path (a realpath per component) is skipped on every later call.
_launchers_as_given: Dict[Tuple[str, Any], Launcher] = {}
_launchers_lock = threading.Lock()


def _manifest_state(directory: str) -> Any:
    """The identity of a directory's manifest file (None without one)."""
    try:
        info = os.stat(os.path.join(directory, MANIFEST))
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def launcher_for(artifact_dir: Path) -> Launcher:
    """The launcher of an artifact directory, loaded once per process, and
    again when its manifest changed (an entry compiled again in place: the
    old launcher's kernels are not the entry's any more)."""
    given = str(artifact_dir)
    state = _manifest_state(given)
    launcher = _launchers_as_given.get((given, state))
    if launcher is not None:
        return launcher
    resolved = str(Path(artifact_dir).resolve())
    with _launchers_lock:
        launcher = _launchers.get((resolved, state))
        if launcher is None:
            launcher = _launchers[resolved, state] = Launcher(Path(resolved) / MANIFEST)
        _launchers_as_given[given, state] = launcher
        return launcher


__all__ = ["ArgumentTemplate", "BoundLaunch", "Launcher", "launcher_for", "load_library", "library_candidates"]
