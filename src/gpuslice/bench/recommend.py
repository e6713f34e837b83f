"""Recommend a sharing strategy and replica count per pool from measured bench results.

The rules, in order (docs/bench.md explains them with the H200 numbers):

1. **Profile.** Which measured workloads stand for the pool's tenants: ``--workload`` if given; else
   ``latency`` and ``mixed`` when the pool states ``sharing.latencyBudgetMs`` (latency-sensitive tenants, alone
   or beside busy neighbours); else every measured workload (we know nothing about the tenants, so the choice
   must hold for all of them).
2. **Candidates.** ``none`` (one tenant per GPU: efficiency 1.0 by definition) and every measured
   time-slicing or MPS (device-plugin caps) configuration with N >= 2. Uncapped MPS is reported but never
   recommended: the device plugin always caps clients.
3. **Hard limits.** Memory: N tenants of ``tenant_memory_gib`` must fit the pool's GPU memory (for MPS the
   plugin enforces memory/N per client). MPS: at most the GPU's client limit. Latency: the worst tenant's p99
   must stay within the pool's budget.
4. **Throughput floor.** A configuration whose efficiency (aggregate / exclusive) for a workload of the profile
   is below ``floor`` (0.9) × the best measured one for that workload is only chosen when every better one is
   ruled out by a hard limit, and the reason is then spelled out.
5. **Gain.** Sharing is recommended only where it pays: some workload of the profile must reach
   ``min_gain`` (1.1) × exclusive. Otherwise ``none`` (sharing would only split the GPU into 1/N slices).
6. Among what is left: the most replicas, then the highest efficiency.

MIG is named (never chosen: it is not measured, and gpuslice leaves MIG settings alone) when the catalog
lists MIG profiles for the GPU and a profile holds a tenant with 20 % headroom.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from gpuslice.bench.analysis import UNITS, best_per_workload, find_case, ok_cases, solo_baselines
from gpuslice.errors import GpusliceError
from gpuslice.findings import Finding, Severity

RECOMMENDABLE = ("time-slicing", "mps")
LATENCY_WORKLOADS = ("latency", "mixed")
LABEL = {"none": "no sharing", "time-slicing": "time-slicing", "mps": "MPS", "mps-uncapped": "uncapped MPS"}
MIG_HEADROOM = 1.2
DEFAULT_FLOOR = 0.9
DEFAULT_MIN_GAIN = 1.1


@dataclass
class Candidate:
    strategy: str
    n: int
    eff: dict[str, float | None]  # per workload of the profile
    p99: dict[str, float | None]  # worst tenant p99 (ms) per latency workload of the profile
    min_share: dict[str, float | None]
    hard: list[str] = field(default_factory=list)  # hard-limit failures
    below_floor: list[str] = field(default_factory=list)  # workloads under floor x best
    measured: set[str] = field(default_factory=set)  # workloads with a case for this configuration
    unjudged: list[str] = field(default_factory=list)  # measured, but no efficiency (solo baseline missing)
    eff_range: dict[str, tuple[float, float] | None] = field(default_factory=dict)  # min/max over repeats

    @property
    def key(self) -> str:
        return "none" if self.strategy == "none" else f"{self.strategy} x{self.n}"

    def label(self) -> str:
        return LABEL["none"] if self.strategy == "none" else f"{LABEL[self.strategy]} with {self.n} sharers"

    def max_eff(self) -> float:
        return max((e for e in self.eff.values() if e is not None), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "replicas": self.n,
            "efficiency": self.eff,
            "p99Ms": self.p99,
            "minShare": self.min_share,
            "hardLimits": self.hard,
            "belowFloor": self.below_floor,
            "efficiencyRange": {w: list(r) for w, r in self.eff_range.items() if r is not None},
            "unjudged": self.unjudged,
        }


@dataclass
class Recommendation:
    pool: str | None
    gpu: str | None
    bench_gpu: str
    profile: tuple[str, ...]
    strategy: str
    replicas: int
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)
    mig: str | None = None
    current_strategy: str | None = None
    current_replicas: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    best: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        if self.current_strategy is None:
            return False
        cur_rep = self.current_replicas if self.current_strategy != "none" else 1
        return (self.current_strategy, cur_rep) != (self.strategy, self.replicas)

    def headline(self) -> str:
        what = "none (one tenant per GPU)" if self.strategy == "none" else f"{self.strategy}, replicas {self.replicas}"
        return what

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "gpu": self.gpu,
            "benchGpu": self.bench_gpu,
            "profile": list(self.profile),
            "strategy": self.strategy,
            "replicas": self.replicas,
            "current": None
            if self.current_strategy is None
            else {"strategy": self.current_strategy, "replicas": self.current_replicas},
            "changed": self.changed,
            "mig": self.mig,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "best": self.best,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def same_gpu(model_id: str | None, bench_name: str) -> bool | None:
    """Whether a catalog GPU model id (e.g. ``H100``) names the benchmarked GPU; None when unknown."""
    if not model_id or not bench_name:
        return None
    return _norm(model_id) in _norm(bench_name)


def catalog_gpu_for(bench_name: str) -> Any | None:
    """The catalog GPU model whose id appears in the NVML name (longest match), or None."""
    from gpuslice.catalog import load_catalog

    cat = load_catalog()
    hits = [m for m in cat.gpu_models.values() if _norm(m.id) and _norm(m.id) in _norm(bench_name)]
    return max(hits, key=lambda m: len(m.id)) if hits else None


_MIG_RE = re.compile(r"^(\d+)g\.(\d+)gb$")


def mig_option(profiles: tuple[str, ...] | list[str], gpu_memory_gib: float, tenant_gib: float) -> str | None:
    """The smallest MIG profile that holds a tenant with headroom, and about how many fit ("7 x 1g.18gb")."""
    parsed = [(int(m.group(1)), int(m.group(2)), p) for p in profiles if (m := _MIG_RE.match(p))]
    if not parsed:
        return None
    slices = max(g for g, _, _ in parsed)
    fitting = sorted((mem, g, p) for g, mem, p in parsed if mem >= tenant_gib * MIG_HEADROOM)
    for mem, g, p in fitting:
        count = min(slices // g, round(gpu_memory_gib / mem)) if mem else 0
        if count >= 2:
            return f"{count} x {p}"
    return None


def _fmt(x: float | None, d: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{d}f}"


def _profile(requested: tuple[str, ...] | None, budget: float | None, available: set[str]) -> tuple[str, ...]:
    order = ("compute", "latency", "memory", "mixed")
    if requested:
        prof = tuple(w for w in order if w in requested)
    elif budget is not None:
        prof = tuple(w for w in LATENCY_WORKLOADS if w in available)
    else:
        prof = tuple(w for w in order if w in available)
    return prof


def _unmeasured(results: dict[str, Any], profile: tuple[str, ...]) -> list[str]:
    """Say which recommendable strategy the results cannot speak for, and why (skipped, failed, not asked)."""
    asked = (results.get("config") or {}).get("strategies") or []
    status = results.get("strategies") or {}
    out: list[str] = []
    for s in RECOMMENDABLE:
        info = status.get(s) or {}
        note = info.get("note") or "no reason recorded"
        measured = any(c["strategy"] == s and c["workload"] in profile and c["n"] >= 2 for c in ok_cases(results))
        if measured:
            if info.get("status") in ("partial", "failed"):
                out.append(
                    f"{LABEL[s]} was only partly measured ({note}); configurations that failed were not considered."
                )
            continue
        if s not in asked:
            why = "not requested with --strategies"
        elif info.get("status") in ("skipped", "failed"):
            why = f"{info['status']}: {note}"
        else:
            why = "no successful case with 2 or more sharers for these workloads"
        hint = (
            " MPS often pays for small-kernel, latency-sensitive tenants: re-run the bench where the MPS control "
            "daemon can start (nvidia-cuda-mps-control on PATH; in a pod, hostIPC) before ruling it out."
            if s == "mps"
            else ""
        )
        out.append(f"{LABEL[s]} was not measured ({why}), so it was not considered.{hint}")
    return out


@dataclass(frozen=True)
class PoolTarget:
    """What recommend knows about the pool it recommends for (all optional: a bare GPU when nothing is known)."""

    pool: str | None = None
    gpu: str | None = None
    gpu_memory_gib: float | None = None
    tenant_memory_gib: float = 4.0
    latency_budget_ms: float | None = None
    workloads: tuple[str, ...] | None = None
    mps_max_clients: int = 48
    mig_profiles: tuple[str, ...] = ()
    current: tuple[str, int] | None = None


@dataclass(frozen=True)
class Thresholds:
    floor: float = DEFAULT_FLOOR
    min_gain: float = DEFAULT_MIN_GAIN


def recommend_one(
    results: dict[str, Any], target: PoolTarget | None = None, thresholds: Thresholds | None = None
) -> Recommendation:
    """The recommendation for one pool (or for the benchmarked GPU when ``target.pool`` is None)."""
    t = target or PoolTarget()
    th = thresholds or Thresholds()
    profile = _checked_profile(results, t)
    if t.gpu_memory_gib is None:
        mib = results.get("gpu", {}).get("memoryMiB")
        t = replace(t, gpu_memory_gib=mib / 1024 if mib else None)
    base = solo_baselines(results)
    solo_p99 = ((base.get("latency") or {}).get("latencyMs") or {}).get("p99")
    best = _best_measured(results, profile)
    cands = _candidates(results, profile, solo_p99)
    for c in cands:
        _apply_limits(c, profile, t, best, th)
    choice = _choose(cands, profile, best, th)
    reasons = _workload_reasons(choice.chosen, profile, base, best, solo_p99)
    warnings: list[str] = []
    if choice.chosen.strategy == "none":
        reasons.extend(_why_none(choice, profile, best, th))
    else:
        reasons.extend(_why_sharing(choice, profile, t, th))
        warnings.append(_risk_warning(choice.chosen.strategy))
    reasons.extend(_why_below_floor(choice, cands, best, th))
    warnings.extend(_unmeasured(results, profile))
    warnings.extend(_unjudged(cands, profile, base))
    if t.latency_budget_ms is not None and solo_p99 is not None and solo_p99 > t.latency_budget_ms:
        warnings.append(
            f"Even alone, the latency tenant's p99 ({solo_p99:.3f} ms) exceeds the {t.latency_budget_ms:g} ms budget."
        )
    return Recommendation(
        pool=t.pool,
        gpu=t.gpu,
        bench_gpu=str(results.get("gpu", {}).get("name", "unknown GPU")),
        profile=profile,
        strategy=choice.chosen.strategy,
        replicas=choice.chosen.n,
        reasons=reasons,
        warnings=warnings,
        mig=_mig_note(t),
        current_strategy=t.current[0] if t.current else None,
        current_replicas=t.current[1] if t.current else None,
        candidates=cands,
        best=best,
    )


def _checked_profile(results: dict[str, Any], t: PoolTarget) -> tuple[str, ...]:
    available = {c["workload"] for c in ok_cases(results)}
    missing = [w for w in (t.workloads or ()) if w not in available]
    if missing:
        raise GpusliceError(
            f"the results have no measurements for workload(s) {', '.join(missing)}; "
            f"measured: {', '.join(sorted(available)) or 'none'}"
        )
    profile = _profile(t.workloads, t.latency_budget_ms, available)
    if not profile:
        raise GpusliceError("the results hold no successful measurements to recommend from")
    return profile


def _best_measured(results: dict[str, Any], profile: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per workload: the most efficient measured configuration; one process alone counts as "none"."""
    best_cases = best_per_workload(results)
    best: dict[str, dict[str, Any]] = {}
    for w in profile:
        bcase = best_cases.get(w)
        if (
            bcase is None
            or bcase["metrics"]["efficiency"] < 1.0
            or (bcase["n"], bcase["strategy"]) == (1, "time-slicing")
        ):
            best[w] = {
                "strategy": "none",
                "n": 1,
                "efficiency": max(1.0, bcase["metrics"]["efficiency"] if bcase else 1.0),
            }
        else:
            best[w] = {"strategy": bcase["strategy"], "n": bcase["n"], "efficiency": bcase["metrics"]["efficiency"]}
    return best


