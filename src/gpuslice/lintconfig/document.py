"""Lint the text of one device-plugin config (a raw file, or one ConfigMap key / Helm values entry)."""

from __future__ import annotations

from gpuslice.errors import SpecError
from gpuslice.findings import Finding, Severity
from gpuslice.lintconfig.goyaml import Doc, load_docs
from gpuslice.lintconfig.result import emit
from gpuslice.lintconfig.sharing_rules import Linter, Parsed
from gpuslice.lintconfig.versions import PluginRules, default_rules


def lint_doc(
    doc: Doc, *, prefix: str, upstream: bool, in_configmap: bool, rules: PluginRules | None = None
) -> tuple[list[Finding], Parsed]:
    linter = Linter(
        doc=doc, prefix=prefix, upstream=upstream, in_configmap=in_configmap, rules=rules or default_rules()
    )
    parsed = linter.run()
    return linter.findings, parsed


def lint_config_text(
    text: str,
    file: str,
    *,
    upstream: bool = False,
    prefix: str = "",
    line_offset: int | None = 0,
    fixed_line: int | None = None,
    in_configmap: bool = False,
    docs: list[Doc] | None = None,
    rules: PluginRules | None = None,
) -> tuple[list[Finding], Parsed, int]:
    """Lint one config's text. Returns (findings, parsed, number of documents). YAML errors become findings."""
    try:
        if docs is None:
            docs = load_docs(text, file, line_offset=line_offset or 0)
    except SpecError as e:
        p = e.problems[0]
        line = fixed_line if fixed_line is not None else p.line
        return (
            [
                emit(
                    "lint-yaml",
                    f"{p.message}; the plugin cannot parse this config",
                    "Fix the YAML syntax.",
                    file=file,
                    line=line,
                    path=prefix or None,
                )
            ],
            Parsed(),
            0,
        )
    if fixed_line is not None:
        for d in docs:
            d.lines = dict.fromkeys(d.lines, fixed_line)
            d.lines[()] = fixed_line
            d.duplicates = [(p, fixed_line) for p, _ in d.duplicates]
    if not docs:
        docs = [Doc(data=None, file=file, lines={(): fixed_line or 1})]
    findings, parsed = lint_doc(docs[0], prefix=prefix, upstream=upstream, in_configmap=in_configmap, rules=rules)
    extra = [d for d in docs[1:] if d.data is not None]
    if extra:
        findings.append(
            Finding(
                id="lint-extra-documents",
                severity=Severity.WARNING,
                message=f"{prefix + ': ' if prefix else ''}{len(extra)} more YAML document(s) after the first; the plugin "
                "reads only the first",
                fix="Keep one document per config (one ConfigMap key per config).",
                path=prefix or None,
                file=file,
                line=extra[0].lines.get(()),
            )
        )
    return findings, parsed, len(docs)
