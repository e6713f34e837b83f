"""Any conformant Kubernetes whose GPU nodes gpuslice does not create (on-prem, bare metal, other clouds).

gpuslice writes the operator release, the sharing ConfigMap, the image list, the node labels, the smoke test and a
plain node-prep script that labels and taints the pool's existing nodes. No EC2/EBS/SSM/EKS artifacts or rules;
``instanceType`` is optional (``gpu: {model, count, memoryGiB}`` describes the GPUs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpuslice.providers import Provider

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


class Generic(Provider):
    name = "generic"
    node_renderers = ("node-prep",)

    def plan_notes(self, resolved: ResolvedSpec) -> list[str]:
        lines = ["## Nodes", ""]
        for p in resolved.pools:
            lines.append(
                f"- {p.name}: run `node-prep/{p.name}/node-prep.sh NODE...` for each node you add to the pool "
                "(labels and taints; kubectl with rights to patch nodes)."
            )
        return [*lines, ""]