def _candidates(results: dict[str, Any], profile: tuple[str, ...], solo_p99: float | None) -> list[Candidate]:
    """``none`` first, then every measured time-slicing / capped-MPS configuration with N >= 2."""
    cands = [
        Candidate(
            "none",
            1,
            dict.fromkeys(profile, 1.0),
            {w: solo_p99 for w in profile if w in LATENCY_WORKLOADS},
            dict.fromkeys(profile, 1.0),
        )
    ]
    ns = sorted({k["n"] for k in ok_cases(results) if k["n"] >= 2 and k["workload"] in profile})
    for s in RECOMMENDABLE:
        for n in ns:
            c = Candidate(s, n, {}, {}, {})
            for w in profile:
                case = find_case(results, s, w, n)
                m = (case or {}).get("metrics") or {}
                if case is not None:
                    c.measured.add(w)
                c.eff[w] = m.get("efficiency")
                c.min_share[w] = m.get("minShare")
                sp = (m.get("spread") or {}).get("efficiency")
                c.eff_range[w] = (sp["min"], sp["max"]) if sp else None
                if w in LATENCY_WORKLOADS:
                    c.p99[w] = (m.get("latency") or {}).get("p99")
            if c.measured:
                cands.append(c)
    return cands


def _apply_limits(c: Candidate, profile: tuple[str, ...], t: PoolTarget, best: dict[str, Any], th: Thresholds) -> None:
    """Hard limits (not measured, memory, MPS clients, latency budget) and the throughput floor."""
    for w in profile:
        if c.strategy != "none" and w not in c.measured:
            c.hard.append(f"not measured for the {w} workload")
        elif c.eff.get(w) is None:
            c.unjudged.append(w)
    if c.unjudged and len(c.unjudged) == len(profile):
        c.hard.append("no efficiency for any workload of the profile (solo baselines missing)")
    if c.strategy != "none":
        if t.gpu_memory_gib is not None and c.n * t.tenant_memory_gib > t.gpu_memory_gib:
            c.hard.append(
                f"{c.n} tenants x {t.tenant_memory_gib:g} GiB do not fit in {t.gpu_memory_gib:.0f} GiB of GPU memory"
            )
        if c.strategy == "mps" and c.n > t.mps_max_clients:
            c.hard.append(f"MPS serves at most {t.mps_max_clients} clients per GPU")
    if t.latency_budget_ms is not None:
        for w, v in c.p99.items():
            if v is not None and v > t.latency_budget_ms:
                c.hard.append(f"p99 step latency {v:.2f} ms ({w}) exceeds the {t.latency_budget_ms:g} ms budget")
    for w in profile:
        e = c.eff.get(w)
        if e is None:
            continue
        # With repeats, only below the floor when even the best repeat is: no verdict on noise.
        rng = c.eff_range.get(w)
        top = rng[1] if rng is not None else e
        if top < th.floor * best[w]["efficiency"]:
            c.below_floor.append(w)


