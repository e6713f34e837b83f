"""apply changes sharing key by key: a stable ConfigMap name, content-named keys, nodes relabelled one at a time.

The fake API server plays config-manager + GFD on every node (``FakeKube.plugin_config``): a node whose
``nvidia.com/device-plugin.config`` label changes reloads its plugin, GFD relabels ``nvidia.com/gpu.replicas``,
and any moment at which a node selects a key the ConfigMap lacks is recorded (config-manager would exit there,
NVIDIA/k8s-device-plugin cmd/config-manager/main.go ``updateConfigName``). The fake helm records every upgrade.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml

from gpuslice.cluster.apply import WRITTEN_AT, ApplyError, ApplyOptions, Prepared, apply_release, prepare
from gpuslice.cluster.helmops import Helm
from gpuslice.cluster.kube import KubeClient
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.helm import find_helm
from gpuslice.sharing import configmap_data
from tests import k8sfixtures as kf
from tests.conftest import CHARTS
from tests.fakeapi import FakeKube
from tests.fakehelm import install

CHART = CHARTS / "chart-v26.7.0"
POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, total_timeout=10.0)
LABEL = "nvidia.com/device-plugin.config"
GPU1B = "ip-10-0-1-99.ec2.internal"  # a second node of pool a10g-shared


def spec_variant(tmp_path: Path, name: str, edit) -> str:
    doc = yaml.safe_load(kf.SPEC.read_text(encoding="utf-8"))
    edit(doc)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return str(p)


@pytest.fixture(scope="module")
def base() -> Prepared:
    return prepare(str(kf.SPEC), chart=str(CHART))


@pytest.fixture(scope="module")
def x4_three(tmp_path_factory) -> Prepared:
    """The fixture spec with one pool's replicas changed (a10g-x4: 2 -> 3)."""

    def edit(doc):
        doc["nodePools"][1]["sharing"]["replicas"] = 3

    return prepare(spec_variant(tmp_path_factory.mktemp("x4"), "x4", edit), chart=str(CHART))


@pytest.fixture(scope="module")
def both_changed(tmp_path_factory) -> Prepared:
    def edit(doc):
        doc["nodePools"][0]["sharing"]["replicas"] = 6
        doc["nodePools"][1]["sharing"]["replicas"] = 3

    return prepare(spec_variant(tmp_path_factory.mktemp("both"), "both", edit), chart=str(CHART))


class Clock:
    """Fake wall and monotonic clock that ``sleep`` advances."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.slept: list[float] = []

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += max(s, 0.5)

    def now(self) -> float:
        return self.t


def deployed_cluster(base: Prepared, second_node: bool = True) -> kf.Cluster:
    """The fixture cluster as gpuslice left it: labels, ConfigMap, GFD labels; optionally two nodes in a10g-shared."""
    c = kf.healthy()
    if second_node:
        n = copy.deepcopy(c.node(kf.GPU1))
        n["metadata"]["name"] = GPU1B
        n["metadata"]["labels"]["kubernetes.io/hostname"] = GPU1B
        c.nodes.append(n)
    return c


class Env:
    def __init__(self, tmp_path: Path, base: Prepared, cluster: kf.Cluster) -> None:
        r = base.resolved
        self.api = FakeKube(cluster, plugin_config=(r.namespace, r.device_plugin_configmap))
        self.api.__enter__()
        self.helm_fake = install(tmp_path, real_helm=find_helm())
        self.helm_fake.set_release(r.release_name, r.namespace, base.chart.label, base.values)
        self.clock = Clock()
        retrier = Retrier(policy=POLICY, sleep=lambda _s: None, rng=random.Random(3))
        self.kube = KubeClient(str(self.api.kubeconfig(tmp_path)), retrier=retrier)
        self.helm = Helm(helm=str(self.helm_fake.path), retrier=retrier)

    def apply(self, prep: Prepared, **kw):
        opts = ApplyOptions(
            poll_interval=1.0, rollout_timeout=5.0, configmap_sync=90.0, node_timeout=kw.pop("node_timeout", 30.0), **kw
        )
        return apply_release(
            prep.resolved,
            prep.values,
            prep.chart,
            kube=self.kube,
            helm=self.helm,
            options=opts,
            sleep=self.clock.sleep,
            clock=self.clock.now,
            now=self.clock.now,
        )

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p.rsplit("/", 1)[-1] if "/nodes/" in p else p.split("/")[-2]) for m, p in self.api.writes]

    def cm(self, prep: Prepared) -> dict[str, str]:
        r = prep.resolved
        return self.api.get("configmaps", r.device_plugin_configmap, r.namespace)["data"]

    def label(self, node: str) -> str:
        return self.api.get("nodes", node)["metadata"]["labels"].get(LABEL)

    def close(self) -> None:
        self.api.__exit__()


@pytest.fixture
def env(tmp_path, base):
    e = Env(tmp_path, base, deployed_cluster(base))
    yield e
    e.close()


def test_one_pool_change_leaves_the_release_and_clusterpolicy_alone(base, x4_three):
    """Rendering: the values (so the ClusterPolicy helm renders) are the same; only the pool's label differs."""
    assert x4_three.values == base.values
    assert x4_three.resolved.device_plugin_configmap == base.resolved.device_plugin_configmap
    old = {p.name: p.node_labels for p in base.resolved.pools}
    new = {p.name: p.node_labels for p in x4_three.resolved.pools}
    assert old["a10g-shared"] == new["a10g-shared"]
    assert old["a10g-x4"][LABEL] == "time-slicing-2" and new["a10g-x4"][LABEL] == "time-slicing-3"


