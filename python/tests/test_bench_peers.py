"""bench/peers.py and its use in bench/bench_masks.py: a peer that did not
really run compiled (or on the SDPA backend its column names) is reported
as failed, never as a ratio. Dynamo's counters, torch.compile and the
profiler are stand-ins here; the real ones run on the GPU machine."""

import contextlib
import sys
import time
import types
from collections import Counter, defaultdict
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import peers  # noqa: E402
from peers import (CompileTimeout, compile_and_check, deadline, delta, judge_compile,  # noqa: E402
                   judge_sdpa, judge_steady, snapshot)


def counters(**groups):
    """Dynamo's counters: a defaultdict of Counters."""
    result = defaultdict(Counter)
    for group, values in groups.items():
        result[group].update(values)
    return result


class Unsupported(Exception):
    """Stand-in for torch._dynamo.exc.Unsupported (what fullgraph=True raises at a graph break)."""


class FailOnRecompileLimitHit(Exception):
    pass


class BackendCompilerFailed(Exception):
    pass


# -- the decision on counter deltas ----------------------------------------------

def test_snapshot_and_delta():
    live = counters(stats={"unique_graphs": 2, "calls_captured": 10}, graph_break={"x": 1})
    before = snapshot(live)
    assert before == {"stats": {"unique_graphs": 2, "calls_captured": 10}, "graph_break": {"x": 1}}
    live["stats"]["unique_graphs"] += 1
    live["frames"]["total"] += 2
    assert delta(before, snapshot(live)) == {"stats": {"unique_graphs": 1}, "frames": {"total": 2}}
    assert delta(before, before) == {}
    assert before["stats"]["unique_graphs"] == 2  # a copy, not a view


def test_a_clean_compile_passes():
    verdict = judge_compile({"stats": {"unique_graphs": 1, "calls_captured": 40}}, {}, 35.0, 120.0)
    assert verdict.ok and "compiled in 35.0 s, 1 graph(s)" in verdict.detail


@pytest.mark.parametrize("first, steady, seconds, short, detail", [
    # The issue: Dynamo could not trace _safe_softmax, broke the graph, ran eagerly.
    ({"graph_break": {"Could not trace _safe_softmax": 1}, "stats": {"unique_graphs": 1}}, {},
     171.0, "compile took 171 s > 120 s", r"took 171.0 s, over the 120 s limit"),
    ({"graph_break": {"Could not trace _safe_softmax": 1}, "stats": {"unique_graphs": 1}}, {},
     20.0, "graph break (eager fallback)", r"Could not trace _safe_softmax \(x1\)"),
    ({"frames": {"total": 1}}, {}, 1.0, "no compiled graph", r"produced no compiled graph"),
    ({}, {}, 0.1, "no compiled graph", r"unchanged"),
    ({"stats": {"unique_graphs": 1}, "unimplemented": {"cache_size_limit reached": 1}}, {}, 5.0,
     "recompile limit", r"recompile limit"),
    ({"stats": {"unique_graphs": 1}}, {"stats": {"unique_graphs": 1}, "frames": {"total": 1}}, 5.0,
     "recompiled in warm-up", r"stats.unique_graphs"),
    ({"stats": {"unique_graphs": 1}}, {"graph_break": {"guard failed": 1}}, 5.0,
     "recompiled in warm-up", r"guard failed"),
])
def test_fallbacks_fail(first, steady, seconds, short, detail):
    verdict = judge_compile(first, steady, seconds, 120.0)
    assert not verdict.ok
    assert verdict.short == short
    import re
    assert re.search(detail, verdict.detail), verdict.detail


@pytest.mark.parametrize("error, short", [
    (Unsupported("Could not trace _safe_softmax"), "graph break: Unsupported"),
    (FailOnRecompileLimitHit("recompile_limit reached with fullgraph=True"),
     "recompile limit: FailOnRecompileLimitHit"),
    (BackendCompilerFailed("backend='inductor' raised: LoweringException"),
     "compile error: BackendCompilerFailed"),
    (RuntimeError("No available kernel. Aborting execution."), "backend unavailable: RuntimeError"),
    (ValueError("bad"), "compile error: ValueError"),
    (CompileTimeout("stopped after 120 s"), "compile > 120 s"),
])
def test_compile_exceptions_fail(error, short):
    verdict = judge_compile({}, {}, 1.0, 120.0, error)
    assert not verdict.ok and verdict.short == short


