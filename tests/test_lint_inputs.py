"""lint-config on the containers real users keep configs in: Flux HelmRelease, RKE2/k3s HelmChart, Argo CD
Application, chart values nested under a parent chart, templates, and hostile nesting (issue #14, #15).

Field names follow the CRDs: Flux ``spec.values`` (mapping), RKE2 ``spec.valuesContent`` (YAML string), Argo CD
``spec.source.helm.values`` (YAML string) / ``.valuesObject`` (mapping) and ``spec.sources[]``.
"""

from __future__ import annotations

import pytest

from gpuslice.errors import SpecError
from gpuslice.findings import Severity
from gpuslice.lintconfig import lint

CONFIG = """\
version: v1
flags:
  gfd:
    sleepInterval: infinite
sharing:
  timeSlicing:
    failRequestsGreaterThanOne: true
    resources:
    - name: nvidia.com/gpu
      replicas: 1
"""


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def _errors(r):
    return sorted((f.id, f.line) for f in r.findings if f.severity is Severity.ERROR)


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


FLUX = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: gpu-operator, namespace: gpu-operator}
spec:
  chart:
    spec:
      chart: gpu-operator
      version: v25.3.4
      sourceRef: {kind: HelmRepository, name: nvidia}
  values:
    driver:
      enabled: false
    devicePlugin:
      config:
        create: true
        name: time-slicing-config
        default: any
        data:
          any: |-
""" + _indent(CONFIG, 12)


def test_flux_helmrelease_values_are_linted_with_file_lines_and_the_chart_plugin():
    r = lint(FLUX, "hr.yaml")
    assert r.kind == "helm-values"
    # gpu-operator v25.3.4 ships device plugin v0.17.4: 'infinite' is fatal there, replicas 1 everywhere
    assert (r.plugin.version, r.plugin.rule_set) == ("v0.17.4", "v0.17.x")
    assert "gpu-operator chart v25.3.4" in r.plugin.source
    assert _errors(r) == sorted(
        [("lint-duration", _line_of(FLUX, "sleepInterval")), ("lint-replicas", _line_of(FLUX, "replicas"))]
    )
    f = next(f for f in r.findings if f.id == "lint-replicas")
    assert f.path.startswith("spec.values.devicePlugin.config.data[any]")
    # the same values with the newest plugin: only the replicas error is left
    assert [i for i, _ in _errors(lint(FLUX, "hr.yaml", plugin_version="v0.20.0"))] == ["lint-replicas"]


RKE2 = """\
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: gpu-operator, namespace: kube-system}
spec:
  repo: https://helm.ngc.nvidia.com/nvidia
  chart: gpu-operator
  version: v26.7.0
  targetNamespace: gpu-operator
  valuesContent: |-
    toolkit:
      env:
      - name: CONTAINERD_SOCKET
        value: /run/k3s/containerd/containerd.sock
    devicePlugin:
      config:
        create: true
        name: time-slicing-config
        default: anny
        data:
          any: |-
""" + _indent(CONFIG, 12)


def test_rke2_helmchart_values_content_is_parsed_with_this_files_lines():
    r = lint(RKE2, "helmchart.yaml")
    assert r.plugin.version == "v0.20.0" and "HelmChart kube-system/gpu-operator" in r.plugin.source
    ids = dict(_errors(r))
    assert ids["lint-replicas"] == _line_of(RKE2, "replicas")
    assert ids["lint-missing-config-key"] == _line_of(RKE2, "default: anny")  # the typo'd default
    assert "lint-duration" not in ids  # v0.20.0 reads 'infinite'
    f = next(f for f in r.findings if f.id == "lint-replicas")
    assert f.path.startswith("spec.valuesContent: devicePlugin.config.data[any]")


def test_rke2_helmchart_config_and_set_overrides():
    text = (
        "apiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\nmetadata: {name: gpu-operator, namespace: kube-system}\n"
        "spec:\n  valuesContent: |-\n    driver:\n      enabled: false\n"
    )
    r = lint(text, "hcc.yaml")
    assert r.ok and [f.id for f in r.findings] == ["lint-no-config"]
    text = text.replace("kind: HelmChartConfig", "kind: HelmChart").replace(
        "spec:\n", "spec:\n  chart: gpu-operator\n  set:\n    devicePlugin.enabled: 'true'\n"
    )
    assert {f.id for f in lint(text, "hc.yaml").findings} == {"lint-no-config", "lint-values-elsewhere"}


ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: nvdp, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://nvidia.github.io/k8s-device-plugin
    chart: nvidia-device-plugin
    targetRevision: 0.17.4
    helm:
      valuesObject:
        config:
          default: ts
          map:
            ts: |-
""" + _indent(CONFIG, 14)


