"""A minimal kubelet stand-in for the device-plugin API (``k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1``).

It does what the kubelet's device manager does with a plugin, and records every answer:

1. serves the ``Registration`` service on ``<dir>/kubelet.sock``;
2. when a plugin registers, dials ``<dir>/<endpoint>``, asks ``GetDevicePluginOptions`` and opens
   ``ListAndWatch`` (each update: the advertised device IDs and their health);
3. on the first update of each registration, probes the plugin like the kubelet would for pods:
   ``GetPreferredAllocation`` for 1 and 2 devices, ``Allocate`` of one device, of one device of each of two
   replicas of the same GPU (expected to be refused when ``failRequestsGreaterThanOne`` is set), and of two
   different replicas in two containers (each must get the same physical GPU UUID).

Every event goes to a JSON-lines file (``--events``) as it happens, so a run that is cut short still says
what it saw. ``summarize`` turns such a file into one JSON document per registration.

The stubs in ``deviceplugin/`` are generated from the upstream ``api.proto`` (see ``deviceplugin/SOURCE``).

usage:
  python kubelet_standin.py serve --dir /var/lib/kubelet/device-plugins --events ev.jsonl [--duration S]
  python kubelet_standin.py summarize ev.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
from deviceplugin import api_pb2, api_pb2_grpc

API_VERSION = "v1beta1"  # pluginapi.Version
KUBELET_SOCKET = "kubelet.sock"
REPLICA_SEP = "::"  # the NVIDIA plugin's annotated IDs for replicas: <GPU UUID>::<replica index>


def physical_id(device_id: str) -> str:
    """The GPU a (possibly replicated) device ID stands for."""
    return device_id.split(REPLICA_SEP, 1)[0]


class EventLog:
    """Append-only JSON lines, flushed per event; thread-safe."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._fh = open(path, "a") if path else None  # noqa: SIM115 - lives as long as the stand-in

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        ev = {"t": round(time.time(), 3), "event": kind, **data}
        with self._lock:
            self.events.append(ev)
            if self._fh:
                self._fh.write(json.dumps(ev, sort_keys=True) + "\n")
                self._fh.flush()
        return ev

    def close(self) -> None:
        if self._fh:
            self._fh.close()


def _rpc_error(e: grpc.RpcError) -> dict[str, Any]:
    code = e.code() if hasattr(e, "code") else None
    return {"code": code.name if code else "UNKNOWN", "details": e.details() if hasattr(e, "details") else str(e)}


def _allocate_response(resp: Any) -> list[dict[str, Any]]:
    out = []
    for c in resp.container_responses:
        out.append(
            {
                "envs": dict(c.envs),
                "mounts": [
                    {"containerPath": m.container_path, "hostPath": m.host_path, "readOnly": m.read_only}
                    for m in c.mounts
                ],
                "devices": [
                    {"containerPath": d.container_path, "hostPath": d.host_path, "permissions": d.permissions}
                    for d in c.devices
                ],
                "annotations": dict(c.annotations),
                "cdiDevices": [d.name for d in c.cdi_devices],
            }
        )
    return out


