"""``gpuslice lint-config``: check NVIDIA device-plugin sharing configs before a node crash-loops.

Accepts a raw config file (YAML or JSON, as the plugin reads it), a Kubernetes ConfigMap manifest (several
documents, several keys, ``kind: List`` too) or Helm values of the gpu-operator / nvidia-device-plugin charts.
Applies the device plugin's own rules (k8s-device-plugin ``api/config/v1``, per plugin version: ``versions``) and is
stricter where the plugin silently ignores mistakes; the finding registry (owner ``lint``) lists every finding id and
``docs/lint-config.md`` has the user view.

Modules: ``goyaml`` (read YAML as the plugin does), ``schema`` (the schema data + Go predicates), ``walk`` (the schema
walk), ``sharing_rules`` (rules across fields), ``document`` (one config's text), ``configmap`` / ``helmvalues``
(the containers around configs), ``speccheck`` (against a gpuslice spec), ``versions`` (rule set per plugin version).

Library use::

    from gpuslice.lintconfig import lint, lint_config
    result = lint(text, "cm.yaml", default="exclusive", node_label_keys=["time-slicing-4"])
    result.ok, result.findings
    lint_config(config_text_or_dict, plugin_version="v0.17.4").ok   # one config, e.g. a ConfigMap key's value
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuslice.errors import GpusliceError, Problem, SpecError
from gpuslice.findings import sort_findings
from gpuslice.lintconfig.configmap import clusterpolicy_config, is_manifest, lint_manifest
from gpuslice.lintconfig.document import lint_config_text
from gpuslice.lintconfig.goyaml import Doc, load_docs
from gpuslice.lintconfig.helmvalues import helm_values_config, lint_values
from gpuslice.lintconfig.placeholders import name_placeholders, unparsable_message
from gpuslice.lintconfig.result import ConfigSummary, LintResult, emit, summarize
from gpuslice.lintconfig.rules import IDS, STRICT_IDS
from gpuslice.lintconfig.schema import key_index
from gpuslice.lintconfig.speccheck import check
from gpuslice.lintconfig.versions import PluginRules, choose_rules
from gpuslice.lintconfig.wrappers import all_wrapped, manifest_bases, version_in_file
from gpuslice.yamlio import display_name, read_text

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec

__all__ = [
    "IDS",
    "STRICT_IDS",
    "ConfigSummary",
    "LintResult",
    "PluginRules",
    "check",
    "lint",
    "lint_config",
    "lint_file",
]


def lint(
    text: str,
    file: str = "<input>",
    *,
    default: str | None = None,
    node_label_keys: Iterable[str] = (),
    resolved: ResolvedSpec | None = None,
    upstream: bool = False,
    plugin_version: str | None = None,
) -> LintResult:
    """Lint a device-plugin config, a manifest (ConfigMaps; Flux HelmRelease, RKE2 HelmChart and Argo CD Application
    values) or chart values (gpu-operator, nvidia-device-plugin; also nested under a parent chart).

    ``default`` / ``node_label_keys`` name ConfigMap keys that must exist (``devicePlugin.config.default`` and the
    values of ``nvidia.com/device-plugin.config`` node labels); ``resolved`` takes both, the namespace and the
    expected settings from a gpuslice spec. ``upstream=True`` reports only what the plugin itself rejects as errors
    (gpuslice's stricter rules become warnings). ``plugin_version`` picks the loader rules (else the spec's chart,
    else a version the file names, else the newest; ``result.plugin`` says which). Raises ``SpecError`` when
    ``text`` is not YAML at all (an unrendered template is named as such) or holds nothing to lint, and
    ``GpusliceError`` for options that do not fit the input.
    """
    label_keys = [k for k in node_label_keys if k]
    try:
        docs = load_docs(text, file)
    except SpecError as e:
        p = e.problems[0]
        msg = unparsable_message(text, p.line)
        if msg is None:
            raise
        raise SpecError([Problem(msg, file=file, line=p.line)]) from None
    try:
        rules = choose_rules(
            plugin_version,
            spec_chart=resolved.chart_version if resolved is not None else None,
            in_file=version_in_file(docs),
        )
    except ValueError as e:
        raise GpusliceError(f"--plugin-version: {e}") from None
    opts = {"upstream": upstream, "default": default, "label_keys": label_keys, "resolved": resolved, "rules": rules}
    if is_manifest(docs):
        result = _lint_manifest(docs, file, **opts)  # type: ignore[arg-type]
    elif values := helm_values_config(docs):
        result = LintResult(file=file, kind="helm-values", plugin=rules)
        for v in values:
            _merge(result, lint_values(file, v, **opts))  # type: ignore[arg-type]
    else:
        _must_be_a_config(docs, file)
        if default or label_keys or resolved is not None:
            raise GpusliceError(
                f"{file}: --default, --node-label-keys and --spec check the keys of a ConfigMap manifest, but this "
                "file is a raw device-plugin config (no kind/apiVersion). Lint it without them, or lint the ConfigMap."
            )
        findings, parsed, _n = lint_config_text(text, file, upstream=upstream, docs=docs, rules=rules)
        result = LintResult(
            file=file, kind="config", findings=findings, configs=[summarize("", None, parsed, findings)], plugin=rules
        )
    result.findings[:] = sort_findings(name_placeholders(result.findings, text, file))
    return result


def _merge(into: LintResult, other: LintResult) -> None:
    into.findings.extend(other.findings)
    into.configs.extend(other.configs)
    into.configmaps.extend(other.configmaps)


def _lint_manifest(
    docs: list[Doc],
    file: str,
    *,
    upstream: bool,
    default: str | None,
    label_keys: list[str],
    resolved: ResolvedSpec | None,
    rules: PluginRules,
) -> LintResult:
    """ConfigMaps (``configmap``) plus the values inside Flux / RKE2 / Argo CD objects (``wrappers``)."""
    wrapped = all_wrapped(docs)
    named_by: tuple[str | None, str | None, str] = (None, None, "")
    for w in wrapped:  # values that point the operator at an existing ConfigMap pick it among the manifest's
        for v in w.values:
            cfg = v.config or {}
            if v.chart == "gpu-operator" and not cfg.get("data") and (cfg.get("name") or cfg.get("default")):
                name, dflt = cfg.get("name"), cfg.get("default")
                named_by = (
                    name if isinstance(name, str) and name else None,
                    dflt if isinstance(dflt, str) and dflt else None,
                    w.what,
                )
    result = lint_manifest(
        docs,
        file,
        upstream=upstream,
        default=default,
        label_keys=label_keys,
        resolved=resolved,
        rules=rules,
        named_by=named_by,
    )
    relevant = False
    for w in wrapped:
        if w.values:
            relevant = True
            for v in w.values:
                sub = lint_values(
                    file, v, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved, rules=rules
                )
                result.findings.extend(
                    replace(f, message=f"{w.what}: {f.message}") if f.id == "lint-no-config" else f
                    for f in sub.findings
                )
                result.configs.extend(sub.configs)
        elif w.known_chart:
            relevant = True
            result.findings.append(
                emit(
                    "lint-no-config",
                    f"{w.what}: no device-plugin sharing config here ({w.known_chart} chart"
                    + (" without values" if not w.has_values else " values without a device-plugin config block")
                    + "; GPUs are not shared unless a ConfigMap is named elsewhere)",
                    "",
                    file=file,
                    line=w.line,
                    path=None,
                )
            )
        else:
            result.findings.append(
                emit(
                    "lint-not-configmap",
                    f"skipped {w.what}: chart {w.chart or '(none)'} is neither gpu-operator nor "
                    "nvidia-device-plugin and its values hold no device-plugin config",
                    "",
                    file=file,
                    line=w.line,
                    path=None,
                )
            )
        if w.values or w.known_chart:
            for note in w.notes:
                result.findings.append(
                    emit("lint-values-elsewhere", f"{w.what}: {note}", "", file=file, line=w.line, path=None)
                )
    if not result.configmaps and not relevant:
        kinds = sorted(
            {str(_kind(doc, base)) for doc in docs for base in manifest_bases(doc) if _kind(doc, base) is not None}
        )
        cp_name, _default = clusterpolicy_config(docs)
        hint = f" The ClusterPolicy names the ConfigMap {cp_name!r}: lint that ConfigMap." if cp_name else ""
        raise SpecError(
            [
                Problem(
                    f"nothing to lint: the manifest holds no ConfigMap and no gpu-operator / nvidia-device-plugin "
                    f"Helm values (kinds: {', '.join(kinds) or 'none'}). lint-config reads a device-plugin config, a "
                    "ConfigMap manifest, chart values, or a Flux HelmRelease / RKE2 HelmChart / Argo CD Application "
                    "of those charts." + hint,
                    file=file,
                    line=1,
                )
            ]
        )
    if wrapped and not result.configmaps:
        result.kind = "helm-values"
    elif wrapped:
        result.kind = "manifest"
    return result


def _kind(doc: Doc, base: tuple[str | int, ...]) -> Any:
    d: Any = doc.data
    for k in base:
        if isinstance(d, dict):
            d = d.get(k)
        elif isinstance(d, list) and isinstance(k, int):
            d = d[k]
        else:
            d = None
    return d.get("kind") if isinstance(d, dict) else None


def _must_be_a_config(docs: list[Doc], file: str) -> None:
    """A mapping that shares no key with a device-plugin config (nor a near miss of one) is something else: say
    there is nothing to lint rather than calling each of its keys unknown."""
    import difflib

    d = docs[0].data if docs else None
    if not isinstance(d, dict) or not d:
        return
    generic = {"name", "pattern", "devices", "replicas", "rename", "required", "channelids"}  # any YAML has these
    known = {k.lower() for k in key_index()} - generic
    keys = [str(k) for k in d]
    if any(k.lower() in known or difflib.get_close_matches(k.lower(), known, n=1, cutoff=0.75) for k in keys):
        return
    shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
    raise SpecError(
        [
            Problem(
                f"nothing to lint: not a device-plugin config (top-level keys {shown}; a config has version, flags, "
                "sharing, resources or imex), not a ConfigMap manifest, and not gpu-operator / "
                "nvidia-device-plugin Helm values",
                file=file,
                line=docs[0].line(()),
            )
        ]
    )


def lint_config(
    config: str | Mapping[str, Any] | None,
    *,
    plugin_version: str | None = None,
    file: str = "<config>",
    upstream: bool = False,
) -> LintResult:
    """Lint ONE device-plugin config: what the plugin reads from its config file (a ConfigMap key's value).

    The stable entry point for other tools (``doctor`` lints the key a node selects with it). ``config`` is the text
    (YAML or JSON, exactly as in the ConfigMap; ``None`` or ``""`` is an empty config) or an already parsed mapping
    (linted as its JSON rendering, so lines refer to that). ``plugin_version`` (``v0.17.4``, ``0.20``, an image tag
    such as ``v0.17.0-ubi9``) picks the loader rules; one that is no version falls back to the newest, and
    ``result.plugin`` says which rules were used and why. Never raises for a bad config: unparsable text is a
    ``lint-yaml`` finding.
    """
    import json

    if config is None:
        text = ""
    elif isinstance(config, str):
        text = config
    else:
        text = json.dumps(dict(config), indent=2, default=str)
    rules = choose_rules(plugin_version, strict=False)
    findings, parsed, _n = lint_config_text(text, file, upstream=upstream, rules=rules)
    findings = name_placeholders(findings, text, file)
    return LintResult(
        file=file,
        kind="config",
        findings=sort_findings(findings),
        configs=[summarize("", None, parsed, findings)],
        plugin=rules,
    )


def lint_file(path: str | Path, **kwargs: Any) -> LintResult:
    """Read and lint a file (``SpecError`` if unreadable or not YAML). Keyword options as for :func:`lint`."""
    return lint(read_text(path), display_name(path), **kwargs)
