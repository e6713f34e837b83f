"""Prometheus metrics of the latest ``gpuslice top`` report (``prometheus_client`` custom collector).

Names follow Prometheus conventions: ``gpuslice_`` prefix, base units (bytes, ratios 0..1), ``_total`` only on
counters. Per container, not per process: a pid label would make a new series for every process start.
Labels: node, gpu_uuid, gpu_index, strategy, and for workload series namespace, pod, container (empty for
processes outside any pod).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class _HasLatest(Protocol):
    sample_seconds: float

    def latest(self) -> tuple[dict[str, Any] | None, str | None]: ...


class ReportCollector:
    def __init__(self, agent: _HasLatest) -> None:
        self.agent = agent

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        rep, err = self.agent.latest()
        up = GaugeMetricFamily("gpuslice_top_up", "1 when the last sample succeeded, else 0.")
        up.add_metric([], 0.0 if err or rep is None else 1.0)
        yield up
        cost = GaugeMetricFamily("gpuslice_top_sample_cpu_seconds", "CPU time the agent spent on its last sample.")
        cost.add_metric([], float(self.agent.sample_seconds))
        yield cost
        if rep is None:
            return
        node = str(rep.get("node") or "")
        strategy = str((rep.get("sharing") or {}).get("strategy") or "unknown")
        gl = ["node", "gpu_uuid", "gpu_index", "strategy"]
        total = GaugeMetricFamily("gpuslice_gpu_memory_total_bytes", "GPU memory.", labels=gl)
        used = GaugeMetricFamily("gpuslice_gpu_memory_used_bytes", "GPU memory in use (all processes).", labels=gl)
        replicas = GaugeMetricFamily(
            "gpuslice_gpu_replicas", "Replicas the GPU is shared into (1: not shared).", labels=gl
        )
        fair = GaugeMetricFamily("gpuslice_gpu_fair_share_bytes", "GPU memory / replicas.", labels=gl)
        procs = GaugeMetricFamily(
            "gpuslice_gpu_processes", "Compute processes on the GPU (MPS server excluded).", labels=gl
        )
        wl = [*gl, "namespace", "pod", "container"]
        mem = GaugeMetricFamily(
            "gpuslice_container_gpu_memory_bytes", "GPU memory the container's processes use.", labels=wl
        )
        sm = GaugeMetricFamily(
            "gpuslice_container_gpu_sm_utilization_ratio",
            "Share of the GPU's SMs the container's processes kept busy over the sample (0..1).",
            labels=wl,
        )
        held = GaugeMetricFamily(
            "gpuslice_container_gpu_replicas", "Replicas of the GPU allocated to the container.", labels=wl
        )
        share = GaugeMetricFamily(
            "gpuslice_container_gpu_memory_fair_share_ratio",
            "GPU memory used / fair share of the replicas held (>1: over its share).",
            labels=wl,
        )
        for g in rep.get("gpus") or []:
            gv = [node, str(g.get("uuid")), str(g.get("index")), strategy]
            total.add_metric(gv, float(g.get("memoryTotalBytes") or 0))
            used.add_metric(gv, float(g.get("memoryUsedBytes") or 0))
            replicas.add_metric(gv, float(g.get("replicas") or 1))
            fair.add_metric(gv, float(g.get("fairShareBytes") or 0))
            procs.add_metric(gv, float(sum(1 for p in g.get("processes") or [] if not p.get("mpsServer"))))
            for r in g.get("pods") or []:
                wv = [*gv, str(r.get("namespace") or ""), str(r.get("pod") or ""), str(r.get("container") or "")]
                mem.add_metric(wv, float(r.get("memoryBytes") or 0))
                held.add_metric(wv, float(r.get("replicas") or 0))
                if r.get("smUtil") is not None:
                    sm.add_metric(wv, float(r["smUtil"]) / 100.0)
                if r.get("shareOfFairShare") is not None:
                    share.add_metric(wv, float(r["shareOfFairShare"]))
            host = [p for p in g.get("processes") or [] if p.get("pod") is None and not p.get("mpsServer")]
            if host:
                wv = [*gv, "", "", ""]
                mem.add_metric(wv, float(sum(p.get("memoryBytes") or 0 for p in host)))
                smv = [p["smUtil"] for p in host if p.get("smUtil") is not None]
                if smv:
                    sm.add_metric(wv, sum(smv) / 100.0)
        yield from (total, used, replicas, fair, procs, mem, sm, held, share)
