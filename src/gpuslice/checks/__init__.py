"""Preflight checks: an explicit registry of small, pure rules over the resolved spec.

Each rule module exposes ``check(resolved) -> Iterable[Finding]`` and a docstring that ``gpuslice explain``
prints. Rules only read; they never raise for user mistakes (those are findings). The registry below is the
one place that lists them: no import side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType

from gpuslice.findings import Finding, sort_findings
from gpuslice.resolve import ResolvedSpec

Rule = Callable[[ResolvedSpec], Iterable[Finding]]


def _modules() -> list[ModuleType]:
    from gpuslice.checks import names as names_rules
    from gpuslice.checks import registry as registry_rules

    return [names_rules, registry_rules]


def rules() -> dict[str, Rule]:
    """Module name -> rule function, in registry order."""
    return {m.__name__.rsplit(".", 1)[-1]: m.check for m in _modules()}


def rule_docs() -> dict[str, str]:
    """Finding id -> explanation, from each module's ``IDS`` mapping."""
    out: dict[str, str] = {}
    for m in _modules():
        out.update(getattr(m, "IDS", {}))
    return out


def run_checks(resolved: ResolvedSpec) -> list[Finding]:
    disabled = set(resolved.spec.checks.disabled)
    findings: list[Finding] = []
    for rule in rules().values():
        findings.extend(f for f in rule(resolved) if f.id not in disabled)
    return sort_findings(findings)
