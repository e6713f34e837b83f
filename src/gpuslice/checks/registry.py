"""Registry mirror rules: every registry the GPU Operator pulls from is covered, and the mirror can be logged in to.

The preflight runs without the chart, so it checks the registries the chart is known to use
(``catalog/data/operator_images.yaml`` ``imageSources``). ``plan``/``render`` then prove the exact list by
rendering the real chart; the ids they report are documented here too, so ``gpuslice explain`` knows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gpuslice.findings import Finding, Severity
from gpuslice.images import load_image_rules, mirror_configured, mirror_for
from gpuslice.resolve import ResolvedSpec

REF = "https://kubernetes.io/docs/concepts/containers/images/#specifying-imagepullsecrets-on-a-pod"
AIR_GAPPED_REF = (
    "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/install-gpu-operator-air-gapped.html"
)

IDS = {
    "registry-source-not-covered": "registry.mirrors is set (and no proxy), but no rule covers a registry the GPU "
    "Operator chart pulls from, so those pods would still pull from the internet (or fail behind a firewall).",
    "registry-no-pull-secret": "A registry mirror or proxy is configured but no pull secret is named in "
    "registry.pullSecrets; a mirror that needs credentials would make every GPU Operator pod fail with "
    "ImagePullBackOff. Ignore it when the mirror allows anonymous pulls or the nodes hold credentials.",
    "operator-image-not-mirrored": "(plan/render) The helm-rendered release, or the ClusterPolicy as the operator "
    "will assemble it, pulls an image from outside the mirror.",
    "operator-image-not-in-inventory": "(plan/render) The helm-rendered release pulls an image that images.txt and "
    "mirror.sh do not list: image discovery missed it (a gpuslice bug).",
    "operator-pull-secret-missing": "(plan/render) A rendered pod template, or a ClusterPolicy component, does not "
    "carry every pull secret of the spec. A warning for Helm hooks that only run on uninstall.",
    "operator-manifest-invalid": "(plan/render) A rendered core Kubernetes object does not validate against the "
    "OpenAPI schema of the spec's Kubernetes version (kubernetes-validate, strict).",
    "operator-manifest-unknown-kind": "(plan/render) A rendered object is neither a core kind of the Kubernetes "
    "version nor defined by a CRD in the chart, so it could not be validated.",
    "operator-cr-invalid": "(plan/render) A rendered custom resource (ClusterPolicy, ...) does not validate "
    "against its CRD's openAPIV3Schema after the API server's pruning and defaulting.",
    "operator-validation-skipped": "(plan/render) kubernetes-validate is not installed, so core objects were not "
    "validated.",
    "operator-chart-version-mismatch": "(plan/render) The chart given (--chart, operator.chart) declares a "
    "release version other than operator.chartVersion.",
    "operator-values-not-applied": "(plan/render) The helm-rendered release does not carry what the values asked "
    "for (the sharing ConfigMap name, default key or content, mig.strategy, the driver/toolkit/devicePlugin "
    "switches): this chart version drops or renames those values, so sharing would silently not be configured.",
    "operator-driver-os-unknown": "(plan/render) The operator appends the node OS to the driver/GDS/GDRCopy image "
    "tag, but a pool that runs the operator's driver has an OS with no known tag, so the inventory cannot list it.",
}


_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def check(r: ResolvedSpec) -> Iterator[Finding]:
    if not mirror_configured(r):
        return
    rules = load_image_rules()
    uncovered = [p for p in rules.source_prefixes if mirror_for(f"{p}/probe:1", r) is None]
    if uncovered:
        host = uncovered[0].split("/", 1)[0]
        yield Finding(
            id="registry-source-not-covered",
            severity=Severity.ERROR,
            message=f"No registry.mirrors rule covers {', '.join(uncovered)}, which the GPU Operator chart pulls from.",
            fix=f"Add a mirrors entry per registry, e.g. {{source: {host}, mirror: <your-registry>/{host}}}, or set "
            "registry.proxy for a pull-through proxy.",
            reference=AIR_GAPPED_REF,
            path="registry.mirrors",
            evidence=tuple(uncovered),
        )
    if not r.pull_secrets:
        target = r.proxy or r.mirror_rules[0].mirror
        targets = [m.mirror for m in r.mirror_rules] + ([r.proxy] if r.proxy else [])
        if r.spec.cluster.provider == "eks" and all(_ECR_HOST.match(t.split("/", 1)[0]) for t in targets):
            # EKS nodes pull from ECR with their instance role (AmazonEC2ContainerRegistryReadOnly): no Secret.
            return
        yield Finding(
            id="registry-no-pull-secret",
            severity=Severity.WARNING,
            message=f"Images come from {target}, but registry.pullSecrets names no pull secret.",
            fix=f"Create a docker-registry Secret in namespace {r.namespace} (kubectl create secret docker-registry "
            "...) and list its name in registry.pullSecrets, unless the mirror allows anonymous pulls.",
            reference=REF,
            path="registry.pullSecrets",
        )


def rules_source() -> str:
    return "gpuslice catalog operator_images.yaml imageSources (GPU Operator values.yaml, NFD subchart)"
