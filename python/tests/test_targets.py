"""The GPU target table (attn_mlir.targets): parsing and checking it, the
device -> target rule, the launch check, and that no chip is hard-coded
in the package or the bench scripts any more."""

import ast
import copy
import inspect
from pathlib import Path

import pytest

import attn_mlir
import standins
from attn_mlir import AttnError, AttnTargetError, TargetTable
from attn_mlir.targets import check_runs_on, check_target

REPO = Path(__file__).resolve().parents[2]
TABLE = TargetTable.from_json(standins.TARGET_TABLE, "stand-in")


@pytest.mark.parametrize("capability, chip", [
    ((8, 0), "sm_80"),
    ((8, 6), "sm_86"),
    ((8, 7), "sm_86"),     # Orin: sm_86 cubins run on 8.7, sm_89 ones do not
    ((8, 9), "sm_89"),
    ((9, 0), "sm_90a"),
    ((10, 0), "sm_100a"),
    ((12, 0), "sm_120a"),
    ((12, 1), "sm_120f"),   # DGX Spark: the 12.x family target
])
def test_device_to_target(capability, chip):
    assert TABLE.for_device(capability).chip == chip


@pytest.mark.parametrize("capability, name", [
    ((10, 3), "NVIDIA B300"),   # sm_100a is arch-specific: 10.0 only
    ((9, 1), "a future Hopper"),
    ((7, 5), "Tesla T4"),      # below every entry of its major (none)
    ((11, 0), "NVIDIA Thor"),
])
def test_devices_without_a_target(capability, name):
    with pytest.raises(AttnTargetError) as info:
        TABLE.for_device(capability, name)
    message = str(info.value)
    assert f"no target for {name} (compute capability {capability[0]}.{capability[1]})" in message
    for chip in TABLE.chips:
        assert chip in message


def test_the_rule_reads_the_table():
    # The same devices under another table: nothing is hard-coded.
    other = standins.table(sm_90a={"arch_specific": False},
                           sm_86={"compute_capability": [8, 7]})
    table = TargetTable.from_json(other)
    assert table.for_device((9, 3)).chip == "sm_90a"      # portable now: later minors too
    assert table.for_device((8, 6)).chip == "sm_80"       # sm_86 moved to 8.7
    only = TargetTable.from_json(dict(standins.TARGET_TABLE,
                                      targets=[standins.TARGET_TABLE["targets"][0]]))
    assert only.for_device((8, 9)).chip == "sm_80"
    with pytest.raises(AttnTargetError, match=r"supports sm_80 \(8.0\+\); pass target="):
        only.for_device((9, 0))


def test_serves():
    sm80, sm90a = TABLE.get("sm_80"), TABLE.get("sm_90a")
    assert sm80.serves((8, 0)) and sm80.serves((8, 9)) and not sm80.serves((9, 0))
    assert sm90a.serves((9, 0)) and not sm90a.serves((9, 1)) and not sm90a.serves((8, 0))
    assert [t.chip for t in TABLE.serving((8, 9))] == ["sm_80", "sm_86", "sm_89"]


def test_table_fields():
    sm90a = TABLE.get("sm_90a")
    assert sm90a.compute_capability == (9, 0) and sm90a.arch_specific
    assert sm90a.kernels == ("wgmma", "mma_sync") and sm90a.default_kernel == "wgmma"
    assert sm90a.quantized_kernels == ("wgmma", "mma_sync")
    assert sm90a.features["max_shared_bytes_per_block"] == 232448
    assert [t.chip for t in TABLE.targets if t.fp8_mma_sync] == ["sm_89", "sm_90a", "sm_120a",
                                                                 "sm_120f"]
    assert TABLE.to_json() == standins.TARGET_TABLE
    with pytest.raises(ValueError, match=r"target = 'sm_75' is not a target of this compiler; "
                                         r"supported: sm_80, sm_86, sm_89, sm_90a, sm_100a, "
                                         r"sm_120a, sm_120f"):
        TABLE.get("sm_75")


def _malformed(edit):
    data = copy.deepcopy(standins.TARGET_TABLE)
    edit(data)
    return data


def _set(index, **fields):
    def edit(data):
        data["targets"][index].update(fields)
    return edit


def _drop(index, name):
    def edit(data):
        del data["targets"][index][name]
    return edit


