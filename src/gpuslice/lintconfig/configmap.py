"""ConfigMap manifests: single ConfigMaps, ``kind: List``, multi-document ``kustomize build`` / ``helm template``
output; which ConfigMaps hold device-plugin configs, and the ConfigMap-level rules (name, keys, data types)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuslice.findings import Finding, Severity, sort_findings
from gpuslice.lintconfig.document import lint_config_text
from gpuslice.lintconfig.goyaml import Doc
from gpuslice.lintconfig.kinds import is_wrapper
from gpuslice.lintconfig.result import ConfigSummary, LintResult, emit, summarize
from gpuslice.lintconfig.schema import DNS1123_LABEL, schema
from gpuslice.lintconfig.speccheck import compare_with_spec, missing_keys, required_keys, spec_expectations
from gpuslice.lintconfig.versions import PluginRules
from gpuslice.names import CONFIGMAP_KEY_RE, LABEL_VALUE_RE

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


def node_at(root: Any, path: Sequence[str | int]) -> Any:
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


def iter_configmaps(docs: list[Doc]) -> Iterator[tuple[Doc, tuple[str | int, ...], dict[str, Any]]]:
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


def is_manifest(docs: list[Doc]) -> bool:
    return any(isinstance(d.data, dict) and "kind" in d.data and "apiVersion" in d.data for d in docs)


DP_TOP_KEYS = frozenset({"version", "flags", "sharing", "resources", "imex"})


def looks_like_dp_config(value: Any) -> bool:
    """A ConfigMap value that is meant as a device-plugin config: a mapping with a sharing/flags block, or only
    device-plugin top-level keys (``version: v1`` alone is an exclusive config; mig-parted's ``version`` +
    ``mig-configs`` is not).

    Nesting is bounded before parsing (``yamlio.MAX_DEPTH``): a value nested deeper counts as a (broken) config, so
    it is linted and reported as too deep instead of overflowing the parser's recursion."""
    import yaml

    from gpuslice.yamlio import MAX_DEPTH, nesting_depth

    if not isinstance(value, str):
        return False
    if nesting_depth(value)[0] > MAX_DEPTH:
        return True
    try:
        d = yaml.safe_load(value)
    except (yaml.YAMLError, RecursionError):
        return bool(re.search(r"^\s*(sharing|timeSlicing|mps)\s*:", value, re.MULTILINE))  # a broken DP config
    if not isinstance(d, dict) or not d:
        return False
    keys = {str(k).lower() for k in d}
    return bool(keys & {"sharing", "flags"}) or keys <= DP_TOP_KEYS


_Cm = tuple[Doc, tuple[str | int, ...], dict[str, Any]]


def device_plugin_configmaps(
    cms: list[_Cm], wanted: str | None
) -> list[tuple[Doc, tuple[str | int, ...], dict[str, Any], str]]:
    """(doc, base, ConfigMap, reason to skip or "") for every ConfigMap of a manifest.

    One ConfigMap is always linted (the user passed it). In a multi-object manifest (``kustomize build``, ``helm
    template``) only the device-plugin ConfigMaps are: the one a ClusterPolicy in the manifest (or the spec) names,
    else those holding device-plugin configs; when none qualifies, every ConfigMap is linted."""
    if len(cms) <= 1:
        return [(d, b, c, "") for d, b, c in cms]

    def name(cm: dict[str, Any]) -> str:
        n = cm_meta(cm).get("name")
        return n if isinstance(n, str) else ""

    if wanted and any(name(c) == wanted for _d, _b, c in cms):
        pick = {id(c) for _d, _b, c in cms if name(c) == wanted}
        why = f"not the device-plugin ConfigMap (devicePlugin.config.name is {wanted!r})"
    else:
        pick = set()
        for _d, _b, c in cms:
            data = c.get("data")
            if isinstance(data, dict) and any(looks_like_dp_config(v) for v in data.values()):
                pick.add(id(c))
        why = "its data holds no device-plugin config"
    if not pick:
        return [(d, b, c, "") for d, b, c in cms]
    return [(d, b, c, "" if id(c) in pick else f"skipped ConfigMap {name(c) or '(unnamed)'}: {why}") for d, b, c in cms]


def clusterpolicy_config(docs: list[Doc]) -> tuple[str | None, str | None]:
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


@dataclass
class CmContext:
    file: str
    upstream: bool
    findings: list[Finding]
    configs: list[ConfigSummary]
    rules: PluginRules


def cm_meta(cm: dict[str, Any]) -> dict[str, Any]:
    meta = cm.get("metadata")
    return meta if isinstance(meta, dict) else {}


def lint_configmap(ctx: CmContext, doc: Doc, base: tuple[str | int, ...], cm: dict[str, Any]) -> tuple[str, set[str]]:
    file = ctx.file

    def line(*path: str | int) -> int | None:
        return doc.line((*base, *path))

    def add(rule: str, message: str, fix: str, path: str | None, ln: int | None) -> None:
        ctx.findings.append(emit(rule, message, fix, file=file, line=ln, path=path))

    meta = cm_meta(cm)
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
    keys |= lint_entries(ctx, doc, base, entries, label)
    return name, keys