@dataclass
class Choice:
    chosen: Candidate
    sharing: list[Candidate]
    hard_ok: list[Candidate]
    gains: list[Candidate]
    none: Candidate
    tie: Candidate | None = None  # the runner-up the chosen one is within noise of


def _within_noise(a: Candidate, b: Candidate, profile: tuple[str, ...]) -> bool:
    """Every workload's efficiency range (over repeats) of ``a`` overlaps ``b``'s; False without repeats."""
    for w in profile:
        ra, rb = a.eff_range.get(w), b.eff_range.get(w)
        if ra is None or rb is None:
            if a.eff.get(w) is None and b.eff.get(w) is None:
                continue
            return False
        if ra[1] < rb[0] or rb[1] < ra[0]:
            return False
    return True


def _choose(cands: list[Candidate], profile: tuple[str, ...], best: dict[str, Any], th: Thresholds) -> Choice:
    sharing = [c for c in cands if c.strategy != "none"]
    hard_ok = [c for c in sharing if not c.hard]
    gains = [c for c in hard_ok if c.max_eff() >= th.min_gain]
    clean = [c for c in gains if not c.below_floor]
    none = cands[0]
    choice = Choice(none, sharing, hard_ok, gains, none)
    if clean:
        top_n = max(c.n for c in clean)
        at_n = sorted(
            (c for c in clean if c.n == top_n), key=lambda c: sum(c.eff[w] or 0.0 for w in profile), reverse=True
        )
        choice.chosen = at_n[0]
        if len(at_n) > 1 and _within_noise(at_n[0], at_n[1], profile):
            # No pick on a difference within noise: prefer time-slicing (no daemon, not experimental).
            ts = (
                next(c for c in at_n[:2] if c.strategy == "time-slicing")
                if any(c.strategy == "time-slicing" for c in at_n[:2])
                else at_n[0]
            )
            choice.chosen = ts
            choice.tie = at_n[1] if ts is at_n[0] else at_n[0]
    elif gains and not none.below_floor:
        # Sharing pays somewhere but loses > (1 - floor) elsewhere, while one tenant per GPU does not.
        choice.chosen = none
    elif gains:

        def rank(c: Candidate) -> tuple[float, float]:
            return (min((c.eff[w] or 0.0) / best[w]["efficiency"] for w in profile), c.n)

        choice.chosen = max(gains, key=rank)
    return choice