@pytest.mark.parametrize("data, message", [
    ([], r"not a JSON object"),
    (_malformed(lambda d: d.update(format="attn-kernels")),
     r"not an attn-gpu-targets v1 table \(format 'attn-kernels', version 1\)"),
    (_malformed(lambda d: d.update(version=2)), r"version 2"),
    (_malformed(lambda d: d.update(targets=[])), r"'targets' must be a non-empty list"),
    (_malformed(lambda d: d["targets"].append(42)), r"targets\[7\] = 42 is not an object"),
    (_malformed(_drop(0, "chip")), r"targets\[0\] has no 'chip'"),
    (_malformed(_set(1, chip="ampere")), r"targets\[1\].chip = 'ampere' is not a chip name"),
    (_malformed(_set(2, compute_capability=[8])), r"sm_89: compute_capability = \[8\] is not "
                                                  r"\[major, minor\]"),
    (_malformed(_set(2, compute_capability="8.9")), r"targets\[2\].compute_capability = '8.9' "
                                                    r"is not \[major, minor\]"),
    (_malformed(_set(3, arch_specific="yes")), r"targets\[3\].arch_specific = 'yes' is not a bool"),
    (_malformed(_drop(3, "fp8_mma_sync")), r"targets\[3\] has no 'fp8_mma_sync'"),
    (_malformed(_set(0, kernels="mma_sync")), r"targets\[0\].kernels = 'mma_sync' is not a list"),
    (_malformed(_set(0, kernels=["mma_sync", "mma_sync"])), r"lists a family twice"),
    (_malformed(_set(0, implemented_kernels=["wgmma"])),
     r"sm_80: implemented_kernels \['wgmma'\] are not among its kernels \['mma_sync'\]"),
    (_malformed(_set(3, default_kernel="mma_sync")),
     r"sm_90a: default_kernel = 'mma_sync' but the first implemented family of "
     r"\['wgmma', 'mma_sync'\] is 'wgmma'"),
    (_malformed(_set(0, quantized_kernels=["wgmma"])),
     r"sm_80: quantized_kernels \['wgmma'\] are not among its implemented kernels "
     r"\['mma_sync'\]"),
    (_malformed(lambda d: d["targets"].append(dict(d["targets"][0]))),
     r"chip sm_80 is listed twice \(targets\[0\] and targets\[7\]\)"),
])
def test_malformed_tables(data, message):
    with pytest.raises(AttnError, match=message):
        TargetTable.from_json(data, "stand-in")


def test_table_text():
    assert TargetTable.from_text('{"format": "attn-gpu-targets", "version": 1, "targets": ['
                                 + str(standins.TARGET_TABLE["targets"][0]).replace("'", '"')
                                 .replace("False", "false").replace("True", "true")
                                 + "]}").chips == ("sm_80",)
    with pytest.raises(AttnError, match=r"targets.json: not valid JSON"):
        TargetTable.from_text("{", "targets.json")


def test_a_chip_with_no_implemented_family():
    table = TargetTable.from_json(standins.table(sm_100a={"kernels": ["tcgen05"],
                                                          "implemented_kernels": [],
                                                          "quantized_kernels": [],
                                                          "default_kernel": ""}))
    assert table.get("sm_100a").default_kernel is None
    with pytest.raises(AttnTargetError, match=r"no kernel family is not implemented for sm_100a "
                                              r"yet \(implemented: none\)"):
        check_target(table, "sm_100a")


def test_check_target_fp8_depends_on_the_table_and_family():
    sage8 = [("precision", attn_mlir.Precision.preset("sage2-8b"))]
    assert check_target(TABLE, "sm_89", None, sage8).chip == "sm_89"
    with pytest.raises(AttnTargetError, match=r"which sm_80 does not have"):
        check_target(TABLE, "sm_80", "mma_sync", sage8)
    # The flag, not the chip's name, decides.
    table = TargetTable.from_json(standins.table(sm_80={"fp8_mma_sync": True},
                                                 sm_89={"fp8_mma_sync": False}))
    assert check_target(table, "sm_80", None, sage8).chip == "sm_80"
    with pytest.raises(AttnTargetError, match=r"chips with it: sm_80, sm_90a, sm_120a"):
        check_target(table, "sm_89", None, sage8)
    # The e4m3 mma.sync matters to the mma.sync family only: a quantized
    # precision defaults to the first family that quantizes.
    no_fp8 = {"implemented_kernels": ["wgmma", "mma_sync"], "default_kernel": "wgmma",
              "fp8_mma_sync": False}
    wgmma = TargetTable.from_json(standins.table(
        sm_90a=dict(no_fp8, quantized_kernels=["wgmma", "mma_sync"])))
    assert check_target(wgmma, "sm_90a", None, sage8).chip == "sm_90a"
    with pytest.raises(AttnTargetError, match=r"sm_90a does not have"):
        check_target(wgmma, "sm_90a", "mma_sync", sage8)
    # Where wgmma runs 16-bit precisions only, sage2-8b defaults to mma_sync.
    sixteen_bit = TargetTable.from_json(standins.table(
        sm_90a=dict(no_fp8, quantized_kernels=["mma_sync"])))
    assert check_target(sixteen_bit, "sm_90a", None).chip == "sm_90a"
    with pytest.raises(AttnTargetError, match=r"sm_90a does not have"):
        check_target(sixteen_bit, "sm_90a", None, sage8)


