"""GPU Operator chart versions beyond the two complete fixture charts: the real values files of five releases
(v22.9.2 .. v26.3.3, tests/fixtures/charts/SOURCE.md) wrapped in a small generated chart of the operator's
layout, rendered by the real helm; plus the chart sources a user gets wrong (packaged .tgz, nested subchart
.tgz, a folder without its NFD subchart, corrupt archives, another chart) and a chart that drops the values
gpuslice sets (as charts before v22.9.1 do)."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuslice.chart import ChartError, is_operator_chart, load_chart, locate_chart
from gpuslice.findings import Severity
from gpuslice.helm import run_helm
from gpuslice.images import parse_image
from gpuslice.render.operator import image_inventory, operator_values, values_yaml
from gpuslice.render.operator_proof import prove, render_chart
from tests.helpers import FIXTURES
from tests.test_images import PROXY, resolved_for, spec_text

DATA = FIXTURES / "charts"
VERSIONS: dict[str, dict[str, Any]] = yaml.safe_load((DATA / "versions.yaml").read_text())
SECRET = "corp-registry"

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusterpolicies.nvidia.com}
spec:
  group: nvidia.com
  names: {kind: ClusterPolicy, listKind: ClusterPolicyList, plural: clusterpolicies, singular: clusterpolicy}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

# The operator chart's shape: its own Deployment (tag defaults to appVersion, pull secrets as names), the
# ClusterPolicy built from every component mapping, the device-plugin ConfigMap the chart creates.
OPERATOR = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu-operator}
spec:
  selector: {matchLabels: {app: gpu-operator}}
  template:
    metadata: {labels: {app: gpu-operator}}
    spec:
      {{- with .Values.operator.imagePullSecrets }}
      imagePullSecrets:
      {{- range . }}
      - name: {{ . }}
      {{- end }}
      {{- end }}
      {{- with .Values.operator.initContainer }}
      initContainers:
      - name: init
        image: "{{ .repository }}/{{ .image }}:{{ .version }}"
      {{- end }}
      containers:
      - name: gpu-operator
        image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version | default .Chart.AppVersion }}"
"""
CLUSTER_POLICY = """\
apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata: {name: cluster-policy}
spec:
{{- range $key, $val := .Values }}
{{- if and (kindIs "map" $val) (or (hasKey $val "image") (hasKey $val "strategy")) (not (has $key (list "operator" "nfd" "node-feature-discovery"))) }}
  {{ $key }}: {{- toYaml $val | nindent 4 }}
{{- end }}
{{- end }}
"""
PLUGIN_CONFIG = """\
{{- if and .Values.devicePlugin.config.create (not (empty .Values.devicePlugin.config.data)) }}
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Values.devicePlugin.config.name }}}
data: {{ toYaml .Values.devicePlugin.config.data | nindent 2 }}
{{- end }}
"""
NFD_WORKER = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: "{{ .Release.Name }}-nfd-worker"}
spec:
  selector: {matchLabels: {app: nfd}}
  template:
    metadata: {labels: {app: nfd}}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: worker
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"""


def make_chart(root: Path, tag: str, *, templates: dict[str, str] | None = None, nfd: str = "folder") -> Path:
    """A chart folder of the operator's layout around the stored values of ``tag``; ``nfd``: folder, tgz or
    missing (declared in Chart.yaml, absent from charts/)."""
    meta = VERSIONS[tag]
    chart = root / f"gpu-operator-{tag}"
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "charts").mkdir()
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "gpu-operator",
                "version": "v1.0.0-devel",
                "appVersion": meta["appVersion"],
                "dependencies": [
                    {
                        "name": "node-feature-discovery",
                        "version": meta["nfdVersion"],
                        "repository": "https://kubernetes-sigs.github.io/node-feature-discovery/charts",
                        "condition": "nfd.enabled",
                    }
                ],
            }
        )
    )
    shutil.copy(DATA / tag / "values.yaml", chart / "values.yaml")
    (chart / "crds" / "clusterpolicies.yaml").write_text(CRD)
    for name, text in (
        templates
        if templates is not None
        else {
            "operator.yaml": OPERATOR,
            "clusterpolicy.yaml": CLUSTER_POLICY,
            "plugin_config.yaml": PLUGIN_CONFIG,
        }
    ).items():
        (chart / "templates" / name).write_text(text)
    if nfd != "missing":
        sub = root / "nfd-src" / "node-feature-discovery"
        (sub / "templates").mkdir(parents=True, exist_ok=True)
        (sub / "Chart.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v2",
                    "name": "node-feature-discovery",
                    "version": meta["nfdVersion"],
                    "appVersion": meta["nfdAppVersion"],
                }
            )
        )
        shutil.copy(DATA / tag / "nfd-values.yaml", sub / "values.yaml")
        (sub / "templates" / "worker.yaml").write_text(NFD_WORKER)
        if nfd == "tgz":
            run_helm(["package", str(sub), "-d", str(chart / "charts")])
        else:
            shutil.copytree(sub, chart / "charts" / "node-feature-discovery")
    return chart


def _owners(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], dict[str, Any]]:
    """Independent of gpuslice.images: every mapping that names an image with repository + image."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str) and node["repository"] and isinstance(node.get("image"), str):
            out[path] = node
        for k, v in node.items():
            out.update(_owners(v, (*path, str(k))))
    return out


