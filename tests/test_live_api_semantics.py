"""The live adapter against an API server that answers like kube-apiserver: patch content types, optimistic
concurrency (resourceVersion, 409 Conflict vs AlreadyExists), a ClusterPolicy CRD that is not installed (404),
and a scheduler that honours taints and nodeSelector. Each test fails if the adapter (or the fake) goes back to
accepting what a real cluster rejects."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request

import pytest

from gpuslice.cluster.kube import AlreadyExists, Conflict, KubeClient, LiveSource
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.cluster.source import CLUSTERPOLICIES
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube

POLICY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, total_timeout=30.0)
NS = "gpu-operator"


@pytest.fixture
def api():
    with FakeKube(kf.healthy()) as a:
        yield a


def client(api: FakeKube, tmp_path) -> KubeClient:
    r = Retrier(policy=POLICY, sleep=time.sleep, rng=random.Random(1))
    return KubeClient(str(api.kubeconfig(tmp_path)), retrier=r, request_timeout=(2.0, 5.0))


def _raw(api: FakeKube, method: str, path: str, body: object, ctype: str) -> int:
    req = urllib.request.Request(
        api.url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": ctype}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_fake_refuses_a_patch_that_is_not_a_patch_type(api):
    node = kf.healthy().nodes[0]["metadata"]["name"]
    body = {"metadata": {"labels": {"a": "b"}}}
    assert _raw(api, "PATCH", f"/api/v1/nodes/{node}", body, "application/json") == 415
    assert _raw(api, "PATCH", f"/api/v1/nodes/{node}", body, "application/merge-patch+json") == 200


def test_node_labels_go_out_as_a_merge_patch_and_keep_other_labels(api, tmp_path):
    node = kf.healthy().nodes[0]
    name, before = node["metadata"]["name"], dict(node["metadata"]["labels"])
    client(api, tmp_path).patch_node_labels(name, {"nvidia.com/device-plugin.config": "k1"})
    patch = [r for r in api.requests if r.method == "PATCH"][-1]
    assert patch.body == {"metadata": {"labels": {"nvidia.com/device-plugin.config": "k1"}}}
    labels = api.get("nodes", name)["metadata"]["labels"]
    assert labels == {**before, "nvidia.com/device-plugin.config": "k1"}


def _existing_cm(api: FakeKube) -> dict:
    return api.items("configmaps", NS)[0]


def test_a_stale_replace_is_a_conflict_not_already_exists(api, tmp_path):
    k = client(api, tmp_path)
    cm = _existing_cm(api)
    name = cm["metadata"]["name"]
    stale = json.loads(json.dumps(cm))
    k.replace_configmap(NS, name, {**json.loads(json.dumps(cm)), "data": {"x": "someone else"}})
    stale["data"] = {"x": "mine"}
    with pytest.raises(Conflict) as e:
        k.replace_configmap(NS, name, stale)
    assert not isinstance(e.value, AlreadyExists) and e.value.status == 409
    assert "changed by someone else" in str(e.value)
    assert api.get("configmaps", name, NS)["data"] == {"x": "someone else"}  # not overwritten


def test_replace_retried_after_a_lost_answer_is_not_a_conflict(api, tmp_path):
    """The PUT goes through, the answer is lost; the retry would carry the old resourceVersion (409 on a real
    apiserver). The adapter recognises its own write instead of failing."""
    k = client(api, tmp_path)
    cm = json.loads(json.dumps(_existing_cm(api)))
    name, rv = cm["metadata"]["name"], cm["metadata"]["resourceVersion"]
    cm["data"] = {"config.yaml": "version: v1\n"}
    api.inject("PUT", r"/configmaps/", "reset-after")
    got = k.replace_configmap(NS, name, cm)
    assert got["data"] == {"config.yaml": "version: v1\n"}
    assert api.applied("PUT", r"/configmaps/") == 1
    assert api.get("configmaps", name, NS)["metadata"]["resourceVersion"] != rv  # every write moves it on


def test_create_of_an_existing_name_is_still_already_exists(api, tmp_path):
    body = {"metadata": {"name": _existing_cm(api)["metadata"]["name"]}, "data": {}}
    with pytest.raises(AlreadyExists):
        client(api, tmp_path).create("configmaps", NS, body)


def test_no_clusterpolicy_crd_means_no_clusterpolicy_on_a_live_cluster(tmp_path):
    c = kf.healthy()
    c.clusterpolicies = None  # the operator (and its CRD) never installed
    with FakeKube(c) as api:
        k = client(api, tmp_path)
        assert _raw(api, "GET", "/apis/nvidia.com/v1/clusterpolicies", None, "application/json") == 404
        assert k.list(CLUSTERPOLICIES) is None
        doc = LiveSource(k, [NS]).read(CLUSTERPOLICIES)
    assert doc is not None and doc["items"] == []  # known to be none, not "not captured"


def test_clusterpolicies_hidden_by_rbac_stay_unknown(api, tmp_path):
    api.inject("GET", r"/clusterpolicies$", "403", times=5)
    src = LiveSource(client(api, tmp_path), [NS])
    assert src.read(CLUSTERPOLICIES) is None
    assert src.denied and "clusterpolicies" in src.denied[0]


def test_fake_scheduler_keeps_an_untolerated_pod_off_a_tainted_node(api, tmp_path):
    node = next(
        n["metadata"]["name"]
        for n in kf.healthy().nodes
        if (n["status"].get("allocatable") or {}).get("nvidia.com/gpu")
    )
    api.get("nodes", node)["spec"]["taints"] = [{"key": "team", "value": "ml", "effect": "NoSchedule"}]
    k = client(api, tmp_path)

    def pod(name: str, tolerations: list[dict]) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": tolerations,
                "containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
            },
        }

    assert k.create("pods", NS, pod("no-tol", []))["status"]["phase"] == "Pending"
    tol = [{"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
    assert k.create("pods", NS, pod("tol", tol))["status"]["phase"] == "Running"


def test_an_expired_paging_token_falls_back_to_one_full_list(api, tmp_path, monkeypatch):
    from gpuslice.cluster import kube as kube_mod

    monkeypatch.setattr(kube_mod, "PAGE", 2)
    api.expire_continue = 1
    doc = client(api, tmp_path).list("pods", None)
    want = sorted(p["metadata"]["name"] for ps in kf.healthy().pods.values() for p in ps)
    assert sorted(p["metadata"]["name"] for p in doc["items"]) == want  # complete, no duplicates
    lists = [r for r in api.requests if r.path == "/api/v1/pods"]
    assert lists[-1].query.get("limit") is None and lists[-1].query.get("continue") is None


def _smoke(cluster: kf.Cluster, tmp_path, timeout: float = 5):
    from gpuslice import api as gapi
    from gpuslice.cluster.verify import run_smoke

    with FakeKube(cluster) as fk:
        res = run_smoke(
            gapi.load(kf.SPEC), client(fk, tmp_path), pool_name="a10g-shared", timeout=timeout, poll=0.01, run_id="t2"
        )
        created = [r.body for r in fk.requests if r.method == "POST" and r.path.endswith("/pods")]
    return res, created


def test_smoke_pods_select_the_node_by_its_hostname_label_not_its_name(tmp_path):
    c = kf.healthy()
    c.node(kf.GPU1)["metadata"]["labels"]["kubernetes.io/hostname"] = "ip-10-0-1-17"  # kubelet's host name
    res, created = _smoke(c, tmp_path)
    assert created[0]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "ip-10-0-1-17"}
    assert [f.id for f in res.findings] == ["smoke-passed"] and len(res.running) == 4


def test_smoke_pods_tolerate_the_gpu_taint(tmp_path):
    c = kf.healthy()
    c.node(kf.GPU1)["spec"]["taints"] = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    res, _ = _smoke(c, tmp_path)
    assert [f.id for f in res.findings] == ["smoke-passed"]
    c.node(kf.GPU1)["spec"]["taints"].append({"key": "dedicated", "value": "other-team", "effect": "NoSchedule"})
    res, _ = _smoke(c, tmp_path, timeout=0.5)  # a taint the spec does not name: nothing schedules, and smoke says so
    assert "smoke-not-concurrent" in [f.id for f in res.findings]


def test_smoke_waits_for_vectoradd_not_just_a_started_container(tmp_path):
    """A real container is Running and ready the moment it starts; vectorAdd may still fail after that."""
    from gpuslice import api as gapi
    from gpuslice.cluster.verify import READY_MARK, run_smoke
    from gpuslice.render.smoke import SCRIPT

    assert f"echo {READY_MARK}" in SCRIPT  # the line verify waits for is the one the pods print
    resolved = gapi.load(kf.SPEC)
    with FakeKube(kf.healthy()) as fk:
        fk.cuda_reads = 2  # slow CUDA start: the first two log reads show only the UUID line
        res = run_smoke(resolved, client(fk, tmp_path), pool_name="a10g-shared", timeout=5, poll=0.01, run_id="t3")
    assert [f.id for f in res.findings] == ["smoke-passed"] and len(res.running) == 4
    assert all(len(ids) == 1 for ids in res.uuids.values())
    with FakeKube(kf.healthy()) as fk:
        fk.cuda_reads, fk.cuda_fails = 1, True  # started, then vectorAdd fails
        res = run_smoke(resolved, client(fk, tmp_path), pool_name="a10g-shared", timeout=5, poll=0.01, run_id="t4")
        left = [p for p in fk.items("pods", None) if (p["metadata"].get("labels") or {}).get("gpuslice.dev/smoke-run")]
    ids = [f.id for f in res.findings]
    assert "smoke-cuda-failed" in ids and "smoke-passed" not in ids
    assert left == []
