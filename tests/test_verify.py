"""verify: per-node labels and capacity from the spec (GPUs x replicas), operator readiness, and the live smoke
test against the fake API server (its scheduler runs what fits on the node and leaves the rest Pending)."""

from __future__ import annotations

import json
import random

import pytest

from gpuslice import api
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.kube import KubeClient
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.cluster.verify import run_smoke, verify_view
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity
from gpuslice.render.smoke import RUN_LABEL
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube

DUMPS = kf.DUMPS


@pytest.fixture(scope="module")
def resolved():
    return api.load(kf.SPEC)


def verify_dump(folder, resolved):
    return verify_view(resolved, load_view(DumpSource(folder)))


def ids(findings, severity=Severity.ERROR):
    return sorted({f.id for f in findings if f.severity is severity})


def test_healthy_cluster_verifies(resolved):
    res = verify_dump(DUMPS / "healthy", resolved)
    assert [f for f in res.findings if f.severity is not Severity.INFO] == []
    rows = {r.node: r for r in res.rows}
    assert rows[kf.GPU1].expected == 4 and rows[kf.GPU1].capacity == 4  # 1 GPU x 4
    assert rows[kf.GPU4].expected == 8 and rows[kf.GPU4].capacity == 8  # 4 GPUs x 2
    assert all(r.ok for r in res.rows)


def test_capacity_is_computed_from_the_spec_per_node(resolved):
    res = verify_dump(DUMPS / "capacity-mismatch", resolved)
    assert ids(res.findings) == ["verify-allocatable", "verify-capacity"]
    cap = next(f for f in res.findings if f.id == "verify-capacity")
    assert cap.pool == "a10g-x4"
    assert cap.evidence == (f"node {kf.GPU4}: capacity nvidia.com/gpu=6, expected 8",)


def test_every_label_mismatch_is_reported(resolved):
    res = verify_dump(DUMPS / "sharing-off", resolved)
    assert ids(res.findings) == [
        "verify-allocatable",
        "verify-capacity",
        "verify-label-config",
        "verify-label-product",
        "verify-label-replicas",
        "verify-label-strategy",
    ]
    ev = {f.id: f.evidence[0] for f in res.findings}
    assert ev["verify-label-replicas"] == f"node {kf.GPU1}: nvidia.com/gpu.replicas=1, expected 4"
    assert ev["verify-label-strategy"].endswith("=none, expected time-slicing")
    assert "expected a name ending in -SHARED" in ev["verify-label-product"]
    assert all(f.pool == "a10g-shared" for f in res.findings if f.severity is Severity.ERROR)


def test_renamed_resource_and_product(tmp_path):
    """renameByDefault: capacity is under nvidia.com/gpu.shared and the product has no -SHARED suffix."""
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(
        kf.SPEC.read_text().replace(
            "replicas: 4, failRequestsGreaterThanOne: true}",
            "replicas: 4, failRequestsGreaterThanOne: true, renameByDefault: true}",
        )
    )
    r = api.load(spec)
    c = kf.healthy()
    i = c.nodes.index(c.node(kf.GPU1))
    old = c.nodes[i]["metadata"]["labels"]
    c.nodes[i] = kf.node(
        kf.GPU1,
        pool="a10g-shared",
        nodegroup=old["eks.amazonaws.com/nodegroup"],
        renamed=True,
        config_label=r.pool("a10g-shared").node_labels["nvidia.com/device-plugin.config"],
    )
    res = verify_view(r, load_view(DumpSource(c.write_dump(tmp_path / "d"))))
    assert ids(res.findings) == []
    row = next(x for x in res.rows if x.node == kf.GPU1)
    assert row.resource == "nvidia.com/gpu.shared" and row.capacity == 4 and row.product == "NVIDIA-A10G"
    # the same node without the rename is wrong for this spec
    res2 = verify_view(r, load_view(DumpSource(DUMPS / "healthy")))
    assert {"verify-capacity", "verify-label-product", "verify-label-config"} <= set(ids(res2.findings))