def test_one_pool_edit_relabels_only_that_pool_in_order(env, base, x4_three):
    upgrades = len(env.helm_fake.calls("upgrade"))
    res = env.apply(x4_three)
    # exact order of writes: the ConfigMap gains the new key (keeping the old one a node selects), then the one
    # node of the pool is relabelled, then the key no node selects any more is removed
    assert env.writes() == [("PUT", "configmaps"), ("PATCH", kf.GPU4), ("PUT", "configmaps")]
    assert len(env.helm_fake.calls("upgrade")) == upgrades  # no helm upgrade: ClusterPolicy untouched
    assert not any("clusterpolicies" in p for _m, p in env.api.writes)
    assert env.api.plugin_restarts == [kf.GPU4]  # only that pool's node reloaded its plugin
    assert env.api.missing_key == []
    assert set(env.cm(x4_three)) == set(configmap_data(x4_three.resolved))
    assert "time-slicing-2" not in env.cm(x4_three)
    assert env.label(kf.GPU4) == "time-slicing-3" and env.label(kf.GPU1) == "time-slicing-4"
    gpu4 = env.api.get("nodes", kf.GPU4)["metadata"]["labels"]
    assert gpu4["nvidia.com/gpu.replicas"] == "3"
    # the relabel waited for the kubelet to refresh the mounted ConfigMap first
    assert env.clock.slept and env.clock.slept[0] == pytest.approx(90.0)
    steps = [(s.name, s.action) for s in res.steps]
    assert ("release", "unchanged") in steps and ("relabel", "relabelled") in steps
    again = env.apply(x4_three)
    assert not again.changed


def test_nodes_move_one_at_a_time_each_confirmed_by_gfd(env, base, both_changed):
    env.api.gfd_lag = {kf.GPU1: 3, GPU1B: 2}
    env.apply(both_changed)
    reqs = [(r.method, r.path.rsplit("/", 1)[-1]) for r in env.api.requests if "/nodes/" in r.path]
    first, second = reqs.index(("PATCH", kf.GPU1)), reqs.index(("PATCH", GPU1B))
    # the second node of the pool is relabelled only after the first node's GFD reported (4 reads: 3 lagging)
    assert reqs[first + 1 : second].count(("GET", kf.GPU1)) == 4
    assert env.api.plugin_restarts == [kf.GPU1, GPU1B, kf.GPU4]
    assert env.api.missing_key == []
    assert set(env.cm(both_changed)) == set(configmap_data(both_changed.resolved))


def test_node_that_does_not_report_stops_apply_and_a_rerun_resumes(env, base, both_changed):
    env.api.gfd_stuck = {kf.GPU1}
    with pytest.raises(ApplyError) as e:
        env.apply(both_changed, node_timeout=5.0)
    assert f"node {kf.GPU1}" in str(e.value) and "stopped before the next node" in str(e.value)
    # the other nodes were not touched; old keys are still there for them
    assert env.label(GPU1B) == "time-slicing-4" and env.label(kf.GPU4) == "time-slicing-2"
    assert {"time-slicing-4", "time-slicing-2", "time-slicing-6", "time-slicing-3"} <= set(env.cm(both_changed))
    assert env.api.missing_key == []
    # the plugin is fixed; apply runs again and carries on where it stopped (no second kubelet wait: the keys
    # were written long enough ago)
    env.api.gfd_stuck = set()
    env.api.pending_gfd[kf.GPU1] = {"nvidia.com/gpu.replicas": "6", "nvidia.com/gpu.sharing-strategy": "time-slicing"}
    env.clock.slept.clear()
    env.apply(both_changed)
    assert 90.0 not in env.clock.slept
    assert env.api.plugin_restarts == [kf.GPU1, GPU1B, kf.GPU4]
    assert set(env.cm(both_changed)) == set(configmap_data(both_changed.resolved))
    assert env.api.missing_key == []


