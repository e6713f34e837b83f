"""The GitOps kinds that carry Helm values (see ``wrappers``), by API group."""

from __future__ import annotations

from typing import Any

WRAPPER_KINDS = {
    "HelmRelease": "helm.toolkit.fluxcd.io",
    "HelmChart": "helm.cattle.io",
    "HelmChartConfig": "helm.cattle.io",
    "Application": "argoproj.io",
    "ApplicationSet": "argoproj.io",
}


def is_wrapper(d: Any) -> bool:
    """A Flux HelmRelease, RKE2/k3s HelmChart(Config) or Argo CD Application(Set)."""
    if not isinstance(d, dict):
        return False
    group = WRAPPER_KINDS.get(str(d.get("kind")))
    return group is not None and str(d.get("apiVersion", "")).startswith(group + "/")
