"""``operator.values``: the spec's own Helm values, merged last and proven like gpuslice's (real chart, real helm)."""

from __future__ import annotations

import pytest
import yaml

from gpuslice import api
from gpuslice.render import RenderOptions
from tests.helpers import CHARTS
from tests.test_images import PROXY, spec_text

CHART = CHARTS / "chart-v26.7.0"
POOLS = """\
  - name: jammy
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    disks: {rootGiB: 60}
    sharing: {strategy: time-slicing, replicas: 4}
  - name: noble
    instanceType: g5.2xlarge
    os: ubuntu-24.04
    disks: {rootGiB: 60}
    sharing: {strategy: mps, replicas: 2}
"""


def plan(tmp_path, values: dict, pools: str = POOLS):
    text = spec_text(pools=pools).replace(
        "operator: {chartVersion: v26.7.0}\n",
        "operator:\n  chartVersion: v26.7.0\n  values: " + yaml.safe_dump(values, default_flow_style=True),
    )
    p = tmp_path / "gpuslice.yaml"
    p.write_text(text, encoding="utf-8")
    res = api.plan(str(p), write=False, force=True, options=RenderOptions(chart=str(CHART)))
    values_yaml = res.rendered.files["values.yaml"] if res.rendered else ""
    return res, yaml.safe_load(values_yaml) if values_yaml else {}


def errors(res):
    return [f for f in res.findings if f.severity.value == "error"]


def test_values_merge_last_and_mixed_os_is_actionable_through_the_nvidiadriver_crd(tmp_path):
    """driver-mixed-os's fix: operator.values driver.nvidiaDriverCRD.enabled; the NVIDIADriver resource the chart
    then renders is proven (images through the proxy, pull secrets, its CRD schema) like everything else."""
    res, values = plan(
        tmp_path,
        {
            "driver": {"nvidiaDriverCRD": {"enabled": True}, "usePrecompiled": False},
            "dcgmExporter": {"resources": {"limits": {"memory": "512Mi"}}},
            "daemonsets": {"priorityClassName": "system-node-critical"},
        },
    )
    assert errors(res) == []
    assert values["driver"]["nvidiaDriverCRD"] == {"enabled": True}
    assert values["dcgmExporter"]["resources"] == {"limits": {"memory": "512Mi"}}
    # gpuslice's own values are still there under the user's (maps merge key by key)
    assert values["dcgmExporter"]["repository"].startswith(PROXY + "/")
    assert values["daemonsets"]["priorityClassName"] == "system-node-critical"
    assert values["daemonsets"]["tolerations"]
    without, _ = plan(tmp_path, {})
    assert "driver-mixed-os" in {f.id for f in without.findings}


def test_a_value_that_leaves_the_mirror_is_an_error_naming_its_key(tmp_path):
    res, values = plan(tmp_path, {"dcgmExporter": {"repository": "nvcr.io/nvidia/k8s"}})
    assert values["dcgmExporter"]["repository"] == "nvcr.io/nvidia/k8s"  # merged last: the user's value is used
    found = [f for f in errors(res) if f.id == "operator-image-not-mirrored"]
    assert found
    assert all(f.path == "operator.values.dcgmExporter.repository" for f in found)
    assert "operator.values.dcgmExporter.repository" in found[0].message


def test_a_value_that_drops_the_pull_secrets_is_an_error_naming_its_key(tmp_path):
    res, _values = plan(tmp_path, {"validator": {"imagePullSecrets": []}})
    found = [f for f in errors(res) if f.id == "operator-pull-secret-missing"]
    assert found and found[0].path == "operator.values.validator.imagePullSecrets"


def test_a_value_the_clusterpolicy_crd_refuses_is_an_error_naming_its_key(tmp_path):
    res, _values = plan(tmp_path, {"devicePlugin": {"hostNetwork": "sometimes"}})
    found = [f for f in errors(res) if f.path and f.path.startswith("operator.values.")]
    assert found, [f.id for f in errors(res)]
    assert found[0].path == "operator.values.devicePlugin.hostNetwork"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"devicePlugin": {"config": {"name": "my-config"}}}, "devicePlugin.config.name"),
        ({"devicePlugin": {"config": {"create": True}}}, "devicePlugin.config.create"),
        ({"mig": {"strategy": "single"}}, "mig.strategy"),
        ({"driver": {"enabled": False}}, "driver.enabled"),
    ],
)
def test_a_value_that_rewires_sharing_or_operands_is_an_error_naming_its_key(tmp_path, values, key):
    res, _values = plan(tmp_path, values)
    found = [f for f in errors(res) if f.id == "operator-values-conflict"]
    assert found and {f.path for f in found} == {f"operator.values.{key}"}


def test_a_value_equal_to_gpuslices_is_no_conflict(tmp_path):
    res, _values = plan(tmp_path, {"driver": {"enabled": True}, "mig": {"strategy": "none"}})
    assert not [f for f in res.findings if f.id == "operator-values-conflict"]


def test_spec_with_values_has_a_line_for_the_key(tmp_path, cli):
    p = tmp_path / "gpuslice.yaml"
    p.write_text(
        spec_text(pools=POOLS).replace(
            "operator: {chartVersion: v26.7.0}\n",
            "operator:\n  chartVersion: v26.7.0\n  values:\n    devicePlugin:\n      config: {name: mine}\n",
        ),
        encoding="utf-8",
    )
    r = cli("plan", p, "--chart", CHART, "-d", tmp_path / "out", "--output", "json")
    import json

    doc = json.loads(r.stdout)
    assert r.exit_code != 0, [(f["id"], f["path"]) for f in doc["findings"]]
    assert "operator.values.devicePlugin.config.name" in r.stdout
    assert not (tmp_path / "out").exists()
