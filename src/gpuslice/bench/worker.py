"""One benchmark tenant: a separate OS process that runs workloads on command and reports what it measured.

This file is deliberately self-contained (standard library only; torch is imported inside the torch backend)
so the orchestrator can start it as ``python worker.py`` without importing gpuslice or pydantic in every
tenant. It speaks JSON lines:

* on start it sets up its backend (allocates buffers, warms every workload up) and prints
  ``{"event": "ready", ...}``;
* for ``{"cmd": "run", "workload": W, "startAt": T, "windowS": S}`` it waits until the wall-clock time T (the
  common start the orchestrator gave every tenant of the case), runs W until T + S and prints
  ``{"event": "result", ...}`` with the work done, the elapsed time and, for the latency workload, percentiles;
* ``{"cmd": "quit"}`` (or end of input) ends it.

The protocol stream is a private copy of stdout; anything a library prints goes to stderr instead.

Backends:

* ``torch``: the real GPU workloads: ``compute`` (large bf16 GEMM, TFLOP/s), ``latency`` (a few small
  kernels, then a device sync, per step: steps/s and step-latency percentiles), ``memory`` (large
  device-to-device copy, GB/s counting bytes read plus written).
* ``fake``: the same three shapes on the CPU (arithmetic spin, sleep-paced small steps, bytes copy). No GPU
  needed; the tests use it to exercise real processes, the start barrier and the window.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, ClassVar

WORKLOADS = ("compute", "latency", "memory")


def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (ms) of step latencies given in seconds."""
    if not samples:
        return {}
    s = sorted(samples)
    n = len(s)

    def rank(q: float) -> float:
        return s[min(n - 1, max(0, math.ceil(q / 100.0 * n) - 1))] * 1000.0

    return {
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "p999": rank(99.9),
        "mean": sum(s) / n * 1000.0,
        "max": s[-1] * 1000.0,
        "count": float(n),
    }


def wait_until(t: float) -> float:
    """Sleep, then spin, until wall-clock time ``t``; returns how late (s) we actually started."""
    while True:
        now = time.time()
        left = t - now
        if left <= 0:
            return -left
        if left > 0.005:
            time.sleep(left - 0.004)


# ------------------------------------------------------------------------------------------------------------
# Backends


