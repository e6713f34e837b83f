"""Doctor: what is wrong with a GPU cluster, from a dump folder or the live API.

An explicit registry of rule families, one module each (like ``gpuslice.checks``). A module exposes
``check(ctx) -> Iterable[Finding]``; the ids it reports are declared in the finding registry
(``src/gpuslice/data/findings.yaml``, owner ``doctor``), which ``gpuslice explain`` prints. Rules only
read the :class:`~gpuslice.cluster.doctor.context.DoctorContext`, never the network. Every finding carries
evidence (the object and an excerpt of what it said) and a fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext
from gpuslice.cluster.view import ClusterView, gc_paused
from gpuslice.findings import Finding, sort_findings
from gpuslice.resolve import ResolvedSpec

Rule = Callable[[DoctorContext], Iterable[Finding]]


def _modules() -> list[ModuleType]:
    from gpuslice.cluster.doctor import (
        dns,
        driver,
        evidence,
        images,
        nodes,
        operands,
        operator,
        plugins,
        runtime,
        sharing,
        top,
    )

    return [operator, images, runtime, driver, operands, sharing, plugins, nodes, dns, top, evidence]


def rules() -> dict[str, Rule]:
    """Rule family -> check function, in registry order."""
    return {mod.__name__.rsplit(".", 1)[-1]: mod.check for mod in _modules()}


def rule_docs() -> dict[str, str]:
    """Finding id -> explanation, for every doctor finding (the registry's owner ``doctor``)."""
    from gpuslice.findings import registry

    return {i.id: i.explanation for i in registry().values() if i.owner == "doctor"}


def operator_namespace(view: ClusterView, hint: str | None = None) -> str:
    """The GPU Operator's namespace: the hint (spec or snapshot manifest), else where its objects are."""
    if hint:
        return hint
    # eksctl (kube-system) and the device-plugin chart name their DaemonSet nvidia-device-plugin-daemonset too: a
    # namespace counts by another operator DaemonSet, or by one the ClusterPolicy owns.
    names = set(k.operator()["daemonsets"].values()) - {k.daemonset("device-plugin")}
    for ns, dss in view.daemonsets.items():
        if any(
            d.name in names or (d.metadata.owner_references and d.metadata.owner_references[0].kind == "ClusterPolicy")
            for d in dss
        ):
            return ns
    for ns, deps in view.deployments.items():
        if any(d.metadata.name == k.operator()["deployment"] for d in deps):
            return ns
    for ns, pods in view.pods.items():
        if any(p.metadata.label("app.kubernetes.io/component") == "gpu-operator" for p in pods):
            return ns
    return "gpu-operator"


def run_doctor(
    view: ClusterView,
    resolved: ResolvedSpec | None = None,
    *,
    namespace: str | None = None,
    only: set[str] | None = None,
) -> list[Finding]:
    """Every finding of every rule family (``only``: a subset of families), sorted."""
    ns = operator_namespace(view, namespace or (resolved.namespace if resolved else None))
    ctx = DoctorContext(view=view, resolved=resolved, namespace=ns)
    disabled = set(resolved.spec.checks.disabled) if resolved else set()
    findings: list[Finding] = []
    with gc_paused():  # the rules allocate little; a collection would only rescan the view's millions of objects
        for name, rule in rules().items():
            if only is not None and name not in only:
                continue
            findings.extend(f for f in rule(ctx) if f.id not in disabled)
    return sort_findings([*view.problems, *findings])  # problems include logs that failed to read
