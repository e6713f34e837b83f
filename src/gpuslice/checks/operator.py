"""The operator release against the spec: ``operator.values`` that rewire what gpuslice decides, and the rules that
depend on the device plugin's version (which the chart version fixes, or ``operator.values.devicePlugin.version``).

Upstream facts, by version (NVIDIA/k8s-device-plugin tags; NVIDIA/gpu-operator deployments/gpu-operator/values.yaml
``devicePlugin.version`` at each tag: v23.9.2 -> v0.14.5, v24.3.0 -> v0.15.0, v24.9.2 -> v0.17.0, v25.3.4 -> v0.17.4,
v25.10.1 -> v0.18.1, v26.3.0 -> v0.19.0, v26.7.0 -> v0.20.0):

- MPS sharing exists from plugin v0.15.0 (``api/config/v1/sharing.go`` gains ``Sharing.MPS``; v0.14.x has none, and
  its config parser ignores the unknown block, so the node is silently not shared), i.e. from operator v24.3.0.
- From v0.15.0 to v0.19.x the plugin sets ``sharing.mps.failRequestsGreaterThanOne = true`` whatever the config says
  (``api/config/v1/config.go`` ``parseConfigFrom``); v0.20.0 honours an explicit false (commit f14d3d12d,
  "fix(mps): honor failRequestsGreaterThanOne").
- g6f/gr6f fractional GPUs are NVIDIA vGPU slices of an L4 and need NVIDIA's GRID (vGPU guest) driver; the
  operator's driver container installs the datacenter driver, which does not drive them (AWS EC2 user guide,
  "NVIDIA drivers for your Amazon EC2 instance": GRID drivers for G6f).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import EXCLUSIVE_KEY, ResolvedSpec, operand_runs_on

MPS_MIN_PLUGIN = (0, 15, 0)
MPS_MIN_OPERATOR = (24, 3, 0)
MPS_HONOURS_FAIL = (0, 20, 0)
MPS_HONOURS_FAIL_OPERATOR = (26, 7, 0)
PLUGIN_CONFIG_REF = "https://github.com/NVIDIA/k8s-device-plugin/blob/main/api/config/v1/config.go"
VALUES_REF = "https://github.com/NVIDIA/gpu-operator/blob/main/deployments/gpu-operator/templates/clusterpolicy.yaml"
GRID_REF = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/install-nvidia-driver.html"


def version_tuple(text: str | None) -> tuple[int, int, int] | None:
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", str(text or ""))
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def plugin_version(r: ResolvedSpec, values: dict[str, Any] | None = None) -> tuple[str, tuple[int, int, int] | None]:
    """(where it comes from, the device plugin version) for the release: the values' ``devicePlugin.version``
    (the chart's, or the spec's operator.values), else the catalog's for the chart version."""
    for src, vals in (("the chart's values", values), ("operator.values", r.spec.operator.values)):
        dp = vals.get("devicePlugin") if isinstance(vals, dict) else None
        v = version_tuple(dp.get("version")) if isinstance(dp, dict) else None
        if v is not None and src == "operator.values":
            return f"operator.values.devicePlugin.version {dp['version']}", v  # type: ignore[index]
        if v is not None and values is not None:
            return f"devicePlugin.version {dp['version']} of the chart", v  # type: ignore[index]
    if r.chart is not None:
        return f"chart {r.chart_version} ships device plugin {r.chart.device_plugin_version}", version_tuple(
            r.chart.device_plugin_version
        )
    return f"chart {r.chart_version}", None


def version_findings(r: ResolvedSpec, values: dict[str, Any] | None = None) -> list[Finding]:
    """MPS against the device plugin version (``values``: the rendered release's, when a chart is at hand)."""
    where, plugin = plugin_version(r, values)
    chart = version_tuple(r.chart_version)
    out: list[Finding] = []
    for p in r.pools:
        s = p.sharing
        if s.strategy != "mps" or not operand_runs_on(r, p, "device-plugin"):
            continue
        too_old = plugin < MPS_MIN_PLUGIN if plugin else bool(chart and chart < MPS_MIN_OPERATOR)
        if too_old:
            out.append(
                Finding(
                    id="sharing-mps-unsupported",
                    severity=Severity.ERROR,
                    pool=p.name,
                    message=f"MPS sharing needs device plugin v0.15.0 (GPU Operator v24.3.0) or later, but {where}: "
                    "that plugin ignores the mps block and the pool's GPUs are not shared at all.",
                    fix="Use operator.chartVersion v24.3.0 or later (gpuslice's default is tested), or time-slicing.",
                    reference=PLUGIN_CONFIG_REF,
                    path=pool_path(p, "sharing", "strategy"),
                )
            )
            continue
        forced = plugin < MPS_HONOURS_FAIL if plugin else bool(chart and chart < MPS_HONOURS_FAIL_OPERATOR)
        if forced and s.fail_requests_explicit and not s.fail_requests_greater_than_one:
            out.append(
                Finding(
                    id="sharing-mps-fail-requests-forced",
                    severity=Severity.ERROR,
                    pool=p.name,
                    message=f"failRequestsGreaterThanOne: false with MPS, but {where}, and device plugins v0.15.0 to "
                    "v0.19.x force it to true for MPS: a pod asking for more than one replica fails admission "
                    "(UnexpectedAdmissionError) instead of getting several.",
                    fix="Set failRequestsGreaterThanOne: true (or leave it out), or use operator.chartVersion v26.7.0 "
                    "or later (device plugin v0.20.0 honours false).",
                    reference=PLUGIN_CONFIG_REF,
                    path=pool_path(p, "sharing", "failRequestsGreaterThanOne"),
                )
            )
    return out


