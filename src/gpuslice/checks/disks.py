"""Disk space where containerd keeps images: the root volume, a data volume, the instance store.

The size a volume needs is computed from the catalog's disk budget (``disk_budget.yaml``): the OS, the operator's
driver container (only on pools where it runs), the operator's other images and room for workload images, kept below
the kubelet's image-GC threshold. Where ``/var/lib/containerd`` lives comes from the resolved pool
(``containerd_on_data``: a data volume mounted at or above it, the instance store in RAID0, or the OS's own data
volume on Bottlerocket).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedPool, ResolvedSpec, operand_runs_on

EKS_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/amazon-eks.html"
GC_REF = "https://kubernetes.io/docs/concepts/architecture/garbage-collection/#container-image-lifecycle"
NODEADM_REF = "https://awslabs.github.io/amazon-eks-ami/nodeadm/doc/api/#localstorageoptions"


def _need(images_gib: float, gc_percent: int) -> int:
    return math.ceil(images_gib * 100 / gc_percent)


def _images(r: ResolvedSpec, p: ResolvedPool) -> tuple[float, list[str]]:
    b = r.catalog.disk_budget
    parts = [("operator images", b.gib("operator-operands")), ("workload images", b.gib("workload-images"))]
    if operand_runs_on(r, p, "driver"):
        parts.insert(0, ("driver container", b.gib("operator-driver")))
    return sum(g for _, g in parts), [f"{what} ~{g:g} GiB" for what, g in parts]


def _pool(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    b = r.catalog.disk_budget
    gc = b.kubelet_image_gc_high_percent
    os_gib = b.gib("os")
    images, parts = _images(r, p)
    disks = p.spec.disks
    data = disks.data
    store_raid = disks.instance_store == "raid0"
    it = r.catalog.instance(p.spec.instance_type)

    if store_raid and it is not None and not it.has_instance_store:
        yield Finding(
            id="disk-no-instance-store",
            severity=Severity.ERROR,
            pool=p.name,
            message=f"disks.instanceStore is raid0, but {it.name} has no instance store (EBS only).",
            fix="Remove instanceStore and declare a data volume (disks.data) for /var/lib/containerd, or pick a "
            "type with local NVMe (e.g. the g5, g6, g6e or p5 families).",
            reference=NODEADM_REF,
            path=pool_path(p, "disks", "instanceStore"),
        )
    if it is not None and it.has_instance_store and not store_raid:
        yield Finding(
            id="disk-instance-store-unused",
            severity=Severity.INFO,
            pool=p.name,
            message=(
                f"{it.name} has {it.instance_store_gib} GB of local NVMe instance store that this pool leaves unused."
            ),
            fix="Set disks.instanceStore: raid0 to put /var/lib/containerd (and kubelet state) on it.",
            reference=NODEADM_REF,
            path=pool_path(p, "disks"),
        )

    if p.containerd_on_data:
        if store_raid and it is not None and it.has_instance_store:
            where, size, path = (
                "the instance store (RAID0)",
                it.instance_store_gib,
                pool_path(p, "disks", "instanceStore"),
            )
        elif data is not None:
            where, size, path = (
                f"the data volume at {data.mount_path}",
                data.size_gib,
                pool_path(p, "disks", "data", "sizeGiB"),
            )
        elif p.data_volume is not None and p.data_volume.os_owned and p.os is not None:
            # The same volume the launch template maps (resolve.data_volume): its default size when no disks.data.
            where, size, path = (
                f"{p.os.display}'s data volume (default {p.data_volume.size_gib} GiB)",
                p.data_volume.size_gib,
                pool_path(p, "disks", "data"),
            )
        else:
            return
        need = _need(images, gc)
        if size < need:
            yield Finding(
                id="disk-data-too-small",
                severity=Severity.ERROR,
                pool=p.name,
                message=(
                    f"/var/lib/containerd is on {where}: {size} GiB, but the images need at least {need} GiB "
                    f"({' + '.join(parts)} = {images:g} GiB, kept below the kubelet's {gc}% image-GC "
                    f"threshold)."
                ),
                fix=f"Make it at least {need} GiB (disks.data.sizeGiB).",
                reference=GC_REF,
                path=path,
            )
        return

    need = _need(os_gib + images, gc)
    if p.root_gib >= need:
        return
    detail = (
        f"{p.root_gib} GiB but needs at least {need} GiB (OS ~{os_gib:g} GiB + "
        f"{' + '.join(parts)} = {os_gib + images:g} GiB, kept below the kubelet's {gc}% image-GC threshold)"
    )
    if data is not None:
        yield Finding(
            id="disk-data-volume-unused",
            severity=Severity.ERROR,
            pool=p.name,
            message=(
                f"The {data.size_gib} GiB data volume is mounted at {data.mount_path}, not where containerd "
                f"writes ({p.os.containerd_root if p.os else '/var/lib/containerd'}), so images fill the root "
                f"volume, which is {detail}."
            ),
            fix=f"Set disks.data.mountPath: /var/lib/containerd (the default), or grow rootGiB to {need} GiB.",
            reference=EKS_REF,
            path=pool_path(p, "disks", "data", "mountPath"),
        )
        return
    fix = (
        f"Add a data volume for images (disks.data: {{sizeGiB: {max(100, _need(images, gc))}}} is mounted at "
        f"/var/lib/containerd) or set disks.rootGiB to at least {need}."
    )
    if it is not None and it.has_instance_store:
        fix += f" {it.name} also has {it.instance_store_gib} GB of instance store: disks.instanceStore: raid0."
    yield Finding(
        id="disk-root-too-small",
        severity=Severity.ERROR,
        pool=p.name,
        message=f"Container images land on the root volume, which is {detail}.",
        fix=fix,
        reference=EKS_REF,
        path=pool_path(p, "disks", "rootGiB"),
    )


def check(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        yield from _pool(r, p)
