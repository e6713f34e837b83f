"""The cluster's Kubernetes version against the operator chart's validated range (``operator_charts.yaml``)."""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.catalog import version_tuple
from gpuslice.checks._common import older
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec

PLATFORM_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/platform-support.html"


def check(r: ResolvedSpec) -> Iterator[Finding]:
    if r.chart is None:
        known = ", ".join(sorted(r.catalog.chart_versions))
        yield Finding(
            id="chart-version-unknown",
            severity=Severity.WARNING,
            message=f"GPU Operator chart {r.chart_version} is not in gpuslice's catalog (known: {known}).",
            fix=f"Use a known chart version (default {r.catalog.default_chart_version}) or add the chart to the catalog.",
            reference=PLATFORM_REF,
            path="operator.chartVersion",
        )
        return
    provider = r.spec.cluster.provider
    ranges = {r.chart.kubernetes_range(provider, p.spec.os) for p in r.pools}
    lo = max((x[0] for x in ranges), key=version_tuple)  # every pool must be within its OS's validated range
    hi = r.chart.kubernetes_range(provider)[1]
    k8s = r.kubernetes_version
    if older(k8s, lo) or older(hi, k8s):
        where = "on Amazon EKS " if provider == "eks" and r.chart.eks_kubernetes_min else ""
        fitting = [
            v
            for v, c in sorted(r.catalog.chart_versions.items())
            if not older(k8s, c.kubernetes_range(provider)[0]) and not older(c.kubernetes_range(provider)[1], k8s)
        ]
        other = f" (in gpuslice's catalog: {', '.join(fitting)})" if fitting else ""
        yield Finding(
            id="k8s-version-unsupported",
            severity=Severity.ERROR,
            message=(
                f"Kubernetes {k8s} is outside the range NVIDIA validated {where}for GPU Operator "
                f"{r.chart_version}: {lo} to {hi}."
            ),
            fix=(
                "Choose a Kubernetes version in that range, or a chart version validated for "
                f"{k8s}{other} in operator.chartVersion."
            ),
            reference=PLATFORM_REF,
            path="cluster.kubernetesVersion",
            evidence=(f"chart {r.chart_version}: {r.chart.source}",),
        )
