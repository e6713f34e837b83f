"""Orchestration: worker pools per strategy, a common start time per case, a fixed window, raw results.

Strategies:

* ``time-slicing`` — N processes in the GPU's default compute mode (what the device plugin's time-slicing
  gives pods). The workers get an empty private ``CUDA_MPS_PIPE_DIRECTORY`` so a stray MPS daemon on the
  host cannot turn them into MPS clients.
* ``mps`` — a private MPS daemon started for each N with the device plugin's per-client defaults for
  ``replicas: N`` (``100/N`` % active threads, ``total/N`` pinned memory); see :mod:`gpuslice.bench.mps`.
* ``mps-uncapped`` — the same daemon with no limits, for comparison (not what the cluster runs).

With ``mps_pipe_dir`` the ``mps`` cases run as clients of an MPS control daemon someone else started (NVIDIA's
``mps-control-daemon`` from the device plugin, which also switches the GPU to EXCLUSIVE_PROCESS); the limits
recorded are the ones that daemon reports, not the ones gpuslice would set.

Each case runs ``repeats`` times back to back (default 3); the analysis reports the median and the spread.
The exclusive baselines a workload needs (``mixed`` = one latency tenant beside compute tenants, so it needs
the solo latency and solo compute throughput) are added to the plan as ``time-slicing`` N=1 cases even when
only some workloads or strategies were asked for, and marked ``baseline``.

One pool of worker processes serves every case of a strategy (for capped MPS: every case of one N), so
process start-up and CUDA initialisation are paid once. Workers that are not part of a case sit idle on a
blocking read and launch nothing. For each case the orchestrator sends "run W from time T for S seconds" to
the N participating workers; they wait for T (the barrier), run, and report.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuslice.bench import worker as worker_mod
from gpuslice.bench.mps import MpsDaemon, MpsLimits, MpsUnavailable, read_daemon_limits
from gpuslice.errors import GpusliceError

STRATEGIES = ("time-slicing", "mps", "mps-uncapped")
WORKLOADS = ("compute", "latency", "memory", "mixed")
RESULTS_KIND = "GpusliceBenchResults"
SCHEMA_VERSION = 1

Progress = Callable[[str, dict[str, Any]], None]


class BenchError(GpusliceError):
    """The benchmark itself could not run (not a per-strategy skip)."""


@dataclass
class BenchConfig:
    n_values: tuple[int, ...] = (1, 2, 4, 8)
    workloads: tuple[str, ...] = WORKLOADS
    strategies: tuple[str, ...] = STRATEGIES
    window_s: float = 1.0
    repeats: int = 3
    backend: str = "torch"  # torch | fake
    device: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    setup_timeout_s: float = 180.0
    start_lead_s: float = 0.3  # time between sending "run" and the common start
    python: str = sys.executable
    mps_pipe_dir: str | None = None  # use this running MPS control daemon for the mps cases
    baselines: dict[str, dict[str, Any]] | None = None  # solo records from another run (see analysis)

    def validate(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise BenchError(f"unknown strategies {bad}; choose from {', '.join(STRATEGIES)}")
        badw = [w for w in self.workloads if w not in WORKLOADS]
        if badw:
            raise BenchError(f"unknown workloads {badw}; choose from {', '.join(WORKLOADS)}")
        if not self.n_values or any(n < 1 or n > 48 for n in self.n_values):
            raise BenchError("sharer counts must be between 1 and 48 (the MPS client limit)")
        if self.window_s <= 0:
            raise BenchError("the window must be positive")
        if not 1 <= self.repeats <= 20:
            raise BenchError("repeats must be between 1 and 20")
        if self.mps_pipe_dir is not None and set(self.strategies) != {"mps"}:
            raise BenchError(
                "with an external MPS daemon only the mps strategy can run (the daemon's GPU is in "
                "EXCLUSIVE_PROCESS mode, where time-slicing clients are refused): use --strategies mps"
            )
        if self.backend not in ("torch", "fake"):
            raise BenchError(f"unknown backend {self.backend!r} (torch or fake)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "device": self.device,
            "nValues": list(self.n_values),
            "workloads": list(self.workloads),
            "strategies": list(self.strategies),
            "windowS": self.window_s,
            "repeats": self.repeats,
            "startLeadS": self.start_lead_s,
            **({"mpsDaemon": "external"} if self.mps_pipe_dir else {}),
            "workerParams": dict(self.params),
        }


def needed_baselines(workloads: tuple[str, ...] | list[str]) -> list[str]:
    """The basic workloads whose solo throughput the requested ones are measured against."""
    roles_needed = {r for w in workloads for r in (["latency", "compute"] if w == "mixed" else [w])}
    return [w for w in ("compute", "latency", "memory") if w in roles_needed]


def case_plan(cfg: BenchConfig) -> list[tuple[str, str, int]]:
    """Every (strategy, workload, n) the run measures, in run order. ``mixed`` needs n >= 2.

    Exclusive baselines (``time-slicing`` N=1 of each basic workload the requested ones need) come first when
    the requested matrix does not hold them; :func:`baseline_cases` says which those are. Not with an
    external MPS daemon (its GPU refuses non-MPS clients): there the baselines come from ``cfg.baselines``.
    """
    return [*baseline_cases(cfg), *_requested(cfg)]


def _requested(cfg: BenchConfig) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for s in cfg.strategies:
        for n in sorted(set(cfg.n_values)):
            for w in cfg.workloads:
                if w == "mixed" and n < 2:
                    continue
                out.append((s, w, n))
    return out


def baseline_cases(cfg: BenchConfig) -> list[tuple[str, str, int]]:
    """The exclusive N=1 cases the requested matrix needs but does not hold."""
    if cfg.mps_pipe_dir is not None:
        return []
    have = set(_requested(cfg))
    return [("time-slicing", w, 1) for w in needed_baselines(cfg.workloads) if ("time-slicing", w, 1) not in have]


def median_run(workload: str, runs: list[list[dict[str, Any]]]) -> int:
    """Index of the repeat whose total throughput (of the compute tenants, for mixed) is the median."""
    main = "compute" if workload == "mixed" else workload

    def total(procs: list[dict[str, Any]]) -> float:
        return sum(float(p.get("throughput") or 0.0) for p in procs if p.get("role", main) == main)

    order = sorted(range(len(runs)), key=lambda i: total(runs[i]))
    return order[(len(order) - 1) // 2]


def roles(workload: str, n: int) -> list[str]:
    """What each of the n tenants runs: mixed = one latency tenant beside n-1 compute tenants."""
    if workload == "mixed":
        return ["latency"] + ["compute"] * (n - 1)
    return [workload] * n


# ------------------------------------------------------------------------------------------------------------


class WorkerPool:
    """``size`` worker processes sharing one environment; JSON lines over pipes."""

    def __init__(self, size: int, cfg: BenchConfig, env: dict[str, str], log_dir: Path, tag: str) -> None:
        self.size = size
        self.cfg = cfg
        self.env = env
        self.log_dir = log_dir
        self.tag = tag
        self.procs: list[subprocess.Popen[str]] = []
        self.queues: list[queue.Queue[dict[str, Any] | None]] = []
        self.ready: list[dict[str, Any]] = []

    def _reader(self, proc: subprocess.Popen[str], q: queue.Queue[dict[str, Any] | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                q.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        q.put(None)  # end of stream

    def start(self) -> None:
        params = {**self.cfg.params, "device": self.cfg.device}
        argv = [self.cfg.python, str(Path(worker_mod.__file__)), self.cfg.backend, json.dumps(params)]
        for i in range(self.size):
            log = open(self.log_dir / f"{self.tag}-worker{i}.log", "w", encoding="utf-8")  # noqa: SIM115 - lives with the process
            p = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                encoding="utf-8",  # the worker's protocol is UTF-8 JSON lines, whatever the locale
                errors="replace",
                env=self.env,
                bufsize=1,
                start_new_session=True,
            )
            log.close()
            q: queue.Queue[dict[str, Any] | None] = queue.Queue()
            threading.Thread(target=self._reader, args=(p, q), daemon=True).start()
            self.procs.append(p)
            self.queues.append(q)
        deadline = time.monotonic() + self.cfg.setup_timeout_s
        for i, q in enumerate(self.queues):
            msg = self._get(q, deadline)
            if msg is None or msg.get("event") != "ready":
                why = msg.get("error") if msg else "exited or timed out during setup"
                raise BenchError(f"worker {i} of {self.tag} did not start: {why}{self._log_tail(i)}")
            self.ready.append(msg)

    def _log_tail(self, i: int) -> str:
        f = self.log_dir / f"{self.tag}-worker{i}.log"
        try:
            lines = f.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-4:]
        except OSError:
            return ""
        return (" | " + " / ".join(lines)) if lines else ""

    @staticmethod
    def _get(q: queue.Queue[dict[str, Any] | None], deadline: float) -> dict[str, Any] | None:
        try:
            return q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def run_case(self, case_id: str, assignment: list[str], window_s: float) -> list[dict[str, Any]]:
        """Run ``assignment[i]`` on worker i (len(assignment) <= size) from one common start time."""
        start_at = time.time() + self.cfg.start_lead_s + 0.002 * len(assignment)
        for i, w in enumerate(assignment):
            stdin = self.procs[i].stdin
            assert stdin is not None
            stdin.write(
                json.dumps({"cmd": "run", "case": case_id, "workload": w, "startAt": start_at, "windowS": window_s})
                + "\n"
            )
            stdin.flush()
        deadline = time.monotonic() + self.cfg.start_lead_s + window_s + max(60.0, 4 * window_s)
        out = []
        for i in range(len(assignment)):
            msg = self._get(self.queues[i], deadline)
            if msg is None or msg.get("event") != "result":
                why = msg.get("error") if msg else "no result before the deadline (worker hung or died)"
                raise BenchError(f"{case_id}: worker {i}: {why}{self._log_tail(i)}")
            msg["index"] = i
            msg["role"] = assignment[i]
            out.append(msg)
        return out

    def close(self) -> None:
        for p in self.procs:
            try:
                if p.stdin:
                    p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                    p.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def __enter__(self) -> WorkerPool:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------------------


def _base_env(cfg: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    if cfg.backend == "torch" and "CUDA_VISIBLE_DEVICES" not in env:
        env["CUDA_VISIBLE_DEVICES"] = str(cfg.device)
    # Strip MPS client limits the caller may have set: each strategy sets its own.
    for k in ("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"):
        env.pop(k, None)
    return env


def run_bench(
    cfg: BenchConfig, progress: Progress | None = None, command: str | None = None, checkpoint: Path | None = None
) -> dict[str, Any]:
    """Run the whole matrix and return the results document with metrics (see :func:`analyze`).

    ``checkpoint``: a file rewritten with the raw results after every case, so an interrupted run keeps what
    it measured (``gpuslice bench --report-from`` reads it).
    """
    from gpuslice import __version__
    from gpuslice.bench.analysis import analyze
    from gpuslice.bench.gpuinfo import Telemetry, gpu_facts, timeslice_policy

    cfg.validate()
    user_emit: Progress = progress or (lambda kind, data: None)

    def emit(kind: str, data: dict[str, Any]) -> None:
        user_emit(kind, data)
        if checkpoint is not None and kind in ("case-done", "skip", "fail"):
            _write_checkpoint(checkpoint, results)

    plan = case_plan(cfg)
    notes: list[str] = []
    gpu: dict[str, Any]
    if cfg.backend == "torch":
        gpu = gpu_facts(cfg.device)
        if not gpu.get("available"):
            raise BenchError(
                "no NVIDIA GPU found (NVML and nvidia-smi both unavailable); "
                "use --backend fake to try the orchestration without a GPU"
            )
        policy = timeslice_policy()
        if policy:
            gpu["computePolicy"] = policy
        if gpu.get("migMode") == "Enabled":
            raise BenchError(
                "MIG is enabled on this GPU: whole-GPU sharing cannot be measured on a MIG "
                "partition (gpuslice does not change MIG settings)"
            )
        if gpu.get("computeMode") not in (None, "Default", "unknown"):
            notes.append(
                f"compute mode is {gpu.get('computeMode')}, not Default: time-slicing between "
                "processes may be refused; gpuslice does not change it"
            )
    else:
        gpu = {
            "available": False,
            "source": "fake",
            "index": cfg.device,
            "name": "fake (CPU stand-in)",
            "memoryMiB": int(cfg.params.get("fakeMemoryMiB", 16384)),
        }
        notes.append("fake backend: CPU stand-in workloads, for testing the orchestration only")
    stray = Path("/tmp/nvidia-mps/control")
    if stray.exists() or os.environ.get("CUDA_MPS_PIPE_DIRECTORY"):
        notes.append(
            "an MPS daemon may already run on this host; time-slicing workers use an empty private "
            "pipe folder so they do not join it"
        )
    if cfg.backend == "torch" and gpu.get("source") == "nvml":
        notes.append("GPU facts and telemetry read through NVML (read-only)")

    results: dict[str, Any] = {
        "kind": RESULTS_KIND,
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "gpuslice", "version": __version__},
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "host": {
            "hostname": platform.node(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpuCount": os.cpu_count(),
        },
        "gpu": gpu,
        "config": cfg.to_dict(),
        "strategies": {},
        "notes": notes,
        "cases": [],
    }
    emit("plan", {"cases": len(plan), "config": cfg.to_dict(), "gpu": gpu})

    telemetry = Telemetry(cfg.device) if cfg.backend == "torch" else None
    t_start = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="gpuslice-bench-"))
    try:
        baselines = set(baseline_cases(cfg))
        if baselines:
            notes.append(
                "exclusive baselines measured for the requested workloads: "
                + ", ".join(f"{s}/{w}/n{n}" for s, w, n in sorted(baselines))
            )
        for strategy in dict.fromkeys(s for s, _, _ in plan):
            todo = [(w, n) for (s, w, n) in plan if s == strategy]
            status = _run_strategy(cfg, strategy, todo, gpu, results, work_dir, telemetry, emit, baselines)
            if strategy not in cfg.strategies:
                status = {**status, "note": "exclusive baselines only (strategy not requested)"}
            results["strategies"][strategy] = status
        if cfg.baselines:
            results["baselines"] = cfg.baselines
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    results["durationS"] = round(time.monotonic() - t_start, 2)
    if results["cases"] and results["cases"][0].get("processes") and results["cases"][0]["processes"][0].get("info"):
        results["host"]["worker"] = results["cases"][0]["processes"][0]["info"]
    for c in results["cases"]:
        for p in [*c.get("processes", []), *(q for r in c.get("repeats", []) for q in r)]:
            p.pop("info", None)
    return analyze(results)


def _write_checkpoint(path: Path, results: dict[str, Any]) -> None:
    from gpuslice.output import write_file_atomic

    doc = json.loads(json.dumps(results, default=str))
    for c in doc["cases"]:
        for p in [*c.get("processes", []), *(q for r in c.get("repeats", []) for q in r)]:
            p.pop("info", None)
    write_file_atomic(path, json.dumps(doc, indent=1) + "\n")


def _pools_for(
    strategy: str, todo: list[tuple[str, int]], external: bool = False
) -> list[tuple[int | None, int, list[tuple[str, int]]]]:
    """(cap replicas or None, pool size, cases) per daemon/pool the strategy needs."""
    if not todo:
        return []
    if strategy == "mps" and not external:
        ns = sorted({n for _, n in todo})
        return [(n, n, [(w, m) for (w, m) in todo if m == n]) for n in ns]
    return [(None, max(n for _, n in todo), todo)]


def _run_strategy(
    cfg: BenchConfig,
    strategy: str,
    todo: list[tuple[str, int]],
    gpu: dict[str, Any],
    results: dict[str, Any],
    work_dir: Path,
    telemetry: Any,
    emit: Progress,
    baselines: set[tuple[str, str, int]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"status": "ok", "note": None}
    failures: list[str] = []
    done = 0
    external = strategy == "mps" and cfg.mps_pipe_dir is not None
    for cap, size, cases in _pools_for(strategy, todo, external):
        tag = strategy if cap is None else f"{strategy}-{cap}"
        env = _base_env(cfg)
        daemon: MpsDaemon | None = None
        limits: MpsLimits | None = None
        mps_info: dict[str, Any] | None = None
        pool_done = 0
        try:
            if external:
                assert cfg.mps_pipe_dir is not None
                mps_info = read_daemon_limits(cfg.mps_pipe_dir, cfg.device)
                env["CUDA_MPS_PIPE_DIRECTORY"] = cfg.mps_pipe_dir
                env.pop("CUDA_MPS_LOG_DIRECTORY", None)
                emit("mps-start", {"tag": f"{tag} (external daemon)", "limits": mps_info})
            elif strategy == "time-slicing":
                empty = work_dir / "no-mps"
                empty.mkdir(exist_ok=True)
                env["CUDA_MPS_PIPE_DIRECTORY"] = str(empty)
                env.pop("CUDA_MPS_LOG_DIRECTORY", None)
            else:
                if cap is not None:
                    limits = MpsLimits(
                        replicas=cap, total_memory_mib=int(gpu.get("memoryMiB") or 0), device_index=cfg.device
                    )
                daemon = MpsDaemon(limits)
                emit("mps-start", {"tag": tag, "limits": limits.to_dict() if limits else None})
                daemon.start()
                env.update(daemon.env)
            emit("pool-start", {"tag": tag, "size": size})
            pool_done = 0
            with WorkerPool(size, cfg, env, work_dir, tag) as pool:
                info = pool.ready[0].get("info", {})
                for w, n in cases:
                    case_id = f"{strategy}/{w}/n{n}"
                    emit("case-start", {"case": case_id})
                    runs: list[tuple[list[dict[str, Any]], Any]] = []
                    for r in range(cfg.repeats):
                        if telemetry is not None:
                            telemetry.start()
                        rid = case_id if cfg.repeats == 1 else f"{case_id}#{r + 1}"
                        procs = pool.run_case(rid, roles(w, n), cfg.window_s)
                        tel = telemetry.stop() if telemetry is not None else None
                        for p in procs:
                            p.pop("event", None)
                            p.pop("case", None)
                            p["info"] = info
                        runs.append((procs, tel))
                    mid = median_run(w, [r for r, _ in runs])
                    case: dict[str, Any] = {
                        "strategy": strategy,
                        "workload": w,
                        "n": n,
                        "status": "ok",
                        "processes": runs[mid][0],
                        "telemetry": runs[mid][1],
                        "mps": mps_info if external else (limits.to_dict() if limits else None),
                    }
                    if cfg.repeats > 1:
                        case["repeats"] = [r for r, _ in runs]
                    if baselines and (strategy, w, n) in baselines:
                        case["baseline"] = True
                    results["cases"].append(case)
                    done += 1
                    pool_done += 1
                    emit("case-done", {"case": case_id, "record": case})
        except MpsUnavailable as e:
            status = {"status": "skipped", "note": f"MPS unavailable: {e}"}
            results["notes"].append(f"{strategy}: skipped — MPS unavailable: {e}")
            emit("skip", {"strategy": strategy, "reason": str(e), "cases": len(todo) - done})
            break
        except BenchError as e:
            failures.append(f"{tag}: {e}")
            results["notes"].append(f"{strategy} ({tag}): failed — {e}")
            emit("fail", {"strategy": strategy, "reason": str(e), "cases": len(cases) - pool_done})
            # Carry on with the next daemon/pool of this strategy: a crashed MPS client does not say
            # anything about the next N.
        finally:
            if daemon is not None:
                daemon.stop()
    if failures and status["status"] == "ok":
        status = {"status": "partial" if done else "failed", "note": "; ".join(failures)}
    return status


__all__ = ["STRATEGIES", "WORKLOADS", "BenchConfig", "BenchError", "case_plan", "roles", "run_bench"]
