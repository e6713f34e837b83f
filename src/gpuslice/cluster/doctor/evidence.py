"""Evidence completeness: what doctor could not judge, said as findings, so a damaged or partial dump is never
presented as a healthy cluster.

- ``dump-incomplete``: a file the rules need was not captured, or was unreadable (not a Kubernetes list, a list
  of another kind, a folder or a looping link in its place). ``nodes.json`` and the operator namespace's pods are
  essential (error: without them nothing about the GPU nodes can be concluded); the operator's DaemonSets and
  events, and kube-system's pods and events, are warnings. kubectl writes every one of these files for every
  namespace it dumps (``clusterinfo_dump.go``), so a missing one means the bundle was cut short or edited.
- ``pod-crashloop-no-logs``: a container restarts again and again, and the dump holds no log of it (kubectl
  dumps only current logs, and a bundle may have been trimmed): its cause cannot be diagnosed, so doctor says so
  instead of staying silent.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, finding
from gpuslice.findings import Finding, Severity

#: Restarts from which a container counts as crash-looping (CrashLoopBackOff starts after a few).
CRASHLOOP_RESTARTS = 3

_WHAT = {
    "nodes": "the node rules (GPU capacity, labels, taints, pressure) could not run",
    "pods": "the pod rules (image pulls, crash loops, driver and toolkit failures) could not run there",
    "daemonsets": "the operator DaemonSet rules (rollout, readiness) could not run",
    "events": "the event rules (pull errors, evictions, sandbox failures) could not run there",
}
_FIX = (
    "Capture the dump again, whole: `kubectl cluster-info dump --all-namespaces --output-directory DIR` or "
    "`gpuslice snapshot -d DIR`; doctor then checks what is missing now."
)


def _file(ctx: DoctorContext, namespace: str, resource: str) -> str:
    root = getattr(ctx.view.source, "root", None)
    rel = f"{namespace + '/' if namespace else ''}{resource}.json"
    return f"{root}/{rel}" if root is not None else rel


def _gap(ctx: DoctorContext, namespace: str, resource: str, severity: Severity) -> Finding | None:
    why = ctx.view.missing.get((namespace, resource))
    if why is None:
        return None
    f = _file(ctx, namespace, resource)
    said = "was not captured" if why == "absent" else "could not be read"
    where = f" in namespace {namespace}" if namespace else ""
    return finding(
        "dump-incomplete",
        severity,
        f"{f} {said}: {_WHAT[resource]}{where}; this dump cannot show the cluster healthy",
        _FIX,
        evidence=(f if why == "absent" else f"{f}: {why}",),
    )


def check(ctx: DoctorContext) -> Iterable[Finding]:
    out: list[Finding] = []
    seen = ctx.view.namespaces_seen
    if seen is not None:  # a dump; the live API reports what it may not read as cluster-access-denied
        wanted: list[tuple[str, str, Severity]] = [("", "nodes", Severity.ERROR)]
        if ctx.namespace in seen:  # a missing operator folder is operator-not-found's to report
            wanted += [
                (ctx.namespace, "pods", Severity.ERROR),
                (ctx.namespace, "daemonsets", Severity.WARNING),
                (ctx.namespace, "events", Severity.WARNING),
            ]
        if "kube-system" in seen:
            wanted += [("kube-system", "pods", Severity.WARNING), ("kube-system", "events", Severity.WARNING)]
        else:
            out.append(
                finding(
                    "dump-incomplete",
                    Severity.WARNING,
                    f"{_file(ctx, 'kube-system', '')[:-5]} was not captured: the rules for system pods (CoreDNS, "
                    "kube-proxy, CNI) could not run",
                    _FIX,
                    evidence=(_file(ctx, "kube-system", "")[:-5],),
                )
            )
        for ns, res, sev in wanted:
            gap = _gap(ctx, ns, res, sev)
            if gap is not None:
                out.append(gap)
    out.extend(_crashloops_without_logs(ctx))
    return out


def _said_why(ctx: DoctorContext, pod: m.Pod, s: m.ContainerStatus) -> bool:
    w = s.state.waiting if s.state else None
    if w is not None and w.message and "back-off" not in w.message.lower():
        return True
    for ev, t in ctx.event_texts():
        o = ev.obj
        if (
            o.kind == "Pod"
            and o.name == pod.name
            and (o.namespace or ev.metadata.namespace) == pod.namespace
            and ev.type == "Warning"
            and "back-off" not in t.text.lower()
        ):
            return True
    return False


def _crashloops_without_logs(ctx: DoctorContext) -> Iterable[Finding]:
    for pod in ctx.unhealthy_pods:
        looping = [
            s
            for _init, s in pod.statuses()
            if s.restart_count >= CRASHLOOP_RESTARTS
            or (s.state is not None and s.state.waiting is not None and s.state.waiting.reason == "CrashLoopBackOff")
        ]
        if not looping:
            continue
        logs = ctx.view.logs(pod)
        for s in looping:
            if logs.get(s.name) or (len(pod.container_names()) == 1 and logs.get("")):
                continue
            if any(
                st is not None and st.terminated is not None and st.terminated.message for st in (s.state, s.last_state)
            ):
                continue  # the runtime said why it ended (the rules read that message)
            if _said_why(ctx, pod, s):
                continue  # a waiting message or a pod event (e.g. the hook's GLIBC error) says why
            reason = s.state.waiting.reason if s.state and s.state.waiting and s.state.waiting.reason else "restarting"
            last = s.last_state.terminated if s.last_state and s.last_state.terminated else None
            exit_ = f", last exit code {last.exit_code}" if last is not None and last.exit_code is not None else ""
            yield finding(
                "pod-crashloop-no-logs",
                Severity.WARNING,
                f"{pod.ref} [container {s.name}] restarted {s.restart_count} times ({reason}{exit_}) and no log of it "
                "was captured: cause unknown — capture its logs",
                f"`kubectl -n {pod.namespace} logs {pod.name} -c {s.name} --previous` shows why the last run ended; "
                "put it in the bundle as the pod's logs.txt and run doctor again.",
                evidence=(f"{pod.ref} [container {s.name}]: {s.restart_count} restarts, {reason}",),
                pool=ctx.pool_name([pod.spec.node_name]) if pod.spec.node_name else None,
            )
