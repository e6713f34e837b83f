"""PNG plots of a bench run (matplotlib, imported here only, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuslice.bench.analysis import table_rows
from gpuslice.errors import GpusliceError

STYLE: dict[str, dict[str, Any]] = {
    "time-slicing": {"color": "#d62728", "marker": "o", "label": "time-slicing"},
    "mps": {"color": "#1f77b4", "marker": "s", "label": "MPS (device-plugin caps)"},
    "mps-uncapped": {"color": "#7f7f7f", "marker": "^", "label": "MPS uncapped", "linestyle": "--"},
}
THROUGHPUT_PNG = "throughput_vs_n.png"
LATENCY_PNG = "latency_vs_n.png"


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise GpusliceError("plots need matplotlib: pip install 'gpuslice[bench]'") from e
    return plt


def _series(results: dict[str, Any], workload: str, key: str) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in table_rows(results):
        if r["workload"] != workload or r[key] is None:
            continue
        xs, ys = out.setdefault(r["strategy"], ([], []))
        xs.append(r["n"])
        ys.append(r[key])
    return out


def write_plots(results: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Write the throughput and latency plots into ``out_dir``; returns the file names written."""
    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gpu = results.get("gpu", {}).get("name", "GPU")
    written: list[str] = []
    workloads = [
        w for w in ("compute", "latency", "memory", "mixed") if any(r["workload"] == w for r in table_rows(results))
    ]
    if not workloads:
        return written

    fig, axes = plt.subplots(1, len(workloads), figsize=(4.2 * len(workloads), 3.8), squeeze=False)
    for ax, w in zip(axes[0], workloads, strict=True):
        values: list[float] = []
        for s, (xs, ys) in _series(results, w, "efficiency").items():
            st = STYLE.get(s, {"label": s})
            ax.plot(xs, ys, **st)
            values.extend(ys)
        ax.axhline(1.0, color="black", linewidth=0.8, alpha=0.5)
        # Keep at least 0.8-1.1 in view so a few per cent do not look like a cliff.
        if values:
            ax.set_ylim(min(0.8, min(values) * 0.95), max(1.1, max(values) * 1.05))
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16, 32])
        ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.set_xlim(0.8, max(max(results["config"]["nValues"]), 2) * 1.25)
        ax.set_title(w)
        ax.set_xlabel("sharers N")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("aggregate / exclusive")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{gpu}: aggregate throughput vs sharers")
    fig.tight_layout()
    fig.savefig(out / THROUGHPUT_PNG, dpi=110)
    plt.close(fig)
    written.append(THROUGHPUT_PNG)

    lat_w = [w for w in ("latency", "mixed") if w in workloads]
    if lat_w:
        fig, axes = plt.subplots(1, len(lat_w), figsize=(5.0 * len(lat_w), 3.8), squeeze=False)
        for ax, w in zip(axes[0], lat_w, strict=True):
            for s, (xs, ys) in _series(results, w, "p99").items():
                st = STYLE.get(s, {"label": s})
                ax.plot(xs, ys, **st)
            for s, (xs, ys) in _series(results, w, "p50").items():
                faint: dict[str, Any] = dict(STYLE.get(s, {}))
                faint.update({"label": None, "alpha": 0.45, "linestyle": ":"})
                ax.plot(xs, ys, **faint)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks([1, 2, 4, 8, 16, 32])
            ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
            ax.set_xlim(0.8, max(max(results["config"]["nValues"]), 2) * 1.25)
            ax.set_title(f"{w}: step latency p99 (solid), p50 (dotted)")
            ax.set_xlabel("sharers N")
            ax.set_ylabel("ms per step")
            ax.grid(alpha=0.3, which="both")
        axes[0][0].legend(fontsize=8)
        fig.suptitle(f"{gpu}: latency-sensitive tenant vs sharers")
        fig.tight_layout()
        fig.savefig(out / LATENCY_PNG, dpi=110)
        plt.close(fig)
        written.append(LATENCY_PNG)
    return written
