"""apply: real rendered values, the official kubernetes client against the fake API server, a fake helm that
keeps helm's release record (and fails on demand with helm's real error texts), the real chart for dry runs."""

from __future__ import annotations

import json
import random

import pytest

from gpuslice.cluster.apply import ApplyError, ApplyOptions, Prepared, apply_release, prepare
from gpuslice.cluster.helmops import Helm
from gpuslice.cluster.kube import KubeClient
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.helm import find_helm
from tests import k8sfixtures as kf
from tests.conftest import CHARTS
from tests.fakeapi import FakeKube
from tests.fakehelm import FakeHelm, install

CHART = CHARTS / "chart-v26.7.0"
POLICY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, total_timeout=20.0)


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    """The real plan: values.yaml from the values renderer, for the fixture spec and the real v26.7.0 chart."""
    return prepare(str(kf.SPEC), chart=str(CHART))


def fresh_cluster() -> kf.Cluster:
    """The healthy fixture cluster before gpuslice labelled it: no config labels, one node known only by its
    EKS node group."""
    c = kf.healthy()
    for n in c.nodes:
        n["metadata"]["labels"].pop("nvidia.com/device-plugin.config", None)
    c.node(kf.GPU4)["metadata"]["labels"].pop("gpuslice.dev/pool")
    return c


class Env:
    def __init__(self, tmp_path, cluster: kf.Cluster | None = None) -> None:
        self.api = FakeKube(cluster or fresh_cluster())
        self.api.__enter__()
        self.helm_fake: FakeHelm = install(tmp_path, real_helm=find_helm())
        self.sleeps: list[float] = []
        self.retrier = Retrier(policy=POLICY, sleep=self.sleeps.append, rng=random.Random(7))
        self.kube = KubeClient(str(self.api.kubeconfig(tmp_path)), retrier=self.retrier)
        self.helm = Helm(helm=str(self.helm_fake.path), retrier=self.retrier)

    def apply(self, prep: Prepared, **kw):
        opts = ApplyOptions(poll_interval=0.0, rollout_timeout=5.0, **kw)
        return apply_release(
            prep.resolved, prep.values, prep.chart, kube=self.kube, helm=self.helm, options=opts, sleep=lambda _s: None
        )

    def close(self) -> None:
        self.api.__exit__()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


def test_first_apply_installs_with_rendered_values_and_labels_every_pool(env, prepared):
    res = env.apply(prepared)
    assert res.changed
    ups = env.helm_fake.calls("upgrade")
    assert len(ups) == 1
    argv = ups[0]
    r = prepared.resolved
    assert argv[:4] == ["upgrade", "--install", r.release_name, str(CHART)]
    for flag, value in (("--namespace", r.namespace), ("--timeout", "15m")):
        assert argv[argv.index(flag) + 1] == value
    assert "--create-namespace" in argv and "--wait" in argv and "--values" in argv
    # helm got exactly the values the plan rendered (values.yaml), sharing config under the hashed name
    assert env.helm_fake.values_passed() == [prepared.values]
    assert prepared.values["devicePlugin"]["config"]["name"] == r.device_plugin_configmap
    # every pool's nodes carry the pool's labels, found by pool label or by EKS node group
    for pool in r.pools:
        name = kf.GPU1 if pool.name == "a10g-shared" else kf.GPU4
        labels = env.api.get("nodes", name)["metadata"]["labels"]
        assert {k: labels.get(k) for k in pool.node_labels} == pool.node_labels
    assert env.api.applied("PATCH", r"/api/v1/nodes/") == 2
    assert {s.name: s.action for s in res.steps}["release"] == "installed"


def test_second_apply_is_a_noop(env, prepared):
    env.apply(prepared)
    writes_before = list(env.api.writes)
    res = env.apply(prepared)
    assert not res.changed
    assert [s.action for s in res.steps] == ["unchanged"] * len(res.steps)
    assert len(env.helm_fake.calls("upgrade")) == 1  # no second helm upgrade
    assert env.api.writes == writes_before  # no API write at all
    assert res.fingerprint == env.apply(prepared).fingerprint


def test_changed_values_upgrade_and_say_what_changed(env, prepared):
    env.apply(prepared)
    values = json.loads(json.dumps(prepared.values))
    values["dcgmExporter"] = {"enabled": False}
    res = apply_release(
        prepared.resolved,
        values,
        prepared.chart,
        kube=env.kube,
        helm=env.helm,
        options=ApplyOptions(poll_interval=0, rollout_timeout=1),
    )
    step = next(s for s in res.steps if s.name == "release")
    assert step.action == "upgraded" and "dcgmExporter" in step.detail
    assert env.helm_fake.releases()[f"{prepared.resolved.namespace}/{prepared.resolved.release_name}"]["revision"] == 2


def test_failed_release_is_upgraded_again(env, prepared):
    r = prepared.resolved
    env.helm_fake.set_release(r.release_name, r.namespace, prepared.chart.label, prepared.values, status="failed")
    res = env.apply(prepared)
    step = next(s for s in res.steps if s.name == "release")
    assert step.action == "upgraded" and "status is failed" in step.detail


