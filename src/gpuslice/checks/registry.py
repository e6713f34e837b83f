"""Registry mirror rules: every registry the GPU Operator pulls from is covered, and the mirror can be logged in to.

The preflight runs without the chart, so it checks the registries the chart is known to use
(``catalog/data/operator_images.yaml`` ``imageSources``). ``plan``/``render`` then prove the exact list by
rendering the real chart (those ids are the finding registry's owner ``render``).
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
