"""The Markdown report of a bench run: what ran where, the headline table, notes."""

from __future__ import annotations

from typing import Any

from gpuslice.bench.analysis import best_per_workload, table_rows

WORKLOAD_TEXT = {
    "compute": "compute-bound (large bf16 GEMM)",
    "latency": "latency-sensitive (small kernels, sync every step)",
    "memory": "memory-bound (large device-to-device copy)",
    "mixed": "mixed (1 latency tenant + N-1 compute tenants)",
}


def _x(x: Any, digits: int = 2) -> str:
    """A ratio with its × sign, or a dash."""
    return "–" if x is None else f"{_f(x, digits)}×"


def _f(x: Any, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.0f}"
        return f"{x:.{digits}f}"
    return str(x)


def _range(r: Any) -> str:
    """`` (min–max)`` over repeats, when the case was repeated."""
    return f" ({_f(r[0])}–{_f(r[1])})" if r else ""


def headline_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per workload and N: time-slicing vs MPS (capped) side by side — the table the README shows."""
    rows = table_rows(results)
    by: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["workload"], r["n"]), {})[r["strategy"]] = r
    out = []
    for (w, n), strat in by.items():
        if n == 1 and w != "mixed":
            continue
        ts = strat.get("time-slicing", {})
        mps = strat.get("mps", {})
        unc = strat.get("mps-uncapped", {})
        out.append(
            {
                "workload": w,
                "n": n,
                "tsEff": ts.get("efficiency"),
                "mpsEff": mps.get("efficiency"),
                "uncEff": unc.get("efficiency"),
                "tsJain": ts.get("jain"),
                "mpsJain": mps.get("jain"),
                "tsP99": ts.get("p99"),
                "mpsP99": mps.get("p99"),
                "tsInfl": ts.get("inflationP99"),
                "mpsInfl": mps.get("inflationP99"),
            }
        )
    return out


def headline_markdown(results: dict[str, Any]) -> str:
    """The headline table: efficiency (aggregate / exclusive), fairness and latency p99, TS vs MPS."""
    lines = [
        "| workload | N | time-slicing: aggregate / exclusive | MPS (device-plugin caps) | MPS uncapped "
        "| Jain TS / MPS | p99 latency ms TS / MPS (× solo) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in headline_rows(results):
        lat = "–"
        if r["tsP99"] is not None or r["mpsP99"] is not None:
            lat = f"{_f(r['tsP99'])} ({_x(r['tsInfl'], 1)}) / {_f(r['mpsP99'])} ({_x(r['mpsInfl'], 1)})"
        lines.append(
            f"| {r['workload']} | {r['n']} | {_x(r['tsEff'])} | {_x(r['mpsEff'])} | {_x(r['uncEff'])} "
            f"| {_f(r['tsJain'])} / {_f(r['mpsJain'])} | {lat} |"
        )
    return "\n".join(lines) + "\n"


def report_markdown(results: dict[str, Any], plots: list[str] | None = None) -> str:
    gpu = results.get("gpu", {})
    cfg = results.get("config", {})
    host = results.get("host", {})
    worker = host.get("worker") or {}
    out: list[str] = []
    out.append(f"# GPU sharing benchmark: {gpu.get('name', 'unknown GPU')}\n")
    facts = [
        ("date", results.get("createdAt")),
        ("GPU", f"{gpu.get('name')} ({_f(gpu.get('memoryMiB'))} MiB)"),
        ("driver", f"{gpu.get('driverVersion', '–')} (CUDA {gpu.get('cudaDriverVersion', '–')})"),
        ("compute mode / MIG", f"{gpu.get('computeMode', '–')} / {gpu.get('migMode', '–')}"),
        (
            "backend",
            f"{cfg.get('backend')}"
            + (
                f" (torch {worker.get('torch')}, CUDA {worker.get('cuda')}, {worker.get('smCount')} SMs)"
                if worker.get("torch")
                else ""
            ),
        ),
        ("window", f"{cfg.get('windowS')} s per case, N = {', '.join(map(str, cfg.get('nValues', [])))}"),
        ("duration", f"{results.get('durationS', '–')} s"),
        ("command", f"`{results.get('command')}`" if results.get("command") else "–"),
    ]
    out.append("| | |\n|---|---|")
    out.extend(f"| {k} | {v} |" for k, v in facts)
    out.append("")
    solo = (results.get("summary") or {}).get("solo", {})
    if solo:
        out.append("## Exclusive baselines (one process alone, default compute mode)\n")
        out.append("| workload | throughput | p50 / p99 latency |\n|---|---:|---:|")
        for w, s in solo.items():
            lat = s.get("latencyMs")
            lat_txt = f"{_f(lat['p50'], 3)} / {_f(lat['p99'], 3)} ms" if lat else "–"
            out.append(f"| {WORKLOAD_TEXT.get(w, w)} | {_f(s['throughput'])} {s['unit']} | {lat_txt} |")
        out.append("")
    out.append("## Time-slicing vs MPS\n")
    out.append(
        "Efficiency = sum over tenants of (throughput / exclusive throughput of what it runs): 1.00× means "
        "sharing lost nothing, above 1 it found idle capacity. MPS is capped as the device plugin does "
        "for `replicas: N` (100/N % SMs, memory/N); *uncapped* is shown for comparison only.\n"
    )
    out.append(headline_markdown(results))
    best = best_per_workload(results)
    if best:
        out.append(
            "Best measured configuration per workload: "
            + "; ".join(f"{w}: {c['strategy']} N={c['n']} ({_f(c['metrics']['efficiency'])}×)" for w, c in best.items())
            + ".\n"
        )
    out.append("## All cases\n")
    out.append(
        "| workload | strategy | N | aggregate | unit | efficiency | Jain | slowest tenant share "
        "| p50 ms | p99 ms | p99 × solo |"
    )
    out.append("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in table_rows(results):
        out.append(
            f"| {r['workload']} | {r['strategy']} | {r['n']} | {_f(r['aggregate'])} | {r['unit'] or '–'} "
            f"| {_f(r['efficiency'])}{_range(r.get('effRange'))} | {_f(r['jain'])} | {_f(r['minShare'])} "
            f"| {_f(r['p50'], 3)} "
            f"| {_f(r['p99'], 3)} | {_f(r['inflationP99'], 1)} |"
        )
    out.append("")
    strat = results.get("strategies", {})
    if strat:
        out.append("## Strategies\n")
        for s, st in strat.items():
            note = f": {st['note']}" if st.get("note") else ""
            out.append(f"- {s}: {st.get('status')}{note}")
        out.append("")
    notes = results.get("notes") or []
    if notes:
        out.append("## Notes\n")
        out.extend(f"- {n}" for n in notes)
        out.append("")
    if plots:
        out.append("## Plots\n")
        out.extend(f"![{p}]({p})" for p in plots)
        out.append("")
    return "\n".join(out)
