"""Unrendered template placeholders: ``${VAR}`` (Flux post-build substitution, envsubst, Terraform templatefile)
and ``{{ ... }}`` (Helm / Go templates). Such a file is a template, not what the device plugin will read: the values
behind a placeholder are unknown, so lint-config names the placeholder instead of judging the literal text."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gpuslice.findings import Finding, Severity
from gpuslice.lintconfig.result import emit

PLACEHOLDER = re.compile(r"\$\{[^}\n]*\}|\{\{.*?\}\}")


def has_placeholder(text: str) -> bool:
    return bool(PLACEHOLDER.search(text))


def placeholders_on(line: str) -> list[str]:
    """The placeholders on one source line, outside a trailing ``# comment``."""
    code = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
    return PLACEHOLDER.findall(code)


def unparsable_message(text: str, line: int | None) -> str | None:
    """For a file YAML cannot parse: say it is an unrendered template when a placeholder is on (or near) the line
    the parser stopped at, or anywhere when the error has no line."""
    lines = text.splitlines()
    near = list(range(max(0, (line or 1) - 3), min(len(lines), (line or len(lines)) + 1))) if line else []
    for i in [*near, *range(len(lines))]:  # near the error first, then anywhere
        found = placeholders_on(lines[i])
        if found:
            where = "" if i in near else f" (the YAML parser stopped at line {line})" if line else ""
            return (
                f"unrendered template placeholder {found[0]!r} on line {i + 1}{where}: this is a template, not the "
                "manifest or config that gets applied; render it first (helm template / flux build / envsubst / "
                "the tool that owns the template) and lint the output"
            )
    return None


def name_placeholders(findings: Iterable[Finding], text: str, file: str) -> list[Finding]:
    """Replace findings on lines that hold placeholders with one ``lint-placeholder`` warning per line: what is
    wrong there is that the value is not known yet, not the literal ``${...}`` text."""
    lines = text.splitlines()
    out: list[Finding] = []
    named: dict[int, Finding] = {}
    for f in findings:
        ln = f.line
        found = placeholders_on(lines[ln - 1]) if ln and 0 < ln <= len(lines) else []
        if not found or ln is None:
            out.append(f)
            continue
        if ln not in named:
            where = f.path or ""
            named[ln] = emit(
                "lint-placeholder",
                f"unrendered template placeholder {', '.join(repr(p) for p in found)}: the value is not known "
                "until the template is rendered, so this line is not checked",
                "Lint the rendered output (helm template, flux build / envsubst) to check the real value.",
                file=file,
                line=ln,
                path=where or None,
                severity=Severity.WARNING,
            )
    return out + list(named.values())
