"""doctor on kubectl-dump folders: one fixture dump per rule (named by the finding it must produce), a healthy one
that must produce nothing of severity warning or above, and the unseen-dump cases (missing files, ``items: null``,
YAML dumps, garbage, huge logs, odd shapes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpuslice import api
from gpuslice.cluster.doctor import rule_docs, run_doctor
from gpuslice.cluster.dump import DumpSource, read_log_file
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity, registry
from tests import k8sfixtures as kf

DUMPS = kf.DUMPS
CASES = sorted(kf.CASES)


@pytest.fixture(scope="module")
def resolved():
    return api.load(kf.SPEC)


def doctor(folder: Path, resolved=None, **kw):
    return run_doctor(load_view(DumpSource(folder, **kw)), resolved)


def test_fixture_dumps_are_current():
    """The checked-in dumps are what tests/k8sfixtures.py builds (`python -m tests.k8sfixtures` rewrites them)."""
    for name in CASES:
        want = kf.case_files(name)
        have = {
            str(p.relative_to(DUMPS / name)): p.read_text(encoding="utf-8")
            for p in (DUMPS / name).rglob("*")
            if p.is_file()
        }
        assert set(have) == set(want), name
        stale = [rel for rel in want if have[rel] != want[rel]]
        assert not stale, f"{name}: stale {stale[:3]} (run python -m tests.k8sfixtures)"


@pytest.mark.parametrize("name", CASES)
def test_each_rule_fires_on_its_dump(name, resolved):
    expect = json.loads((DUMPS / name / "expect.json").read_text())
    findings = doctor(DUMPS / name, resolved if expect["spec"] else None)
    serious = [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    if not expect["fires"]:
        assert serious == [], [(f.id, f.message) for f in serious]
        return
    for fid in expect["fires"]:
        hits = [f for f in serious if f.id == fid]
        assert hits, f"{fid} did not fire on {name}: {[f.id for f in findings]}"
        for f in hits:
            assert f.fix, fid
            assert f.evidence, fid
            assert f.id in rule_docs()  # `gpuslice explain` can say what it is
            assert f.severity.rank >= registry()[f.id].severity.rank, f"{fid} is louder than registered"


def test_healthy_dump_is_clean_with_and_without_the_spec(resolved):
    for spec in (None, resolved):
        findings = doctor(DUMPS / "healthy", spec)
        assert [f for f in findings if f.severity is not Severity.INFO] == []


def test_rules_do_not_fire_on_each_others_dumps(resolved):
    """A rule fires only where its failure is (no rule reports the failure another rule owns)."""
    owners = {fid for c in kf.CASES.values() for fid in c.fires}
    allowed_extra = {"clusterpolicy-not-ready", "operator-daemonset-not-ready", "clusterpolicy-not-captured"}
    for name, case in kf.CASES.items():
        got = {f.id for f in doctor(DUMPS / name, resolved if case.spec else None)}
        stray = (got & owners) - set(case.fires) - allowed_extra
        assert not stray, f"{name}: {stray}"


def test_evidence_names_the_object_and_quotes_the_message():
    f = next(f for f in doctor(DUMPS / "config-manager-missing-key") if f.id == "config-manager-missing-key")
    assert "'time-slicing-8'" in f.message and kf.GPU1 in f.message
    assert any("nvidia.com/device-plugin.config=time-slicing-8" in e for e in f.evidence)
    assert any(
        e.startswith("pod gpu-operator/nvidia-device-plugin-daemonset-")
        and "specified config time-slicing-8 does not exist" in e
        for e in f.evidence
    )
    g = next(f for f in doctor(DUMPS / "toolkit-glibc") if f.id == "toolkit-glibc")
    assert "Amazon Linux 2" in g.message
    assert any("GLIBC_2.27' not found" in e and "[init container toolkit-validation]" in e for e in g.evidence)
    d = next(f for f in doctor(DUMPS / "coredns-loop") if f.id == "coredns-loop")
    assert all(e.startswith("pod kube-system/coredns-") and "plugin/loop: Loop (127.0.0.1" in e for e in d.evidence)


def test_image_pull_rule_knows_the_mirror(tmp_path, resolved):
    """With a spec that mirrors nvcr.io, a pull from nvcr.io means the cluster runs values gpuslice did not render;
    a pull from the mirror itself means the mirror lacks the tag."""
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(
        kf.SPEC.read_text().replace("operator:\n", "registry:\n  proxy: mirror.corp.example/proxy\noperator:\n", 1)
    )
    mirrored = api.load(spec)
    f = next(f for f in doctor(DUMPS / "image-pull-upstream", mirrored) if f.id == "image-pull-upstream")
    assert "although the spec's mirror covers them" in f.message and "gpuslice apply" in f.fix
    c = kf.case_image_pull_upstream()
    for p in c.pods["gpu-operator"]:
        for s in p["status"].get("initContainerStatuses", []):
            if "waiting" in s["state"] and "ImagePull" in s["state"]["waiting"]["reason"]:
                s["image"] = "mirror.corp.example/proxy/nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
    c.events["gpu-operator"] = []
    got = {f.id for f in run_doctor(load_view(DumpSource(c.write_dump(tmp_path / "d"))), mirrored)}
    assert "image-pull-mirror" in got and "image-pull-upstream" not in got


def test_sharing_off_names_the_cause(resolved):
    f = next(f for f in doctor(DUMPS / "sharing-off", resolved) if f.id == "sharing-off")
    assert f.pool == "a10g-shared" and f.severity is Severity.ERROR
    assert any("no nvidia.com/device-plugin.config label and no ClusterPolicy default" in e for e in f.evidence)
    assert "nvidia.com/device-plugin.config=time-slicing-4" in f.fix
    # without the spec doctor still sees the empty fallback, as a warning
    g = next(f for f in doctor(DUMPS / "sharing-off") if f.id == "sharing-off")
    assert g.severity is Severity.WARNING and "falls back to an empty config" in g.message


def test_capacity_mismatch_compares_with_gpus_times_replicas(resolved):
    f = next(f for f in doctor(DUMPS / "capacity-mismatch", resolved) if f.id == "capacity-mismatch")
    assert f.pool == "a10g-x4" and "8 x nvidia.com/gpu (4 GPU x 2 replicas)" in f.message
    assert any("capacity nvidia.com/gpu=6, expected 8" in e for e in f.evidence)


# -- unseen, imperfect dumps -----------------------------------------------------------------------------------


def copy_dump(tmp_path: Path, name: str = "healthy") -> Path:
    dst = tmp_path / name
    shutil.copytree(DUMPS / name, dst)
    return dst


def test_missing_files_and_items_null_are_tolerated(tmp_path):
    d = copy_dump(tmp_path, "coredns-loop")
    (d / "nodes.json").unlink()
    (d / "gpu-operator" / "daemonsets.json").unlink()
    (d / "default" / "events.json").write_text(
        '{"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": null}'
    )
    shutil.rmtree(d / "kube-system" / next(p.name for p in (d / "kube-system").iterdir() if p.is_dir()))
    findings = doctor(d)
    assert "coredns-loop" in {f.id for f in findings}
    assert not [f for f in findings if f.id == "dump-unreadable"]


def test_broken_files_are_reported_and_the_rest_is_checked(tmp_path):
    d = copy_dump(tmp_path, "coredns-loop")
    (d / "gpu-operator" / "events.json").write_text("{not json")
    pods = json.loads((d / "gpu-operator" / "pods.json").read_text())
    pods["items"][0]["status"]["containerStatuses"][0]["restartCount"] = "many"  # not what the API sends
    (d / "gpu-operator" / "pods.json").write_text(json.dumps(pods))
    findings = doctor(d)
    ids = [f.id for f in findings]
    assert "coredns-loop" in ids
    bad = [f for f in findings if f.id == "dump-unreadable"]
    assert len(bad) == 2 and bad[0].severity is Severity.WARNING
    assert any("gpu-operator/events" in f.message for f in bad)
    assert any("1 object(s) did not have the expected shape" in f.message for f in bad)


def test_yaml_dump_and_other_namespaces(tmp_path):
    """`kubectl cluster-info dump -o yaml --all-namespaces` writes .yaml files; extra namespaces are read too."""
    import yaml

    c = kf.case_coredns_port_in_use()
    c.add_pod(
        kf.pod(
            "web-0",
            "shop",
            kf.GPU1,
            containers=[kf.container("web", "nginx:1.27")],
            statuses=[kf.running("web", "nginx:1.27")],
        )
    )
    d = c.write_dump(tmp_path / "y", snapshot_extras=False)
    for p in list(d.rglob("*.json")):
        p.with_suffix(".yaml").write_text(yaml.safe_dump(json.loads(p.read_text())))
        p.unlink()
    view = load_view(DumpSource(d))
    assert "shop" in view.pods and len(view.nodes) == 3
    assert "coredns-port-in-use" in {f.id for f in run_doctor(view)}


def test_huge_logs_are_read_bounded_from_the_end(tmp_path):
    c = kf.case_driver_kernel_headers()
    d = c.write_dump(tmp_path / "big")
    pods = json.loads((d / "gpu-operator" / "pods.json").read_text())
    driver = next(
        p
        for p in pods["items"]
        if p["spec"].get("nodeName") == kf.GPU1 and p["metadata"]["name"].startswith("nvidia-driver")
    )
    logf = d / "gpu-operator" / driver["metadata"]["name"] / "logs.txt"
    text = logf.read_text()
    filler = "".join(f"I1120 10:00:00.{i:06d} 1 noise.go:1] line {i} of chatter\n" for i in range(120_000))
    head, sep, rest = text.partition("==== START logs for container nvidia-driver-ctr")
    logf.write_text(
        head + sep + rest.replace("Resolving Linux kernel version...\n", "Resolving Linux kernel version...\n" + filler)
    )
    assert logf.stat().st_size > 5_000_000
    tail = read_log_file(logf, max_bytes=1_000_000, tail_lines=500)
    assert len(tail["nvidia-driver-ctr"]) == 500  # bounded
    assert "Could not resolve Linux kernel version" in "\n".join(tail["nvidia-driver-ctr"])
    findings = run_doctor(load_view(DumpSource(d, max_log_bytes=1_000_000, tail_lines=500)))
    assert "driver-kernel-headers" in {f.id for f in findings}


def test_log_markers_without_a_trailing_newline(tmp_path):
    p = tmp_path / "logs.txt"
    p.write_text(
        "==== START logs for container a of pod ns/p ====\nfirst\nno newline at the end"
        "==== END logs for container a of pod ns/p ====\n"
        "==== START logs for container b of pod ns/p ====\nRequest log error: container b is waiting\n"
        "==== END logs for container b of pod ns/p ====\n"
    )
    logs = read_log_file(p)
    assert logs["a"] == ["first", "no newline at the end"]
    assert logs["b"] == ["Request log error: container b is waiting"]


def test_a_folder_that_is_not_a_dump_is_a_clear_error(tmp_path, cli):
    r = cli("doctor", "--dump", tmp_path / "nope")
    assert r.exit_code == 2 and "not a folder" in r.stderr
    (tmp_path / "empty").mkdir()
    r = cli("doctor", "--dump", tmp_path / "empty")
    assert r.exit_code == 2 and "not a cluster dump" in r.stderr


# -- the verb --------------------------------------------------------------------------------------------------


def test_doctor_cli_json_and_exit_codes(cli):
    ok = cli("doctor", "--dump", DUMPS / "healthy", "--spec", kf.SPEC, "--output", "json")
    assert ok.exit_code == 0
    doc = json.loads(ok.stdout)
    assert doc["ok"] and doc["nodes"] == 3 and [f for f in doc["findings"] if f["severity"] != "info"] == []
    bad = cli("doctor", "--dump", DUMPS / "coredns-port-in-use", "--output", "json")
    assert bad.exit_code == 1
    f = next(f for f in json.loads(bad.stdout)["findings"] if f["id"] == "coredns-port-in-use")
    assert f["evidence"] and f["fix"] and f["severity"] == "error"
    text = cli("doctor", "--dump", DUMPS / "driver-kernel-headers")
    assert text.exit_code == 1 and "driver-kernel-headers" in text.stdout
