"""Node bootstrap for GPU pools: user-data per OS family, block device mappings and AMI parameters.

Public, pure functions (no I/O) that other parts (CDK constructs, node-group snippets) call:

- :func:`user_data` -- the user-data of one pool: Ubuntu / AL2 MIME multi-part (cloud-config + shell),
  AL2023 MIME with a nodeadm ``NodeConfig`` part, Bottlerocket TOML settings.
- :func:`block_device_mappings` -- EC2 launch-template block device mappings: root volume on the AMI family's
  root device, plus the data volume (Bottlerocket: always /dev/xvdb).
- :func:`ami_ssm_parameter` -- the public SSM parameter that names the pool's AMI for the cluster's Kubernetes
  version (Canonical's for Ubuntu, AWS's for AL2023 NVIDIA and Bottlerocket NVIDIA).
- :func:`bootstrap_files` -- user-data plus its readable parts, as written by ``plan`` into
  ``bootstrap/<pool>/``.

Labels and taints always come from the resolved pool (``node_labels``, ``spec.taints``), never recomputed.
"""

from __future__ import annotations

from typing import Any

from gpuslice.findings import Finding, Severity
from gpuslice.render.bootstrap import bottlerocket, nodeadm, ubuntu
from gpuslice.render.bootstrap.common import (
    ClusterConnection,
    DiskPlan,
    disk_plan,
    family_name,
)
from gpuslice.render.bootstrap.family import BOOTSTRAP_REF, BootstrapFamily
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint

__all__ = [
    "FAMILIES",
    "BootstrapFamily",
    "ClusterConnection",
    "DiskPlan",
    "ami_ssm_parameter",
    "block_device_mappings",
    "bootstrap_family",
    "bootstrap_files",
    "disk_plan",
    "mng_ami_type",
    "render",
    "supported",
    "user_data",
]

#: The bootstrap families, by the catalog's ``os_families[].bootstrap`` name. Adding a family: a module with a
#: ``BootstrapFamily`` subclass, one entry here, and its data (catalog + node-image data).
FAMILIES: dict[str, BootstrapFamily] = {
    f.name: f for f in (ubuntu.UbuntuEks(), ubuntu.Al2Eks(), nodeadm.Nodeadm(), bottlerocket.Bottlerocket())
}
DEFAULT_ROOT_DEVICE = "/dev/xvda"


def bootstrap_family(pool: ResolvedPool) -> BootstrapFamily | None:
    """The family that bootstraps the pool's nodes, or None when gpuslice renders no bootstrap for its OS."""
    fam = FAMILIES.get(family_name(pool) or "")
    return fam if fam is not None and fam.available() else None


def supported(pool: ResolvedPool) -> bool:
    """Whether gpuslice can render a bootstrap for the pool's OS."""
    return bootstrap_family(pool) is not None


def _pool(resolved: ResolvedSpec, pool: ResolvedPool | str) -> ResolvedPool:
    if isinstance(pool, ResolvedPool):
        return pool
    found = resolved.pool(pool)
    if found is None:
        raise KeyError(f"no node pool named {pool!r}")
    return found


def user_data(
    resolved: ResolvedSpec,
    pool: ResolvedPool | str,
    connection: ClusterConnection | None = None,
    *,
    eks_joins: bool = False,
    registration_taints: tuple[Taint, ...] = (),
) -> str:
    """The pool's user-data. ``connection`` adds the control-plane details for self-managed nodes.

    ``eks_joins``: the node runs an EKS AMI type (managed node group without an AMI in its launch template), so
    EKS appends its own join to this user-data; the AL2 / Ubuntu part then prepares the node but does not call
    ``bootstrap.sh`` a second time. ``registration_taints``: taints the kubelet registers with in addition to the
    pool's (Karpenter's ``karpenter.sh/unregistered:NoExecute`` on a Custom AMI family); AL2 / Ubuntu only, the
    other families get them from the tool that merges their user-data.
    """
    p = _pool(resolved, pool)
    fam = bootstrap_family(p)
    if fam is None:
        raise ValueError(f"pool {p.name}: no bootstrap for OS {p.spec.os!r}")
    return fam.user_data(resolved, p, connection, eks_joins=eks_joins, registration_taints=registration_taints)


def _ebs(size_gib: int, volume_type: str) -> dict[str, Any]:
    return {"VolumeSize": size_gib, "VolumeType": volume_type, "Encrypted": True, "DeleteOnTermination": True}