def lint_entries(
    ctx: CmContext,
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
        ctx.findings.append(emit(rule, message, fix, file=file, line=ln, path=path))

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
        key_errors = configmap_key_problems(key)
        if key_errors:
            add(
                "lint-configmap-key",
                f"'{key}' is not a valid ConfigMap key: {key_errors}",
                "Use letters, digits, '-', '_' and '.' only.",
                kpath,
                kline,
            )
        elif len(key) > 63 or not LABEL_VALUE.fullmatch(key):
            add(
                "lint-configmap-label-value",
                f"'{key}' is not a valid label value, so no node can select it with "
                f"{schema()['configmap']['node_label']}=<key>; only the default can name it",
                "Use at most 63 characters: letters, digits, '-', '_', '.', starting and ending alphanumeric.",
                kpath,
                kline,
            )
        text, fixed, offset = value_text(ctx, doc, (*base, section, key), section, value, kpath, kline)
        if text is None:
            continue
        found, parsed, _ = lint_config_text(
            text,
            file,
            upstream=ctx.upstream,
            prefix=kpath,
            line_offset=offset,
            fixed_line=fixed,
            in_configmap=True,
            rules=ctx.rules,
        )
        ctx.findings.extend(found)
        ctx.configs.append(summarize(f"{label}/{key}", key, parsed, found, kline))
    return keys


def value_text(
    ctx: CmContext, doc: Doc, path: tuple[str | int, ...], section: str, value: Any, kpath: str, kline: int | None
) -> tuple[str | None, int | None, int | None]:
    """(text, fixed line or None, line offset) of one data/binaryData value."""
    if section == "binaryData":
        if not isinstance(value, str):
            ctx.findings.append(
                emit(
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
                emit(
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
            emit(
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
    node = node_at(doc.root, path)
    style = getattr(node, "style", None)
    if style == "|":
        return value, None, node.start_mark.line + 1 + doc.line_offset
    return value, kline, None


LABEL_VALUE = LABEL_VALUE_RE


def configmap_key_problems(key: str) -> str:
    """k8s.io/apimachinery IsConfigMapKey."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not CONFIGMAP_KEY_RE.fullmatch(key):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return "; ".join(errs)


def lint_manifest(
    docs: list[Doc],
    file: str,
    *,
    upstream: bool,
    default: str | None,
    label_keys: list[str],
    resolved: ResolvedSpec | None,
    rules: PluginRules,
    named_by: tuple[str | None, str | None, str] = (None, None, ""),
) -> LintResult:
    """Lint the device-plugin ConfigMaps of a Kubernetes manifest (one or several documents, ``kind: List``).

    ``named_by``: (ConfigMap name, default key, who names them) from chart values elsewhere in the manifest (a
    HelmRelease's ``devicePlugin.config``); a ClusterPolicy in the manifest takes precedence.

    ``result.configmaps`` lists those linted (empty: the manifest has none; the caller decides what that means).
    Flux/RKE2/Argo objects are left to ``wrappers``; other kinds get an info finding saying they were skipped."""
    result = LintResult(file=file, kind="configmap", plugin=rules)
    ctx = CmContext(file=file, upstream=upstream, findings=result.findings, configs=result.configs, rules=rules)
    for doc in docs:
        d = doc.data
        if isinstance(d, dict) and d.get("kind") not in ("ConfigMap", "List") and not is_wrapper(d):
            result.findings.append(
                emit(
                    "lint-not-configmap",
                    f"skipped a {d.get('kind')!r} document",
                    "",
                    file=file,
                    line=doc.line(()),
                    path=None,
                )
            )
    namespace = None
    spec_cm_name = None
    if resolved is not None:
        _default, _by_key, namespace, spec_cm_name = spec_expectations(resolved)
    cp_name, cp_default = clusterpolicy_config(docs)
    cp_from = "ClusterPolicy spec.devicePlugin.config.default in this manifest"
    if cp_name is None and cp_default is None and (named_by[0] or named_by[1]):
        cp_name, cp_default, cp_from = named_by[0], named_by[1], f"{named_by[2]} devicePlugin.config.default"
    chosen = device_plugin_configmaps(list(iter_configmaps(docs)), cp_name or spec_cm_name)
    for doc, base, cm, why_skipped in chosen:
        if why_skipped:
            result.findings.append(
                emit("lint-not-configmap", why_skipped, "", file=file, line=doc.line(base) or doc.line(()), path=None)
            )
            continue
        name, keys = lint_configmap(ctx, doc, base, cm)
        result.configmaps.append(name)
        named = [(default, "--default")]
        if not cp_name or cp_name == name:
            named.append((cp_default, cp_from))
        for k, why, close in missing_keys(required_keys(named, label_keys, resolved), keys):
            result.findings.append(
                emit(
                    "lint-missing-config-key",
                    f"ConfigMap {name or '(unnamed)'} has no key '{k}', named by {why}; "
                    f"config-manager fails with 'specified config {k} does not exist' and the device-plugin pod "
                    "crash-loops",
                    f"Add data['{k}']" + (f" (or did you mean '{close}'?)" if close else "") + ".",
                    file=file,
                    line=doc.line((*base, "data")) or doc.line(base),
                    path="data",
                )
            )
        if resolved is not None:
            ns = cm_meta(cm).get("namespace")
            if ns is not None and ns != namespace:
                result.findings.append(
                    emit(
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
                    emit(
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
            compare_with_spec(result, resolved, name)
    result.findings[:] = sort_findings(result.findings)
    return result