@pytest.fixture(scope="module", params=sorted(VERSIONS), ids=sorted(VERSIONS))
def version(request, tmp_path_factory):
    tag = request.param
    r = resolved_for(spec_text(chart_version=tag))
    chart = load_chart(make_chart(tmp_path_factory.mktemp(tag.replace(".", "-")), tag))
    values = operator_values(r, chart)
    return tag, r, chart, values


def test_every_component_of_other_releases_goes_through_the_mirror(version):
    tag, _r, chart, values = version
    source = yaml.safe_load((DATA / tag / "values.yaml").read_text())
    final = chart.effective_values(values)
    owners = _owners(source)
    assert len(owners) >= 10, tag  # operator, validator, driver, toolkit, device plugin, dcgm-exporter, ...
    for path, node in owners.items():
        got = final
        for step in path:
            got = got[step]
        assert got["repository"] == f"{PROXY}/{node['repository']}", (tag, path)
        assert got["image"] == node["image"] and got.get("version", "") not in ("", None), (tag, path)
        # Pull secrets as names on every component (the operator chart's and the CRD's convention).
        assert SECRET in got["imagePullSecrets"], (tag, path)
    # Tags the chart leaves to a placeholder appVersion are pinned to the release.
    expected_operator = VERSIONS[tag]["appVersion"] if VERSIONS[tag]["appVersion"].startswith("v") else tag
    assert final["operator"]["version"] == (source["operator"].get("version") or expected_operator)
    nfd_source = yaml.safe_load((DATA / tag / "nfd-values.yaml").read_text())
    nfd = final["node-feature-discovery"]
    assert nfd["image"]["repository"] == f"{PROXY}/{nfd_source['image']['repository']}"
    assert nfd["image"]["tag"] == (nfd_source["image"].get("tag") or VERSIONS[tag]["nfdAppVersion"])
    assert nfd["imagePullSecrets"] == [{"name": SECRET}]  # NFD puts the list into its PodSpec as is


def test_inventory_of_other_releases_lists_the_driver_per_pool_os(version):
    tag, r, chart, _values = version
    source = yaml.safe_load((DATA / tag / "values.yaml").read_text())
    drv = source["driver"]
    inv = image_inventory(r, chart)
    by_source = {i.source: i.mirror for i in inv.images}
    for os_tag in ("ubuntu22.04", "ubuntu24.04"):  # the spec's Ubuntu pools; the AL2023 pool brings its own
        src = f"{drv['repository']}/{drv['image']}:{drv['version']}-{os_tag}"
        assert by_source[src] == f"{PROXY}/{src}", (tag, src)
    assert not any(
        s.startswith(f"{drv['repository']}/{drv['image']}:{drv['version']}")
        and s.endswith(("amzn2023", "-" + str(drv["version"])))
        for s in by_source
    )
    nfd = yaml.safe_load((DATA / tag / "nfd-values.yaml").read_text())["image"]
    assert f"{nfd['repository']}:{nfd.get('tag') or VERSIONS[tag]['nfdAppVersion']}" in by_source
    assert all(m and m.startswith(PROXY + "/") for m in by_source.values())
    for src in by_source:
        parse_image(src)  # every line is a well-formed reference


