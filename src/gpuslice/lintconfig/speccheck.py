"""Compare linted configs with a gpuslice spec, and the preflight ``check`` over the ConfigMap gpuslice renders."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

from gpuslice.findings import Finding, Severity
from gpuslice.lintconfig.result import LintResult, emit
from gpuslice.lintconfig.rules import RULES

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


def spec_expectations(resolved: ResolvedSpec) -> tuple[str, dict[str, list[str]], str, str]:
    """(default key, key -> pools that select it, namespace, ConfigMap name) from the resolved spec."""
    from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL
    from gpuslice.sharing import default_key

    by_key: dict[str, list[str]] = {}
    for p in resolved.pools:
        k = p.node_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
        if k:
            by_key.setdefault(k, []).append(p.name)
    return default_key(resolved), by_key, resolved.namespace, resolved.device_plugin_configmap


def required_keys(
    named: Sequence[tuple[str | None, str]], label_keys: Sequence[str], resolved: ResolvedSpec | None
) -> dict[str, str]:
    """The config keys the device plugin will be asked for, each with what names it (the first namer wins):
    ``named`` (key, who) pairs in order (a --default, a chart or ClusterPolicy default), then node labels, then
    the spec's default and the keys its pools' labels select."""
    required: dict[str, str] = {}
    for key, why in named:
        if key:
            required.setdefault(key, why)
    for k in label_keys:
        required.setdefault(k, "a node label")
    if resolved is not None:
        spec_default, by_key, _ns, _cm = spec_expectations(resolved)
        if spec_default:
            required.setdefault(spec_default, "the spec's default (devicePlugin.config.default)")
        for k, pools in by_key.items():
            required.setdefault(k, f"the node label of pool(s) {', '.join(pools)}")
    return required


def missing_keys(required: dict[str, str], keys: Collection[str]) -> Iterator[tuple[str, str, str | None]]:
    """(key, what names it, the closest key the config has or None) for every required key the config lacks."""
    for k, why in required.items():
        if k not in keys:
            close = difflib.get_close_matches(k, sorted(keys), n=1)
            yield k, why, close[0] if close else None


def compare_with_spec(result: LintResult, resolved: ResolvedSpec, cm_name: str) -> None:
    for c in result.configs:
        if not c.name.startswith(f"{cm_name}/") or c.key not in resolved.sharing_configs or c.strategy == "invalid":
            continue
        rs = resolved.sharing_configs[c.key]
        want_res = ((rs.resource_name, rs.replicas),) if rs.shared else ()
        diffs = []
        if c.strategy != rs.strategy:
            diffs.append(f"strategy {c.strategy} (spec: {rs.strategy})")
        if rs.shared and c.strategy == rs.strategy:
            if [n for n, _ in c.resources] == [n for n, _ in want_res]:
                diffs += [
                    f"{n} replicas {got} (spec: {want})"
                    for (n, got), (_, want) in zip(c.resources, want_res, strict=True)
                    if got != want
                ]
            else:
                diffs.append(
                    f"resources {', '.join(n for n, _ in c.resources) or 'none'} "
                    f"(spec: {', '.join(n for n, _ in want_res)})"
                )
            if c.rename_by_default != rs.rename_by_default:
                diffs.append(f"renameByDefault {c.rename_by_default} (spec: {rs.rename_by_default})")
            if c.fail_requests_greater_than_one != rs.fail_requests_greater_than_one:
                diffs.append(
                    f"failRequestsGreaterThanOne {c.fail_requests_greater_than_one} "
                    f"(spec: {rs.fail_requests_greater_than_one})"
                )
        if diffs:
            result.findings.append(
                emit(
                    "lint-spec-mismatch",
                    "differs from the spec: " + "; ".join(diffs),
                    "Re-render it with 'gpuslice render', or change the spec.",
                    file=result.file,
                    line=c.line,
                    path=f"data[{c.key}]",
                )
            )


#: what ``check`` reports: the plugin itself would refuse the rendered ConfigMap, or the ConfigMap is unusable.
#: (gpuslice's stricter rules and advice about the spec's sharing settings belong to gpuslice.checks.sharing.)
CHECK_IDS = frozenset(
    {k for k, v in RULES.items() if v[1] == "upstream"}
    | {"lint-configmap", "lint-configmap-name", "lint-configmap-key", "lint-configmap-empty", "lint-missing-config-key"}
)


def check(resolved: ResolvedSpec) -> list[Finding]:
    """Preflight rule: the device-plugin ConfigMap gpuslice renders for this spec is one the plugin accepts.

    A guard on the renderer: it reports only what would make the device plugin or config-manager fail.
    """
    from gpuslice.lintconfig import lint
    from gpuslice.sharing import configmap_manifest
    from gpuslice.yamlio import dump_yaml

    _default, by_key, _ns, _name = spec_expectations(resolved)
    res = lint(dump_yaml(configmap_manifest(resolved)), "device-plugin-config.yaml", resolved=resolved)
    out = []
    for f in res.findings:
        if f.severity is not Severity.ERROR or f.id not in CHECK_IDS:
            continue
        key = f.path.split("]", 1)[0].removeprefix("data[") if f.path and f.path.startswith("data[") else None
        pools = by_key.get(key or "", [])
        out.append(
            Finding(
                id=f.id,
                severity=f.severity,
                message=f.message,
                fix=f.fix,
                reference=f.reference,
                pool=pools[0] if len(pools) == 1 else None,
                path=f.path,
                file=f.file,
                line=f.line,
                evidence=tuple(f"pool {p}" for p in pools),
            )
        )
    return out
