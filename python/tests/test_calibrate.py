"""calibrate()'s selection on given measurements and its argument checks
(no torch, no GPU: the measuring part needs both and runs on the GPU
machine)."""

import math
import warnings

import pytest

from attn_mlir import CalibrationError, Precision, calibrate
from attn_mlir.calibration import (DEFAULT_THRESHOLD, Measurement, candidate_list, check_metric,
                                   check_threshold, select_precision)

SAGE1 = Precision.preset("sage1")
SAGE8 = Precision.preset("sage2-8b")
SAGE4 = Precision.preset("sage2-4b")


def measured(name, precision, cos, l1, ms, error=None):
    return Measurement(name, precision, cos, l1, ms, error)


# On the H200 the emulated FP8 mma.sync makes sage2-* slower than sage1.
H200 = [measured("sage2_4b", SAGE4, 0.9820, 0.190, 9.0),
        measured("sage2_8b", SAGE8, 0.9993, 0.036, 8.0),
        measured("sage1", SAGE1, 0.99993, 0.012, 4.0),
        measured("unquantized", None, 0.999999, 0.002, 7.0)]
# On an Ada GPU the 4-bit and FP8 kernels are the fast ones.
ADA = [measured("sage2_4b", SAGE4, 0.9920, 0.110, 2.0),
       measured("sage2_8b", SAGE8, 0.9993, 0.036, 3.0),
       measured("sage1", SAGE1, 0.99993, 0.012, 4.0),
       measured("unquantized", None, 0.999999, 0.002, 7.0)]


@pytest.mark.parametrize("data, threshold, metric, chosen", [
    (H200, 0.999, "cos", "sage1"),            # measured ranking: sage1 is the fastest here
    (H200, 0.99999, "cos", "unquantized"),
    (ADA, 0.99, "cos", "sage2_4b"),
    (ADA, 0.999, "cos", "sage2_8b"),
    (ADA, 0.9995, "cos", "sage1"),
    (ADA, 0.2, "rel_l1", "sage2_4b"),
    (ADA, 0.04, "rel_l1", "sage2_8b"),
    (ADA, 0.036, "rel_l1", "sage2_8b"),        # the bound is inclusive
    (ADA, 0.0359, "rel_l1", "sage1"),
    (ADA, 0.005, "rel-L1", "unquantized"),
    (H200, 0.9999985, "cos", "unquantized"),
])
def test_fastest_that_meets_the_threshold(data, threshold, metric, chosen):
    result = select_precision(data, threshold, metric)
    assert result.name == chosen and not result.fallback
    assert result.precision == {"sage1": SAGE1, "sage2_8b": SAGE8, "sage2_4b": SAGE4,
                                "unquantized": None}[chosen]
    # Ranked by measured time, fastest first.
    times = [m.time_ms for m in result.candidates]
    assert times == sorted(times)


def test_default_thresholds():
    assert select_precision(ADA).name == "sage2_8b"                    # cos >= 0.999
    assert select_precision(ADA, metric="rel_l1").name == "sage2_8b"   # rel-L1 <= 0.04
    assert DEFAULT_THRESHOLD == {"cos": 0.999, "rel_l1": 0.04}


def test_ties_go_to_the_more_accurate_then_the_earlier():
    a = measured("a", SAGE8, 0.9991, 0.030, 5.00)
    b = measured("b", SAGE1, 0.9999, 0.010, 5.05)   # within 2% of a: a tie, more accurate
    c = measured("c", None, 1.0, 0.001, 5.20)       # 4% slower: not a tie
    assert select_precision([a, b, c], 0.999).name == "b"
    assert select_precision([a, b, c], 0.05, "rel_l1").name == "b"
    assert select_precision([a, b, c], 0.999, tie_tolerance=0).name == "a"
    assert select_precision([a, b, c], 0.999, tie_tolerance=0.05).name == "c"
    # Equal time and accuracy: the earlier candidate.
    d = measured("d", SAGE4, 0.9995, 0.02, 3.0)
    e = measured("e", SAGE8, 0.9995, 0.02, 3.0)
    assert select_precision([d, e], 0.999).name == "d"
    assert select_precision([e, d], 0.999).name == "e"


def test_failed_and_nan_candidates_are_never_chosen():
    data = [measured("sage2_4b", SAGE4, math.nan, math.nan, 1.0),
            Measurement("sage2_8b", SAGE8, error="AttnArtifactsMissing: kernel not in cache"),
            measured("sage1", SAGE1, 0.99993, 0.012, 4.0)]
    result = select_precision(data, 0.9)
    assert result.name == "sage1"
    assert [m.name for m in result.candidates] == ["sage1", "sage2_4b", "sage2_8b"]
    text = result.table()
    assert "error: AttnArtifactsMissing: kernel not in cache" in text
    assert "sage1" in text and "<- chosen" in text


