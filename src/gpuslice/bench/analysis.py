"""Metrics from raw per-process records: pure functions, no GPU, no I/O.

Definitions (also in docs/bench.md):

* **solo** (exclusive) throughput of a workload: its one process alone on the GPU under time-slicing (the
  default compute mode) — ``time-slicing/<workload>/n1``. Without such a case, the first N=1 case measured.
* **normalised throughput** of a process: its throughput over the solo throughput of what it runs.
* **efficiency** of a case: the sum of normalised throughputs. For N copies of one workload this is
  aggregate / exclusive; 1.0 means sharing lost nothing, more than 1.0 means it found idle capacity.
* **aggregate**: the sum of throughputs in the workload's unit (for ``mixed``: of the compute tenants).
* **Jain's fairness index** over the normalised throughputs: (Σr)² / (N·Σr²), from 1/N to 1.
* **latency** of a case (where a tenant runs the latency workload): median of the tenants' p50, worst of
  their p99 and p99.9; **inflation** = that over the solo latency.
* **repeats**: a case measured several times reports the median of each metric over its repeats, and
  ``spread`` (median, min, max, values) for efficiency, aggregate and p99; the solo baseline is the median
  repeat of its case. Baselines imported from another run (``baselines``: results of a run whose GPU could
  still time-slice, for a run through an external MPS daemon) stand in where this run has none.
"""

from __future__ import annotations

import copy
import math
import statistics
from typing import Any

UNITS = {"compute": "TFLOP/s", "latency": "steps/s", "memory": "GB/s"}


def jain(xs: list[float]) -> float | None:
    """Jain's fairness index; None for an empty list or all zeros."""
    if not xs:
        return None
    sq = math.fsum(x * x for x in xs)
    if sq == 0:
        return None
    return math.fsum(xs) ** 2 / (len(xs) * sq)


def ok_cases(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in results.get("cases", []) if c.get("status") == "ok" and c.get("processes")]


def find_case(results: dict[str, Any], strategy: str, workload: str, n: int) -> dict[str, Any] | None:
    for c in ok_cases(results):
        if c["strategy"] == strategy and c["workload"] == workload and c["n"] == n:
            return c
    return None


def _median_record(case: dict[str, Any]) -> dict[str, Any]:
    """The solo process record of a case; with repeats, throughput and latency are the medians over them."""
    rec = dict(case["processes"][0])
    reps = [r[0] for r in case.get("repeats") or [] if r]
    if len(reps) > 1:
        rec["throughput"] = statistics.median(float(p["throughput"]) for p in reps)
        lats = [p["latencyMs"] for p in reps if p.get("latencyMs")]
        if rec.get("latencyMs") and len(lats) == len(reps):
            rec["latencyMs"] = {
                **rec["latencyMs"],
                **{k: statistics.median(x[k] for x in lats) for k in ("p50", "p99", "p999")},
            }
        rec["repeats"] = len(reps)
    return rec


