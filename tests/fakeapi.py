"""A small Kubernetes API server on 127.0.0.1 for tests, started by the tests, with fault injection.

It serves the objects of a :class:`tests.k8sfixtures.Cluster` the way kube-apiserver does (list documents with
``kind``/``apiVersion``/``metadata``, paging with ``limit``/``continue``, field and label selectors, ``Status``
error bodies, JSON merge patch, create/replace/delete, pod logs) — enough for the official ``kubernetes`` client
pointed at it through a generated kubeconfig. Faults are injected per request: HTTP 503/500/429 (with
Retry-After), connection resets before or after the write took effect, and slow replies. Every request and every
write that took effect is recorded, so tests can prove bounded retries and that no write happened twice.

A tiny scheduler stands in for kube-scheduler + kubelet + device plugin for the smoke test: a pod pinned to a
node runs if the node's allocatable of the resource it asks for is not used up, else it stays Pending as
Unschedulable; a running pod's log carries the UUID of the GPU its share belongs to.
"""

from __future__ import annotations

import copy
import json
import random
import re
import socket
import struct
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests import k8sproto
from tests.k8sfixtures import Cluster

KINDS = {
    "nodes": ("Node", "v1"),
    "pods": ("Pod", "v1"),
    "events": ("Event", "v1"),
    "services": ("Service", "v1"),
    "replicationcontrollers": ("ReplicationController", "v1"),
    "configmaps": ("ConfigMap", "v1"),
    "secrets": ("Secret", "v1"),
    "namespaces": ("Namespace", "v1"),
    "daemonsets": ("DaemonSet", "apps/v1"),
    "deployments": ("Deployment", "apps/v1"),
    "replicasets": ("ReplicaSet", "apps/v1"),
    "clusterpolicies": ("ClusterPolicy", "nvidia.com/v1"),
}
_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)

_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/:]+):(?P<port>\d+)/proxy/(?P<rest>.*)$")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # an HTTP status ("503", "429", ...) | reset | reset-after | slow
    remaining: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    skip: int = 0  # matching requests to let through before the fault starts


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None


