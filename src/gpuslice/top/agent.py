"""The node agent behind ``gpuslice top --node``: NVML readings joined with the pods that hold each process.

One report per sample, plain JSON (``build_report``)::

    {"node": ..., "time": ..., "intervalSeconds": ..., "sharing": {"strategy", "replicas", "resource"},
     "gpus": [{"uuid", "index", "name", "memoryTotalBytes", "memoryUsedBytes", "utilization", "computeMode",
               "replicas", "fairShareBytes", "mpsPinnedLimitBytes",
               "processes": [{"pid", "command", "memoryBytes", "smUtil", "mpsClient",
                              "namespace", "pod", "container", "podUid", "qos"}],
               "pods": [{"namespace", "pod", "container", "replicas", "deviceIds", "memoryBytes", "smUtil",
                         "processes", "shareOfFairShare"}]}],
     "unmapped": [...allocations whose GPU this agent does not see...]}

How a process is tied to its pod: ``/proc/<pid>/cgroup`` names the pod UID and container id (``cgroup.py``); the pod's
name comes from the API server (pods on this node) or, without one, from ``/var/log/pods/<ns>_<name>_<uid>``; the
kubelet's pod-resources API says which container holds which GPU replica (``podresources.py``).

Fair share: ``GPU memory / replicas`` per replica held. Time-slicing has no memory isolation, so that share is only
advisory there; under MPS the device plugin's control daemon pins each client to the same figure
(``set_default_device_pinned_mem_limit`` = memory / replicas, k8s-device-plugin cmd/mps-control-daemon/mps/daemon.go).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuslice.top.cgroup import PodRef, pod_of_pid, strip_runtime_prefix
from gpuslice.top.nvml import NodeReading, Sampler
from gpuslice.top.podresources import Allocation, gpu_of_device_id

STRATEGY_LABEL = "nvidia.com/gpu.sharing-strategy"
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
MPS_SERVER_COMMANDS = ("nvidia-cuda-mps-server",)


@dataclass
class PodInfo:
    namespace: str
    name: str
    uid: str
    qos: str | None = None
    containers: dict[str, str] = field(default_factory=dict)  # container id (no runtime prefix) -> name


@dataclass(frozen=True)
class Sharing:
    strategy: str = "unknown"  # none | time-slicing | mps | unknown
    replicas: int = 1
    resource: str = "nvidia.com/gpu"

    @classmethod
    def from_node_labels(cls, labels: dict[str, str], resource: str = "nvidia.com/gpu") -> Sharing:
        strategy = labels.get(STRATEGY_LABEL, "unknown")
        try:
            replicas = max(1, int(labels.get(REPLICAS_LABEL, "1")))
        except ValueError:
            replicas = 1
        return cls(strategy=strategy, replicas=replicas, resource=resource)


def pods_from_api(items: Iterable[dict[str, Any]]) -> dict[str, PodInfo]:
    """Pod UID -> PodInfo from a PodList's items (``GET /api/v1/pods?fieldSelector=spec.nodeName=<node>``)."""
    out: dict[str, PodInfo] = {}
    for p in items:
        md = p.get("metadata") or {}
        uid = str(md.get("uid") or "").lower()
        if not uid:
            continue
        st = p.get("status") or {}
        info = PodInfo(md.get("namespace") or "", md.get("name") or "", uid, st.get("qosClass"))
        for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
            for cs in st.get(key) or []:
                if cs.get("containerID"):
                    info.containers[strip_runtime_prefix(cs["containerID"])] = cs.get("name", "")
        out[uid] = info
    return out


def pods_from_log_dir(root: Path = Path("/var/log/pods")) -> dict[str, PodInfo]:
    """Pod UID -> namespace and name from the kubelet's log folders ``<namespace>_<name>_<uid>`` (no API needed).

    Namespace and pod names cannot hold ``_`` (DNS-1123), so the split is unambiguous."""
    out: dict[str, PodInfo] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for d in entries:
        parts = d.name.split("_")
        if len(parts) == 3:
            ns, name, uid = parts
            out[uid.lower()] = PodInfo(ns, name, uid.lower())
    return out


