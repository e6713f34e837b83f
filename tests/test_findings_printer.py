"""One findings printer for every verb: at 80 columns each finding shows severity, id, where, message and fix,
with ids and paths never cut; the json output carries the same fields; render says on stderr when it wrote
files despite error findings."""

from __future__ import annotations

import json

import pytest

from tests.helpers import CHARTS, EXAMPLES, FIXTURES, MINIMAL, write_spec

DUMPS = FIXTURES / "dumps"
LINT = FIXTURES / "lint" / "configs" / "both-strategies-FAILED.yaml"
CHART = CHARTS / "chart-v26.7.0"
NVCR_ONLY = "registry:\n  mirrors:\n    - {source: nvcr.io, mirror: reg.corp.example/nvcr}\n"


def _cases(tmp_path):
    bad = write_spec(tmp_path, MINIMAL.replace("instanceType: g5.xlarge", "instanceType: zz9.unknown"), "bad.yaml")
    partial = write_spec(tmp_path, MINIMAL + NVCR_ONLY, "partial.yaml")
    return {
        "check": ["check", bad],
        "plan": ["plan", bad, "-d", tmp_path / "p"],
        "render": ["render", partial, "-d", tmp_path / "r", "--chart", CHART],
        "doctor": ["doctor", "--dump", DUMPS / "capacity-mismatch", "--spec", DUMPS / "gpuslice.yaml"],
        "verify": ["verify", DUMPS / "gpuslice.yaml", "--dump", DUMPS / "capacity-mismatch"],
        "lint-config": ["lint-config", LINT],
    }


@pytest.mark.parametrize("verb", ["check", "plan", "render", "doctor", "verify", "lint-config"])
def test_every_verb_prints_findings_the_same_way_at_80_columns(cli, tmp_path, monkeypatch, verb):
    monkeypatch.setenv("COLUMNS", "80")
    argv = _cases(tmp_path)[verb]
    text = cli(*argv)
    assert text.exit_code == 1, text.output
    if verb in ("plan", "render"):  # a second run must not trip over the first one's folder
        argv = [*argv, "--overwrite"]
    doc = json.loads(cli(*argv, "-o", "json").stdout)
    findings = doc["findings"]
    assert findings and {"severity", "id", "message", "fix", "file", "line", "path", "pool"} <= set(findings[0])
    out = text.stdout
    for line in out.splitlines():
        block = line.startswith(("    ", "  ERROR ", "  WARNING ", "  INFO "))
        if block or line.startswith(tuple("0123456789")):  # the finding blocks and the summary
            assert len(line) <= 80 or " " not in line.strip(), f"over 80 columns: {line!r}"
    words = set(out.split())
    for f in findings:
        assert f["id"] in words, f"id {f['id']} cut or missing"
        assert f"{f['severity'].upper()} {f['id']}" in out  # severity and id on one line, whole
        if f["fix"]:
            assert "fix:" in out
        if f["file"] and f["line"]:
            assert f"{f['file']}:{f['line']}" in words  # where, never cut
    for old_table in ("┏", "│ id", "┃"):
        assert old_table not in out


def test_render_with_error_findings_says_so_on_stderr(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL + NVCR_ONLY)
    out = tmp_path / "out"
    r = cli("render", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 1
    assert (out / "values.yaml").is_file()  # rendered anyway, by design
    assert "operator-image-not-mirrored" in r.stdout and "ERROR operator-image-not-mirrored" in r.stdout
    assert "render:" in r.stderr and "error" in r.stderr and "written anyway" in r.stderr
    clean = cli("render", EXAMPLES / "eks-ubuntu.yaml", "-d", tmp_path / "ok")
    assert clean.exit_code == 0 and "render:" not in clean.stderr