NVFP4 = attn_mlir.Precision.preset("nvfp4")


def test_block_scaled_mma_flag():
    assert [t.chip for t in TABLE.targets if t.block_scaled_mma] == ["sm_120a", "sm_120f"]
    # Optional (an attn-opt older than NVFP4 does not print it), a bool
    # when present.
    data = copy.deepcopy(standins.TARGET_TABLE)
    for entry in data["targets"]:
        del entry["block_scaled_mma"]
    assert not any(t.block_scaled_mma for t in TargetTable.from_json(data).targets)
    with pytest.raises(AttnError, match=r"targets\[5\].block_scaled_mma = 1 is not a bool"):
        TargetTable.from_json(_malformed(_set(5, block_scaled_mma=1)), "stand-in")


@pytest.mark.parametrize("precision, operands", [
    (NVFP4, "Q.K and P.V"),
    (attn_mlir.Precision(qk="f4E2M1FN", smooth_k=True, pv="bf16"), "Q.K"),
    (attn_mlir.Precision(pv="f4E2M1FN"), "P.V"),
])
def test_check_target_nvfp4_needs_the_block_scaled_mma(precision, operands):
    uses = [("precision", precision)]
    for chip in ("sm_120a", "sm_120f"):
        assert check_target(TABLE, chip, None, uses).chip == chip
    # Chips with the E4M3 conversions: refused unless emulated, and the
    # message says how.
    for chip in ("sm_89", "sm_90a"):
        with pytest.raises(AttnTargetError) as info:
            check_target(TABLE, chip, None, uses)
        message = str(info.value)
        assert f"({operands} in NVFP4 f4E2M1FN) needs the block-scaled mma.sync, which " \
               f"{chip} does not have" in message
        assert "chips with it: sm_120a, sm_120f" in message
        assert f"Pass emulate_block_scaled=True to compile the same kernels for {chip}" in message
        assert check_target(TABLE, chip, None, uses, emulate_block_scaled=True).chip == chip
    # Without the E4M3 conversions (the stand-in's sm_100a has none) there
    # is no emulation either.
    for chip in ("sm_80", "sm_86", "sm_100a"):
        with pytest.raises(AttnTargetError, match=rf"which {chip} does not have .* {chip} cannot "
                                                  r"emulate it either .*chips where it applies: "
                                                  r"sm_89, sm_90a\)"):
            check_target(TABLE, chip, None, uses)


def test_check_target_nvfp4_in_a_head_group():
    heads = attn_mlir.Heads(groups=[attn_mlir.HeadGroup([1], precision="nvfp4")])
    uses = [("precision", None), ("heads.groups[0].precision", heads.groups[0].precision)]
    with pytest.raises(AttnTargetError, match=r"heads.groups\[0\].precision "
                                              r"#attn.precision<nvfp4> .* which sm_90a"):
        check_target(TABLE, "sm_90a", None, uses)
    assert check_target(TABLE, "sm_90a", None, uses, emulate_block_scaled=True).chip == "sm_90a"


