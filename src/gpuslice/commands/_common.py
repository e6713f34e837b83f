"""Shared CLI plumbing: output format, error handling, findings display."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.exceptions import TyperException

from gpuslice.errors import GpusliceError, Problem, SpecError
from gpuslice.findings import Finding, has_errors, sort_findings
from gpuslice.redact import redact

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


OUTPUT_OPTION = typer.Option(
    OutputFormat.text, "--output", "-o", help="text for people; json or yaml (the same document) for scripts."
)


def _print_as_yaml(text: str) -> None:
    """Print what a verb wrote in ``--output json`` as YAML (one document per JSON value; anything else as is)."""
    import yaml

    decoder = json.JSONDecoder()
    pos, docs = 0, []
    body = text.strip()
    try:
        while pos < len(body):
            doc, end = decoder.raw_decode(body, pos)
            docs.append(doc)
            pos = end
            while pos < len(body) and body[pos].isspace():
                pos += 1
    except ValueError:
        sys.stdout.write(text)
        return
    sys.stdout.write(
        yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000)
        if docs
        else ""
    )


def _as_yaml(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a verb in its ``--output json`` mode and print the same document(s) as YAML: one data model, two
    spellings, so yaml can never drift from json."""
    import contextlib
    import io

    if kwargs.get("watch"):
        raise GpusliceError("--output yaml cannot stream --watch refreshes; use --output json (one document per line)")
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            return fn(*args, **{**kwargs, "output": OutputFormat.json})
    finally:
        _print_as_yaml(buf.getvalue())


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration written as helm and kubectl take it (``90s``, ``10m``, ``1h30m``, ``500ms``) or a
    plain number of seconds (``90``, ``2.5``). Raises typer.BadParameter in the user's terms."""
    import re

    raw = str(text).strip().lower()
    try:
        value = float(raw)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise typer.BadParameter(
                f"{text!r} is not a duration: write seconds (90) or a Go-style duration (90s, 10m, 1h30m, 500ms)"
            ) from None
        value = sum(float(n) * _UNITS[u] for n, u in parts)
    if value < 0:
        raise typer.BadParameter(f"{text!r}: a duration cannot be negative")
    return value


def duration_option(default: str | None, *decls: str, help: str, min_s: float = 0.0) -> Any:
    """An option taking a duration (see :func:`parse_duration`) that reaches the verb as float seconds."""

    def parse(text: str) -> float:
        value = parse_duration(text)
        if value < min_s:
            raise typer.BadParameter(f"{text!r} is shorter than the minimum, {min_s:g}s")
        return value

    return typer.Option(default, *decls, help=help, parser=parse, metavar="DURATION")


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    # soft_wrap: plain lines are not broken by rich (a path or id stays whole, the terminal wraps it);
    # tables and panels are still laid out to the terminal width.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _json_errors(problems: list[dict[str, Any]]) -> None:
    """On --output json, errors go to stdout as JSON too, so a script always gets a parseable document."""
    print(json.dumps({"ok": False, "errors": problems}, indent=2))


def handle_errors(fn: F) -> F:
    """Turn GpusliceError into a clear message on stderr and exit 2 — never a traceback.

    With ``--output json`` stdout also carries ``{"ok": false, "errors": [...]}``. Anything else that escapes a
    command is a gpuslice bug: one line saying so (``GPUSLICE_DEBUG=1`` shows the traceback), exit 2.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("output") == OutputFormat.yaml:
            return _as_yaml(wrapper, args, kwargs)
        json_out = kwargs.get("output") == OutputFormat.json
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # click's own exits and usage errors
        except SpecError as e:
            e = SpecError([_redacted_problem(p) for p in e.problems])
            out = console(stderr=True)
            if json_out:
                _json_errors([{**p.to_dict(), "kind": type(e).__name__} for p in e.problems])
            n = len(e.problems)
            out.print(f"[bold red]error:[/] {n} problem{'s' if n != 1 else ''} in the input:")
            for p in e.problems:
                out.print(f"  {p}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        except GpusliceError as e:
            if json_out:
                _json_errors(
                    [
                        {
                            "file": None,
                            "line": None,
                            "column": None,
                            "path": None,
                            "message": redact(str(e)),
                            "kind": type(e).__name__,
                        }
                    ]
                )
            console(stderr=True).print(f"[bold red]error:[/] {_esc(redact(str(e)))}")
            raise typer.Exit(EXIT_USAGE) from None
        except BrokenPipeError:
            # The reader went away (e.g. `gpuslice schema | head -1`): stop quietly, and keep Python from
            # complaining again when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            # Output folders are written to a temporary sibling and renamed at the end, so none is half-written.
            console(stderr=True).print("[yellow]interrupted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (SystemExit, MemoryError):
            raise
        except Exception as e:  # the last resort: a bug, not the user's input
            if os.environ.get("GPUSLICE_DEBUG", "") not in ("", "0"):
                raise
            where = _where(e)
            if json_out:
                _json_errors(
                    [
                        {
                            "file": None,
                            "line": None,
                            "column": None,
                            "path": None,
                            "kind": "InternalError",
                            "message": redact(f"internal error: {type(e).__name__}: {e}{where}"),
                        }
                    ]
                )
            console(stderr=True).print(
                f"[bold red]internal error:[/] {_esc(type(e).__name__)}: {_esc(redact(str(e)))}{_esc(where)}. This is a "
                "gpuslice bug: please report it with the command line (GPUSLICE_DEBUG=1 shows the traceback)."
            )
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def _redacted_problem(p: Problem) -> Problem:
    return dataclasses.replace(p, message=redact(p.message))


def _where(e: BaseException) -> str:
    """' (at module.py:123)' for the innermost gpuslice frame of the traceback, or ''."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if "gpuslice" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {Path(f.filename).name}:{f.lineno})"


def print_findings(
    findings: Iterable[Finding],
    title: str = "Findings",
    *,
    resolved: Any = None,
    verdict: str | None = None,
    stderr: bool = False,
) -> None:
    """Every verb prints findings this one way (:func:`gpuslice.checks.report.report_lines`): grouped by pool,
    one block per finding (severity, id, where, message, evidence, fix, reference), wrapped at spaces so ids and
    paths are never cut, readable at 80 columns. ``title`` heads the findings of no pool."""
    from gpuslice.checks.report import print_report

    print_report(
        list(findings),
        resolved,
        console(stderr=stderr),
        heading=title,
        verdict=verdict,
        none="No findings.",
    )


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def findings_json(findings: Iterable[Finding], **extra: Any) -> str:
    items = sort_findings(findings)
    return json.dumps(
        {**extra, "ok": not has_errors(items), "findings": [f.to_dict() for f in items]}, indent=2, default=str
    )


def exit_code(findings: Iterable[Finding]) -> int:
    return EXIT_FINDINGS if has_errors(findings) else EXIT_OK
