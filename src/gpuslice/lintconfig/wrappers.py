"""Helm values inside GitOps objects: Flux ``HelmRelease``, RKE2/k3s ``HelmChart`` / ``HelmChartConfig`` and
Argo CD ``Application`` / ``ApplicationSet``.

Where each keeps the values (field names from the projects' CRDs):

* Flux ``helm.toolkit.fluxcd.io`` HelmRelease: ``spec.values`` (a mapping), ``spec.valuesFrom`` (references, not
  linted here); chart ``spec.chart.spec.chart`` / ``.version``.
* RKE2/k3s ``helm.cattle.io`` HelmChart: ``spec.valuesContent`` (a YAML string) and ``spec.set``; chart
  ``spec.chart`` / ``spec.version``. HelmChartConfig: ``spec.valuesContent``.
* Argo CD ``argoproj.io`` Application: ``spec.source.helm.values`` (a YAML string), ``.valuesObject`` (a mapping);
  ``spec.sources[]`` likewise; chart ``source.chart`` / ``source.targetRevision``. ApplicationSet: the same under
  ``spec.template``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuslice.lintconfig.goyaml import Doc, load_docs
from gpuslice.lintconfig.helmvalues import Key, Values, find_values
from gpuslice.lintconfig.kinds import is_wrapper
from gpuslice.lintconfig.placeholders import has_placeholder
from gpuslice.yamlio import format_path

_CHARTS = {"gpu-operator": "gpu-operator", "nvidia-device-plugin": "nvidia-device-plugin"}


@dataclass
class Wrapped:
    """One Helm release a GitOps object describes."""

    what: str  # "Flux HelmRelease gpu-operator/gpu-operator"
    doc: Doc
    line: int | None
    chart: str | None  # the chart name as written (may be an OCI URL)
    chart_version: str | None
    values: list[Values] = field(default_factory=list)
    has_values: bool = False  # any inline values at all
    notes: list[str] = field(default_factory=list)  # valuesFrom etc.: what is not linted

    @property
    def known_chart(self) -> str | None:
        """gpu-operator / nvidia-device-plugin when the chart name says so."""
        name = (self.chart or "").rstrip("/").rsplit("/", 1)[-1]
        return _CHARTS.get(name)


def _get(d: Any, *path: Key) -> Any:
    for k in path:
        if isinstance(d, dict):
            d = d.get(k)
        elif isinstance(d, list) and isinstance(k, int) and k < len(d):
            d = d[k]
        else:
            return None
    return d


def _str(v: Any) -> str | None:
    return (
        v if isinstance(v, str) and v else (str(v) if isinstance(v, int | float) and not isinstance(v, bool) else None)
    )


def _name(d: dict[str, Any]) -> str:
    meta = d.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns, name = meta.get("namespace"), meta.get("name")
    return f"{ns}/{name}" if ns and name else str(name or "(unnamed)")


def unwrap(doc: Doc, base: tuple[Key, ...] = ()) -> list[Wrapped]:
    """The Helm releases of one wrapper object at ``base`` in ``doc`` (a ``kind: List`` item has a base)."""
    d = _get(doc.data, *base)
    if not is_wrapper(d):
        return []
    kind = d["kind"]
    line = doc.line(base) if base else doc.line(())
    out: list[Wrapped] = []
    if kind == "HelmRelease":
        w = Wrapped(
            f"Flux HelmRelease {_name(d)}",
            doc,
            line,
            _str(_get(d, "spec", "chart", "spec", "chart")),
            _str(_get(d, "spec", "chart", "spec", "version")),
        )
        if w.chart is None and isinstance(_get(d, "spec", "chartRef"), dict):
            w.chart = _str(_get(d, "spec", "chartRef", "name"))
        _mapping_values(w, (*base, "spec", "values"))
        refs = _get(d, "spec", "valuesFrom")
        if isinstance(refs, list) and refs:
            names = ", ".join(f"{_get(r, 'kind')}/{_get(r, 'name')}" for r in refs if isinstance(r, dict))
            w.notes.append(f"spec.valuesFrom ({names}) is merged in by Flux and not linted here")
        out.append(w)
    elif kind in ("HelmChart", "HelmChartConfig"):
        w = Wrapped(
            f"{kind} {_name(d)}",
            doc,
            line,
            _str(_get(d, "spec", "chart")) if kind == "HelmChart" else _str(_get(d, "metadata", "name")),
            _str(_get(d, "spec", "version")),
        )
        _text_values(w, (*base, "spec", "valuesContent"))
        if isinstance(_get(d, "spec", "set"), dict) and _get(d, "spec", "set"):
            w.notes.append("spec.set overrides are applied by the helm controller and not linted here")
        out.append(w)
    else:  # Application / ApplicationSet
        spec_base: tuple[Key, ...] = (*base, "spec") if kind == "Application" else (*base, "spec", "template", "spec")
        spec = _get(doc.data, *spec_base)
        sources: list[tuple[Key, ...]] = []
        if isinstance(_get(spec, "source"), dict):
            sources.append((*spec_base, "source"))
        if isinstance(_get(spec, "sources"), list):
            # a source with only `ref` (a values repository for $values/...) deploys nothing itself
            sources += [
                (*spec_base, "sources", i)
                for i, s in enumerate(spec["sources"])
                if isinstance(s, dict) and (s.get("chart") or s.get("path") or s.get("helm"))
            ]
        for src in sources:
            s = _get(doc.data, *src)
            w = Wrapped(
                f"Argo CD {kind} {_name(d)}" + (f" ({format_path(src[len(spec_base) :])})" if len(sources) > 1 else ""),
                doc,
                doc.line(src),
                _str(s.get("chart")) or _str(s.get("path")),
                _str(s.get("targetRevision")),
            )
            _mapping_values(w, (*src, "helm", "valuesObject"))
            _text_values(w, (*src, "helm", "values"))
            if isinstance(_get(s, "helm", "valueFiles"), list) and _get(s, "helm", "valueFiles"):
                w.notes.append("helm.valueFiles are read from the repository and not linted here")
            if isinstance(_get(s, "helm", "parameters"), list) and _get(s, "helm", "parameters"):
                w.notes.append("helm.parameters override values and are not linted here")
            out.append(w)
    return out


def _mapping_values(w: Wrapped, path: tuple[Key, ...]) -> None:
    values = _get(w.doc.data, *path)
    if isinstance(values, dict) and values:
        w.has_values = True
        w.values += find_values(w.doc, values, path, chart=w.known_chart)


def _text_values(w: Wrapped, path: tuple[Key, ...]) -> None:
    """Values held as a YAML string (RKE2 valuesContent, Argo helm.values): parsed with the lines of this file."""
    from gpuslice.errors import SpecError
    from gpuslice.lintconfig.configmap import node_at

    text = _get(w.doc.data, *path)
    if not isinstance(text, str) or not text.strip():
        return
    w.has_values = True
    node = node_at(w.doc.root, path)
    block = getattr(node, "style", None) in ("|", ">")
    offset = node.start_mark.line + 1 if block and node is not None else 0
    try:
        docs = load_docs(text, w.doc.file, line_offset=offset)
    except SpecError as e:
        p = e.problems[0]
        why = "an unrendered template placeholder" if has_placeholder(text) else "not YAML"
        w.notes.append(f"{format_path(path)} is {why} ({p.message}); not linted")
        return
    inner = docs[0] if docs else None
    if inner is None or not isinstance(inner.data, dict):
        return
    if not block:  # a quoted or plain string: every finding points at the key's line
        fixed = w.doc.line(path) or 1
        inner.lines = dict.fromkeys(inner.lines, fixed)
    for v in find_values(inner, chart=w.known_chart):
        label = f"{format_path(path)}: {v.where}"
        w.values.append(Values(v.doc, v.chart, v.base, v.section, v.config, label=label))


def manifest_bases(doc: Doc) -> list[tuple[Key, ...]]:
    """Where objects sit in one document: the root, or each item of a ``kind: List``."""
    d = doc.data
    if isinstance(d, dict) and d.get("kind") == "List" and isinstance(d.get("items"), list):
        return [("items", i) for i in range(len(d["items"]))]
    return [()]


def all_wrapped(docs: list[Doc]) -> list[Wrapped]:
    return [w for doc in docs for base in manifest_bases(doc) for w in unwrap(doc, base)]


def version_in_file(docs: list[Doc]) -> tuple[str, str] | None:
    """A device-plugin version the input names itself: (version, where). In order: a ClusterPolicy's
    ``spec.devicePlugin.version``; values' ``devicePlugin.version`` (gpu-operator) or ``image.tag``
    (nvidia-device-plugin), also inside a HelmRelease / HelmChart / Application; else the chart version such an
    object pins (gpu-operator chart -> the plugin it ships; nvidia-device-plugin chart = plugin version)."""
    from gpuslice.lintconfig.helmvalues import helm_values_config, values_version
    from gpuslice.lintconfig.versions import operator_chart_plugin

    for doc in docs:
        for base in manifest_bases(doc):
            d = _get(doc.data, *base)
            if isinstance(d, dict) and d.get("kind") == "ClusterPolicy":
                ver = _str(_get(d, "spec", "devicePlugin", "version"))
                if ver:
                    return ver, "spec.devicePlugin.version of the ClusterPolicy"
    for v in helm_values_config(docs):
        ver = values_version(v)
        if ver:
            tail = ("version",) if v.chart == "gpu-operator" else ("image", "tag")
            where = format_path((*v.base[:-1], *tail))
            return ver, f"{where} in the values"
    for w in all_wrapped(docs):
        for v in w.values:
            ver = values_version(v)
            if ver:
                return ver, f"{w.what}: {'devicePlugin.version' if v.chart == 'gpu-operator' else 'image.tag'}"
        chart = w.known_chart or (w.values[0].chart if w.values else None)
        if w.chart_version and chart == "gpu-operator":
            pv = operator_chart_plugin(w.chart_version)
            if pv:
                return pv, f"{w.what}: gpu-operator chart {w.chart_version}"
        elif w.chart_version and chart == "nvidia-device-plugin":
            return w.chart_version, f"{w.what}: nvidia-device-plugin chart {w.chart_version}"
    return None
