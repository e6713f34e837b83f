"""The text report of ``gpuslice check``: findings grouped by pool (cluster-wide first, then pools in spec order),
one block per finding with what is wrong, the fix, where it points in the spec and a reference; wrapped at spaces
to the terminal width so ids, spec paths and URLs are never cut in the middle."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuslice.findings import Finding, Severity, sort_findings
from gpuslice.resolve import ResolvedPool, ResolvedSpec

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


def wrap_markup(text: str, width: int, *, lead: str = "", lead_style: str = "", rest: str = "  ") -> list[str]:
    """A sentence as rich-markup lines of at most ``width`` columns, broken at spaces only like the findings above
    it (ids and paths stay whole); ``lead``, the words it starts with, is shown in ``lead_style``."""
    from rich.markup import escape

    lines = [escape(ln) for ln in _wrap(text, width, "", rest)]
    if lead and lead_style and text.startswith(lead) and lines:
        head = escape(lead)
        if lines[0].startswith(head):
            lines[0] = f"[{lead_style}]{head}[/]{lines[0][len(head) :]}"
    return lines


#: what textwrap turns into spaces (and so may wrap at)
_SPECIAL_SPACE = frozenset("\t\n\v\f\r")


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrap at spaces only: ids, paths and URLs stay whole (a token longer than the line gets a line of its own)."""
    import textwrap

    width = max(width, 20)
    if len(first) + len(text) <= width and text and not text[-1].isspace() and _SPECIAL_SPACE.isdisjoint(text):
        return [first + text]  # fits as it is: what textwrap returns, without its work (thousands of times a plan)
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


CHECK_VERDICT = "plan refuses to render until they are fixed (or --force)"


def report_lines(
    findings: list[Finding],
    resolved: ResolvedSpec | None = None,
    width: int = 100,
    *,
    heading: str | None = None,
    verdict: str | None = CHECK_VERDICT,
    none: str = "No findings: nothing in the spec hits a known trap.",
) -> list[str]:
    """The findings report as rich-markup lines, each at most ``width`` columns unless one word is longer. This is
    the one way every verb prints findings (check, plan, render, doctor, verify, apply, lint-config, top):
    severity, id, where (file:line and field, or the object), message, evidence, fix, reference.

    One block per finding, not a table: a table's narrow column would chop ids, spec paths and URLs mid-word at 80
    columns. Wrapping happens here, at spaces, so the caller prints the lines as they are (``soft_wrap``).
    ``heading`` titles the findings that belong to no pool (default "cluster-wide"); ``verdict`` is what errors
    mean for this verb (None: say nothing)."""
    from rich.markup import escape

    if not findings:
        return [f"[green]{escape(none)}[/]"]
    indent = " " * 4
    lines: list[str] = []
    pools: dict[str, ResolvedPool] = {}
    for p in resolved.pools if resolved else ():
        pools.setdefault(p.name, p)  # resolved.pool(name) per group searched every pool: 300 x 300 in a large plan
    for group, fs in group_findings(findings, resolved).items():
        title = (heading or "cluster-wide") if group == CLUSTER else f"pool {group}"
        pool = pools.get(group) if group != CLUSTER else None
        if pool is not None:
            title += (
                f" ({pool.spec.instance_type}, {pool.spec.os})" if pool.spec.instance_type else f" ({pool.spec.os})"
            )
        if lines:
            lines.append("")
        lines += [f"[bold]{escape(t)}[/]" for t in _wrap(title, width, "", "  ")]
        for f in fs:
            sev = f.severity.value.upper()
            lines.append(f"  [{_STYLE[f.severity]}]{sev}[/] [bold]{escape(f.id)}[/]")
            paras: list[tuple[str, str]] = [(f.message, "")]
            paras += [(f"> {e}", "dim") for e in f.evidence[:3]]
            if f.fix:
                paras.append((f"fix: {f.fix}", ""))
            where = _where(f)
            if where:
                paras.append((f"at {where}", "dim"))
            if f.reference:
                paras.append((f.reference, "dim"))
            for text, style in paras:
                for ln in _wrap(text, width, indent, indent + "  "):
                    body = escape(ln)
                    if ln.startswith(indent + "fix: "):
                        body = body.replace("fix:", "[bold]fix:[/]", 1)
                    lines.append(f"[{style}]{body}[/]" if style else body)
    n = summary(findings)
    said = f"[bold red]errors: {escape(verdict)}[/]" if n["error"] and verdict else ""
    if not n["error"]:
        said = "[green]no errors[/]"
    tail = f"{n['error']} error(s), {n['warning']} warning(s), {n['info']} info"
    lines.append("")
    from rich.text import Text

    if said and len(tail) + 3 + len(Text.from_markup(said).plain) > width:
        lines += [tail, said]  # two lines at 80 columns rather than one cut by the terminal
    else:
        lines.append(f"{tail} - {said}" if said else tail)
    return lines


def print_report(findings: list[Finding], resolved: ResolvedSpec | None = None, console: Any = None, **kw: Any) -> None:
    """Print :func:`report_lines` (same keywords) on ``console`` (default: stdout)."""
    from rich.console import Console

    out = console or Console(highlight=False)
    print_lines(out, report_lines(findings, resolved, width=out.width, **kw))


def print_lines(console: Any, lines: list[str], *, markup: bool = True) -> None:
    """Print ``lines`` exactly as ``console.print(line, soft_wrap=True, highlight=False)`` for each would, in one
    write. A 300-pool plan prints thousands of lines, and rich's work per print call was a tenth of its run.

    Each line's markup is read on its own (a ``[`` wrapped onto the next line never pairs with a ``]`` there).
    Without colours (a pipe, a file, TERM=dumb) the styles print as nothing, so the plain text is written as it is."""
    from rich.segment import Segment, Segments
    from rich.text import Text

    if not lines:
        return
    made: dict[str, Text] = {}  # a large report repeats its lines (the same message for many pools): read each once
    texts = []
    for line in lines:
        text = made.get(line)
        if text is None:
            text = made[line] = console.render_str(line, markup=markup, highlight=False)
        texts.append(text)
    if console.color_system is None and not console.record:
        for t in texts:
            if "\t" in t.plain:
                t.expand_tabs(console.tab_size)  # as rich's print does to a line it does not wrap
        console.print(Segments([Segment("".join(f"{t.plain}\n" for t in texts))]), soft_wrap=True)
    else:
        console.print(Text("\n").join(texts), soft_wrap=True, highlight=False)
