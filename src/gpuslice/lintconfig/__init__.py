"""``gpuslice lint-config``: check hand-written NVIDIA device-plugin sharing configs before a node crash-loops.

Accepts a raw config file (YAML or JSON, as the plugin reads it) or a Kubernetes ConfigMap manifest (several
documents, several keys, ``kind: List`` too). Applies the device plugin's own rules (k8s-device-plugin v0.20.0,
commit 1b826acc, ``api/config/v1``) and is stricter where the plugin silently ignores mistakes; see
``rules.RULES`` for every finding id and ``docs/lint-config.md`` for the user view.

Library use::

    from gpuslice.lintconfig import lint
    result = lint(text, "cm.yaml", default="exclusive", node_label_keys=["time-slicing-4"])
    result.ok, result.findings
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuslice.errors import GpusliceError, SpecError
from gpuslice.findings import Finding, Severity, has_errors, sort_findings
from gpuslice.lintconfig.goyaml import Doc, load_docs
from gpuslice.lintconfig.rules import (
    DNS1123_LABEL,
    RULES,
    STRICT_IDS,
    Linter,
    Parsed,
    iter_rule_docs,
    schema,
)
from gpuslice.yamlio import read_text

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec

__all__ = ["IDS", "STRICT_IDS", "ConfigSummary", "LintResult", "check", "lint", "lint_file"]

_CM_RULES: dict[str, tuple[Severity, str]] = {
    "lint-configmap": (Severity.ERROR, "The manifest is not a usable v1 ConfigMap (kind, apiVersion, data types)."),
    "lint-configmap-name": (
        Severity.ERROR,
        "The ConfigMap name must be a DNS-1123 label (<= 63 characters) and must not clash with another volume of "
        "the device-plugin/GFD/MPS DaemonSets: the operator mounts it as a volume named after the ConfigMap.",
    ),
    "lint-configmap-key": (Severity.ERROR, "A data key is not a valid ConfigMap key ([-._a-zA-Z0-9]+, <= 253)."),
    "lint-configmap-label-value": (
        Severity.WARNING,
        "A data key that is not a valid label value cannot be selected with the nvidia.com/device-plugin.config "
        "node label (it can still be the default).",
    ),
    "lint-configmap-empty": (
        Severity.ERROR,
        "The ConfigMap has no data: config-manager fails with 'no configuration files available'.",
    ),
    "lint-missing-config-key": (
        Severity.ERROR,
        "A config key named by --default, a node label or the spec is not in the ConfigMap: config-manager fails "
        "('specified config X does not exist') and the device-plugin pod crash-loops.",
    ),
    "lint-configmap-namespace": (
        Severity.ERROR,
        "The ConfigMap is not in the operator namespace, so the operator's DaemonSets cannot mount it.",
    ),
    "lint-spec-mismatch": (
        Severity.WARNING,
        "A ConfigMap key's sharing settings differ from what the gpuslice spec asks for.",
    ),
    "lint-not-configmap": (
        Severity.INFO,
        "A document in the manifest that is not a device-plugin ConfigMap was skipped (another kind, "
        "or, next to a device-plugin ConfigMap, a ConfigMap whose data is no device-plugin config).",
    ),
    "lint-helm-values": (
        Severity.WARNING,
        "Helm values for the device-plugin config that the chart ignores (data without create: true) or refuses "
        "(create: true without a name or without data).",
    ),
}

#: finding id -> explanation (``gpuslice explain``)
IDS: dict[str, str] = {**dict(iter_rule_docs()), **{k: v[1] for k, v in _CM_RULES.items()}}

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
    kind: str  # "config" | "configmap"
    findings: list[Finding] = field(default_factory=list)
    configs: list[ConfigSummary] = field(default_factory=list)
    configmaps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "ok": self.ok,
            "configmaps": self.configmaps,
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


def _emit(
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
    sev = severity or (_CM_RULES[rule][0] if rule in _CM_RULES else RULES[rule][0])
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


def _summary(
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
    if fail is None:
        fail = block_name == "mps"  # v0.20.0: MPS defaults to true, time-slicing to false
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


def _lint_doc(doc: Doc, *, prefix: str, upstream: bool, in_configmap: bool) -> tuple[list[Finding], Parsed]:
    linter = Linter(doc=doc, prefix=prefix, upstream=upstream, in_configmap=in_configmap)
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
                _emit(
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
    findings, parsed = _lint_doc(docs[0], prefix=prefix, upstream=upstream, in_configmap=in_configmap)
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


# ------------------------------------------------------------------------------------------------------------
# ConfigMap manifests


def _node_at(root: Any, path: Sequence[str | int]) -> Any:
    """The ruamel node at a path of the composed document (mapping keys compared by their text)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    node = root
    for step in path:
        if isinstance(node, MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == step]
            if not match:
                return None
            node = match[-1]
        elif isinstance(node, SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return None
    return node


def _configmaps(docs: list[Doc]) -> Iterator[tuple[Doc, tuple[str | int, ...], dict[str, Any]]]:
    for doc in docs:
        d = doc.data
        if not isinstance(d, dict):
            continue
        if d.get("kind") == "List" and isinstance(d.get("items"), list):
            for i, item in enumerate(d["items"]):
                if isinstance(item, dict) and item.get("kind") == "ConfigMap":
                    yield doc, ("items", i), item
        elif d.get("kind") == "ConfigMap":
            yield doc, (), d


def _is_manifest(docs: list[Doc]) -> bool:
    return any(isinstance(d.data, dict) and "kind" in d.data and "apiVersion" in d.data for d in docs)


_DP_TOP_KEYS = frozenset({"version", "flags", "sharing", "resources", "imex"})


def _looks_like_dp_config(value: Any) -> bool:
    """A ConfigMap value that is meant as a device-plugin config: a mapping with a sharing/flags block, or only
    device-plugin top-level keys (``version: v1`` alone is an exclusive config; mig-parted's ``version`` +
    ``mig-configs`` is not)."""
    import yaml

    if not isinstance(value, str):
        return False
    try:
        d = yaml.safe_load(value)
    except yaml.YAMLError:
        return bool(re.search(r"^\s*(sharing|timeSlicing|mps)\s*:", value, re.MULTILINE))  # a broken DP config
    if not isinstance(d, dict) or not d:
        return False
    keys = {str(k).lower() for k in d}
    return bool(keys & {"sharing", "flags"}) or keys <= _DP_TOP_KEYS


_Cm = tuple[Doc, tuple[str | int, ...], dict[str, Any]]


def _device_plugin_configmaps(
    cms: list[_Cm], wanted: str | None
) -> list[tuple[Doc, tuple[str | int, ...], dict[str, Any], str]]:
    """(doc, base, ConfigMap, reason to skip or "") for every ConfigMap of a manifest.

    One ConfigMap is always linted (the user passed it). In a multi-object manifest (``kustomize build``, ``helm
    template``) only the device-plugin ConfigMaps are: the one a ClusterPolicy in the manifest (or the spec) names,
    else those holding device-plugin configs; when none qualifies, every ConfigMap is linted."""
    if len(cms) <= 1:
        return [(d, b, c, "") for d, b, c in cms]

    def name(cm: dict[str, Any]) -> str:
        n = _meta(cm).get("name")
        return n if isinstance(n, str) else ""

    if wanted and any(name(c) == wanted for _d, _b, c in cms):
        pick = {id(c) for _d, _b, c in cms if name(c) == wanted}
        why = f"not the device-plugin ConfigMap (devicePlugin.config.name is {wanted!r})"
    else:
        pick = set()
        for _d, _b, c in cms:
            data = c.get("data")
            if isinstance(data, dict) and any(_looks_like_dp_config(v) for v in data.values()):
                pick.add(id(c))
        why = "its data holds no device-plugin config"
    if not pick:
        return [(d, b, c, "") for d, b, c in cms]
    return [(d, b, c, "" if id(c) in pick else f"skipped ConfigMap {name(c) or '(unnamed)'}: {why}") for d, b, c in cms]


def _clusterpolicy_config(docs: list[Doc]) -> tuple[str | None, str | None]:
    """(devicePlugin.config.name, .default) of a ClusterPolicy in the manifest, if any."""
    for doc in docs:
        d = doc.data
        if isinstance(d, dict) and d.get("kind") == "ClusterPolicy":
            spec = d.get("spec")
            cfg = ((spec or {}).get("devicePlugin") or {}).get("config") if isinstance(spec, dict) else None
            if isinstance(cfg, dict):
                n, dflt = cfg.get("name"), cfg.get("default")
                return (n if isinstance(n, str) and n else None), (dflt if isinstance(dflt, str) and dflt else None)
    return None, None


@dataclass(frozen=True)
class _Values:
    doc: Doc
    chart: str  # "gpu-operator" | "nvidia-device-plugin"
    base: tuple[str, ...]  # path of the config block
    section: str  # "data" | "map"
    config: dict[str, Any]


def _helm_values_config(docs: list[Doc]) -> _Values | None:
    """The device-plugin config block of a Helm values file: gpu-operator's ``devicePlugin.config`` or the
    nvidia-device-plugin chart's ``config`` (with ``map``). None for anything else."""
    if len(docs) != 1 or not isinstance(docs[0].data, dict) or "kind" in docs[0].data:
        return None
    d = docs[0].data
    dp = d.get("devicePlugin")
    if isinstance(dp, dict) and isinstance(dp.get("config"), dict) and "sharing" not in d:
        return _Values(docs[0], "gpu-operator", ("devicePlugin", "config"), "data", dp["config"])
    cfg = d.get("config")
    if isinstance(cfg, dict) and "map" in cfg and not (set(d) & {"sharing", "version"}):
        return _Values(docs[0], "nvidia-device-plugin", ("config",), "map", cfg)
    return None


def _lint_values(
    file: str,
    v: _Values,
    *,
    upstream: bool,
    default: str | None,
    label_keys: list[str],
    resolved: ResolvedSpec | None = None,
) -> LintResult:
    """Lint the configs a Helm values file puts into the device-plugin ConfigMap the chart renders."""
    result = LintResult(file=file, kind="helm-values")
    ctx = _CmContext(file=file, upstream=upstream, findings=result.findings, configs=result.configs)
    doc, cfg, where = v.doc, v.config, ".".join(v.base)

    def add(rule: str, message: str, fix: str, *path: str, severity: Severity | None = None) -> None:
        result.findings.append(
            _emit(
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
    keys = _lint_entries(ctx, doc, v.base, entries, f"{where}.{v.section}", shown=f"{where}.")
    required: dict[str, str] = {}
    if chart_default:
        required[chart_default] = f"{where}.default"
    if default:
        required.setdefault(default, "--default")
    for k in label_keys:
        required.setdefault(k, "a node label")
    if resolved is not None:
        spec_default, by_key, _ns, _cm = _spec_expectations(resolved)
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


@dataclass
class _CmContext:
    file: str
    upstream: bool
    findings: list[Finding]
    configs: list[ConfigSummary]


def _meta(cm: dict[str, Any]) -> dict[str, Any]:
    meta = cm.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _lint_configmap(ctx: _CmContext, doc: Doc, base: tuple[str | int, ...], cm: dict[str, Any]) -> tuple[str, set[str]]:
    file = ctx.file

    def line(*path: str | int) -> int | None:
        return doc.line((*base, *path))

    def add(rule: str, message: str, fix: str, path: str | None, ln: int | None) -> None:
        ctx.findings.append(_emit(rule, message, fix, file=file, line=ln, path=path))

    meta = _meta(cm)
    name = str(meta["name"]) if isinstance(meta.get("name"), str) else ""
    label = name or "(unnamed ConfigMap)"
    if cm.get("apiVersion") != "v1":
        add(
            "lint-configmap",
            f"apiVersion is {cm.get('apiVersion')!r}; a ConfigMap is apiVersion v1",
            "Use v1.",
            "apiVersion",
            line("apiVersion"),
        )
    reserved = schema()["configmap"]["reserved_volume_names"]
    if not name:
        add(
            "lint-configmap-name",
            "the ConfigMap has no metadata.name",
            "Name it (and set devicePlugin.config.name to that name).",
            "metadata.name",
            line("metadata"),
        )
    elif len(name) > 63 or not DNS1123_LABEL.fullmatch(name):
        add(
            "lint-configmap-name",
            f"'{name}' cannot be a pod volume name (DNS-1123 label: lowercase letters, digits "
            f"and '-', at most 63 characters; this one has {len(name)}); the operator mounts the ConfigMap as a volume "
            "named after it, so the device-plugin DaemonSet is rejected",
            "Use a shorter lowercase name without dots.",
            "metadata.name",
            line("metadata", "name"),
        )
    elif name in reserved:
        add(
            "lint-configmap-name",
            f"'{name}' equals a volume the operator's device-plugin/GFD/MPS pods already have "
            f"(reserved: {', '.join(reserved)}); the pods would have two volumes with one name",
            "Pick another name, e.g. device-plugin-config.",
            "metadata.name",
            line("metadata", "name"),
        )

    keys: set[str] = set()
    data = cm.get("data")
    binary = cm.get("binaryData")
    if data is not None and not isinstance(data, dict):
        add(
            "lint-configmap",
            f"data must be a mapping of key -> config text, got {type(data).__name__}",
            "Write data:\\n  my-key: |\\n    version: v1 ...",
            "data",
            line("data"),
        )
        data = None
    if binary is not None and not isinstance(binary, dict):
        add(
            "lint-configmap",
            "binaryData must be a mapping of key -> base64 text",
            "Fix binaryData.",
            "binaryData",
            line("binaryData"),
        )
        binary = None
    entries: list[tuple[str, str, Any]] = [("data", k, v) for k, v in (data or {}).items()]
    entries += [("binaryData", k, v) for k, v in (binary or {}).items()]
    if not entries:
        add(
            "lint-configmap-empty",
            f"ConfigMap {label} has no data keys; config-manager fails with 'no configuration files available'",
            "Add one key per sharing config.",
            "data",
            line("data") or line(),
        )
    keys |= _lint_entries(ctx, doc, base, entries, label)
    return name, keys


def _lint_entries(
    ctx: _CmContext,
    doc: Doc,
    base: tuple[str | int, ...],
    entries: list[tuple[str, str, Any]],
    label: str,
    shown: str = "",
) -> set[str]:
    """Lint every (section, key, config text) of a ConfigMap's data/binaryData or a Helm values map.

    ``shown`` prefixes the key path in messages (``devicePlugin.config.`` for Helm values)."""
    file = ctx.file
    keys: set[str] = set()

    def add(rule: str, message: str, fix: str, path: str | None, ln: int | None) -> None:
        ctx.findings.append(_emit(rule, message, fix, file=file, line=ln, path=path))

    for section, key, value in entries:
        kpath = f"{shown}{section}[{key}]"
        kline = doc.line((*base, section, key))
        if key in keys:
            add(
                "lint-configmap-key",
                f"key '{key}' is in both data and binaryData; the API server rejects this",
                "Keep one.",
                kpath,
                kline,
            )
        keys.add(key)
        key_errors = _configmap_key_problems(key)
        if key_errors:
            add(
                "lint-configmap-key",
                f"'{key}' is not a valid ConfigMap key: {key_errors}",
                "Use letters, digits, '-', '_' and '.' only.",
                kpath,
                kline,
            )
        elif len(key) > 63 or not _LABEL_VALUE.fullmatch(key):
            add(
                "lint-configmap-label-value",
                f"'{key}' is not a valid label value, so no node can select it with "
                f"{schema()['configmap']['node_label']}=<key>; only the default can name it",
                "Use at most 63 characters: letters, digits, '-', '_', '.', starting and ending alphanumeric.",
                kpath,
                kline,
            )
        text, fixed, offset = _value_text(ctx, doc, (*base, section, key), section, value, kpath, kline)
        if text is None:
            continue
        found, parsed, _ = lint_config_text(
            text, file, upstream=ctx.upstream, prefix=kpath, line_offset=offset, fixed_line=fixed, in_configmap=True
        )
        ctx.findings.extend(found)
        ctx.configs.append(_summary(f"{label}/{key}", key, parsed, found, kline))
    return keys


def _value_text(
    ctx: _CmContext, doc: Doc, path: tuple[str | int, ...], section: str, value: Any, kpath: str, kline: int | None
) -> tuple[str | None, int | None, int | None]:
    """(text, fixed line or None, line offset) of one data/binaryData value."""
    if section == "binaryData":
        if not isinstance(value, str):
            ctx.findings.append(
                _emit(
                    "lint-configmap",
                    "binaryData values must be base64 strings",
                    "Encode it.",
                    file=ctx.file,
                    line=kline,
                    path=kpath,
                )
            )
            return None, None, None
        try:
            return base64.b64decode("".join(value.split()), validate=True).decode("utf-8"), kline, None
        except (binascii.Error, ValueError, UnicodeDecodeError):
            ctx.findings.append(
                _emit(
                    "lint-configmap",
                    "binaryData value is not base64-encoded UTF-8 text",
                    "Use data: for text configs.",
                    file=ctx.file,
                    line=kline,
                    path=kpath,
                )
            )
            return None, None, None
    if value is None:
        return "", kline, None  # an empty file: valid, no sharing
    if not isinstance(value, str):
        ctx.findings.append(
            _emit(
                "lint-configmap",
                f"ConfigMap data values must be strings, got a {type(value).__name__}; the API server "
                "rejects the manifest",
                f"Write the config as a block string: '{kpath.split('[', 1)[1][:-1]}: |' followed "
                "by the indented config.",
                file=ctx.file,
                line=kline,
                path=kpath,
            )
        )
        return None, None, None
    node = _node_at(doc.root, path)
    style = getattr(node, "style", None)
    if style == "|":
        return value, None, node.start_mark.line + 1
    return value, kline, None


_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _configmap_key_problems(key: str) -> str:
    """k8s.io/apimachinery IsConfigMapKey."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return "; ".join(errs)


# ------------------------------------------------------------------------------------------------------------


def _spec_expectations(resolved: ResolvedSpec) -> tuple[str, dict[str, list[str]], str, str]:
    """(default key, key -> pools that select it, namespace, ConfigMap name) from the resolved spec."""
    from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL
    from gpuslice.sharing import default_key

    by_key: dict[str, list[str]] = {}
    for p in resolved.pools:
        k = p.node_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
        if k:
            by_key.setdefault(k, []).append(p.name)
    return default_key(resolved), by_key, resolved.namespace, resolved.device_plugin_configmap


def _compare_with_spec(result: LintResult, resolved: ResolvedSpec, cm_name: str) -> None:
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
                _emit(
                    "lint-spec-mismatch",
                    "differs from the spec: " + "; ".join(diffs),
                    "Re-render it with 'gpuslice render', or change the spec.",
                    file=result.file,
                    line=c.line,
                    path=f"data[{c.key}]",
                )
            )


def lint(
    text: str,
    file: str = "<input>",
    *,
    default: str | None = None,
    node_label_keys: Iterable[str] = (),
    resolved: ResolvedSpec | None = None,
    upstream: bool = False,
) -> LintResult:
    """Lint a device-plugin config or a ConfigMap manifest holding several.

    ``default`` / ``node_label_keys`` name ConfigMap keys that must exist (``devicePlugin.config.default`` and the
    values of ``nvidia.com/device-plugin.config`` node labels); ``resolved`` takes both, the namespace and the
    expected settings from a gpuslice spec. ``upstream=True`` reports only what the plugin itself rejects as errors
    (gpuslice's stricter rules become warnings). Raises ``SpecError`` when ``text`` is not YAML at all, and
    ``GpusliceError`` when key options are given for a raw config.
    """
    label_keys = [k for k in node_label_keys if k]
    docs = load_docs(text, file)
    values = _helm_values_config(docs)
    if values is not None:
        return _lint_values(file, values, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved)
    if not _is_manifest(docs):
        if default or label_keys or resolved is not None:
            raise GpusliceError(
                f"{file}: --default, --node-label-keys and --spec check the keys of a ConfigMap manifest, but this "
                "file is a raw device-plugin config (no kind/apiVersion). Lint it without them, or lint the ConfigMap."
            )
        findings, parsed, _n = lint_config_text(text, file, upstream=upstream, docs=docs)
        return LintResult(
            file=file, kind="config", findings=sort_findings(findings), configs=[_summary("", None, parsed, findings)]
        )

    result = LintResult(file=file, kind="configmap")
    ctx = _CmContext(file=file, upstream=upstream, findings=result.findings, configs=result.configs)
    seen_cm = False
    for doc in docs:
        d = doc.data
        if isinstance(d, dict) and d.get("kind") not in ("ConfigMap", "List") and d is not None:
            result.findings.append(
                _emit(
                    "lint-not-configmap",
                    f"skipped a {d.get('kind')!r} document",
                    "",
                    file=file,
                    line=doc.line(()),
                    path=None,
                )
            )
    spec_default = None
    by_key: dict[str, list[str]] = {}
    namespace = None
    spec_cm_name = None
    if resolved is not None:
        spec_default, by_key, namespace, spec_cm_name = _spec_expectations(resolved)
    cp_name, cp_default = _clusterpolicy_config(docs)
    chosen = _device_plugin_configmaps(list(_configmaps(docs)), cp_name or spec_cm_name)
    for doc, base, cm, why_skipped in chosen:
        if why_skipped:
            result.findings.append(
                _emit("lint-not-configmap", why_skipped, "", file=file, line=doc.line(base) or doc.line(()), path=None)
            )
            continue
        seen_cm = True
        name, keys = _lint_configmap(ctx, doc, base, cm)
        result.configmaps.append(name)
        required: dict[str, str] = {}
        if default:
            required[default] = "--default"
        if cp_default and (not cp_name or cp_name == name):
            required.setdefault(cp_default, "ClusterPolicy spec.devicePlugin.config.default in this manifest")
        for k in label_keys:
            required.setdefault(k, "a node label")
        if resolved is not None:
            if spec_default:
                required.setdefault(spec_default, "the spec's default (devicePlugin.config.default)")
            for k, pools in by_key.items():
                required.setdefault(k, f"the node label of pool(s) {', '.join(pools)}")
        for k, why in required.items():
            if k not in keys:
                close = difflib.get_close_matches(k, sorted(keys), n=1)
                result.findings.append(
                    _emit(
                        "lint-missing-config-key",
                        f"ConfigMap {name or '(unnamed)'} has no key '{k}', named by {why}; "
                        f"config-manager fails with 'specified config {k} does not exist' and the device-plugin pod "
                        "crash-loops",
                        f"Add data['{k}']" + (f" (or did you mean '{close[0]}'?)" if close else "") + ".",
                        file=file,
                        line=doc.line((*base, "data")) or doc.line(base),
                        path="data",
                    )
                )
        if resolved is not None:
            ns = _meta(cm).get("namespace")
            if ns is not None and ns != namespace:
                result.findings.append(
                    _emit(
                        "lint-configmap-namespace",
                        f"namespace is {ns!r} but the operator runs in {namespace!r}; the "
                        "device-plugin DaemonSet cannot mount a ConfigMap from another namespace",
                        f"Use {namespace}.",
                        file=file,
                        line=doc.line((*base, "metadata", "namespace")),
                        path="metadata.namespace",
                    )
                )
            if name and name != spec_cm_name:
                result.findings.append(
                    _emit(
                        "lint-spec-mismatch",
                        f"ConfigMap is named {name!r} but the Helm values gpuslice renders "
                        f"reference {spec_cm_name!r} (devicePlugin.config.name)",
                        "Use the rendered ConfigMap, or point devicePlugin.config.name at this one.",
                        file=file,
                        line=doc.line((*base, "metadata")),
                        path="metadata.name",
                        severity=Severity.WARNING,
                    )
                )
            _compare_with_spec(result, resolved, name)
    if not seen_cm:
        kinds = sorted({str(d.data.get("kind")) for d in docs if isinstance(d.data, dict)})
        result.findings.append(
            _emit(
                "lint-configmap",
                f"the manifest holds no ConfigMap (kinds: {', '.join(kinds)})",
                "Pass the ConfigMap manifest or the raw config file.",
                file=file,
                line=1,
                path=None,
            )
        )
    result.findings[:] = sort_findings(result.findings)
    return result


def lint_file(path: str | Path, **kwargs: Any) -> LintResult:
    """Read and lint a file (``SpecError`` if unreadable or not YAML). Keyword options as for :func:`lint`."""
    return lint(read_text(path), str(path), **kwargs)


#: what ``check`` reports: the plugin itself would refuse the rendered ConfigMap, or the ConfigMap is unusable.
#: (gpuslice's stricter rules and advice about the spec's sharing settings belong to gpuslice.checks.sharing.)
_CHECK_IDS = frozenset(
    {k for k, v in RULES.items() if v[1] == "upstream"}
    | {"lint-configmap", "lint-configmap-name", "lint-configmap-key", "lint-configmap-empty", "lint-missing-config-key"}
)


def check(resolved: ResolvedSpec) -> list[Finding]:
    """Preflight rule: the device-plugin ConfigMap gpuslice renders for this spec is one the plugin accepts.

    A guard on the renderer: it reports only what would make the device plugin or config-manager fail.
    """
    from gpuslice.sharing import configmap_manifest
    from gpuslice.yamlio import dump_yaml

    _default, by_key, _ns, _name = _spec_expectations(resolved)
    res = lint(dump_yaml(configmap_manifest(resolved)), "device-plugin-config.yaml", resolved=resolved)
    out = []
    for f in res.findings:
        if f.severity is not Severity.ERROR or f.id not in _CHECK_IDS:
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
