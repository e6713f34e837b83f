"""operator_values(): what gpuslice sets in the GPU Operator's Helm values, for both real charts (no helm)."""

from __future__ import annotations

import pytest
import yaml

from gpuslice import names
from gpuslice.chart import load_chart
from gpuslice.render.operator import mig_strategy, operator_values, pool_tolerations
from gpuslice.sharing import configmap_data
from tests.helpers import CHARTS
from tests.test_images import PROXY, resolved_for, spec_text

BOTH = [("v26.7.0", CHARTS / "chart-v26.7.0"), ("v25.3.4", CHARTS / "chart-v25.3.4")]


@pytest.fixture(scope="module", params=BOTH, ids=[v for v, _ in BOTH])
def case(request):
    version, path = request.param
    r = resolved_for(spec_text(chart_version=version))
    chart = load_chart(path)
    return r, chart, operator_values(r, chart)


def test_sharing_config_is_named_once_per_deployment_and_written_by_gpuslice(case):
    r, _chart, v = case
    cfg = v["devicePlugin"]["config"]
    # gpuslice writes the ConfigMap (device-plugin-config.yaml / apply), the chart only names it in ClusterPolicy
    assert cfg == {"create": False, "name": r.device_plugin_configmap, "default": "exclusive"}
    assert r.device_plugin_configmap == names.object_name(r.deployment_id, "dp-config")
    assert set(configmap_data(r)) == {"exclusive", *(p.sharing.config_key for p in r.pools)}
    # A changed sharing setting keeps the name (ClusterPolicy and the release unchanged); only keys/labels move.
    r2 = resolved_for(spec_text(chart_version=r.chart_version).replace("replicas: 4", "replicas: 8"))
    assert r2.device_plugin_configmap == r.device_plugin_configmap
    assert operator_values(r2, _chart) == v
    assert set(configmap_data(r2)) != set(configmap_data(r))


def test_mig_strategy_matches_the_device_plugin_config(case):
    r, _chart, v = case
    assert v["mig"]["strategy"] == mig_strategy(r)
    for text in configmap_data(r).values():
        assert yaml.safe_load(text)["flags"]["migStrategy"] == v["mig"]["strategy"]


def test_operands_follow_the_pool_oses(case):
    r, _chart, v = case
    # Ubuntu pools need the operator's driver and toolkit; the AL2023 pool opts out by node label.
    assert v["driver"]["enabled"] is True and v["toolkit"]["enabled"] is True
    assert v["devicePlugin"]["enabled"] is True
    assert r.pool("h100").node_labels["nvidia.com/gpu.deploy.driver"] == "false"


def test_explicit_versions_and_every_repository_through_the_proxy(case):
    r, chart, v = case
    for comp in ("operator", "validator", "nodeStatusExporter"):
        assert v[comp]["version"] == r.chart_version
    assert v["node-feature-discovery"]["image"]["tag"] == chart.subchart("node-feature-discovery").app_version
    for comp in ("operator", "validator", "driver", "toolkit", "devicePlugin", "gfd", "dcgmExporter", "migManager"):
        assert v[comp]["repository"].startswith(f"{PROXY}/nvcr.io/nvidia"), comp
        assert v[comp]["imagePullSecrets"] == ["corp-registry"], comp
    assert v["driver"]["manager"]["repository"] == f"{PROXY}/nvcr.io/nvidia/cloud-native"
    assert v["node-feature-discovery"]["image"]["repository"] == f"{PROXY}/registry.k8s.io/nfd/node-feature-discovery"
    assert v["node-feature-discovery"]["imagePullSecrets"] == [{"name": "corp-registry"}]


def test_nfd_names_stay_within_63(case):
    r, _chart, v = case
    full = v["node-feature-discovery"]["fullnameOverride"]
    assert full == names.nfd_fullname(r.deployment_id)
    assert len(full + "-topology-updater") <= 63
    long_id = resolved_for(spec_text().replace("deploymentId: ml-prod", "deploymentId: " + "d" * 60))
    assert len(names.nfd_fullname(long_id.deployment_id) + "-topology-updater") <= 63


def test_tolerations_cover_every_pool_taint_and_keep_the_chart_defaults(case):
    _r, chart, v = case
    ds = v["daemonsets"]["tolerations"]
    assert ds[: len(chart.values["daemonsets"]["tolerations"])] == chart.values["daemonsets"]["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"} in ds
    # nvidia.com/gpu=true:NoSchedule is already tolerated by the chart's `nvidia.com/gpu Exists`: no duplicate.
    assert sum(1 for t in ds if t.get("key") == "nvidia.com/gpu") == 1
    worker = v["node-feature-discovery"]["worker"]["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"} in worker
    assert any(t.get("key") == "node-role.kubernetes.io/control-plane" for t in worker)