class PluginClient:
    """One registration: the connection to a plugin, its ListAndWatch stream and the probes."""

    def __init__(self, log: EventLog, plugin_dir: Path, req: Any, seq: int, probe: bool) -> None:
        self.log = log
        self.seq = seq
        self.resource = req.resource_name
        self.endpoint = req.endpoint
        self.probe = probe
        self.socket = plugin_dir / req.endpoint
        self.channel: grpc.Channel | None = None
        self.stop = threading.Event()
        self.first_update = threading.Event()
        self.devices: list[dict[str, str]] = []

    def run(self) -> None:
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        stub = api_pb2_grpc.DevicePluginStub(self.channel)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=10)
            opts = stub.GetDevicePluginOptions(api_pb2.Empty(), timeout=10)
            self.log.emit(
                "options",
                seq=self.seq,
                resource=self.resource,
                preStartRequired=opts.pre_start_required,
                getPreferredAllocationAvailable=opts.get_preferred_allocation_available,
            )
            if self.probe:
                threading.Thread(target=self._probe_when_listed, args=(stub,), daemon=True).start()
            for upd in stub.ListAndWatch(api_pb2.Empty()):
                self.devices = [{"id": d.ID, "health": d.health} for d in upd.devices]
                self.log.emit(
                    "list-and-watch",
                    seq=self.seq,
                    resource=self.resource,
                    count=len(self.devices),
                    healthy=sum(1 for d in self.devices if d["health"] == "Healthy"),
                    physical=sorted({physical_id(d["id"]) for d in self.devices}),
                    devices=self.devices,
                )
                self.first_update.set()
                if self.stop.is_set():
                    break
            self.log.emit("stream-closed", seq=self.seq, resource=self.resource)
        except grpc.RpcError as e:
            if not self.stop.is_set():
                self.log.emit("stream-error", seq=self.seq, resource=self.resource, **_rpc_error(e))
        finally:
            self.first_update.set()

    def _probe_when_listed(self, stub: Any) -> None:
        if not self.first_update.wait(timeout=30) or not self.devices:
            self.log.emit("probe-skipped", seq=self.seq, resource=self.resource, why="no devices listed")
            return
        ids = [d["id"] for d in self.devices]
        by_gpu: dict[str, list[str]] = {}
        for i in ids:
            by_gpu.setdefault(physical_id(i), []).append(i)
        for size in (1, 2):
            self._call(
                stub,
                "preferred",
                f"size{size}",
                lambda size=size: stub.GetPreferredAllocation(
                    api_pb2.PreferredAllocationRequest(
                        container_requests=[
                            api_pb2.ContainerPreferredAllocationRequest(available_deviceIDs=ids, allocation_size=size)
                        ]
                    ),
                    timeout=10,
                ),
                lambda r: [list(c.deviceIDs) for c in r.container_responses],
            )
        self._allocate(stub, "one", [[ids[0]]])
        same_gpu = next((v for v in by_gpu.values() if len(v) >= 2), None)
        if same_gpu:
            # One container asking for two replicas (the pod requests nvidia.com/gpu: 2).
            self._allocate(stub, "two-in-one-container", [same_gpu[:2]])
            # Two containers, one replica each, of the same GPU.
            self._allocate(stub, "one-each-two-containers", [[same_gpu[0]], [same_gpu[1]]])
        elif len(ids) >= 2:
            self._allocate(stub, "two-in-one-container", [ids[:2]])
        self.log.emit("probe-done", seq=self.seq, resource=self.resource)

    def _allocate(self, stub: Any, name: str, containers: list[list[str]]) -> None:
        req = api_pb2.AllocateRequest(
            container_requests=[api_pb2.ContainerAllocateRequest(devices_ids=c) for c in containers]
        )
        self._call(stub, "allocate", name, lambda: stub.Allocate(req, timeout=10), _allocate_response, containers)

    def _call(self, stub: Any, kind: str, name: str, fn: Any, conv: Any, request: Any = None) -> None:
        try:
            resp = fn()
        except grpc.RpcError as e:
            self.log.emit(kind, seq=self.seq, resource=self.resource, name=name, request=request, error=_rpc_error(e))
            return
        self.log.emit(kind, seq=self.seq, resource=self.resource, name=name, request=request, response=conv(resp))

    def close(self) -> None:
        self.stop.set()
        if self.channel is not None:
            self.channel.close()


class Registration(api_pb2_grpc.RegistrationServicer):
    def __init__(self, log: EventLog, plugin_dir: Path, probe: bool) -> None:
        self.log = log
        self.plugin_dir = plugin_dir
        self.probe = probe
        self.clients: dict[str, PluginClient] = {}
        self.seq = 0
        self._lock = threading.Lock()

    def Register(self, request: Any, context: Any) -> Any:
        with self._lock:
            self.seq += 1
            seq = self.seq
            self.log.emit(
                "register",
                seq=seq,
                version=request.version,
                endpoint=request.endpoint,
                resource=request.resource_name,
                getPreferredAllocationAvailable=request.options.get_preferred_allocation_available,
            )
            if request.version != API_VERSION:
                # The kubelet refuses other API versions the same way.
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported API version {request.version}")
            old = self.clients.pop(request.resource_name, None)
            if old is not None:
                old.close()
            client = PluginClient(self.log, self.plugin_dir, request, seq, self.probe)
            self.clients[request.resource_name] = client
        # Like the kubelet, answer first and dial the plugin afterwards.
        threading.Thread(target=client.run, daemon=True).start()
        return api_pb2.Empty()

    def close(self) -> None:
        with self._lock:
            for c in self.clients.values():
                c.close()


