"""Amazon EKS: node bootstrap user-data per OS family, managed node group + launch template, eksctl and
Karpenter manifests; the SSM-policy and EBS volume rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpuslice.providers import Provider

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


class Eks(Provider):
    name = "eks"
    node_renderers = ("bootstrap", "nodegroups")
    check_modules = ("eks", "disks")
    needs_instance_type = True

    def plan_notes(self, resolved: ResolvedSpec) -> list[str]:
        from gpuslice.render.nodegroups import node_paths_markdown

        return node_paths_markdown(resolved)
