"""Ubuntu EKS (and AL2): MIME multi-part user-data, a cloud-config part that installs gpuslice's node scripts
and settings, and a shell part that runs them: data disk, DNS, SSM agent, then ``/etc/eks/bootstrap.sh``."""

from __future__ import annotations

from typing import Any

from gpuslice.findings import Finding
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
from gpuslice.render.bootstrap.family import (
    BootstrapFamily,
    data_and_instance_store,
    pre_bootstrap_commands,
    script_files,
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
    text = cloud_config(write_files(resolved, pool, fam, conn, join=join, extra_taints=extra_taints))
    return mime_multipart(
        [
            ("text/cloud-config", "gpuslice-cloud-config.yaml", text),
            node_setup_part(),
        ]
    )


class UbuntuEks(BootstrapFamily):
    """Canonical's Ubuntu EKS AMIs: cloud-init installs gpuslice's node scripts, which prepare the node and run
    ``/etc/eks/bootstrap.sh``."""

    name = "ubuntu-eks"
    join_needs_source = "/etc/eks/bootstrap.sh looks up endpoint and CA with eks:DescribeCluster"

    def user_data(
        self,
        resolved: ResolvedSpec,
        pool: ResolvedPool,
        conn: ClusterConnection | None,
        *,
        eks_joins: bool = False,
        registration_taints: tuple[Taint, ...] = (),
    ) -> str:
        return user_data(resolved, pool, self.data, conn, join=not eks_joins, extra_taints=registration_taints)

    def files(self, resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None) -> dict[str, str]:
        fam = self.data
        files = {"user-data": self.user_data(resolved, pool, conn)}
        entries = write_files(resolved, pool, fam, conn)
        return script_files(files, resolved, pool, fam, plan(resolved, pool), entries, conn, join=True)

    def findings(self, resolved: ResolvedSpec, pool: ResolvedPool) -> list[Finding]:
        return data_and_instance_store(pool)

    def eksctl_bootstrap(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        fam = self.data
        out: dict[str, Any] = {}
        if plan(resolved, pool) is not None or pool.spec.ssm or pool.spec.host_network_dns:
            out["preBootstrapCommands"] = pre_bootstrap_commands(write_files(resolved, pool, fam, None, join=False))
        if pool.kubelet_resolv_conf:
            out["kubeletExtraConfig"] = {"resolvConf": pool.kubelet_resolv_conf}
        return out


class Al2Eks(UbuntuEks):
    """Amazon Linux 2 EKS GPU AMIs: the same user-data as Ubuntu (``/etc/eks/bootstrap.sh``), AL2's units."""

    name = "al2-eks"
