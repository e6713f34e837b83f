"""bench, recommend."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from gpuslice.commands._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    OUTPUT_OPTION,
    OutputFormat,
    console,
    duration_option,
    exit_code,
    findings_json,
    handle_errors,
)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("recommend")(recommend)


def _csv_ints(text: str, what: str) -> tuple[int, ...]:
    from gpuslice.errors import GpusliceError

    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise GpusliceError(f"{what} must be a comma-separated list of integers, e.g. 1,2,4,8 (got {text!r})") from None
    if not vals:
        raise GpusliceError(f"{what} is empty")
    return vals


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _params(items: list[str]) -> dict[str, Any]:
    from gpuslice.errors import GpusliceError

    out: dict[str, Any] = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise GpusliceError(f"--param takes KEY=VALUE, got {it!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


class _RichProgress:
    """Progress display on stderr; one log line per case when stderr is not a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, highlight=False, log_path=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        c = self.console
        if kind == "plan":
            gpu = data["gpu"]
            c.log(
                f"bench on {gpu.get('name')} ({gpu.get('memoryMiB', '?')} MiB, driver "
                f"{gpu.get('driverVersion', '-')}): {data['cases']} cases, {data['config']['windowS']} s each"
            )
            self.progress.start()
            self.task = self.progress.add_task("starting", total=data["cases"])
        elif kind == "case-start":
            self.progress.update(self.task, description=data["case"])
        elif kind == "case-done":
            procs = data["record"]["processes"]
            totals: dict[str, float] = {}
            for p in procs:
                totals[p["unit"]] = totals.get(p["unit"], 0.0) + p["throughput"]
            lat = [p["latencyMs"]["p99"] for p in procs if p.get("latencyMs")]
            c.log(
                f"{data['case']}: "
                + " + ".join(f"{v:.4g} {u}" for u, v in totals.items())
                + (f", worst p99 {max(lat):.3f} ms" if lat else "")
            )
            self.progress.advance(self.task)
        elif kind in ("pool-start", "mps-start"):
            c.log(f"{kind} {data['tag']}" + (f" limits {data['limits']}" if data.get("limits") else ""))
        elif kind in ("skip", "fail"):
            c.log(
                f"[yellow]{data['strategy']}: {kind}ped[/] — {data['reason']}"
                if kind == "skip"
                else f"[red]{data['strategy']}: failed[/] — {data['reason']}"
            )
            # Cases that will not run count as done, so the bar ends full.
            self.progress.advance(self.task, data.get("cases", 0))

    def stop(self) -> None:
        self.progress.stop()