def test_toleration_semantics():
    r = resolved_for(
        spec_text(
            pools="""\
  - name: p
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    taints:
      - {key: a, value: "1", effect: NoSchedule}
      - {key: b, effect: NoSchedule}
      - {key: c, value: x, effect: NoExecute}
"""
        )
    )
    out = pool_tolerations(
        r, [{"key": "a", "operator": "Equal", "value": "2", "effect": "NoSchedule"}, {"key": "c", "operator": "Exists"}]
    )
    assert {"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"} in out  # value differs: added
    assert {"key": "b", "operator": "Exists", "effect": "NoSchedule"} in out  # empty value: Exists
    assert not any(t.get("key") == "c" and t.get("value") == "x" for t in out)  # tolerated by `c Exists`
    everything = pool_tolerations(r, [{"operator": "Exists"}])
    assert everything == [{"operator": "Exists"}]


def test_all_al2023_keeps_the_ami_driver_and_toolkit():
    r = resolved_for(spec_text(pools="  - {name: h100, instanceType: p5.48xlarge, os: al2023-nvidia}\n"))
    v = operator_values(r, CHARTS / "chart-v26.7.0")
    assert v["driver"]["enabled"] is False and v["toolkit"]["enabled"] is False
    assert v["devicePlugin"]["enabled"] is True and v["devicePlugin"]["config"]["name"]


def test_bottlerocket_only_leaves_the_device_plugin_to_the_os():
    r = resolved_for(spec_text(pools="  - {name: br, instanceType: g5.2xlarge, os: bottlerocket-nvidia}\n"))
    v = operator_values(r, str(CHARTS / "chart-v26.7.0"))
    assert v["devicePlugin"] == {
        "repository": f"{PROXY}/nvcr.io/nvidia",
        "imagePullSecrets": ["corp-registry"],
        "enabled": False,
        # GFD (and its config-manager, which uses the devicePlugin image) still reads the sharing config
        "config": {"create": False, "name": r.device_plugin_configmap, "default": "exclusive"},
    }


def test_bottlerocket_gfd_gets_the_key_of_the_pools_sharing():
    """PASSED: on a Bottlerocket-only spec the pool's nodes select the key that says what Bottlerocket's own device
    plugin does (time-slicing x4), so GFD labels nvidia.com/gpu.replicas=4 / sharing-strategy=time-slicing; before,
    GFD ran without a config and labelled replicas=1 / none."""
    r = resolved_for(
        spec_text(
            pools="  - {name: br, instanceType: g5.2xlarge, os: bottlerocket-nvidia, "
            "sharing: {strategy: time-slicing, replicas: 4}}\n"
        )
    )
    pool = r.pool("br")
    assert pool is not None
    key = pool.node_labels["nvidia.com/device-plugin.config"]
    cfg = yaml.safe_load(configmap_data(r)[key])
    assert cfg["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert r.device_plugin_enabled is False  # the OS runs the device plugin, the operator only GFD


def test_bottlerocket_gfd_config_removed_by_a_user_value_is_refused():
    """FAILED: operator.values that take the config away from ClusterPolicy (GFD would label replicas=1 again)."""
    from gpuslice.checks.operator import values_conflicts

    text = spec_text(pools="  - {name: br, instanceType: g5.2xlarge, os: bottlerocket-nvidia}\n").replace(
        "operator: {chartVersion: v26.7.0}", "operator: {chartVersion: v26.7.0, values: {devicePlugin: {config: null}}}"
    )
    found = list(values_conflicts(resolved_for(text)))
    assert [f.path for f in found] == ["operator.values.devicePlugin.config"]


def test_no_mirror_no_secret_changes_no_repository():
    r = resolved_for(spec_text(registry=""))
    v = operator_values(r, CHARTS / "chart-v26.7.0")
    assert "repository" not in v["driver"] and "imagePullSecrets" not in v["operator"]
    assert v["operator"] == {"version": "v26.7.0"} and v["node-feature-discovery"]["image"] == {"tag": "v0.19.0"}


def test_values_are_deterministic():
    r = resolved_for(spec_text())
    a = operator_values(r, CHARTS / "chart-v25.3.4")
    b = operator_values(r, load_chart(CHARTS / "chart-v25.3.4"))
    assert yaml.safe_dump(a) == yaml.safe_dump(b)
