"""``gpuslice lint-config``: check NVIDIA device-plugin sharing configs before a node crash-loops.

Accepts a raw config file (YAML or JSON, as the plugin reads it), a Kubernetes ConfigMap manifest (several
documents, several keys, ``kind: List`` too) or Helm values of the gpu-operator / nvidia-device-plugin charts.
Applies the device plugin's own rules (k8s-device-plugin ``api/config/v1``, per plugin version: ``versions``) and is
stricter where the plugin silently ignores mistakes; ``rules.RULES`` lists every finding id and
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

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuslice.errors import GpusliceError
from gpuslice.findings import sort_findings
from gpuslice.lintconfig.configmap import is_manifest, lint_manifest
from gpuslice.lintconfig.document import lint_config_text
from gpuslice.lintconfig.goyaml import load_docs
from gpuslice.lintconfig.helmvalues import helm_values_config, lint_values
from gpuslice.lintconfig.result import ConfigSummary, LintResult, summarize
from gpuslice.lintconfig.rules import IDS, STRICT_IDS
from gpuslice.lintconfig.speccheck import check
from gpuslice.yamlio import read_text

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec

__all__ = ["IDS", "STRICT_IDS", "ConfigSummary", "LintResult", "check", "lint", "lint_file"]


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
    values = helm_values_config(docs)
    if values is not None:
        return lint_values(file, values, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved)
    if not is_manifest(docs):
        if default or label_keys or resolved is not None:
            raise GpusliceError(
                f"{file}: --default, --node-label-keys and --spec check the keys of a ConfigMap manifest, but this "
                "file is a raw device-plugin config (no kind/apiVersion). Lint it without them, or lint the ConfigMap."
            )
        findings, parsed, _n = lint_config_text(text, file, upstream=upstream, docs=docs)
        return LintResult(
            file=file, kind="config", findings=sort_findings(findings), configs=[summarize("", None, parsed, findings)]
        )

    return lint_manifest(docs, file, upstream=upstream, default=default, label_keys=label_keys, resolved=resolved)


def lint_file(path: str | Path, **kwargs: Any) -> LintResult:
    """Read and lint a file (``SpecError`` if unreadable or not YAML). Keyword options as for :func:`lint`."""
    return lint(read_text(path), str(path), **kwargs)
