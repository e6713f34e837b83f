"""Providers: what differs between where the cluster runs (EKS, a generic/on-prem Kubernetes, ...).

A provider decides which node-side artifacts ``plan``/``render`` write (EKS: bootstrap user-data, managed node
groups, eksctl, Karpenter; generic: a plain node-prep script) and which provider-specific preflight rule modules
run (EKS: SSM policy, EBS volume sizes). Everything else (the operator release, the sharing ConfigMap, images,
node labels, the smoke test) is the same for every provider.

Adding a provider (e.g. GKE): a module here with a :class:`Provider` subclass, one entry in :data:`PROVIDERS`,
its id in ``spec.ProviderId``, and its renderers / rule modules (see docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


class Provider:
    #: ``cluster.provider`` in the spec
    name: ClassVar[str]
    #: renderers (keys of ``gpuslice.render.renderers()``) that bring this provider's nodes up
    node_renderers: ClassVar[tuple[str, ...]] = ()
    #: preflight rule modules (``gpuslice.checks``) that only hold on this provider
    check_modules: ClassVar[tuple[str, ...]] = ()
    #: every pool must name its instance type (the provider's machine catalog gives GPUs, disks, architecture)
    needs_instance_type: ClassVar[bool] = False

    def plan_notes(self, resolved: ResolvedSpec) -> list[str]:
        """PLAN.md lines about bringing the pools' nodes up on this provider (before the findings)."""
        return []


def providers() -> dict[str, Provider]:
    """Provider id -> provider, in a stable order."""
    from gpuslice.providers.eks import Eks
    from gpuslice.providers.generic import Generic

    return {p.name: p for p in (Eks(), Generic())}


def provider_of(resolved: ResolvedSpec) -> Provider:
    return providers()[resolved.spec.cluster.provider]


def provider_renderers() -> set[str]:
    """Renderers some provider owns (the others run for every provider)."""
    return {r for p in providers().values() for r in p.node_renderers}


def provider_check_modules() -> set[str]:
    """Rule modules some provider owns (the others run for every provider)."""
    return {m for p in providers().values() for m in p.check_modules}
