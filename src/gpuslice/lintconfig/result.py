"""What lint-config returns: findings, one summary per config, the ConfigMaps linted and the plugin rules used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpuslice.findings import Finding, Severity, has_errors
from gpuslice.lintconfig.rules import CM_RULES, RULES
from gpuslice.lintconfig.sharing_rules import Parsed
from gpuslice.lintconfig.versions import PluginRules, default_rules

REF_OPERATOR = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html"


@dataclass(frozen=True)
class ConfigSummary:
    """What one config (a raw file, or one ConfigMap key) makes the plugin do."""

    name: str  # "" for a raw file, else "<configmap>/<key>"
    key: str | None
    strategy: str  # none | time-slicing | mps | invalid
    resources: tuple[tuple[str, int], ...] = ()
    rename_by_default: bool = False
    fail_requests_greater_than_one: bool = False
    errors: int = 0
    warnings: int = 0
    line: int | None = None  # of the ConfigMap key (or 1 for a raw file)


@dataclass
class LintResult:
    file: str
    kind: str  # "config" | "configmap" | "helm-values"
    findings: list[Finding] = field(default_factory=list)
    configs: list[ConfigSummary] = field(default_factory=list)
    configmaps: list[str] = field(default_factory=list)
    #: the device-plugin version whose loader rules were applied, and where that version came from
    plugin: PluginRules = field(default_factory=default_rules)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "ok": self.ok,
            "configmaps": self.configmaps,
            "pluginVersion": self.plugin.to_dict(),
            "configs": [
                {
                    "name": c.name,
                    "key": c.key,
                    "strategy": c.strategy,
                    "resources": [{"name": n, "replicas": r} for n, r in c.resources],
                    "renameByDefault": c.rename_by_default,
                    "failRequestsGreaterThanOne": c.fail_requests_greater_than_one,
                    "errors": c.errors,
                    "warnings": c.warnings,
                }
                for c in self.configs
            ],
        }


def emit(
    rule: str,
    message: str,
    fix: str,
    *,
    file: str,
    line: int | None,
    path: str | None,
    severity: Severity | None = None,
    pool: str | None = None,
) -> Finding:
    sev = severity or (CM_RULES[rule][0] if rule in CM_RULES else RULES[rule][0])
    return Finding(
        id=rule,
        severity=sev,
        message=f"{path}: {message}" if path else message,
        fix=fix,
        reference=REF_OPERATOR,
        path=path,
        file=file,
        line=line,
        pool=pool,
    )


def summarize(
    name: str, key: str | None, parsed: Parsed, findings: Sequence[Finding], line: int | None = 1
) -> ConfigSummary:
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
    block_name = "mps" if parsed.mps_present else ("timeSlicing" if parsed.ts_present else None)
    blk = parsed.blocks.get(block_name or "", {})
    resources = tuple(
        (r["name"], r["replicas"])
        for r in (blk.get("resources") or [])
        if isinstance(r, dict) and r.get("name") and isinstance(r.get("replicas"), int)
    )
    strategy = {"mps": "mps", "timeSlicing": "time-slicing", None: "none"}[block_name]
    fail = blk.get("failRequestsGreaterThanOne")
    if fail is None or (block_name == "mps" and parsed.mps_fail_forced):
        fail = block_name == "mps"  # MPS: true unless v0.20.0+ says false; time-slicing defaults to false
    return ConfigSummary(
        name=name,
        key=key,
        strategy="invalid" if errors else strategy,
        resources=resources,
        rename_by_default=bool(blk.get("renameByDefault")),
        fail_requests_greater_than_one=bool(fail),
        errors=errors,
        warnings=warnings,
        line=line,
    )
