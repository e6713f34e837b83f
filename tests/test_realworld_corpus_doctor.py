"""doctor on the real-world corpus: one dump per public issue thread (tests/fixtures/realworld/doctor/<case>),
reproducing what the thread showed. Doctor must name the root cause the thread settled on, without a spec."""

from __future__ import annotations

import pytest

from gpuslice.cluster.doctor import rule_docs, run_doctor
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity
from tests import realworld_dumps as rw

CASES = rw.cases()


def _doctor(name: str, tmp_path):
    case = rw.load_case(name)
    root = rw.write(name, tmp_path)
    return case, run_doctor(load_view(DumpSource(root)), None, namespace=case.get("namespace"))


def test_corpus_size_and_sources():
    assert len(CASES) >= 25
    for name in CASES:
        case = rw.load_case(name)
        assert case["source"].startswith("https://github.com/"), name
        assert case["root_cause"] and case["expect"], name
        readme = (rw.CORPUS / name / "README.md").read_text()
        assert case["source"] in readme, f"{name}: README must name the thread"


@pytest.mark.parametrize("name", CASES)
def test_doctor_names_the_root_cause(name, tmp_path):
    case, findings = _doctor(name, tmp_path)
    ids = [f.id for f in findings if f.severity is not Severity.INFO]
    for fid in case["expect"]:
        assert fid in rule_docs(), f"{fid} is not a documented doctor id"
        assert fid in ids, (name, [(f.id, f.message) for f in findings])
    for fid in case.get("absent") or ():
        assert fid not in ids, (name, [(f.id, f.message) for f in findings if f.id == fid])
    for fid, needles in (case.get("mentions") or {}).items():
        text = "\n".join("\n".join([f.message, f.fix, *f.evidence]) for f in findings if f.id == fid)
        for needle in needles:
            assert needle in text, (name, fid, needle, text)
    # every verdict says what led to it
    for f in findings:
        if f.id in case["expect"]:
            assert f.evidence, (name, f.id)


def test_docs_list_every_case():
    """docs/cluster-ops.md carries the corpus table as tests.realworld_dumps.docs_table() writes it."""
    doc = (rw.kf.ROOT.parent / "docs" / "cluster-ops.md").read_text()
    assert rw.docs_table() in doc
