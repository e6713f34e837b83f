"""Doctor rules from ``gpuslice top`` agent reports: who over-uses or idles a shared GPU.

Reports come from the live agents (doctor on a cluster) or from ``gpuslice-top.json`` in a dump
(``gpuslice snapshot`` writes it when agents run; ``gpuslice top -o json > DIR/gpuslice-top.json`` adds it to a
``kubectl cluster-info dump``). Without reports these rules say nothing: the agents are optional.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster.doctor.context import DoctorContext
from gpuslice.findings import Finding
from gpuslice.top.findings import findings_from_reports


def check(ctx: DoctorContext) -> Iterable[Finding]:
    return findings_from_reports(ctx.view.top_reports)
