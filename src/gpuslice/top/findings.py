"""What a ``gpuslice top`` report says is wrong on a shared GPU. Pure functions of a report (``agent.build_report``),
used by the node agent, the cluster view and ``doctor`` (when a bundle holds agent reports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuslice.findings import Finding, Severity

OVER_SHARE = "top-memory-over-share"
OVERSUBSCRIBED = "top-more-processes-than-replicas"
IDLE_REPLICA = "top-idle-replica"

#: id -> (severity, explanation) for ``gpuslice explain`` and the findings reference.
EXPLAIN: dict[str, tuple[Severity, str]] = {
    OVER_SHARE: (
        Severity.WARNING,
        "A pod on a time-sliced GPU uses more GPU memory than its fair share (GPU memory / replicas, times the "
        "replicas it holds). Time-slicing has no memory isolation: the other pods on that GPU can then fail to "
        "allocate (CUDA out of memory) although the scheduler promised them a replica. Cap the workload's memory "
        "(framework settings such as PYTORCH_CUDA_ALLOC_CONF or a memory fraction), give it more replicas, or use "
        "MPS, where the device plugin pins each client to memory / replicas.",
    ),
    OVERSUBSCRIBED: (
        Severity.WARNING,
        "A GPU runs more compute processes than the replicas it advertises. Either processes outside Kubernetes "
        "use it (a host process, a pod that mounts the GPU without asking for nvidia.com/gpu, e.g. "
        "NVIDIA_VISIBLE_DEVICES=all), or pods start several GPU processes each. Each extra process takes time "
        "slices and memory the scheduler does not know about.",
    ),
    IDLE_REPLICA: (
        Severity.INFO,
        "A pod holds a replica of a shared GPU but runs no process on it during the sample: an idle reservation "
        "that keeps another pod from being scheduled there. Fine for a pod that is starting or between jobs; "
        "a long-lived one should release the GPU (scale down, or drop the nvidia.com/gpu request).",
    ),
}


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / (1 << 30):.1f} GiB"


def report_findings(report: dict[str, Any]) -> list[Finding]:
    node = report.get("node") or "?"
    strategy = (report.get("sharing") or {}).get("strategy", "unknown")
    out: list[Finding] = []
    for g in report.get("gpus") or []:
        where = f"node {node}, GPU {g.get('index')} {g.get('uuid')}"
        replicas = int(g.get("replicas") or 1)
        fair = g.get("fairShareBytes")
        clients = [p for p in g.get("processes") or [] if not p.get("mpsServer")]
        if strategy == "time-slicing" and fair:
            for r in g.get("pods") or []:
                held = max(int(r.get("replicas") or 0), 1)
                if (r.get("memoryBytes") or 0) > fair * held:
                    out.append(
                        Finding(
                            OVER_SHARE,
                            EXPLAIN[OVER_SHARE][0],
                            f"{r['namespace']}/{r['pod']} uses {_gib(r['memoryBytes'])} of GPU memory on {where}; "
                            f"its fair share is {_gib(fair * held)} ({held} of {replicas} replicas of "
                            f"{_gib(g.get('memoryTotalBytes'))})",
                            fix="Cap the workload's GPU memory, request more replicas, or move the pool to MPS "
                            "(memory pinned per client).",
                            evidence=(f"container {r.get('container') or '?'}, {r.get('processes', 0)} process(es)",),
                        )
                    )
        if strategy in ("time-slicing", "mps") and len(clients) > replicas:
            out.append(
                Finding(
                    OVERSUBSCRIBED,
                    EXPLAIN[OVERSUBSCRIBED][0],
                    f"{len(clients)} compute processes on {where}, which advertises {replicas} replicas",
                    fix="Find processes without a pod (pod '-') or pods that see every GPU "
                    "(NVIDIA_VISIBLE_DEVICES=all without a GPU request) and move them onto requested replicas.",
                    evidence=tuple(_proc_line(p) for p in clients[:6]),
                )
            )
        for r in g.get("pods") or []:
            if r.get("replicas") and not r.get("processes"):
                out.append(
                    Finding(
                        IDLE_REPLICA,
                        EXPLAIN[IDLE_REPLICA][0],
                        f"{r['namespace']}/{r['pod']} holds {r['replicas']} replica(s) of {where} and runs no "
                        "process on it",
                        fix="If the pod is done with the GPU, scale it down or drop its nvidia.com/gpu request.",
                        evidence=tuple(r.get("deviceIds") or ())[:4],
                    )
                )
    return out


def _proc_line(p: dict[str, Any]) -> str:
    who = f"{p['namespace']}/{p['pod']}" if p.get("pod") else "-"
    return f"pid {p['pid']} {p.get('command') or '?'} ({who}) {_gib(p.get('memoryBytes'))}"


def findings_from_reports(reports: Iterable[dict[str, Any]]) -> list[Finding]:
    out: list[Finding] = []
    for r in reports:
        out.extend(report_findings(r))
    return out
