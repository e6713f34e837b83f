"""lint-config on configs real users posted (tests/fixtures/lint/realworld, sources in SOURCE.md).

Each row: the verdict (valid / invalid / unreadable), the ids that must be reported (errors, for an invalid file),
ids that must NOT be reported, and why that is right by the plugin's own loader (per version, api/config/v1), the
gpu-operator / nvidia-device-plugin charts' values and the GitOps CRDs — decided from those sources and the threads,
not from gpuslice's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuslice.errors import SpecError
from gpuslice.findings import Severity
from gpuslice.lintconfig import lint, lint_file
from tests.helpers import FIXTURES

REAL = FIXTURES / "lint" / "realworld"

# file -> (verdict, error ids that must appear, ids that must not appear at all, why)
TABLE: dict[str, tuple[str, set[str], set[str], str]] = {
    "dp321-quadro-p2000.yaml": ("valid", set(), {"lint-fail-requests"}, "renameByDefault + failRequests, 4 replicas"),
    "dp353-rename.yaml": ("valid", set(), set(), "rename is parsed then reset at startup: a warning, not an error"),
    "dp461-flags-plugin.yaml": ("valid", set(), {"lint-unknown-key"}, "every flags.plugin key is a real flag"),
    "dp463-tabs.yaml": ("unreadable", set(), set(), "tabs / a mapping after a scalar: no YAML parser accepts it"),
    "dp816-unindented-mps.yaml": (
        "invalid",
        {"lint-type"},
        set(),
        "top-level 'resources' is a list, Config.Resources is a struct: json unmarshal fails at load",
    ),
    "dp816-reply-misindented.yaml": ("unreadable", set(), set(), "'replicas' indented under the name scalar"),
    "dp1022-nvdp-values.yaml": (
        "valid",
        set(),
        {"lint-unknown-key"},
        "nvidia-device-plugin chart values: config.map entries are configs",
    ),
    "dp1132-mps-raw.yaml": ("valid", set(), set(), "MPS on nvidia.com/gpu with 2 replicas"),
    "dp1433-rename-under-flags.yaml": (
        "invalid",
        {"lint-unknown-key"},
        set(),
        "renameByDefault under flags is dropped silently: exactly the bug the user reported",
    ),
    "dp1548-operator-values-mps-one.yaml": (
        "invalid",
        {"lint-replicas"},
        {"lint-unknown-key"},
        "gpu-operator values; MPS replicas 1 fails 'number of replicas must be >= 2' (the issue's crash)",
    ),
    "dp-readme-placeholders.yaml": (
        "invalid",
        {"lint-type", "lint-resource-name", "lint-replicas"},
        set(),
        "the README template copied literally: '<bool>' is no bool, '<resource-name>' no resource, replicas no int",
    ),
    "dp-readme-example-config0.yaml": ("valid", set(), set(), "flags only: no sharing"),
    "dp-readme-example-config1.yaml": ("valid", set(), set(), "migStrategy mixed, no sharing"),
    "dp-readme-mps-10.yaml": ("valid", set(), set(), "the README's MPS example"),
    "op684-any-12.yaml": ("valid", set(), set(), "12 replicas"),
    "op835-operator-values-any.yaml": (
        "valid",
        set(),
        {"lint-unknown-key", "lint-missing-config-key"},
        "gpu-operator values with create/name/default/data; default 'any' exists",
    ),
    "op1144-any-8.yaml": ("valid", set(), set(), "the docs' time-slicing-config-all with 8 replicas"),
    "nvdocs-config-fine-mig-mixed.yaml": (
        "valid",
        set(),
        {"lint-resource-unknown", "lint-mig-strategy"},
        "MIG resources under migStrategy mixed are shareable; mig-7g.40gb is a real profile",
    ),
    "nemo2510-any-4.yaml": ("valid", set(), set(), "NVIDIA's own NIM docs"),
    "gist-josemarcosrf-all.yaml": ("valid", set(), set(), "the docs' time-slicing-config-all"),
    "bottlerocket-rendered-defaults.yaml": (
        "valid",
        set(),
        {"lint-type-coerced"},
        "quoted resource name and Bottlerocket's flag defaults",
    ),
    "blog-oneuptime-rancher.yaml": ("valid", set(), set(), "three keys, trailing comments after replicas"),
    "blog-k8srecipes-default-dev.yaml": ("valid", set(), set(), "two keys, failRequests true"),
    "blog-lillytech-kube-system.yaml": ("valid", set(), set(), "standalone plugin in kube-system"),
    "blog-lucaberton-replicas-one.yaml": (
        "invalid",
        {"lint-replicas"},
        set(),
        "'default' with replicas: 1 fails to load: every unlabelled node's plugin crash-loops",
    ),
    "kustomize-build-output.yaml": (
        "valid",
        set(),
        {"lint-root", "lint-unknown-key"},
        "multi-doc kustomize output: only the ConfigMap the ClusterPolicy names is a device-plugin config",
    ),
    "kubectl-get-cm-list.yaml": (
        "valid",
        set(),
        {"lint-root", "lint-unknown-key"},
        "`kubectl get cm -o yaml` of the operator namespace: kube-root-ca.crt and mig-parted's ConfigMap are skipped",
    ),
    # --- GitOps wrappers, chart values without a sharing config, templates (issue #14)
    "flux-fleet-gpu-operator-helmrelease.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key", "lint-placeholder"},
        "Flux HelmRelease of gpu-operator 23.9.0 whose values set only toolkit.version: nothing to share; the "
        "${...} substitutions are on lines nothing is checked on",
    ),
    "flux-fleet-helmrelease-patch.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key", "lint-helm-values"},
        "a HelmRelease patch naming an existing ConfigMap (create unset): the chart renders no ConfigMap, the "
        "operator mounts time-slicing-config",
    ),
    "flux-fleet-time-slicing-placeholder.yaml": (
        "valid",
        {"lint-placeholder"},
        {"lint-replicas"},
        "replicas is a Flux substitution (default 4): unknown until rendered, so named as a placeholder, not called "
        "a string replicas",
    ),
    "giantswarm-parent-chart-values.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key", "lint-root"},
        "gpu-operator values nested under a parent chart's `gpu-operator:` key, no devicePlugin.config",
    ),
    "op412-parent-chart-values.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key", "lint-helm-values"},
        "parent-chart values naming a ConfigMap (nvidia-time-slicing-config) that lives elsewhere",
    ),
    "argo-cgdevx-gpu-operator-application.yaml": (
        "valid",
        {"lint-no-config", "lint-values-elsewhere"},
        {"lint-unknown-key"},
        "Argo CD Application, helm.values without devicePlugin.config; helm.parameters are not in the file's values",
    ),
    "argo-sources-valuefiles.yaml": (
        "valid",
        {"lint-no-config", "lint-values-elsewhere"},
        {"lint-not-configmap"},
        "multi-source Application: the chart source has no inline values (valueFiles from the `ref` source)",
    ),
    "values-toolkit-only.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key"},
        "the values file that Application reads: toolkit.version only",
    ),
    "bottlerocket-template-unrendered.yaml": (
        "unreadable",
        set(),
        set(),
        "Bottlerocket's Handlebars template (TOML front matter, {{...}}): not YAML until rendered",
    ),
    "mps-verification-49.yaml": (
        "invalid",
        {"lint-mps-replicas"},
        set(),
        "49 MPS replicas: the MPS control daemon allows 48 clients (mps/device.go assertReplicas)",
    ),
    "mps-verification-fail-greater-than-one.yaml": ("valid", set(), {"lint-mps-fail-requests"}, "MPS, 10 replicas"),
    "mps-verification-rename-by-default.yaml": ("valid", set(), set(), "MPS with renameByDefault"),
    "mps-verification-cluster-policy.yaml": (
        "unreadable",
        set(),
        set(),
        "a ClusterPolicy alone: nothing to lint; it names the ConfigMap plugin-config",
    ),
    "mps-verification-olm-subscription.yaml": ("unreadable", set(), set(), "OLM Namespace/OperatorGroup/Subscription"),
    "blog-ablaamim-plugin-config-ts-mps.yaml": (
        "valid",
        set(),
        {"lint-both-strategies"},
        "one key time-slicing, one key MPS: each config has one strategy",
    ),
    "nvdp-tenzin-values.yaml": (
        "valid",
        set(),
        {"lint-missing-config-key", "lint-unknown-key"},
        "nvidia-device-plugin chart values, one config.map entry (no default: the chart's 'single' fallback)",
    ),
    "nvdp-boettiger-values.yaml": (
        "valid",
        set(),
        {"lint-missing-config-key", "lint-unknown-key"},
        "nvidia-device-plugin chart values: default 'timeslice' exists; 'no-sharing' is flags only",
    ),
    "nvdp-jerome3o-values.yaml": ("valid", set(), {"lint-unknown-key"}, "flags only in config.map"),
    "rke2-helmchart-gpu-operator.yaml": (
        "valid",
        {"lint-no-config"},
        {"lint-unknown-key"},
        "RKE2 HelmChart of gpu-operator 24.6.1: valuesContent sets driver/toolkit/validator/dcgmExporter, no sharing",
    ),
    "clusterpolicy-manifest-used-as-values.yaml": (
        "unreadable",
        set(),
        set(),
        "a manifest (ClusterPolicy, ServiceMonitor, ...) without the ConfigMap it names: nothing to lint",
    ),
}

#: unreadable files: what the message must say (exit 2)
UNREADABLE = {
    "dp463-tabs.yaml": "invalid YAML",
    "dp816-reply-misindented.yaml": "invalid YAML",
    "bottlerocket-template-unrendered.yaml": "unrendered template placeholder '{{default true",
    "mps-verification-cluster-policy.yaml": "names the ConfigMap 'plugin-config'",
    "mps-verification-olm-subscription.yaml": "nothing to lint",
    "clusterpolicy-manifest-used-as-values.yaml": "names the ConfigMap 'time-slicing-config'",
}

#: the device-plugin rules each file is checked with when nothing is given: (version, where it came from)
PLUGIN = {
    "flux-fleet-gpu-operator-helmrelease.yaml": ("v0.14.2", "gpu-operator chart 23.9.0"),
    "argo-cgdevx-gpu-operator-application.yaml": ("v0.15.0", "gpu-operator chart v24.3.0"),
    "argo-sources-valuefiles.yaml": ("v0.14.3", "gpu-operator chart 23.9.1"),
    "rke2-helmchart-gpu-operator.yaml": ("v0.16.2", "HelmChart kube-system/gpu-operator: gpu-operator chart 24.6.1"),
    "dp1548-operator-values-mps-one.yaml": ("v0.20.0", "default"),
    "nvdp-boettiger-values.yaml": ("v0.20.0", "default"),
}


def _verdict(path: Path):
    try:
        r = lint_file(path)
    except SpecError as e:
        return "unreadable", str(e)
    return ("valid" if r.ok else "invalid"), r


def test_table_covers_every_fixture_and_cites_a_source():
    files = {p.name for p in REAL.iterdir() if p.suffix in (".yaml", ".json")}
    assert files == set(TABLE)
    assert len(TABLE) >= 30
    assert {n for n, row in TABLE.items() if row[0] == "unreadable"} == set(UNREADABLE)
    sources = (REAL / "SOURCE.md").read_text(encoding="utf-8")
    for name in TABLE:
        assert name.rsplit(".", 1)[0] in sources, name


@pytest.mark.parametrize("name", sorted(TABLE))
def test_real_config_verdict(name):
    verdict, must, must_not, why = TABLE[name]
    got, r = _verdict(REAL / name)
    assert got == verdict, (why, r if isinstance(r, str) else [(f.id, f.message) for f in r.findings])
    if isinstance(r, str):
        assert UNREADABLE[name] in r, r
        return
    errors = {f.id for f in r.findings if f.severity is Severity.ERROR}
    assert must <= (errors if verdict == "invalid" else {f.id for f in r.findings}), (why, errors)
    assert not ({f.id for f in r.findings} & must_not), (why, [(f.id, f.message) for f in r.findings])
    for f in r.findings:
        if f.severity is Severity.ERROR:
            assert f.line, f  # every error points at a line of the user's file


@pytest.mark.parametrize("name", sorted(n for n, row in TABLE.items() if row[0] == "valid"))
def test_valid_real_configs_stay_valid_in_upstream_mode(name):
    """--upstream is looser, never stricter."""
    assert lint_file(REAL / name, upstream=True).ok


def test_upstream_mode_downgrades_the_dropped_key_only():
    r = lint_file(REAL / "dp1433-rename-under-flags.yaml", upstream=True)
    assert r.ok
    assert any(
        f.id == "lint-unknown-key" and f.severity is Severity.WARNING and "renameByDefault" in f.message
        for f in r.findings
    )


def test_helm_values_gpu_operator_points_at_the_value_line():
    r = lint_file(REAL / "dp1548-operator-values-mps-one.yaml")
    assert r.kind == "helm-values"
    f = next(f for f in r.findings if f.id == "lint-replicas")
    lines = (REAL / "dp1548-operator-values-mps-one.yaml").read_text().splitlines()
    assert lines[f.line - 1].strip() == "replicas: 1"
    assert f.path.startswith("devicePlugin.config.data[rtx-2080-ti]")
    assert {c.key for c in r.configs} == {"default", "rtx-2080-ti"}


VALUES = """\
devicePlugin:
  config:
    name: {name}
    create: {create}
    default: {default}
    data:
      any: |-
        version: v1
        sharing:
          timeSlicing:
            failRequestsGreaterThanOne: true
            resources:
            - name: nvidia.com/gpu
              replicas: 4