def test_argo_application_values_object_and_chart_version():
    r = lint(ARGO, "app.yaml")
    # nvidia-device-plugin chart 0.17.4 is plugin v0.17.4
    assert r.plugin.version == "v0.17.4" and "nvidia-device-plugin chart 0.17.4" in r.plugin.source
    assert {i for i, _ in _errors(r)} == {"lint-duration", "lint-replicas"}
    assert all(f.path.startswith("spec.source.helm.valuesObject.config.map[ts]") for f in r.findings if f.path)


ARGO_SOURCES = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: gpu-operator, namespace: argocd}
spec:
  sources:
  - repoURL: https://github.com/example/values.git
    ref: values
  - repoURL: https://helm.ngc.nvidia.com/nvidia
    chart: gpu-operator
    targetRevision: v26.3.3
    helm:
      values: |
        devicePlugin:
          config:
            create: true
            name: ts
            default: any
            data:
              any: |-
""" + _indent(CONFIG, 16)


def test_argo_application_values_string_in_a_sources_list():
    r = lint(ARGO_SOURCES, "app.yaml")
    assert r.plugin.version == "v0.19.3"  # gpu-operator v26.3.3 ships v0.19.3: 'infinite' is read
    assert _errors(r) == [("lint-replicas", _line_of(ARGO_SOURCES, "replicas"))]
    assert not any(f.id == "lint-not-configmap" for f in r.findings)  # the `ref` source deploys nothing


APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: nvdp, namespace: argocd}
spec:
  generators: []
  template:
    metadata: {name: nvdp}
    spec:
      source:
        repoURL: https://nvidia.github.io/k8s-device-plugin
        chart: nvidia-device-plugin
        targetRevision: 0.18.2
        helm:
          valuesObject:
            config:
              map:
                ts: |-
""" + _indent(CONFIG, 18)


def test_applicationset_template_and_an_unrelated_chart():
    r = lint(APPSET, "appset.yaml")
    assert r.plugin.version == "v0.18.2"
    assert {i for i, _ in _errors(r)} == {"lint-duration", "lint-replicas"}
    other = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: grafana}\n"
        "spec:\n  chart: {spec: {chart: grafana, version: 8.0.0}}\n  values: {replicas: 2}\n"
    )
    with pytest.raises(SpecError, match="nothing to lint"):
        lint(other, "hr.yaml")
    r = lint(other + "---\n" + FLUX, "both.yaml")
    assert any(f.id == "lint-not-configmap" and "grafana" in f.message for f in r.findings)


def test_manifest_with_configmap_and_helmrelease():
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: time-slicing-config}\ndata:\n  any: |-\n" + _indent(
        CONFIG.replace("replicas: 1", "replicas: 4").replace("sleepInterval: infinite", "sleepInterval: 5m"), 4
    )
    release = FLUX.split("    devicePlugin:")[0]  # gpu-operator v25.3.4 release without a config
    r = lint(cm + "---\n" + release, "m.yaml")
    assert r.kind == "manifest" and r.ok and r.configmaps == ["time-slicing-config"]
    assert r.plugin.version == "v0.17.4"


