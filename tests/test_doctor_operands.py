"""doctor's operand, plugin and sharing rules on variations of the healthy fixture cluster (tests/k8sfixtures.py):
each test breaks one thing the way it breaks in real clusters and checks the verdict and the evidence behind it,
without a spec. The real-world corpus (test_realworld_corpus_doctor.py) covers the threads; these cover the edges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuslice.cluster.doctor import run_doctor
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity
from tests import k8sfixtures as kf
from tests import realworld_dumps as rw

GPU1, GPU4 = kf.GPU1, kf.GPU4
NS = "gpu-operator"


def _doctor(c: kf.Cluster, tmp: Path):
    return run_doctor(load_view(DumpSource(c.write_dump(tmp))))


def _ids(findings) -> list[str]:
    return [f.id for f in findings if f.severity is not Severity.INFO]


def _text(findings, fid: str) -> str:
    return "\n".join("\n".join([f.message, f.fix, *f.evidence]) for f in findings if f.id == fid)


def _cm(c: kf.Cluster) -> dict:
    return c.configmaps[NS][0]


def _key_of(c: kf.Cluster, node: str) -> str:
    return c.node(node)["metadata"]["labels"]["nvidia.com/device-plugin.config"]


def test_healthy_fixture_has_no_findings_without_spec(tmp_path):
    assert [f for f in _doctor(kf.healthy(), tmp_path) if f.severity is not Severity.INFO] == []


# -- stale sharing config ----------------------------------------------------------------------------------------


def test_configmap_changed_under_a_running_plugin_is_stale(tmp_path):
    """The ConfigMap key now asks for 8 replicas; the node's label, capacity and plugin log still say 4."""
    c = kf.healthy()
    key = _key_of(c, GPU1)
    _cm(c)["data"][key] = _cm(c)["data"][key].replace("replicas: 4", "replicas: 8")
    got = _doctor(c, tmp_path)
    assert "sharing-config-stale" in _ids(got)
    text = _text(got, "sharing-config-stale")
    assert GPU1 in text and GPU4 not in text
    assert "asking for 8" in text and "nvidia.com/gpu.replicas=4" in text and "log says replicas 4" in text
    assert "rollout restart" in text


def test_label_moved_to_another_key_without_plugin_restart_is_stale(tmp_path):
    """The node's label now selects the x2 key, but GFD and the plugin still report the x4 config."""
    c = kf.healthy()
    c.node(GPU1)["metadata"]["labels"]["nvidia.com/device-plugin.config"] = _key_of(c, GPU4)
    got = _doctor(c, tmp_path)
    assert "sharing-config-stale" in _ids(got)
    assert GPU1 in _text(got, "sharing-config-stale")


# -- duplicate device plugins ------------------------------------------------------------------------------------


def _plugin_pod(ns: str, ds: str, node: str) -> dict:
    img = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
    return kf.pod(
        f"{ds}-{kf.suffix(ds, node)}",
        ns,
        node,
        owner=("DaemonSet", ds),
        containers=[kf.container("nvidia-device-plugin-ctr", img)],
        statuses=[kf.running("nvidia-device-plugin-ctr", img)],
    )


