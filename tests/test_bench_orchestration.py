"""Worker orchestration with real processes and the CPU stand-in workload (no GPU): barrier, window, MPS control.

The MPS control tool is replaced by a small script on PATH that keeps the daemon's settings in a state file and
logs every command, so the tests see exactly what gpuslice asks the daemon (the device plugin's caps).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from gpuslice.bench import BenchConfig, run_bench, validate_results
from gpuslice.bench.mps import MpsDaemon, MpsLimits, MpsUnavailable
from gpuslice.bench.runner import BenchError, case_plan, roles

WINDOW = 0.4
FAKE_PARAMS = {"fakeSpin": 20000, "fakeStepSleepS": 0.0005, "fakeCopyBytes": 1 << 20, "fakeMemoryMiB": 16384}

FAKE_MPS_CONTROL = """#!{python}
# Stand-in for nvidia-cuda-mps-control: '-d' starts a "daemon" (a state file in the pipe folder), a line on
# stdin is a control command. Every call is logged.
import json, os, sys
pipe = os.environ["CUDA_MPS_PIPE_DIRECTORY"]
state = os.path.join(pipe, "control")
log = os.environ["FAKE_MPS_LOG"]
def save(d):
    with open(state, "w") as f:
        json.dump(d, f)
if sys.argv[1:] == ["-d"]:
    if os.environ.get("FAKE_MPS_FAIL"):
        print("An instance of this daemon is already running", file=sys.stderr)
        sys.exit(1)
    save({{"atp": 100.0, "mem": None}})
    with open(log, "a") as f:
        f.write("-d " + pipe + "\\n")
    sys.exit(0)
cmd = sys.stdin.read().strip()
with open(log, "a") as f:
    f.write(cmd + "\\n")
if not os.path.exists(state):
    print("Cannot find MPS control daemon process")
    sys.exit(1)
d = json.load(open(state))
parts = cmd.split()
if parts[0] == "get_default_active_thread_percentage":
    print(d["atp"])
elif parts[0] == "set_default_active_thread_percentage":
    d["atp"] = float(parts[1]); save(d)
elif parts[0] == "set_default_device_pinned_mem_limit":
    d["mem"] = parts[1:]; save(d)
elif parts[0] == "get_default_device_pinned_mem_limit":
    print(d["mem"][1] if d["mem"] else "none")
elif parts[0] == "quit":
    os.remove(state)
else:
    print("unknown command"); sys.exit(1)
"""


@pytest.fixture
def fake_mps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "nvidia-cuda-mps-control"
    tool.write_text(FAKE_MPS_CONTROL.format(python=sys.executable))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "mps.log"
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_MPS_LOG", str(log))
    return log


@pytest.fixture
def no_mps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without any MPS control tool (the CI machine has none anyway)."""
    import shutil

    if shutil.which("nvidia-cuda-mps-control"):
        monkeypatch.setenv("PATH", "/usr/bin:/bin")


def _cfg(**kw: object) -> BenchConfig:
    base: dict[str, object] = {
        "n_values": (1, 2),
        "window_s": WINDOW,
        "backend": "fake",
        "params": dict(FAKE_PARAMS),
        "start_lead_s": 0.25,
    }
    base.update(kw)
    return BenchConfig(**base)  # type: ignore[arg-type]


def test_plan_and_roles() -> None:
    cfg = BenchConfig(n_values=(1, 2, 4), strategies=("time-slicing", "mps"))
    plan = case_plan(cfg)
    assert ("time-slicing", "mixed", 1) not in plan  # mixed needs a neighbour
    assert ("mps", "mixed", 4) in plan
    assert len(plan) == 2 * (3 + 4 + 4)
    assert roles("mixed", 4) == ["latency", "compute", "compute", "compute"]
    assert roles("memory", 2) == ["memory", "memory"]


def test_bad_config_is_refused() -> None:
    with pytest.raises(BenchError, match="unknown strategies"):
        BenchConfig(strategies=("mig",)).validate()
    with pytest.raises(BenchError, match="between 1 and 48"):
        BenchConfig(n_values=(0,)).validate()


