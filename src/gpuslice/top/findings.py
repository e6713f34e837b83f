"""What a ``gpuslice top`` report says is wrong on a shared GPU. Pure functions of a report (``agent.build_report``),
used by the node agent, the cluster view and ``doctor`` (when a bundle holds agent reports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuslice.findings import Finding, Severity

#: Finding ids (declared, with their explanations, in src/gpuslice/data/findings.yaml under doctor)
OVER_SHARE = "top-memory-over-share"
OVERSUBSCRIBED = "top-more-processes-than-replicas"
IDLE_REPLICA = "top-idle-replica"


def _severity(fid: str) -> Severity:
    """Severity as the finding registry (src/gpuslice/data/findings.yaml) declares it."""
    from gpuslice.findings import registry

    return registry()[fid].severity


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
                            _severity(OVER_SHARE),
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
                    _severity(OVERSUBSCRIBED),
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
                        _severity(IDLE_REPLICA),
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
