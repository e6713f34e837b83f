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
  The generic part (manifests, pod templates, schema validation) lives in :mod:`gpuslice.kubeschema`; this module
  adds what is the operator's (images, pull secrets, wiring) and the findings. It imports nothing from
  :mod:`gpuslice.render.operator` (which imports it), so the two form no import cycle.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
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
from gpuslice.kubeschema import (
    CRD_REF,
    KV_REF,
    PodTemplate,
    apply_structural_defaults,
    core_errors,
    crd_index,
    custom_errors,
    format_error,
    is_crd,
    kubernetes_schema_version,
    parse_manifests,
    pod_templates,
    structural_to_jsonschema,
)
from gpuslice.kubeschema import custom_resources as _custom_resources
from gpuslice.kubeschema import object_name as _name
from gpuslice.resolve import ResolvedSpec

MAX_ERRORS_PER_OBJECT = 5


@dataclass(frozen=True)
class ImageUse:
    image: str
    where: str  # human: Deployment/gpu-operator container gpu-operator
    kind: str  # container | env | custom-resource
    enabled: bool = True


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
    if resolved.pools:
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
    if resolved.pools:
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


# ----------------------------------------------------------------------------------------------------------
# Schema validation (generic part in gpuslice.kubeschema)


def validate_core(docs: list[dict[str, Any]], kube_version: str, skip: set[tuple[str, str]]) -> list[Finding]:
    version, problems = core_errors(docs, kube_version, skip)
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
    for d, errors in problems:
        if errors is None:
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
        findings.append(
            Finding(
                id="operator-manifest-invalid",
                severity=Severity.ERROR,
                message=f"{d['kind']}/{_name(d)} does not validate against the Kubernetes {version} schema "
                f"({len(errors)} error(s)).",
                fix="Fix the value that produces it in values.yaml (or report a gpuslice bug).",
                evidence=tuple(format_error(e) for e in errors[:MAX_ERRORS_PER_OBJECT]),
                reference=KV_REF,
            )
        )
    return findings


def validate_custom(docs: list[dict[str, Any]]) -> list[Finding]:
    return [
        Finding(
            id="operator-cr-invalid",
            severity=Severity.ERROR,
            message=f"{cr['kind']}/{_name(cr)} does not validate against its CRD's openAPIV3Schema "
            f"({len(errors)} error(s)).",
            fix="Fix the value that produces it in values.yaml (or report a gpuslice bug).",
            evidence=tuple(format_error(e) for e in errors[:MAX_ERRORS_PER_OBJECT]),
            reference=CRD_REF,
        )
        for cr, errors in custom_errors(docs)
    ]


# ----------------------------------------------------------------------------------------------------------


def _helm_template(
    resolved: ResolvedSpec, chart: Chart | Path | str, values_text: str, helm: str | None
) -> Callable[[], str]:
    """The ``helm template`` call of the chart with ``values_text`` for the spec's release, namespace and Kubernetes
    version (CRDs included), ready to run."""
    from gpuslice.helm import template

    return functools.partial(
        template,
        chart.path if isinstance(chart, Chart) else Path(chart),
        release=resolved.release_name,
        namespace=resolved.namespace,
        values_yaml=values_text,
        kube_version=resolved.kubernetes_version,
        include_crds=True,
        helm=helm,
    )


def render_chart(
    resolved: ResolvedSpec, chart: Chart | Path | str, values_text: str, *, helm: str | None = None
) -> list[dict[str, Any]]:
    """``helm template`` the chart with ``values_text`` for the spec's release, namespace and Kubernetes
    version; returns the parsed objects (CRDs included)."""
    return parse_manifests(_helm_template(resolved, chart, values_text, helm)())


def start_render_chart(
    resolved: ResolvedSpec, chart: Chart | Path | str, values_text: str, *, helm: str | None = None
) -> Callable[[], list[dict[str, Any]]]:
    """:func:`render_chart` with ``helm template`` running in the background: the returned function waits for it
    and returns the parsed objects, or raises what :func:`render_chart` would have raised. A thread that waits on
    a subprocess does not hold the GIL, so the caller renders other files meanwhile. The thread is a daemon: on
    Ctrl-C gpuslice exits without waiting for a template nobody will read."""
    call = _helm_template(resolved, chart, values_text, helm)
    rendered: Future[str] = Future()

    def run() -> None:
        try:
            rendered.set_result(call())
        except BaseException as e:  # handed to the caller as it is
            rendered.set_exception(e)

    threading.Thread(target=run, name="gpuslice-helm-template", daemon=True).start()
    return lambda: parse_manifests(rendered.result())


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
    "apply_structural_defaults",
    "check_wiring",
    "collect_images",
    "crd_index",
    "is_crd",
    "kubernetes_schema_version",
    "parse_manifests",
    "pod_templates",
    "prove",
    "render_chart",
    "start_render_chart",
    "structural_to_jsonschema",
    "validate_core",
    "validate_custom",
]