def test_operator_readiness(resolved):
    res = verify_dump(DUMPS / "clusterpolicy-not-ready", resolved)
    assert ids(res.findings) == ["verify-clusterpolicy", "verify-daemonset"]
    assert (
        "nvidia-dcgm-exporter: desired 2, ready 1"
        in next(f for f in res.findings if f.id == "verify-daemonset").message
    )
    plain = verify_dump(DUMPS / "coredns-loop", resolved)  # a kubectl dump without ClusterPolicy
    assert ids(plain.findings, Severity.WARNING) == ["verify-clusterpolicy-unknown"]


def test_verify_cli_on_a_dump(cli):
    ok = cli("verify", kf.SPEC, "--dump", DUMPS / "healthy")
    assert ok.exit_code == 0 and "GPU nodes" in ok.stdout and kf.GPU4 in ok.stdout
    bad = cli("verify", kf.SPEC, "--dump", DUMPS / "capacity-mismatch", "--output", "json")
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    assert {n["node"]: n["ok"] for n in doc["nodes"]} == {kf.GPU1: True, kf.GPU4: False}
    refused = cli("verify", kf.SPEC, "--dump", DUMPS / "healthy", "--smoke")
    assert refused.exit_code == 2 and "--smoke needs the live cluster" in refused.stderr


# -- smoke -----------------------------------------------------------------------------------------------------


def kube_for(api_: FakeKube, tmp_path) -> KubeClient:
    r = Retrier(policy=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02), rng=random.Random(0))
    return KubeClient(str(api_.kubeconfig(tmp_path)), retrier=r)


def smoke(api_: FakeKube, tmp_path, resolved, **kw):
    return run_smoke(resolved, kube_for(api_, tmp_path), timeout=5, poll=0.01, run_id="t1", **kw)


def leftover(api_: FakeKube) -> list[str]:
    return [
        p["metadata"]["name"] for p in api_.items("pods", None) if (p["metadata"].get("labels") or {}).get(RUN_LABEL)
    ]