def _workload_reasons(
    chosen: Candidate,
    profile: tuple[str, ...],
    base: dict[str, Any],
    best: dict[str, Any],
    solo_p99: float | None,
) -> list[str]:
    reasons = []
    for w in profile:
        sb = base.get("compute" if w == "mixed" else w)
        unit = UNITS["compute" if w == "mixed" else w]
        e = chosen.eff.get(w)
        b = best[w]
        line = f"{w}: {chosen.label()} gives {_fmt(e)}x the exclusive throughput"
        rng = chosen.eff_range.get(w)
        if rng is not None:
            line += f" ({rng[0]:.2f}-{rng[1]:.2f} over repeats)"
        if chosen.strategy != "none" and chosen.min_share.get(w) is not None:
            line += f" (slowest tenant {chosen.min_share[w]:.0%} of a whole GPU)"
        if sb and w != "mixed":
            line += f"; exclusive = {sb['throughput']:.4g} {unit}"
        p99 = chosen.p99.get(w)
        if p99 is not None:
            infl = f", {p99 / solo_p99:.1f}x solo" if solo_p99 else ""
            line += f"; p99 step latency {p99:.3f} ms{infl}"
        best_txt = (
            "it is the best measured"
            if (b["strategy"], b["n"]) == (chosen.strategy, chosen.n)
            else (
                f"best measured: {LABEL[b['strategy']]}"
                + (f" x{b['n']}" if b["strategy"] != "none" else "")
                + f" at {b['efficiency']:.2f}x"
            )
        )
        reasons.append(f"{line} ({best_txt}).")
    return reasons


