"""Generic Kubernetes manifest handling and schema validation, for any rendered chart (no GPU Operator knowledge).

- :func:`parse_manifests`, :func:`crd_index`, :func:`custom_resources`, :func:`pod_templates`: rendered objects,
  their CRDs' schemas, and every PodSpec found by shape;
- :func:`core_errors`: core kinds against the Kubernetes OpenAPI schemas (kubernetes-validate's strict ones, for a
  Kubernetes version or the nearest one it ships);
- :func:`custom_errors`: custom resources against their CRD's openAPIV3Schema, after what the API server does first
  (pruning nulls, defaults), strict (an undeclared field is an error: the API server would drop it silently).

Findings (ids, texts, fixes) are the caller's: :mod:`gpuslice.render.operator_proof` turns these into its own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

KV_REF = "https://github.com/willthames/kubernetes-validate"
CRD_REF = "https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation"


def parse_manifests(text: str) -> list[dict[str, Any]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict) and d.get("kind")]


def object_name(doc: dict[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("name", "?"))


def hook(doc: dict[str, Any]) -> str | None:
    ann = (doc.get("metadata") or {}).get("annotations") or {}
    h = ann.get("helm.sh/hook")
    return str(h) if h else None


def is_crd(doc: dict[str, Any]) -> bool:
    return doc.get("kind") == "CustomResourceDefinition"


def crd_index(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from the CRDs in ``docs``."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in docs:
        if not is_crd(d):
            continue
        spec = d.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for v in spec.get("versions") or []:
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            if group and kind and isinstance(schema, dict):
                out[(f"{group}/{v.get('name')}", str(kind))] = schema
    return out


@dataclass(frozen=True)
class PodTemplate:
    kind: str
    name: str
    path: str  # where the PodSpec sits in the object, e.g. spec.template.spec
    spec: dict[str, Any]
    hook: str | None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" + (f" (helm hook {self.hook})" if self.hook else "")


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[PodTemplate]:
    """Every PodSpec in ``docs`` (Pods, workload templates, Jobs, CronJobs...), found by shape."""
    from gpuslice.yamlio import format_path

    def walk(node: Any, path: tuple[str | int, ...], doc: dict[str, Any]) -> Iterator[PodTemplate]:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                yield PodTemplate(str(doc["kind"]), object_name(doc), format_path(path), node, hook(doc))
                return
            for k, v in node.items():
                yield from walk(v, (*path, k), doc)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*path, i), doc)

    for d in docs:
        if not is_crd(d):
            yield from walk(d.get("spec"), ("spec",), d)


def custom_resources(docs: list[dict[str, Any]], crds: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if (d.get("apiVersion"), d.get("kind")) in crds]


# ----------------------------------------------------------------------------------------------------------
# Schema validation


def _kv_root() -> Any:
    from importlib import resources

    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def kubernetes_schema_version(kube_version: str) -> str | None:
    """The kubernetes-validate schema version for ``kube_version``: the newest one not newer than it, else
    the oldest it ships. None when kubernetes-validate is not installed."""
    try:
        import kubernetes_validate.utils as kvu
    except ImportError:
        return None
    versions = sorted({v for v in kvu.all_versions()}, key=_vkey)
    want = _vkey(kube_version)[:2]
    older = [v for v in versions if _vkey(v)[:2] <= want]
    return older[-1] if older else versions[0]


@lru_cache(maxsize=4)
def _core_registry(version: str) -> Any:
    from referencing import Registry, Resource

    defs = json.loads(_kv_root().joinpath(f"v{version}-local-strict", "_definitions.json").read_text("utf-8"))
    return Resource.from_contents(defs) @ Registry()


@lru_cache(maxsize=256)
def _core_validator(version: str, filename: str) -> Any:
    import jsonschema
    from referencing import Resource

    p = _kv_root().joinpath(f"v{version}-local-strict", filename)
    if not p.is_file():
        return None
    schema = json.loads(p.read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=Resource.from_contents(schema) @ _core_registry(version))


def format_error(e: Any) -> str:
    from gpuslice.yamlio import format_path

    where = format_path(list(e.absolute_path)) or "(top)"
    return f"{where}: {e.message[:300]}"


def core_errors(
    docs: list[dict[str, Any]], kube_version: str, skip: set[tuple[str, str]]
) -> tuple[str | None, list[tuple[dict[str, Any], list[Any] | None]]]:
    """(schema version used, [(object, its errors or None for a kind the schemas do not have)]) for every object
    not in ``skip`` ((apiVersion, kind) pairs: custom resources). The version is None when kubernetes-validate is
    not installed (nothing checked)."""
    version = kubernetes_schema_version(kube_version)
    if version is None:
        return None, []
    out: list[tuple[dict[str, Any], list[Any] | None]] = []
    for d in docs:
        if (d.get("apiVersion"), d.get("kind")) in skip:
            continue
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(d.get("apiVersion", "")))
        validator = _core_validator(version, f"{str(d['kind']).lower()}-{api}.json")
        if validator is None:
            out.append((d, None))
            continue
        errors = sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path))
        if errors:
            out.append((d, errors))
    return version, out


def structural_to_jsonschema(node: Any, strict: bool = True) -> Any:
    """A Kubernetes structural schema (openAPIV3Schema) as JSON Schema: ``nullable`` allows null, the
    ``x-kubernetes-*`` markers are honoured, and (strict) undeclared fields are errors unless the schema
    preserves unknown fields."""
    if isinstance(node, list):
        return [structural_to_jsonschema(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: structural_to_jsonschema(s, strict) for name, s in v.items()}
        elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[k] = structural_to_jsonschema(v, strict)
        elif k == "nullable" or k.startswith("x-kubernetes-"):
            continue
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        t = out["type"]
        out["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
    if (
        strict
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def apply_structural_defaults(doc: Any, schema: dict[str, Any]) -> Any:
    """What the API server does to a custom resource before validating it: drop null values of fields that are
    not ``nullable`` (pruning) and fill in each missing field that has a ``default``."""
    if isinstance(doc, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        out: dict[str, Any] = {}
        for k, v in doc.items():
            sub = props.get(k, extra or {})
            if v is None and not sub.get("nullable"):
                continue
            out[k] = apply_structural_defaults(v, sub)
        for k, sub in props.items():
            if k not in out and isinstance(sub, dict) and "default" in sub:
                out[k] = apply_structural_defaults(copy.deepcopy(sub["default"]), sub)
        return out
    if isinstance(doc, list):
        items = schema.get("items")
        return [apply_structural_defaults(v, items if isinstance(items, dict) else {}) for v in doc]
    return doc


@lru_cache(maxsize=16)
def _cr_validator(schema_json: str) -> Any:
    import jsonschema

    schema = structural_to_jsonschema(json.loads(schema_json))
    # apiVersion/kind/metadata are validated by the API server itself, whatever the CRD says.
    props = schema.setdefault("properties", {})
    for k in ("apiVersion", "kind", "metadata"):
        props.setdefault(k, {})
    return jsonschema.Draft7Validator(schema)


def custom_errors(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[Any]]]:
    """[(custom resource, its errors)] for every custom resource in ``docs`` whose CRD is there too."""
    crds = crd_index(docs)
    out = []
    for cr in custom_resources(docs, crds):
        schema = crds[(cr["apiVersion"], cr["kind"])]
        validator = _cr_validator(json.dumps(schema, sort_keys=True))
        errors = sorted(
            validator.iter_errors(apply_structural_defaults(cr, schema)), key=lambda e: list(e.absolute_path)
        )
        if errors:
            out.append((cr, errors))
    return out


__all__ = [
    "CRD_REF",
    "KV_REF",
    "PodTemplate",
    "apply_structural_defaults",
    "core_errors",
    "crd_index",
    "custom_errors",
    "custom_resources",
    "format_error",
    "hook",
    "is_crd",
    "kubernetes_schema_version",
    "object_name",
    "parse_manifests",
    "pod_templates",
    "structural_to_jsonschema",
]
