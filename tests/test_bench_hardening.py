"""bench/recommend inputs from real operations: pod logs as log tools deliver them, results of another schema
version, an --out that cannot hold the results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpuslice.bench.results import LOG_BEGIN, LOG_END, dump_results, load_results, parse_results
from gpuslice.errors import SpecError
from tests.conftest import ROOT

CHECK = ROOT / "benchmarks" / "results" / "2026-11-28-h200-cli-check"


@pytest.fixture(scope="module")
def results() -> dict:
    return load_results(CHECK / "results.json")


def _log(results: dict, prefix=lambda i: "") -> str:
    lines = ["[16:04:00] bench on NVIDIA H200", LOG_BEGIN, *dump_results(results).splitlines(), LOG_END, "done"]
    return "\n".join(prefix(i) + line for i, line in enumerate(lines)) + "\n"


def test_the_real_cli_log_is_read(results: dict) -> None:
    # The log of the validation run on the H200 (gpuslice bench --print-log, stdout and stderr together).
    assert load_results(CHECK / "bench.log")["cases"] == results["cases"]


@pytest.mark.parametrize(
    "name, prefix",
    [
        ("kubectl logs --timestamps", lambda i: f"2026-11-28T16:04:{i % 60:02d}.{10 ** (i % 7) + i}Z "),
        ("kubectl logs --prefix", lambda i: "[pod/inf-euw1-bench-h200-online-x7k2p/bench] "),
        ("both", lambda i: f"[pod/j-9/bench] 2026-11-28T16:{i % 60:02d}:00.{i}Z "),
    ],
)
def test_pod_log_with_per_line_prefixes(results: dict, name: str, prefix) -> None:
    got = parse_results(_log(results, prefix), name)
    assert got["cases"] == json.loads(dump_results(results))["cases"]


def test_last_complete_block_wins_and_a_cut_off_block_is_named(results: dict) -> None:
    older = json.loads(dump_results(results))
    older["createdAt"] = "2026-01-01T00:00:00Z"
    two = _log(older) + _log(results)
    assert parse_results(two)["createdAt"] == results["createdAt"]
    # A second run that was cut off: the first complete block is still used.
    cut = _log(results) + LOG_BEGIN + '\n{\n  "kind": "GpusliceBenchResults",\n'
    assert parse_results(cut)["createdAt"] == results["createdAt"]
    with pytest.raises(SpecError, match=re.escape(f"no {LOG_END!r} after it")):
        parse_results("pod started\n" + LOG_BEGIN + "\n{\n", "bench.log")


def test_other_schema_version_says_so(results: dict, cli, tmp_path: Path) -> None:
    doc = json.loads(dump_results(results))
    doc["schemaVersion"] = 2
    f = tmp_path / "r.json"
    f.write_text(json.dumps(doc))
    r = cli("recommend", "--bench", str(f))
    assert r.exit_code == 2
    msg = " ".join(r.stderr.split())
    assert "schemaVersion 2 (written by gpuslice 0.1.0); this gpuslice reads version 1" in msg


def test_out_that_cannot_hold_results_fails_before_measuring(cli, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        r = cli(
            "bench",
            "--backend",
            "fake",
            "--n",
            "1",
            "--window",
            "0.2",
            "--workloads",
            "compute",
            "--strategies",
            "time-slicing",
            "--no-plots",
            "--out-dir",
            str(out),
        )
        assert r.exit_code == 2
        assert f"--out-dir {out}" in " ".join(r.stderr.split())
        assert "time-slicing/compute" not in r.output  # nothing was measured


def test_bench_never_overwrites_a_folder_of_the_users(cli, tmp_path):
    """--out-dir follows plan's rule: only a new, empty or gpuslice-written folder is replaced (else exit 2)."""
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "2026-11-28-h200" / "results.json"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes\n")
    r = cli("bench", "--report-from", results, "--out-dir", mine, "--no-plots")
    assert r.exit_code == 2 and "did not write" in r.stderr and "--overwrite" in r.stderr
    assert (mine / "report.md").read_text() == "my notes\n"
    ours = tmp_path / "ours"
    assert cli("bench", "--report-from", results, "--out-dir", ours, "--no-plots").exit_code == 0
    assert cli("bench", "--report-from", results, "--out-dir", ours, "--no-plots").exit_code == 0  # ours: replaced
    assert sorted(p.name for p in ours.iterdir()) == [".gpuslice-output.json", "report.md", "results.json"]
    forced = cli("bench", "--report-from", results, "--out-dir", mine, "--no-plots", "--overwrite")
    assert forced.exit_code == 0 and (mine / "report.md").read_text() != "my notes\n"
