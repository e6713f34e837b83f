"""Proof run for ``gpuslice top`` on a real GPU (run on the GPU machine; writes one JSON file).

Starts N worker processes with known GPU memory footprints and duty cycles, first sharing the GPU by plain
time-slicing (default compute mode), then as clients of a private MPS control daemon capped the way the device plugin
caps ``replicas: N`` (gpuslice.bench.mps). While they run, it takes NVML readings with the agent's sampler, joins them
into reports (each worker stands for a pod: pid -> pod through a stand-in for /proc/<pid>/cgroup), runs the real CLI
agent once (``gpuslice top --node --once -o json``) and scrapes the agent's /metrics over HTTP. Then it checks that
memory and SM utilisation land on the right pids within stated tolerances.

    python benchmarks/top_gpu_check.py OUT.json [--n 4]

Tolerances: memory attributed to a worker = its tensor + its CUDA context, so within [footprint, footprint + 1 GiB];
SM utilisation: the worker with duty 0 reads <= 5 %, and readings are ordered like the duty cycles (ties within 5
points allowed).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WORKER = r"""
import sys, time, torch
mem_gib, duty = float(sys.argv[1]), float(sys.argv[2])
hold = torch.empty(int(mem_gib * (1 << 30)), dtype=torch.uint8, device="cuda")
a = torch.randn(2048, 2048, device="cuda")
torch.cuda.synchronize()
print("READY", flush=True)
period = 0.1
while True:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duty * period:
        for _ in range(4):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
    rest = period - (time.perf_counter() - t0)
    if rest > 0:
        time.sleep(rest)
"""

FOOTPRINTS = [(2.0, 1.0), (4.0, 0.5), (6.0, 0.2), (8.0, 0.0)]
GIB = 1 << 30


def start_workers(env: dict[str, str], specs: list[tuple[float, float]]) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(m), str(d)], env=env, stdout=subprocess.PIPE, text=True)
        for m, d in specs
    ]
    for p in procs:
        line = p.stdout.readline() if p.stdout else ""
        if "READY" not in line:
            raise RuntimeError(f"worker {p.pid} did not start: {line!r}")
    return procs


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def check(report: dict, pids: dict[int, tuple[float, float]]) -> list[str]:
    """Problems found; [] when every worker's memory and SM share are attributed right."""
    problems: list[str] = []
    rows = {p["pid"]: p for g in report["gpus"] for p in g["processes"]}
    sm: dict[int, float] = {}
    for pid, (mem, duty) in pids.items():
        r = rows.get(pid)
        if r is None:
            problems.append(f"pid {pid} (mem {mem} GiB, duty {duty}) not in the report")
            continue
        used = r.get("memoryBytes")
        if used is None or not (mem * GIB <= used <= (mem + 1) * GIB):
            problems.append(f"pid {pid}: memory {used} not within [{mem}, {mem + 1}] GiB")
        if r.get("pod") != f"pod-{pid}":
            problems.append(f"pid {pid}: mapped to pod {r.get('pod')!r}")
        sm[pid] = r.get("smUtil") or 0.0
    by_duty = sorted(pids, key=lambda p: pids[p][1])
    if by_duty and sm.get(by_duty[0], 0) > 5:
        problems.append(f"idle worker {by_duty[0]} shows SM {sm.get(by_duty[0])} %")
    for lo, hi in itertools.pairwise(by_duty):
        if sm.get(lo, 0) > sm.get(hi, 0) + 5:
            problems.append(f"SM order: duty {pids[lo][1]} -> {sm.get(lo)} % > duty {pids[hi][1]} -> {sm.get(hi)} %")
    return problems