def test_time_slicing_with_real_processes(no_mps: None, tmp_path: Path) -> None:
    events: list[str] = []
    ckpt = tmp_path / "partial.json"
    res = run_bench(_cfg(strategies=("time-slicing",)), progress=lambda k, d: events.append(k), checkpoint=ckpt)
    validate_results(res)
    cases = {(c["workload"], c["n"]): c for c in res["cases"]}
    assert set(cases) == {
        ("compute", 1),
        ("latency", 1),
        ("memory", 1),
        ("compute", 2),
        ("latency", 2),
        ("memory", 2),
        ("mixed", 2),
    }
    for c in res["cases"]:
        procs = c["processes"]
        assert len(procs) == c["n"]
        assert len({p["pid"] for p in procs}) == c["n"], "each tenant is its own process"
        starts = [p["startedAt"] for p in procs]
        # The barrier: every tenant started within a few ms of the others...
        assert max(starts) - min(starts) < 0.05
        for p in procs:
            # ...and ran for the window (counting only chunks it began before the deadline).
            assert WINDOW * 0.95 <= p["elapsedS"] < WINDOW + 0.3
            assert p["throughput"] > 0
        # The tenants overlapped for almost the whole window.
        overlap = min(p["endedAt"] for p in procs) - max(starts)
        assert overlap > WINDOW * 0.9
    mixed = cases[("mixed", 2)]["processes"]
    assert [p["role"] for p in mixed] == ["latency", "compute"]
    assert mixed[0]["latencyMs"]["count"] > 10 and "latencyMs" not in mixed[1]
    assert res["strategies"]["time-slicing"]["status"] == "ok"
    assert events.count("case-done") == 7 and events[0] == "plan"
    # The checkpoint holds every case and is itself a valid results document.
    partial = json.loads(ckpt.read_text())
    validate_results(partial)
    assert len(partial["cases"]) == 7


def test_mps_is_skipped_with_a_note_when_unavailable(no_mps: None) -> None:
    res = run_bench(_cfg(n_values=(1,), workloads=("compute",)))
    assert res["strategies"]["mps"]["status"] == "skipped"
    assert "nvidia-cuda-mps-control" in res["strategies"]["mps"]["note"]
    assert any(n.startswith("mps: skipped") for n in res["notes"])
    assert [c["strategy"] for c in res["cases"]] == ["time-slicing"]


def test_mps_daemon_gets_the_device_plugin_caps(fake_mps: Path) -> None:
    res = run_bench(_cfg(strategies=("mps", "mps-uncapped"), workloads=("compute",)))
    validate_results(res)
    assert res["strategies"]["mps"]["status"] == "ok"
    log = fake_mps.read_text().splitlines()
    # One daemon per N with memory/N and 100/N, as the plugin sets them; then one uncapped daemon.
    assert "set_default_device_pinned_mem_limit 0 16384M" in log
    assert "set_default_active_thread_percentage 100" in log
    assert "set_default_device_pinned_mem_limit 0 8192M" in log
    assert "set_default_active_thread_percentage 50" in log
    assert sum(1 for x in log if x.startswith("-d ")) == 3
    assert sum(1 for x in log if x == "quit") == 3
    pipes = [x.split(" ", 1)[1] for x in log if x.startswith("-d ")]
    assert len(set(pipes)) == 3, "each daemon has its own private pipe folder"
    assert not any(Path(p).exists() for p in pipes), "folders removed after stop"
    capped = [c for c in res["cases"] if c["strategy"] == "mps"]
    assert {c["n"]: c["mps"]["activeThreadPercentage"] for c in capped} == {1: 100, 2: 50}
    assert all(c["mps"] is None for c in res["cases"] if c["strategy"] == "mps-uncapped")


