"""lint-config per device-plugin version: the loader of v0.17.x (gpu-operator v25.3.x) is not the one of v0.20.x.

The expected behaviour of each version comes from NVIDIA/k8s-device-plugin at the tags (see
``gpuslice.lintconfig.versions``): duration.go ("infinite" from v0.19.0), flags.go (gdrcopyEnabled from v0.18.0,
sharedDevicesAllocationPolicy from v0.20.0), config.go + internal/rm/rm.go (MPS failRequestsGreaterThanOne honoured
from v0.20.0).
"""

from __future__ import annotations

import json

import pytest
import yaml

from gpuslice.findings import Severity
from gpuslice.lintconfig import lint, lint_config
from gpuslice.lintconfig.versions import OPERATOR_PLUGIN, operator_chart_plugin, parse_version
from tests.helpers import FIXTURES


def _ids(r, severity=None):
    return {f.id for f in r.findings if severity is None or f.severity is severity}


SLEEP = "version: v1\nflags:\n  gfd:\n    sleepInterval: infinite\n"
POLICY = "version: v1\nflags:\n  plugin:\n    sharedDevicesAllocationPolicy: packed\n"
GDR = "version: v1\nflags:\n  gdrcopyEnabled: true\n"
MPS_FALSE = (
    "version: v1\nsharing:\n  mps:\n    failRequestsGreaterThanOne: false\n    resources:\n"
    "    - name: nvidia.com/gpu\n      replicas: 4\n"
)


@pytest.mark.parametrize(
    ("version", "fatal"),
    [("v0.17.4", True), ("v0.17.0", True), ("v0.18.2", True), ("v0.19.0", False), ("v0.20.0", False)],
)
def test_sleep_interval_infinite_is_fatal_before_v0_19(version, fatal):
    r = lint_config(SLEEP, plugin_version=version)
    assert r.ok is not fatal
    if fatal:
        f = next(f for f in r.findings if f.id == "lint-duration")
        assert f.severity is Severity.ERROR and f.line == 4 and version in f.message and "infinite" in f.message
        # the plugin itself fails here: --upstream keeps it an error
        assert not lint_config(SLEEP, plugin_version=version, upstream=True).ok


@pytest.mark.parametrize(("version", "dropped"), [("v0.17.4", True), ("v0.19.3", True), ("v0.20.0", False)])
def test_shared_devices_allocation_policy_is_dropped_before_v0_20(version, dropped):
    r = lint_config(POLICY, plugin_version=version)
    assert ("lint-key-version" in _ids(r, Severity.ERROR)) is dropped
    assert "lint-unknown-key" not in _ids(r)
    if dropped:
        # the plugin starts (the key is silently dropped): a warning in --upstream mode, not an error
        up = lint_config(POLICY, plugin_version=version, upstream=True)
        assert up.ok and "lint-key-version" in _ids(up, Severity.WARNING)
    # v0.20.0 validates the value (validateFlags)
    bad = lint_config(POLICY.replace("packed", "tight"), plugin_version="v0.20.0")
    assert "lint-flag-value" in _ids(bad, Severity.ERROR)


@pytest.mark.parametrize(("version", "known"), [("v0.17.4", False), ("v0.18.0", True), ("v0.20.0", True)])
def test_gdrcopy_enabled_exists_from_v0_18(version, known):
    assert ("lint-key-version" in _ids(lint_config(GDR, plugin_version=version))) is not known


def test_mps_forces_fail_requests_before_v0_20():
    old = lint_config(MPS_FALSE, plugin_version="v0.17.4")
    assert old.ok and "lint-mps-fail-requests" in _ids(old, Severity.WARNING)
    assert old.configs[0].fail_requests_greater_than_one is True  # what the plugin does, not what the file says
    new = lint_config(MPS_FALSE, plugin_version="v0.20.0")
    assert "lint-mps-fail-requests" not in _ids(new)
    assert new.configs[0].fail_requests_greater_than_one is False


def test_lint_config_api_accepts_text_mapping_and_nothing():
    parsed = yaml.safe_load(SLEEP)
    assert not lint_config(parsed, plugin_version="v0.17.4").ok
    assert lint_config(parsed).ok
    assert lint_config(None).ok and lint_config("").configs[0].strategy == "none"
    r = lint_config("sharing: [", plugin_version="v0.17.4")  # never raises: a finding
    assert [f.id for f in r.findings] == ["lint-yaml"]
    # a version read from a cluster may be no version at all (image tag "latest"): newest rules, said so
    r = lint_config(SLEEP, plugin_version="latest")
    assert r.ok and r.plugin.version == "v0.20.0" and "latest" in r.plugin.note


def test_rules_come_from_option_then_spec_chart_then_file_then_newest(tmp_path):
    values = "devicePlugin:\n  version: v0.17.4\n  config:\n    create: true\n    name: ts\n    data:\n      any: |-\n"
    values += "".join("        " + line + "\n" for line in SLEEP.splitlines())
    r = lint(values, "values.yaml")
    assert (r.plugin.version, r.plugin.source) == ("v0.17.4", "devicePlugin.version in the values")
    assert "lint-duration" in _ids(r, Severity.ERROR)
    r = lint(values, "values.yaml", plugin_version="0.20")
    assert (r.plugin.version, r.plugin.source, r.ok) == ("v0.20", "--plugin-version", True)
    r = lint(SLEEP, "raw.yaml")
    assert r.plugin.source.startswith("default") and r.plugin.version == "v0.20.0"

    from gpuslice import api
    from tests.helpers import MINIMAL, write_spec

    spec = write_spec(tmp_path, MINIMAL.replace("nodePools:", "operator:\n  chartVersion: v25.3.4\nnodePools:", 1))
    resolved = api.load(spec)
    assert resolved.chart_version == "v25.3.4"
    cm = lint(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  any: |\n    version: v1\n",
        "cm.yaml",
        resolved=resolved,
    )
    assert cm.plugin.version == "v0.17.4" and "v25.3.4" in cm.plugin.source


