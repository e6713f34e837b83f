"""snapshot: the live API (fake server, official client) written in the layout of `kubectl cluster-info dump
--output-directory`, read back by doctor with the same result as asking the API directly."""

from __future__ import annotations

import json
import random

import pytest

from gpuslice.cluster.doctor import run_doctor
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.kube import KubeClient, LiveSource
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.cluster.snapshot import read_manifest, take_snapshot
from gpuslice.cluster.source import NAMESPACED
from gpuslice.cluster.view import load_view
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube

NAMESPACES = ["gpu-operator", "kube-system", "default"]


def live(api: FakeKube, tmp_path) -> LiveSource:
    r = Retrier(policy=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02), rng=random.Random(0))
    return LiveSource(KubeClient(str(api.kubeconfig(tmp_path)), retrier=r), NAMESPACES)


def test_layout_is_kubectls(tmp_path):
    with FakeKube(kf.case_config_manager_missing_key()) as api:
        res = take_snapshot(
            live(api, tmp_path), tmp_path / "snap", namespaces=NAMESPACES, operator_namespace="gpu-operator"
        )
    d = tmp_path / "snap"
    nodes = json.loads((d / "nodes.json").read_text())
    assert nodes["kind"] == "NodeList" and len(nodes["items"]) == 3
    assert (d / "nodes.json").read_text().startswith('{\n    "')  # indented like kubectl
    for ns in NAMESPACES:
        for res_name in NAMESPACED:
            assert (d / ns / f"{res_name}.json").is_file(), (ns, res_name)
    pods = json.loads((d / "gpu-operator" / "pods.json").read_text())["items"]
    dp = next(
        p
        for p in pods
        if p["metadata"]["name"].startswith("nvidia-device-plugin-daemonset") and p["spec"]["nodeName"] == kf.GPU1
    )
    text = (d / "gpu-operator" / dp["metadata"]["name"] / "logs.txt").read_text()
    name = dp["metadata"]["name"]
    # init containers first, then containers, each framed exactly as kubectl frames it
    order = [c["name"] for c in dp["spec"]["initContainers"] + dp["spec"]["containers"]]
    starts = [line for line in text.splitlines() if line.startswith("==== START")]
    assert starts == [f"==== START logs for container {c} of pod gpu-operator/{name} ====" for c in order]
    assert "specified config time-slicing-8 does not exist" in text
    # the extras: ClusterPolicy, only the device-plugin ConfigMap, and what was captured
    assert json.loads((d / "clusterpolicies.json").read_text())["items"][0]["kind"] == "ClusterPolicy"
    cms = json.loads((d / "gpu-operator" / "configmaps.json").read_text())["items"]
    assert [c["metadata"]["name"] for c in cms] == ["demo-1-dp-config"]
    assert not (d / "kube-system" / "configmaps.json").exists()
    man = read_manifest(d)
    assert man["operatorNamespace"] == "gpu-operator" and man["namespaces"] == NAMESPACES
    assert res.pods == sum(len(v) for k, v in kf.case_config_manager_missing_key().pods.items() if k in NAMESPACES)


@pytest.mark.parametrize("case", ["config-manager-missing-key", "configmap-namespace", "coredns-loop", "toolkit-glibc"])
def test_doctor_on_a_snapshot_equals_doctor_on_the_api(tmp_path, case):
    with FakeKube(kf.CASES[case].build()) as api:
        direct = run_doctor(load_view(live(api, tmp_path)))
        take_snapshot(live(api, tmp_path), tmp_path / "snap", namespaces=NAMESPACES, operator_namespace="gpu-operator")
    from_dump = run_doctor(load_view(DumpSource(tmp_path / "snap")))
    assert [(f.id, f.message) for f in from_dump] == [(f.id, f.message) for f in direct]
    assert case in {f.id for f in from_dump}


def test_logs_are_bounded_and_pods_in_trouble_come_first(tmp_path):
    with FakeKube(kf.case_config_manager_missing_key()) as api:
        res = take_snapshot(
            live(api, tmp_path),
            tmp_path / "snap",
            namespaces=NAMESPACES,
            operator_namespace="gpu-operator",
            max_log_pods=2,
        )
    assert res.pods_with_logs == 2 and res.skipped_logs == res.pods - 2
    with_logs = sorted(p.parent.name for p in (tmp_path / "snap").rglob("logs.txt"))
    assert all(n.startswith(("nvidia-device-plugin-daemonset", "gpu-feature-discovery")) for n in with_logs)


def test_snapshot_survives_api_faults_and_replaces_the_folder(tmp_path):
    out = tmp_path / "snap"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with FakeKube(kf.healthy()) as api:
        api.inject("GET", r"/namespaces/kube-system/pods$", "503", times=2)
        api.inject("GET", r"/log$", "reset")
        take_snapshot(
            live(api, tmp_path), out, namespaces=NAMESPACES, operator_namespace="gpu-operator", overwrite=True
        )
        assert api.count("GET", r"/namespaces/kube-system/pods$") == 3
    assert not (out / "stale.txt").exists() and (out / "kube-system" / "pods.json").is_file()


