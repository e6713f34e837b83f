"""The text report of ``gpuslice check``: findings grouped by pool (cluster-wide first, then pools in spec order),
one rich table per group, each finding with where it points in the spec, what is wrong, the fix and a reference."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuslice.findings import Finding, Severity, sort_findings
from gpuslice.resolve import ResolvedSpec

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
CLUSTER = "(cluster)"


def group_findings(findings: Iterable[Finding], resolved: ResolvedSpec | None = None) -> dict[str, list[Finding]]:
    """Group key -> findings (errors first). Keys: CLUSTER, then pool names in spec order, then any others."""
    items = sort_findings(findings)
    order = [CLUSTER, *(p.name for p in resolved.pools)] if resolved else [CLUSTER]
    groups: dict[str, list[Finding]] = {k: [] for k in order}
    for f in items:
        groups.setdefault(f.pool or CLUSTER, []).append(f)
    for fs in groups.values():
        fs.sort(key=lambda f: (f.severity.rank, f.id, f.message))
    return {k: v for k, v in groups.items() if v}


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    items = list(findings)
    return {s.value: sum(1 for f in items if f.severity is s) for s in Severity}


def _where(f: Finding) -> str:
    loc = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
    return " ".join(x for x in (loc, f.path or "") if x)


def print_report(findings: list[Finding], resolved: ResolvedSpec | None = None, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = console or Console(highlight=False)
    if not findings:
        out.print("[green]No findings: nothing in the spec hits a known trap.[/]")
        return
    for group, fs in group_findings(findings, resolved).items():
        title = "cluster-wide" if group == CLUSTER else f"pool {group}"
        pool = resolved.pool(group) if resolved and group != CLUSTER else None
        if pool is not None:
            title += f" ({pool.spec.instance_type}, {pool.spec.os})"
        t = Table(title=title, title_justify="left", title_style="bold", show_lines=True, expand=True)
        t.add_column("severity", no_wrap=True)
        t.add_column("finding", no_wrap=True)
        t.add_column("what is wrong / fix", ratio=1, overflow="fold")
        for f in fs:
            body = escape(f.message)
            for e in f.evidence[:3]:
                body += f"\n[dim]> {escape(e)}[/]"
            body += f"\n[bold]fix:[/] {escape(f.fix)}"
            where = _where(f)
            if where:
                body += f"\n[dim]at {escape(where)}[/]"
            if f.reference:
                body += f"\n[dim]{escape(f.reference)}[/]"
            t.add_row(f"[{_STYLE[f.severity]}]{f.severity.value}[/]", escape(f.id), body)
        out.print(t)
    n = summary(findings)
    verdict = ("[bold red]errors: plan refuses to render until they are fixed (or --force)[/]"
               if n["error"] else "[green]no errors[/]")
    out.print(f"{n['error']} error(s), {n['warning']} warning(s), {n['info']} info - {verdict}")