def _why_none(choice: Choice, profile: tuple[str, ...], best: dict[str, Any], th: Thresholds) -> list[str]:
    if not choice.sharing:
        return ["No sharing configuration was measured for this profile."]
    if not choice.hard_ok and all(c.unjudged for c in choice.sharing):
        return [
            "No sharing configuration could be judged: "
            + "; ".join(sorted({h for c in choice.sharing for h in c.hard if "baselines" in h or "not measured" in h}))
            + "."
        ]
    if not choice.gains and choice.hard_ok:
        top = max(choice.hard_ok, key=lambda c: c.max_eff())
        return [
            f"Sharing adds no throughput here: the best allowed option ({top.label()}) reaches only "
            f"{top.max_eff():.2f}x exclusive (below the {th.min_gain:g}x gain that makes sharing pay), "
            f"so each of N tenants would just get about 1/N of the GPU."
        ]
    if choice.gains and not choice.none.below_floor:
        losers = sorted(choice.gains, key=lambda c: c.max_eff(), reverse=True)[0]
        lost = ", ".join(f"{w} {_fmt(losers.eff[w])}x vs best {best[w]['efficiency']:.2f}x" for w in losers.below_floor)
        return [
            f"{losers.label()} pays for some tenants ({losers.max_eff():.2f}x) but costs more than "
            f"{1 - th.floor:.0%} of the best measured throughput for others ({lost}); with tenants of "
            "unknown kind, one per GPU is the safe choice. Name the tenants with --workload to decide."
        ]
    return []


