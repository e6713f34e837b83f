"""The bootstrap-family interface: how nodes of one OS family are prepared and joined.

One subclass per family (``ubuntu.UbuntuEks``, ``ubuntu.Al2Eks``, ``nodeadm.Nodeadm``, ``bottlerocket.Bottlerocket``),
registered by name in :data:`gpuslice.render.bootstrap.FAMILIES`; the catalog's ``os_families[].bootstrap`` names
the family of each OS. Renderers (bootstrap files, node groups, Karpenter, CDK) ask the family object, never
compare family names. The data a family needs (filesystem, units, resolv.conf, SSM agent, data device) is the
family's entry in the node-image data (``Family``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from gpuslice.catalog import load_catalog
from gpuslice.findings import Finding
from gpuslice.render.bootstrap.common import (
    NODE_SETUP_BIN,
    ClusterConnection,
    DiskPlan,
    Family,
    cloud_config,
    disk_plan,
    disk_unit,
    disks_env,
    install_commands,
    node_env,
    script,
)
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint


class BootstrapFamily:
    """One way of bootstrapping a node. Subclasses override what differs; the defaults fit a family whose user-data
    installs gpuslice's node scripts with cloud-init and then joins (Ubuntu EKS, AL2)."""

    #: the catalog's ``os_families[].bootstrap`` value
    name: ClassVar[str]
    #: ClusterConnection fields a node on a custom AMI cannot join without (CDK ami='ssm'), and the rule's source
    join_needs: ClassVar[tuple[str, ...]] = ()
    join_needs_source: ClassVar[str] = ""
    #: the OS stripes the instance store itself (nodeadm localStorage, Bottlerocket ephemeral-storage), so
    #: Karpenter's ``instanceStorePolicy: RAID0`` applies
    os_stripes_instance_store: ClassVar[bool] = False

    @property
    def data(self) -> Family:
        """The family's data in the catalog (filesystem, units, SSM agent): ``bootstrapFamilies`` of
        os_families.yaml."""
        return load_catalog().bootstrap_families[self.name]

    def available(self) -> bool:
        return load_catalog().bootstrap_family(self.name) is not None

    # -- user-data and the readable files of bootstrap/<pool>/ ----------------------------------------------------
    def user_data(
        self,
        resolved: ResolvedSpec,
        pool: ResolvedPool,
        conn: ClusterConnection | None,
        *,
        eks_joins: bool = False,
        registration_taints: tuple[Taint, ...] = (),
    ) -> str:
        raise NotImplementedError

    def files(self, resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None) -> dict[str, str]:
        """File name -> content for ``bootstrap/<pool>/``: ``user-data`` and its readable parts."""
        raise NotImplementedError

    def disk_plan(self, resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
        """The disk work gpuslice's node script does (None: none)."""
        return disk_plan(resolved, pool)

    # -- volumes ----------------------------------------------------------------------------------------------------

    def findings(self, resolved: ResolvedSpec, pool: ResolvedPool) -> list[Finding]:
        """Family-specific findings of rendering the pool's bootstrap."""
        return []

    # -- node-group tools -------------------------------------------------------------------------------------------
    def eksctl_volumes(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        """eksctl ``nodeGroups[]`` volume fields."""
        return spec_eksctl_volumes(pool)

    def eksctl_bootstrap(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        """eksctl ``nodeGroups[]`` fields that prepare the node (eksctl joins it)."""
        return {}

    def karpenter_user_data(
        self, resolved: ResolvedSpec, pool: ResolvedPool, *, alias: bool, unregistered_taint: Taint
    ) -> str:
        """``EC2NodeClass.spec.userData``. ``alias``: Karpenter's own AMI family, which appends its join (AL2:
        bootstrap.sh after our MIME parts; AL2023: its NodeConfig). Without it (amiFamily Custom) Karpenter merges
        nothing, so the node registers with Karpenter's startup taint itself."""
        if alias:
            return self.user_data(resolved, pool, None, eks_joins=True)
        return self.user_data(resolved, pool, None, registration_taints=(unregistered_taint,))


def spec_eksctl_volumes(pool: ResolvedPool) -> dict[str, Any]:
    """eksctl volume fields from the spec: the root volume, plus ``disks.data`` as an additional volume."""
    out: dict[str, Any] = {"volumeSize": pool.root_gib, "volumeType": "gp3"}
    data = pool.spec.disks.data
    if data is not None:
        out["additionalVolumes"] = [
            {"volumeName": data.device_name, "volumeSize": data.size_gib, "volumeType": data.volume_type}
        ]
    return out


def script_files(
    files: dict[str, str],
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    plan: DiskPlan | None,
    entries: list[dict[str, Any]],
    conn: ClusterConnection | None,
    *,
    join: bool,
) -> dict[str, str]:
    """The readable parts of a cloud-init + node-setup user-data (for ``bootstrap/<pool>/``)."""
    files["cloud-config.yaml"] = cloud_config(entries)
    files["node-setup.sh"] = script("node-setup.sh")
    files["node.env"] = node_env(resolved, pool, fam, plan, conn, join=join)
    if plan is not None:
        files["setup-disks.sh"] = script("setup-disks.sh")
        files["disks.env"] = disks_env(plan)
        files["gpuslice-disks.service"] = disk_unit(plan, fam.join_units)
    return files


def pre_bootstrap_commands(entries: list[dict[str, Any]]) -> list[str]:
    """eksctl ``preBootstrapCommands`` that install the files and run gpuslice-node-setup."""
    return [*install_commands(entries), NODE_SETUP_BIN]


def data_and_instance_store(pool: ResolvedPool) -> list[Finding]:
    """Both an EBS data volume and a RAID0 instance store: containerd goes on the instance store."""
    from gpuslice.findings import Severity

    d = pool.spec.disks
    if d.instance_store != "raid0" or d.data is None:
        return []
    return [
        Finding(
            "bootstrap-data-and-instance-store",
            Severity.WARNING,
            "both disks.data and disks.instanceStore are set: containerd goes on the instance store; the EBS "
            "data volume is attached but not mounted",
            fix="Keep one of disks.data or disks.instanceStore.",
            pool=pool.name,
            reference=BOOTSTRAP_REF,
            path=f"nodePools[{pool.index}].disks",
        )
    ]


BOOTSTRAP_REF = "docs/bootstrap.md"
