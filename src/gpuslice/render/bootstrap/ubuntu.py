"""Ubuntu EKS (and AL2): MIME multi-part user-data, a cloud-config part that installs gpuslice's node scripts
and settings, and a shell part that runs them: data disk, DNS, SSM agent, then ``/etc/eks/bootstrap.sh``."""

from __future__ import annotations

from typing import Any

from gpuslice.render.bootstrap.common import (
    ClusterConnection,
    DiskPlan,
    Family,
    cloud_config,
    disk_plan,
    mime_multipart,
    node_env,
    node_files,
    node_setup_part,
)
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint


def plan(resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
    return disk_plan(resolved, pool)


def write_files(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    conn: ClusterConnection | None,
    *,
    join: bool = True,
    extra_taints: tuple[Taint, ...] = (),
) -> list[dict[str, Any]]:
    p = plan(resolved, pool)
    return node_files(p, fam, pool, node_env(resolved, pool, fam, p, conn, join=join, extra_taints=extra_taints))


def cloud_config_text(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    conn: ClusterConnection | None,
    *,
    join: bool = True,
    extra_taints: tuple[Taint, ...] = (),
) -> str:
    return cloud_config({"write_files": write_files(resolved, pool, fam, conn, join=join, extra_taints=extra_taints)})


def user_data(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    conn: ClusterConnection | None,
    *,
    join: bool = True,
    extra_taints: tuple[Taint, ...] = (),
) -> str:
    """``join=False`` when something else runs ``bootstrap.sh`` (EKS's own part on an EKS AMI type)."""
    text = cloud_config_text(resolved, pool, fam, conn, join=join, extra_taints=extra_taints)
    return mime_multipart(
        [
            ("text/cloud-config", "gpuslice-cloud-config.yaml", text),
            node_setup_part(),
        ]
    )
