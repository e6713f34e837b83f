"""Time of each renderer, and of render_all, on a large spec (default 300 pools), in a fresh process per run.

    .venv/bin/python benchmarks/bench_renderers.py [--pools 300] [--repeat 3] [--chart PATH] [--json out.json]

Each run is a new Python process (the renderers cache texts by content within a process, so a second render in
the same process would be faster than a plan's one render). A run loads the spec, then (a) calls every renderer
of the spec's provider once, in registry order, and measures each one's wall and CPU time (the operator's CPU
leaves out its `helm template` child, its wall includes it), then (b) in another fresh process, render_all
as `plan` calls it (the operator's helm runs while the later renderers do). Prints the best of --repeat runs;
CPU time is the figure that compares on a shared machine. Spec: benchmarks/bench_render.py's generator.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import DEFAULT_CHART, spec_text  # noqa: E402

CHILD = """
import json, sys, time
from gpuslice import api
from gpuslice.render import RenderOptions, render_all, renderers_for
spec, chart, mode = sys.argv[1:4]
r = api.load(spec)
opts = RenderOptions(chart=chart)
out = {}
if mode == "each":
    for name, fn in renderers_for(r).items():
        w, c = time.perf_counter(), time.process_time()
        fn(r, opts)
        out[name] = [time.perf_counter() - w, time.process_time() - c]
else:
    w, c = time.perf_counter(), time.process_time()
    render_all(r, opts)
    out["render_all"] = [time.perf_counter() - w, time.process_time() - c]
print(json.dumps(out))
"""


def run(spec: Path, chart: Path, mode: str) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec), str(chart), mode],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        sys.exit(f"render failed (exit {r.returncode}): {r.stderr[-2000:]}")
    result: dict[str, list[float]] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    best: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gpuslice-renderers-") as tmp:
        spec = Path(tmp) / "gpuslice.yaml"
        spec.write_text(spec_text(args.pools), encoding="utf-8")
        for _ in range(args.repeat):
            for mode in ("each", "all"):
                for name, (wall, cpu) in run(spec, args.chart, mode).items():
                    old = best.get(name, [wall, cpu])
                    best[name] = [min(old[0], wall), min(old[1], cpu)]
    each = {k: v for k, v in best.items() if k != "render_all"}
    best["sum of renderers"] = [sum(v[0] for v in each.values()), sum(v[1] for v in each.values())]
    load = os.getloadavg()[0]
    print(
        f"{args.pools} pools, best of {args.repeat} fresh processes (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print(f"{'renderer':18} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu) in best.items():
        print(f"{name:18} {wall:8.3f} {cpu:8.3f}")
    if args.json:
        figures = {name: {"wall": round(w, 3), "cpu": round(c, 3)} for name, (w, c) in best.items()}
        args.json.write_text(json.dumps({"pools": args.pools, "renderers": figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
