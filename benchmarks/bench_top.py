"""The node agent's own cost: one sample of 8 GPUs x 32 processes (goal: <= 20 ms CPU, <= 60 MiB resident).

Builds a synthetic NVML reading (8 GPUs, 32 compute processes each), a /proc tree with a cgroup v2 file per
process, the pods of the node as the API server lists them and the pod-resources allocations, then times what the
agent does per sample: map every pid to its pod (reading /proc/<pid>/cgroup), join with allocations, compute
findings, and render the Prometheus exposition. NVML's own calls are not included (driver time; see the H200 run in
benchmarks/results/*-h200-top for the real sampler on one GPU).

    python benchmarks/bench_top.py            # prints figures
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpuslice.top.agent import Agent, Sharing, build_report, pods_from_api
from gpuslice.top.findings import report_findings
from gpuslice.top.nvml import GpuReading, NodeReading, ProcessReading
from gpuslice.top.podresources import Allocation

GPUS, PROCS = 8, 32
GIB = 1 << 30


def setup(root: Path) -> tuple[NodeReading, dict, list[Allocation], Path]:
    proc = root / "proc"
    items, allocs, gpus = [], [], []
    pid = 1000
    for g in range(GPUS):
        uuid = f"GPU-{g:08d}-0000-0000-0000-000000000000"
        procs = []
        for i in range(PROCS):
            pid += 1
            uid = f"{g:08d}-{i:04d}-0000-0000-{pid:012d}"
            cid = f"{pid:064d}"
            d = proc / str(pid)
            d.mkdir(parents=True)
            u = uid.replace("-", "_")
            (d / "cgroup").write_text(
                f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{cid}.scope\n"
            )
            items.append(
                {
                    "metadata": {"uid": uid, "namespace": "ml", "name": f"job-{g}-{i}"},
                    "status": {
                        "qosClass": "Burstable",
                        "containerStatuses": [{"name": "main", "containerID": f"containerd://{cid}"}],
                    },
                }
            )
            allocs.append(Allocation("ml", f"job-{g}-{i}", "main", "nvidia.com/gpu", (f"{uuid}::{i}",)))
            procs.append(ProcessReading(pid, (1 + i % 5) * GIB // 2, float(i % 7), 1.0, False, "python"))
        gpus.append(GpuReading(g, uuid, "NVIDIA H100 80GB HBM3", 80 * GIB, 60 * GIB, 90, "Default", procs))
    return NodeReading(time.time(), 5.0, "580.159.04", gpus), pods_from_api(items), allocs, proc


def main() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from gpuslice.top.metrics import ReportCollector

    with tempfile.TemporaryDirectory() as tmp:
        reading, pods, allocs, proc = setup(Path(tmp))
        sharing = Sharing("time-slicing", PROCS)

        def sample() -> dict:
            rep = build_report(reading, node="n", sharing=sharing, pods=pods, allocations=allocs, proc=proc)
            rep["findings"] = [f.to_dict() for f in report_findings(rep)]
            return rep

        agent = Agent(sample)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ReportCollector(agent))
        costs, scrape = [], []
        for _ in range(30):
            t0 = time.process_time()
            agent.tick()
            costs.append(time.process_time() - t0)
            t1 = time.process_time()
            body = generate_latest(registry)
            scrape.append(time.process_time() - t1)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"sample of {GPUS} GPUs x {PROCS} processes: CPU median {statistics.median(costs) * 1000:.1f} ms, "
        f"max {max(costs) * 1000:.1f} ms (goal <= 20 ms)"
    )
    print(f"/metrics exposition: CPU median {statistics.median(scrape) * 1000:.1f} ms, {len(body)} bytes")
    print(f"peak resident memory of this process: {rss_mib:.0f} MiB (goal <= 60 MiB)")


if __name__ == "__main__":
    main()
