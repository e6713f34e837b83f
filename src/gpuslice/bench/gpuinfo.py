"""Read-only GPU facts and telemetry through NVML (``nvidia-ml-py``), with ``nvidia-smi`` as a fallback.

Nothing here changes a GPU setting: only queries (model, memory, driver, compute mode, MIG mode, clocks,
power, temperature, throttle reasons).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from typing import Any


def _nvml() -> Any | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # library missing or no driver: callers fall back
        return None


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}


def gpu_facts(index: int = 0) -> dict[str, Any]:
    """What the benchmark records about the GPU it ran on. ``{"available": False, ...}`` without a GPU."""
    nv = _nvml()
    if nv is not None:
        try:
            return _facts_nvml(nv, index)
        except Exception as e:
            facts = _facts_smi(index)
            facts.setdefault("notes", []).append(f"NVML query failed ({type(e).__name__}: {e}); used nvidia-smi")
            return facts
    return _facts_smi(index)


def _facts_nvml(nv: Any, index: int) -> dict[str, Any]:
    h = nv.nvmlDeviceGetHandleByIndex(index)
    mem = nv.nvmlDeviceGetMemoryInfo(h)
    facts: dict[str, Any] = {
        "available": True,
        "source": "nvml",
        "index": index,
        "name": _s(nv.nvmlDeviceGetName(h)),
        "uuid": _s(nv.nvmlDeviceGetUUID(h)),
        "memoryMiB": int(mem.total // (1 << 20)),
        "driverVersion": _s(nv.nvmlSystemGetDriverVersion()),
    }
    try:
        v = nv.nvmlSystemGetCudaDriverVersion()
        facts["cudaDriverVersion"] = f"{v // 1000}.{(v % 1000) // 10}"
    except Exception:
        pass
    try:
        facts["computeMode"] = _COMPUTE_MODES.get(nv.nvmlDeviceGetComputeMode(h), "unknown")
    except Exception:
        facts["computeMode"] = "unknown"
    try:
        cur, pending = nv.nvmlDeviceGetMigMode(h)
        facts["migSupported"] = True
        facts["migMode"] = "Enabled" if cur else "Disabled"
        facts["migModePending"] = "Enabled" if pending else "Disabled"
    except Exception:
        facts["migSupported"] = False
        facts["migMode"] = "N/A"
    for key, fn in (
        ("maxSmClockMHz", lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM)),
        ("powerLimitW", lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0),
        ("persistenceMode", lambda: "Enabled" if nv.nvmlDeviceGetPersistenceMode(h) else "Disabled"),
    ):
        with contextlib.suppress(Exception):
            facts[key] = fn()
    return facts


def _facts_smi(index: int) -> dict[str, Any]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return {
            "available": False,
            "source": "none",
            "index": index,
            "name": "unknown",
            "notes": ["no NVML library and no nvidia-smi: no GPU facts"],
        }
    fields = "name,uuid,memory.total,driver_version,compute_mode,mig.mode.current,clocks.max.sm,power.limit"
    try:
        out = subprocess.run(
            [smi, f"--id={index}", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=20,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as e:
        return {
            "available": False,
            "source": "nvidia-smi",
            "index": index,
            "name": "unknown",
            "notes": [f"nvidia-smi failed: {e}"],
        }
    parts = [p.strip() for p in out.split(",")]
    name, uuid, mem, drv, mode, mig, clk, power = (parts + [""] * 8)[:8]

    def num(x: str) -> float | None:
        try:
            return float(x)
        except ValueError:
            return None

    return {
        "available": True,
        "source": "nvidia-smi",
        "index": index,
        "name": name,
        "uuid": uuid,
        "memoryMiB": int(num(mem) or 0),
        "driverVersion": drv,
        "computeMode": mode,
        "migSupported": mig not in ("[N/A]", "N/A", ""),
        "migMode": mig if mig not in ("[N/A]", "") else "N/A",
        "maxSmClockMHz": num(clk),
        "powerLimitW": num(power),
    }


def timeslice_policy() -> str | None:
    """``nvidia-smi compute-policy -l`` output (read-only), or None where the command is unsupported."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        p = subprocess.run(
            [smi, "compute-policy", "-l"],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=20,
            check=False,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    text = (p.stdout or "").strip()
    return text if p.returncode == 0 and text else None


class Telemetry:
    """Samples SM clock, power, temperature and throttle reasons in a background thread during a window."""

    def __init__(self, index: int = 0, period_s: float = 0.1) -> None:
        self.index = index
        self.period_s = period_s
        self._nv = _nvml()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: list[tuple[float, float, float, int]] = []

    @property
    def available(self) -> bool:
        return self._nv is not None

    def start(self) -> None:
        if self._nv is None:
            return
        self._samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        nv = self._nv
        assert nv is not None
        try:
            h = nv.nvmlDeviceGetHandleByIndex(self.index)
        except Exception:
            return
        while not self._stop.is_set():
            try:
                clk = float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
                pw = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
                tc = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except Exception:
                self._stop.wait(self.period_s)
                continue
            thr = 0
            for fn in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
                if hasattr(nv, fn):
                    try:
                        thr = int(getattr(nv, fn)(h))
                        break
                    except Exception:
                        continue
            self._samples.append((clk, pw, tc, thr))
            self._stop.wait(self.period_s)

    def stop(self) -> dict[str, Any] | None:
        if self._thread is None:
            return None
        self._stop.set()
        self._thread.join(timeout=2)
        self._thread = None
        s = self._samples
        if not s:
            return None
        clks = [x[0] for x in s]
        pws = [x[1] for x in s]
        reasons = 0
        for x in s:
            reasons |= x[3]
        return {
            "samples": len(s),
            "smClockMHzMean": sum(clks) / len(clks),
            "smClockMHzMin": min(clks),
            "powerWMean": sum(pws) / len(pws),
            "powerWMax": max(pws),
            "tempCMax": max(x[2] for x in s),
            "throttleReasons": throttle_names(reasons, self._nv),
        }


def throttle_names(mask: int, nv: Any) -> list[str]:
    """Names of the throttle-reason bits that matter for throughput (idle/app-clock bits are left out)."""
    names = {
        "SW power cap": "nvmlClocksThrottleReasonSwPowerCap",
        "HW slowdown": "nvmlClocksThrottleReasonHwSlowdown",
        "SW thermal": "nvmlClocksThrottleReasonSwThermalSlowdown",
        "HW thermal": "nvmlClocksThrottleReasonHwThermalSlowdown",
        "HW power brake": "nvmlClocksThrottleReasonHwPowerBrakeSlowdown",
        "sync boost": "nvmlClocksThrottleReasonSyncBoost",
    }
    out = []
    for label, attr in names.items():
        bit = getattr(nv, attr, None)
        if isinstance(bit, int) and mask & bit:
            out.append(label)
    return out