HELM_TRANSIENT = [
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    'Error: UPGRADE FAILED: Internal error occurred: failed calling webhook "validate.nvidia.com": '
    "the server is currently unable to handle the request",
    'Error: Kubernetes cluster unreachable: Get "https://ABCD.gr7.us-east-1.eks.amazonaws.com/version": '
    "dial tcp 10.0.0.12:443: i/o timeout",
    'Error: UPGRADE FAILED: Get "https://ABCD.gr7.us-east-1.eks.amazonaws.com/api/v1/namespaces/gpu-operator/'
    'secrets?labelSelector=owner%3Dhelm": read tcp 10.0.0.5:51234->10.0.0.12:443: read: connection reset by peer',
    "Error: UPGRADE FAILED: context deadline exceeded",
    "Error: UPGRADE FAILED: the server has received too many requests and has asked us to try again later "
    "(get secrets)",
    "Error: INSTALLATION FAILED: failed to fetch https://helm.ngc.nvidia.com/nvidia/charts/gpu-operator-v26.7.0.tgz "
    ": 503 Service Unavailable",
]


@pytest.mark.parametrize(
    "stderr", HELM_TRANSIENT, ids=["locked", "5xx", "io-timeout", "reset", "deadline", "429", "repo-503"]
)
def test_transient_helm_failures_are_retried_and_reported(env, prepared, stderr):
    env.helm_fake.plan_failures({"stderr": stderr, "exit": 1}, {"stderr": stderr, "exit": 1})
    res = env.apply(prepared)
    assert len(env.helm_fake.calls("upgrade")) == 3
    helm_retries = [e for e in res.retries if e.operation.startswith("helm upgrade")]
    assert [e.attempt for e in helm_retries] == [1, 2]
    assert all(e.error.startswith("Error:") for e in helm_retries)
    assert next(s for s in res.steps if s.name == "release").action == "installed"


def test_permanent_helm_error_is_not_retried(env, prepared):
    err = (
        "Error: UPGRADE FAILED: execution error at (gpu-operator/templates/validations.yaml:18:3): "
        "devicePlugin.config.data cannot be empty when devicePlugin.config.create is set to true"
    )
    env.helm_fake.plan_failures({"stderr": err, "exit": 1})
    with pytest.raises(ApplyError) as e:
        env.apply(prepared)
    assert len(env.helm_fake.calls("upgrade")) == 1
    assert "validations.yaml:18:3" in str(e.value)
    # what happened before the failure is still reported
    assert any(s.name == "labels" and s.action == "labelled" for s in e.value.result.steps)


def test_lock_that_never_clears_gives_up_with_a_clear_error(env, prepared):
    lock = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
    env.helm_fake.plan_failures(*[{"stderr": lock, "exit": 1}] * 10)
    with pytest.raises(ApplyError) as e:
        env.apply(prepared)
    assert len(env.helm_fake.calls("upgrade")) == POLICY.max_attempts
    msg = str(e.value)
    assert f"after {POLICY.max_attempts} attempt(s)" in msg and "another helm operation" in msg
    assert "helm -n gpu-operator rollback" in msg  # the fix, which gpuslice never runs itself
    assert len(e.value.result.retries) >= POLICY.max_attempts - 1


def test_lost_answer_does_not_repeat_the_upgrade(env, prepared):
    """helm's upgrade went through but the connection dropped: before retrying, apply sees the release is
    already deployed with these values and does not run helm again."""
    env.helm_fake.plan_failures(
        {
            "stderr": "Error: UPGRADE FAILED: read tcp 10.0.0.5:51234->10.0.0.12:443: read: connection reset by peer",
            "exit": 1,
            "apply": True,
        }
    )
    res = env.apply(prepared)
    assert len(env.helm_fake.calls("upgrade")) == 1
    assert len(res.retries) == 1
    assert next(s for s in res.steps if s.name == "release").action == "installed"


def test_dry_run_changes_nothing_and_renders_the_real_chart(env, prepared):
    res = env.apply(prepared, dry_run=True, kube_version="1.33.0")
    assert env.api.writes == []
    assert env.helm_fake.calls("upgrade") == []
    assert env.helm_fake.calls("template")  # client-side render through the real helm
    actions = {s.name: s.action for s in res.steps}
    assert actions["render"] == "checked"
    assert actions["release"] == "would-install"
    assert actions["labels"] == "would-label"
    assert res.would_change and not res.changed


def test_dry_run_reports_a_values_file_the_chart_refuses(env, prepared):
    values = json.loads(json.dumps(prepared.values))
    values["devicePlugin"]["config"].update(create=True, data={})
    res = apply_release(
        prepared.resolved, values, prepared.chart, kube=env.kube, helm=env.helm, options=ApplyOptions(dry_run=True)
    )
    assert [f.id for f in res.findings] == ["apply-render-failed"]
    assert "cannot be empty" in res.findings[0].message