"""


@pytest.mark.parametrize(
    ("name", "create", "default", "want"),
    [
        ("ts-config", "true", "any", set()),
        ("ts-config", "true", "anny", {"lint-missing-config-key"}),  # typo in the default: config-manager fails
        ('""', "true", "any", {"lint-helm-values"}),  # the chart's validations.yaml fails
        ("Time.Slicing", "true", "any", {"lint-configmap-name"}),
    ],
)
def test_helm_values_chart_rules(name, create, default, want):
    r = lint(VALUES.format(name=name, create=create, default=default), "values.yaml")
    assert {f.id for f in r.findings if f.severity is Severity.ERROR} == want


def test_helm_values_data_without_create_warns():
    r = lint(VALUES.format(name="ts", create="false", default="any"), "values.yaml")
    assert r.ok
    assert [f.id for f in r.findings if f.severity is Severity.WARNING] == ["lint-helm-values"]


def test_helm_values_checks_cli_keys(cli):
    p = REAL / "op835-operator-values-any.yaml"
    res = cli("lint-config", str(p), "--node-label-keys", "any,a100", "--output", "json")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["kind"] == "helm-values"
    assert [f["id"] for f in out["findings"] if f["severity"] == "error"] == ["lint-missing-config-key"]


def test_kustomize_output_without_clusterpolicy_picks_by_content():
    text = (REAL / "kustomize-build-output.yaml").read_text()
    text = text[: text.index("apiVersion: nvidia.com/v1")]
    r = lint(text, "k.yaml")
    assert r.ok and r.configmaps == ["time-slicing-config-b7f9g2d4kc"]
    skipped = [f.message for f in r.findings if f.id == "lint-not-configmap"]
    assert any("dashboard-settings" in m for m in skipped) and any("mig-parted" in m for m in skipped)


def test_kustomize_output_clusterpolicy_default_must_exist():
    text = (REAL / "kustomize-build-output.yaml").read_text().replace("default: any", "default: all")
    r = lint(text, "k.yaml")
    assert [f.id for f in r.findings if f.severity is Severity.ERROR] == ["lint-missing-config-key"]


def test_a_lone_broken_configmap_is_still_linted():
    """Selection only applies between several ConfigMaps; one non-config ConfigMap is reported, not skipped."""
    r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  LOG_LEVEL: info\n", "cm.yaml")
    assert not r.ok and {f.id for f in r.findings if f.severity is Severity.ERROR} == {"lint-root"}


def test_helm_values_checked_against_a_spec(tmp_path):
    """--spec on a values file: every key the spec's pools select must be in devicePlugin.config.data."""
    from gpuslice import api
    from tests.helpers import MINIMAL, write_spec

    resolved = api.load(write_spec(tmp_path, MINIMAL))
    want = {p.node_labels.get("nvidia.com/device-plugin.config") for p in resolved.pools} - {None}
    r = lint(VALUES.format(name="ts", create="true", default="any"), "values.yaml", resolved=resolved)
    missing = {
        f.message.split("no key '", 1)[1].split("'", 1)[0] for f in r.findings if f.id == "lint-missing-config-key"
    }
    assert want and want <= missing