def test_judge_steady():
    assert judge_steady({}).ok
    assert judge_steady({"inductor": {"cudagraph_recorded": 1}}).ok  # not a compile
    verdict = judge_steady({"stats": {"unique_graphs": 1}})
    assert not verdict.ok and verdict.short == "recompiled during timing"


# -- the first call, the warm-up and the compile time, with a stand-in Dynamo ----

class FakeCompiled:
    """A torch.compile'd function as Dynamo's counters see it."""

    def __init__(self, live, graphs_first=1, breaks_first=0, recompile_every_call=False,
                 raise_first=None, seconds_first=0.0):
        self.live, self.calls = live, 0
        self.graphs_first, self.breaks_first = graphs_first, breaks_first
        self.recompile_every_call, self.raise_first = recompile_every_call, raise_first
        self.seconds_first = seconds_first

    def __call__(self):
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.seconds_first)
            if self.raise_first is not None:
                raise self.raise_first
            self.live["stats"]["unique_graphs"] += self.graphs_first
            if self.breaks_first:
                self.live["graph_break"]["Could not trace _safe_softmax"] += self.breaks_first
        elif self.recompile_every_call:
            self.live["stats"]["unique_graphs"] += 1
            self.live["frames"]["total"] += 1
        return "out"


def test_compile_and_check_passes_a_real_compile():
    live = counters()
    fn = FakeCompiled(live)
    synced = []
    verdict, seconds = compile_and_check(fn, live, 120.0, warmup=3, sync=lambda: synced.append(1))
    assert verdict.ok, verdict
    assert fn.calls == 4 and synced  # the compile, then 3 warm-up calls
    assert seconds < 120.0


@pytest.mark.parametrize("fake, short", [
    (dict(graphs_first=0), "no compiled graph"),
    (dict(breaks_first=1), "graph break (eager fallback)"),
    (dict(recompile_every_call=True), "recompiled in warm-up"),
    (dict(raise_first=Unsupported("Could not trace _safe_softmax")), "graph break: Unsupported"),
])
def test_compile_and_check_catches_fallbacks(fake, short):
    live = counters()
    verdict, _ = compile_and_check(FakeCompiled(live, **fake), live, 120.0)
    assert not verdict.ok and verdict.short == short


def test_a_slow_compile_is_judged_by_the_clock():
    live = counters()
    ticks = iter([0.0, 171.0])
    verdict, seconds = compile_and_check(FakeCompiled(live), live, 120.0, clock=lambda: next(ticks))
    assert seconds == 171.0
    assert not verdict.ok and verdict.short == "compile took 171 s > 120 s"


def test_a_compile_past_the_limit_is_stopped():
    live = counters()
    fn = FakeCompiled(live, seconds_first=5.0)
    start = time.perf_counter()
    verdict, seconds = compile_and_check(fn, live, 0.2)
    assert time.perf_counter() - start < 3.0  # stopped, not waited for
    assert not verdict.ok and verdict.short == "compile > 0.2 s"
    assert "stopped after 0.2 s" in verdict.detail and fn.calls == 1


def test_a_timeout_wrapped_by_dynamo_still_counts_as_a_timeout():
    live = counters()

    def wrapping():
        try:
            time.sleep(5.0)
        except CompileTimeout as inner:
            raise BackendCompilerFailed("backend raised") from inner
    verdict, _ = compile_and_check(wrapping, live, 0.2)
    assert not verdict.ok and verdict.short == "compile > 0.2 s"
    assert "surfaced as BackendCompilerFailed" in verdict.detail


def test_deadline_is_disarmed_afterwards():
    with deadline(0.5) as alarm:
        assert alarm.armed
    time.sleep(0.7)  # no late alarm
    assert not alarm.fired
    with deadline(None) as alarm:
        assert not alarm.armed
    with pytest.raises(CompileTimeout):
        with deadline(0.05):
            time.sleep(2.0)