def test_helm_proof_on_other_releases_is_clean(version):
    tag, r, chart, values = version
    text = values_yaml(r, chart, values)
    docs = render_chart(r, chart, text)
    kinds = sorted(d["kind"] for d in docs)
    # no ConfigMap: gpuslice writes the sharing ConfigMap itself (devicePlugin.config.create=false)
    assert kinds == ["ClusterPolicy", "CustomResourceDefinition", "DaemonSet", "Deployment"], tag
    findings = prove(r, chart, text, image_inventory(r, chart), docs=docs)
    assert [f for f in findings if f.severity == Severity.ERROR] == [], tag
    policy = next(d for d in docs if d["kind"] == "ClusterPolicy")
    assert policy["spec"]["devicePlugin"]["config"]["name"] == r.device_plugin_configmap


def test_proof_catches_an_image_left_outside_the_mirror(version):
    tag, r, chart, values = version
    broken = yaml.safe_load(yaml.safe_dump(values))
    broken["dcgmExporter"]["repository"] = "nvcr.io/nvidia/k8s"
    text = values_yaml(r, chart, broken)
    found = [f for f in prove(r, chart, text, image_inventory(r, chart)) if f.id == "operator-image-not-mirrored"]
    assert found and all("nvcr.io/nvidia/k8s/dcgm-exporter" in f.message for f in found), tag


def test_packaged_chart_with_nested_subchart_tgz_reads_like_the_folder(tmp_path):
    tag = "v24.9.2"
    folder = load_chart(make_chart(tmp_path / "a", tag))
    nested = load_chart(make_chart(tmp_path / "b", tag, nfd="tgz"))  # `helm dependency build` layout
    run_helm(["package", str(nested.path), "--version", tag, "--app-version", tag, "-d", str(tmp_path / "pkg")])
    tgz = load_chart(tmp_path / "pkg" / f"gpu-operator-{tag}.tgz")
    assert (tgz.version, tgz.app_version) == (tag, tag)
    assert folder.effective_values() == nested.effective_values() == tgz.effective_values()
    assert [s.app_version for s in tgz.subcharts] == [VERSIONS[tag]["nfdAppVersion"]]
    assert is_operator_chart(tgz)
    r = resolved_for(spec_text(chart_version=tag))
    assert image_inventory(r, tgz).sources() == image_inventory(r, folder).sources()
    # The released chart carries the tag as appVersion: the operator image follows it.
    assert operator_values(r, tgz)["operator"]["version"] == tag


def _spec(tmp_path: Path, tag: str = "v24.9.2") -> Path:
    p = tmp_path / "gpuslice.yaml"
    p.write_text(spec_text(chart_version=tag))
    return p


def test_chart_folder_without_its_nfd_subchart_is_refused_clearly(cli, tmp_path):
    chart = make_chart(tmp_path, "v24.9.2", nfd="missing")
    with pytest.raises(ChartError) as e:
        load_chart(chart)
    assert "node-feature-discovery" in str(e.value) and f"helm dependency build {chart}" in str(e.value)
    r = cli("images", _spec(tmp_path), "--chart", chart)
    assert r.exit_code == 2 and "charts/ holds no copy" in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert r.stdout == ""  # no inventory that silently lacks NFD's image


def _tgz_bytes(chart: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(chart, arcname=chart.name)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (lambda data: data[: len(data) // 2], "corrupt or truncated"),
        (lambda data: b"", "an empty file"),
        (lambda data: b"apiVersion: v2\nname: gpu-operator\n", "not gzip-compressed"),
        (lambda data: gzip.compress(b"this is not a tar archive" * 40), "corrupt or truncated"),
    ],
    ids=["truncated", "empty", "yaml-not-tgz", "gzip-not-tar"],
)
def test_broken_archives_are_one_line_errors(cli, tmp_path, content, says):
    bad = tmp_path / "gpu-operator-v24.9.2.tgz"
    bad.write_bytes(content(_tgz_bytes(make_chart(tmp_path / "src", "v24.9.2"))))
    with pytest.raises(ChartError) as e:
        load_chart(bad)
    assert says in str(e.value) and "\n" not in str(e.value)
    r = cli("plan", _spec(tmp_path), "-d", tmp_path / "out", "--chart", bad, "--force")
    assert r.exit_code == 2 and says in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "out").exists()


