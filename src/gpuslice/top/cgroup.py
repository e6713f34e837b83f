"""Which Kubernetes pod and container a host process belongs to, from its ``/proc/<pid>/cgroup``.

The kubelet puts every container in a cgroup under ``kubepods``; the path names the pod UID and the container id.
The shapes differ by cgroup version, by the kubelet's cgroup driver and by the container runtime:

- cgroup v2, systemd driver (EKS AL2023, Ubuntu 22.04+ with containerd 1.7/2.x)::

      0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1e_9c2b.slice/cri-containerd-<64 hex>.scope

  (the pod UID's dashes become underscores in systemd unit names; Guaranteed pods have no QoS level:
  ``kubepods.slice/kubepods-pod<uid>.slice``; CRI-O uses ``crio-<id>.scope``, Docker ``docker-<id>.scope``)
- cgroupfs driver, v1 (AL2, older clusters), one line per controller::

      11:memory:/kubepods/besteffort/pod3f1e-9c2b-.../<64 hex>

- cgroupfs driver, v2: ``0::/kubepods/burstable/pod<uid>/<64 hex>``

Sources: kubernetes pkg/kubelet/cm/cgroup_manager_linux.go (``ConvertCgroupNameToSystemd``, the ``kubepods`` /
``burstable`` / ``besteffort`` names in qos_container_manager_linux.go), containerd's and CRI-O's systemd scope
prefixes (``cri-containerd-``, ``crio-``). A process in a nested cgroup namespace may see a path relative to its own
root (``0::/../../kubepods.slice/...``); only the ``kubepods`` part is read, so that shape parses too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UID = r"[0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12}"
_CID = r"[0-9a-f]{64}"
# systemd driver: kubepods[-<qos>]-pod<uid>.slice / <runtime>-<id>.scope
_SYSTEMD = re.compile(
    rf"kubepods(?:-(?P<qos>burstable|besteffort))?-pod(?P<uid>{_UID})\.slice"
    rf"(?:/(?P<rt>cri-containerd|crio|docker|containerd)-(?P<cid>{_CID})\.scope)?"
)
# cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>
_CGROUPFS = re.compile(rf"/kubepods(?:/(?P<qos>burstable|besteffort))?/pod(?P<uid>{_UID})(?:/(?P<cid>{_CID}))?")

_RUNTIME = {"cri-containerd": "containerd", "containerd": "containerd", "crio": "cri-o", "docker": "docker"}


@dataclass(frozen=True)
class PodRef:
    """The pod (and, where the path names it, the container) a process runs in."""

    pod_uid: str  # with dashes, as in the Pod's metadata.uid
    qos: str  # Guaranteed | Burstable | BestEffort
    container_id: str | None = None  # 64 hex characters, without the runtime prefix
    runtime: str | None = None  # containerd | cri-o | docker, when the path says


def parse_cgroup(text: str) -> PodRef | None:
    """The pod a ``/proc/<pid>/cgroup`` file places its process in, or None for a process outside Kubernetes."""
    best: PodRef | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2]
        if "kubepods" not in path:
            continue
        ref = _match(path)
        if ref is None:
            continue
        if ref.container_id:
            return ref  # the most specific answer any line gives
        best = best or ref
    return best


def _match(path: str) -> PodRef | None:
    m = _SYSTEMD.search(path)
    if m:
        rt = m.group("rt")
        return PodRef(
            pod_uid=m.group("uid").replace("_", "-").lower(),
            qos=_qos(m.group("qos")),
            container_id=m.group("cid"),
            runtime=_RUNTIME.get(rt) if rt else None,
        )
    m = _CGROUPFS.search(path)
    if m:
        return PodRef(
            pod_uid=m.group("uid").replace("_", "-").lower(),
            qos=_qos(m.group("qos")),
            container_id=m.group("cid"),
        )
    return None


def _qos(level: str | None) -> str:
    return {"burstable": "Burstable", "besteffort": "BestEffort"}.get(level or "", "Guaranteed")


def pod_of_pid(pid: int, proc: Path = Path("/proc")) -> PodRef | None:
    """Read ``<proc>/<pid>/cgroup``; None when the process is gone, unreadable or not in a pod."""
    try:
        text = (proc / str(pid) / "cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return parse_cgroup(text)


def strip_runtime_prefix(container_id: str) -> str:
    """``containerd://<id>`` (a Pod's status.containerStatuses[].containerID) -> ``<id>``."""
    return container_id.split("://", 1)[-1]
