"""One in-memory, typed, indexed picture of the cluster, built once from any :class:`Source`.

Doctor rules and verify read only this. Building it is linear in the number of objects; pod logs are fetched
lazily (a healthy cluster reads none) and cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gpuslice._gc import gc_paused
from gpuslice.cluster import model as m
from gpuslice.cluster.source import CLUSTERPOLICIES, CONFIGMAPS, NODES, TOP_REPORTS_FILE, Source
from gpuslice.errors import GpusliceError
from gpuslice.findings import Finding, Severity

T = TypeVar("T")


@dataclass
class ClusterView:
    label: str
    nodes: list[m.Node] = field(default_factory=list)
    pods: dict[str, list[m.Pod]] = field(default_factory=dict)
    daemonsets: dict[str, list[m.DaemonSet]] = field(default_factory=dict)
    deployments: dict[str, list[m.Deployment]] = field(default_factory=dict)
    events: dict[str, list[m.Event]] = field(default_factory=dict)
    #: None when the source did not capture them (a plain kubectl dump has neither).
    configmaps: dict[str, list[m.ConfigMap]] | None = None
    clusterpolicies: list[m.ClusterPolicy] | None = None
    #: Files that could not be read, as findings (a broken bundle is reported, not fatal).
    problems: list[Finding] = field(default_factory=list)
    #: ``gpuslice top`` agent reports (a dump's gpuslice-top.json, or the live agents), for doctor's top rules
    top_reports: list[dict[str, Any]] = field(default_factory=list)
    #: (namespace or "", resource) -> why it is not in the view ("absent", or what made it unreadable): the
    #: evidence doctor could not judge (see ``gpuslice.cluster.doctor.evidence_gaps``).
    missing: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Namespaces the source holds (a dump's folders); None when the source lists none (the live API).
    namespaces_seen: list[str] | None = None
    source: Source | None = None
    _logs: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict, repr=False)
    _by_node: dict[str, list[m.Pod]] | None = field(default=None, repr=False)
    _nodes_by_name: dict[str, m.Node] | None = field(default=None, repr=False)
    _pods_by_key: dict[tuple[str, str], m.Pod] | None = field(default=None, repr=False)

    # -- lookups ---------------------------------------------------------------------------------------------
    def node(self, name: str) -> m.Node | None:
        if self._nodes_by_name is None:
            self._nodes_by_name = {n.name: n for n in self.nodes}
        return self._nodes_by_name.get(name)

    def pod(self, namespace: str, name: str) -> m.Pod | None:
        if self._pods_by_key is None:
            self._pods_by_key = {(ns, p.name): p for ns, pods in self.pods.items() for p in pods}
        return self._pods_by_key.get((namespace, name))

    def all_pods(self) -> Iterator[m.Pod]:
        for pods in self.pods.values():
            yield from pods

    def pods_on(self, node: str) -> list[m.Pod]:
        if self._by_node is None:
            idx: dict[str, list[m.Pod]] = {}
            for p in self.all_pods():
                if p.spec.node_name:
                    idx.setdefault(p.spec.node_name, []).append(p)
            self._by_node = idx
        return self._by_node.get(node, [])

    def all_events(self) -> Iterator[m.Event]:
        for evs in self.events.values():
            yield from evs

    def all_daemonsets(self) -> Iterator[m.DaemonSet]:
        for dss in self.daemonsets.values():
            yield from dss

    def configmap(self, name: str, namespace: str | None = None) -> list[m.ConfigMap]:
        """ConfigMaps called ``name`` (in ``namespace`` only, when given) among those captured."""
        out = []
        for ns, cms in (self.configmaps or {}).items():
            if namespace is None or ns == namespace:
                out += [c for c in cms if c.metadata.name == name]
        return out

    @property
    def clusterpolicy(self) -> m.ClusterPolicy | None:
        return self.clusterpolicies[0] if self.clusterpolicies else None

    def logs(self, pod: m.Pod) -> dict[str, list[str]]:
        """container -> last log lines (lazy, cached; empty when the source has none)."""
        key = (pod.namespace, pod.name)
        if key not in self._logs:
            got: dict[str, list[str]] = {}
            if self.source is not None:
                try:
                    got = self.source.logs(pod.namespace, pod.name, pod.container_names())
                except OSError as e:
                    self.problems.append(_unreadable(f"logs of {pod.ref}", str(e)))
            self._logs[key] = got
        return self._logs[key]


def _unreadable(what: str, why: str) -> Finding:
    return Finding(
        id="dump-unreadable",
        severity=Severity.WARNING,
        message=f"could not read {what}: {why}",
        fix="Re-create the bundle (`kubectl cluster-info dump --output-directory DIR` or `gpuslice snapshot -d DIR`); "
        "the other files were still checked.",
        evidence=(what,),
    )


def _where(source: Source, resource: str, namespace: str | None) -> str:
    """The file a resource comes from (a dump), else ``namespace/resource``."""
    path_of = getattr(source, "path_of", None)
    p = path_of(resource, namespace) if path_of is not None else None
    return str(p) if p is not None else f"{namespace + '/' if namespace else ''}{resource}"


def _load(view: ClusterView, source: Source, resource: str, namespace: str | None, item: type[T]) -> list[T] | None:
    key = (namespace or "", resource)
    try:
        raw = source.read(resource, namespace)
    except OSError as e:
        view.problems.append(_unreadable(_where(source, resource, namespace), e.strerror or str(e)))
        view.missing[key] = e.strerror or str(e)
        return []
    if raw is None:
        view.missing[key] = "absent"
        return None
    where = _where(source, resource, namespace)
    try:
        items, bad = m.decode_list(raw, item)
    except m.DecodeError as e:
        view.problems.append(_unreadable(where, str(e)))
        view.missing[key] = str(e)
        return []
    if bad:
        view.problems.append(_unreadable(where, f"{bad} object(s) did not have the expected shape and were skipped"))
    return items


def load_view(source: Source, namespaces: list[str] | None = None) -> ClusterView:
    """Read everything doctor and verify need from ``source`` (all of its namespaces unless told otherwise)."""
    view = ClusterView(label=source.label, source=source)
    if getattr(source, "root", None) is not None:  # a dump: which namespace folders it has
        view.namespaces_seen = source.namespaces()
    with gc_paused():
        view.nodes = _load(view, source, NODES, None, m.Node) or []
        cps = _load(view, source, CLUSTERPOLICIES, None, m.ClusterPolicy)
        view.clusterpolicies = cps
        for ns in namespaces if namespaces is not None else source.namespaces():
            for attr, res, typ in (
                ("pods", "pods", m.Pod),
                ("daemonsets", "daemonsets", m.DaemonSet),
                ("deployments", "deployments", m.Deployment),
                ("events", "events", m.Event),
            ):
                got = _load(view, source, res, ns, typ)
                if got:
                    getattr(view, attr)[ns] = got
            cms = _load(view, source, CONFIGMAPS, ns, m.ConfigMap)
            if cms is not None:
                if view.configmaps is None:
                    view.configmaps = {}
                view.configmaps[ns] = cms
    reader = getattr(source, "top_reports", None)
    if callable(reader):
        try:
            view.top_reports = reader()
        except GpusliceError as e:
            view.problems.append(_unreadable(TOP_REPORTS_FILE, str(e)))
    for what in getattr(source, "denied", ()):
        view.problems.append(
            Finding(
                id="cluster-access-denied",
                severity=Severity.WARNING,
                message=f"not allowed to read {what.split(':', 1)[0]}, so the rules that need it did not run",
                fix="Use a kubeconfig whose user may list it (read-only access is enough); the rest was checked.",
                evidence=(what,),
            )
        )
    return view