def test_smoke_single_gpu_node(tmp_path, resolved):
    with FakeKube(kf.healthy()) as fk:
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-shared")
        assert leftover(fk) == []
        assert fk.applied("POST", r"/pods$") == 5 and fk.applied("DELETE", r"/pods/") == 5
        created = [r.body for r in fk.requests if r.method == "POST" and r.path.endswith("/pods")]
    assert res.node == kf.GPU1 and res.expected_running == 4
    assert len(res.running) == 4 and len(res.pending) == 1
    assert len({u for ids_ in res.uuids.values() for u in ids_}) == 1  # all four share one GPU
    assert sorted(res.deleted) == sorted(res.created)
    assert [f.id for f in res.findings] == ["smoke-passed"]
    body = created[0]
    assert body["spec"]["containers"][0]["image"] == "nvcr.io/nvidia/gpu-operator:v26.7.0"  # the validator image
    assert body["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert body["spec"]["nodeSelector"] == {"kubernetes.io/hostname": kf.GPU1}


def test_smoke_multi_gpu_node_puts_replicas_on_each_uuid(tmp_path, resolved):
    with FakeKube(kf.healthy()) as fk:
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-x4")
        assert leftover(fk) == []
    assert len(res.running) == 8 and len(res.pending) == 1
    per_gpu: dict[str, int] = {}
    for ids_ in res.uuids.values():
        for u in ids_:
            per_gpu[u] = per_gpu.get(u, 0) + 1
    assert sorted(per_gpu.values()) == [2, 2, 2, 2]
    assert [f.id for f in res.findings] == ["smoke-passed"]


def test_smoke_catches_more_sharers_per_gpu_than_the_spec(tmp_path, resolved):
    """The node advertises 8 shares of its one GPU where the spec says 4: all 8 run on one UUID — caught."""
    c = kf.healthy()
    n = c.node(kf.GPU1)
    n["status"]["allocatable"]["nvidia.com/gpu"] = "8"
    n["metadata"]["labels"]["nvidia.com/gpu.replicas"] = "8"
    with FakeKube(c) as fk:
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-shared")
        assert leftover(fk) == []
    assert "smoke-gpu-uuid" in {f.id for f in res.findings}
    assert next(f for f in res.findings if f.id == "smoke-gpu-uuid").message == "more than 4 smoke pods share one GPU"


def test_smoke_on_a_busy_node_tests_what_is_free(tmp_path, resolved):
    c = kf.healthy()
    c.add_pod(
        kf.pod(
            "notebook-0",
            "default",
            kf.GPU1,
            containers=[kf.container("nb", "jupyter/base", limits={"nvidia.com/gpu": "1"})],
            statuses=[kf.running("nb", "jupyter/base")],
        )
    )
    with FakeKube(c) as fk:
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-shared")
        assert fk.get("pods", "notebook-0", "default") is not None  # never touches what it did not create
    assert res.expected_running == 3 and len(res.running) == 3 and len(res.pending) == 1
    assert [f.id for f in res.findings] == ["smoke-node-busy", "smoke-passed"]


def test_smoke_cleans_up_when_it_fails_midway(tmp_path, resolved):
    with FakeKube(kf.healthy()) as fk:
        fk.inject("GET", r"/namespaces/gpu-operator/pods$", "403", times=50)
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-shared")
        assert leftover(fk) == []
    assert "smoke-error" in {f.id for f in res.findings}
    assert len(res.created) == 5 and sorted(res.deleted) == sorted(res.created)


def test_smoke_with_no_usable_node(tmp_path, resolved):
    c = kf.healthy()
    c.node(kf.GPU1)["spec"]["unschedulable"] = True
    with FakeKube(c) as fk:
        res = smoke(fk, tmp_path, resolved, pool_name="a10g-shared")
    assert [f.id for f in res.findings] == ["smoke-no-node"] and res.created == []


def test_verify_smoke_cli(tmp_path, cli):
    with FakeKube(kf.healthy()) as fk:
        r = cli(
            "verify",
            kf.SPEC,
            "--smoke",
            "--pool",
            "a10g-shared",
            "--kubeconfig",
            fk.kubeconfig(tmp_path),
            "--smoke-timeout",
            "10",
            "--output",
            "json",
        )
        assert leftover(fk) == []
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["smoke"]["node"] == kf.GPU1 and len(doc["smoke"]["running"]) == 4
    assert "smoke-passed" in {f["id"] for f in doc["findings"]}


# -- the smoke-test.yaml renderer ------------------------------------------------------------------------------


def test_smoke_manifest_in_the_plan_is_valid_and_goes_through_the_mirror(tmp_path):
    import kubernetes_validate
    import yaml

    from gpuslice.render import RenderOptions
    from tests.conftest import CHARTS

    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(
        kf.SPEC.read_text().replace(
            "operator:\n", "registry:\n  proxy: mirror.corp.example/proxy\n  pullSecrets: [corp-mirror]\noperator:\n", 1
        )
    )
    for chart in ("chart-v26.7.0", "chart-v25.3.4"):
        res = api.plan(spec, write=False, options=RenderOptions(chart=CHARTS / chart, prove=False))
        docs = [d for d in yaml.safe_load_all(res.rendered.files["smoke-test.yaml"]) if d]
        by_pool: dict[str, list[dict]] = {}
        for d in docs:
            kubernetes_validate.validate(d, "1.33", strict=True)
            by_pool.setdefault(d["metadata"]["labels"]["gpuslice.dev/smoke-pool"], []).append(d)
        assert {p: len(v) for p, v in by_pool.items()} == {"a10g-shared": 1 * 4 + 1, "a10g-x4": 4 * 2 + 1}
        image = docs[0]["spec"]["containers"][0]["image"]
        # the validator image of that chart (its repository moved between versions), through the proxy
        want = {
            "chart-v26.7.0": "nvcr.io/nvidia/gpu-operator",
            "chart-v25.3.4": "nvcr.io/nvidia/cloud-native/gpu-operator-validator",
        }[chart]
        assert image.startswith(f"mirror.corp.example/proxy/{want}:"), image
        assert docs[0]["spec"]["imagePullSecrets"] == [{"name": "corp-mirror"}]
        assert len({d["metadata"]["name"] for d in docs}) == len(docs)


# -- MPS ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mps_resolved(tmp_path_factory):
    """The fixture spec with pool a10g-shared on MPS x4 (its node keeps 4 shares of one GPU)."""
    import yaml

    doc = yaml.safe_load(kf.SPEC.read_text(encoding="utf-8"))
    doc["nodePools"][0]["sharing"] = {"strategy": "mps", "replicas": 4}
    p = tmp_path_factory.mktemp("mps") / "gpuslice.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return api.load(p)


def test_smoke_on_mps_proves_the_pipe_as_the_validator_user(tmp_path, mps_resolved):
    with FakeKube(kf.healthy(), mps_control="writable") as fk:
        res = smoke(fk, tmp_path, mps_resolved, pool_name="a10g-shared")
    assert [f.id for f in res.findings] == ["smoke-passed"]
    assert res.mps and set(res.mps.values()) == {"uid=1000 control=writable"}
    msg = res.findings[0].message
    assert "MPS control pipe writable as uid=1000" in msg and "Not proven" in msg


@pytest.mark.parametrize(
    ("control", "fid"), [("denied", "smoke-mps-pipe"), ("absent", "smoke-mps-pipe"), (None, "smoke-mps-not-injected")]
)
def test_smoke_on_mps_reports_a_pipe_the_pods_cannot_use(tmp_path, mps_resolved, control, fid):
    with FakeKube(kf.healthy(), mps_control=control) as fk:
        res = smoke(fk, tmp_path, mps_resolved, pool_name="a10g-shared")
    assert fid in ids(res.findings) and "smoke-passed" not in [f.id for f in res.findings]


def test_smoke_script_probes_the_mps_pipe_before_cuda():
    from gpuslice.render.smoke import MPS_PREFIX, SCRIPT

    assert SCRIPT.index(MPS_PREFIX) < SCRIPT.index("vectorAdd")
    assert "CUDA_MPS_PIPE_DIRECTORY" in SCRIPT and "id -u" in SCRIPT


def test_verify_wants_a_ready_mps_control_daemon_on_mps_nodes(tmp_path, mps_resolved):
    c = kf.healthy()
    gpu1 = c.node(kf.GPU1)["metadata"]["labels"]
    gpu1.update({"nvidia.com/gpu.sharing-strategy": "mps", "nvidia.com/mps.capable": "true"})
    without = verify_view(mps_resolved, load_view(DumpSource(c.write_dump(tmp_path / "a"))))
    bad = [f for f in without.findings if f.id == "verify-mps-daemon"]
    assert bad and kf.GPU1 in bad[0].evidence[0]
    ds = "nvidia-device-plugin-mps-control-daemon"
    c.add_pod(
        kf.pod(
            f"{ds}-x1",
            c.namespace,
            kf.GPU1,
            containers=[kf.container("mps-control-daemon-ctr", kf.DP_IMAGE)],
            statuses=[kf.running("mps-control-daemon-ctr", kf.DP_IMAGE)],
            owner=("DaemonSet", ds),
            labels={"app": ds},
        )
    )
    with_daemon = verify_view(mps_resolved, load_view(DumpSource(c.write_dump(tmp_path / "b"))))
    assert not [f for f in with_daemon.findings if f.id == "verify-mps-daemon"]