# -- SDPA backends ------------------------------------------------------------

FLASH = "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4>, true>"
CUDNN = "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7_64x128x128_4x1x1"
EFFICIENT = "fmha_cutlassF_bf16_aligned_64x128_rf_sm80(PyTorchMemEffAttention::AttentionKernel)"
MATH = ["sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "softmax_warp_forward"]


@pytest.mark.parametrize("backend, kernels, ok, short", [
    ("flash", [FLASH], True, ""),
    ("cudnn", [CUDNN, "elementwise_kernel"], True, ""),
    ("flash", MATH, False, "ran math kernels"),
    ("cudnn", [FLASH], False, "ran flash kernels"),
    ("cudnn", [EFFICIENT], False, "ran efficient kernels"),
    ("flash", ["elementwise_kernel"], False, "no flash kernel"),
])
def test_sdpa_backend_from_kernel_names(backend, kernels, ok, short):
    verdict = judge_sdpa(backend, kernels)
    assert verdict.ok == ok and verdict.short == short


def test_sdpa_without_kernel_names_is_not_confirmed():
    verdict = judge_sdpa("flash", [])
    assert verdict.ok and "not confirmed" in verdict.detail


# -- the table -----------------------------------------------------------------

def test_a_failed_peer_gets_no_ratio(capsys):
    import bench_masks
    row = {"case": "causal-16384", "N": 16384, "density": 0.5, "ours_ms": 0.3, "ours_tflops": 450,
           "err": 1e-3, "ok": True, "compile_s": 0.4,
           "peers": {"flash": {"ms": 0.33, "tflops": 410, "note": "err 1.0e-03"},
                     "cudnn": peers.failed_entry(judge_sdpa("cudnn", MATH)),
                     "flex": peers.failed_entry(judge_compile(
                         {"graph_break": {"Could not trace _safe_softmax": 1}}, {}, 171.0, 120.0))}}
    assert bench_masks._fmt_peer(row, "flash") == ("0.330 ms / 410", "1.10")
    assert bench_masks._fmt_peer(row, "cudnn") == ("—", "failed (ran math kernels)")
    assert bench_masks._fmt_peer(row, "flex") == ("—", "failed (compile took 171 s > 120 s)")
    assert bench_masks._fmt_peer(row, "flex-tiled") == ("—", "—")
    bench_masks.print_table([row])
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("| causal-16384"))
    assert "failed (compile took 171 s > 120 s)" in line and "570" not in line  # no 171/0.3 ratio
    assert "Peers reported as failed" in out
    assert "- causal-16384: flex: failed (compile took 171 s > 120 s)" in out
    assert "took 171.0 s, over the 120 s limit" in out
    assert "asked for the cudnn backend but the call ran math kernels" in out


def test_the_quantized_table_too(capsys):
    import bench_masks
    row = {"case": "dense-16384-sage1", "N": 16384, "precision": "sage1", "quant": True,
           "density": 1.0, "ours_ms": 5.0, "ours_tops": 500, "cos": 0.9999, "rel_l1": 0.01,
           "ok": True, "compile_s": None, "bf16_ms": 6.0,
           "peers": {"flash": {"ms": 6.2},
                     "cudnn": peers.failed_entry(peers.verdict_from_error(
                         RuntimeError("No available kernel. Aborting execution."), "SDPA"))}}
    bench_masks.print_quant_table([row])
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("| dense-16384-sage1"))
    assert "1.24 (6.200 ms)" in line and "failed (backend unavailable: RuntimeError)" in line
    assert "SDPA: RuntimeError: No available kernel" in out


# -- bench_masks.Flex and sdpa_verdict with a stand-in torch ------------------------

