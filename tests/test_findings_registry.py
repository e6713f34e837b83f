"""The one finding registry (src/gpuslice/data/findings.yaml): complete, consistent, documented, honoured."""

from __future__ import annotations

import json
import re

import pytest

from gpuslice.errors import CatalogError
from gpuslice.findings import OWNERS, Severity, finding_ids, findings_markdown, parse_registry, registry
from tests.helpers import ROOT, write_spec

SRC = ROOT / "src" / "gpuslice"


def test_generated_findings_doc_is_current():
    doc = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert doc == findings_markdown(), "docs/findings.md is stale: run `python scripts/gen_docs.py`"
    for fid in registry():
        assert f"`{fid}`" in doc


def test_every_registered_id_is_reported_somewhere():
    """No dead entries: each id is a string in the code or in the data (knowledge signatures) that reports it."""
    texts = [p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")]
    texts += [p.read_text(encoding="utf-8") for p in SRC.rglob("*.yaml") if p.name != "findings.yaml"]
    blob = "\n".join(texts)
    dead = [fid for fid in registry() if not re.search(rf"[\"'\s]{re.escape(fid)}[\"':\s]", blob)]
    assert dead == []


def test_every_owner_has_ids_and_lint_kinds_are_only_on_lint():
    reg = registry()
    assert {i.owner for i in reg.values()} == set(OWNERS)
    assert {i.kind for i in reg.values() if i.owner != "lint"} == {None}
    assert "coredns-loop" in finding_ids("doctor") and "os-glibc-too-old" in finding_ids("check")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "check": {"a-b": {"severity": "error", "explain": "x"}},
                "doctor": {"a-b": {"severity": "info", "explain": "y"}},
            },
            "declared under check and doctor",
        ),
        ({"check": {"a-b": {"severity": "fatal", "explain": "x"}}}, "severity must be"),
        ({"check": {"a-b": {"severity": "error", "explain": " "}}}, "explain is empty"),
        ({"check": {"a-b": {"severity": "error", "explain": "x", "kind": "strict"}}}, "for lint ids only"),
        ({"checks": {}}, "top-level keys must be owners"),
        ({"check": {"a-b": {"severity": "error", "explain": "x", "fix": "y"}}}, "expected {severity"),
    ],
)
def test_broken_registry_data_is_refused_with_the_reason(raw, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        parse_registry(raw)


def test_duplicate_id_in_one_owner_is_refused(monkeypatch, tmp_path):
    """PyYAML keeps the last of two equal keys silently; the packaged-data loader refuses them."""
    import gpuslice.yamlio as yamlio

    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "f.yaml").write_text("check:\n  a-b: {severity: error, explain: x}\n  a-b: {severity: info, explain: y}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CatalogError, match="line 3: key 'a-b' appears twice"):
        yamlio.load_packaged("fakepkg", "f.yaml")


def test_check_accepts_a_doctor_id_in_checks_disabled_and_still_flags_a_typo(cli, tmp_path):
    base = (ROOT / "examples" / "eks-ubuntu.yaml").read_text(encoding="utf-8")
    spec = write_spec(tmp_path, base + "\nchecks:\n  disabled: [coredns-loop, os-glibc-to-old]\n")
    r = cli("check", spec, "-o", "json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["id"] == "checks-disabled-unknown"]
    assert [f["path"] for f in found] == ["checks.disabled[1]"]
    assert "did you mean 'os-glibc-too-old'" in found[0]["message"]


def test_explain_prints_owner_severity_and_reference(cli):
    r = cli("explain", "coredns-loop")
    assert r.exit_code == 0
    info = registry()["coredns-loop"]
    assert r.stdout.startswith(f"coredns-loop: {info.explanation}")
    assert f"reported by: doctor · severity: {info.severity.value}" in r.stdout
    r = cli("explain", "lint-unknown-key")
    assert "reported by: lint · severity: error · strict" in r.stdout
    assert registry()["lint-unknown-key"].severity is Severity.ERROR


def test_explain_json_is_the_registry_entry(cli):
    r = cli("explain", "os-glibc-too-old", "-o", "json")
    info = registry()["os-glibc-too-old"]
    assert json.loads(r.stdout) == {
        "id": "os-glibc-too-old",
        "owner": "check",
        "severity": info.severity.value,
        "explanation": info.explanation,
        "reference": info.reference,
        "kind": None,
    }
