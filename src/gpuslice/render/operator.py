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
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpuslice import names
from gpuslice.chart import Chart, load_chart, locate_chart
from gpuslice.errors import HelmError
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
from gpuslice.sharing import mig_strategy
from gpuslice.yamlio import dump_yaml

NFD_CHART = "node-feature-discovery"
VALUES_FILE = "values.yaml"
IMAGES_TXT = "images.txt"
IMAGES_JSON = "images.json"
MIRROR_SCRIPT = "mirror.sh"


def _chart(chart: Chart | str | Path) -> Chart:
    return chart if isinstance(chart, Chart) else load_chart(chart)


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
    if resolved.pools:
        # Also when every pool is Bottlerocket (devicePlugin.enabled false): GFD reads this config too.
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


def gpuslice_values(resolved: ResolvedSpec, chart: Chart | str | Path) -> dict[str, Any]:
    """What gpuslice itself sets (before the spec's ``operator.values``)."""
    ch = _chart(chart)
    base = ch.effective_values()
    rewritten = copy.deepcopy(base)
    slots = discover_images(ch, base, app_version=release_version(ch, resolved.chart_version))
    rewrite_values(rewritten, slots, resolved)
    set_pull_secrets(rewritten, ch, resolved.pull_secrets)
    return _merge(diff_values(base, rewritten), _settings(resolved, ch, base))


def operator_values(resolved: ResolvedSpec, chart: Chart | str | Path) -> dict[str, Any]:
    """The Helm values (an override of the chart's defaults) for the GPU Operator release of ``resolved``: gpuslice's
    values with the spec's ``operator.values`` merged last (maps merge key by key; lists and scalars replace, as
    Helm merges values files; ``null`` deletes a chart default, as in Helm)."""
    own = gpuslice_values(resolved, chart)
    user = resolved.spec.operator.values
    return _merge(own, copy.deepcopy(user)) if user else own


def blame_user_values(resolved: ResolvedSpec, findings: list[Finding], baseline: set[tuple[str, str]]) -> list[Finding]:
    """Errors that gpuslice's own values do not have (``baseline``: (id, message) pairs proven without
    ``operator.values``) are the user's values' doing: name the keys (those whose value the finding quotes, else
    every key of the kind it is about)."""
    import dataclasses

    from gpuslice.checks.operator import leaf_paths

    user = resolved.spec.operator.values
    if not user:
        return findings
    leaves = leaf_paths(user)
    out = []
    for f in findings:
        if f.severity != Severity.ERROR or (f.id, f.message) in baseline:
            out.append(f)
            continue
        text = " ".join([f.message, *f.evidence])
        keys = [p for p, v in leaves if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v) in text]
        if not keys and f.id == "operator-pull-secret-missing":
            keys = [p for p, _v in leaves if "imagePullSecrets" in p or "pullSecrets" in p]
        if not keys:
            keys = [p for p, _v in leaves]
        named = ", ".join(f"operator.values.{'.'.join(p)}" for p in keys[:6]) + (", …" if len(keys) > 6 else "")
        out.append(
            dataclasses.replace(
                f,
                message=f"{f.message} (from {named}; gpuslice's own values pass this check)",
                fix=f"Change or remove {named}. {f.fix}".strip(),
                path=f"operator.values.{'.'.join(keys[0])}",
            )
        )
    return out


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
    """The chart given (--chart, operator.chart) must be the release the spec names: images, the device-plugin
    version and every version rule follow the chart actually rendered, while checks and names follow
    ``operator.chartVersion``. Chart.yaml's ``version`` decides when it is a release (a packaged chart); a chart
    folder from the repository says ``v1.0.0-devel`` there, so its ``appVersion`` decides, unless that is a
    placeholder (``main-latest``, ``devel-ubi8``)."""
    from gpuslice.images import load_image_rules

    rules = load_image_rules()
    release = chart.version if re.fullmatch(r"v?\d+\.\d+\.\d+", chart.version or "") else None
    app = (
        chart.app_version if chart.app_version and not rules.placeholder_app_version.match(chart.app_version) else None
    )
    declared, what = (release, "version") if release else (app, "appVersion")
    if declared and declared.lstrip("v") != resolved.chart_version.lstrip("v"):
        return [
            Finding(
                id="operator-chart-version-mismatch",
                severity=Severity.ERROR,
                message=f"The chart from {chart.origin or chart.path} is {chart.name} {declared} (Chart.yaml {what}), "
                f"but the spec says operator.chartVersion {resolved.chart_version}: its values and images would be "
                f"{declared}'s while checks, driver tags and version rules assume {resolved.chart_version}.",
                fix=f"Set operator.chartVersion: {declared if declared.startswith('v') else 'v' + declared}, or "
                f"point --chart/operator.chart at the {resolved.chart_version} chart.",
                path="operator.chartVersion",
            )
        ]
    return []


