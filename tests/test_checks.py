"""Checks beyond the fixture folders: the bundled examples, the CLI verbs, the injectable date, the resolved facts
the rules build on, and rules no spec can reach through the model."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from gpuslice import api
from gpuslice.catalog import load_catalog
from gpuslice.checks import os_support as os_rules
from gpuslice.checks import rule_docs, run_checks
from gpuslice.findings import Severity
from gpuslice.resolve import operand_runs_on, resolve
from gpuslice.spec import parse_spec_text
from tests.helpers import EXAMPLES, FIXTURES, MINIMAL, write_spec

SPECS = FIXTURES / "specs"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_bundled_examples_have_no_errors(path):
    findings = api.check(path)
    errors = [(f.id, f.message) for f in findings if f.severity is Severity.ERROR]
    assert errors == []


def test_examples_exist():
    assert {p.name for p in EXAMPLE_FILES} >= {"eks-ubuntu.yaml", "eks-al2023.yaml", "mixed-pools.yaml"}


def _ids(text: str, **kw) -> set[str]:
    return {f.id for f in run_checks(resolve(parse_spec_text(text)), **kw)}


AL2 = (
    MINIMAL.replace("ubuntu-22.04", "al2")
    .replace('"1.33"', '"1.32"')
    .replace("nodePools:", "operator: {chartVersion: v25.3.4}\nnodePools:")
)


def test_today_decides_al2_lifecycle_findings():
    assert _ids(AL2, today=date(2025, 6, 1)).isdisjoint({"os-end-of-support", "os-end-of-life"})
    assert "os-end-of-support" in _ids(AL2, today=date(2025, 11, 27))
    late = _ids(AL2, today=date(2026, 7, 1))
    assert "os-end-of-life" in late and "os-end-of-support" not in late


def test_today_from_environment(monkeypatch, cli, tmp_path):
    spec = write_spec(tmp_path, AL2)
    monkeypatch.setenv("GPUSLICE_TODAY", "2025-06-01")
    r = cli("check", spec, "-o", "json")
    assert r.exit_code == 0, r.stdout
    monkeypatch.setenv("GPUSLICE_TODAY", "2026-07-01")
    r = cli("check", spec, "-o", "json")
    assert r.exit_code == 1 and "os-end-of-life" in {f["id"] for f in json.loads(r.stdout)["findings"]}
    monkeypatch.setenv("GPUSLICE_TODAY", "July 2026")
    r = cli("check", spec)
    assert r.exit_code == 2 and "GPUSLICE_TODAY" in r.stderr and "Traceback" not in r.stderr


def test_check_text_report_groups_by_pool_and_names_the_line(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line, so phrases are not split by wrapping
    path = SPECS / "disk-root-too-small" / "story-20g-root-FAILED.yaml"
    r = cli("check", path)
    assert r.exit_code == 1
    out = " ".join(r.stdout.split())
    assert "pool gpu (g5.2xlarge, ubuntu-22.04)" in out
    assert "disk-root-too-small" in out and "fix:" in out
    assert "root volume, which is 20 GiB but needs at least" in out
    assert "story-20g-root-FAILED.yaml:9 nodePools[0].disks.rootGiB" in out
    assert "1 error(s)" in out and "plan refuses" in out


def test_check_json_is_the_list_with_summary(cli):
    path = SPECS / "sharing-memory-per-replica" / "t4-8-replicas-FAILED.yaml"
    r = cli("check", path, "--output", "json")
    assert r.exit_code == 0  # warnings only
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["summary"]["warning"] >= 1
    (f,) = [f for f in doc["findings"] if f["id"] == "sharing-memory-per-replica"]
    assert f["pool"] == "gpu" and f["line"] and f["path"] == "nodePools[0].sharing.replicas"
    assert "2.0 GiB per replica" in f["message"]


def test_plan_refusal_names_the_errors(cli, tmp_path):
    path = SPECS / "driver-mixed-os" / "ubuntu-2204-2404-FAILED.yaml"
    out = tmp_path / "out"
    r = cli("plan", path, "-d", out)
    assert r.exit_code == 1 and not out.exists()
    assert "Not rendered" in r.stdout and "driver-mixed-os" in " ".join(r.stdout.split())


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_plan_refusal_is_wrapped_at_spaces_to_the_terminal(cli, tmp_path, monkeypatch, columns):
    """The "Not rendered" sentence is wrapped like the findings above it: no line wider than the terminal, every
    error id whole on one line, the sentence unchanged once the lines are joined again."""
    monkeypatch.setenv("COLUMNS", str(columns))
    spec = SPECS / "driver-mixed-os" / "ubuntu-2204-2404-FAILED.yaml"
    r = cli("plan", spec, "-d", tmp_path / "out")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Not rendered:"))
    said = lines[start:]
    assert len(said) > 1 and all(ln.startswith("  ") for ln in said[1:])
    assert all(len(ln) <= columns for ln in said), said
    doc = json.loads(cli("plan", spec, "-d", tmp_path / "out", "-o", "json").stdout)
    ids = sorted({f["id"] for f in doc["findings"] if f["severity"] == "error"})
    assert ids and all(any(f"{i}," in ln.split() or f"{i}." in ln.split() for ln in said) for i in ids)
    assert " ".join(ln.strip() for ln in said) == (
        f"Not rendered: the checks above found {len(ids)} kind(s) of error: {', '.join(ids)}. "
        "Fix them, or pass --force (gpuslice explain <id> says more)."
    )


def test_explain_knows_every_finding_id(cli):
    docs = rule_docs()
    for fid in (
        "os-glibc-too-old",
        "driver-mixed-os",
        "disk-root-too-small",
        "sharing-mps-replicas",
        "dns-kubelet-stub-resolver",
        "eks-ssm-policy",
        "gpu-unknown-instance-type",
    ):
        r = cli("explain", fid)
        assert r.exit_code == 0 and r.stdout.startswith(f"{fid}: ") and len(docs[fid]) > 40
    r = cli("explain", "disk-root-to-small")
    assert r.exit_code == 2 and "disk-root-too-small" in r.stderr


def test_disabled_checks_are_skipped():
    text = MINIMAL.replace("disks:\n      rootGiB: 40\n      data: {sizeGiB: 100}", "disks: {rootGiB: 20}")
    assert "disk-root-too-small" in _ids(text)
    assert "disk-root-too-small" not in _ids(text + "checks: {disabled: [disk-root-too-small]}\n")


def test_root_size_needed_comes_from_the_disk_budget():
    b = load_catalog().disk_budget
    gc = b.kubelet_image_gc_high_percent
    with_driver = math.ceil(
        (b.gib("os") + b.gib("operator-driver") + b.gib("operator-operands") + b.gib("workload-images")) * 100 / gc
    )
    text = MINIMAL.replace(
        "disks:\n      rootGiB: 40\n      data: {sizeGiB: 100}", f"disks: {{rootGiB: {with_driver}}}"
    )
    assert "disk-root-too-small" not in _ids(text)
    assert "disk-root-too-small" in _ids(text.replace(f"rootGiB: {with_driver}", f"rootGiB: {with_driver - 1}"))
    # Without the operator's driver (AL2023 brings its own) the same root is more than enough.
    al2023 = text.replace(f"rootGiB: {with_driver}", f"rootGiB: {with_driver - b.gib('operator-driver'):.0f}").replace(
        "ubuntu-22.04", "al2023-nvidia"
    )
    assert "disk-root-too-small" not in _ids(al2023)


def test_resolved_containerd_location_and_operand_placement():
    spec = parse_spec_text(MINIMAL.replace("data: {sizeGiB: 100}", "data: {sizeGiB: 100, mountPath: /var/lib}"))
    assert resolve(spec).pools[0].containerd_on_data
    spec = parse_spec_text(MINIMAL.replace("data: {sizeGiB: 100}", "data: {sizeGiB: 100, mountPath: /var/lib/c}"))
    assert not resolve(spec).pools[0].containerd_on_data
    br = resolve(parse_spec_text(MINIMAL.replace("ubuntu-22.04", "bottlerocket-nvidia")))
    assert br.pools[0].containerd_on_data
    assert not operand_runs_on(br, br.pools[0], "device-plugin")
    two = MINIMAL + (
        "  - name: pool-b\n    instanceType: g6.xlarge\n    os: al2023-nvidia\n    sharing: {strategy: none}\n"
    )
    r = resolve(parse_spec_text(two))
    assert operand_runs_on(r, r.pools[0], "driver") and not operand_runs_on(r, r.pools[1], "driver")
    assert operand_runs_on(r, r.pools[1], "device-plugin")


def test_unknown_os_in_the_catalog_is_a_warning_not_a_crash():
    cat = load_catalog()
    trimmed = cat.model_copy(update={"os_families": {k: v for k, v in cat.os_families.items() if k != "rocky-9"}})
    r = resolve(parse_spec_text(MINIMAL.replace("ubuntu-22.04", "rocky-9")), trimmed)
    found = list(os_rules.check(r))
    assert [f.id for f in found] == ["os-unknown"] and found[0].severity is Severity.WARNING


def test_run_checks_restores_the_date():
    from gpuslice.checks._common import today

    r = resolve(parse_spec_text(AL2))
    run_checks(r, today=date(2000, 1, 1))
    assert today() == date.today()