def phase(name: str, env: dict[str, str], samples: int = 3) -> dict:
    from gpuslice.top.agent import Sharing, build_report, pods_from_api
    from gpuslice.top.cgroup import PodRef
    from gpuslice.top.findings import report_findings
    from gpuslice.top.nvml import NvmlSampler

    procs = start_workers(env, FOOTPRINTS)
    pids = {p.pid: spec for p, spec in zip(procs, FOOTPRINTS, strict=False)}
    # Each worker stands for a pod: the cgroup stand-in answers pod UID = pid (what /proc/<pid>/cgroup would say).
    uid = {pid: f"00000000-0000-0000-0000-{pid:012d}" for pid in pids}
    pods = pods_from_api(
        [
            {"metadata": {"uid": uid[p], "namespace": "bench", "name": f"pod-{p}"}, "status": {"qosClass": "Burstable"}}
            for p in pids
        ]
    )
    strategy = "mps" if name == "mps" else "time-slicing"
    sharing = Sharing(strategy=strategy, replicas=len(pids))
    out: dict = {"phase": name, "workers": {str(p): {"memGiB": m, "duty": d} for p, (m, d) in pids.items()}}
    try:
        time.sleep(2.0)
        sampler = NvmlSampler(interval=3.0)
        readings, reports, costs = [], [], []
        for _ in range(samples):
            time.sleep(3.0)
            t0 = time.process_time()
            reading = sampler.read()
            rep = build_report(
                reading,
                node="h200",
                sharing=sharing,
                pods=pods,
                pod_of=lambda pid: PodRef(uid[pid], "Burstable", None) if pid in uid else None,
            )
            costs.append(time.process_time() - t0)
            rep["findings"] = [f.to_dict() for f in report_findings(rep)]
            readings.append(reading.to_dict())
            reports.append(rep)
        out["readings"] = readings
        out["reports"] = reports
        out["sampleCpuSeconds"] = costs
        out["problems"] = [check(r, pids) for r in reports]
        # The real CLI agent, once, on the real GPU (no pod mapping here: no kubelet on this machine).
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "gpuslice.cli",
                "top",
                "--node",
                "--once",
                "-o",
                "json",
                "--node-name",
                "h200",
                "--strategy",
                strategy,
                "--replicas",
                str(len(pids)),
                "--interval",
                "2",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
        )
        out["cli"] = {"rc": cli.returncode, "stdout": cli.stdout[-20000:], "stderr": cli.stderr[-4000:]}
        # The HTTP endpoints of a running agent, scraped for real.
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpuslice.cli",
                "top",
                "--node",
                "--listen",
                "127.0.0.1:19400",
                "--interval",
                "1",
                "--node-name",
                "h200",
                "--strategy",
                strategy,
                "--replicas",
                str(len(pids)),
            ],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            body = ""
            for _ in range(40):
                time.sleep(0.5)
                try:
                    body = urllib.request.urlopen("http://127.0.0.1:19400/metrics", timeout=2).read().decode()
                    if "gpuslice_container_gpu_memory_bytes" in body or "gpuslice_gpu_memory_total_bytes" in body:
                        break
                except OSError:
                    continue
            out["metrics"] = body
        finally:
            agent.terminate()
            agent.wait(10)
    finally:
        stop(procs)
    return out


def main() -> None:
    dest = Path(sys.argv[1])
    result: dict = {"python": sys.version, "phases": []}
    base = dict(os.environ)
    result["phases"].append(phase("time-slicing", base))
    try:
        from gpuslice.bench.mps import MpsDaemon, MpsLimits
        from gpuslice.top.nvml import NvmlSampler

        total_mib = NvmlSampler().read().gpus[0].memory_total_bytes // (1 << 20)
        with MpsDaemon(MpsLimits(replicas=len(FOOTPRINTS), total_memory_mib=total_mib)) as d:
            result["mpsLimits"] = d.limits.to_dict() if d.limits else None
            result["phases"].append(phase("mps", {**base, **d.env}))
    except Exception as e:  # record why MPS could not be measured, keep the time-slicing result
        result["mpsError"] = f"{type(e).__name__}: {e}"
    dest.write_text(json.dumps(result, indent=1))
    for ph in result["phases"]:
        print(ph["phase"], "problems:", ph["problems"], "cli rc:", ph["cli"]["rc"], "cpu:", ph["sampleCpuSeconds"])
    print("mpsError:", result.get("mpsError"))


if __name__ == "__main__":
    main()
