"""Crash-looping GPU operands: every one gets a finding that quotes its last error lines; known causes get their own.

An operand is a pod of the GPU Operator's namespace or a pod of the NVIDIA device plugin / GFD / MPS control daemon
anywhere (the device plugin's Helm chart, eksctl's DaemonSet in kube-system). A container "fails" when it waits in
CrashLoopBackOff / RunContainerError / CreateContainerError / StartError, or its last run ended with a non-zero exit.
Texts are read from the container states, the pod's events and the log tail; a signature match names the cause,
otherwise ``operand-crashloop`` quotes what the container said last. Causes that other rule families already name
(GLIBC, nvidia runtime handler, config-manager keys, kernel headers) are left to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, Text, finding, nodes_phrase
from gpuslice.findings import Finding, Severity

#: Container waiting reasons that mean the container itself fails (not: it waits for an image or volume).
_FAILING = {"CrashLoopBackOff", "RunContainerError", "CreateContainerError", "StartError", "Error"}
#: Signatures other rule families report; a container they explain gets no generic finding here.
_ELSEWHERE = ("glibc", "no-nvidia-runtime", "config-missing", "no-config-files", "kernel-headers")
#: Signatures this module reports, first match wins (most specific first).
_OWN = (
    ("driver-build", "driver-build-failed"),
    ("cuda-not-initialized", "cuda-fabric-manager"),
    ("mps-daemon", "mps-daemon-missing"),
    ("plugin-config-unloadable", "plugin-config-unloadable"),
    ("container-cli-init", "container-cli-init-error"),
)
_NAME_HINTS = ("nvidia", "gpu-feature-discovery", "device-plugin", "dcgm", "mps-control-daemon", "gpu-operator")
_ERRORISH = re.compile(r"^[EF]\d{4} |\b(?:error|fatal|failed|panic|unable|cannot|denied|not found)\b", re.IGNORECASE)
TAIL = 3


@dataclass
class _Failing:
    pod: m.Pod
    status: m.ContainerStatus
    init: bool
    texts: list[Text]


def _failing(s: m.ContainerStatus) -> bool:
    st = s.state
    if st is None:
        return False
    if st.waiting is not None and st.waiting.reason in _FAILING:
        return True
    return st.terminated is not None and st.terminated.exit_code not in (0, None)


def is_operand(ctx: DoctorContext, pod: m.Pod) -> bool:
    if pod.namespace == ctx.namespace:
        return True
    name = (pod.owner() or pod.name).lower()
    if any(h in name for h in _NAME_HINTS):
        return True
    return any("k8s-device-plugin" in c.image or "gpu-feature-discovery" in c.image for c in pod.spec.containers or ())


def _pod_events(ctx: DoctorContext) -> dict[tuple[str, str], list[Text]]:
    out: dict[tuple[str, str], list[Text]] = {}
    for ev, t in ctx.event_texts():
        o = ev.obj
        if o.kind == "Pod":
            out.setdefault((o.namespace or ev.metadata.namespace, o.name), []).append(t)
    return out


def failing_operands(ctx: DoctorContext) -> list[_Failing]:
    events = _pod_events(ctx)
    out = []
    for pod in ctx.unhealthy_pods:
        bad = [(init, s) for init, s in pod.statuses() if _failing(s)]
        if not bad or not is_operand(ctx, pod):
            continue
        pod_events = events.get((pod.namespace, pod.name), [])
        for init, s in bad:
            texts = list(ctx.texts_of(pod, [s.name]))
            # events name the container in their fieldPath only; a pod's events belong to its failing container
            texts += pod_events
            out.append(_Failing(pod, s, init, texts))
    return out


def _plugin_pod(pod: m.Pod) -> bool:
    return (
        any(
            "k8s-device-plugin" in c.image and "mps" not in c.name and "config-manager" not in c.name
            for c in pod.spec.containers or ()
        )
        and "feature-discovery" not in pod.name
        and "mps-control-daemon" not in pod.name
    )


def running_plugin_hits(ctx: DoctorContext) -> list[_Failing]:
    """Device-plugin pods that run but keep retrying (MPS daemon missing). Their logs are read for one pod per
    (DaemonSet, selected config): pods of one DaemonSet with the same config behave alike, and reading every
    healthy plugin's log would cost a 5,000-node dump seconds. When the sample shows the error, the group's other
    pods are read too."""
    from gpuslice.cluster.doctor.plugins import plugin_pods
    from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL

    groups: dict[tuple[str, str, str], list[m.Pod]] = {}
    for pod, owner in plugin_pods(ctx):
        if pod.status.phase != "Running" or not _plugin_pod(pod) or pod_failing(pod):
            continue
        node = ctx.view.node(pod.spec.node_name) if pod.spec.node_name else None
        key = node.labels.get(DEVICE_PLUGIN_CONFIG_LABEL, "") if node else ""
        groups.setdefault((pod.namespace, owner, key), []).append(pod)
    sig = k.signature("mps-daemon")
    out = []
    for pods in groups.values():
        if not _log_hit(ctx, pods[0], sig):
            continue
        for pod in pods:
            for _init, s in pod.statuses():
                if _log_hit(ctx, pod, sig, s.name):
                    out.append(_Failing(pod, s, False, list(ctx.texts_of(pod, [s.name]))))
    return out


def _log_hit(ctx: DoctorContext, pod: m.Pod, sig: k.Signature, container: str | None = None) -> bool:
    for c, lines in ctx.view.logs(pod).items():
        if container is not None and c != container:
            continue
        if any(sig.search(x) for x in lines[-200:]):
            return True
    return False


def pod_failing(pod: m.Pod) -> bool:
    return any(_failing(s) for _i, s in pod.statuses())


def crash_summary(ctx: DoctorContext, pod: m.Pod | None) -> str | None:
    """'pod ns/name [container c] on node: CrashLoopBackOff, N restarts' (+ the last log lines) for the first failing
    container of ``pod``: other rule families add it so every crash-looping operand is quoted the same way."""
    if pod is None:
        return None
    for init, s in pod.statuses():
        if _failing(s):
            lines = describe(ctx, _Failing(pod, s, init, []))
            tail = [x.strip() for x in lines[1:] if "last log lines" in x]
            return lines[0] + (f"; {tail[0]}" if tail else "")
    return None


def log_tail(ctx: DoctorContext, pod: m.Pod, container: str, n: int = TAIL) -> list[str]:
    """The last ``n`` error-looking lines of a container's log (else its last ``n`` lines)."""
    lines = [x for x in ctx.view.logs(pod).get(container, []) if x.strip()]
    errs = [x for x in lines if _ERRORISH.search(x)]
    return (errs or lines)[-n:]