def _plugin_version_findings(resolved: ResolvedSpec, chart: Chart, values: dict[str, Any]) -> list[Finding]:
    """The device-plugin version rules (:mod:`gpuslice.checks.operator`) on the release's own devicePlugin.version,
    where it says more than the catalog did at check time (a chart the catalog does not know, a vendored one)."""
    from gpuslice.checks.operator import version_findings

    release = _merge(chart.effective_values(), values)
    seen = {(f.id, f.pool) for f in version_findings(resolved)}
    return [f for f in version_findings(resolved, release) if (f.id, f.pool) not in seen]


def _render_failed(resolved: ResolvedSpec, e: HelmError) -> Finding:
    """helm template refuses the merged values: name the user keys its message mentions (else all of them)."""
    from gpuslice.checks.operator import leaf_paths

    text = str(e)
    leaves = [p for p, _v in leaf_paths(resolved.spec.operator.values)]
    keys = [p for p in leaves if ".".join(p) in text] or leaves
    named = ", ".join(f"operator.values.{'.'.join(p)}" for p in keys[:6])
    return Finding(
        id="operator-values-conflict",
        severity=Severity.ERROR,
        message=f"The chart does not render with operator.values ({named}): {text}",
        fix=f"Change or remove {named}.",
        path=f"operator.values.{'.'.join(keys[0])}",
    )


def _image_findings(inv: Inventory) -> list[Finding]:
    out = [
        Finding(
            id="operator-driver-os-unknown",
            severity=Severity.WARNING,
            message=w,
            fix="Use a pool OS from the catalog with a driver image tag, or a pre-installed driver.",
        )
        for w in inv.warnings
    ]
    for img in inv.unmapped:
        out.append(
            Finding(
                id="operator-image-not-mirrored",
                severity=Severity.ERROR,
                message=f"No registry mirror rule covers {img.source} (used by {', '.join(img.used_by)}).",
                fix="Add a registry.mirrors rule for its registry, or set registry.proxy.",
                path="registry.mirrors",
                evidence=img.used_by,
            )
        )
    return out


def chart_and_values(resolved: ResolvedSpec, options: RenderOptions) -> tuple[Chart, dict[str, Any]]:
    """The located chart and the operator values, computed once per render run (memoized in ``options``)."""
    key = "operator.chart_and_values"
    if key not in options.memo:
        chart = locate_chart(resolved, options.chart, helm=options.helm, progress=options.memo.get("progress"))
        options.memo[key] = (chart, operator_values(resolved, chart))
    chart, values = options.memo[key]
    return chart, values


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    return start(resolved, options)()


def start(resolved: ResolvedSpec, options: RenderOptions) -> Callable[[], RenderResult]:
    """The renderer in two steps: this call does everything up to ``helm template`` of the chart, which it starts
    in the background; the function it returns waits for helm and finishes the result (the proof's findings), or
    raises what :func:`render` raises. :func:`gpuslice.render.render_all` runs the other renderers in between, so
    helm's time overlaps theirs."""
    from gpuslice.render.operator_proof import prove, start_render_chart

    chart, values = chart_and_values(resolved, options)
    inv = build_inventory(resolved, chart, values, app_version=release_version(chart, resolved.chart_version))
    text = values_yaml(resolved, chart, values)
    findings = _version_findings(resolved, chart) + _plugin_version_findings(resolved, chart, values)
    findings.extend(_image_findings(inv))
    rendered = start_render_chart(resolved, chart, text, helm=options.helm) if options.prove else None

    def finish() -> RenderResult:
        nonlocal findings
        if rendered is not None:
            try:
                findings.extend(prove(resolved, chart, text, inv, helm=options.helm, docs=rendered()))
            except HelmError as e:
                if not resolved.spec.operator.values:
                    raise
                findings.append(_render_failed(resolved, e))
        if resolved.spec.operator.values and any(f.severity == Severity.ERROR for f in findings):
            # Prove gpuslice's own values too: an error they do not have comes from operator.values.
            own = gpuslice_values(resolved, chart)
            own_inv = build_inventory(resolved, chart, own, app_version=release_version(chart, resolved.chart_version))
            baseline = {(f.id, f.message) for f in _image_findings(own_inv)}
            if options.prove:
                own_text = values_yaml(resolved, chart, own)
                baseline |= {(f.id, f.message) for f in prove(resolved, chart, own_text, own_inv, helm=options.helm)}
            findings = blame_user_values(resolved, findings, baseline)
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

    return finish


__all__ = [
    "gpuslice_values",
    "image_inventory",
    "mig_strategy",
    "operator_values",
    "pool_tolerations",
    "render",
    "start",
]
