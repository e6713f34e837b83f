"""Whole-process time of `gpuslice plan --force` on a large spec (default 300 pools), as a user runs it.

    .venv/bin/python benchmarks/bench_plan_scale.py [--pools 300] [--repeat 3] [--json out.json] [--no-bytecode]

Runs the CLI in a fresh Python process each time (imports, spec parsing, checks, every renderer, `helm template`,
writing the folder) and prints wall time and CPU time (user + system of gpuslice and its helm child). On a
shared machine wall time follows the load; CPU time is the figure that compares, though its system part (mostly
creating the 3,700 files) follows the other work on the disk. Goal: <= 2 s wall on an idle machine. The spec is
benchmarks/bench_render.py's generator (pools cycle through instance types, OSes and sharing settings; mixed OSes
are a check error, hence --force).

gpuslice's modules are compiled to bytecode once, into a cache in the temporary folder, before the timed runs: an
installed gpuslice (pip compiles on install) or a checkout run once never compiles its ~130 modules again, but
with PYTHONDONTWRITEBYTECODE set (as in some sandboxes and CI images) every run would, ~0.07 s of each.
``--no-bytecode`` times that case instead.

The system time depends on the file system's recent past. ext4 without a journal (this development machine's
disk) does not reuse an inode freed in the last minute (six while its inode block is not yet written back): each
new file's allocation looks at every such inode of its group first (Linux fs/ext4/ialloc.c, find_inode_bit and
recently_deleted). After another run deleted thousands of files, creating the plan's 3,709 costs up to ~1 s of
system time instead of under 0.1 s (perf shows it inside __ext4_new_inode). Journaled file systems (ext4 as
usually mounted, xfs, APFS) skip that check.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import DEFAULT_CHART, spec_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-bytecode", action="store_true", help="compile gpuslice's modules in every run")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    exe = [sys.executable, "-c", "import sys; from gpuslice.cli import main; sys.argv[0]='gpuslice'; main()"]
    walls, cpus, systems, files = [], [], [], 0
    with tempfile.TemporaryDirectory(prefix="gpuslice-scale-") as tmp:
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")  # the checkout stays as it is
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "gpuslice")], env=env, check=True
            )
        spec = Path(tmp) / "gpuslice.yaml"
        spec.write_text(spec_text(args.pools), encoding="utf-8")
        for i in range(args.repeat):
            out = Path(tmp) / f"out-{i}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            r = subprocess.run(
                [*exe, "plan", str(spec), "-d", str(out), "--force", "--chart", str(args.chart)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            systems.append(after.ru_stime - before.ru_stime)
            if r.returncode not in (0, 1):
                sys.exit(f"plan failed (exit {r.returncode}): {r.stderr[-2000:]}")
            files = sum(1 for p in out.rglob("*") if p.is_file())
    load = os.getloadavg()[0]
    fig = {
        "pools": args.pools,
        "files": files,
        "wallMedian": round(statistics.median(walls), 2),
        "wallBest": round(min(walls), 2),
        "cpuMedian": round(statistics.median(cpus), 2),
        "cpuBest": round(min(cpus), 2),
        "systemMedian": round(statistics.median(systems), 2),
        "loadAverage": round(load, 1),
        "cores": os.cpu_count(),
        "bytecode": "compiled every run" if args.no_bytecode else "compiled once",
    }
    print(
        f"plan --force, {args.pools} pools ({files} files): wall median {fig['wallMedian']} s (best "
        f"{fig['wallBest']} s), CPU median {fig['cpuMedian']} s (best {fig['cpuBest']} s; system "
        f"time median {fig['systemMedian']} s); load average "
        f"{fig['loadAverage']} on {fig['cores']} cores; gpuslice bytecode {fig['bytecode']}"
    )
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
