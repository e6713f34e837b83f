"""Measure GPU sharing on the GPU itself, and recommend a sharing strategy per pool from the numbers.

* :func:`run_bench` (``gpuslice bench``) — N worker processes per strategy (time-slicing, MPS capped the way
  the device plugin caps it, MPS uncapped) and workload (compute, latency, memory, mixed); raw results.
* :func:`load_results` / :func:`validate_results` — read a results file (or a bench Job's pod log).
* :func:`write_outputs` — results.json, report.md and PNG plots into a folder.
* :func:`recommend` (``gpuslice recommend``) — strategy and replicas per pool, with the reasons.
* :func:`render_job` (``gpuslice bench --render-job``) — a Kubernetes Job that runs the bench on a pool.

GPU libraries (torch) are imported only inside the worker processes; matplotlib only when plotting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuslice.bench.analysis import analyze
from gpuslice.bench.results import RESULTS_SCHEMA, load_results, parse_results, validate_results
from gpuslice.bench.runner import BenchConfig, BenchError, run_bench


def write_outputs(results: dict[str, Any], out_dir: str | Path, *, plots: bool = True) -> list[str]:
    """Write results.json, report.md and (when matplotlib is there) the plots as the whole content of
    ``out_dir``, atomically (staged beside it, then swapped in, with gpuslice's output marker); returns the files.

    The caller checks first that ``out_dir`` may be replaced (:func:`gpuslice.output.check_out_dir`): a folder that
    holds files gpuslice did not write is never overwritten."""
    import shutil

    from gpuslice.bench.report import report_markdown
    from gpuslice.bench.results import dump_results
    from gpuslice.output import commit, stage

    out = Path(out_dir).expanduser().resolve()
    tmp = stage(out)
    try:
        (tmp / "results.json").write_text(dump_results(results), encoding="utf-8")
        pngs: list[str] = []
        if plots:
            from gpuslice.bench.plots import write_plots
            from gpuslice.errors import GpusliceError

            try:
                pngs = write_plots(results, tmp)
            except GpusliceError as e:
                results.setdefault("notes", []).append(f"plots not written: {e}")
        (tmp / "report.md").write_text(report_markdown(results, pngs), encoding="utf-8")
        commit(tmp, out, command="bench")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ["results.json", "report.md", *pngs]


def recommend(*args: Any, **kwargs: Any) -> Any:
    from gpuslice.bench.recommend import recommend as _recommend

    return _recommend(*args, **kwargs)


def render_job(*args: Any, **kwargs: Any) -> Any:
    from gpuslice.bench.job import render_job as _render_job

    return _render_job(*args, **kwargs)


__all__ = [
    "RESULTS_SCHEMA",
    "BenchConfig",
    "BenchError",
    "analyze",
    "load_results",
    "parse_results",
    "recommend",
    "render_job",
    "run_bench",
    "validate_results",
    "write_outputs",
]
