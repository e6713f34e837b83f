"""gpuslice lint-config: the device plugin's own rules (conformance with upstream), stricter rules, ConfigMaps, CLI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuslice.errors import GpusliceError, SpecError
from gpuslice.findings import Severity
from gpuslice.lintconfig import check, lint, lint_file
from gpuslice.lintconfig.goyaml import resolve_plain
from gpuslice.lintconfig.rules import RULES, STRICT_IDS
from gpuslice.lintconfig.schema import device_ref_kind
from tests.helpers import EXAMPLES, FIXTURES, MINIMAL, write_spec

LINT = FIXTURES / "lint"
UPSTREAM = LINT / "upstream"


def _outcome(text: str, *, upstream: bool) -> tuple[str, set[str]]:
    try:
        r = lint(text, "case.yaml", upstream=upstream)
    except SpecError:
        return "error", {"lint-yaml"}
    ids = {f.id for f in r.findings if f.severity is Severity.ERROR}
    return ("error" if ids else "ok"), ids


def _cases(name: str) -> list[dict]:
    return yaml.safe_load((UPSTREAM / name).read_text(encoding="utf-8"))["cases"]


# ---------------------------------------------------------------------------------------------------------------
# conformance: the device plugin's own unit-test inputs


CONFORMANCE = _cases("conformance.yaml")


@pytest.mark.parametrize("case", CONFORMANCE, ids=[c["id"] for c in CONFORMANCE])
def test_conformance_upstream_mode_matches_the_plugin(case):
    assert _outcome(case["config"], upstream=True)[0] == case["upstream"], case.get("upstream_message")


@pytest.mark.parametrize("case", CONFORMANCE, ids=[c["id"] for c in CONFORMANCE])
def test_conformance_strict_mode_differs_only_where_marked(case):
    got, ids = _outcome(case["config"], upstream=False)
    assert got == case["gpuslice"]
    if case["gpuslice"] != case["upstream"]:
        assert case["upstream"] == "ok" and case["gpuslice"] == "error"  # only ever stricter, never looser
        assert ids <= set(case["stricter"]["ids"]) and ids <= STRICT_IDS, ids
    else:
        assert "stricter" not in case


def test_conformance_table_covers_every_upstream_test():
    tests = {c["upstream_test"] for c in CONFORMANCE}
    assert {
        "TestUnmarshalReplicatedDevices",
        "TestReplicatedDeviceRef",
        "TestUnmarshalReplicatedResource",
        "TestUnmarshalReplicatedResources",
        "TestUnmarshalFlags",
        "TestImexUnmarshal",
    } <= tests
    assert len(CONFORMANCE) == 61
    # both outcomes are well represented, and the rows where the unit test and the file loader differ are explained
    assert sum(c["upstream"] == "error" for c in CONFORMANCE) == 23
    assert all("unit_vs_loader" in c for c in CONFORMANCE if c["unit_expects"] != c["upstream"])


@pytest.mark.parametrize(
    "ref,kind", [(c["unit_input"], None) for c in CONFORMANCE if c["upstream_test"] == "TestReplicatedDeviceRef"]
)
def test_device_refs_are_exactly_one_kind(ref, kind):
    assert device_ref_kind(ref) is not None


def test_device_ref_kinds():
    assert device_ref_kind("0") == "gpuIndex"
    assert device_ref_kind("0:0") == "migIndex"
    assert device_ref_kind("GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c") == "uuid"
    assert device_ref_kind("MIG-GPU-662077db-fa3f-0d8f-9502-21ab0ef058a2/10/0") == "uuid"
    for bad in ("-1", "GPU-UUID", "MIG-UUID", "MIG-GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c", "0:", "x:1", ""):
        assert device_ref_kind(bad) is None, bad


# ---------------------------------------------------------------------------------------------------------------
# differential corpus: fuzzed configs judged by the real v0.20.0 loader


DIFFERENTIAL = _cases("differential.yaml")


def test_differential_corpus_agrees_with_the_plugin_loader():
    assert len(DIFFERENTIAL) >= 400
    wrong = []
    for i, c in enumerate(DIFFERENTIAL):
        up, _ = _outcome(c["config"], upstream=True)
        if up != c["upstream"]:
            wrong.append((i, c["upstream"], c.get("upstream_message", ""), c["config"][:200]))
        if c["upstream"] == "error":
            assert _outcome(c["config"], upstream=False)[0] == "error", c["config"]
    assert not wrong, wrong[:5]


# ---------------------------------------------------------------------------------------------------------------
# stricter than upstream, and every rule: fixtures named by outcome


CONFIGS = sorted((LINT / "configs").iterdir())


def _expectation(path: Path) -> tuple[str, str] | None:
    m = re.search(r"^# expect: (\S+) @ (\S+)", path.read_text(encoding="utf-8"), re.M)
    return (m.group(1), m.group(2)) if m else None


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_fixtures(path):
    r = lint_file(path)
    errors = [f for f in r.findings if f.severity is Severity.ERROR]
    if "-PASSED" in path.name:
        assert not errors, [f.message for f in errors]
        return
    assert "-FAILED" in path.name
    want = _expectation(path)
    assert want, f"{path.name} needs an '# expect: ID @ path' line"
    rule, where = want
    hit = [f for f in errors if f.id == rule and f.path == where]
    assert hit, [(f.id, f.path) for f in errors]
    # the finding names the line of the key it is about
    text_lines = path.read_text(encoding="utf-8").splitlines()
    names = [re.sub(r"\[\d+\]$", "", part) for part in where.split(".")[-2:]]
    assert any(n in text_lines[hit[0].line - 1] for n in names), (hit[0].line, names)  # the key, or its parent


def test_every_strict_fixture_is_accepted_by_upstream():
    """The silently-ignored mistakes: the plugin itself starts happily with these, gpuslice refuses them."""
    silent = [
        "rename-under-flags",
        "gpus-typo",
        "both-strategies",
        "duplicate-resource",
        "replicas-misplaced",
        "mig-malformed",
        "mps-mig-resource",
        "mps-too-many",
        "shared-name",
        "case-key",
        "duplicate-key",
    ]
    for name in silent:
        text = (LINT / "configs" / f"{name}-FAILED.yaml").read_text(encoding="utf-8")
        assert _outcome(text, upstream=True)[0] == "ok", name
        assert _outcome(text, upstream=False)[0] == "error", name


def test_upstream_rejections_stay_errors_in_upstream_mode():
    for name in (
        "empty-timeslicing",
        "empty-mps",
        "empty-resources",
        "replicas-string",
        "replicas-one",
        "version",
        "mig-plus",
        "name-prefix",
        "devices-bad-uuid",
        "imex",
        "mig-strategy-enum",
        "mps-mixed",
        "device-list-strategy",
    ):
        text = (LINT / "configs" / f"{name}-FAILED.yaml").read_text(encoding="utf-8")
        assert _outcome(text, upstream=True)[0] == "error", name


def test_misplaced_key_says_where_it_belongs():
    r = lint_file(LINT / "configs" / "rename-under-flags-FAILED.yaml")
    f = next(f for f in r.findings if f.id == "lint-unknown-key")
    assert "belongs under sharing.timeSlicing" in f.message and f.line == 5
    r = lint("version: v1\nflags:\n  migStrategi: none\n", "x.yaml")
    assert "did you mean 'migStrategy'" in r.findings[0].message


def test_ignored_fields_are_warnings_with_reasons():
    r = lint_file(LINT / "configs" / "ignored-fields-PASSED.yaml")
    by_id = {f.id: f for f in r.findings}
    assert r.ok
    assert by_id["lint-rename-ignored"].severity is Severity.WARNING
    assert "advertises nvidia.com/gpu" in by_id["lint-rename-ignored"].message
    assert by_id["lint-devices-ignored"].severity is Severity.WARNING
    # renameByDefault + rename equal to <name>.shared is exactly what the plugin keeps: no warning
    same = (
        "sharing:\n  timeSlicing:\n    renameByDefault: true\n    failRequestsGreaterThanOne: true\n"
        "    resources:\n    - {name: nvidia.com/gpu, replicas: 2, rename: nvidia.com/gpu.shared}\n"
    )
    assert not [f for f in lint(same, "x").findings if f.id == "lint-rename-ignored"]
    top = "resources:\n  gpus:\n  - {pattern: '*', name: gpu}\n"
    assert [f.severity for f in lint(top, "x").findings if f.id == "lint-resources-ignored"] == [Severity.WARNING]


def test_mps_rules_by_version_and_limits():
    base = "sharing:\n  mps:\n    {extra}resources:\n    - name: nvidia.com/gpu\n      replicas: {n}\n"
    f = lint(base.format(extra="failRequestsGreaterThanOne: false\n    ", n=20), "x").findings
    ids = {x.id: x.severity for x in f}
    assert "lint-mps-fail-requests" not in ids  # v0.20.0 (the default rules) honours false
    old = lint(base.format(extra="failRequestsGreaterThanOne: false\n    ", n=20), "x", plugin_version="v0.19.3")
    assert [x.severity for x in old.findings if x.id == "lint-mps-fail-requests"] == [Severity.WARNING]
    assert ids["lint-mps-replicas-old-gpu"] is Severity.WARNING
    assert ids["lint-mps-root"] is Severity.INFO  # a raw file: MPS needs --mps-root unless the operator sets it
    assert "lint-mps-replicas" in {x.id for x in lint(base.format(extra="", n=49), "x").findings}
    assert "lint-mps-replicas" not in {x.id for x in lint(base.format(extra="", n=48), "x").findings}


def test_time_slicing_without_fail_requests_is_info_only():
    r = lint("sharing:\n  timeSlicing:\n    resources:\n    - {name: gpu, replicas: 3}\n", "x")
    assert r.ok and [f.severity for f in r.findings] == [Severity.INFO]
    assert r.configs[0].strategy == "time-slicing" and r.configs[0].resources == (("nvidia.com/gpu", 3),)
    assert r.configs[0].fail_requests_greater_than_one is False


def test_mps_fail_requests_defaults_true_like_v0_20():
    r = lint(CONFORMANCE[-2]["config"], "x")  # config_test.go: MPS without failRequestsGreaterThanOne
    assert r.configs[0].strategy == "mps" and r.configs[0].fail_requests_greater_than_one is True
    r = lint(CONFORMANCE[-1]["config"], "x")
    assert r.configs[0].fail_requests_greater_than_one is False


def test_misplaced_mig_strategy_under_plugin_breaks_the_plugin():
    # sigs.k8s.io/yaml sets flags.migStrategy to "" as a side effect; the real loader then fails at startup
    text = "version: v1\nflags:\n  plugin:\n    migStrategy: mixed\n"
    assert _outcome(text, upstream=True) == ("error", {"lint-flag-value"})
    assert _outcome(text + "  migStrategy: none\n", upstream=True)[0] == "ok"


# ---------------------------------------------------------------------------------------------------------------
# how the plugin reads YAML: go-yaml v2 scalars


@pytest.mark.parametrize(
    "text,value",
    [
        ("yes", True),
        ("off", False),
        ("y", True),
        ("010", 8),
        ("0x10", 16),
        ("1_0", 10),
        ("4.0", 4.0),
        ("~", None),
        ("0:0", "0:0"),
        ("1e400", "1e400"),
        ("2001-01-01", "2001-01-01"),
        ("+3", 3),
        ("0b11", 3),
    ],
)
def test_go_yaml_scalars(text, value):
    assert resolve_plain(text) == value


def test_yaml_1_1_values_behave_as_in_the_plugin():
    ok = (
        "sharing:\n  timeSlicing:\n    renameByDefault: yes\n    failRequestsGreaterThanOne: on\n"
        "    resources:\n    - {name: gpu, replicas: 010, devices: [0:0]}\n"
    )
    r = lint(ok, "x", upstream=True)
    assert r.ok
    assert r.configs[0].resources == (("nvidia.com/gpu", 8),) and r.configs[0].rename_by_default
    quoted = (
        "sharing:\n  timeSlicing:\n    renameByDefault: !!str yes\n    resources:\n    - {name: gpu, replicas: 2}\n"
    )
    assert _outcome(quoted, upstream=True)[0] == "error"


# ---------------------------------------------------------------------------------------------------------------
# ConfigMaps


def test_configmap_findings_name_key_path_and_file_line():
    path = LINT / "configmaps" / "broken-FAILED.yaml"
    r = lint_file(path, default="exclusive")
    lines = path.read_text().splitlines()
    f = next(f for f in r.findings if f.id == "lint-replicas")
    assert f.path == "data[ts-4].sharing.timeSlicing.resources[0].replicas"
    assert lines[f.line - 1].strip() == "replicas: 1"  # mapped from inside the block string to the file line
    f = next(f for f in r.findings if f.id == "lint-resource-unknown")
    assert f.path.startswith("data[ts-json].") and lines[f.line - 1].startswith("  ts-json:")
    ids = {f.id for f in r.findings if f.severity is Severity.ERROR}
    assert {
        "lint-configmap-name",
        "lint-configmap-key",
        "lint-configmap",
        "lint-missing-config-key",
        "lint-yaml",
    } <= ids
    assert next(f for f in r.findings if f.id == "lint-yaml").path == "data[yaml-error]"
    assert [f.id for f in r.findings if f.id == "lint-not-configmap"]
    assert not r.ok and r.kind == "configmap"


def test_configmap_multi_key_and_list_forms_pass():
    r = lint_file(
        LINT / "configmaps" / "per-node-PASSED.yaml", default="exclusive", node_label_keys=["a100-40gb", "tesla-t4"]
    )
    assert r.ok and [c.key for c in r.configs] == ["a100-40gb", "tesla-t4", "exclusive"]
    assert r.configs[0].resources[1] == ("nvidia.com/mig-1g.5gb", 2)
    r = lint_file(LINT / "configmaps" / "list-PASSED.yaml", default="exclusive", node_label_keys=["shared"])
    assert r.ok and {c.key: c.strategy for c in r.configs} == {"shared": "time-slicing", "exclusive": "none"}


def test_configmap_missing_keys_and_names():
    r = lint_file(LINT / "configmaps" / "per-node-PASSED.yaml", default="default", node_label_keys=["tesla-t4x"])
    missing = [f for f in r.findings if f.id == "lint-missing-config-key"]
    assert len(missing) == 2 and "specified config default does not exist" in missing[0].message
    assert "did you mean 'tesla-t4'" in next(f.fix for f in missing if "tesla-t4x" in f.message)
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: |\n    version: v1\n"
    for bad in ("config", "a" * 64, "dp.config", "DP"):
        r = lint(cm.format(name=bad), "cm.yaml")
        assert [f.id for f in r.findings if f.severity is Severity.ERROR] == ["lint-configmap-name"], bad
    assert lint(cm.format(name="a" * 63), "cm.yaml").ok
    r = lint("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "cm.yaml")
    assert [f.id for f in r.findings] == ["lint-configmap-empty"]
    r = lint(cm.format(name="x").replace("  a: |", "  " + "k" * 70 + ": |"), "cm.yaml")
    assert [f.id for f in r.findings if f.severity is Severity.WARNING] == ["lint-configmap-label-value"]


def test_key_options_on_a_raw_config_are_a_usage_error(cli):
    with pytest.raises(GpusliceError):
        lint("version: v1\n", "x.yaml", default="a")
    res = cli("lint-config", LINT / "configs" / "time-slicing-PASSED.yaml", "--default", "a")
    assert res.exit_code == 2 and "raw device-plugin config" in res.stderr


def test_manifest_without_anything_to_lint_is_unreadable_input(cli, tmp_path):
    """Nothing to lint is exit 2 with a message saying what was found, not 'invalid' (issue #14)."""
    with pytest.raises(SpecError, match=r"nothing to lint: .*kinds: Deployment"):
        lint("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "d.yaml")
    p = tmp_path / "cp.yaml"
    p.write_text(
        "apiVersion: nvidia.com/v1\nkind: ClusterPolicy\nmetadata: {name: cluster-policy}\nspec:\n"
        "  devicePlugin:\n    config: {name: time-slicing-config, default: any}\n"
    )
    res = cli("lint-config", str(p))
    assert res.exit_code == 2
    msg = " ".join(res.stderr.split())
    assert "nothing to lint" in msg and "names the ConfigMap 'time-slicing-config': lint that ConfigMap" in msg


# ---------------------------------------------------------------------------------------------------------------
# round trip with the builder and the renderer; --spec


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_built_configs_lint_clean(example):
    from gpuslice import api
    from gpuslice.sharing import device_plugin_config
    from gpuslice.yamlio import dump_yaml

    r = api.load(example)
    for key, rs in r.sharing_configs.items():
        res = lint(dump_yaml(device_plugin_config(rs)), key)
        assert not [f for f in res.findings if f.severity is not Severity.INFO], key
        want = "none" if not rs.shared else rs.strategy
        assert res.configs[0].strategy == want
        if rs.shared:
            assert res.configs[0].resources == ((rs.resource_name, rs.replicas),)
    assert check(r) == []


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_rendered_configmap_lints_clean_with_spec(cli, tmp_path, example):
    from gpuslice import api
    from gpuslice.render import RenderOptions
    from gpuslice.render.sharing import render

    files = render(api.load(example), RenderOptions()).files
    cm = tmp_path / "device-plugin-config.yaml"
    cm.write_text(files["device-plugin-config.yaml"], encoding="utf-8")
    res = cli("lint-config", cm, "--spec", example, "-o", "json")
    assert res.exit_code == 0, res.stdout
    data = json.loads(res.stdout)
    assert data["ok"] and data["kind"] == "configmap"
    assert not [f for f in data["findings"] if f["severity"] != "info"]


def test_spec_mismatches_are_reported(tmp_path):
    from gpuslice import api
    from gpuslice.sharing import configmap_manifest
    from gpuslice.yamlio import dump_yaml

    spec = write_spec(tmp_path, MINIMAL)
    r = api.load(spec)
    manifest = configmap_manifest(r)
    key = next(k for k in manifest["data"] if k != "exclusive")
    text = (
        dump_yaml(manifest)
        .replace("replicas: 4", "replicas: 3")
        .replace("namespace: gpu-operator", "namespace: kube-system")
    )
    res = lint(text, "cm.yaml", resolved=r)
    ids = {f.id: f for f in res.findings}
    mismatch = ids["lint-spec-mismatch"]
    assert "nvidia.com/gpu replicas 3 (spec: 4)" in mismatch.message and mismatch.path == f"data[{key}]"
    assert text.splitlines()[mismatch.line - 1].strip() == f"{key}: |"
    assert ids["lint-configmap-namespace"].severity is Severity.ERROR
    del manifest["data"][key]
    res = lint(dump_yaml(manifest), "cm.yaml", resolved=r)
    assert any(f.id == "lint-missing-config-key" and "pool-a" in f.message for f in res.findings)


def test_check_reports_a_broken_rendered_config():
    from gpuslice.resolve import resolve
    from gpuslice.spec import parse_spec_text

    r = resolve(parse_spec_text(MINIMAL, "x.yaml"))
    key = next(k for k in r.sharing_configs if k != "exclusive")
    broken = replace(r, sharing_configs={**r.sharing_configs, key: replace(r.sharing_configs[key], replicas=1)})
    found = check(broken)
    assert [f.id for f in found] == ["lint-replicas"] and found[0].pool == "pool-a"


def test_rule_registry_is_documented():
    from gpuslice.lintconfig import IDS

    assert set(RULES) <= set(IDS)
    assert all(IDS[i] for i in IDS)
    assert STRICT_IDS
    assert set(RULES) >= STRICT_IDS


# ---------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_exit_codes_and_json(cli, tmp_path):
    ok = cli("lint-config", LINT / "configs" / "ignored-fields-PASSED.yaml")
    assert ok.exit_code == 0 and "valid" in ok.stdout and "lint-devices-ignored" in ok.stdout
    bad = cli("lint-config", LINT / "configs" / "gpus-typo-FAILED.yaml", "--output", "json")
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["kind"] == "config"
    f = next(x for x in data["findings"] if x["id"] == "lint-resource-unknown")
    assert f["path"] == "sharing.timeSlicing.resources[0].name" and f["line"] == 7 and f["severity"] == "error"
    up = cli("lint-config", LINT / "configs" / "gpus-typo-FAILED.yaml", "--upstream")
    assert up.exit_code == 0  # the plugin itself accepts it (and shares nothing)
    (tmp_path / "bad.yaml").write_text("sharing: [\n", encoding="utf-8")
    assert cli("lint-config", tmp_path / "bad.yaml").exit_code == 2
    assert cli("lint-config", tmp_path / "missing.yaml").exit_code == 2
    keys = cli(
        "lint-config",
        LINT / "configmaps" / "per-node-PASSED.yaml",
        "--default",
        "exclusive",
        "--node-label-keys",
        "a100-40gb,nope",
    )
    assert keys.exit_code == 1 and "nope" in keys.stdout


# ---------------------------------------------------------------------------------------------------------------
# robustness: random or mangled text never tracebacks

_SEED_TEXTS = [p.read_text(encoding="utf-8") for p in CONFIGS + sorted((LINT / "configmaps").iterdir())]
_YAMLISH = st.text(alphabet=st.sampled_from(list("abcdefgnrsvxyz019:-_ ,[]{}'\"|>&*!#?~.\n\t%@")), max_size=120)


@st.composite
def _mangled(draw):
    text = draw(st.sampled_from(_SEED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 2))
        if op == 0:
            text = text[:pos] + draw(_YAMLISH) + text[pos:]
        elif op == 1:
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        else:
            text = text[:pos]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mangled(), _YAMLISH))
def test_random_text_never_tracebacks(text):
    for upstream in (False, True):
        try:
            r = lint(text, "fuzz.yaml", upstream=upstream, default="k" if "ConfigMap" in text else None)
        except (SpecError, GpusliceError):
            continue
        for f in r.findings:
            assert f.id in RULES or f.id.startswith("lint-")
            assert f.message


def test_explain_knows_lint_ids_and_check_runs_the_linter(cli):
    from gpuslice.checks import rules

    assert "lintconfig" in rules()
    res = cli("explain", "lint-resource-unknown")
    assert res.exit_code == 0 and "shares nothing" in res.stdout