def _fractional(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        it = r.catalog.instance(p.spec.instance_type)
        if it is None or not it.gpu_fraction or not operand_runs_on(r, p, "driver"):
            continue
        yield Finding(
            id="driver-fractional-gpu",
            severity=Severity.ERROR,
            pool=p.name,
            message=f"{p.spec.instance_type} has {it.gpu_fraction} of an {it.gpu_model} (an NVIDIA vGPU slice), which "
            "needs NVIDIA's GRID driver; the operator's driver container installs the datacenter driver, which does "
            "not drive it, so the node would advertise no GPU.",
            fix="Use an AMI with the GRID driver installed (AWS publishes it for G6f) and opt the pool out of the "
            "operator's driver: nodePools[].labels {nvidia.com/gpu.deploy.driver: 'false'} (or an OS whose driver "
            "is pre-installed and supports G6f).",
            reference=GRID_REF,
            path=pool_path(p, "instanceType"),
        )


#: Values gpuslice wires from the spec (ClusterPolicy carries them; the proof checks them).
WIRED: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("devicePlugin", "config"),
        "ClusterPolicy must name the sharing ConfigMap gpuslice writes (not the chart), with its default key",
        "sharing is set per pool (nodePools[].sharing).",
    ),
    (
        ("mig", "strategy"),
        "it must equal the sharing config's flags.migStrategy (the operator passes it as env, which wins over the file)",
        "gpuslice sets it from the sharing config.",
    ),
    (
        ("driver", "enabled"),
        "the pools' OS decides whether the operator's driver runs",
        "choose the pool OS, or opt a pool out with nodePools[].labels {nvidia.com/gpu.deploy.driver: 'false'}.",
    ),
    (
        ("toolkit", "enabled"),
        "the pools' OS decides whether the operator's container toolkit runs",
        "choose the pool OS, or opt a pool out with nodePools[].labels "
        "{nvidia.com/gpu.deploy.container-toolkit: 'false'}.",
    ),
    (
        ("devicePlugin", "enabled"),
        "the pools' OS decides whether the operator's device plugin runs",
        "choose the pool OS, or opt a pool out with nodePools[].labels {nvidia.com/gpu.deploy.device-plugin: 'false'}.",
    ),
)


def wired_values(r: ResolvedSpec) -> dict[tuple[str, ...], Any]:
    """What gpuslice sets at each :data:`WIRED` path (render/operator.py ``_settings`` writes the same)."""
    from gpuslice.sharing import mig_strategy

    out: dict[tuple[str, ...], Any] = {
        ("mig", "strategy"): mig_strategy(r),
        ("driver", "enabled"): r.driver_enabled,
        ("toolkit", "enabled"): r.toolkit_enabled,
        ("devicePlugin", "enabled"): r.device_plugin_enabled,
    }
    if r.pools:
        out[("devicePlugin", "config")] = {"create": False, "name": r.device_plugin_configmap, "default": EXCLUSIVE_KEY}
    return out


def leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (path, value) of a values tree whose value is not a non-empty map."""
    if isinstance(values, dict) and values:
        out: list[tuple[tuple[str, ...], Any]] = []
        for k, v in values.items():
            out.extend(leaf_paths(v, (*prefix, str(k))))
        return out
    return [(prefix, values)]


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        tree = tree.get(step) if isinstance(tree, dict) else None
    return tree


def values_conflicts(r: ResolvedSpec) -> Iterator[Finding]:
    user = r.spec.operator.values
    if not user:
        return
    wired = wired_values(r)
    for path, value in leaf_paths(user):
        for wpath, why, fix in WIRED:
            if path[: len(wpath)] != wpath and wpath[: len(path)] != path:
                continue
            own = wired.get(wpath)
            mine = _at(own, path[len(wpath) :]) if len(path) > len(wpath) else own
            if mine == value:
                continue  # says what gpuslice says anyway
            key = ".".join(path)
            yield Finding(
                id="operator-values-conflict",
                severity=Severity.ERROR,
                message=f"operator.values.{key} = {json.dumps(value)} changes what gpuslice wires: {why} "
                f"(gpuslice sets {'.'.join(wpath)} = {json.dumps(own)}).",
                fix=f"Remove operator.values.{key}; {fix}",
                reference=VALUES_REF,
                path=f"operator.values.{key}",
            )
            break


def check(r: ResolvedSpec) -> Iterator[Finding]:
    yield from values_conflicts(r)
    yield from version_findings(r)
    yield from _fractional(r)


__all__ = ["check", "leaf_paths", "plugin_version", "values_conflicts", "version_findings"]
