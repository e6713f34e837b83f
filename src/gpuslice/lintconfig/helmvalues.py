"""Helm values files: the gpu-operator chart's ``devicePlugin.config`` and the nvidia-device-plugin chart's
``config.map``, linted as the ConfigMap each chart renders."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuslice.findings import Severity, sort_findings
from gpuslice.lintconfig.configmap import CmContext, lint_entries
from gpuslice.lintconfig.goyaml import Doc
from gpuslice.lintconfig.result import LintResult, emit
from gpuslice.lintconfig.schema import DNS1123_LABEL, schema
from gpuslice.lintconfig.speccheck import spec_expectations
from gpuslice.lintconfig.versions import PluginRules

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


@dataclass(frozen=True)
class Values:
    doc: Doc
    chart: str  # "gpu-operator" | "nvidia-device-plugin"
    base: tuple[str, ...]  # path of the config block
    section: str  # "data" | "map"
    config: dict[str, Any]


def helm_values_config(docs: list[Doc]) -> Values | None:
    """The device-plugin config block of a Helm values file: gpu-operator's ``devicePlugin.config`` or the
    nvidia-device-plugin chart's ``config`` (with ``map``). None for anything else."""
    if len(docs) != 1 or not isinstance(docs[0].data, dict) or "kind" in docs[0].data:
        return None
    d = docs[0].data
    dp = d.get("devicePlugin")
    if isinstance(dp, dict) and isinstance(dp.get("config"), dict) and "sharing" not in d:
        return Values(docs[0], "gpu-operator", ("devicePlugin", "config"), "data", dp["config"])
    cfg = d.get("config")
    if isinstance(cfg, dict) and "map" in cfg and not (set(d) & {"sharing", "version"}):
        return Values(docs[0], "nvidia-device-plugin", ("config",), "map", cfg)
    return None


def lint_values(
    file: str,
    v: Values,
    *,
    upstream: bool,
    default: str | None,
    label_keys: list[str],
    resolved: ResolvedSpec | None = None,
    rules: PluginRules,
) -> LintResult:
    """Lint the configs a Helm values file puts into the device-plugin ConfigMap the chart renders."""
    result = LintResult(file=file, kind="helm-values", plugin=rules)
    ctx = CmContext(file=file, upstream=upstream, findings=result.findings, configs=result.configs, rules=rules)
    doc, cfg, where = v.doc, v.config, ".".join(v.base)

    def add(rule: str, message: str, fix: str, *path: str, severity: Severity | None = None) -> None:
        result.findings.append(
            emit(
                rule,
                message,
                fix,
                file=file,
                line=doc.line((*v.base, *path)),
                path=".".join((where, *path)),
                severity=severity,
            )
        )

    data = cfg.get(v.section)
    if data is not None and not isinstance(data, dict):
        add(
            "lint-configmap",
            f"must be a mapping of key -> config text, got {type(data).__name__}",
            f"Write {v.section}:\\n  my-key: |\\n    version: v1 ...",
            v.section,
        )
        data = None
    name = cfg.get("name")
    chart_default = cfg.get("default") if isinstance(cfg.get("default"), str) and cfg.get("default") else None
    if v.chart == "gpu-operator":
        create = cfg.get("create") is True
        if create and not data:
            add(
                "lint-configmap-empty",
                "create is true but data is empty; the chart refuses to render "
                "('devicePlugin.config.data cannot be empty when devicePlugin.config.create is set to true')",
                "Add data, or set create: false and point name at an existing ConfigMap.",
                "data",
            )
        if create and not name:
            add(
                "lint-helm-values",
                "create is true but name is empty; the chart refuses to render "
                "('devicePlugin.config.name cannot be empty ...')",
                "Set devicePlugin.config.name.",
                "name",
                severity=Severity.ERROR,
            )
        if data and not create:
            add(
                "lint-helm-values",
                "data is set but create is not true: the chart does not create the ConfigMap "
                f"and the operator looks for an existing ConfigMap {name or '(no name)'}",
                "Set create: true.",
                "create" if "create" in cfg else v.section,
            )
    if isinstance(name, str) and name:
        reserved = schema()["configmap"]["reserved_volume_names"]
        if len(name) > 63 or not DNS1123_LABEL.fullmatch(name) or name in reserved:
            add(
                "lint-configmap-name",
                f"'{name}' cannot be the device-plugin ConfigMap's name: it must be a DNS-1123 "
                "label of at most 63 characters that no other volume of the device-plugin pods uses "
                f"({', '.join(reserved)})",
                "Use a short lowercase name such as device-plugin-config.",
                "name",
            )
    if not data:
        if not result.findings:
            add(
                "lint-not-configmap",
                f"{where} holds no configs ({v.section} is empty)"
                + (f"; lint the ConfigMap {name!r} it names instead" if name else ""),
                "",
                v.section,
            )
        result.findings[:] = sort_findings(result.findings)
        return result
    entries = [(v.section, str(k), val) for k, val in data.items()]
    keys = lint_entries(ctx, doc, v.base, entries, f"{where}.{v.section}", shown=f"{where}.")
    required: dict[str, str] = {}
    if chart_default:
        required[chart_default] = f"{where}.default"
    if default:
        required.setdefault(default, "--default")
    for k in label_keys:
        required.setdefault(k, "a node label")
    if resolved is not None:
        spec_default, by_key, _ns, _cm = spec_expectations(resolved)
        if spec_default:
            required.setdefault(spec_default, "the spec's default (devicePlugin.config.default)")
        for k, pools in by_key.items():
            required.setdefault(k, f"the node label of pool(s) {', '.join(pools)}")
    for k, why in required.items():
        if k not in keys:
            close = difflib.get_close_matches(k, sorted(keys), n=1)
            add(
                "lint-missing-config-key",
                f"{where}.{v.section} has no key '{k}', named by {why}; config-manager "
                f"fails with 'specified config {k} does not exist' and the device-plugin pod crash-loops",
                f"Add {v.section}['{k}']" + (f" (or did you mean '{close[0]}'?)" if close else "") + ".",
                "default" if why.endswith(".default") else v.section,
            )
    result.findings[:] = sort_findings(result.findings)
    return result


def version_in_file(docs: list[Doc]) -> tuple[str, str] | None:
    """A device-plugin version the input names itself: gpu-operator values' ``devicePlugin.version``, a
    ClusterPolicy's ``spec.devicePlugin.version``, or the nvidia-device-plugin chart's ``image.tag``."""
    for doc in docs:
        d = doc.data
        if not isinstance(d, dict):
            continue
        if d.get("kind") == "ClusterPolicy":
            spec = d.get("spec")
            dp = spec.get("devicePlugin") if isinstance(spec, dict) else None
            if isinstance(dp, dict) and isinstance(dp.get("version"), str) and dp["version"]:
                return dp["version"], "spec.devicePlugin.version of the ClusterPolicy"
            continue
        if "kind" in d:
            continue
        dp = d.get("devicePlugin")
        if isinstance(dp, dict) and isinstance(dp.get("version"), str) and dp["version"]:
            return dp["version"], "devicePlugin.version in the values"
        image = d.get("image")
        if isinstance(d.get("config"), dict) and isinstance(image, dict):
            tag = image.get("tag")
            if isinstance(tag, str) and tag:
                return tag, "image.tag in the nvidia-device-plugin values"
    return None