def test_nested_parent_chart_values_with_a_config_are_linted():
    text = "global: {}\nmy-gpu-stack:\n  gpu-operator:\n" + _indent(FLUX.split("  values:\n", 1)[1], 2)
    r = lint(text, "values.yaml")
    assert r.kind == "helm-values" and {i for i, _ in _errors(r)} == {"lint-replicas"}
    f = next(f for f in r.findings if f.id == "lint-replicas")
    assert f.path.startswith("my-gpu-stack.gpu-operator.devicePlugin.config.data[any]")
    assert f.line == _line_of(text, "replicas")


def test_a_misspelt_config_is_still_a_config_and_other_yaml_is_nothing_to_lint():
    r = lint("version: v1\nsharring:\n  timeSlicing: {}\n", "c.yaml")
    assert any(f.id == "lint-unknown-key" and "sharring" in f.message for f in r.findings)
    with pytest.raises(SpecError, match="nothing to lint: not a device-plugin config"):
        lint("name: my-app\nimage: nginx\nport: 80\n", "app.yaml")


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("devicePlugin:\n  config:\n    name: {{ .Values.cmName }}\n", "{{ .Values.cmName }}"),
        ("{{- if .Values.enabled }}\nversion: v1\n{{- end }}\n", "{{- if .Values.enabled }}"),
    ],
)
def test_unparsable_templates_are_named(text, placeholder):
    with pytest.raises(SpecError) as e:
        lint(text, "t.yaml")
    assert f"unrendered template placeholder {placeholder!r}" in str(e.value)


def test_placeholders_replace_findings_on_their_line_only():
    text = (
        "version: v1\nsharing:\n  timeSlicing:\n    renameByDefault: ${RENAME}\n    resources:\n"
        "    - name: nvidia.com/gpu\n      replicas: 1\n"
    )
    r = lint(text, "c.yaml")
    assert sorted((f.id, f.line) for f in r.findings if f.severity is not Severity.INFO) == [
        ("lint-placeholder", 4),
        ("lint-replicas", 7),
    ]
    assert "${RENAME}" in next(f.message for f in r.findings if f.id == "lint-placeholder")


def test_deeply_nested_configmap_value_is_a_finding_not_a_recursion_error():
    """#15: `_looks_like_dp_config` parsed every ConfigMap value with no depth bound (RecursionError)."""
    deep = "\\x5b" * 3000 + "\\x5d" * 3000  # escaped brackets: no bracket in the file, 3000 levels once decoded
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: |\n    version: v1\n---\n"
        f'apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\ndata:\n  deep: "{deep}"\n'
    )
    r = lint(text, "deep.yaml")
    (f,) = [f for f in r.findings if f.severity is Severity.ERROR]
    assert f.id == "lint-yaml" and "nested more than" in f.message and f.line == 12


def test_helmrelease_naming_a_configmap_picks_it_and_its_default_must_exist():
    """A HelmRelease whose values name an existing ConfigMap (create unset) selects it among the manifest's
    ConfigMaps, like a ClusterPolicy does; its default must be a key there."""
    app_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gpu-operator-config}\ndata:\n  mig.strategy: mixed\n"
    dp_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: time-slicing-config}\ndata:\n  any: |-\n" + _indent(
        CONFIG.replace("replicas: 1", "replicas: 4").replace("infinite", "60s"), 4
    )
    release = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: gpu-operator}\n"
        "spec:\n  chart: {spec: {chart: gpu-operator, version: v24.9.0}}\n"
        "  values:\n    devicePlugin:\n      config: {name: time-slicing-config, default: any}\n"
    )
    r = lint(app_cm + "---\n" + dp_cm + "---\n" + release, "m.yaml")
    assert r.ok and r.configmaps == ["time-slicing-config"]
    assert any(f.id == "lint-not-configmap" and "gpu-operator-config" in f.message for f in r.findings)
    r = lint(app_cm + "---\n" + dp_cm + "---\n" + release.replace("default: any", "default: all"), "m.yaml")
    (f,) = [f for f in r.findings if f.severity is Severity.ERROR]
    assert f.id == "lint-missing-config-key" and "HelmRelease" in f.message
