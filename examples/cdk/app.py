#!/usr/bin/env python3
"""CDK app: the story's time-sliced GPU pool and GPU Operator release on an existing EKS cluster.

Everything comes from ``examples/eks-ubuntu.yaml`` (override with the context value ``gpuslice:spec``): the
Ubuntu g5 node group (user-data that mounts the 100 GiB data volume on /var/lib/containerd before joining, SSM,
the device-plugin config label), and the operator release with time-slicing and every image through the proxy.
Synthesizes offline: ``cdk synth`` (or ``python app.py``). The placeholders in cdk.json's context (VPC,
subnets, kubectl role) are yours to replace before ``cdk deploy``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# isort: off
# gpuslice.cdk before aws_cdk: it points jsii at the Node.js installed with gpuslice (JSII_NODE) before
# aws_cdk starts it.
from gpuslice.cdk import GpuCluster, import_cluster, load
import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
# isort: on

from gpuslice.errors import GpusliceError

HERE = Path(__file__).resolve().parent


def _ctx(app: cdk.App, key: str) -> Any:
    """A context value: from the cdk CLI (``-c key=value`` or cdk.json), else cdk.json here (``python app.py``)."""
    value = app.node.try_get_context(key)
    if value is None:
        value = json.loads((HERE / "cdk.json").read_text(encoding="utf-8"))["context"].get(key)
    return value


def build(app: cdk.App) -> cdk.Stack:
    """Add the stack to ``app`` (tests call this too)."""
    spec = HERE / _ctx(app, "gpuslice:spec")
    resolved = load(spec)
    stack = cdk.Stack(
        app,
        _ctx(app, "gpuslice:stackName") or "GpuPlatform",
        env=cdk.Environment(region=resolved.spec.cluster.region),
    )
    # The cluster and its VPC exist already (eksctl, Terraform, another stack): import them. The cluster's
    # name comes from the spec; the node groups go into the VPC's private subnets.
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=_ctx(app, "gpuslice:vpcId"),
        availability_zones=_ctx(app, "gpuslice:availabilityZones"),
        private_subnet_ids=_ctx(app, "gpuslice:privateSubnetIds"),
    )
    cluster = import_cluster(stack, "Cluster", resolved, vpc=vpc, kubectl_role_arn=_ctx(app, "gpuslice:kubectlRoleArn"))
    GpuCluster(stack, "Gpu", spec=resolved, cluster=cluster)
    return stack


def main() -> int:
    # `cdk synth` sets CDK_OUTDIR; run directly (`python app.py`) the template lands in ./cdk.out, not a temp folder.
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    try:
        build(app)
    except GpusliceError as e:  # a spec problem: say where, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