def test_cli_says_which_rules_were_used(cli, tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(SLEEP)
    res = cli("lint-config", str(p), "--plugin-version", "v0.17.4")
    assert res.exit_code == 1
    assert "rules: device plugin v0.17.4 (v0.17.x rules; from --plugin-version)" in " ".join(res.stdout.split())
    res = cli("lint-config", str(p), "-o", "json")
    out = json.loads(res.stdout)
    assert res.exit_code == 0
    assert out["pluginVersion"] == {
        "version": "v0.20.0",
        "ruleSet": "v0.20.x",
        "source": "default (the newest known)",
        "note": "",
    }
    res = cli("lint-config", str(p), "--plugin-version", "seventeen")
    assert res.exit_code == 2 and "not a device-plugin version" in res.stderr


def test_operator_chart_to_plugin_matches_the_real_charts():
    """The chart -> plugin table agrees with devicePlugin.version in the published values files stored here."""
    charts = {p.name: p for p in (FIXTURES / "charts").iterdir() if p.is_dir()}
    charts |= {p.name.removeprefix("chart-"): p for p in (FIXTURES / "gpu-operator").glob("chart-v*")}
    checked = 0
    for version, d in sorted(charts.items()):
        pinned = yaml.safe_load((d / "values.yaml").read_text())["devicePlugin"]["version"]
        assert version in OPERATOR_PLUGIN, version
        assert parse_version(OPERATOR_PLUGIN[version]) == parse_version(pinned), version
        checked += 1
    assert checked >= 7
    assert operator_chart_plugin("v25.3.4") == "v0.17.4" and operator_chart_plugin("26.7.0") == "v0.20.0"
    assert operator_chart_plugin("v26.3.9") == "v0.19.3"  # an unlisted patch release: its minor's rules


def test_real_chart_values_lint_with_their_own_plugin_version():
    """Every published gpu-operator values.yaml stored here (v22.9.2 ... v26.7.0): valid, no warning, and checked
    with the device plugin that chart pins."""
    files = [d / "values.yaml" for d in sorted((FIXTURES / "charts").iterdir()) if d.is_dir()]
    files += sorted((FIXTURES / "gpu-operator").glob("chart-v*/values.yaml"))
    assert len(files) >= 7
    for f in files:
        r = lint(f.read_text(), str(f))
        pinned = yaml.safe_load(f.read_text())["devicePlugin"]["version"]
        assert r.ok and r.plugin.version == pinned and r.plugin.source == "devicePlugin.version in the values"
        assert not _ids(r, Severity.ERROR) and not _ids(r, Severity.WARNING)


UPSTREAM = FIXTURES / "lint" / "upstream"


def _version_rows(version: str):
    """(config, outcome) of every row the real loader at `version` judged (differential-<version>.yaml)."""
    doc = yaml.safe_load((UPSTREAM / f"differential-{version}.yaml").read_text(encoding="utf-8"))
    rows = []
    for name, outcomes in doc["outcomes"].items():
        cases = yaml.safe_load((UPSTREAM / name).read_text(encoding="utf-8"))["cases"]
        assert len(cases) == len(outcomes), name
        rows += [(c["config"], o) for c, o in zip(cases, outcomes, strict=True)]
    rows += [(r["config"], r["upstream"]) for r in doc["extra"]]
    return doc, rows


@pytest.mark.parametrize("version", ["v0.17.4", "v0.19.3"])
def test_rules_agree_with_the_real_loader_at_that_tag(version):
    """The loader of each tag, compiled from its source (oracle/README.md), judged 481 + extra configs: with that
    version's rules --upstream agrees on every row, and the default mode rejects everything the loader rejects."""
    doc, rows = _version_rows(version)
    assert doc["source"]["tag"] == version and len(rows) >= 490
    wrong = []
    for text, outcome in rows:
        up = lint_config(text, plugin_version=version, upstream=True)
        if up.ok != (outcome == "ok"):
            wrong.append((text[:80], outcome, [f.id for f in up.findings]))
        if outcome == "error":
            assert not lint_config(text, plugin_version=version).ok, text
    assert not wrong, wrong


def test_the_recorded_loaders_differ_where_the_release_notes_say():
    """Rows the v0.20.0 loader and the v0.17.4 loader judge differently: exactly the version features."""
    doc, _ = _version_rows("v0.17.4")
    changed = []
    for name, outcomes in doc["outcomes"].items():
        cases = yaml.safe_load((UPSTREAM / name).read_text(encoding="utf-8"))["cases"]
        changed += [c["config"] for c, o in zip(cases, outcomes, strict=True) if c["upstream"] != o]
    assert changed and all("infinite" in t or "sharedDevicesAllocationPolicy" in t for t in changed)
