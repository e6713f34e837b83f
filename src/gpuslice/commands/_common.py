"""Shared CLI plumbing: output format, error handling, findings display."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

import typer

from gpuslice.errors import GpusliceError, SpecError
from gpuslice.findings import Finding, Severity, has_errors, sort_findings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


OUTPUT_OPTION = typer.Option(OutputFormat.text, "--output", "-O", help="text for people, json for scripts.")


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)


def handle_errors(fn: F) -> F:
    """Turn GpusliceError into a clear message on stderr and exit 2 — never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpecError as e:
            out = console(stderr=True)
            fmt = kwargs.get("output")
            if fmt == OutputFormat.json:
                print(json.dumps({"ok": False, "errors": [p.to_dict() for p in e.problems]}, indent=2))
            n = len(e.problems)
            out.print(f"[bold red]error:[/] {n} problem{'s' if n != 1 else ''} in the input:")
            for p in e.problems:
                out.print(f"  {p}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        except GpusliceError as e:
            console(stderr=True).print(f"[bold red]error:[/] {e}", markup=True)
            raise typer.Exit(EXIT_USAGE) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(EXIT_OK) from None

    return wrapper  # type: ignore[return-value]


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def print_findings(findings: Iterable[Finding], title: str = "Findings") -> None:
    from rich.table import Table

    items = sort_findings(findings)
    out = console()
    if not items:
        out.print("[green]No findings.[/]")
        return
    groups: dict[str, list[Finding]] = {}
    for f in items:
        groups.setdefault(f.pool or "(cluster)", []).append(f)
    for group, fs in groups.items():
        t = Table(title=f"{title}: {group}", title_justify="left", show_lines=True, expand=False)
        t.add_column("severity", no_wrap=True)
        t.add_column("id", no_wrap=True)
        t.add_column("message")
        t.add_column("fix")
        for f in fs:
            msg = f.message
            if f.evidence:
                msg += "\n" + "\n".join(f"  > {e}" for e in f.evidence[:3])
            ref = f"\n[dim]{f.reference}[/]" if f.reference else ""
            t.add_row(f"[{_STYLE[f.severity]}]{f.severity.value}[/]", f.id, _esc(msg), _esc(f.fix) + ref)
        out.print(t)
    counts = {s: sum(1 for f in items if f.severity is s) for s in Severity}
    out.print(
        f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), {counts[Severity.INFO]} info"
    )


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def findings_json(findings: Iterable[Finding], **extra: Any) -> str:
    items = sort_findings(findings)
    return json.dumps({**extra, "ok": not has_errors(items), "findings": [f.to_dict() for f in items]},
                      indent=2, default=str)


def exit_code(findings: Iterable[Finding]) -> int:
    return EXIT_FINDINGS if has_errors(findings) else EXIT_OK