def test_snapshot_cli_then_doctor(tmp_path, cli):
    with FakeKube(kf.case_coredns_loop()) as api:
        kc = api.kubeconfig(tmp_path)
        r = cli("snapshot", "-d", tmp_path / "bundle", "--spec", kf.SPEC, "--kubeconfig", kc)
    assert r.exit_code == 0, r.output
    assert "Wrote" in r.stdout and "gpuslice doctor --dump" in r.stdout
    d = cli("doctor", "--dump", tmp_path / "bundle", "--output", "json")
    assert d.exit_code == 1
    assert "coredns-loop" in {f["id"] for f in json.loads(d.stdout)["findings"]}


def test_doctor_live_through_the_cli(tmp_path, cli):
    with FakeKube(kf.case_sharing_off()) as api:
        r = cli("doctor", "--spec", kf.SPEC, "--kubeconfig", api.kubeconfig(tmp_path), "--output", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["source"].startswith("cluster ") and "sharing-off" in {f["id"] for f in doc["findings"]}


def test_unreachable_cluster_is_a_clear_error(tmp_path, cli):
    kc = tmp_path / "kc"
    kc.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "u"}}],
            }
        )
    )
    r = cli("doctor", "--kubeconfig", kc, "--max-attempts", "2", "--retry-timeout", "3")
    assert r.exit_code == 2
    assert "failed after 2 attempt(s)" in r.stderr and "connection failed" in r.stderr
    r = cli("doctor", "--kubeconfig", tmp_path / "missing")
    assert r.exit_code == 2 and "cannot load kubeconfig" in r.stderr


def test_live_doctor_degrades_when_rbac_hides_optional_lists(tmp_path):
    """No right to list ClusterPolicies or ConfigMaps: reported, and every other rule still runs."""
    with FakeKube(kf.case_coredns_loop()) as api:
        api.inject("GET", r"/clusterpolicies$", "403", times=10)
        api.inject("GET", r"/configmaps$", "403", times=10)
        findings = run_doctor(load_view(live(api, tmp_path)))
    ids = {f.id for f in findings}
    assert "coredns-loop" in ids and "cluster-access-denied" in ids
    denied = next(f for f in findings if f.id == "cluster-access-denied")
    assert denied.severity.value == "warning" and "forbidden" in denied.evidence[0]


def test_snapshot_output_json_says_folder_files_namespaces_and_warnings(tmp_path, cli):
    """-o json: one document naming the folder, every file written, the namespaces and what the folder lacks."""
    out = tmp_path / "bundle"
    with FakeKube(kf.case_config_manager_missing_key()) as api:
        kc = api.kubeconfig(tmp_path)
        r = cli(
            "snapshot", "-d", out, "--kubeconfig", kc, "--include-namespace", "nothing-here",
            "--max-log-pods", "1", "-o", "json",
        )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # stdout is the document alone: no "Wrote ..." text
    assert doc["ok"] is True and doc["out"] == str(out) and doc["operatorNamespace"] == "gpu-operator"
    assert doc["namespaces"][:4] == [*NAMESPACES, "nothing-here"]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    written.remove(".gpuslice-output.json")  # the marker saying gpuslice wrote the folder
    assert sorted(doc["files"]) == written
    assert {"nodes.json", "clusterpolicies.json", "gpuslice.json", "gpu-operator/pods.json"} <= set(doc["files"])
    assert doc["logs"]["pods"] == 1 and doc["logs"]["skipped"] == doc["pods"] - 1 > 0
    assert any("nothing-here" in w and "no pods" in w for w in doc["warnings"])
    assert any("--max-log-pods 1" in w for w in doc["warnings"])
    # the same document as YAML
    with FakeKube(kf.case_config_manager_missing_key()) as api:
        y = cli("snapshot", "-d", out, "--kubeconfig", api.kubeconfig(tmp_path), "-o", "yaml")
    assert y.exit_code == 0, y.output
    import yaml

    ydoc = yaml.safe_load(y.stdout)
    assert ydoc["out"] == str(out) and ydoc["warnings"] == [] and "nodes.json" in ydoc["files"]


def test_snapshot_text_warns_on_stderr_when_the_operator_namespace_is_empty(tmp_path, cli):
    with FakeKube(kf.case_coredns_loop()) as api:
        r = cli("snapshot", "-d", tmp_path / "b", "--kubeconfig", api.kubeconfig(tmp_path), "-n", "not-the-operator")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.stderr and "not-the-operator holds no pods" in r.stderr
    assert "Wrote" in r.stdout and "warning" not in r.stdout


def test_snapshot_output_json_errors_are_json_on_stdout(tmp_path, cli):
    r = cli("snapshot", "-d", tmp_path / "b", "--kubeconfig", tmp_path / "missing", "-o", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and "cannot load kubeconfig" in doc["errors"][0]["message"]
    assert not (tmp_path / "b").exists()