def serve(plugin_dir: Path, events: Path | None, duration: float | None, probe: bool = True) -> EventLog:
    """Run the stand-in until SIGTERM/SIGINT or ``duration`` seconds; returns the event log."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    sock = plugin_dir / KUBELET_SOCKET
    if sock.exists() or sock.is_symlink():
        sock.unlink()
    log = EventLog(events)
    reg = Registration(log, plugin_dir, probe)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    api_pb2_grpc.add_RegistrationServicer_to_server(reg, server)
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    log.emit("kubelet-ready", socket=str(sock))
    done = threading.Event()

    def _stop(*_: Any) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    done.wait(timeout=duration)
    reg.close()
    server.stop(grace=1).wait()
    log.emit("kubelet-stopped")
    log.close()
    return log


class StandIn:
    """In-process use (tests): ``with StandIn(dir) as k: ...; k.log.events``."""

    def __init__(self, plugin_dir: Path, events: Path | None = None, probe: bool = True) -> None:
        self.plugin_dir = plugin_dir
        self.log = EventLog(events)
        self.reg = Registration(self.log, plugin_dir, probe)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))

    def __enter__(self) -> StandIn:
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        sock = self.plugin_dir / KUBELET_SOCKET
        if sock.exists():
            sock.unlink()
        api_pb2_grpc.add_RegistrationServicer_to_server(self.reg, self.server)
        self.server.add_insecure_port(f"unix://{sock}")
        self.server.start()
        self.log.emit("kubelet-ready", socket=str(sock))
        return self

    def wait_for(self, pred: Any, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(e) for e in list(self.log.events)):
                return True
            time.sleep(0.05)
        return False

    def __exit__(self, *exc: object) -> None:
        self.reg.close()
        self.server.stop(grace=1).wait()
        self.log.close()


# --------------------------------------------------------------------------------------------------------------


def load_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per registration: resource, devices, per-GPU replica count, probe answers."""
    regs: dict[int, dict[str, Any]] = {}
    for e in events:
        seq = e.get("seq")
        if seq is None:
            continue
        r = regs.setdefault(seq, {"seq": seq, "updates": [], "preferred": {}, "allocate": {}})
        kind = e["event"]
        if kind == "register":
            r.update(resource=e["resource"], endpoint=e["endpoint"], version=e["version"], registeredAt=e["t"])
        elif kind == "list-and-watch":
            r["updates"].append({"t": e["t"], "count": e["count"], "healthy": e["healthy"]})
            r["devices"] = e["devices"]
            r["count"] = e["count"]
            r["physical"] = e["physical"]
            per: dict[str, int] = {}
            for d in e["devices"]:
                per[physical_id(d["id"])] = per.get(physical_id(d["id"]), 0) + 1
            r["replicasPerGpu"] = per
        elif kind in ("preferred", "allocate"):
            r[kind][e["name"]] = {k: e[k] for k in ("request", "response", "error") if k in e}
        elif kind in ("stream-error", "probe-skipped"):
            r.setdefault("problems", []).append({k: v for k, v in e.items() if k not in ("seq", "t")})
    return [regs[k] for k in sorted(regs)]


def allocated_uuids(alloc: dict[str, Any]) -> list[str]:
    """The NVIDIA_VISIBLE_DEVICES value of each container of an Allocate answer."""
    return [c["envs"].get("NVIDIA_VISIBLE_DEVICES", "") for c in alloc.get("response") or []]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve kubelet.sock and probe each plugin that registers")
    s.add_argument("--dir", default="/var/lib/kubelet/device-plugins", help="device-plugin folder")
    s.add_argument("--events", required=True, help="JSON-lines event file (appended)")
    s.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: on SIGTERM)")
    s.add_argument("--no-probe", action="store_true", help="only register and watch")
    m = sub.add_parser("summarize", help="one JSON document per registration from an event file")
    m.add_argument("events")
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        serve(Path(a.dir), Path(a.events), a.duration, probe=not a.no_probe)
        return 0
    path = Path(a.events)
    if not path.is_file():
        print(f"kubelet_standin: {path}: no such event file", file=sys.stderr)
        return 2
    json.dump(summarize(load_events(path)), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
