"""Time what a user waits for at the prompt: `gpuslice --help` and `gpuslice plan examples/eks-ubuntu.yaml -d DIR`.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeat 7] [--json out.json]

Each command runs as a fresh process (what a shell does), `--repeat` times. Prints, per command, the best and
median wall time and the best and median CPU time (user + system of the process and the helm it waits for).
On a busy machine wall time grows with the load while CPU time barely moves, so both are shown with the load
average. Goals: `--help` <= 0.25 s, `plan` of the bundled example about 1.2 s (wall, idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(name: str, argv: list[str], repeat: int, env: dict[str, str]) -> dict[str, float | str]:
    _run(argv, env)  # warm the file cache (and helm's one-time extraction) first
    runs = [_run(argv, env) for _ in range(repeat)]
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {
        "command": name,
        "wallBest": round(min(walls), 3),
        "wallMedian": round(statistics.median(walls), 3),
        "cpuBest": round(min(cpus), 3),
        "cpuMedian": round(statistics.median(cpus), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "80"}
    gs = [sys.executable, "-m", "gpuslice"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out")  # the same gpuslice-written folder each time: plan replaces it
        rows = [
            measure("python -c pass", [sys.executable, "-c", "pass"], args.repeat, env),
            measure("gpuslice --help", [*gs, "--help"], args.repeat, env),
            measure(
                "gpuslice plan examples/eks-ubuntu.yaml -d DIR",
                [*gs, "plan", "examples/eks-ubuntu.yaml", "-d", out],
                args.repeat,
                env,
            ),
        ]
    load = os.getloadavg()[0]
    print(f"{args.repeat} runs each, load average {load:.2f} on {os.cpu_count()} CPUs")
    print(f"{'command':50} {'wall best':>10} {'median':>8} {'cpu best':>10} {'median':>8}")
    for r in rows:
        print(
            f"{r['command']:50} {r['wallBest']:>9.3f}s {r['wallMedian']:>7.3f}s {r['cpuBest']:>9.3f}s {r['cpuMedian']:>7.3f}s"
        )
    if args.json:
        args.json.write_text(json.dumps({"loadAverage": load, "cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
