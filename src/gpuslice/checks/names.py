"""Generated names: within their length limits, valid, and not colliding."""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice import names
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec

REF = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"

IDS = {
    "names-release-too-long": "The Helm release name exceeds 53 characters (Helm's limit).",
    "names-collision": "Two generated object names are equal; re-deploys would overwrite each other.",
    "names-invalid": "A generated name is not a valid DNS-1123 label of at most 63 characters.",
}


def check(r: ResolvedSpec) -> Iterator[Finding]:
    if len(r.release_name) > names.HELM_RELEASE_MAX:
        yield Finding(
            id="names-release-too-long",
            severity=Severity.ERROR,
            message=f"Helm release name {r.release_name!r} has {len(r.release_name)} characters; Helm allows 53.",
            fix="Shorten operator.releaseName, or drop it to let gpuslice derive one from deploymentId.",
            reference="https://helm.sh/docs/chart_best_practices/conventions/",
            path="operator.releaseName",
        )
    generated: dict[str, str] = {r.device_plugin_configmap: "device-plugin ConfigMap"}
    for p in r.pools:
        what = f"node group of pool {p.name}"
        if p.node_group_name in generated:
            yield Finding(
                id="names-collision",
                severity=Severity.ERROR,
                message=f"{what} and {generated[p.node_group_name]} both get the name {p.node_group_name!r}.",
                fix="Rename one of the pools.",
                reference=REF,
                pool=p.name,
            )
        generated[p.node_group_name] = what
    for name, what in generated.items():
        if not names.is_dns_label(name):
            yield Finding(
                id="names-invalid",
                severity=Severity.ERROR,
                message=f"{what} name {name!r} is not a valid DNS-1123 label (<= 63).",
                fix="Use a shorter deploymentId or pool name.",
                reference=REF,
            )
