"""Malformed and incomplete dumps: each broken file is named with what is wrong with it, doctor goes on with the
rest, and a dump that lacks the evidence to judge the cluster is never reported as healthy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpuslice.cluster import model as m
from tests.k8sfixtures import DUMPS


def copy_dump(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(DUMPS / name, dst)
    return dst


def doctor(cli, dump: Path) -> tuple[int, dict, str]:
    r = cli("doctor", "--dump", str(dump), "-o", "json")
    return r.exit_code, json.loads(r.stdout), r.stderr


def ids(doc: dict) -> list[str]:
    return [f["id"] for f in doc["findings"]]


def by_id(doc: dict, id_: str) -> list[dict]:
    return [f for f in doc["findings"] if f["id"] == id_]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"kind": "PodList", "items": 7}', "`items` is a number, not a list"),
        ('{"kind": "PodList", "items": true}', "`items` is a boolean, not a list"),
        ('{"kind": "PodList", "items": "x"}', "`items` is a string, not a list"),
        ('{"items": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
        ("[1, 2]", "got a list"),
        ('{"kind": "NodeList", "items": []}', "it holds a NodeList"),
    ],
    ids=["number", "boolean", "string", "deep", "toplevel-list", "wrong-kind"],
)
def test_a_malformed_file_is_named_and_doctor_goes_on(cli, tmp_path, content, said):
    dump = copy_dump(tmp_path, "image-pull-upstream")
    bad = dump / "gpu-operator" / "events.json"
    bad.write_text(content, encoding="utf-8")
    code, doc, stderr = doctor(cli, dump)
    assert "internal error" not in stderr
    (f,) = by_id(doc, "dump-unreadable")
    assert str(bad) in f["message"] and said in f["message"]
    assert "not a Kubernetes list" in f["message"]
    assert "image-pull-upstream" in ids(doc)  # the pods were still read and diagnosed
    assert code == 1


def test_decode_list_refuses_lists_of_another_kind():
    with pytest.raises(m.DecodeError, match="holds a PodList"):
        m.decode_list(b'{"kind": "PodList", "items": [{"metadata": {"name": "p"}}]}', m.Node)
    with pytest.raises(m.DecodeError, match="its items are Pod"):
        m.decode_list(b'{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"}}]}', m.Node)
    with pytest.raises(m.DecodeError, match="its items are Pod"):
        m.decode_list('{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"}}]}', m.Node)
    nodes, bad = m.decode_list(b'{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"}}]}', m.Node)
    assert [n.name for n in nodes] == ["n"] and bad == 0


def _healthy_without(tmp_path: Path, *remove: str) -> Path:
    dump = copy_dump(tmp_path, "healthy")
    for rel in remove:
        p = dump / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return dump


def test_the_healthy_dump_is_still_clean(cli, tmp_path):
    code, doc, _ = doctor(cli, copy_dump(tmp_path, "healthy"))
    assert code == 0 and doc["findings"] == []


@pytest.mark.parametrize(
    ("remove", "file", "severity", "code"),
    [
        (["nodes.json"], "nodes.json", "error", 1),
        (["gpu-operator/pods.json"], "gpu-operator/pods.json", "error", 1),
        (["gpu-operator/daemonsets.json"], "gpu-operator/daemonsets.json", "warning", 0),
        (["gpu-operator/events.json"], "gpu-operator/events.json", "warning", 0),
        (["kube-system/pods.json"], "kube-system/pods.json", "warning", 0),
        (["kube-system"], "kube-system", "warning", 0),
    ],
)
def test_what_was_not_captured_is_said(cli, tmp_path, remove, file, severity, code):
    dump = _healthy_without(tmp_path, *remove)
    got, doc, _ = doctor(cli, dump)
    gaps = by_id(doc, "dump-incomplete")
    assert len(gaps) == 1 and gaps[0]["severity"] == severity
    assert str(dump / file) in gaps[0]["message"] and "was not captured" in gaps[0]["message"]
    assert got == code and doc["findings"]  # never "No findings"


def test_text_output_of_a_dump_without_nodes_is_not_no_findings(cli, tmp_path):
    dump = _healthy_without(tmp_path, "nodes.json")
    r = cli("doctor", "--dump", str(dump))
    text = " ".join(r.stdout.split())  # the findings printer wraps long paths at spaces
    assert r.exit_code == 1 and "No findings" not in text and "nodes.json was not captured" in text


def test_a_folder_or_a_link_loop_in_place_of_nodes_json(cli, tmp_path):
    dump = _healthy_without(tmp_path, "nodes.json")
    (dump / "nodes.json").mkdir()
    code, doc, _ = doctor(cli, dump)
    assert code == 1 and "is a folder, not a file" in by_id(doc, "dump-unreadable")[0]["message"]
    assert "could not be read" in by_id(doc, "dump-incomplete")[0]["message"]
    assert "nodes.json" not in [f.get("pool") for f in doc["findings"]]
    (dump / "nodes.json").rmdir()
    (dump / "nodes.json").symlink_to(dump / "nodes.json")  # ELOOP
    code, doc, _ = doctor(cli, dump)
    assert code == 1 and "looping symbolic link" in by_id(doc, "dump-unreadable")[0]["message"]


def test_a_podlist_saved_as_nodes_json(cli, tmp_path):
    dump = copy_dump(tmp_path, "healthy")
    shutil.copy(dump / "gpu-operator" / "pods.json", dump / "nodes.json")
    code, doc, _ = doctor(cli, dump)
    assert "holds a PodList" in by_id(doc, "dump-unreadable")[0]["message"]
    (gap,) = by_id(doc, "dump-incomplete")
    assert gap["severity"] == "error" and code == 1


def test_coredns_crash_looping_without_logs_is_cause_unknown(cli, tmp_path):
    dump = copy_dump(tmp_path, "coredns-loop")
    _, with_logs, _ = doctor(cli, dump)
    assert "coredns-loop" in ids(with_logs) and "pod-crashloop-no-logs" not in ids(with_logs)
    for p in (dump / "kube-system").glob("coredns-*"):
        shutil.rmtree(p)
    _, doc, _ = doctor(cli, dump)
    assert "coredns-loop" not in ids(doc)
    lost = by_id(doc, "pod-crashloop-no-logs")
    assert lost and all("cause unknown — capture its logs" in f["message"] for f in lost)
    assert any("coredns" in f["message"] for f in lost)
    assert "--previous" in lost[0]["fix"]
