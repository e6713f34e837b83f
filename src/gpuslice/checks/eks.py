"""EKS node-role prerequisites: Systems Manager access when the spec asks for SSM."""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec

SSM_REF = "https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-instance-permissions.html"


def check(r: ResolvedSpec) -> Iterator[Finding]:
    if r.spec.cluster.provider != "eks":
        return
    for p in r.pools:
        if p.spec.ssm and p.spec.ssm_policy_attached is False:
            yield Finding(
                id="eks-ssm-policy",
                severity=Severity.WARNING,
                pool=p.name,
                message=(
                    "ssm is true but the node role has no SSM permissions (ssmPolicyAttached: false): "
                    "Session Manager will not list these nodes."
                ),
                fix=(
                    "Attach the AWS managed policy AmazonSSMManagedInstanceCore to the node role (eksctl attaches "
                    "it only when attachPolicyARNs is empty), then set ssmPolicyAttached: true; or set ssm: false."
                ),
                reference=SSM_REF,
                path=pool_path(p, "ssmPolicyAttached"),
            )