@handle_errors
def bench(
    out: Path = typer.Option(
        Path("gpuslice-bench"), "--out-dir", "-d", help="Folder for results.json, report.md, plots."
    ),
    n: str = typer.Option("1,2,4,8", "--n", help="Sharer counts N (comma-separated)."),
    workloads: str = typer.Option("compute,latency,memory,mixed", "--workloads", help="Workloads to run."),
    strategies: str = typer.Option(
        "time-slicing,mps,mps-uncapped", "--strategies", help="time-slicing, mps (device-plugin caps), mps-uncapped."
    ),
    window: float = duration_option(
        "1s", "--window", help="How long each case runs, e.g. 1s, 2.5s, 1m (all tenants start together)."
    ),
    repeats: int = typer.Option(3, "--repeats", help="Runs per case; results give the median and spread."),
    mps_pipe_dir: Path | None = typer.Option(
        None,
        "--mps-pipe-dir",
        help="Run the mps cases through this running MPS control daemon (e.g. NVIDIA's mps-control-daemon: "
        "/mps/nvidia.com/gpu/pipe) instead of starting one; needs --strategies mps and --baseline-from.",
    ),
    baseline_from: Path | None = typer.Option(
        None, "--baseline-from", help="Results file whose exclusive (N=1) baselines this run is measured against."
    ),
    backend: str = typer.Option("torch", "--backend", help="torch (the GPU) or fake (CPU stand-in, no GPU)."),
    device: int = typer.Option(0, "--device", help="GPU index."),
    param: list[str] = typer.Option([], "--param", help="Worker parameter KEY=VALUE (e.g. gemmSize=8192)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots (needs matplotlib)."),
    print_log: bool = typer.Option(False, "--print-log", help="Also print results.json between log markers."),
    report_from: Path | None = typer.Option(
        None, "--report-from", help="Only re-render report and plots from an existing results file."
    ),
    print_schema: bool = typer.Option(False, "--print-schema", help="Print the results JSON Schema and exit."),
    render_job: bool = typer.Option(
        False, "--render-job", help="Write a Kubernetes Job that runs the bench on a pool."
    ),
    spec: Path | None = typer.Option(None, "--spec", help="Spec (for --render-job)."),
    pool: str | None = typer.Option(None, "--pool", help="Pool name (for --render-job)."),
    image: str | None = typer.Option(None, "--image", help="Bench image for --render-job (default: NGC PyTorch)."),
    install: bool = typer.Option(
        True, "--install/--no-install", help="--render-job: pip-install gpuslice[bench] in the container first."
    ),
    job_out: Path | None = typer.Option(None, "--job-out", help="--render-job: write here instead of stdout."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --out-dir that holds files gpuslice did not write."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Measure time-slicing vs MPS with 1..N sharers on this node's GPU; write results, report and plots."""
    from gpuslice.errors import GpusliceError

    if print_schema:
        from gpuslice.bench.results import RESULTS_SCHEMA

        print(json.dumps(RESULTS_SCHEMA, indent=2))
        return
    if render_job:
        _render_job(spec, pool, image, install, job_out, n, workloads, strategies, window)
        return
    if spec is not None or pool is not None:
        raise GpusliceError("--spec and --pool belong to --render-job")
    from gpuslice.bench import write_outputs

    if report_from is not None:
        from gpuslice.bench.results import load_results

        results = load_results(report_from)  # read (and reject) the input before creating --out
        _check_out(out, [report_from], overwrite)
        files = write_outputs(results, out, plots=plots)
        _summary(results, out, files, output)
        return
    from gpuslice.bench.runner import BenchConfig, BenchError, run_bench

    imported = None
    if baseline_from is not None:
        from gpuslice.bench.analysis import solo_baselines
        from gpuslice.bench.results import load_results

        imported = solo_baselines(load_results(baseline_from))
        if not imported:
            raise GpusliceError(f"{baseline_from}: no N=1 case to take a baseline from")
    elif mps_pipe_dir is not None:
        raise GpusliceError(
            "--mps-pipe-dir needs --baseline-from: the external daemon's GPU (EXCLUSIVE_PROCESS) cannot run "
            "the exclusive baselines"
        )
    cfg = BenchConfig(
        n_values=_csv_ints(n, "--n"),
        workloads=_csv(workloads),
        strategies=_csv(strategies),
        window_s=window,
        repeats=repeats,
        backend=backend,
        device=device,
        params=_params(param),
        mps_pipe_dir=str(mps_pipe_dir) if mps_pipe_dir is not None else None,
        baselines=imported,
    )
    try:
        cfg.validate()  # bad options fail before --out-dir is created, not after
    except BenchError as e:
        raise GpusliceError(str(e)) from None
    _check_out(out, [baseline_from], overwrite)  # before minutes of measuring, not after
    command = "gpuslice " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None
    prog = _RichProgress()
    partial = out / "results.partial.json"
    try:
        results = run_bench(cfg, progress=prog, command=command, checkpoint=partial)
    except BenchError as e:
        raise GpusliceError(str(e)) from None
    finally:
        prog.stop()
    files = write_outputs(results, out, plots=plots)
    partial.unlink(missing_ok=True)
    if print_log:
        from gpuslice.bench.results import LOG_BEGIN, LOG_END, dump_results

        print(LOG_BEGIN)
        print(dump_results(results), end="")
        print(LOG_END)
    _summary(results, out, files, output)
    ok = any(c.get("status") == "ok" for c in results["cases"])
    raise typer.Exit(EXIT_OK if ok else EXIT_FINDINGS)


def _check_out(out: Path, inputs: list[Path | None], overwrite: bool) -> None:
    """--out-dir must be a folder gpuslice may replace (new, empty, or written by gpuslice: never the user's own
    files, see gpuslice.output) and can create and write into (the run keeps results.partial.json there)."""
    import os

    from gpuslice.errors import GpusliceError
    from gpuslice.output import check_out_dir

    if out.exists() and not out.is_dir():
        raise GpusliceError(f"--out-dir {out}: exists and is not a folder; give a folder for the results")
    try:
        check_out_dir(out, inputs=inputs, overwrite=overwrite)
    except GpusliceError as e:
        raise GpusliceError(f"--out-dir {e}") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GpusliceError(f"--out-dir {out}: cannot create the folder: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise GpusliceError(f"--out-dir {out}: the folder is not writable")


def _summary(results: dict[str, Any], out: Path, files: list[str], output: OutputFormat) -> None:
    from gpuslice.bench.analysis import table_rows

    if output == OutputFormat.json:
        print(
            json.dumps(
                {
                    "out": str(out),
                    "files": files,
                    "gpu": results.get("gpu", {}).get("name"),
                    "strategies": results.get("strategies"),
                    "rows": table_rows(results),
                    "notes": results.get("notes"),
                },
                indent=2,
            )
        )
        return
    from rich.markdown import Markdown

    from gpuslice.bench.report import headline_markdown

    c = console()
    c.print(Markdown(headline_markdown(results)), soft_wrap=False)  # laid out to the terminal, never cropped
    for note in results.get("notes", []):
        c.print(f"[dim]note:[/] {note}", markup=True, highlight=False)
    c.print(f"[green]Wrote {', '.join(files)} to {out}[/]")


def _render_job(
    spec: Path | None,
    pool: str | None,
    image: str | None,
    install: bool,
    job_out: Path | None,
    n: str,
    workloads: str,
    strategies: str,
    window: float,
) -> None:
    from gpuslice import api
    from gpuslice.bench.job import render_job
    from gpuslice.errors import GpusliceError
    from gpuslice.output import write_file_atomic

    if spec is None or pool is None:
        raise GpusliceError("--render-job needs --spec SPEC and --pool NAME")
    args = []
    if n != "1,2,4,8":
        args += ["--n", ",".join(map(str, _csv_ints(n, "--n")))]
    if workloads != "compute,latency,memory,mixed":
        args += ["--workloads", workloads]
    if strategies != "time-slicing,mps,mps-uncapped":
        args += ["--strategies", strategies]
    if window != 1.0:
        args += ["--window", str(window)]
    job = render_job(api.load(spec), pool, image=image, install=install, bench_args=args)
    text = job.yaml()
    if job_out:
        write_file_atomic(job_out, text)
        c = console(stderr=True)
        for note in job.notes:
            c.print(f"note: {note}", markup=False, highlight=False)
        c.print(f"Wrote {job_out}", markup=False)
    else:
        print(text, end="")


@handle_errors
def recommend(
    bench_file: Path = typer.Option(..., "--bench", "-b", help="results.json from gpuslice bench (or the Job's log)."),
    spec: Path | None = typer.Option(None, "--spec", help="Spec: recommend per node pool (else per workload)."),
    workload: str = typer.Option(
        "auto", "--workload", help="Tenant kind: auto, or a comma list of compute, latency, memory, mixed."
    ),
    tenant_memory_gib: float | None = typer.Option(
        None,
        "--tenant-memory-gib",
        help="Memory one tenant needs (default: spec's checks.memoryPerReplicaFloorGiB, else 4).",
    ),
    latency_budget_ms: float | None = typer.Option(
        None, "--latency-budget-ms", help="p99 step-latency budget (default: the pool's sharing.latencyBudgetMs)."
    ),
    write: bool = typer.Option(False, "--write", help="Write the recommended sharing settings into SPEC."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Choose none / time-slicing / MPS and replicas per pool from measured bench results, and say why."""
    from gpuslice import api
    from gpuslice.bench.recommend import findings
    from gpuslice.bench.recommend import recommend as do_recommend
    from gpuslice.bench.results import load_results
    from gpuslice.errors import GpusliceError

    if write and spec is None:
        raise GpusliceError("--write needs --spec")
    if tenant_memory_gib is not None and tenant_memory_gib <= 0:
        raise GpusliceError("--tenant-memory-gib must be positive")
    wl: tuple[str, ...] | None = None
    if workload != "auto":
        wl = _csv(workload)
        bad = [w for w in wl if w not in ("compute", "latency", "memory", "mixed")]
        if bad or not wl:
            raise GpusliceError(
                f"--workload: unknown {', '.join(bad) or 'empty'}; use auto or compute, latency, memory, mixed"
            )
    results = load_results(bench_file)
    resolved = api.load(spec) if spec is not None else None
    recs = do_recommend(
        results, resolved, workloads=wl, tenant_memory_gib=tenant_memory_gib, latency_budget_ms=latency_budget_ms
    )
    changes: list[str] = []
    if write and spec is not None:
        from gpuslice.bench.writeback import write_recommendations

        changes = write_recommendations(spec, recs)
    fs = findings(recs)
    if output == OutputFormat.json:
        print(
            findings_json(
                fs,
                bench=str(bench_file),
                spec=str(spec) if spec else None,
                recommendations=[r.to_dict() for r in recs],
                written=changes,
            )
        )
    else:
        _print_recs(recs, results)
        c = console()
        if write:
            c.print(f"[green]Updated {spec}:[/]" if changes else f"{spec} already matches; nothing written.")
            for ch in changes:
                c.print(f"  {ch}", markup=False)
    raise typer.Exit(exit_code(fs))


def _print_recs(recs: list[Any], results: dict[str, Any]) -> None:
    from rich.panel import Panel
    from rich.text import Text

    c = console()
    gpu = results.get("gpu", {})
    c.print(
        f"Measured on {gpu.get('name')} (driver {gpu.get('driverVersion', '-')}), {results.get('createdAt')}",
        markup=False,
    )
    for r in recs:
        title = (f"pool {r.pool}" if r.pool else "benchmarked GPU") + f" · {'+'.join(r.profile)} tenants"
        body = Text()
        body.append(f"recommend: {r.headline()}\n", style="bold green" if not r.changed else "bold yellow")
        if r.current_strategy is not None:
            cur = r.current_strategy + (f" x{r.current_replicas}" if r.current_strategy != "none" else "")
            body.append(f"spec now:  {cur}{' (unchanged)' if not r.changed else ''}\n")
        for line in r.reasons:
            body.append(f"• {line}\n")
        for line in r.warnings:
            body.append(f"! {line}\n", style="yellow")
        if r.mig:
            body.append(f"◦ {r.mig}\n", style="cyan")
        c.print(Panel(body, title=title, title_align="left"), soft_wrap=False)  # wrap inside the box, never crop