def build_report(
    reading: NodeReading,
    *,
    node: str,
    sharing: Sharing,
    pods: dict[str, PodInfo] | None = None,
    allocations: list[Allocation] | None = None,
    proc: Path = Path("/proc"),
    pod_of: Callable[[int], PodRef | None] | None = None,
) -> dict[str, Any]:
    """Join one NVML reading with pods and allocations. Pure apart from reading ``/proc/<pid>/cgroup``."""
    pods = pods or {}
    allocations = allocations or []
    lookup = pod_of or (lambda pid: pod_of_pid(pid, proc))
    by_name = {(p.namespace, p.name): p for p in pods.values()}
    # (namespace, pod) -> containers holding GPUs, to name the container when the cgroup path alone cannot
    gpu_containers: dict[tuple[str, str], set[str]] = {}
    for a in allocations:
        gpu_containers.setdefault((a.namespace, a.pod), set()).add(a.container)
    seen_uuids = {g.uuid for g in reading.gpus}
    gpus: list[dict[str, Any]] = []
    for g in reading.gpus:
        replicas = sharing.replicas if sharing.strategy in ("time-slicing", "mps") else 1
        fair = g.memory_total_bytes // replicas
        procs: list[dict[str, Any]] = []
        for p in g.processes:
            ref = lookup(p.pid)
            row: dict[str, Any] = {
                "pid": p.pid,
                "command": p.command,
                "memoryBytes": p.used_memory_bytes,
                "smUtil": p.sm_util,
                "memUtil": p.mem_util,
                "mpsClient": p.mps_client,
                "mpsServer": p.command in MPS_SERVER_COMMANDS,
                "namespace": None,
                "pod": None,
                "container": None,
                "podUid": None,
                "qos": None,
            }
            if ref is not None:
                info = pods.get(ref.pod_uid)
                row["podUid"] = ref.pod_uid
                row["qos"] = (info.qos if info and info.qos else None) or ref.qos
                if info is not None:
                    row["namespace"], row["pod"] = info.namespace, info.name
                    cname = info.containers.get(ref.container_id or "")
                    if not cname:
                        holders = gpu_containers.get((info.namespace, info.name), set())
                        cname = next(iter(holders)) if len(holders) == 1 else None
                    row["container"] = cname
            procs.append(row)
        gpus.append(
            {
                "uuid": g.uuid,
                "index": g.index,
                "name": g.name,
                "memoryTotalBytes": g.memory_total_bytes,
                "memoryUsedBytes": g.memory_used_bytes,
                "utilization": g.utilization_gpu,
                "computeMode": g.compute_mode,
                "replicas": replicas,
                "fairShareBytes": fair,
                "mpsPinnedLimitBytes": fair if sharing.strategy == "mps" else None,
                "processes": procs,
                "pods": _pods_on_gpu(g.uuid, procs, allocations, fair, by_name),
            }
        )
    unmapped = [
        {"namespace": a.namespace, "pod": a.pod, "container": a.container, "deviceIds": list(a.device_ids)}
        for a in allocations
        if not any(gpu_of_device_id(d) in seen_uuids for d in a.device_ids)
    ]
    return {
        "kind": "GpusliceTopReport",
        "node": node,
        "time": reading.time,
        "intervalSeconds": reading.interval_s,
        "driverVersion": reading.driver_version,
        "sharing": {"strategy": sharing.strategy, "replicas": sharing.replicas, "resource": sharing.resource},
        "gpus": gpus,
        "unmapped": unmapped,
    }


