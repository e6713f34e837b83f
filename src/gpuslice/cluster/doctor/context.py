"""What every doctor rule gets: the cluster view, the spec when there is one, and cheap shared lookups."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.view import ClusterView
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedPool, ResolvedSpec

#: How many evidence lines a finding carries before "... and N more".
MAX_EVIDENCE = 5


@dataclass(frozen=True)
class Text:
    """A piece of text some object said: a container state message, an event, a log line."""

    ref: str  # "pod ns/name [container]" or "event on node x"
    text: str
    node: str = ""


@dataclass
class DoctorContext:
    view: ClusterView
    resolved: ResolvedSpec | None = None
    namespace: str = "gpu-operator"  # the operator's namespace
    _gpu_nodes: list[m.Node] | None = field(default=None, repr=False)
    _events: list[tuple[m.Event, Text]] | None = field(default=None, repr=False)
    _by_ds: dict[str, list[m.Pod]] | None = field(default=None, repr=False)
    _unhealthy: list[m.Pod] | None = field(default=None, repr=False)
    #: (pod, DaemonSet) of device-plugin DaemonSets, filled by plugins.plugin_pods
    _plugin_pods: list[tuple[m.Pod, str]] | None = field(default=None, repr=False)

    @property
    def gpu_nodes(self) -> list[m.Node]:
        if self._gpu_nodes is None:
            self._gpu_nodes = [n for n in self.view.nodes if k.is_gpu_node(n, self.resolved)]
        return self._gpu_nodes

    @property
    def unhealthy_pods(self) -> list[m.Pod]:
        """Every pod that is not plainly fine (see :func:`pod_unhealthy`), computed once. Failures that rules
        look for (pull errors, crash loops, evictions, sandbox errors) all leave a pod in this list."""
        if self._unhealthy is None:
            self._unhealthy = [p for p in self.view.all_pods() if pod_unhealthy(p)]
        return self._unhealthy

    @property
    def operator_present(self) -> bool:
        """The GPU Operator is installed: a ClusterPolicy, its Deployment or one of its operand DaemonSets."""
        if self.view.clusterpolicies:
            return True
        if any(d.metadata.name == k.operator()["deployment"] for d in self.view.deployments.get(self.namespace, ())):
            return True
        names = set(k.operator()["daemonsets"].values()) - {k.daemonset("device-plugin")}
        return any(d.name in names for d in self.view.daemonsets.get(self.namespace, ())) or any(
            p.metadata.label("app.kubernetes.io/component") == "gpu-operator" or p.name.startswith("gpu-operator-")
            for p in self.view.pods.get(self.namespace, ())
        )

    def pool(self, node: m.Node | str | None) -> ResolvedPool | None:
        if self.resolved is None or node is None:
            return None
        n = self.view.node(node) if isinstance(node, str) else node
        return k.pool_of(n, self.resolved) if n is not None else None

    def pool_name(self, nodes: Iterable[str]) -> str | None:
        """The pool all of ``nodes`` belong to, when they share one."""
        names = {p.name if p else None for p in (self.pool(n) for n in nodes)}
        return next(iter(names)) if len(names) == 1 else None

    def operator_pods(self, ds_key: str) -> list[m.Pod]:
        """Pods of one operator DaemonSet (by owner, or by its ``app`` label), in the operator namespace."""
        if self._by_ds is None:
            names = {v: key for key, v in k.operator()["daemonsets"].items()}
            idx: dict[str, list[m.Pod]] = {}
            for p in self.view.pods.get(self.namespace, ()):
                key = names.get(p.owner("DaemonSet") or "") or names.get(p.metadata.label("app"))
                if key:
                    idx.setdefault(key, []).append(p)
            self._by_ds = idx
        return self._by_ds.get(ds_key, [])

    def texts_of(self, pod: m.Pod, containers: Iterable[str] | None = None, *, logs: bool = True) -> Iterator[Text]:
        """Every message a pod carries: container state messages first, then (lazily) its log tail."""
        want = set(containers) if containers is not None else None
        for init, s in pod.statuses():
            if want is not None and s.name not in want:
                continue
            where = f"{pod.ref} [{'init ' if init else ''}container {s.name}]"
            for st in (s.state, s.last_state):
                if st is None:
                    continue
                if st.waiting and st.waiting.message:
                    yield Text(where, st.waiting.message, pod.spec.node_name)
                if st.terminated and st.terminated.message:
                    yield Text(where, st.terminated.message, pod.spec.node_name)
        if pod.status.message:
            yield Text(pod.ref, pod.status.message, pod.spec.node_name)
        if logs:
            for c, lines in self.view.logs(pod).items():
                if want is not None and c and c not in want:
                    continue
                where = f"{pod.ref} [log of {c or 'unknown container'}]"
                for line in lines:
                    yield Text(where, line, pod.spec.node_name)

    def event_texts(self) -> list[tuple[m.Event, Text]]:
        """(event, its text) for every event with a message, built once."""
        if self._events is None:
            out = []
            for ev in self.view.all_events():
                if not ev.text:
                    continue
                o = ev.obj
                node = o.name if o.kind == "Node" else (ev.source.host if ev.source and ev.source.host else "")
                if not node and o.kind == "Pod":  # events.k8s.io-style events carry no source.host
                    owner = self.view.pod(o.namespace or ev.metadata.namespace, o.name)
                    node = owner.spec.node_name if owner and owner.spec.node_name else ""
                out.append((ev, Text(f"event {ev.reason or '?'} on {ev.ref}", ev.text, node)))
            self._events = out
        return self._events

    def search_events(self, sig: k.Signature) -> Iterator[tuple[m.Event, Text, re.Match[str]]]:
        for ev, t in self.event_texts():
            mt = sig.search(t.text)
            if mt:
                yield ev, t, mt


def pod_unhealthy(p: m.Pod) -> bool:
    """Worth a closer look (and its logs): not running, a container waiting, failed or restarting."""
    st = p.status
    if st.phase not in ("Running", "Succeeded"):
        return True
    for lst in (st.init_container_statuses, st.container_statuses):
        if not lst:
            continue
        for s in lst:
            if s.restart_count > 0:
                return True
            cs = s.state
            if cs is None:
                continue
            if cs.waiting is not None and cs.waiting.reason not in (None, "PodInitializing", "ContainerCreating"):
                return True
            if cs.terminated is not None and cs.terminated.exit_code not in (0, None):
                return True
    return False


class Evidence:
    """Collects evidence lines per group key; emits them capped with a count of the rest."""

    def __init__(self) -> None:
        self.groups: dict[object, list[str]] = {}
        self.nodes: dict[object, set[str]] = {}

    def add(self, key: object, line: str, node: str = "") -> None:
        lines = self.groups.setdefault(key, [])
        if line not in lines:
            lines.append(line)
        if node:
            self.nodes.setdefault(key, set()).add(node)

    def lines(self, key: object) -> tuple[str, ...]:
        got = self.groups.get(key, [])
        if len(got) <= MAX_EVIDENCE:
            return tuple(got)
        return (*got[:MAX_EVIDENCE], f"… and {len(got) - MAX_EVIDENCE} more")

    def node_names(self, key: object) -> list[str]:
        return sorted(self.nodes.get(key, set()))


def finding(
    id_: str,
    severity: Severity,
    message: str,
    fix: str,
    *,
    evidence: tuple[str, ...] = (),
    pool: str | None = None,
    reference: str | None = None,
) -> Finding:
    return Finding(
        id=id_, severity=severity, message=message, fix=fix, pool=pool, reference=reference, evidence=evidence
    )


def nodes_phrase(nodes: list[str], limit: int = 3) -> str:
    if not nodes:
        return "no node"
    shown = ", ".join(nodes[:limit])
    more = f" and {len(nodes) - limit} more" if len(nodes) > limit else ""
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} ({shown}{more})"
