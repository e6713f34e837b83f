"""The renderers gpuslice.cdk builds on, in one place: node bootstrap (user-data, disks, AMI) and the operator's
Helm values. The constructs pass their results through; they never recompute them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuslice.resolve import ResolvedPool, ResolvedSpec

if TYPE_CHECKING:
    from gpuslice.chart import Chart
    from gpuslice.render.bootstrap import BootstrapFamily, ClusterConnection


def supported(pool: ResolvedPool) -> bool:
    from gpuslice.render import bootstrap

    return bootstrap.supported(pool)


def bootstrap_family(pool: ResolvedPool) -> BootstrapFamily | None:
    """The bootstrap family of the pool's OS (its ``join_needs``, ``name``), or None when gpuslice has none."""
    from gpuslice.render import bootstrap

    return bootstrap.bootstrap_family(pool)


def ami_parameter(resolved: ResolvedSpec, pool: ResolvedPool) -> str | None:
    """The public SSM parameter naming the AMI for the pool's OS family and the cluster's Kubernetes version."""
    from gpuslice.render import bootstrap

    return bootstrap.ami_ssm_parameter(resolved, pool)


def eks_ami_type(resolved: ResolvedSpec, pool: ResolvedPool) -> str | None:
    """The managed node group ``amiType`` for the pool's OS, or None when EKS has none (Ubuntu)."""
    from gpuslice.render import bootstrap

    return bootstrap.mng_ami_type(resolved, pool)


def connection(
    endpoint: str | None, certificate_authority: str | None, service_cidr: str | None, dns_cluster_ip: str | None
) -> ClusterConnection:
    from gpuslice.render.bootstrap import ClusterConnection

    return ClusterConnection(
        endpoint=endpoint,
        certificate_authority=certificate_authority,
        service_cidr=service_cidr,
        dns_cluster_ip=dns_cluster_ip,
    )


def user_data(
    resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None, *, eks_joins: bool = False
) -> str:
    """``eks_joins``: the node group uses an EKS AMI type, so EKS appends the join (no second bootstrap.sh)."""
    from gpuslice.render import bootstrap

    return bootstrap.user_data(resolved, pool, conn, eks_joins=eks_joins)


def autoscaler_resource_tags(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    """cluster-autoscaler's node-template resource tags (GPUs x replicas) for the node group."""
    from gpuslice.render.nodegroups import autoscaler_resource_tags as tags

    return tags(resolved, pool)


def block_device_mappings(resolved: ResolvedSpec, pool: ResolvedPool) -> list[dict[str, Any]]:
    from gpuslice.render import bootstrap

    return bootstrap.block_device_mappings(resolved, pool)


def chart(resolved: ResolvedSpec, explicit: str | Path | None) -> Chart:
    """The GPU Operator chart for ``resolved`` (``--chart``-like path, operator.chart, charts/ next to the spec, ...)."""
    from gpuslice.chart import locate_chart

    return locate_chart(resolved, explicit)


def operator_values(resolved: ResolvedSpec, ch: Chart) -> dict[str, Any]:
    from gpuslice.render.operator import operator_values as render_values

    return render_values(resolved, ch)