def _why_sharing(choice: Choice, profile: tuple[str, ...], t: PoolTarget, th: Thresholds) -> list[str]:
    chosen = choice.chosen
    reasons = []
    if choice.tie is not None:
        o = choice.tie
        reasons.append(
            f"{o.label()} is within measurement noise of it ("
            + ", ".join(
                f"{w} {ro[0]:.2f}-{ro[1]:.2f}x vs {rc[0]:.2f}-{rc[1]:.2f}x"
                for w in profile
                if (ro := o.eff_range.get(w)) is not None and (rc := chosen.eff_range.get(w)) is not None
            )
            + f"): the difference decides nothing, and {chosen.label()} needs "
            + ("no MPS control daemon." if chosen.strategy == "time-slicing" else "no more than the other.")
        )
    for o in (c for c in choice.sharing if c is not chosen and c.n == chosen.n and c is not choice.tie):
        why = (
            "; ".join(o.hard)
            if o.hard
            else (f"below {th.floor:g}x the best for {', '.join(o.below_floor)}" if o.below_floor else "")
        )
        effs = ", ".join(f"{w} {_fmt(o.eff[w])}x" for w in profile)
        p = [f"{w} p99 {v:.3f} ms" for w, v in o.p99.items() if v is not None]
        reasons.append(
            f"{o.label()} instead: {effs}" + (f"; {', '.join(p)}" if p else "") + (f" ({why})" if why else "") + "."
        )
    bigger = [k for k in choice.sharing if k.n > chosen.n and k.hard]
    if bigger:
        top_n = max(bigger, key=lambda k: (k.n, k.strategy == chosen.strategy))
        reasons.append(f"More replicas ({top_n.label()}) ruled out: {'; '.join(top_n.hard)}.")
    if t.gpu_memory_gib is not None:
        per = t.gpu_memory_gib / chosen.n
        reasons.append(
            f"Memory: {chosen.n} replicas share {t.gpu_memory_gib:.0f} GiB, about {per:.1f} GiB each "
            f"(tenants assumed to need {t.tenant_memory_gib:g} GiB)"
            + (
                "; the device plugin caps each MPS client at that."
                if chosen.strategy == "mps"
                else "; time-slicing does not enforce it: cap memory in the application."
            )
        )
    return reasons


def _risk_warning(strategy: str) -> str:
    if strategy == "mps":
        return (
            "MPS in the device plugin is marked experimental, and a fatal fault in one client ends "
            "every client on that GPU: share only between cooperating workloads."
        )
    return "Time-slicing isolates neither memory nor faults; keep failRequestsGreaterThanOne on."


def _why_below_floor(choice: Choice, cands: list[Candidate], best: dict[str, Any], th: Thresholds) -> list[str]:
    """Anything under the floor must say why."""
    chosen = choice.chosen
    out = []
    for w in chosen.below_floor:
        b = best[w]
        bc = next((c for c in cands if (c.strategy, c.n) == (b["strategy"], b["n"])), None)
        if b["strategy"] == "mps-uncapped":
            why = (
                "the best is uncapped MPS, which the device plugin never runs (it caps each client at "
                "100/N % of the SMs and memory/N)"
            )
            capped = next((c for c in cands if (c.strategy, c.n) == ("mps", b["n"])), None)
            if capped is not None and capped.hard:
                why += f"; capped MPS x{b['n']}: {'; '.join(capped.hard)}"
        elif bc is not None and bc.hard:
            why = f"{bc.label()} is ruled out: {'; '.join(bc.hard)}"
        elif bc is not None and bc.max_eff() < th.min_gain:
            why = f"{bc.label()} does not pay elsewhere in the profile"
        else:
            why = "it loses more for other workloads of the profile"
        within = [k for k in choice.sharing if not k.hard and w not in k.below_floor]
        if within:
            why += (
                f"; the allowed options within {th.floor:g}x for {w} ("
                + ", ".join(k.key for k in within)
                + ") fall further behind for "
                + ", ".join(sorted({x for k in within for x in k.below_floor}))
            )
        out.append(
            f"Below {th.floor:g}x the best measured for {w} ({_fmt(chosen.eff.get(w))}x vs "
            f"{b['efficiency']:.2f}x) because {why}."
        )
    return out


def _unjudged(cands: list[Candidate], profile: tuple[str, ...], base: dict[str, Any]) -> list[str]:
    """Workloads measured with sharers whose efficiency is unknown (no solo baseline): say what is missing."""
    out = []
    for w in profile:
        hit = [c for c in cands if w in c.unjudged and c.strategy != "none"]
        if not hit:
            continue
        need = [r for r in (("latency", "compute") if w == "mixed" else (w,)) if r not in base]
        p99 = ", ".join(f"{c.key} p99 {c.p99[w]:.3f} ms" for c in hit if c.p99.get(w) is not None)
        out.append(
            f"{w}: efficiency unknown — the results hold no solo (N=1) {' and '.join(need) or 'baseline'} case"
            + (f"; measured only {p99}" if p99 else "")
            + ". Re-run gpuslice bench (it measures the baselines the requested workloads need)."
        )
    return out