def _plugin_ds(ns: str, name: str, desired: int) -> dict:
    return rw._daemonset(
        {
            "namespace": ns,
            "name": name,
            "desired": desired,
            "containers": [{"name": "nvidia-device-plugin-ctr", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"}],
        }
    )


def test_helm_chart_plugin_beside_the_operators_is_an_error(tmp_path):
    c = kf.healthy()
    ns = "nvidia-device-plugin"
    c.daemonsets[ns] = [_plugin_ds(ns, "nvdp-nvidia-device-plugin", 1)]
    c.add_pod(_plugin_pod(ns, "nvdp-nvidia-device-plugin", GPU1))
    got = _doctor(c, tmp_path)
    assert _ids(got).count("device-plugin-duplicate") == 1
    text = _text(got, "device-plugin-duplicate")
    assert f"{ns}/nvdp-nvidia-device-plugin" in text and f"{NS}/nvidia-device-plugin-daemonset" in text
    assert GPU1 in text and GPU4 not in text
    # the chart's DaemonSet name must not make doctor take its namespace for the operator's
    assert "operator-not-found" not in _ids(got)


def test_eksctl_plugin_in_kube_system_beside_the_operator(tmp_path):
    c = kf.healthy()
    c.daemonsets["kube-system"] = [_plugin_ds("kube-system", "nvidia-device-plugin-daemonset", 2)]
    for n in (GPU1, GPU4):
        c.add_pod(_plugin_pod("kube-system", "nvidia-device-plugin-daemonset", n))
    got = _doctor(c, tmp_path)
    assert "device-plugin-duplicate" in _ids(got)
    text = _text(got, "device-plugin-duplicate")
    assert "eksctl" in text and "--install-nvidia-plugin=false" in text and GPU1 in text and GPU4 in text
    assert "bottlerocket-device-plugin" not in _ids(got)


def test_one_plugin_per_node_is_not_a_duplicate(tmp_path):
    """A second plugin DaemonSet that serves other nodes (e.g. a CPU-only namespace selector) is fine."""
    c = kf.healthy()
    c.daemonsets["kube-system"] = [_plugin_ds("kube-system", "nvidia-device-plugin-daemonset", 0)]
    assert "device-plugin-duplicate" not in _ids(_doctor(c, tmp_path))


# -- sharing configs doctor can see ------------------------------------------------------------------------------


def test_every_visible_sharing_config_is_linted(tmp_path):
    c = kf.healthy()
    key = _key_of(c, GPU1)
    _cm(c)["data"][key] = _cm(c)["data"][key].replace("replicas: 4", "replicas: 0")
    got = _doctor(c, tmp_path)
    assert "sharing-config-invalid" in _ids(got)
    text = _text(got, "sharing-config-invalid")
    assert repr(key) in text and GPU1 in text and "lint error" in text


def test_unable_to_load_config_lints_the_key_the_node_selects(tmp_path):
    """GFD/plugin exit with `unable to load config`: the evidence carries lint-config's verdict on the selected key,
    with the rules of the plugin version the pod runs."""
    c = kf.healthy()
    key = _key_of(c, GPU1)
    _cm(c)["data"][key] += "\nflags:\n  gfd:\n    sleepInterval: infinite\n"
    p = kf._set_pod(
        c,
        NS,
        "gpu-feature-discovery",
        node_name=GPU1,
        statuses=[kf.waiting("gpu-feature-discovery", kf.DP_IMAGE, "CrashLoopBackOff", restarts=7)],
        logs={"gpu-feature-discovery": ["E1120 10:40:01.100390       1 main.go:70] unable to load config: bad value"]},
    )
    p["spec"]["containers"][0]["image"] = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
    got = _doctor(c, tmp_path)
    assert "plugin-config-unloadable" in _ids(got)
    text = _text(got, "plugin-config-unloadable")
    assert f"selects key {key!r}" in text and "lint error" in text and "sleepInterval" in text
    assert "operand-crashloop" not in _ids(got)


def test_unmounted_sharing_configmap_with_unshared_nodes(tmp_path):
    c = kf.healthy()
    c.configmaps["default"] = [kf.configmap("my-sharing", "default", {"ts": _cm(c)["data"][_key_of(c, GPU1)]})]
    for n in (GPU1, GPU4):
        labels = c.node(n)["metadata"]["labels"]
        labels["nvidia.com/gpu.replicas"] = "1"
    got = _doctor(c, tmp_path)
    assert "sharing-config-unused" in _ids(got)
    assert "default/my-sharing" in _text(got, "sharing-config-unused")


# -- crash loops and pulls ---------------------------------------------------------------------------------------


def test_any_crash_looping_operand_is_quoted(tmp_path):
    c = kf.healthy()
    kf._set_pod(
        c,
        NS,
        "nvidia-dcgm-exporter",
        node_name=GPU4,
        statuses=[kf.waiting("nvidia-dcgm-exporter", kf.DCGM_EXPORTER_IMAGE, "CrashLoopBackOff", restarts=12)],
        logs={
            "nvidia-dcgm-exporter": [
                'time="2026-11-20T10:40:01Z" level=info msg="Starting dcgm-exporter"',
                'time="2026-11-20T10:40:02Z" level=fatal msg="Error connecting to nv-hostengine: Host engine is not '
                'valid any longer"',
                "goodbye",
            ]
        },
    )
    got = _doctor(c, tmp_path)
    assert "operand-crashloop" in _ids(got)
    text = _text(got, "operand-crashloop")
    assert "nvidia-dcgm-exporter" in text and "12 restarts" in text and "CrashLoopBackOff" in text
    assert "Error connecting to nv-hostengine" in text and GPU4 in text


def test_a_crash_looping_user_workload_is_not_an_operand(tmp_path):
    c = kf.healthy()
    img = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:1.0"
    c.add_pod(
        kf.pod(
            "api-5f7d9c-x2x4q",
            "team-a",
            GPU1,
            owner=("ReplicaSet", "api-5f7d9c"),
            containers=[kf.container("api", img)],
            statuses=[kf.waiting("api", img, "CrashLoopBackOff", restarts=30)],
        ),
        logs={"api": ["panic: database unreachable"]},
    )
    assert "operand-crashloop" not in _ids(_doctor(c, tmp_path))


@pytest.mark.parametrize(
    ("message", "fid"),
    [
        (
            'rpc error: code = NotFound desc = failed to pull and unpack image "{i}": failed to resolve reference "{i}": '
            "{i}: not found",
            "image-not-found",
        ),
        ("dial tcp 3.227.49.224:443: i/o timeout", "image-pull-upstream"),
        (
            "unexpected status from HEAD request to https://nvcr.io/v2/nvidia/k8s-device-plugin/manifests/v0.99.0: "
            "401 Unauthorized",
            "image-pull-upstream",
        ),
    ],
    ids=["not-found", "timeout", "401"],
)
def test_pull_failures_by_shape(message, fid, tmp_path):
    img = "nvcr.io/nvidia/k8s-device-plugin:v0.99.0"
    c = kf.healthy()
    kf._set_pod(
        c,
        NS,
        "nvidia-device-plugin-daemonset",
        node_name=GPU1,
        statuses=[kf.waiting("nvidia-device-plugin", img, "ErrImagePull", message.format(i=img))],
    )
    got = [f for f in _doctor(c, tmp_path) if f.id in ("image-not-found", "image-pull-upstream", "image-pull-mirror")]
    assert [f.id for f in got] == [fid], [(f.id, f.message) for f in got]


def test_corpus_dump_through_the_cli_as_json(tmp_path, cli):
    root = rw.write("op170-amzn2-manifest-unknown", tmp_path)
    res = cli("doctor", "--dump", str(root), "--namespace", "gpu-operator-resources", "--output", "json")
    data = json.loads(res.stdout)
    items = data["findings"] if isinstance(data, dict) else data
    got = [f for f in items if f["id"] == "driver-image-unpublished"]
    assert got and got[0]["evidence"] and "amzn" in got[0]["message"]


def test_live_doctor_reads_chart_plugins_in_other_namespaces_and_lints_their_config(tmp_path):
    """Live, doctor finds a device-plugin Helm release in its own namespace (beside the operator), reads that
    namespace and lints the ConfigMap the chart's DaemonSet mounts: the duplicate and the broken key are reported."""
    import random

    from gpuslice.cluster.kube import KubeClient, LiveSource
    from gpuslice.cluster.retry import Retrier, RetryPolicy
    from tests.fakeapi import FakeKube

    c = kf.healthy()
    ns = "nvidia-device-plugin"
    ds = _plugin_ds(ns, "nvdp-nvidia-device-plugin", 1)
    ds["spec"]["template"]["spec"]["volumes"] = [kf.configmap_volume("nvdp-config")]
    c.daemonsets[ns] = [ds]
    p = _plugin_pod(ns, "nvdp-nvidia-device-plugin", GPU1)
    p["spec"]["volumes"].append(kf.configmap_volume("nvdp-config"))
    c.add_pod(p)
    bad = "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: -2\n"
    c.configmaps[ns] = [kf.configmap("nvdp-config", ns, {"any": bad})]
    with FakeKube(c) as api:
        r = Retrier(policy=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02), rng=random.Random(0))
        src = LiveSource(KubeClient(str(api.kubeconfig(tmp_path)), retrier=r), [NS, "kube-system", "default"])
        assert ns in src.namespaces()
        got = run_doctor(load_view(src))
    assert "device-plugin-duplicate" in _ids(got)
    assert f"{ns}/nvdp-config" in _text(got, "sharing-config-invalid")


@pytest.mark.parametrize(
    ("image", "fid"),
    [
        ("registry.example.com:5000/nvidia/driver:550.90.07-amzn2", "driver-image-unpublished"),
        ("registry.example.com:5000/nvidia/driver:550.90.07-ubuntu22.04", "image-pull-mirror"),
    ],
    ids=["amzn2-never-published", "ubuntu-not-copied"],
)
def test_driver_tag_missing_in_a_mirror(image, fid, tmp_path):
    """A mirror that lacks driver:<v>-amzn2 cannot be fixed by copying (nvcr.io has none either); one that lacks an
    Ubuntu tag can."""
    c = kf.healthy()
    msg = f"Error response from daemon: manifest for {image} not found: manifest unknown: manifest unknown"
    kf._set_pod(
        c,
        NS,
        "nvidia-driver-daemonset",
        node_name=GPU1,
        statuses=[kf.waiting("nvidia-driver-ctr", image, "ErrImagePull", msg)],
    )
    got = [
        f.id
        for f in _doctor(c, tmp_path)
        if f.id in ("image-not-found", "image-pull-upstream", "image-pull-mirror", "driver-image-unpublished")
    ]
    assert got == [fid]


def test_snapshot_captures_chart_plugin_namespaces_then_doctor_reads_the_dump(tmp_path, cli):
    """`gpuslice snapshot` writes the namespace of a device-plugin Helm release and the ConfigMap its DaemonSet
    mounts, so doctor on the dump sees the same duplicate plugin and broken config as live."""
    from tests.fakeapi import FakeKube

    c = kf.healthy()
    ns = "nvidia-device-plugin"
    ds = _plugin_ds(ns, "nvdp-nvidia-device-plugin", 1)
    ds["spec"]["template"]["spec"]["volumes"] = [kf.configmap_volume("nvdp-config")]
    c.daemonsets[ns] = [ds]
    c.add_pod(_plugin_pod(ns, "nvdp-nvidia-device-plugin", GPU1))
    bad = "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: -2\n"
    c.configmaps[ns] = [kf.configmap("nvdp-config", ns, {"any": bad})]
    out = tmp_path / "snap"
    with FakeKube(c) as api:
        res = cli("snapshot", "-d", str(out), "--kubeconfig", str(api.kubeconfig(tmp_path)))
    assert res.exit_code == 0, res.stdout
    assert (out / ns / "daemonsets.json").is_file() and (out / ns / "configmaps.json").is_file()
    got = run_doctor(load_view(DumpSource(out)))
    assert "device-plugin-duplicate" in _ids(got)
    assert f"{ns}/nvdp-config" in _text(got, "sharing-config-invalid")
