"""Preflight checks: an explicit registry of small, pure rules over the resolved spec.

Each rule module exposes ``check(resolved) -> Iterable[Finding]``; the ids it reports are declared, with severity,
explanation and reference, in the finding registry (``src/gpuslice/data/findings.yaml``, owner ``check``). Rules only
read; they never raise for user mistakes (those are findings). ``_modules`` below is the one place that lists the
rule modules: no import side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from types import ModuleType

from gpuslice.findings import Finding, sort_findings
from gpuslice.resolve import ResolvedSpec

Rule = Callable[[ResolvedSpec], Iterable[Finding]]


def _modules() -> list[ModuleType]:
    from gpuslice import lintconfig as lintconfig_rules
    from gpuslice.checks import disks as disk_rules
    from gpuslice.checks import dns as dns_rules
    from gpuslice.checks import eks as eks_rules
    from gpuslice.checks import gpu as gpu_rules
    from gpuslice.checks import kubernetes as kubernetes_rules
    from gpuslice.checks import names as names_rules
    from gpuslice.checks import operator as operator_rules
    from gpuslice.checks import os_support as os_rules
    from gpuslice.checks import registry as registry_rules
    from gpuslice.checks import sharing as sharing_rules

    return [
        gpu_rules,
        kubernetes_rules,
        os_rules,
        disk_rules,
        sharing_rules,
        dns_rules,
        eks_rules,
        names_rules,
        operator_rules,
        registry_rules,
        lintconfig_rules,
    ]


def rules() -> dict[str, Rule]:
    """Module name -> rule function, in registry order."""
    return {m.__name__.rsplit(".", 1)[-1]: m.check for m in _modules()}


def rule_docs() -> dict[str, str]:
    """Finding id -> explanation for what check, plan and render report (the registry's owners check and render)."""
    from gpuslice.findings import registry

    return {i.id: i.explanation for i in registry().values() if i.owner in ("check", "render")}


def run_checks(resolved: ResolvedSpec, *, today: date | None = None) -> list[Finding]:
    """Run every rule. ``today`` is the date date-based rules (end of support) compare with; default:
    $GPUSLICE_TODAY, else the clock. Findings that name a spec path get the line it is on."""
    from gpuslice.checks._common import reset_today, set_today, today_from_env
    from gpuslice.providers import provider_check_modules, provider_of

    disabled = set(resolved.spec.checks.disabled)
    # Provider-specific rule modules (EKS: SSM policy, EBS volumes) run only on their provider.
    skip = provider_check_modules() - set(provider_of(resolved).check_modules)
    findings: list[Finding] = []
    token = set_today(today or today_from_env())
    try:
        for name, rule in rules().items():
            if name not in skip:
                findings.extend(f for f in rule(resolved) if f.id not in disabled)
    finally:
        reset_today(token)
    findings.extend(_unknown_disabled(resolved.spec.checks.disabled))
    return sort_findings(_locate(findings, resolved.file))


def _unknown_disabled(disabled: tuple[str, ...]) -> list[Finding]:
    """A typo in checks.disabled would silently keep a check on: say so. Any registered id is accepted (the same
    list is honoured by doctor, so ``disabled: [coredns-loop]`` is no typo)."""
    import difflib

    from gpuslice.findings import Severity, registry

    known = registry()
    out = []
    for i, fid in enumerate(disabled):
        if fid in known:
            continue
        hint = difflib.get_close_matches(fid, list(known), n=1)
        out.append(
            Finding(
                id="checks-disabled-unknown",
                severity=Severity.WARNING,
                message=f"checks.disabled names {fid!r}, which is no finding id"
                + (f"; did you mean {hint[0]!r}?" if hint else "."),
                fix="Use an id that `gpuslice check` prints (`gpuslice explain ID` describes it), or remove the entry.",
                reference="docs/checks.md",
                path=f"checks.disabled[{i}]",
            )
        )
    return out


def _locate(findings: list[Finding], file: str | None) -> list[Finding]:
    """Fill in file and line for findings that carry a spec path (``nodePools[0].disks.rootGiB``)."""
    if not file or not any(f.path and f.line is None for f in findings):
        return findings
    from gpuslice.errors import SpecError
    from gpuslice.yamlio import load_yaml_file

    try:
        located = load_yaml_file(file)[0]
    except SpecError:
        return findings
    out = []
    for f in findings:
        if f.path and f.line is None:
            line, _ = located.position(_steps(f.path))
            f = f.at(f.file or file, line)
        out.append(f)
    return out


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            steps.append(name)
        for idx in rest.rstrip("]").split("][") if rest else []:
            steps.append(int(idx))
    return steps
