"""attn_mlir.manifest mirrors runtime/include/attn/manifest_schema.h, the
manifest schema's one definition: each `#define ATTN_MANIFEST_<NAME> value`
is the constant <NAME> of the module with an equal value, and the module
has no other constant. A key added or renamed on one side only fails here."""

import re
from pathlib import Path

import pytest

from attn_mlir import compiler, manifest

HEADER = Path(__file__).resolve().parents[2] / "runtime" / "include" / "attn" / "manifest_schema.h"
PREFIX = "ATTN_MANIFEST_"
GUARD = "ATTN_MANIFEST_SCHEMA_H"

_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)(?:\s+(.*?))?\s*$")
_STRING = re.compile(r'^"([^"\\]*)"$')
_INTEGER = re.compile(r"^-?\d+$")


def strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", text), flags=re.S)


def header_macros(text: str) -> dict:
    """{NAME: value} of the header's `#define NAME "string"` and
    `#define NAME integer`. Any other #define but the include guard is an
    error: the mirror could not check it."""
    macros = {}
    for line in strip_comments(text).splitlines():
        match = _DEFINE.match(line)
        if not match:
            continue
        name, value = match.group(1), match.group(2)
        if name == GUARD and value is None:
            continue
        assert value is not None, f"#define {name} has no value"
        string, integer = _STRING.match(value), _INTEGER.match(value)
        assert string or integer, (f"#define {name} {value}: neither a plain string nor an "
                                   "integer literal (extend this test's parser)")
        assert name not in macros, f"#define {name} twice"
        macros[name] = string.group(1) if string else int(value)
    return macros


def python_constants() -> dict:
    """The module's public upper-case str/int constants."""
    return {name: value for name, value in vars(manifest).items()
            if name.isupper() and not name.startswith("_") and isinstance(value, (str, int))}


def test_the_parser_reads_strings_integers_and_skips_the_guard():
    text = ('#ifndef ATTN_MANIFEST_SCHEMA_H\n#define ATTN_MANIFEST_SCHEMA_H\n'
            '/* #define ATTN_MANIFEST_COMMENTED "x" */\n'
            '#define ATTN_MANIFEST_A "a_b" /* trailing */\n'
            '  #  define ATTN_MANIFEST_N 12\n#endif\n')
    assert header_macros(text) == {"ATTN_MANIFEST_A": "a_b", "ATTN_MANIFEST_N": 12}
    with pytest.raises(AssertionError, match="neither"):
        header_macros("#define ATTN_MANIFEST_X (1 + 1)\n")


def test_every_macro_has_an_equal_python_constant_and_vice_versa():
    macros = header_macros(HEADER.read_text(encoding="utf-8"))
    assert len(macros) >= 30, f"suspiciously few macros parsed from {HEADER}"
    outside = sorted(name for name in macros if not name.startswith(PREFIX))
    assert not outside, f"{HEADER.name}: macros without the {PREFIX} prefix: {outside}"
    expected = {name[len(PREFIX):]: value for name, value in macros.items()}
    actual = python_constants()
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    assert not missing, f"in {HEADER.name} but not in attn_mlir/manifest.py: {missing}"
    assert not extra, f"in attn_mlir/manifest.py but not in {HEADER.name}: {extra}"
    differ = {name: (expected[name], actual[name]) for name in expected
              if expected[name] != actual[name] or type(expected[name]) is not type(actual[name])}
    assert not differ, f"(header, python) values differ: {differ}"


def test_values_are_unique_within_each_group():
    # Two keys, two types or two arguments spelled alike would be read as one.
    constants = python_constants()
    for prefix in ("KEY_", "PARAM_", "BINARY_", "ARG_", "DATA_"):
        group = {n: v for n, v in constants.items() if n.startswith(prefix)}
        assert len(set(group.values())) == len(group), f"{prefix}* values repeat: {group}"


def test_stride_names_and_compiler_aliases():
    assert manifest.stride_name(manifest.ARG_GATES, "q") == "gates_stride_q"
    assert (compiler.MANIFEST_FORMAT, compiler.MANIFEST_VERSION) == ("attn-kernels", 1)


def test_tensor_map_argument_names():
    # The names a tensor_map param is encoded from: its tensor, then the
    # {arg} factors of dims and strides, each once, in first-use order.
    tensor_map = {manifest.KEY_TENSOR: "k", manifest.KEY_DATA_TYPE: manifest.DATA_BF16,
                  manifest.KEY_DIMS: [[128], [{"arg": "seq_k", "ceil_div": 64}, 64], [2],
                                      [{"arg": "batch"}]],
                  manifest.KEY_STRIDES: [[{"arg": "k_stride_n"}, 2], [{"arg": "k_stride_h"}, 2],
                                         [{"arg": "seq_k"}, {"arg": "k_stride_b"}]],
                  manifest.KEY_BOX: [64, 128, 1, 1], manifest.KEY_SWIZZLE: 128}
    assert manifest.tensor_map_argument_names(tensor_map) == [
        "k", "seq_k", "batch", "k_stride_n", "k_stride_h", "k_stride_b"]
    param = {manifest.KEY_NAME: "k_tensor_map", manifest.KEY_TYPE: manifest.PARAM_TENSOR_MAP,
             manifest.KEY_TENSOR_MAP: tensor_map}
    assert manifest.param_argument_names(param)[0] == "k"
    assert manifest.param_argument_names({manifest.KEY_NAME: "q",
                                          manifest.KEY_TYPE: manifest.PARAM_PTR}) == ["q"]