def solo_baselines(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per basic workload (compute, latency, memory): the solo process record used as the exclusive baseline."""
    base: dict[str, dict[str, Any]] = {}
    imported = results.get("baselines") or {}
    for w in UNITS:
        c = find_case(results, "time-slicing", w, 1)
        if c is None and w in imported:
            base[w] = {**imported[w], "fromStrategy": imported[w].get("fromStrategy", "imported")}
            continue
        if c is None:
            c = next((x for x in ok_cases(results) if x["workload"] == w and x["n"] == 1), None)
        if c is not None:
            rec = _median_record(c)
            rec["fromStrategy"] = c["strategy"]
            base[w] = rec
    return base


def _spread(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def case_metrics(case: dict[str, Any], base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Metrics of the case's median repeat, with efficiency/aggregate/p99 the medians over all repeats."""
    m = _one_run_metrics(case, case["processes"], base)
    reps = [r for r in case.get("repeats") or [] if r]
    if len(reps) < 2:
        return m
    runs = [_one_run_metrics(case, r, base) for r in reps]
    spread: dict[str, Any] = {}
    for key in ("efficiency", "aggregate"):
        vals = [x[key] for x in runs if x.get(key) is not None]
        if len(vals) == len(runs):
            spread[key] = _spread(vals)
            m[key] = spread[key]["median"]
    p99s = [x["latency"]["p99"] for x in runs if x.get("latency")]
    if m.get("latency") and len(p99s) == len(runs):
        spread["p99"] = _spread(p99s)
        m["latency"]["p99"] = spread["p99"]["median"]
        solo_lat = (base.get("latency") or {}).get("latencyMs")
        if solo_lat and solo_lat.get("p99"):
            m["latency"]["inflationP99"] = m["latency"]["p99"] / solo_lat["p99"]
    if spread:
        m["spread"] = spread
    return m


def _one_run_metrics(
    case: dict[str, Any], procs: list[dict[str, Any]], base: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    w = case["workload"]
    main_role = "compute" if w == "mixed" else w
    normalised: list[float] = []
    for p in procs:
        solo = base.get(p["role"])
        if solo and solo.get("throughput"):
            normalised.append(p["throughput"] / solo["throughput"])
    complete = len(normalised) == len(procs)
    agg = math.fsum(p["throughput"] for p in procs if p["role"] == main_role)
    m: dict[str, Any] = {
        "unit": UNITS.get(main_role),
        "aggregate": agg,
        "perProcess": [p["throughput"] for p in procs],
        "normalised": normalised if complete else None,
        "efficiency": math.fsum(normalised) if complete else None,
        "jain": jain(normalised) if complete else None,
        "minShare": min(normalised) if complete and normalised else None,
        "startSkewMsMax": max(abs(p.get("startSkewMs", 0.0)) for p in procs),
    }
    solo_main = base.get(main_role)
    if solo_main and solo_main.get("throughput"):
        m["exclusive"] = solo_main["throughput"]
        m["aggregateOverExclusive"] = agg / solo_main["throughput"]
    lat = [p["latencyMs"] for p in procs if p["role"] == "latency" and p.get("latencyMs")]
    if lat:
        lm: dict[str, Any] = {
            "p50": statistics.median(x["p50"] for x in lat),
            "p99": max(x["p99"] for x in lat),
            "p999": max(x["p999"] for x in lat),
            "tenants": len(lat),
        }
        solo_lat = (base.get("latency") or {}).get("latencyMs")
        if solo_lat:
            lm["inflationP50"] = lm["p50"] / solo_lat["p50"] if solo_lat["p50"] else None
            lm["inflationP99"] = lm["p99"] / solo_lat["p99"] if solo_lat["p99"] else None
        if w == "mixed":
            lt = next(p for p in procs if p["role"] == "latency")
            solo = base.get("latency")
            lm["latencyTenantShare"] = lt["throughput"] / solo["throughput"] if solo and solo["throughput"] else None
        m["latency"] = lm
    return m


def analyze(results: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``results`` with ``metrics`` on every successful case and a ``summary`` section."""
    out = copy.deepcopy(results)
    base = solo_baselines(out)
    for c in ok_cases(out):
        c["metrics"] = case_metrics(c, base)
    out["summary"] = summary(out, base)
    return out


def best_per_workload(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each workload: the measured case with the highest efficiency (any strategy, any N)."""
    best: dict[str, dict[str, Any]] = {}
    for c in ok_cases(results):
        m = c.get("metrics") or {}
        e = m.get("efficiency")
        if e is None:
            continue
        cur = best.get(c["workload"])
        if cur is None or e > cur["metrics"]["efficiency"]:
            best[c["workload"]] = c
    return best


def summary(results: dict[str, Any], base: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    base = base if base is not None else solo_baselines(results)
    best = best_per_workload(results)
    return {
        "solo": {
            w: {
                "throughput": r["throughput"],
                "unit": r.get("unit", UNITS[w]),
                **({"latencyMs": {k: r["latencyMs"][k] for k in ("p50", "p99", "p999")}} if r.get("latencyMs") else {}),
            }
            for w, r in base.items()
        },
        "best": {
            w: {"strategy": c["strategy"], "n": c["n"], "efficiency": c["metrics"]["efficiency"]}
            for w, c in best.items()
        },
        "cases": len(results.get("cases", [])),
        "okCases": len(ok_cases(results)),
    }


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per successful case, in a stable order (workload, strategy, n)."""
    order_w = {w: i for i, w in enumerate(("compute", "latency", "memory", "mixed"))}
    order_s = {s: i for i, s in enumerate(("time-slicing", "mps", "mps-uncapped"))}
    rows = []
    for c in ok_cases(results):
        m = c.get("metrics") or {}
        lat = m.get("latency") or {}
        rows.append(
            {
                "workload": c["workload"],
                "strategy": c["strategy"],
                "n": c["n"],
                "unit": m.get("unit"),
                "aggregate": m.get("aggregate"),
                "efficiency": m.get("efficiency"),
                "effRange": (
                    [m["spread"]["efficiency"]["min"], m["spread"]["efficiency"]["max"]]
                    if "efficiency" in (m.get("spread") or {})
                    else None
                ),
                "jain": m.get("jain"),
                "minShare": m.get("minShare"),
                "p50": lat.get("p50"),
                "p99": lat.get("p99"),
                "inflationP99": lat.get("inflationP99"),
            }
        )
    rows.sort(key=lambda r: (order_w.get(r["workload"], 9), order_s.get(r["strategy"], 9), r["n"]))
    return rows