def _mig_note(t: PoolTarget) -> str | None:
    if not (t.mig_profiles and t.gpu_memory_gib):
        return None
    opt = mig_option(t.mig_profiles, t.gpu_memory_gib, t.tenant_memory_gib)
    if not opt:
        return None
    return (
        f"MIG: {opt} gives hardware-isolated memory, cache and bandwidth for tenants up to "
        f"{t.tenant_memory_gib:g} GiB; not measured here (gpuslice leaves MIG settings alone)."
    )


def recommend(
    results: dict[str, Any],
    resolved: Any | None = None,
    *,
    workloads: tuple[str, ...] | None = None,
    tenant_memory_gib: float | None = None,
    latency_budget_ms: float | None = None,
    floor: float = DEFAULT_FLOOR,
    min_gain: float = DEFAULT_MIN_GAIN,
) -> list[Recommendation]:
    """Per pool of ``resolved`` (a ResolvedSpec), or per measured workload when there is no spec."""
    bench_name = str(results.get("gpu", {}).get("name", ""))
    th = Thresholds(floor=floor, min_gain=min_gain)
    out: list[Recommendation] = []
    if resolved is None:
        model = catalog_gpu_for(bench_name)
        profiles = (
            [workloads]
            if workloads
            else [
                (w,)
                for w in ("compute", "latency", "memory", "mixed")
                if w in {c["workload"] for c in ok_cases(results)}
            ]
        )
        for prof in profiles:
            target = PoolTarget(
                gpu=model.id if model else None,
                tenant_memory_gib=tenant_memory_gib or 4.0,
                latency_budget_ms=latency_budget_ms,
                workloads=prof,
                mps_max_clients=model.mps_max_clients if model else 48,
                mig_profiles=tuple(model.mig_profiles) if model else (),
            )
            out.append(recommend_one(results, target, th))
        return out
    tenant = tenant_memory_gib if tenant_memory_gib is not None else resolved.spec.checks.memory_per_replica_floor_gib
    for p in resolved.pools:
        model = p.gpu.catalog_model
        target = PoolTarget(
            pool=p.name,
            gpu=p.gpu.model,
            gpu_memory_gib=p.gpu.memory_gib,
            tenant_memory_gib=tenant,
            latency_budget_ms=latency_budget_ms if latency_budget_ms is not None else p.spec.sharing.latency_budget_ms,
            workloads=workloads,
            mps_max_clients=model.mps_max_clients if model else 48,
            mig_profiles=tuple(model.mig_profiles) if model else (),
            current=(p.sharing.strategy, p.sharing.replicas),
        )
        rec = recommend_one(results, target, th)
        match = same_gpu(p.gpu.model, bench_name)
        if match is False:
            rec.warnings.insert(
                0,
                f"measured on {bench_name}, but this pool runs {p.gpu.model}: the numbers are "
                "indicative only; run the bench on this pool (gpuslice bench --render-job)",
            )
        elif match is None:
            rec.warnings.insert(
                0, "the pool's GPU model is unknown to the catalog; cannot tell whether the bench GPU matches"
            )
        out.append(rec)
    return out


def findings(recs: list[Recommendation]) -> list[Finding]:
    """The recommendations as findings (info when the spec already matches, warning when it differs)."""
    out = []
    for r in recs:
        fix = (
            "keep the current setting"
            if not r.changed
            else f"set nodePools[{r.pool}].sharing to strategy {r.strategy}"
            + (f", replicas {r.replicas}" if r.strategy != "none" else "")
            + " (gpuslice recommend --write)"
        )
        if r.pool is None:
            fix = (
                f"sharing: {{strategy: {r.strategy}"
                + (f", replicas: {r.replicas}" if r.strategy != "none" else "")
                + "}"
            )
        cur = (
            ""
            if r.current_strategy is None
            else (
                f" (spec: {r.current_strategy}"
                + (f" x{r.current_replicas}" if r.current_strategy != "none" else "")
                + ")"
            )
        )
        msg = f"[{'+'.join(r.profile)} tenants] recommend {r.headline()}{cur}"
        ev = tuple(r.reasons + r.warnings + ([r.mig] if r.mig else []))
        out.append(
            Finding(
                id="bench-recommend",
                severity=Severity.WARNING if r.changed else Severity.INFO,
                message=msg,
                fix=fix,
                pool=r.pool,
                evidence=ev,
                reference="docs/bench.md#how-recommend-decides",
            )
        )
    return out