def block_device_mappings(resolved: ResolvedSpec, pool: ResolvedPool | str) -> list[dict[str, Any]]:
    """EC2 ``BlockDeviceMappings`` (launch template / CloudFormation field names) for the pool.

    Root: the AMI family's root device (Ubuntu /dev/sda1, Amazon Linux and Bottlerocket /dev/xvda) at the
    resolved root size. Data: the spec's data volume at its requested device name; on Bottlerocket always
    /dev/xvdb (its container data volume), sized from the spec or Bottlerocket's default. Instance-store NVMe
    disks are attached automatically and are not listed.
    """
    p = _pool(resolved, pool)
    root_device = p.os.root_device if p.os is not None else DEFAULT_ROOT_DEVICE
    out = [{"DeviceName": root_device, "Ebs": _ebs(p.root_gib, "gp3")}]
    vol = p.data_volume  # resolve: the OS's own data device, else the spec's disks.data
    if vol is not None:
        out.append({"DeviceName": vol.device_name, "Ebs": _ebs(vol.size_gib, vol.volume_type)})
    return out


def ami_ssm_parameter(resolved: ResolvedSpec, pool: ResolvedPool | str) -> str | None:
    """The public SSM parameter holding the pool's AMI id, or None when gpuslice knows none for its OS."""
    return _pool(resolved, pool).ami_ssm_parameter


def mng_ami_type(resolved: ResolvedSpec, pool: ResolvedPool | str) -> str | None:
    """EKS managed node group ``amiType``; None when the launch template must carry the AMI (Ubuntu)."""
    p = _pool(resolved, pool)
    ami = p.os.eks_ami if p.os is not None else None
    t = ami.mng_ami_type.get(p.arch) if ami is not None else None
    return None if t in (None, "CUSTOM") else t


def bootstrap_files(
    resolved: ResolvedSpec, pool: ResolvedPool | str, connection: ClusterConnection | None = None
) -> dict[str, str]:
    """File name -> content for ``bootstrap/<pool>/``: ``user-data`` and its readable parts."""
    p = _pool(resolved, pool)
    fam = bootstrap_family(p)
    return fam.files(resolved, p, connection) if fam is not None else {}


#: EC2 RunInstances / launch templates: user data is limited to 16 KB before base64 encoding.
USER_DATA_MAX_BYTES = 16384


def _findings(resolved: ResolvedSpec, p: ResolvedPool, rendered: str | None = None) -> list[Finding]:
    """``rendered``: the pool's user-data when the caller already has it (rendering it again for the size check
    doubled the bootstrap renderer's time on large specs)."""
    out: list[Finding] = []
    ref = BOOTSTRAP_REF
    fam = bootstrap_family(p)
    if fam is None:
        out.append(
            Finding(
                "bootstrap-unsupported-os",
                Severity.WARNING,
                f"no node bootstrap is rendered for OS {p.spec.os!r}: gpuslice knows how to prepare Ubuntu EKS, "
                "AL2, AL2023 NVIDIA and Bottlerocket NVIDIA nodes",
                fix="Label and taint these nodes yourself with the values in node-labels.json, or pick a supported os.",
                pool=p.name,
                reference=ref,
                path=f"nodePools[{p.index}].os",
            )
        )
        return out
    size = len((rendered if rendered is not None else user_data(resolved, p)).encode("utf-8"))
    if size > USER_DATA_MAX_BYTES:
        out.append(
            Finding(
                "bootstrap-user-data-too-large",
                Severity.ERROR,
                f"the user-data is {size} bytes; EC2 accepts at most {USER_DATA_MAX_BYTES} (before base64), so no "
                "instance of this pool would launch",
                fix="Shorten the pool's labels and taints, or drop options it does not need.",
                pool=p.name,
                reference=ref,
                path=f"nodePools[{p.index}]",
            )
        )
    d = p.spec.disks
    if d.instance_store == "raid0" and resolved.catalog.instance(p.spec.instance_type) and p.instance_store_disks == 0:
        out.append(
            Finding(
                "bootstrap-no-instance-store",
                Severity.WARNING,
                f"disks.instanceStore is raid0 but {p.spec.instance_type} has no NVMe instance store: the disk step "
                "fails at boot and the node does not join",
                fix="Use an instance type with local NVMe (e.g. g5, g6, g6e) or a disks.data EBS volume.",
                pool=p.name,
                reference=ref,
                path=f"nodePools[{p.index}].disks.instanceStore",
            )
        )
    out.extend(fam.findings(resolved, p))
    return out


def render(resolved: ResolvedSpec, options: Any = None) -> Any:
    """Renderer entry point: ``bootstrap/<pool>/...`` for every pool with a supported OS."""
    from gpuslice.render import RenderResult

    result = RenderResult()
    for p in resolved.pools:
        files = bootstrap_files(resolved, p)
        result.findings.extend(_findings(resolved, p, files.get("user-data")))
        for fname, content in files.items():
            rel = f"bootstrap/{p.name}/{fname}"
            result.files[rel] = content
            if fname.endswith(".sh"):
                result.executable.add(rel)
    return result