def test_another_chart_is_not_taken_for_the_operator(cli, tmp_path):
    chart = make_chart(tmp_path, "v24.9.2")
    nfd = chart / "charts" / "node-feature-discovery"
    with pytest.raises(ChartError) as e:
        locate_chart(resolved_for(spec_text(chart_version="v24.9.2")), nfd)
    assert "not the NVIDIA GPU Operator chart" in str(e.value) and "ClusterPolicy" in str(e.value)
    r = cli("images", _spec(tmp_path), "--chart", nfd)
    assert r.exit_code == 2 and "not the NVIDIA GPU Operator chart" in r.stderr


# Charts before v22.9.1 have no plugin_config.yaml (nobody creates the ConfigMap); v1.x before v1.11 put no
# devicePlugin.config into the ClusterPolicy at all. Helm drops the values such a chart does not use.
NO_CONFIG_POLICY = CLUSTER_POLICY.replace(
    '(hasKey $val "strategy"))', '(hasKey $val "strategy")) (ne $key "devicePlugin")'
)


@pytest.mark.parametrize(
    ("templates", "says"),
    [
        (
            {"operator.yaml": OPERATOR, "clusterpolicy.yaml": NO_CONFIG_POLICY, "plugin_config.yaml": PLUGIN_CONFIG},
            "spec.devicePlugin.config.name is None",
        ),
        ({"operator.yaml": OPERATOR, "plugin_config.yaml": PLUGIN_CONFIG}, "creates no ClusterPolicy"),
    ],
    ids=["policy-without-config", "no-clusterpolicy"],
)
def test_proof_reports_values_the_chart_does_not_apply(tmp_path, templates, says):
    tag = "v23.9.2"
    r = resolved_for(spec_text(chart_version=tag))
    chart = load_chart(make_chart(tmp_path, tag, templates=templates))
    text = values_yaml(r, chart, operator_values(r, chart))
    found = [f for f in prove(r, chart, text, image_inventory(r, chart)) if f.id == "operator-values-not-applied"]
    assert len(found) == 1 and found[0].severity == Severity.ERROR
    assert says in " ".join([found[0].message, *found[0].evidence])


def test_chart_without_a_configmap_template_is_fine(tmp_path):
    """Charts before v22.9.1 have no plugin_config.yaml: gpuslice writes the ConfigMap anyway."""
    tag = "v23.9.2"
    r = resolved_for(spec_text(chart_version=tag))
    chart = load_chart(
        make_chart(tmp_path, tag, templates={"operator.yaml": OPERATOR, "clusterpolicy.yaml": CLUSTER_POLICY})
    )
    text = values_yaml(r, chart, operator_values(r, chart))
    assert [f for f in prove(r, chart, text, image_inventory(r, chart)) if f.id == "operator-values-not-applied"] == []


def test_proof_reports_a_sharing_configmap_the_chart_would_create(version):
    """Values that let the chart create the sharing ConfigMap: a helm upgrade would drop keys nodes select."""
    tag, r, chart, values = version
    if not (chart.path / "templates" / "plugin_config.yaml").exists():
        pytest.skip("this chart has no plugin_config.yaml")
    other = yaml.safe_load(yaml.safe_dump(values))
    other["devicePlugin"]["config"].update(create=True, data={"exclusive": "version: v1\n"})
    text = values_yaml(r, chart, other)
    found = [f for f in prove(r, chart, text, image_inventory(r, chart)) if f.id == "operator-values-not-applied"]
    assert found and "the chart creates ConfigMap" in " ".join(found[0].evidence), tag


def test_driver_tag_for_a_chart_version_the_catalog_does_not_know():
    from gpuslice.images import driver_os_tags

    pools = """\
  - {name: ubu, instanceType: g5.2xlarge, os: ubuntu-22.04}
  - {name: red, instanceType: g5.2xlarge, os: rhel-9}
"""
    r = resolved_for(spec_text(chart_version="v24.9.2", pools=pools))
    assert r.chart is None
    # Every catalogued chart publishes ubuntu22.04; RHEL 9 tags differ between them (minor vs major): no guess.
    assert driver_os_tags(r) == ({"ubuntu22.04": ["ubu"]}, ["red"])
    known = resolved_for(spec_text(chart_version="v26.7.0", pools=pools))
    assert driver_os_tags(known) == ({"rhel9": ["red"], "ubuntu22.04": ["ubu"]}, [])
