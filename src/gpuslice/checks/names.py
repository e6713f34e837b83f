"""Names derived from the spec that an outside tool turns into a longer name, and derived names that collide.

What gpuslice names itself is valid by construction (``gpuslice.names``: DNS-1123, within 63, a hash of the full
input appended when truncated), and the spec model already limits ``operator.releaseName`` to Helm's 53 characters,
so no rule re-checks those. Two things remain reachable from a spec:

- eksctl names the CloudFormation stack of a node group ``eksctl-<cluster>-nodegroup-<node group>``
  (eksctl ``pkg/cfn/manager`` ``makeNodeGroupStackName``), and CloudFormation allows 128 characters, so a long
  ``cluster.name`` plus a long node-group name makes ``eksctl create nodegroup`` fail for the rendered
  ``nodegroups/<pool>/eksctl.yaml`` (the managed-node-group JSON and Karpenter manifests are not affected).
- Two pools whose node-group names come out equal: a pool name that is spelled like another pool's
  truncated-and-hashed name. Node groups, launch templates and Karpenter NodePools would overwrite each other.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec

REF = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"
CFN_REF = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html"
CFN_STACK_NAME_MAX = 128
EKSCTL_NODEGROUP_STACK = "eksctl-{cluster}-nodegroup-{nodegroup}"


def check(r: ResolvedSpec) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for p in r.pools:
        other = seen.get(p.node_group_name)
        if other is not None:
            yield Finding(
                id="names-collision",
                severity=Severity.ERROR,
                pool=p.name,
                message=(
                    f"Pools {other} and {p.name} both get the node-group name {p.node_group_name!r} (also the "
                    f"launch template and Karpenter NodePool name): one would overwrite the other."
                ),
                fix=f"Rename pool {p.name}.",
                reference=REF,
                path=pool_path(p, "name"),
            )
        else:
            seen[p.node_group_name] = p.name
        if r.spec.cluster.provider != "eks":
            continue
        stack = EKSCTL_NODEGROUP_STACK.format(cluster=r.spec.cluster.name, nodegroup=p.node_group_name)
        if len(stack) > CFN_STACK_NAME_MAX:
            over = len(stack) - CFN_STACK_NAME_MAX
            yield Finding(
                id="names-eksctl-stack-too-long",
                severity=Severity.WARNING,
                pool=p.name,
                message=(
                    f"eksctl would name this node group's CloudFormation stack {stack!r}: {len(stack)} "
                    f"characters, CloudFormation allows {CFN_STACK_NAME_MAX}, so `eksctl create nodegroup` "
                    f"with nodegroups/{p.name}/eksctl.yaml fails."
                ),
                fix=(
                    f"Shorten cluster.name, cluster.deploymentId or the pool name by {over} characters in total, "
                    f"or create the pool from nodegroups/{p.name}/managed-nodegroup.json or karpenter.yaml."
                ),
                reference=CFN_REF,
                path=pool_path(p, "name"),
            )