@dataclass
class FakeKube:
    cluster: Cluster = field(default_factory=Cluster)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    writes: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of writes that took effect
    #: GPU UUIDs per node for the smoke scheduler
    gpu_uuids: dict[str, list[str]] = field(default_factory=dict)
    #: smoke pods: how many log reads show only the first line (the UUID) before vectorAdd finishes, as a real
    #: container is Running and ready the moment it starts, long before its CUDA program is done
    cuda_reads: int = 0
    #: smoke pods: vectorAdd fails (the pod ends Failed once its slow start is over)
    cuda_fails: bool = False
    #: how many list requests that carry a ``continue`` token answer 410 Expired (etcd compacted meanwhile)
    expire_continue: int = 0
    #: DaemonSet name -> statuses to hand out on successive reads (a rollout in progress)
    rollout: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (namespace, pod, port) -> body served at /api/v1/namespaces/NS/pods/POD:PORT/proxy/<path> (the pod proxy);
    #: a string is served as it is, a dict as JSON; absent: 503 as when kube-apiserver cannot reach the pod
    proxies: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    #: smoke pods on an MPS share: what their MPS pipe probe reports ("writable", "denied", "absent"); None: the
    #: device plugin gave them no CUDA_MPS_PIPE_DIRECTORY (time-slicing), so they print nothing
    mps_control: str | None = None
    #: (namespace, name) of the device-plugin sharing ConfigMap: when set, the fake plays config-manager + GFD on
    #: every node (NVIDIA/k8s-device-plugin cmd/config-manager: a changed nvidia.com/device-plugin.config label
    #: makes the plugin reload with that key; a key the ConfigMap lacks makes config-manager exit)
    plugin_config: tuple[str, str] | None = None
    #: nodes whose GFD never reports a new config (a broken plugin there)
    gfd_stuck: set[str] = field(default_factory=set)
    #: node -> how many node reads still show the old GFD labels after a relabel (GFD takes its time)
    gfd_lag: dict[str, int] = field(default_factory=dict)
    #: (write index, node, key): moments a node selected a key the ConfigMap did not hold
    missing_key: list[tuple[int, str, str]] = field(default_factory=list)
    #: node names whose device plugin reloaded (config-manager SIGHUP), in order
    plugin_restarts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Fraction of API requests (beyond the planned faults) that get a random fault: 503, 500, 429, a reset
    #: before or after the write took effect (for the fault-injection figures, benchmarks/robustness_figures.py).
    chaos: float = 0.0
    chaos_seed: int = 0

    def __post_init__(self) -> None:
        self.store: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        c = self.cluster
        for n in c.nodes:
            self._put("nodes", "", n)
        for attr, plural in (
            ("pods", "pods"),
            ("events", "events"),
            ("daemonsets", "daemonsets"),
            ("deployments", "deployments"),
            ("services", "services"),
            ("configmaps", "configmaps"),
        ):
            for ns, items in getattr(c, attr).items():
                for obj in items:
                    self._put(plural, ns, obj)
        for cp in c.clusterpolicies or []:
            self._put("clusterpolicies", "", cp)
        for ns in {"default", "kube-system", c.namespace, *c.pods, *c.configmaps}:
            self._put("namespaces", "", {"metadata": {"name": ns}, "status": {"phase": "Active"}})
        self.pending_gfd: dict[str, dict[str, str]] = {}
        self.logs: dict[tuple[str, str], dict[str, list[str]]] = copy.deepcopy(c.logs)
        self.log_reads: dict[tuple[str, str], int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def __enter__(self) -> FakeKube:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, folder: Path, context: str = "fake") -> Path:
        p = folder / "kubeconfig"
        p.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                    "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester"}}],
                }
            ),
            encoding="utf-8",
        )
        return p

    def inject(
        self,
        method: str,
        path: str,
        kind: str,
        times: int = 1,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        skip: int = 0,
    ) -> None:
        self.faults.append(Fault(method.upper(), re.compile(path), kind, times, retry_after, delay, skip))

    # -- state ---------------------------------------------------------------------------------------------------
    rv: int = 48213377

    def next_rv(self) -> str:
        """A new resourceVersion, as every write on a real apiserver gets one."""
        self.rv += 1
        return str(self.rv)

    def _put(self, plural: str, ns: str, obj: dict[str, Any]) -> None:
        self.store.setdefault((plural, ns), {})[obj["metadata"]["name"]] = obj

    def get(self, plural: str, name: str, ns: str = "") -> dict[str, Any] | None:
        return self.store.get((plural, ns), {}).get(name)

    def items(self, plural: str, ns: str | None) -> list[dict[str, Any]]:
        if ns is not None:
            return list(self.store.get((plural, ns), {}).values())
        return [o for (p, _n), objs in sorted(self.store.items()) if p == plural for o in objs.values()]

    def count(self, method: str, pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(1 for r in self.requests if r.method == method and rx.search(r.path))

    def applied(self, method: str, pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(1 for m, p in self.writes if m == method and rx.search(p))

    # -- config-manager + GFD stand-in ----------------------------------------------------------------------------
    CONFIG_LABEL = "nvidia.com/device-plugin.config"

    def _config_data(self) -> dict[str, str] | None:
        if self.plugin_config is None:
            return None
        cm = self.get("configmaps", self.plugin_config[1], self.plugin_config[0])
        return dict(cm.get("data") or {}) if cm is not None else None

    def _check_selected(self) -> None:
        """After every write: record each node that selects a key the ConfigMap does not hold."""
        if self.plugin_config is None:
            return
        data = self._config_data() or {}
        for n in self.items("nodes", ""):
            key = (n["metadata"].get("labels") or {}).get(self.CONFIG_LABEL)
            if key and key not in data:
                self.missing_key.append((len(self.writes), n["metadata"]["name"], key))

    def _relabelled(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """A node's config label changed: its plugin reloads, and GFD relabels replicas/sharing-strategy."""
        import yaml

        if self.plugin_config is None:
            return
        old = (before["metadata"].get("labels") or {}).get(self.CONFIG_LABEL)
        new = (after["metadata"].get("labels") or {}).get(self.CONFIG_LABEL)
        name = after["metadata"]["name"]
        data = self._config_data() or {}
        if old == new or not new or new not in data:
            return
        self.plugin_restarts.append(name)
        if name in self.gfd_stuck:
            return
        cfg = yaml.safe_load(data[new]) or {}
        sharing = cfg.get("sharing") or {}
        strategy, replicas = "none", 1
        for block, label in (("mps", "mps"), ("timeSlicing", "time-slicing")):
            if block in sharing:
                strategy, replicas = label, int(sharing[block]["resources"][0]["replicas"])
                break
        self.pending_gfd[name] = {"nvidia.com/gpu.replicas": str(replicas), "nvidia.com/gpu.sharing-strategy": strategy}

    def _gfd_read(self, name: str) -> None:
        """A node read: GFD's relabel lands once its lag is over."""
        if name not in self.pending_gfd:
            return
        if self.gfd_lag.get(name, 0) > 0:
            self.gfd_lag[name] -= 1
            return
        node = self.get("nodes", name)
        if node is not None:
            node["metadata"].setdefault("labels", {}).update(self.pending_gfd.pop(name))

    # -- the fake scheduler --------------------------------------------------------------------------------------
    def _schedule(self, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        # Like kube-scheduler: nodeName, or every nodeSelector label must match the node's labels, and every
        # NoSchedule/NoExecute taint of the node must be tolerated.
        selector = spec.get("nodeSelector") or {}
        fits = [
            n
            for n in self.items("nodes", "")
            if (not spec.get("nodeName") or n["metadata"]["name"] == spec["nodeName"])
            and all((n["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            and _tolerated(n, spec.get("tolerations") or [])
        ]
        limits: dict[str, Any] = {}
        for c in spec.get("containers", []):
            limits.update((c.get("resources") or {}).get("limits") or {})
        gpu_res = next((r for r in limits if r.startswith("nvidia.com/")), None)
        n = fits[0] if len(fits) == 1 else None
        node = n["metadata"]["name"] if n else None
        status: dict[str, Any] = {"phase": "Pending", "qosClass": "BestEffort"}
        if n is None or gpu_res is None:
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
                }
            ]
            pod["status"] = status
            return
        alloc = int((n["status"].get("allocatable") or {}).get(gpu_res, "0"))
        used = 0
        for other in self.items("pods", None):
            if other is pod or other["spec"].get("nodeName") != node:
                continue
            if other.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for c in other["spec"].get("containers", []):
                used += int(((c.get("resources") or {}).get("limits") or {}).get(gpu_res, 0))
        want = int(limits[gpu_res])
        if used + want > alloc:
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-11-20T11:00:00Z",
                    "message": f"0/3 nodes are available: 1 Insufficient {gpu_res}, 2 node(s) didn't match Pod's node "
                    "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found "
                    "for incoming pod, 2 Preemption is not helpful for scheduling.",
                }
            ]
            pod["status"] = status
            return
        spec["nodeName"] = node
        replicas = int(n["metadata"].get("labels", {}).get("nvidia.com/gpu.replicas", "1") or 1)
        uuids = self.gpu_uuids.setdefault(
            node, [f"GPU-{uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f'{node}/{i}')}" for i in range(8)]
        )
        slot = used // max(1, replicas)
        gpu = uuids[min(slot, len(uuids) - 1)]
        cname = spec["containers"][0]["name"]
        image = spec["containers"][0]["image"]
        pod["status"] = {
            "phase": "Running",
            "hostIP": "10.0.1.17",
            "podIP": "10.0.9.9",
            "startTime": "2026-11-20T11:00:01Z",
            "qosClass": "BestEffort",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-20T11:00:05Z"}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": cname,
                    "state": {"running": {"startedAt": "2026-11-20T11:00:04Z"}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": image,
                    "imageID": image,
                    "containerID": "containerd://" + "f" * 64,
                    "started": True,
                }
            ],
        }
        self.logs[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = {
            cname: [
                f"GPUSLICE_GPU_UUID={gpu}",
                *([f"GPUSLICE_MPS=uid=1000 control={self.mps_control}"] if self.mps_control else []),
                "[Vector addition of 50000 elements]",
                "Copy input data from the host memory to the CUDA device",
                "CUDA kernel launch with 196 blocks of 256 threads",
                "Copy output data from the CUDA device to the host memory",
                "Test PASSED",
                "Done",
                "GPUSLICE_READY",
            ]
        }


_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _resource_list(group_version: str) -> dict[str, Any]:
    resources = []
    for plural, (kind, api) in KINDS.items():
        if api == group_version:
            cluster_scoped = plural in ("nodes", "clusterpolicies", "namespaces")
            resources.append(
                {
                    "name": plural,
                    "singularName": kind.lower(),
                    "namespaced": not cluster_scoped,
                    "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version or "v1",
        "resources": resources,
    }


def _group_list() -> dict[str, Any]:
    groups = sorted({api for _k, api in KINDS.values() if "/" in api})
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g.split("/")[0],
                "versions": [{"groupVersion": g, "version": g.split("/")[1]}],
                "preferredVersion": {"groupVersion": g, "version": g.split("/")[1]},
            }
            for g in groups
        ],
    }


def _openapi_v3(group_version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 index, or one group-version's document with a permissive schema per kind (every kind the
    fake serves accepts any fields; the fake validates nothing more than the real server's kind lookup)."""
    gvs = sorted({api for _k, api in KINDS.values()})
    if not group_version:
        return {
            "paths": {
                ("api/v1" if gv == "v1" else f"apis/{gv}"): {
                    "serverRelativeURL": f"/openapi/v3/{'api/v1' if gv == 'v1' else 'apis/' + gv}?hash=fake"
                }
                for gv in gvs
            }
        }
    gv = "v1" if group_version == "api/v1" else group_version.removeprefix("apis/")
    if gv not in gvs:
        return None
    group, _, version = gv.rpartition("/")
    schemas = {
        f"fake.{gv}.{kind}": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": kind}],
        }
        for kind, api in KINDS.values()
        if api == gv
    }
    # Each kind's PATCH takes ``fieldValidation`` (as kube-apiserver >= 1.27 does): clients then leave validation
    # to the server instead of fetching the whole OpenAPI v2 schema.
    prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
    paths = {
        f"{prefix}/{plural}/{{name}}": {
            "patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            }
        }
        for plural, (kind, api) in KINDS.items()
        if api == gv
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "fake", "version": "v1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


_DISCOVERY: dict[str, Any] = {
    "/api": lambda: {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/api/v1": lambda: _resource_list("v1"),
    "/apis": _group_list,
    **{f"/apis/{api}": (lambda a=api: _resource_list(a)) for _k, api in KINDS.values() if "/" in api},
}


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        s["details"] = details
    return s


def _tolerated(node: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    """Every NoSchedule/NoExecute taint of the node is tolerated (the scheduler's TaintToleration filter)."""
    for taint in (node.get("spec") or {}).get("taints") or ():
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(
            (not t.get("effect") or t["effect"] == taint["effect"])
            and (
                (t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]))
                or (
                    t.get("operator", "Equal") == "Equal"
                    and t.get("key") == taint["key"]
                    and (t.get("value") or "") == (taint.get("value") or "")
                )
            )
            for t in tolerations
        ):
            return False
    return True


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _selects(obj: dict[str, Any], field_sel: str | None, label_sel: str | None) -> bool:
    for part in (field_sel or "").split(","):
        if not part:
            continue
        key, _, want = part.partition("=")
        cur: Any = obj
        for step in key.split("."):
            cur = cur.get(step) if isinstance(cur, dict) else None
        if (cur or "") != want:
            return False
    labels = obj.get("metadata", {}).get("labels") or {}
    for part in (label_sel or "").split(","):
        if not part:
            continue
        key, _, want = part.partition("=")
        if labels.get(key) != want:
            return False
    return True


def _handler(api: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # header and body go out in separate writes; no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _fault(self, method: str, path: str) -> Fault | None:
            with api.lock:
                for f in api.faults:
                    if f.remaining > 0 and f.method in (method, "*") and f.path.search(path):
                        if f.skip > 0:
                            f.skip -= 1
                            continue
                        f.remaining -= 1
                        return f
                if api.chaos > 0 and _PATH.match(path):  # resources only: discovery and /version stay clean
                    rng = api.__dict__.setdefault("_chaos_rng", random.Random(api.chaos_seed))
                    if rng.random() < api.chaos:
                        kind = rng.choice(["503", "500", "429", "reset", "reset-after"])
                        return Fault(method, re.compile(""), kind, 0, retry_after=0 if kind == "429" else None)
            return None

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw.startswith(k8sproto.MAGIC):  # client-go sends built-in kinds as protobuf (helm's Secrets)
                body = k8sproto.decode(raw)
                if method == "DELETE":
                    body = None  # DeleteOptions: nothing the fake honours
            else:
                body = json.loads(raw) if raw else None
            api.requests.append(Request(method, url.path, query, body))
            fault = self._fault(method, url.path)
            if fault is not None:
                if fault.kind == "reset":
                    return self._reset()
                if fault.kind == "slow":
                    time.sleep(fault.delay)
                elif fault.kind.isdigit():
                    code = int(fault.kind)
                    reason, msg = {
                        503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
                        500: ("InternalError", "Internal error occurred: etcdserver: request timed out"),
                        504: ("Timeout", "the server was unable to return a response in the time allotted"),
                        429: (
                            "TooManyRequests",
                            "the server has received too many requests and has asked us to try again later",
                        ),
                        403: (
                            "Forbidden",
                            'nodes is forbidden: User "tester" cannot list resource "nodes" in API '
                            'group "" at the cluster scope',
                        ),
                    }.get(code, ("Unknown", f"HTTP {code}"))
                    headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
                    return self._send(code, _status(code, reason, msg), headers)
            with api.lock:
                code, out, headers = self._route(method, url.path, query, body, self.headers.get("Content-Type"))
            if fault is not None and fault.kind == "reset-after":
                return self._reset()
            self._send(code, out, headers)

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str | None = None
        ) -> tuple[int, Any, dict[str, str]]:
            if path == "/version":
                return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.5-eks-fake"}, {}
            if path in _DISCOVERY:  # what helm's REST mapper asks before it builds objects from a manifest
                return 200, _DISCOVERY[path](), {}
            if path.startswith("/openapi/v3"):  # helm validates manifests against the served schema
                doc = _openapi_v3(path.removeprefix("/openapi/v3").strip("/"))
                if doc is not None:
                    return 200, doc, {}
            px = _PROXY.match(unquote(path))
            if px and method == "GET":
                key = (px["ns"], px["pod"], int(px["port"]))
                if key not in api.proxies:
                    msg = f"error trying to reach service: dial tcp 10.0.0.1:{px['port']}: connect: connection refused"
                    return 503, _status(503, "ServiceUnavailable", msg), {}
                return 200, api.proxies[key], {}
            m = _PATH.match(path)
            if not m:
                return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})"), {}
            plural, ns, name, sub = m["plural"], m["ns"], m["name"], m["sub"]
            if plural not in KINDS:
                return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
            if plural == "clusterpolicies" and api.cluster.clusterpolicies is None:
                # No ClusterPolicy CRD installed: kube-apiserver does not serve the resource at all.
                return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
            scope = ns or ""
            kind, apiver = KINDS[plural]
            q = {k: v[0] for k, v in query.items()}
            if method == "GET" and name is None:
                cluster_scoped = plural in ("nodes", "clusterpolicies", "namespaces")
                items = api.items(plural, "" if cluster_scoped else ns)  # ns None: all namespaces
                items = [o for o in items if _selects(o, q.get("fieldSelector"), q.get("labelSelector"))]
                if q.get("continue") and api.expire_continue > 0:
                    api.expire_continue -= 1
                    return (
                        410,
                        _status(
                            410,
                            "Expired",
                            "The provided continue parameter is too old to display a "
                            "consistent list result. You can start a new list without the continue "
                            "parameter.",
                        ),
                        {},
                    )
                start = int(q.get("continue") or 0)
                limit = int(q.get("limit") or 0) or len(items) or 1
                page = items[start : start + limit]
                meta: dict[str, Any] = {"resourceVersion": str(api.rv)}
                if start + limit < len(items):
                    meta["continue"] = str(start + limit)
                for o in page:
                    if plural in ("daemonsets",) and o["metadata"]["name"] in api.rollout:
                        seq = api.rollout[o["metadata"]["name"]]
                        if seq:
                            o["status"] = seq.pop(0) if len(seq) > 1 else seq[0]
                doc = {"kind": f"{kind}List", "apiVersion": apiver, "metadata": meta, "items": page}
                return 200, json.loads(json.dumps(doc)), {}
            if method == "GET" and sub == "log":
                if api.get("pods", name, scope) is None:
                    return 404, _status(404, "NotFound", f'pods "{name}" not found'), {}
                lines = api.logs.get((scope, name), {}).get(q.get("container", ""), [])
                if lines and lines[-1] == "GPUSLICE_READY":  # a smoke pod: the CUDA part takes its time
                    seen = api.log_reads[(scope, name)] = api.log_reads.get((scope, name), 0) + 1
                    if seen <= api.cuda_reads:
                        lines = lines[:1]
                    elif api.cuda_fails:
                        lines = [
                            lines[0],
                            "Failed to allocate device vector A (error code CUDA driver version is "
                            "insufficient for CUDA runtime version)!",
                        ]
                        pod = api.get("pods", name, scope)
                        if pod is not None:
                            pod["status"]["phase"] = "Failed"
                tail = int(q.get("tailLines") or 0)
                if tail:
                    lines = lines[-tail:]
                return 200, "".join(line + "\n" for line in lines), {}
            if method == "GET":
                if plural == "nodes":
                    api._gfd_read(name)
                obj = api.get(plural, name, scope)
                if obj is None:
                    return (
                        404,
                        _status(404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural}),
                        {},
                    )
                return 200, obj, {}
            if method == "POST":
                meta = body.setdefault("metadata", {})
                new_name = meta.get("name")
                if plural != "namespaces" and ns is not None and api.get("namespaces", ns) is None:
                    return 404, _status(404, "NotFound", f'namespaces "{ns}" not found'), {}
                if api.get(plural, new_name, scope) is not None:
                    return (
                        409,
                        _status(
                            409,
                            "AlreadyExists",
                            f'{plural} "{new_name}" already exists',
                            {"name": new_name, "kind": plural},
                        ),
                        {},
                    )
                meta.update(
                    {
                        "uid": str(uuidlib.uuid4()),
                        "resourceVersion": api.next_rv(),
                        "creationTimestamp": "2026-11-20T11:00:00Z",
                    }
                )
                if ns:
                    meta["namespace"] = ns
                if plural == "pods":
                    api._schedule(body)
                api._put(plural, scope, body)
                api.writes.append((method, path))
                api._check_selected()
                return 201, body, {}
            if method == "PATCH":
                ctype = (content_type or "").split(";")[0].strip()
                if ctype not in _PATCH_TYPES:
                    # kube-apiserver answers 415 for a patch body of any other type (plain JSON included).
                    return (
                        415,
                        _status(
                            415,
                            "UnsupportedMediaType",
                            f"the body of the request was in an unknown "
                            f"format - accepted media types include: {', '.join(_PATCH_TYPES)}",
                        ),
                        {},
                    )
                if ctype == "application/json-patch+json" or not isinstance(body, dict):
                    return 400, _status(400, "BadRequest", "the fake API applies merge patches only"), {}
                if ctype == "application/strategic-merge-patch+json" and plural == "clusterpolicies":
                    return (
                        415,
                        _status(
                            415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
                        ),
                        {},
                    )
                obj = api.get(plural, name, scope)
                if obj is None and ctype == "application/apply-patch+yaml":
                    # Server-side apply creates what is not there yet (helm 4 installs this way).
                    obj = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": {"name": name}}
                    obj["metadata"].update({"uid": str(uuidlib.uuid4()), "creationTimestamp": "2026-11-20T11:00:00Z"})
                    if ns:
                        obj["metadata"]["namespace"] = ns
                if obj is None:
                    return 404, _status(404, "NotFound", f'{plural} "{name}" not found'), {}
                merged = _merge_patch(obj, body)
                merged["metadata"]["resourceVersion"] = api.next_rv()
                api._put(plural, scope, merged)
                api.writes.append((method, path))
                if plural == "nodes":
                    api._relabelled(obj, merged)
                api._check_selected()
                return 200, merged, {}
            if method == "PUT":
                cur = api.get(plural, name, scope)
                if cur is None:
                    return 404, _status(404, "NotFound", f'{plural} "{name}" not found'), {}
                sent_rv = (body.get("metadata") or {}).get("resourceVersion")
                if sent_rv and sent_rv != cur["metadata"].get("resourceVersion"):
                    # Optimistic concurrency: an update based on an older read is refused.
                    return (
                        409,
                        _status(
                            409,
                            "Conflict",
                            f'Operation cannot be fulfilled on {plural} "{name}": the '
                            "object has been modified; please apply your changes to the latest version "
                            "and try again",
                            {"name": name, "kind": plural},
                        ),
                        {},
                    )
                body.setdefault("metadata", {}).update(
                    {k: cur["metadata"][k] for k in ("uid", "creationTimestamp", "namespace") if k in cur["metadata"]}
                )
                body["metadata"]["resourceVersion"] = api.next_rv()
                api._put(plural, scope, body)
                api.writes.append((method, path))
                api._check_selected()
                return 200, body, {}
            if method == "DELETE":
                obj = api.store.get((plural, scope), {}).pop(name, None)
                if obj is None:
                    return 404, _status(404, "NotFound", f'{plural} "{name}" not found'), {}
                api.writes.append((method, path))
                api._check_selected()
                return 200, obj, {}
            return 405, _status(405, "MethodNotAllowed", method), {}

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler
