"""Amazon Linux 2023 (NVIDIA AMI): a nodeadm ``NodeConfig`` part with the pool's labels, taints and instance-store
strategy. The AMI brings the driver and toolkit, so there is no driver work. An EBS data volume is handled by
gpuslice's disk script (cloud-config + shell parts), which runs before ``nodeadm-run.service``."""

from __future__ import annotations

from typing import Any

from gpuslice.findings import Finding
from gpuslice.render.bootstrap.common import (
    ClusterConnection,
    DiskPlan,
    Family,
    cloud_config,
    disk_plan,
    label_flag,
    mime_multipart,
    node_env,
    node_files,
    node_setup_part,
    taints_flag,
)
from gpuslice.render.bootstrap.family import (
    BootstrapFamily,
    data_and_instance_store,
    pre_bootstrap_commands,
    script_files,
)
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint
from gpuslice.yamlio import dump_yaml

API_VERSION = "node.eks.aws/v1alpha1"
KIND = "NodeConfig"
NODECONFIG_CONTENT_TYPE = "application/node.eks.aws"


def plan(resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
    """The disk work gpuslice's script does; the instance store is nodeadm's own job (localStorage)."""
    p = disk_plan(resolved, pool)
    return None if p is None or p.mode == "instance-store" else p


def node_config(
    resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None = None, *, kubelet_taints: bool = True
) -> dict[str, Any]:
    """The NodeConfig part. Without a connection it names only the cluster: nodeadm also needs apiServerEndpoint,
    certificateAuthority and cidr (amazon-eks-ami nodeadm ValidateNodeConfig), which an EKS managed node group or
    Karpenter merge in from their own NodeConfig part; alone, on a self-managed node, it cannot join.

    ``kubelet_taints=False`` leaves ``--register-with-taints`` out. Karpenter writes the NodePool's taints plus its
    ``karpenter.sh/unregistered:NoExecute`` into its NodeConfig's ``kubelet.config.registerWithTaints``; a kubelet
    flag overrides that config field, so the startup taint would be lost (registration refused before Karpenter
    v1.3, an error event per node after; karpenter-provider-aws pkg/providers/amifamily/bootstrap/nodeadm.go).
    """
    cluster: dict[str, Any] = {"name": resolved.spec.cluster.name}
    if conn is not None:
        if conn.endpoint:
            cluster["apiServerEndpoint"] = conn.endpoint
        if conn.certificate_authority:
            cluster["certificateAuthority"] = conn.certificate_authority
        if conn.service_cidr:
            cluster["cidr"] = conn.service_cidr
    flags = [label_flag(pool.node_labels)]
    taints = taints_flag(pool.spec.taints) if kubelet_taints else None
    if taints:
        # A flag, not kubelet.config.registerWithTaints: the NodeConfig CRD types every kubelet.config value as
        # an object, and a flag means the same to kubelet.
        flags.append(taints)
    kubelet: dict[str, Any] = {"flags": flags}
    spec: dict[str, Any] = {"cluster": cluster, "kubelet": kubelet}
    if pool.spec.disks.instance_store == "raid0":
        spec["instance"] = {"localStorage": {"strategy": "RAID0"}}
    return {"apiVersion": API_VERSION, "kind": KIND, "spec": spec}


def node_config_text(
    resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None = None, *, kubelet_taints: bool = True
) -> str:
    complete = conn is not None and bool(conn.endpoint and conn.certificate_authority and conn.service_cidr)
    note = (
        ""
        if complete
        else "# Only the cluster name: an EKS managed node group or Karpenter merges apiServerEndpoint,\n"
        "# certificateAuthority and cidr in. A self-managed node needs them here (ClusterConnection).\n"
    )
    return (
        f"# gpuslice: pool {pool.name}\n"
        + note
        + dump_yaml(node_config(resolved, pool, conn, kubelet_taints=kubelet_taints))
    )


def write_files(
    resolved: ResolvedSpec, pool: ResolvedPool, fam: Family, conn: ClusterConnection | None
) -> list[dict[str, Any]]:
    p = plan(resolved, pool)
    # nodeadm joins; gpuslice-node-setup only prepares the disk (and SSM).
    return node_files(p, fam, pool, node_env(resolved, pool, fam, p, conn, join=False))


def user_data(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    conn: ClusterConnection | None,
    *,
    kubelet_taints: bool = True,
) -> str:
    text = node_config_text(resolved, pool, conn, kubelet_taints=kubelet_taints)
    parts = [(NODECONFIG_CONTENT_TYPE, "gpuslice-nodeconfig.yaml", text)]
    if plan(resolved, pool) is not None:
        parts.append(
            (
                "text/cloud-config",
                "gpuslice-cloud-config.yaml",
                cloud_config(write_files(resolved, pool, fam, conn)),
            )
        )
        parts.append(node_setup_part())
    return mime_multipart(parts)


class Nodeadm(BootstrapFamily):
    """Amazon Linux 2023 NVIDIA AMIs: nodeadm joins from a ``NodeConfig`` part; gpuslice's node scripts only prepare
    an EBS data volume (nodeadm stripes the instance store itself)."""

    name = "nodeadm"
    join_needs = ("endpoint", "certificate_authority", "service_cidr")
    join_needs_source = (
        "awslabs/amazon-eks-ami nodeadm ValidateNodeConfig: name, apiServerEndpoint, certificateAuthority and cidr "
        "are required"
    )
    os_stripes_instance_store = True

    def user_data(
        self,
        resolved: ResolvedSpec,
        pool: ResolvedPool,
        conn: ClusterConnection | None,
        *,
        eks_joins: bool = False,
        registration_taints: tuple[Taint, ...] = (),
    ) -> str:
        return user_data(resolved, pool, self.data, conn)

    def karpenter_user_data(
        self, resolved: ResolvedSpec, pool: ResolvedPool, *, alias: bool, unregistered_taint: Taint
    ) -> str:
        # Karpenter's own NodeConfig registers the NodePool's taints and karpenter.sh/unregistered in
        # kubelet.config.registerWithTaints; a --register-with-taints flag from us would replace them.
        return user_data(resolved, pool, self.data, None, kubelet_taints=False)

    def files(self, resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None) -> dict[str, str]:
        files = {"user-data": self.user_data(resolved, pool, conn)}
        files["nodeconfig.yaml"] = node_config_text(resolved, pool, conn)
        p = plan(resolved, pool)
        if p is None:
            return files
        entries = write_files(resolved, pool, self.data, conn)
        return script_files(files, resolved, pool, self.data, p, entries, conn, join=False)

    def disk_plan(self, resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
        return plan(resolved, pool)

    def findings(self, resolved: ResolvedSpec, pool: ResolvedPool) -> list[Finding]:
        return data_and_instance_store(pool)

    def eksctl_bootstrap(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if plan(resolved, pool) is not None:
            out["preBootstrapCommands"] = pre_bootstrap_commands(write_files(resolved, pool, self.data, None))
        if pool.spec.disks.instance_store == "raid0":
            out["overrideBootstrapCommand"] = dump_yaml(
                {"apiVersion": API_VERSION, "kind": KIND, "spec": {"instance": {"localStorage": {"strategy": "RAID0"}}}}
            )
        return out
