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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuslice.errors import GpusliceError
from gpuslice.findings import sort_findings
from gpuslice.lintconfig.configmap import is_manifest, lint_manifest
from gpuslice.lintconfig.document import lint_config_text
from gpuslice.lintconfig.goyaml import load_docs
from gpuslice.lintconfig.helmvalues import helm_values_config, lint_values, version_in_file
from gpuslice.lintconfig.result import ConfigSummary, LintResult, summarize
from gpuslice.lintconfig.rules import IDS, STRICT_IDS
from gpuslice.lintconfig.speccheck import check
from gpuslice.lintconfig.versions import PluginRules, choose_rules
from gpuslice.yamlio import read_text

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
    """Lint a device-plugin config, a ConfigMap manifest holding several, or Helm values.

    ``default`` / ``node_label_keys`` name ConfigMap keys that must exist (``devicePlugin.config.default`` and the
    values of ``nvidia.com/device-plugin.config`` node labels); ``resolved`` takes both, the namespace and the
    expected settings from a gpuslice spec. ``upstream=True`` reports only what the plugin itself rejects as errors
    (gpuslice's stricter rules become warnings). ``plugin_version`` picks the loader rules (else the spec's chart,
    else a version the file names, else the newest; ``result.plugin`` says which). Raises ``SpecError`` when
    ``text`` is not YAML at all, and ``GpusliceError`` for options that do not fit the input.
    """
    label_keys = [k for k in node_label_keys if k]
    docs = load_docs(text, file)
    try:
        rules = choose_rules(
            plugin_version,
            spec_chart=resolved.chart_version if resolved is not None else None,
            in_file=version_in_file(docs),
        )
    except ValueError as e:
        raise GpusliceError(f"--plugin-version: {e}") from None
    values = helm_values_config(docs)
    if values is not None:
        return lint_values(
            file, values, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved, rules=rules
        )
    if not is_manifest(docs):
        if default or label_keys or resolved is not None:
            raise GpusliceError(
                f"{file}: --default, --node-label-keys and --spec check the keys of a ConfigMap manifest, but this "
                "file is a raw device-plugin config (no kind/apiVersion). Lint it without them, or lint the ConfigMap."
            )
        findings, parsed, _n = lint_config_text(text, file, upstream=upstream, docs=docs, rules=rules)
        return LintResult(
            file=file,
            kind="config",
            findings=sort_findings(findings),
            configs=[summarize("", None, parsed, findings)],
            plugin=rules,
        )

    return lint_manifest(
        docs, file, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved, rules=rules
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
    return LintResult(
        file=file,
        kind="config",
        findings=sort_findings(findings),
        configs=[summarize("", None, parsed, findings)],
        plugin=rules,
    )


def lint_file(path: str | Path, **kwargs: Any) -> LintResult:
    """Read and lint a file (``SpecError`` if unreadable or not YAML). Keyword options as for :func:`lint`."""
    return lint(read_text(path), str(path), **kwargs)