# Every write apply makes for a two-pool change, and a permanent failure injected at each one.
STEPS = [
    ("PUT", r"/configmaps/", 0),  # adding the new keys
    ("PATCH", r"/nodes/" + kf.GPU1, 0),
    ("PATCH", r"/nodes/" + GPU1B, 0),
    ("PATCH", r"/nodes/" + kf.GPU4, 0),
    ("PUT", r"/configmaps/", 1),  # removing the keys no node selects
]


@pytest.mark.parametrize(("method", "path", "skip"), STEPS, ids=["cm-add", "node1", "node2", "node3", "cm-prune"])
def test_failure_at_any_write_leaves_every_node_on_an_existing_key_and_resumes(env, both_changed, method, path, skip):
    env.api.inject(method, path, "403", skip=skip)
    with pytest.raises(ApplyError):
        env.apply(both_changed)
    assert env.api.missing_key == []
    data = env.cm(both_changed)
    for n in (kf.GPU1, GPU1B, kf.GPU4):
        assert env.label(n) in data
    env.apply(both_changed)  # resume
    assert env.api.missing_key == []
    assert env.cm(both_changed) == {k: v for k, v in configmap_data(both_changed.resolved).items()}
    assert [env.label(n) for n in (kf.GPU1, GPU1B, kf.GPU4)] == ["time-slicing-6"] * 2 + ["time-slicing-3"]
    assert sorted(env.api.plugin_restarts) == sorted([kf.GPU1, GPU1B, kf.GPU4])  # each node reloaded once


def test_helm_failure_mid_apply_leaves_every_node_on_an_existing_key(env, base, both_changed):
    values = copy.deepcopy(both_changed.values)
    values["dcgmExporter"] = {"enabled": False}
    err = "Error: UPGRADE FAILED: execution error at (gpu-operator/templates/validations.yaml:18:3): refused"
    env.helm_fake.plan_failures({"stderr": err, "exit": 1})
    prep = Prepared(both_changed.resolved, values, both_changed.chart, both_changed.findings)
    with pytest.raises(ApplyError):
        env.apply(prep)
    assert env.api.missing_key == []
    assert env.api.plugin_restarts == []  # no node moved before the release was in place
    assert {"time-slicing-4", "time-slicing-2"} <= set(env.cm(both_changed))
    env.apply(prep)
    assert env.api.missing_key == []
    assert [env.label(n) for n in (kf.GPU1, GPU1B, kf.GPU4)] == ["time-slicing-6"] * 2 + ["time-slicing-3"]


def test_a_node_outside_the_spec_keeps_its_key(env, both_changed):
    """A node no pool claims but which selects an old key: that key stays in the ConfigMap."""
    stray = copy.deepcopy(env.api.get("nodes", kf.GPU4))
    stray["metadata"]["name"] = "ip-10-0-9-9.ec2.internal"
    stray["metadata"]["labels"] = {LABEL: "time-slicing-2", "nvidia.com/gpu.replicas": "2"}
    env.api._put("nodes", "", stray)
    env.apply(both_changed)
    assert "time-slicing-2" in env.cm(both_changed)
    assert env.api.missing_key == []


def test_configmap_write_records_when_and_dry_run_writes_nothing(env, both_changed):
    res = env.apply(both_changed, dry_run=True, kube_version="1.33.0")
    assert env.api.writes == []
    assert ("relabel", "would-relabel") in [(s.name, s.action) for s in res.steps]
    env.apply(both_changed)
    r = both_changed.resolved
    cm = env.api.get("configmaps", r.device_plugin_configmap, r.namespace)
    assert WRITTEN_AT in cm["metadata"]["annotations"]


def test_same_meaning_renders_byte_identical(tmp_path):
    """Explicit defaults (failRequestsGreaterThanOne: true, renameByDefault: false) dropped or added and keys in
    another order: every rendered file is byte-identical (the ConfigMap name and keys follow the meaning)."""
    from gpuslice import api
    from gpuslice.render import RenderOptions

    doc = yaml.safe_load(kf.SPEC.read_text(encoding="utf-8"))
    for p in doc["nodePools"]:
        p["sharing"].pop("failRequestsGreaterThanOne")
        p["sharing"] = dict(reversed(list(p["sharing"].items())))
        p["sharing"]["renameByDefault"] = False
    other = tmp_path / "reordered.yaml"
    other.write_text(yaml.safe_dump(dict(reversed(list(doc.items()))), sort_keys=False), encoding="utf-8")
    opts = RenderOptions(chart=str(CHART))
    a = api.plan(str(kf.SPEC), write=False, options=opts).rendered
    b = api.plan(str(other), write=False, options=RenderOptions(chart=str(CHART))).rendered
    assert a is not None and b is not None
    assert sorted(a.files) == sorted(b.files)
    assert [k for k in a.files if a.files[k] != b.files[k]] == []
    assert "device-plugin-config.yaml" in a.files