class FakeBackend:
    """CPU stand-ins with the same measurement shape as the GPU workloads."""

    units: ClassVar[dict[str, str]] = {"compute": "Mop/s", "latency": "steps/s", "memory": "GB/s"}

    def __init__(self, params: dict[str, Any]) -> None:
        self.spin = int(params.get("fakeSpin", 20000))
        self.step_sleep = float(params.get("fakeStepSleepS", 0.0005))
        size = int(params.get("fakeCopyBytes", 4 << 20))
        self.src = bytearray(os.urandom(1024)) * (size // 1024)
        self.dst = bytearray(len(self.src))

    def setup_info(self) -> dict[str, Any]:
        return {"backend": "fake", "device": "cpu"}

    def chunk(self, workload: str) -> float:
        """Do one chunk of work; returns its amount in the workload's unit numerator."""
        if workload == "compute":
            acc = 0
            for i in range(self.spin):
                acc += i * i
            return self.spin / 1e6
        if workload == "memory":
            self.dst[:] = self.src
            return 2 * len(self.src) / 1e9
        if workload == "latency":
            time.sleep(self.step_sleep)
            return 1.0
        raise ValueError(workload)


class TorchBackend:
    """Real GPU workloads through PyTorch (imported here only)."""

    units: ClassVar[dict[str, str]] = {"compute": "TFLOP/s", "latency": "steps/s", "memory": "GB/s"}

    def __init__(self, params: dict[str, Any]) -> None:
        import torch

        self.torch = torch
        dev = int(params.get("device", 0))
        torch.cuda.set_device(0 if os.environ.get("CUDA_VISIBLE_DEVICES") else dev)
        self.dev = torch.device("cuda")
        gen = torch.Generator(device=self.dev)
        gen.manual_seed(1234 + os.getpid())
        m = int(params.get("gemmSize", 8192))
        self.m = m
        # Random data (zeros run measurably faster on Hopper tensor cores).
        self.a = torch.randn(m, m, device=self.dev, dtype=torch.bfloat16, generator=gen)
        self.b = torch.randn(m, m, device=self.dev, dtype=torch.bfloat16, generator=gen)
        self.c = torch.empty(m, m, device=self.dev, dtype=torch.bfloat16)
        self.gemm_per_chunk = int(params.get("gemmPerChunk", 4))
        copy_mib = int(params.get("copyMiB", 1024))
        n = copy_mib * (1 << 20) // 4
        self.src = torch.rand(n, device=self.dev, dtype=torch.float32, generator=gen)
        self.dst = torch.empty_like(self.src)
        self.copy_per_chunk = int(params.get("copyPerChunk", 8))
        s = int(params.get("smallSize", 512))
        self.small_kernels = int(params.get("smallKernels", 4))
        self.x = torch.randn(s, s, device=self.dev, dtype=torch.bfloat16, generator=gen)
        self.w = torch.randn(s, s, device=self.dev, dtype=torch.bfloat16, generator=gen) / math.sqrt(s)
        self.ys = (torch.empty_like(self.x), torch.empty_like(self.x))
        for w in WORKLOADS:  # warm up: cuBLAS handles, kernels, allocator
            for _ in range(3):
                self.chunk(w)
        torch.cuda.synchronize()

    def setup_info(self) -> dict[str, Any]:
        t = self.torch
        p = t.cuda.get_device_properties(self.dev)
        return {
            "backend": "torch",
            "torch": t.__version__,
            "cuda": t.version.cuda,
            "device": p.name,
            "smCount": p.multi_processor_count,
            "memoryMiB": p.total_memory // (1 << 20),
        }

    def chunk(self, workload: str) -> float:
        t = self.torch
        if workload == "compute":
            for _ in range(self.gemm_per_chunk):
                t.mm(self.a, self.b, out=self.c)
            t.cuda.synchronize()
            return self.gemm_per_chunk * 2.0 * self.m**3 / 1e12
        if workload == "memory":
            for _ in range(self.copy_per_chunk):
                self.dst.copy_(self.src)
            t.cuda.synchronize()
            return self.copy_per_chunk * 2.0 * self.src.numel() * 4 / 1e9
        if workload == "latency":
            h = self.x
            for i in range(self.small_kernels):  # ping-pong buffers: a matmul never writes its own input
                out = self.ys[i % 2]
                t.mm(h, self.w, out=out)
                h = t.relu_(out)
            t.cuda.synchronize()
            return 1.0
        raise ValueError(workload)


def make_backend(name: str, params: dict[str, Any]) -> Any:
    if name == "torch":
        return TorchBackend(params)
    if name == "fake":
        return FakeBackend(params)
    raise ValueError(f"unknown backend {name!r}")


# ------------------------------------------------------------------------------------------------------------
# Measurement


def run_window(backend: Any, workload: str, start_at: float, window_s: float) -> dict[str, Any]:
    """Run ``workload`` from the common start time for ``window_s`` seconds; count only finished chunks."""
    late = wait_until(start_at)
    t0 = time.time()
    deadline = start_at + window_s
    work = 0.0
    chunks = 0
    lat: list[float] = []
    perf = time.perf_counter
    now = t0
    if workload == "latency":
        while now < deadline:
            s = perf()
            work += backend.chunk(workload)
            lat.append(perf() - s)
            chunks += 1
            now = time.time()
    else:
        while now < deadline:
            work += backend.chunk(workload)
            chunks += 1
            now = time.time()
    elapsed = now - t0
    out: dict[str, Any] = {
        "workload": workload,
        "unit": backend.units[workload],
        "work": work,
        "chunks": chunks,
        "elapsedS": elapsed,
        "throughput": work / elapsed if elapsed > 0 else 0.0,
        "startSkewMs": late * 1000.0,
        "startedAt": t0,
        "endedAt": now,
    }
    if workload == "latency":
        out["latencyMs"] = percentiles(lat)
    return out


def main() -> int:
    backend_name = sys.argv[1] if len(sys.argv) > 1 else "torch"
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    # Keep the protocol stream clean: a private dup of stdout for JSON, fd 1 now points at stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)

    def send(msg: dict[str, Any]) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    t = time.time()
    try:
        backend = make_backend(backend_name, params)
    except Exception as e:  # report setup failures to the orchestrator as data
        send({"event": "error", "stage": "setup", "error": f"{type(e).__name__}: {e}", "pid": os.getpid()})
        return 1
    send({"event": "ready", "pid": os.getpid(), "setupS": time.time() - t, "info": backend.setup_info()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            break
        if cmd.get("cmd") == "run":
            try:
                res = run_window(backend, cmd["workload"], float(cmd["startAt"]), float(cmd["windowS"]))
            except Exception as e:
                send({"event": "error", "stage": "run", "error": f"{type(e).__name__}: {e}", "pid": os.getpid()})
                continue
            res["event"] = "result"
            res["pid"] = os.getpid()
            res["case"] = cmd.get("case")
            send(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