def test_check_target_refuses_emulation_where_the_compiler_does():
    # Whatever the precision, as attn-opt's emulate-block-scaled-mma.
    for uses in ([("precision", NVFP4)], [], [("precision", attn_mlir.Precision.preset("fp8"))]):
        with pytest.raises(AttnTargetError, match=r"emulate_block_scaled=True: sm_120a runs the "
                                                  r"block-scaled mma.sync natively"):
            check_target(TABLE, "sm_120a", None, uses, emulate_block_scaled=True)
        with pytest.raises(AttnTargetError, match=r"emulate_block_scaled=True: sm_80 lacks the "
                                                  r"E4M3 conversions the emulation uses "
                                                  r"\(fp8_mma_sync is false in the target "
                                                  r"table\); the emulation runs on sm_89, "
                                                  r"sm_90a$"):
            check_target(TABLE, "sm_80", None, uses, emulate_block_scaled=True)
    # Harmless for precisions without NVFP4 where it applies.
    assert check_target(TABLE, "sm_90a", None, [], emulate_block_scaled=True).chip == "sm_90a"
    # The flags decide, not the chips' names.
    table = TargetTable.from_json(standins.table(sm_80={"fp8_mma_sync": True},
                                                 sm_120a={"block_scaled_mma": False}))
    assert check_target(table, "sm_80", None, [("precision", NVFP4)],
                        emulate_block_scaled=True).chip == "sm_80"
    with pytest.raises(AttnTargetError, match=r"chips with it: sm_120f\. .*chips where it "
                                              r"applies: sm_80, sm_89, sm_90a, sm_120a\)"):
        check_target(table, "sm_120a", None, [("precision", NVFP4)])


@pytest.mark.parametrize("chip, capability, ok", [
    ("sm_80", (8, 0), True), ("sm_80", (8, 6), True), ("sm_80", (9, 0), False),
    ("sm_89", (8, 6), False), ("sm_90a", (9, 0), True), ("sm_90a", (8, 0), False),
    ("sm_100a", (10, 3), False), ("sm_120a", (12, 0), True),
])
def test_manifest_chip_against_the_device(chip, capability, ok):
    if ok:
        assert check_runs_on(chip, TABLE, capability, "GPU").chip == chip
    else:
        with pytest.raises(AttnTargetError, match=rf"compiled for {chip} .* cannot run on GPU"):
            check_runs_on(chip, TABLE, capability, "GPU")


def test_manifest_chip_errors():
    with pytest.raises(AttnTargetError, match=r"entry: the manifest names no chip \(got None\)"):
        check_runs_on(None, TABLE, (9, 0), "H100", "entry")
    with pytest.raises(AttnTargetError, match=r"compiled for sm_90a .* cannot run on A100 "
                                              r"\(compute capability 8.0\); compile for sm_80 "
                                              r"instead"):
        check_runs_on("sm_90a", TABLE, (8, 0), "A100")
    with pytest.raises(AttnTargetError, match=r"no target of this compiler runs on it"):
        check_runs_on("sm_90a", TABLE, (7, 5), "T4")


# -- nothing hard-coded ---------------------------------------------------------

def _string_literals(path):
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_the_package_hard_codes_no_chip():
    import re
    chip = re.compile(r"\bsm_\d+[af]?\b")
    found = [f"{path.relative_to(REPO)}:{line}: {text!r}"
             for path in sorted((REPO / "python" / "attn_mlir").rglob("*.py"))
             for line, text in _string_literals(path) if chip.search(text)]
    # Error messages may give examples of the form; none is a default.
    allowed = {"'sm_80', 'sm_90a' or 'sm_120f'"}
    assert [f for f in found if not any(a in f for a in allowed)] == []


def test_bench_has_no_old_chip_defaults():
    import re
    old = re.compile(r"\bsm_90\b(?!a)|\bchip\s*=|default_target")
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
             for path in sorted((REPO / "bench").glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if old.search(line)]
    assert found == []


@pytest.mark.parametrize("function", [attn_mlir.attention, attn_mlir.prepare,
                                      attn_mlir.plan_call])
def test_emulate_block_scaled_argument(function):
    parameter = inspect.signature(function).parameters["emulate_block_scaled"]
    assert parameter.default is False and parameter.kind == parameter.KEYWORD_ONLY


@pytest.mark.parametrize("function", [attn_mlir.attention, attn_mlir.prepare,
                                      attn_mlir.plan_call, attn_mlir.spec_for_shapes,
                                      attn_mlir.calibrate])
def test_no_chip_argument(function):
    parameters = inspect.signature(function).parameters
    assert "chip" not in parameters
    if "target" in parameters:
        assert parameters["target"].default is None
    assert "chip" not in inspect.signature(attn_mlir.AttentionSpec).parameters
    assert inspect.signature(attn_mlir.AttentionSpec).parameters["target"].default is None