def test_nothing_meets_the_threshold_falls_back_to_unquantized():
    data = [measured("sage2_8b", SAGE8, 0.9993, 0.036, 3.0),
            measured("sage1", SAGE1, 0.99993, 0.012, 4.0)]
    with pytest.warns(RuntimeWarning, match=r"no candidate meets cos >= 0.99999; the closest "
                                            r"was sage1 with cos 0.99993; using the unquantized"):
        result = select_precision(data, 0.99999)
    assert result.precision is None and result.name == "unquantized" and result.fallback
    assert "fallback" in str(result)
    with pytest.raises(CalibrationError, match=r"no candidate meets rel_l1 <= 0.001; the closest "
                                               r"was sage1 with rel_l1 0.012"):
        select_precision(data, 0.001, "rel_l1", strict=True)
    # Every candidate failed.
    with pytest.warns(RuntimeWarning, match=r"no candidate meets cos >= 0.999; using"):
        result = select_precision([Measurement("sage1", SAGE1, error="x")], 0.999)
    assert result.fallback


@pytest.mark.parametrize("call, error, message", [
    (lambda: check_metric("l2"), ValueError, r"metric = 'l2' is not one of cos, rel_l1"),
    (lambda: check_metric(None), TypeError, r"metric must be a string"),
    (lambda: check_threshold(1.5, "cos"), ValueError, r"threshold = 1.5 is out of range for metric 'cos'"),
    (lambda: check_threshold(0, "cos"), ValueError, r"threshold = 0 is out of range for metric 'cos'"),
    (lambda: check_threshold(-0.1, "rel_l1"), ValueError, r"threshold = -0.1 is out of range for metric 'rel_l1'"),
    (lambda: check_threshold(math.inf, "rel_l1"), ValueError, r"threshold = inf is out of range"),
    (lambda: check_threshold(math.nan, "cos"), ValueError, r"threshold = nan is out of range"),
    (lambda: check_threshold("0.99", "cos"), TypeError, r"threshold must be a number, got '0.99'"),
    (lambda: check_threshold(True, "cos"), TypeError, r"threshold must be a number, got True"),
    (lambda: select_precision(H200, 0.99, "cosine"), ValueError, r"metric = 'cosine' is not one of"),
    (lambda: select_precision(H200, 2, "cos"), ValueError, r"threshold = 2 is out of range"),
    (lambda: select_precision(H200, 0.99, tie_tolerance=-1), ValueError, r"tie_tolerance = -1 must be"),
    (lambda: select_precision([], 0.99), ValueError, r"no measurements"),
    (lambda: candidate_list(["sage1", "sage9"]), ValueError, r"unknown preset 'sage9'"),
    (lambda: candidate_list(["sage2-8b", Precision.preset("sage2_8b")]), ValueError,
     r"candidate .* is listed twice \(as 'sage2_8b'\)"),
    (lambda: candidate_list([None, "unquantized"]), ValueError, r"listed twice \(as 'unquantized'\)"),
    (lambda: candidate_list([]), ValueError, r"candidates is empty"),
    (lambda: candidate_list("sage1"), TypeError, r"candidates must be a list of precisions"),
    (lambda: candidate_list([42]), TypeError, r"calibrate: candidate must be a Precision"),
    # calibrate() checks its arguments before it needs torch or a GPU.
    (lambda: calibrate(None, None, None, metric="mse"), ValueError, r"metric = 'mse' is not one of"),
    (lambda: calibrate(None, None, None, threshold=1.01), ValueError, r"threshold = 1.01 is out of range"),
    (lambda: calibrate(None, None, None, candidates=["sage7"]), ValueError, r"unknown preset 'sage7'"),
    (lambda: calibrate(None, None, None, precision="sage1"), TypeError, r"precision is not an argument here"),
    (lambda: calibrate(None, None, None, out=1), TypeError, r"out is not an argument here"),
    (lambda: calibrate(None, None, None, repeats=0), ValueError, r"repeats = 0 must be an int >= 1"),
])
def test_argument_errors_name_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_candidate_list():
    assert candidate_list(None) == [("sage2_4b", SAGE4), ("sage2_8b", SAGE8), ("sage1", SAGE1),
                                    ("unquantized", None)]
    custom = Precision(qk="i8", qk_granularity="token", smooth_k=True, pv="bf16")
    assert candidate_list(["unquantized", {"preset": "sage1", "pv_accum": "f32"}, custom]) == [
        ("unquantized", None),
        ("#attn.precision<qk = i8, qk_granularity = block(64), smooth_k, pv = f16>",
         Precision.preset("sage1", pv_accum="f32")),
        ("#attn.precision<qk = i8, qk_granularity = token, smooth_k, pv = bf16>", custom)]


def test_table_text():
    result = select_precision(ADA, 0.999)
    lines = result.table().splitlines()
    assert lines[0] == "calibrate: cos >= 0.999: chose sage2_8b"
    assert lines[2].split()[:4] == ["sage2_4b", "2.000", "0.992000", "0.1100"]
    assert lines[2].endswith("no")
    assert lines[3].endswith("yes  <- chosen")
    # Thresholds print with all their digits.
    with pytest.warns(RuntimeWarning, match=r"cos >= 0.9999999;"):
        select_precision(H200, 0.9999999)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        select_precision(ADA, 0.999)   # no warning when something meets it
