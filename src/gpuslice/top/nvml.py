"""Per-process GPU readings from NVML (``nvidia-ml-py``): who holds memory on each GPU and who keeps its SMs busy.

Read-only. Per GPU: ``nvmlDeviceGetComputeRunningProcesses`` (pid and used memory), under MPS also
``nvmlDeviceGetMPSComputeRunningProcesses`` (the clients of an MPS server, as NVML reports them), and
``nvmlDeviceGetProcessUtilization`` (SM and memory-controller utilisation samples per pid since a timestamp).

A reading is plain data (``NodeReading.to_dict``), so a reading taken on a GPU can be saved and replayed where there is
none (``ReplaySampler``): the tests replay readings captured on an H200.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gpuslice.errors import GpusliceError

_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}


@dataclass
class ProcessReading:
    pid: int
    used_memory_bytes: int | None  # None: NVML cannot say (e.g. no permission, some MPS setups)
    sm_util: float | None = None  # mean SM utilisation (percent) over the interval's samples; None: no sample
    mem_util: float | None = None
    mps_client: bool = False  # listed by nvmlDeviceGetMPSComputeRunningProcesses
    command: str = ""


@dataclass
class GpuReading:
    index: int
    uuid: str
    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_gpu: int | None  # percent, device-wide
    compute_mode: str
    processes: list[ProcessReading] = field(default_factory=list)


@dataclass
class NodeReading:
    time: float  # epoch seconds when the reading ended
    interval_s: float  # the utilisation window the samples cover
    driver_version: str
    gpus: list[GpuReading] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeReading:
        gpus = [
            GpuReading(**{**g, "processes": [ProcessReading(**p) for p in g.get("processes", [])]})
            for g in d.get("gpus", [])
        ]
        return cls(time=d["time"], interval_s=d["interval_s"], driver_version=d.get("driver_version", ""), gpus=gpus)


class Sampler(Protocol):
    def read(self) -> NodeReading: ...


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _comm(proc: Path, pid: int) -> str:
    try:
        return (proc / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


class NvmlSampler:
    """Reads every GPU of this host. The first ``read`` covers the last ``interval`` seconds of utilisation
    samples; each later one covers the time since the previous read."""

    def __init__(self, interval: float = 5.0, proc: Path = Path("/proc")) -> None:
        try:
            import pynvml
        except ImportError:
            raise GpusliceError(
                "NVML bindings missing: install gpuslice's `top` extra (pip install 'gpuslice[top]')"
            ) from None
        try:
            pynvml.nvmlInit()
        except Exception as e:
            raise GpusliceError(
                f"NVML could not start ({e}): no NVIDIA driver on this host, or not visible here"
            ) from e
        self.nv = pynvml
        self.proc = proc
        self.interval = interval
        self._last_us: dict[int, int] = {}
        self._last_read = time.time() - interval

    def read(self) -> NodeReading:
        nv = self.nv
        now = time.time()
        window = max(now - self._last_read, 1e-3)
        gpus = [self._gpu(i) for i in range(nv.nvmlDeviceGetCount())]
        self._last_read = now
        return NodeReading(
            time=now, interval_s=round(window, 3), driver_version=_s(nv.nvmlSystemGetDriverVersion()), gpus=gpus
        )

    def _gpu(self, index: int) -> GpuReading:
        nv = self.nv
        h = nv.nvmlDeviceGetHandleByIndex(index)
        mem = nv.nvmlDeviceGetMemoryInfo(h)
        try:
            util: int | None = int(nv.nvmlDeviceGetUtilizationRates(h).gpu)
        except nv.NVMLError:
            util = None
        try:
            mode = _COMPUTE_MODES.get(nv.nvmlDeviceGetComputeMode(h), "unknown")
        except nv.NVMLError:
            mode = "unknown"
        procs: dict[int, ProcessReading] = {}
        for p in _call(nv, nv.nvmlDeviceGetComputeRunningProcesses, h):
            procs[p.pid] = ProcessReading(p.pid, _mem(p.usedGpuMemory))
        for p in _call(nv, getattr(nv, "nvmlDeviceGetMPSComputeRunningProcesses", None), h):
            known = procs.get(p.pid)
            if known is None:
                procs[p.pid] = ProcessReading(p.pid, _mem(p.usedGpuMemory), mps_client=True)
            else:
                known.mps_client = True
                if known.used_memory_bytes is None:
                    known.used_memory_bytes = _mem(p.usedGpuMemory)
        last = self._last_us.get(index, int((time.time() - self.interval) * 1e6))
        samples: dict[int, list[tuple[int, int]]] = {}
        newest = last
        for s in _call(nv, nv.nvmlDeviceGetProcessUtilization, h, last):
            samples.setdefault(s.pid, []).append((int(s.smUtil), int(s.memUtil)))
            newest = max(newest, int(s.timeStamp))
        self._last_us[index] = newest
        for pid, ss in samples.items():
            r = procs.get(pid)
            if r is None:  # sampled but already gone (or not a compute process): keep its share visible
                r = procs[pid] = ProcessReading(pid, None)
            r.sm_util = round(sum(a for a, _ in ss) / len(ss), 1)
            r.mem_util = round(sum(b for _, b in ss) / len(ss), 1)
        for r in procs.values():
            r.command = _comm(self.proc, r.pid)
        return GpuReading(
            index=index,
            uuid=_s(nv.nvmlDeviceGetUUID(h)),
            name=_s(nv.nvmlDeviceGetName(h)),
            memory_total_bytes=int(mem.total),
            memory_used_bytes=int(mem.used),
            utilization_gpu=util,
            compute_mode=mode,
            processes=sorted(procs.values(), key=lambda r: r.pid),
        )


def _mem(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and v >= 0 else None


def _call(nv: Any, fn: Any, *args: Any) -> list[Any]:
    """NVML list calls: NOT_FOUND (no samples, no processes) and NOT_SUPPORTED mean an empty list."""
    if fn is None:
        return []
    try:
        return list(fn(*args) or [])
    except nv.NVMLError:
        return []


class ReplaySampler:
    """Readings saved earlier (a JSON list of ``NodeReading.to_dict()``, or one of them), returned in turn."""

    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GpusliceError(f"{path}: cannot read NVML readings: {e}") from None
        items = data if isinstance(data, list) else [data]
        try:
            self.readings = [NodeReading.from_dict(d) for d in items]
        except (KeyError, TypeError) as e:
            raise GpusliceError(f"{path}: not a gpuslice NVML reading ({e})") from None
        if not self.readings:
            raise GpusliceError(f"{path}: no readings in it")
        self._i = 0

    def read(self) -> NodeReading:
        r = self.readings[min(self._i, len(self.readings) - 1)]
        self._i += 1
        return r