def describe(ctx: DoctorContext, f: _Failing) -> list[str]:
    """Evidence lines: pod, container, state, restarts, the termination/waiting message and the log tail."""
    s = f.status
    st = s.state
    state = ""
    if st and st.waiting:
        state = st.waiting.reason or "Waiting"
    elif st and st.terminated:
        state = f"Terminated ({st.terminated.reason or 'Error'}, exit {st.terminated.exit_code})"
    head = (
        f"{f.pod.ref} [{'init ' if f.init else ''}container {s.name}] on {f.pod.spec.node_name or '?'}: {state}, "
        f"{s.restart_count} restart{'s' if s.restart_count != 1 else ''}"
    )
    out = [head]
    msgs = []
    for cs in (s.state, s.last_state):
        if cs is None:
            continue
        for msg in (cs.waiting.message if cs.waiting else None, cs.terminated.message if cs.terminated else None):
            if msg and "back-off" not in msg.lower():
                msgs.append(msg)
    for msg in msgs[:1]:
        out.append(f"  message: {k.excerpt(msg, width=300)}")
    tail = log_tail(ctx, f.pod, s.name)
    if tail:
        out.append("  last log lines: " + " | ".join(k.excerpt(x, width=200) for x in tail))
    elif not msgs:
        evs = [t for t in f.texts if t.ref.startswith("event") and "back-off" not in t.text.lower()]
        if evs:
            out.append(f"  {evs[-1].ref}: {k.excerpt(evs[-1].text, width=300)}")
        else:
            out.append("  (no log or message captured for this container)")
    return out


def _match(f: _Failing, keys: Iterable[str]) -> tuple[str, re.Match[str], Text] | None:
    for key in keys:
        sig = k.signature(key)
        for t in f.texts:
            mt = sig.search(t.text)
            if mt:
                return key, mt, t
    return None


def check(ctx: DoctorContext) -> Iterable[Finding]:
    fails = failing_operands(ctx) + running_plugin_hits(ctx)
    if not fails:
        return []
    groups = Evidence()
    matched: dict[str, list[tuple[_Failing, re.Match[str], Text]]] = {}
    for f in fails:
        if _match(f, _ELSEWHERE):
            continue
        hit = _match(f, [key for key, _ in _OWN])
        if hit is None:
            for line in describe(ctx, f):
                groups.add("crash", line, f.pod.spec.node_name)
            continue
        key, mt, t = hit
        fid = dict(_OWN)[key]
        matched.setdefault(fid, []).append((f, mt, t))
    out: list[Finding] = []
    if groups.groups:
        nodes = groups.node_names("crash")
        pods = {line.split(" [", 1)[0] for line in groups.groups["crash"] if line.startswith("pod ")}
        out.append(
            finding(
                "operand-crashloop",
                Severity.ERROR,
                f"{len(pods)} GPU operand pod(s) keep failing on {nodes_phrase(nodes)} and no known cause matched; "
                "their last error lines are in the evidence",
                "Read the quoted lines (the first error usually names the cause); `kubectl -n NS logs POD -c "
                "CONTAINER --previous` shows the whole log of the last run.",
                evidence=_lines(groups.groups["crash"], 12),
                pool=ctx.pool_name(nodes),
            )
        )
    from gpuslice.cluster.doctor import operand_causes

    for fid, hits in sorted(matched.items()):
        out.extend(operand_causes.explain(ctx, fid, hits))
    return out


def _lines(lines: list[str], cap: int) -> tuple[str, ...]:
    if len(lines) <= cap:
        return tuple(lines)
    return (*lines[:cap], f"… and {len(lines) - cap} more")
