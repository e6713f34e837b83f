"""Proof that the rendered values do what they promise, by rendering the real chart with the real helm.

``helm template --include-crds --kube-version <spec>.0`` renders the chart with the generated values. Then:

- every image in the output goes through the mirror: containers, init and ephemeral containers, env values
  that are image references (the operator's ``DRIVER_MANAGER_IMAGE``/``VALIDATOR_IMAGE``), Helm hook Jobs, and
  the custom resources as the operator will assemble them (ClusterPolicy: the validator, device-plugin, ...
  images of the pods it creates at runtime, with the node-OS suffix on driver/GDS/GDRCopy tags);
- every pod template, and every ClusterPolicy component whose CRD schema has ``imagePullSecrets``, names
  every pull secret of the spec;
- every container image is in the inventory (so ``mirror.sh`` copies all of them);
- the ClusterPolicy carries the sharing ConfigMap (name, default key, content), ``mig.strategy`` and the
  driver/toolkit/devicePlugin switches the values set (a chart that predates a value silently drops it);
- core kinds validate against the Kubernetes OpenAPI schemas (kubernetes-validate's, strict, for the spec's
  Kubernetes version or the nearest one it ships) and custom resources against their CRD's openAPIV3Schema
  (strict: a field the schema does not declare is reported, since the API server would silently drop it).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpuslice.chart import Chart
from gpuslice.findings import Finding, Severity
from gpuslice.images import (
    ImageSlot,
    Inventory,
    driver_os_tags,
    find_slots,
    is_full_reference,
    is_mirrored,
    load_image_rules,
    mirror_configured,
    not_run_reason,
)
from gpuslice.resolve import ResolvedSpec

MAX_ERRORS_PER_OBJECT = 5
KV_REF = "https://github.com/willthames/kubernetes-validate"
CRD_REF = "https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation"


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


@dataclass(frozen=True)
class ImageUse:
    image: str
    where: str  # human: Deployment/gpu-operator container gpu-operator
    kind: str  # container | env | custom-resource
    enabled: bool = True


def parse_manifests(text: str) -> list[dict[str, Any]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict) and d.get("kind")]


def _name(doc: dict[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("name", "?"))


def _hook(doc: dict[str, Any]) -> str | None:
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


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[PodTemplate]:
    """Every PodSpec in ``docs`` (Pods, workload templates, Jobs, CronJobs...), found by shape."""
    from gpuslice.yamlio import format_path

    def walk(node: Any, path: tuple[str | int, ...], doc: dict[str, Any]) -> Iterator[PodTemplate]:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                yield PodTemplate(str(doc["kind"]), _name(doc), format_path(path), node, _hook(doc))
                return
            for k, v in node.items():
                yield from walk(v, (*path, k), doc)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*path, i), doc)

    for d in docs:
        if not is_crd(d):
            yield from walk(d.get("spec"), ("spec",), d)


def _custom_resources(docs: list[dict[str, Any]], crds: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if (d.get("apiVersion"), d.get("kind")) in crds]


def _enabled(spec: Any, path: tuple[str | int, ...]) -> bool:
    node = spec
    for step in path:
        if isinstance(node, dict) and node.get("enabled") is False:
            return False
        node = node.get(step) if isinstance(node, dict) and isinstance(step, str) else None
    return not (isinstance(node, dict) and node.get("enabled") is False)


def collect_images(docs: list[dict[str, Any]], resolved: ResolvedSpec) -> list[ImageUse]:
    """Every image reference the rendered release makes the cluster pull (see the module docstring)."""
    rules = load_image_rules()
    uses: list[ImageUse] = []
    for pt in pod_templates(docs):
        for field in ("initContainers", "containers", "ephemeralContainers"):
            for c in pt.spec.get(field) or []:
                if not isinstance(c, dict):
                    continue
                where = f"{pt.label} {field[:-1]} {c.get('name')}"
                if c.get("image"):
                    uses.append(ImageUse(str(c["image"]), where, "container"))
                for e in c.get("env") or []:
                    val = e.get("value") if isinstance(e, dict) else None
                    if isinstance(val, str) and is_full_reference(val):
                        uses.append(ImageUse(val, f"{where} env {e.get('name')}", "env"))
    crds = crd_index(docs)
    tags, _unknown = driver_os_tags(resolved)
    for cr in _custom_resources(docs, crds):
        label = f"{cr['kind']}/{_name(cr)}"
        for slot in find_slots(cr.get("spec") or {}, ("spec",)):
            enabled = _enabled(cr.get("spec"), slot.path[1:])
            if enabled and cr.get("kind") == "ClusterPolicy" and len(slot.path) > 1:
                # Enabled, but the operator deploys it only under a condition this release does not meet.
                enabled = not_run_reason(str(slot.path[1]), cr.get("spec") or {}, resolved) is None
            last = str(slot.path[-1]) if slot.shape != "ref" else str(slot.path[-2])
            if cr.get("kind") == "NVIDIADriver" and slot.path == ("spec",):
                # NVIDIADriver's own image is the driver's; its controller appends each node pool's OS tag
                # (NVIDIA/gpu-operator internal/state/nodepool.go getNodePools/getOSTag, driver.go).
                last = "driver"
            where = f"{label} {slot.where}"
            if last in rules.os_suffixed and slot.shape == "triple" and "sha256:" not in slot.source:
                # The operator appends the node's OS tag (resolveDriverTag) for each OS that runs the driver.
                uses.extend(
                    ImageUse(f"{slot.source}-{t}", f"{where} (-{t})", "custom-resource", enabled) for t in sorted(tags)
                )
                if not tags:
                    uses.append(ImageUse(slot.source, where, "custom-resource", False))
            else:
                uses.append(ImageUse(slot.source, where, "custom-resource", enabled))
    return uses


def check_images(uses: list[ImageUse], resolved: ResolvedSpec, inv: Inventory) -> list[Finding]:
    findings: list[Finding] = []
    mirrored = mirror_configured(resolved)
    known = inv.mirrors() if mirrored else inv.sources()
    outside: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for u in uses:
        if mirrored and not is_mirrored(u.image, resolved):
            outside.setdefault(u.image, []).append(u.where)
        elif u.kind != "env" and u.enabled and u.image not in known:
            missing.setdefault(u.image, []).append(u.where)
    for img, where in sorted(outside.items()):
        findings.append(
            Finding(
                id="operator-image-not-mirrored",
                severity=Severity.ERROR,
                message=f"The rendered release pulls {img} from outside the mirror ({len(where)} place(s)).",
                fix="Add a registry.mirrors rule (or registry.proxy) that covers it; if it comes from a chart template "
                "rather than its values, report it as a gpuslice bug.",
                evidence=tuple(where),
                path="registry",
            )
        )
    for img, where in sorted(missing.items()):
        findings.append(
            Finding(
                id="operator-image-not-in-inventory",
                severity=Severity.ERROR,
                message=f"The rendered release pulls {img}, which is not in images.txt/mirror.sh.",
                fix="Copy it into the mirror by hand and report it as a gpuslice bug (image discovery missed it).",
                evidence=tuple(where),
            )
        )
    return findings


def _secret_names(items: Any) -> set[str]:
    out: set[str] = set()
    for i in items or []:
        if isinstance(i, dict) and i.get("name"):
            out.add(str(i["name"]))
        elif isinstance(i, str):
            out.add(i)
    return out


def _schema_at(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for step in path:
        if node is None:
            return None
        if isinstance(step, int):
            node = node.get("items")
        else:
            node = (node.get("properties") or {}).get(step)
    return node


def _nested_in_image_owner(doc: dict[str, Any], path: tuple[str | int, ...]) -> bool:
    node: Any = doc
    for step in path[:-1]:
        node = node[step]
        if isinstance(node, dict) and (isinstance(node.get("image"), str) or isinstance(node.get("repository"), str)):
            return True
    return False


def check_pull_secrets(docs: list[dict[str, Any]], resolved: ResolvedSpec) -> list[Finding]:
    wanted = set(resolved.pull_secrets)
    if not wanted:
        return []
    uninstall = set(load_image_rules().uninstall_hooks)
    findings: list[Finding] = []
    for pt in pod_templates(docs):
        lacking = sorted(wanted - _secret_names(pt.spec.get("imagePullSecrets")))
        if not lacking:
            continue
        hooks = {h.strip() for h in (pt.hook or "").split(",") if h.strip()}
        only_uninstall = bool(hooks) and hooks <= uninstall
        findings.append(
            Finding(
                id="operator-pull-secret-missing",
                severity=Severity.WARNING if only_uninstall else Severity.ERROR,
                message=f"{pt.label} has no imagePullSecrets {', '.join(lacking)} at {pt.path}"
                + (
                    ": it only runs on `helm uninstall`, which can then hang pulling its image."
                    if only_uninstall
                    else "; its pods cannot pull from a mirror that needs credentials."
                ),
                fix=(
                    "The chart's template takes no pull secret there. Give the nodes credentials for the mirror "
                    "(kubelet credential provider or containerd registry config), or run `helm uninstall --no-hooks`."
                    if only_uninstall
                    else "Report it as a gpuslice bug; meanwhile add the secret to that component's "
                    "imagePullSecrets in values.yaml."
                ),
                evidence=(f"{pt.kind}/{pt.name}",),
            )
        )
    crds = crd_index(docs)
    for cr in _custom_resources(docs, crds):
        schema = crds[(cr["apiVersion"], cr["kind"])]
        for slot in find_slots(cr.get("spec") or {}, ("spec",)):
            if slot.shape == "ref" or _nested_in_image_owner(cr, slot.path):
                continue  # a sub-manager runs in its parent's pod, with the parent's secrets (driver.manager)
            comp = _schema_at(schema, (*slot.path, "imagePullSecrets"))
            if comp is None:
                continue  # the CRD gives this component no secrets of its own
            node: Any = cr
            for step in slot.path:
                node = node[step]
            lacking = sorted(wanted - _secret_names(node.get("imagePullSecrets")))
            if lacking:
                findings.append(
                    Finding(
                        id="operator-pull-secret-missing",
                        severity=Severity.ERROR,
                        message=f"{cr['kind']}/{_name(cr)} {slot.where} has no imagePullSecrets {', '.join(lacking)}: "
                        "the operator creates its pods without them.",
                        fix="Report it as a gpuslice bug; meanwhile set it in values.yaml.",
                        evidence=(slot.where,),
                    )
                )
    return findings


# ----------------------------------------------------------------------------------------------------------
# Wiring: the settings gpuslice relies on reach the ClusterPolicy (older charts drop unknown values silently)


def check_wiring(docs: list[dict[str, Any]], resolved: ResolvedSpec) -> list[Finding]:
    """The rendered release carries what the values ask for: a ClusterPolicy whose ``devicePlugin.config``
    names the sharing ConfigMap (and its default key), no ConfigMap of that name from the chart (gpuslice
    writes it), and
    ``mig.strategy``/``driver``/``toolkit``/``devicePlugin`` as set. A chart that predates a value ignores it
    (helm drops unknown values), so this is where an unsupported chart version shows."""
    from gpuslice.resolve import EXCLUSIVE_KEY
    from gpuslice.sharing import mig_strategy

    policies = [
        d for d in docs if d.get("kind") == "ClusterPolicy" and str(d.get("apiVersion", "")).startswith("nvidia.com/")
    ]
    fix = (
        "Use a GPU Operator chart version that supports it (the chart's templates/clusterpolicy.yaml must "
        "pass the value on), or report it as a gpuslice bug if the chart does."
    )
    if not policies:
        return [
            Finding(
                id="operator-values-not-applied",
                severity=Severity.ERROR,
                message="The rendered chart creates no ClusterPolicy (nvidia.com), so the operator would "
                "deploy nothing gpuslice configured.",
                fix="Check that --chart/operator.chart is the GPU Operator chart and that the ClusterPolicy "
                "is not switched off (clusterPolicy.deployCR).",
            )
        ]
    spec = policies[0].get("spec") or {}
    wrong: list[str] = []

    def at(*path: str) -> Any:
        node: Any = spec
        for step in path:
            node = node.get(step) if isinstance(node, dict) else None
        return node

    expect: list[tuple[tuple[str, ...], Any]] = [
        (("driver", "enabled"), resolved.driver_enabled),
        (("toolkit", "enabled"), resolved.toolkit_enabled),
        (("devicePlugin", "enabled"), resolved.device_plugin_enabled),
        (("mig", "strategy"), mig_strategy(resolved)),
    ]
    if resolved.device_plugin_enabled:
        expect += [
            (("devicePlugin", "config", "name"), resolved.device_plugin_configmap),
            (("devicePlugin", "config", "default"), EXCLUSIVE_KEY),
        ]
    for path, want in expect:
        got = at(*path)
        if got is None and path[-1] == "enabled" and want is True:
            continue  # the operator deploys a component whose `enabled` is left out
        if got != want:
            wrong.append(f"ClusterPolicy spec.{'.'.join(path)} is {got!r}, expected {want!r}")
    if resolved.device_plugin_enabled:
        cms = [d for d in docs if d.get("kind") == "ConfigMap" and _name(d) == resolved.device_plugin_configmap]
        if cms:
            wrong.append(
                f"the chart creates ConfigMap {resolved.device_plugin_configmap} (devicePlugin.config.create): "
                "gpuslice writes it so that keys nodes still select outlive a sharing change; a helm upgrade "
                "would drop them"
            )
    if not wrong:
        return []
    return [
        Finding(
            id="operator-values-not-applied",
            severity=Severity.ERROR,
            message=f"The chart does not apply {len(wrong)} value(s) gpuslice sets, so the cluster would not get the "
            "spec's sharing/operand settings.",
            fix=fix,
            evidence=tuple(wrong),
        )
    ]


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


def _short(e: Any) -> str:
    from gpuslice.yamlio import format_path

    where = format_path(list(e.absolute_path)) or "(top)"
    return f"{where}: {e.message[:300]}"


def validate_core(docs: list[dict[str, Any]], kube_version: str, skip: set[tuple[str, str]]) -> list[Finding]:
    version = kubernetes_schema_version(kube_version)
    if version is None:
        return [
            Finding(
                id="operator-validation-skipped",
                severity=Severity.INFO,
                message="kubernetes-validate is not installed, so the rendered objects were not checked "
                "against the Kubernetes OpenAPI schemas.",
                fix="pip install 'gpuslice[validate]'",
                reference=KV_REF,
            )
        ]
    findings: list[Finding] = []
    for d in docs:
        if (d.get("apiVersion"), d.get("kind")) in skip:
            continue
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(d.get("apiVersion", "")))
        validator = _core_validator(version, f"{str(d['kind']).lower()}-{api}.json")
        if validator is None:
            findings.append(
                Finding(
                    id="operator-manifest-unknown-kind",
                    severity=Severity.WARNING,
                    message=f"{d['kind']}/{_name(d)} ({d.get('apiVersion')}) is neither a Kubernetes {version} kind nor "
                    "defined by a CRD in the chart; it could not be validated.",
                    fix="Check that the cluster serves this API (helm would fail to install it otherwise).",
                    reference=KV_REF,
                )
            )
            continue
        errors = sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path))
        if errors:
            findings.append(
                Finding(
                    id="operator-manifest-invalid",
                    severity=Severity.ERROR,
                    message=f"{d['kind']}/{_name(d)} does not validate against the Kubernetes {version} schema "
                    f"({len(errors)} error(s)).",
                    fix="Fix the value that produces it in values.yaml (or report a gpuslice bug).",
                    evidence=tuple(_short(e) for e in errors[:MAX_ERRORS_PER_OBJECT]),
                    reference=KV_REF,
                )
            )
    return findings


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


def validate_custom(docs: list[dict[str, Any]]) -> list[Finding]:
    crds = crd_index(docs)
    findings: list[Finding] = []
    for cr in _custom_resources(docs, crds):
        schema = crds[(cr["apiVersion"], cr["kind"])]
        validator = _cr_validator(json.dumps(schema, sort_keys=True))
        errors = sorted(
            validator.iter_errors(apply_structural_defaults(cr, schema)), key=lambda e: list(e.absolute_path)
        )
        if errors:
            findings.append(
                Finding(
                    id="operator-cr-invalid",
                    severity=Severity.ERROR,
                    message=f"{cr['kind']}/{_name(cr)} does not validate against its CRD's openAPIV3Schema "
                    f"({len(errors)} error(s)).",
                    fix="Fix the value that produces it in values.yaml (or report a gpuslice bug).",
                    evidence=tuple(_short(e) for e in errors[:MAX_ERRORS_PER_OBJECT]),
                    reference=CRD_REF,
                )
            )
    return findings


# ----------------------------------------------------------------------------------------------------------


def render_chart(
    resolved: ResolvedSpec, chart: Chart | Path | str, values_text: str, *, helm: str | None = None
) -> list[dict[str, Any]]:
    """``helm template`` the chart with ``values_text`` for the spec's release, namespace and Kubernetes
    version; returns the parsed objects (CRDs included)."""
    from gpuslice.helm import template

    path = chart.path if isinstance(chart, Chart) else Path(chart)
    text = template(
        path,
        release=resolved.release_name,
        namespace=resolved.namespace,
        values_yaml=values_text,
        kube_version=resolved.kubernetes_version,
        include_crds=True,
        helm=helm,
    )
    return parse_manifests(text)


def prove(
    resolved: ResolvedSpec,
    chart: Chart,
    values_text: str,
    inv: Inventory,
    *,
    helm: str | None = None,
    docs: list[dict[str, Any]] | None = None,
) -> list[Finding]:
    """Render the chart with ``values_text`` and report everything that breaks the promises above."""
    objs = docs if docs is not None else render_chart(resolved, chart, values_text, helm=helm)
    crds = crd_index(objs)
    findings = check_images(collect_images(objs, resolved), resolved, inv)
    findings += check_pull_secrets(objs, resolved)
    findings += check_wiring(objs, resolved)
    findings += validate_core(objs, resolved.kubernetes_version, skip=set(crds))
    findings += validate_custom(objs)
    return findings


__all__ = [
    "ImageSlot",
    "ImageUse",
    "PodTemplate",
    "check_wiring",
    "collect_images",
    "crd_index",
    "kubernetes_schema_version",
    "parse_manifests",
    "pod_templates",
    "prove",
    "render_chart",
    "structural_to_jsonschema",
    "validate_core",
    "validate_custom",
]
