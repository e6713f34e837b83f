"""Analysis, results schema and report on recorded results: the committed H200 run and a CPU stand-in run."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from gpuslice.bench.analysis import analyze, find_case, jain, solo_baselines, table_rows
from gpuslice.bench.report import headline_rows, report_markdown
from gpuslice.bench.results import LOG_BEGIN, LOG_END, RESULTS_SCHEMA, load_results, parse_results, validate_results
from gpuslice.errors import SpecError
from tests.conftest import FIXTURES, ROOT

H200 = ROOT / "benchmarks" / "results" / "2026-11-28-h200" / "results.json"
FAKE = FIXTURES / "bench" / "fake-cpu-results.json"
RECORDED = [H200, FAKE]


@pytest.fixture(scope="module")
def h200() -> dict:
    return load_results(H200)


def test_jain_index_bounds() -> None:
    assert jain([1.0, 1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert jain([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)  # one tenant takes everything: 1/N
    assert jain([2.0, 1.0]) == pytest.approx(9 / 10)
    assert jain([]) is None and jain([0.0, 0.0]) is None


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.parent.name if p == H200 else p.name)
def test_recorded_results_validate_and_metrics_recompute(path: Path) -> None:
    raw = json.loads(path.read_text())
    validate_results(raw, str(path))
    recomputed = analyze(raw)
    for stored, again in zip(raw["cases"], recomputed["cases"], strict=True):
        if stored["status"] != "ok":
            continue
        for key in ("aggregate", "efficiency", "jain", "minShare"):
            assert again["metrics"][key] == pytest.approx(stored["metrics"][key], rel=1e-9), key
    base = solo_baselines(recomputed)
    for w, rec in base.items():
        solo = find_case(recomputed, "time-slicing", w, 1)
        assert solo is not None and rec["throughput"] == solo["processes"][0]["throughput"]
        assert solo["metrics"]["efficiency"] == pytest.approx(1.0)
    for c in recomputed["cases"]:
        m = c["metrics"]
        n = c["n"]
        assert 1 / n - 1e-9 <= m["jain"] <= 1 + 1e-9
        if c["workload"] != "mixed":
            # Homogeneous tenants: efficiency is aggregate over exclusive.
            assert m["efficiency"] == pytest.approx(m["aggregate"] / base[c["workload"]]["throughput"])
            assert m["aggregate"] == pytest.approx(sum(p["throughput"] for p in c["processes"]))


def test_h200_shows_time_slicing_vs_mps_for_every_workload(h200: dict) -> None:
    """The committed run holds both strategies at every N for every workload, and the contrast is there."""
    for w in ("compute", "latency", "memory", "mixed"):
        for n in (2, 4, 8):
            for s in ("time-slicing", "mps", "mps-uncapped"):
                assert find_case(h200, s, w, n) is not None, (s, w, n)

    def eff(s: str, w: str, n: int) -> float:
        c = find_case(h200, s, w, n)
        assert c is not None
        return float(c["metrics"]["efficiency"])

    def infl(s: str, w: str, n: int) -> float:
        c = find_case(h200, s, w, n)
        assert c is not None
        return float(c["metrics"]["latency"]["inflationP99"])

    for n in (2, 4, 8):
        # Small kernels with a sync per step: MPS runs them side by side, time-slicing takes turns (and loses).
        assert eff("mps", "latency", n) > 3 * eff("time-slicing", "latency", n)
        assert eff("time-slicing", "latency", n) < 0.8
        # One latency tenant beside compute tenants: its p99 explodes under time-slicing, not under capped MPS.
        assert infl("time-slicing", "mixed", n) > 10 * infl("mps", "mixed", n)
        assert infl("mps", "mixed", n) < 1.5
        # Compute- and memory-bound tenants: no strategy creates throughput that is not there.
        for w in ("compute", "memory"):
            for s in ("time-slicing", "mps", "mps-uncapped"):
                assert 0.8 < eff(s, w, n) < 1.1, (s, w, n)
    # Uncapped MPS lets the compute tenants starve the latency tenant; the device plugin's caps prevent it.
    assert infl("mps-uncapped", "mixed", 8) > 50 * infl("mps", "mixed", 8)


def test_h200_run_records_what_it_ran_on(h200: dict) -> None:
    gpu = h200["gpu"]
    assert gpu["name"] == "NVIDIA H200" and gpu["driverVersion"] and gpu["computeMode"] == "Default"
    assert gpu["migMode"] == "Disabled"
    assert h200["config"]["nValues"] == [1, 2, 4, 8]
    assert h200["durationS"] < 300, "the default matrix must fit in 5 minutes"
    assert all(st["status"] == "ok" for st in h200["strategies"].values())
    assert h200["command"].startswith("gpuslice bench")
    capped = {c["n"]: c["mps"] for c in h200["cases"] if c["strategy"] == "mps"}
    assert capped[8]["activeThreadPercentage"] == 12
    assert capped[8]["pinnedMemLimitMiB"] == gpu["memoryMiB"] // 8
    # Every tenant of a case started within a few ms of the common start time.
    assert max(c["metrics"]["startSkewMsMax"] for c in h200["cases"]) < 20


def test_schema_rejects_broken_results_with_the_path() -> None:
    raw = json.loads(FAKE.read_text())
    bad = copy.deepcopy(raw)
    bad["cases"][1]["processes"][0]["throughput"] = "fast"
    del bad["gpu"]
    with pytest.raises(SpecError) as e:
        validate_results(bad, "bad.json")
    text = str(e.value)
    assert "bad.json" in text and "cases[1].processes[0].throughput" in text and "'gpu' is a required" in text
    bad2 = copy.deepcopy(raw)
    bad2["cases"][0]["strategy"] = "mig"
    with pytest.raises(SpecError, match=r"cases\[0\]\.strategy"):
        validate_results(bad2)


def test_not_json_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text('{"kind": "GpusliceBenchResults",\n  "cases": [,]}')
    with pytest.raises(SpecError) as e:
        load_results(p)
    assert e.value.problems[0].file == str(p) and e.value.problems[0].line == 2
    with pytest.raises(SpecError, match="file not found"):
        load_results(tmp_path / "missing.json")


def test_results_are_read_from_a_pod_log() -> None:
    body = FAKE.read_text()
    log = f"Collecting gpuslice...\n[12:00:01] bench on ...\n{LOG_BEGIN}\n{body}{LOG_END}\nresults: /results/x\n"
    data = parse_results(log, "bench.log")
    assert data["cases"] == json.loads(body)["cases"]
    with pytest.raises(SpecError, match="nor a pod log"):
        parse_results("just some log\n", "bench.log")


def test_schema_is_a_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(RESULTS_SCHEMA)


def test_report_has_the_headline_table(h200: dict) -> None:
    md = report_markdown(h200, ["throughput_vs_n.png"])
    rows = headline_rows(h200)
    assert {(r["workload"], r["n"]) for r in rows} == {
        (w, n) for w in ("compute", "latency", "memory", "mixed") for n in (2, 4, 8)
    }
    lat8 = next(r for r in rows if (r["workload"], r["n"]) == ("latency", 8))
    line = next(x for x in md.splitlines() if x.startswith("| latency | 8 |"))
    assert f"{lat8['tsEff']:.2f}×" in line and f"{lat8['mpsEff']:.2f}×" in line
    assert "NVIDIA H200" in md and "580.159.04" in md and "![throughput_vs_n.png](throughput_vs_n.png)" in md
    assert len([r for r in table_rows(h200)]) == len(h200["cases"])
    assert not any(math.isnan(r["aggregate"]) for r in table_rows(h200))


def test_plots_are_written(tmp_path: Path, h200: dict) -> None:
    from gpuslice.bench.plots import write_plots

    files = write_plots(h200, tmp_path)
    assert files == ["throughput_vs_n.png", "latency_vs_n.png"]
    for f in files:
        data = (tmp_path / f).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_report_from_cli_rerenders(cli, tmp_path: Path) -> None:
    r = cli("bench", "--report-from", str(H200), "--out-dir", str(tmp_path / "r"), "--no-plots")
    assert r.exit_code == 0, r.output
    assert "latency" in r.stdout and "Wrote results.json, report.md" in r.stdout
    again = json.loads((tmp_path / "r" / "results.json").read_text())
    stored = json.loads(H200.read_text())
    assert [c["processes"] for c in again["cases"]] == [c["processes"] for c in stored["cases"]]
    for a, b in zip(again["cases"], stored["cases"], strict=True):
        assert a["metrics"]["efficiency"] == pytest.approx(b["metrics"]["efficiency"], rel=1e-12)
    assert (tmp_path / "r" / "report.md").read_text().startswith("# GPU sharing benchmark: NVIDIA H200")


def test_print_schema_cli(cli) -> None:
    r = cli("bench", "--print-schema")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["title"] == "gpuslice bench results"