def _pods_on_gpu(
    uuid: str,
    procs: list[dict[str, Any]],
    allocations: list[Allocation],
    fair: int,
    by_name: dict[tuple[str, str], PodInfo],
) -> list[dict[str, Any]]:
    """One row per container that holds a replica of this GPU or runs a process on it (host processes apart)."""
    rows: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def row(ns: str, pod: str, container: str | None) -> dict[str, Any]:
        key = (ns, pod, container)
        if key not in rows:
            rows[key] = {
                "namespace": ns,
                "pod": pod,
                "container": container,
                "replicas": 0,
                "deviceIds": [],
                "memoryBytes": 0,
                "smUtil": None,
                "processes": 0,
            }
        return rows[key]

    for a in allocations:
        ids = [d for d in a.device_ids if gpu_of_device_id(d) == uuid]
        if ids:
            r = row(a.namespace, a.pod, a.container)
            r["replicas"] += len(ids)
            r["deviceIds"].extend(ids)
    for p in procs:
        if p["pod"] is None or p["mpsServer"]:
            continue
        r = rows.get((p["namespace"], p["pod"], p["container"])) or row(p["namespace"], p["pod"], p["container"])
        r["processes"] += 1
        r["memoryBytes"] += p["memoryBytes"] or 0
        if p["smUtil"] is not None:
            r["smUtil"] = round((r["smUtil"] or 0) + p["smUtil"], 1)
    for r in rows.values():
        share = fair * max(r["replicas"], 1)
        r["shareOfFairShare"] = round(r["memoryBytes"] / share, 3) if share else None
    return sorted(rows.values(), key=lambda r: (r["namespace"], r["pod"], r["container"] or ""))


class Agent:
    """Samples every ``interval`` seconds in a thread and keeps the latest report for the HTTP endpoints."""

    def __init__(self, sample: Callable[[], dict[str, Any]], interval: float = 5.0) -> None:
        self._sample = sample
        self.interval = interval
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.sample_seconds = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def tick(self) -> dict[str, Any] | None:
        t0 = time.process_time()
        try:
            rep = self._sample()
            err = None
        except Exception as e:  # keep serving the last good report, and say why the new one failed
            rep, err = None, f"{type(e).__name__}: {e}"
        with self._lock:
            if rep is not None:
                self.report = rep
            self.error = err
            self.sample_seconds = time.process_time() - t0
        return rep

    def run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def latest(self) -> tuple[dict[str, Any] | None, str | None]:
        with self._lock:
            return self.report, self.error


def sampler_report(
    sampler: Sampler,
    *,
    node: str,
    sharing: Callable[[], Sharing],
    pods: Callable[[], dict[str, PodInfo]],
    allocations: Callable[[], list[Allocation]],
    proc: Path = Path("/proc"),
) -> Callable[[], dict[str, Any]]:
    """A zero-argument function taking one reading and joining it (what ``Agent`` calls)."""

    def sample() -> dict[str, Any]:
        reading = sampler.read()
        rep = build_report(reading, node=node, sharing=sharing(), pods=pods(), allocations=allocations(), proc=proc)
        from gpuslice.top.findings import report_findings

        rep["findings"] = [f.to_dict() for f in report_findings(rep)]
        return rep

    return sample


# -- HTTP: /metrics (Prometheus), /json (the report), /healthz ---------------------------------------------------


def serve(agent: Agent, host: str = "0.0.0.0", port: int = 9400) -> Any:
    """Start the HTTP server in a thread; returns it (``.shutdown()`` stops it, ``.server_port`` is the port)."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app

    from gpuslice.top.metrics import ReportCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(agent))
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/metrics"):
            return iter(metrics_app(environ, start_response))
        if path in ("/json", "/json/"):
            rep, err = agent.latest()
            if rep is None:
                body = json.dumps({"error": err or "no sample yet"}).encode()
                start_response("503 Service Unavailable", [("Content-Type", "application/json")])
                return iter([body])
            start_response("200 OK", [("Content-Type", "application/json")])
            return iter([json.dumps(rep).encode()])
        if path == "/healthz":
            rep, err = agent.latest()
            ok = rep is not None
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return iter([b"ok\n" if ok else f"{err or 'no sample yet'}\n".encode()])
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return iter([b"not found: try /metrics, /json or /healthz\n"])

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    from socketserver import ThreadingMixIn

    class _Threading(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = make_server(host, port, app, server_class=_Threading, handler_class=_Quiet)
    t = threading.Thread(target=server.serve_forever, name="gpuslice-top-http", daemon=True)
    t.start()
    return server