@pytest.mark.parametrize("name", sorted(PLUGIN))
def test_real_files_say_which_plugin_rules_they_were_checked_with(name):
    version, where = PLUGIN[name]
    r = lint_file(REAL / name)
    assert r.plugin.version == version and where in r.plugin.source, r.plugin


def test_no_config_values_never_call_top_level_keys_unknown(cli):
    """Published gpu-operator values (parent chart too): one info line, exit 0, json says so."""
    for name in ("giantswarm-parent-chart-values.yaml", "values-toolkit-only.yaml", "op412-parent-chart-values.yaml"):
        res = cli("lint-config", str(REAL / name), "-o", "json")
        assert res.exit_code == 0, res.stdout
        out = json.loads(res.stdout)
        assert [f["id"] for f in out["findings"]] == ["lint-no-config"]
        assert "no device-plugin sharing config here" in out["findings"][0]["message"]
    msg = lint_file(REAL / "op412-parent-chart-values.yaml").findings[0].message
    assert "nvidia-time-slicing-config" in msg and "lint that ConfigMap" in msg


def test_nothing_to_lint_exits_2_with_a_clear_message(cli):
    res = cli("lint-config", str(REAL / "mps-verification-olm-subscription.yaml"))
    assert res.exit_code == 2
    err = " ".join(res.stderr.split())
    assert "nothing to lint" in err and "Namespace, OperatorGroup, Subscription" in err and "Traceback" not in err
    res = cli("lint-config", str(REAL / "bottlerocket-template-unrendered.yaml"), "-o", "json")
    assert res.exit_code == 2
    assert "unrendered template placeholder" in json.loads(res.stdout)["errors"][0]["message"]


def test_placeholder_is_named_on_its_line():
    r = lint_file(REAL / "flux-fleet-time-slicing-placeholder.yaml")
    (f,) = [f for f in r.findings if f.id == "lint-placeholder"]
    lines = (REAL / "flux-fleet-time-slicing-placeholder.yaml").read_text().splitlines()
    assert "${gpu_time_slicing_replica_count:=4}" in f.message and "replicas:" in lines[f.line - 1]
    assert f.severity is Severity.WARNING