def test_mps_daemon_refusing_to_start_skips_the_strategy(fake_mps: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MPS_FAIL", "1")
    with pytest.raises(MpsUnavailable, match="already running"):
        MpsDaemon(MpsLimits(replicas=2, total_memory_mib=1000)).start()
    res = run_bench(_cfg(strategies=("mps",), workloads=("compute",), n_values=(2,)))
    assert res["strategies"]["mps"]["status"] == "skipped"
    assert "already running" in res["strategies"]["mps"]["note"]


def test_worker_setup_failure_is_reported_not_raised(no_mps: None) -> None:
    res = run_bench(_cfg(strategies=("time-slicing",), params={"fakeSpin": "lots"}))
    st = res["strategies"]["time-slicing"]
    assert st["status"] == "failed"
    assert "did not start" in st["note"] and "ValueError" in st["note"]
    assert res["cases"] == []


def test_mps_limits_follow_the_plugin_arithmetic() -> None:
    lim = MpsLimits(replicas=8, total_memory_mib=143771)
    assert lim.active_thread_percentage == 12  # 100/8 in integer arithmetic, as the plugin does
    assert lim.pinned_mem_limit_mib == 17971


def test_cli_bad_input_exits_2(cli, tmp_path: Path) -> None:
    import shutil

    r = cli("bench", "--n", "1,x", "--out-dir", str(tmp_path))
    assert r.exit_code == 2 and "--n must be a comma-separated list" in r.stderr
    r = cli("bench", "--backend", "fake", "--strategies", "mig", "--out-dir", str(tmp_path))
    assert r.exit_code == 2 and "unknown strategies" in r.stderr
    r = cli("bench", "--pool", "a", "--out-dir", str(tmp_path))
    assert r.exit_code == 2 and "belong to --render-job" in r.stderr
    r = cli("bench", "--backend", "fake", "--param", "novalue", "--out-dir", str(tmp_path))
    assert r.exit_code == 2 and "KEY=VALUE" in r.stderr
    if not shutil.which("nvidia-smi"):
        r = cli("bench", "--out-dir", str(tmp_path / "gpu"))
        assert r.exit_code == 2 and "no NVIDIA GPU found" in r.stderr
        assert not (tmp_path / "gpu" / "results.json").exists()


def test_partial_run_measures_the_baselines_it_needs(no_mps: None) -> None:
    """--workloads latency,mixed: mixed tenants are judged against solo latency AND solo compute."""
    cfg = _cfg(strategies=("time-slicing",), n_values=(2,), workloads=("latency", "mixed"), repeats=1)
    assert case_plan(cfg)[:2] == [("time-slicing", "compute", 1), ("time-slicing", "latency", 1)]
    res = run_bench(cfg)
    validate_results(res)
    base = {(c["workload"], c["n"]) for c in res["cases"] if c.get("baseline")}
    assert base == {("compute", 1), ("latency", 1)}
    mixed = next(c for c in res["cases"] if c["workload"] == "mixed")
    assert mixed["metrics"]["efficiency"] is not None  # was None ("–") before the compute baseline was measured
    assert any("baselines measured" in n for n in res["notes"])


def test_repeats_report_median_and_spread(no_mps: None) -> None:
    res = run_bench(_cfg(strategies=("time-slicing",), n_values=(2,), workloads=("compute",), repeats=3))
    validate_results(res)
    case = next(c for c in res["cases"] if c["n"] == 2)
    assert len(case["repeats"]) == 3 and all(len(r) == 2 for r in case["repeats"])
    sp = case["metrics"]["spread"]["efficiency"]
    assert len(sp["values"]) == 3
    assert sp["min"] <= sp["median"] <= sp["max"]
    assert case["metrics"]["efficiency"] == sp["median"]
    assert case["processes"] in case["repeats"]  # the median repeat's records
    from gpuslice.bench.report import _f, report_markdown

    assert f"({_f(sp['min'])}–{_f(sp['max'])})" in report_markdown(res)  # the spread is in the report


def test_external_daemon_is_used_not_started(fake_mps: Path) -> None:
    """--mps-pipe-dir: clients join a daemon someone else started; its reported caps are recorded."""
    with MpsDaemon(MpsLimits(replicas=4, total_memory_mib=16384)) as d:
        started = fake_mps.read_text().count("-d ")
        base = {"compute": {"throughput": 1.0, "unit": "TFLOP/s", "fromStrategy": "time-slicing"}}
        cfg = _cfg(
            strategies=("mps",),
            n_values=(4,),
            workloads=("compute",),
            repeats=1,
            mps_pipe_dir=str(d.pipe_dir),
            baselines=base,
        )
        res = run_bench(cfg)
        assert fake_mps.read_text().count("-d ") == started  # no second daemon
    validate_results(res)
    (case,) = res["cases"]
    assert case["mps"]["source"] == "external"
    assert case["mps"]["activeThreadPercentage"] == 25 and case["mps"]["replicas"] == 4
    assert case["mps"]["pinnedMemLimitMiB"] == 4096
    assert res["config"]["mpsDaemon"] == "external"
    assert case["metrics"]["efficiency"] is not None  # against the imported baseline
    with pytest.raises(BenchError, match="only the mps strategy"):
        _cfg(strategies=("time-slicing", "mps"), mps_pipe_dir="/mps/nvidia.com/gpu/pipe").validate()