def test_a_node_moved_onto_mps_waits_for_its_mps_control_daemon(env, tmp_path):
    """MPS: GFD's labels are not enough; the node's MPS control daemon pod must be ready before the next node."""

    def edit(doc):
        doc["nodePools"][1]["sharing"] = {"strategy": "mps", "replicas": 2}

    prep = prepare(spec_variant(tmp_path, "mps", edit), chart=str(CHART))
    ns = prep.resolved.namespace
    ds = "nvidia-device-plugin-mps-control-daemon"
    env.api._put("daemonsets", ns, {"metadata": {"name": ds, "namespace": ns}, "spec": {}, "status": {}})
    with pytest.raises(ApplyError) as e:
        env.apply(prep, node_timeout=3.0)
    assert f"the {ds} pod on it is not ready" in str(e.value)
    assert env.label(kf.GPU4) == "mps-2" and "time-slicing-2" in env.cm(prep)  # not pruned yet
    # a re-run does not take the moved node as done: it waits for its daemon again, and prunes nothing
    with pytest.raises(ApplyError):
        env.apply(prep, node_timeout=3.0)
    assert "time-slicing-2" in env.cm(prep)
    env.api._put(
        "pods",
        ns,
        {
            "metadata": {"name": f"{ds}-abcde", "namespace": ns, "labels": {"app": ds}},
            "spec": {"nodeName": kf.GPU4, "containers": [{"name": "mps-control-daemon-ctr", "image": "x"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    res = env.apply(prep)
    assert "time-slicing-2" not in env.cm(prep) and env.api.missing_key == []
    steps = [(s.name, s.action) for s in res.steps]
    assert ("relabel", "relabelled") not in steps  # the node was moved once, by the first run
    assert ("configmap-prune", "updated") in steps


def test_ctrl_c_while_a_node_is_moving_then_a_rerun_finishes(env, both_changed):
    """Interrupted (Ctrl-C) while waiting for the first relabelled node: every node still selects a key that
    exists, and the next apply confirms that node, moves the others and prunes."""
    env.api.gfd_lag = {kf.GPU1: 5}
    calls = {"n": 0}
    real_sleep = env.clock.sleep

    def interrupting_sleep(s: float) -> None:
        real_sleep(s)
        if env.api.plugin_restarts:  # a node has moved: the user presses Ctrl-C while apply waits for it
            calls["n"] += 1
            raise KeyboardInterrupt

    env.clock.sleep = interrupting_sleep  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        env.apply(both_changed)
    assert calls["n"] == 1 and env.api.plugin_restarts == [kf.GPU1]
    assert env.api.missing_key == []
    env.clock.sleep = real_sleep  # type: ignore[method-assign]
    res = env.apply(both_changed)
    steps = [(s.name, s.action) for s in res.steps]
    assert steps.index(("relabel", "confirmed")) < steps.index(("relabel", "relabelled"))
    assert env.api.plugin_restarts == [kf.GPU1, GPU1B, kf.GPU4] and env.api.missing_key == []
    assert env.cm(both_changed) == configmap_data(both_changed.resolved)


def test_moving_off_an_older_hashed_configmap_carries_the_keys_nodes_select(tmp_path, base, both_changed):
    """A cluster an older gpuslice set up: the release names a content-hashed ConfigMap (created by the chart) and
    the sharing changes in the same apply. The new stable ConfigMap keeps the old keys the nodes select, so when the
    operator moves the pods onto it no node selects a missing key."""
    c = deployed_cluster(base)
    r = base.resolved
    old_name = "demo-1-dp-config-e7d8710c"
    c.configmaps[r.namespace][0]["metadata"]["name"] = old_name
    e = Env(tmp_path, base, c)
    try:
        old_values = copy.deepcopy(base.values)
        old_values["devicePlugin"]["config"] = {
            "create": True,
            "name": old_name,
            "default": "exclusive",
            "data": configmap_data(r),
        }
        e.helm_fake.set_release(r.release_name, r.namespace, base.chart.label, old_values)
        new = both_changed.resolved.device_plugin_configmap
        e.api.plugin_config = (r.namespace, new)  # where the operator moves every pod once the release names it
        res = e.apply(both_changed)
        assert not [f for f in res.findings if f.id == "apply-config-key-missing"]
        assert e.api.missing_key == []
        written = next(r_.body for r_ in e.api.requests if r_.method == "POST" and r_.path.endswith("/configmaps"))
        assert {"time-slicing-4", "time-slicing-2"} <= set(written["data"])  # carried over from the old one
        assert set(e.api.get("configmaps", new, r.namespace)["data"]) == set(configmap_data(both_changed.resolved))
    finally:
        e.close()
