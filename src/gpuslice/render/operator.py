"""GPU Operator Helm values with every image through the mirror, plus the image inventory and mirror script.

``operator_values(resolved, chart)`` is the one place the release's values come from (``plan`` writes them to
``values.yaml``, ``apply`` installs them, the CDK construct passes them to its Helm chart):

- every image reference the chart's values make (found generically, see :mod:`gpuslice.images`) rewritten
  through the spec's mirror rules, and the tags the chart leaves to ``.Chart.AppVersion`` set explicitly;
- the pull secrets on every component, the operator (whose Helm hook Jobs use them) and NFD;
- ``driver``/``toolkit``/``devicePlugin.enabled`` from the pools' OS (per-pool opt-outs are node labels);
- the device-plugin sharing config named ``resolved.device_plugin_configmap`` (stable per deployment; gpuslice
  writes the ConfigMap, not the chart), default ``exclusive``; ``mig.strategy`` equal to the config's
  ``flags.migStrategy`` (the operator passes it as env, which wins over the file);
- DaemonSet and NFD worker tolerations for every pool taint; a short NFD ``fullnameOverride``.

``render`` writes values.yaml, images.txt, images.json and mirror.sh, then proves the values by rendering the
real chart with the real helm (:mod:`gpuslice.render.operator_proof`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from gpuslice import names
from gpuslice.chart import Chart, load_chart, locate_chart
from gpuslice.findings import Finding, Severity
from gpuslice.images import (
    Inventory,
    build_inventory,
    diff_values,
    discover_images,
    images_text,
    mirror_script,
    release_version,
    rewrite_values,
    set_pull_secrets,
)
from gpuslice.render import RenderOptions, RenderResult
from gpuslice.resolve import EXCLUSIVE_KEY, ResolvedSpec
from gpuslice.sharing import device_plugin_config
from gpuslice.yamlio import dump_yaml

NFD_CHART = "node-feature-discovery"
VALUES_FILE = "values.yaml"
IMAGES_TXT = "images.txt"
IMAGES_JSON = "images.json"
MIRROR_SCRIPT = "mirror.sh"


def _chart(chart: Chart | str | Path) -> Chart:
    return chart if isinstance(chart, Chart) else load_chart(chart)


def mig_strategy(resolved: ResolvedSpec) -> str:
    """The MIG strategy the sharing config declares (ClusterPolicy ``mig.strategy`` must say the same)."""
    found = sorted({str(device_plugin_config(rs)["flags"]["migStrategy"]) for rs in resolved.sharing_configs.values()})
    return found[0] if found else "none"


def _tolerates(tol: dict[str, Any], key: str, value: str, effect: str) -> bool:
    """Kubernetes toleration semantics (core/v1 Toleration.ToleratesTaint)."""
    if tol.get("effect") and tol.get("effect") != effect:
        return False
    if tol.get("key") and tol.get("key") != key:
        return False
    if not tol.get("key") and tol.get("operator") != "Exists":
        return False
    if tol.get("operator", "Equal") == "Exists":
        return True
    return str(tol.get("value", "")) == value


def pool_tolerations(resolved: ResolvedSpec, existing: list[Any] | None) -> list[Any]:
    """``existing`` plus a toleration for each pool taint that none of them tolerates yet."""
    out = [copy.deepcopy(t) for t in existing or []]
    for p in resolved.pools:
        for t in p.spec.taints:
            if any(isinstance(x, dict) and _tolerates(x, t.key, t.value, t.effect) for x in out):
                continue
            tol: dict[str, Any] = {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            if not t.value:
                tol = {"key": t.key, "operator": "Exists", "effect": t.effect}
            out.append(tol)
    return out


def _settings(resolved: ResolvedSpec, chart: Chart, base: dict[str, Any]) -> dict[str, Any]:
    """Values gpuslice sets deliberately (always written, even where they equal the chart default)."""
    v: dict[str, Any] = {
        "driver": {"enabled": resolved.driver_enabled},
        "toolkit": {"enabled": resolved.toolkit_enabled},
        "devicePlugin": {"enabled": resolved.device_plugin_enabled},
        "mig": {"strategy": mig_strategy(resolved)},
    }
    if resolved.device_plugin_enabled:
        # gpuslice writes the ConfigMap itself (device-plugin-config.yaml; ``apply`` orders its writes around the
        # node labels). Were the chart to create it from these values (templates/plugin_config.yaml), every helm
        # upgrade would drop keys that nodes still select before they are relabelled, and every sharing change
        # would be a release change. The name and default are all ClusterPolicy carries (clusterpolicy.yaml).
        v["devicePlugin"]["config"] = {
            "create": False,
            "name": resolved.device_plugin_configmap,
            "default": EXCLUSIVE_KEY,
        }
    if isinstance(base.get("daemonsets"), dict):
        v["daemonsets"] = {"tolerations": pool_tolerations(resolved, base["daemonsets"].get("tolerations"))}
    nfd = next((s for s in chart.subcharts if s.name == NFD_CHART), None)
    if nfd is not None:
        nfd_vals = base.get(nfd.key)
        worker = nfd_vals.get("worker") if isinstance(nfd_vals, dict) else None
        if not isinstance(worker, dict):
            worker = {}
        v[nfd.key] = {
            "fullnameOverride": names.nfd_fullname(resolved.deployment_id),
            "worker": {"tolerations": pool_tolerations(resolved, worker.get("tolerations"))},
        }
    return v


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, val in b.items():
        if isinstance(val, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], val)
        else:
            out[k] = val
    return out


def operator_values(resolved: ResolvedSpec, chart: Chart | str | Path) -> dict[str, Any]:
    """The Helm values (an override of the chart's defaults) for the GPU Operator release of ``resolved``."""
    ch = _chart(chart)
    base = ch.effective_values()
    rewritten = copy.deepcopy(base)
    slots = discover_images(ch, base, app_version=release_version(ch, resolved.chart_version))
    rewrite_values(rewritten, slots, resolved)
    set_pull_secrets(rewritten, ch, resolved.pull_secrets)
    return _merge(diff_values(base, rewritten), _settings(resolved, ch, base))


def image_inventory(resolved: ResolvedSpec, chart: Chart | str | Path) -> Inventory:
    """Every image the release makes the cluster pull (source -> mirror), as data."""
    ch = _chart(chart)
    return build_inventory(
        resolved, ch, operator_values(resolved, ch), app_version=release_version(ch, resolved.chart_version)
    )


def values_yaml(resolved: ResolvedSpec, chart: Chart, values: dict[str, Any]) -> str:
    head = [
        f"# NVIDIA GPU Operator Helm values for {resolved.spec.cluster.name} ({resolved.deployment_id}).",
        "# Generated by gpuslice; do not edit: change the spec and run `gpuslice plan` again.",
        f"# Chart: {chart.name} {resolved.chart_version} (from {chart.origin or chart.path}); "
        f"release {resolved.release_name} in namespace {resolved.namespace}.",
        f"# Install: helm upgrade --install {resolved.release_name} {chart.name} --version {resolved.chart_version} "
        f"--repo {resolved.spec.operator.chart_repository} -n {resolved.namespace} --create-namespace -f values.yaml",
    ]
    return "\n".join(head) + "\n" + dump_yaml(values)


def _version_findings(resolved: ResolvedSpec, chart: Chart) -> list[Finding]:
    from gpuslice.images import load_image_rules

    rules = load_image_rules()
    declared = (
        chart.app_version if chart.app_version and not rules.placeholder_app_version.match(chart.app_version) else None
    )
    if declared and declared.lstrip("v") != resolved.chart_version.lstrip("v"):
        return [
            Finding(
                id="operator-chart-version-mismatch",
                severity=Severity.WARNING,
                message=f"The chart from {chart.origin} is {chart.name} {declared}, but the spec says "
                f"operator.chartVersion {resolved.chart_version}; images and checks follow the chart.",
                fix="Point --chart/operator.chart at the chart of operator.chartVersion, or change chartVersion.",
                path="operator.chartVersion",
            )
        ]
    return []


def chart_and_values(resolved: ResolvedSpec, options: RenderOptions) -> tuple[Chart, dict[str, Any]]:
    """The located chart and the operator values, computed once per render run (memoized in ``options``)."""
    key = "operator.chart_and_values"
    if key not in options.memo:
        chart = locate_chart(resolved, options.chart, helm=options.helm)
        options.memo[key] = (chart, operator_values(resolved, chart))
    chart, values = options.memo[key]
    return chart, values


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    chart, values = chart_and_values(resolved, options)
    inv = build_inventory(resolved, chart, values, app_version=release_version(chart, resolved.chart_version))
    text = values_yaml(resolved, chart, values)
    findings = _version_findings(resolved, chart)
    for w in inv.warnings:
        findings.append(
            Finding(
                id="operator-driver-os-unknown",
                severity=Severity.WARNING,
                message=w,
                fix="Use a pool OS from the catalog with a driver image tag, or a pre-installed driver.",
            )
        )
    for img in inv.unmapped:
        findings.append(
            Finding(
                id="operator-image-not-mirrored",
                severity=Severity.ERROR,
                message=f"No registry mirror rule covers {img.source} (used by {', '.join(img.used_by)}).",
                fix="Add a registry.mirrors rule for its registry, or set registry.proxy.",
                path="registry.mirrors",
                evidence=img.used_by,
            )
        )
    if options.prove:
        from gpuslice.render.operator_proof import prove

        findings.extend(prove(resolved, chart, text, inv, helm=options.helm))
    return RenderResult(
        files={
            VALUES_FILE: text,
            IMAGES_TXT: images_text(inv),
            IMAGES_JSON: json.dumps(inv.to_dict(), indent=2) + "\n",
            MIRROR_SCRIPT: mirror_script(inv, options.mirror_tool, title=resolved.deployment_id),
        },
        findings=findings,
        executable={MIRROR_SCRIPT},
    )


__all__ = ["image_inventory", "mig_strategy", "operator_values", "pool_tolerations", "render"]
