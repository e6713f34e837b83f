"""One parametrized test over tests/fixtures/specs/<finding-id>/<case>-PASSED.yaml / -FAILED.yaml (checkov style).

A FAILED spec must produce its folder's finding, and every other error or warning it produces must be listed in a
``# expect-also: id, id`` header line (used where two traps are the same mistake). A PASSED spec must not produce
the finding and must have no errors at all. ``# today: YYYY-MM-DD`` fixes the date for date-based rules.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from gpuslice import api
from gpuslice.checks import rule_docs, run_checks
from gpuslice.findings import Severity, registry
from tests.helpers import FIXTURES

SPECS = FIXTURES / "specs"
CASES = sorted(SPECS.glob("*/*-*ED.yaml"))
DEFAULT_TODAY = date(2026, 11, 28)


def _header(text: str, key: str) -> str | None:
    m = re.search(rf"^# {key}: (.+)$", text, re.M)
    return m.group(1).strip() if m else None


def _run(path: Path):
    text = path.read_text()
    when = _header(text, "today")
    return run_checks(api.load(path), today=date.fromisoformat(when) if when else DEFAULT_TODAY), text


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path) -> None:
    rule_id = path.parent.name
    findings, text = _run(path)
    ids = {f.id for f in findings}
    for f in findings:  # the registry knows every id, at a severity no milder than reported
        assert f.severity.rank >= registry()[f.id].severity.rank, (f.id, f.severity)
    if path.stem.endswith("-FAILED"):
        assert rule_id in ids, f"{rule_id} not reported; got {sorted(ids)}"
        allowed = {rule_id, *(x.strip() for x in (_header(text, "expect-also") or "").split(",") if x.strip())}
        loud = {f.id for f in findings if f.severity is not Severity.INFO}
        assert loud <= allowed, f"unrelated findings: {sorted(loud - allowed)}"
        for f in findings:
            if f.id == rule_id:
                assert f.file == str(path) and f.line, "finding should point at the spec line"
    else:
        assert rule_id not in ids
        errors = [f.id for f in findings if f.severity is Severity.ERROR]
        assert errors == [], errors


def test_every_fixture_folder_is_a_documented_finding_with_both_outcomes() -> None:
    docs = rule_docs()
    folders = {p.parent for p in CASES}
    assert folders, "no fixtures found"
    for folder in folders:
        assert folder.name in docs, f"{folder.name} has no IDS entry (gpuslice explain)"
        outcomes = {p.stem.rsplit("-", 1)[1] for p in folder.glob("*.yaml")}
        assert outcomes == {"PASSED", "FAILED"}, folder.name


def test_every_failed_finding_has_a_fix_and_a_reference() -> None:
    seen = 0
    for path in CASES:
        if path.stem.endswith("-FAILED"):
            for f in _run(path)[0]:
                seen += 1
                assert f.fix.strip(), f"{f.id} has no fix"
                assert f.reference and f.reference.startswith("https://"), f"{f.id} has no reference link"
                assert f.message.strip()
    assert seen >= len(CASES) // 2


def test_fixtures_cover_the_rule_modules_findings() -> None:
    """Every finding id the registry gives to check (the preflight rules) has a fixture folder."""
    from gpuslice.findings import finding_ids

    ids = set(finding_ids("check"))
    ids.discard("os-unknown")  # every OS id the spec allows is in the catalog; see test_checks.py
    ids.discard("checks-disabled-unknown")  # about checks.disabled itself; tests/test_findings_registry.py
    assert ids <= {p.name for p in SPECS.iterdir()}, sorted(ids - {p.name for p in SPECS.iterdir()})