def test_sharing_change_rolls_the_device_plugin(env, prepared):
    """The config changes (new hashed ConfigMap name): apply reports it and watches the operator roll the device
    plugin and GFD DaemonSets onto the new ConfigMap."""
    r = prepared.resolved
    old = json.loads(json.dumps(prepared.values))
    old["devicePlugin"]["config"]["name"] = "demo-1-dp-config-0ld0ld00"
    env.helm_fake.set_release(r.release_name, r.namespace, prepared.chart.label, old)
    desired = 2
    progress = [
        {
            "desiredNumberScheduled": desired,
            "numberReady": 1,
            "updatedNumberScheduled": 1,
            "numberUnavailable": 1,
            "observedGeneration": 3,
        },
        {
            "desiredNumberScheduled": desired,
            "numberReady": desired,
            "updatedNumberScheduled": desired,
            "numberAvailable": desired,
            "observedGeneration": 3,
        },
    ]
    for name in ("nvidia-device-plugin-daemonset", "gpu-feature-discovery"):
        env.api.rollout[name] = [dict(s) for s in progress]
    res = env.apply(prepared)
    steps = [(s.name, s.action) for s in res.steps]
    assert ("release", "upgraded") in steps
    assert ("rollout", "started") in steps and ("rollout", "rolled") in steps
    started = next(s for s in res.steps if s.action == "started")
    assert "demo-1-dp-config-0ld0ld00 -> " + r.device_plugin_configmap in started.detail
    assert env.api.count("GET", r"/apis/apps/v1/namespaces/gpu-operator/daemonsets$") >= 2


def test_rollout_that_does_not_finish_is_a_warning_not_a_hang(env, prepared):
    r = prepared.resolved
    old = json.loads(json.dumps(prepared.values))
    old["devicePlugin"]["config"]["name"] = "demo-1-dp-config-0ld0ld00"
    env.helm_fake.set_release(r.release_name, r.namespace, prepared.chart.label, old)
    stuck = {
        "desiredNumberScheduled": 2,
        "numberReady": 1,
        "updatedNumberScheduled": 1,
        "numberUnavailable": 1,
        "observedGeneration": 3,
    }
    env.api.rollout["nvidia-device-plugin-daemonset"] = [stuck]
    res = apply_release(
        r,
        prepared.values,
        prepared.chart,
        kube=env.kube,
        helm=env.helm,
        options=ApplyOptions(poll_interval=0.0, rollout_timeout=0.0),
    )
    assert [f.id for f in res.findings] == ["apply-rollout-pending"]
    assert "1/2 updated" in res.findings[0].message


def test_configmap_managed_by_gpuslice_when_the_chart_does_not_create_it(env, prepared):
    """Values that name the ConfigMap without letting the chart create it: apply creates it (once, even when the
    create's answer is lost) in the release namespace."""
    values = json.loads(json.dumps(prepared.values))
    values["devicePlugin"]["config"] = {"name": prepared.resolved.device_plugin_configmap, "default": "exclusive"}
    ns, name = prepared.resolved.namespace, prepared.resolved.device_plugin_configmap
    env.api.store[("configmaps", ns)].clear()
    env.api.inject("POST", r"/configmaps$", "reset-after")
    res = apply_release(
        prepared.resolved,
        values,
        prepared.chart,
        kube=env.kube,
        helm=env.helm,
        options=ApplyOptions(poll_interval=0, rollout_timeout=0),
    )
    assert ("configmap", "created") in [(s.name, s.action) for s in res.steps]
    assert env.api.applied("POST", r"/configmaps$") == 1
    cm = env.api.get("configmaps", name, ns)
    assert set(cm["data"]) == set(prepared.resolved.sharing_configs)
    again = apply_release(
        prepared.resolved,
        values,
        prepared.chart,
        kube=env.kube,
        helm=env.helm,
        options=ApplyOptions(poll_interval=0, rollout_timeout=0),
    )
    assert not again.changed


def test_pool_without_nodes_is_reported(tmp_path, prepared):
    c = fresh_cluster()
    c.nodes = [n for n in c.nodes if n["metadata"]["name"] != kf.GPU4]
    e = Env(tmp_path, c)
    try:
        res = e.apply(prepared)
    finally:
        e.close()
    assert [(f.id, f.pool) for f in res.findings] == [("apply-pool-no-nodes", "a10g-x4")]


def test_apply_cli_twice(tmp_path, cli):
    """The verb end to end: real plan, fake helm, fake API; the second run says there is nothing to do."""
    api = FakeKube(fresh_cluster())
    with api:
        fake = install(tmp_path, real_helm=find_helm())
        kc = api.kubeconfig(tmp_path)
        base = ["apply", kf.SPEC, "--chart", CHART, "--helm", fake.path, "--kubeconfig", kc, "--rollout-timeout", "0"]
        args = [*base, "--output", "json"]
        first = cli(*args)
        assert first.exit_code == 0, first.output
        doc = json.loads(first.stdout)
        assert doc["changed"] and doc["ok"]
        text = cli(*base)
        assert text.exit_code == 0 and "no changes" in text.stdout
    assert len(fake.calls("upgrade")) == 1