@pytest.fixture
def fake_torch(monkeypatch):
    live = counters()
    compiled = []
    resets = []

    def compile(fn, **options):
        compiled.append((fn, options))

        def run(*args):
            if not getattr(run, "done", False):
                run.done = True
                live["stats"]["unique_graphs"] += 1
            return fn(*args)
        return run

    torch = types.ModuleType("torch")
    torch.compile = compile
    torch._dynamo = types.SimpleNamespace(
        config=types.SimpleNamespace(suppress_errors=True, fail_on_recompile_limit_hit=False),
        utils=types.SimpleNamespace(counters=live), reset=lambda: resets.append(1))
    torch.cuda = types.SimpleNamespace(synchronize=lambda: None)
    flex_module = types.ModuleType("torch.nn.attention.flex_attention")
    flex_module.flex_attention = lambda q, k, v, block_mask=None, scale=None: ("flex", block_mask)
    flex_module.create_block_mask = lambda *args, **kwargs: "block"
    events = []

    @contextlib.contextmanager
    def profile(activities):
        yield types.SimpleNamespace(events=lambda: events)
    profiler = types.ModuleType("torch.profiler")
    profiler.profile = profile
    profiler.ProfilerActivity = types.SimpleNamespace(CUDA="CUDA")
    for name, module in (("torch", torch), ("torch.nn", types.ModuleType("torch.nn")),
                         ("torch.nn.attention", types.ModuleType("torch.nn.attention")),
                         ("torch.nn.attention.flex_attention", flex_module),
                         ("torch.profiler", profiler)):
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(torch=torch, live=live, compiled=compiled, resets=resets,
                                 events=events)


def test_flex_compiles_each_mask_in_its_own_fullgraph_function(fake_torch):
    import bench_masks
    flex = bench_masks.Flex(60.0)
    config = fake_torch.torch._dynamo.config
    assert config.suppress_errors is False and config.fail_on_recompile_limit_hit is True
    first, second = flex.compiled(0.125), flex.compiled(0.125)
    assert len(fake_torch.resets) == 2  # a fresh Dynamo state per mask
    (fn1, options1), (fn2, options2) = fake_torch.compiled
    assert fn1 is not fn2
    assert options1 == options2 == {"fullgraph": True, "dynamic": False}
    assert flex.check(first, "q", "k", "v", "block").ok
    assert first("q", "k", "v", "block") == ("flex", "block")
    # A compiled function whose first call makes no graph (an eager run).
    eager = bench_masks.Flex(60.0)
    verdict = eager.check(lambda *args: "out", "q", "k", "v", None)
    assert not verdict.ok and verdict.short == "no compiled graph"
    assert len(fake_torch.resets) == 3  # and its state is dropped


def test_sdpa_verdict(fake_torch):
    import bench_masks
    cuda = types.SimpleNamespace(name="CUDA")
    cpu = types.SimpleNamespace(name="CPU")
    fake_torch.events[:] = [types.SimpleNamespace(name=FLASH, device_type=cuda),
                            types.SimpleNamespace(name="aten::softmax", device_type=cpu)]
    assert bench_masks.sdpa_verdict("flash", lambda: None).ok
    fake_torch.events[:] = [types.SimpleNamespace(name=n, device_type=cuda) for n in MATH]
    assert bench_masks.sdpa_verdict("flash", lambda: None).short == "ran math kernels"

    def unavailable():
        raise RuntimeError("No available kernel. Aborting execution.")
    verdict = bench_masks.sdpa_verdict("cudnn", unavailable)
    assert not verdict.ok and verdict.short == "backend unavailable: RuntimeError"


def test_static_shapes_reach_every_kernel_option(tmp_path, monkeypatch):
    # --static-shapes is attention()'s static_shapes for every case; a
    # namespace without it (compile_variant builds its own) keeps the
    # run-time lengths.
    import argparse
    import common
    for name in ("_static_shapes", "_target", "_kernel"):
        monkeypatch.setattr(common, name, getattr(common, name))
    parser = argparse.ArgumentParser()
    common.add_common_args(parser)
    common.configure(parser.parse_args(["--static-shapes", "--cache", str(tmp_path)]))
    assert common.kernel_options()["static_shapes"] is True
    common.configure(argparse.Namespace(target="sm_90a", kernel=None, cache=str(tmp_path)))
    assert "static_shapes" not in common.kernel_options()
