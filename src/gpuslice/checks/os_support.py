"""Node OS against the operator's operands: glibc, published driver images, one driver OS per cluster, Bottlerocket's
built-in device plugin, and OS/AMI end of support.

Which operand runs where comes from :func:`gpuslice.resolve.operand_runs_on` (the release's enabled operands minus
the pool's ``nvidia.com/gpu.deploy.<operand>=false`` labels), so a user label that re-enables an operand on a pool is
checked too. What each OS brings and supports comes from the catalog (``os_families.yaml``, ``operator_charts.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from gpuslice.checks._common import older, pool_path, today
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import DEPLOY_LABEL_PREFIX, ResolvedPool, ResolvedSpec, operand_runs_on

PLATFORM_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/platform-support.html"
EKS_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/amazon-eks.html"
NVIDIADRIVER_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-driver-configuration.html"
AL2_REF = "https://docs.aws.amazon.com/eks/latest/userguide/eks-ami-deprecation-faqs.html"
BOTTLEROCKET_REF = "https://bottlerocket.dev/en/os/latest/api/settings/kubelet-device-plugins/"


def _label_fix(operand: str) -> str:
    return f"keep the node label {DEPLOY_LABEL_PREFIX}{operand}=false on this pool (remove the override in labels)"


def _glibc(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    need = r.chart.toolkit_min_glibc if r.chart else None
    if not (p.os and p.os.glibc and need and older(p.os.glibc, need)):
        return
    if not operand_runs_on(r, p, "container-toolkit"):
        return
    yield Finding(
        id="os-glibc-too-old",
        severity=Severity.ERROR,
        pool=p.name,
        message=(
            f"{p.os.display} has glibc {p.os.glibc}; the operator's container toolkit needs glibc >= {need} "
            f"on the host, so every GPU container would fail with \"version 'GLIBC_{need}' not found\"."
        ),
        fix=(
            f"Use os: al2023-nvidia (driver and toolkit pre-installed, glibc 2.34; gpuslice then disables the "
            f"operator's driver and toolkit there) or an Ubuntu OS; or {_label_fix('container-toolkit')}."
        ),
        reference="https://github.com/NVIDIA/gpu-operator/issues/755",
        path=pool_path(p, "os"),
        evidence=(
            f"{DEPLOY_LABEL_PREFIX}container-toolkit={p.node_labels.get(DEPLOY_LABEL_PREFIX + 'container-toolkit', 'true')}",
        ),
    )


def _driver_image(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    if r.chart is None or p.os is None or not operand_runs_on(r, p, "driver"):
        return
    if p.driver_image_tags:
        return
    published = ", ".join(r.chart.driver_os_tags) or "none recorded"
    now = today()
    own = [
        o.id
        for o in r.catalog.os_families.values()
        if o.driver_preinstalled and not (o.end_of_life and now > date.fromisoformat(o.end_of_life))
    ]
    fix = (
        f"Use an OS with a published driver image ({', '.join(r.chart.driver_os_families)}), or an OS that "
        f"brings its own driver ({', '.join(own)})"
    )
    if p.os.driver_preinstalled:
        fix += f"; {_label_fix('driver')}"
    yield Finding(
        id="driver-no-image",
        severity=Severity.ERROR,
        pool=p.name,
        message=(
            f"The operator would run its driver container on {p.os.display}, but NVIDIA publishes no "
            f"driver image for it at chart {r.chart_version}: there is no nvcr.io/nvidia/driver:"
            f"{r.chart.driver_version}-<os> for {p.os.os_release_id or p.os.id} nodes (published OS tags: "
            f"{published})."
        ),
        fix=fix + ".",
        reference=PLATFORM_REF,
        path=pool_path(p, "os"),
    )


def driver_crd_enabled(r: ResolvedSpec) -> bool:
    """``operator.values`` turn on the NVIDIADriver CRD (``driver.nvidiaDriverCRD.enabled``)."""
    drv = r.spec.operator.values.get("driver")
    crd = drv.get("nvidiaDriverCRD") if isinstance(drv, dict) else None
    return isinstance(crd, dict) and crd.get("enabled") is True


def _mixed_os(r: ResolvedSpec) -> Iterator[Finding]:
    driver_pools = [p for p in r.pools if operand_runs_on(r, p, "driver")]
    if not driver_pools:
        return
    if driver_crd_enabled(r):
        # The NVIDIADriver controller partitions the GPU nodes it selects by OS (one driver DaemonSet per
        # os_release ID + VERSION_ID, NVIDIA/gpu-operator internal/state/nodepool.go getNodePools), and each DaemonSet
        # keeps the nodeSelector nvidia.com/gpu.deploy.driver=true (assets/state-driver/0500_daemonset.yaml), so
        # pools that opt out get no driver pod. The chart's default NVIDIADriver (deployDefaultCR) selects them all.
        return
    by_os: dict[str, list[str]] = {}
    for p in r.pools:
        by_os.setdefault(p.spec.os, []).append(p.name)
    if len(by_os) < 2:
        return
    driver_oses = sorted({p.spec.os for p in driver_pools})
    groups = "; ".join(f"{os_id}: {', '.join(names)}" for os_id, names in sorted(by_os.items()))
    if len(driver_oses) > 1:
        what = f"Pools on {len(driver_oses)} different OSes ({', '.join(driver_oses)}) need the operator's driver"
    else:
        others = sorted(set(by_os) - set(driver_oses))
        what = (
            f"Pools on {driver_oses[0]} need the operator's driver while other GPU pools run "
            f"{', '.join(others)} (they opt out of the driver, but their nodes are GPU nodes too)"
        )
    yield Finding(
        id="driver-mixed-os",
        severity=Severity.ERROR,
        message=(
            f"{what}. Through ClusterPolicy the operator takes the OS of one GPU node and uses that driver "
            f"image tag (<version>-<os>) on every node, so some driver pods get an image for the wrong OS "
            f"(or one that does not exist)."
        ),
        fix=(
            "Let the NVIDIADriver CRD manage the driver: in the spec set operator.values: {driver: "
            "{nvidiaDriverCRD: {enabled: true}}} (the chart's default NVIDIADriver then gets one driver DaemonSet "
            "per node OS); or put every GPU pool on one OS while ClusterPolicy manages the driver; or use "
            "al2023-nvidia on every pool so no pool needs the operator's driver."
        ),
        reference=NVIDIADRIVER_REF,
        evidence=(groups,),
        path="nodePools",
    )


def _bottlerocket_plugin(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    if not (p.os and p.os.device_plugin_builtin and operand_runs_on(r, p, "device-plugin")):
        return
    yield Finding(
        id="os-bottlerocket-device-plugin",
        severity=Severity.ERROR,
        pool=p.name,
        message=(
            f"{p.os.display} already runs the NVIDIA device plugin as a host service; the operator's device "
            f"plugin DaemonSet would run there too and advertise the same GPUs twice."
        ),
        fix=(
            "Configure sharing on this pool through Bottlerocket's settings.kubelet-device-plugins.nvidia.* "
            f"(from the pool's sharing block) and {_label_fix('device-plugin')}."
        ),
        reference=BOTTLEROCKET_REF,
        path=pool_path(p, "labels"),
    )


def _lifecycle(r: ResolvedSpec, p: ResolvedPool, now: date) -> Iterator[Finding]:
    o = p.os
    if o is None:
        return
    eks = r.spec.cluster.provider == "eks"
    k8s = r.kubernetes_version
    if eks and o.eks_max_kubernetes and older(o.eks_max_kubernetes, k8s):
        yield Finding(
            id="os-eks-no-ami",
            severity=Severity.ERROR,
            pool=p.name,
            message=(
                f"EKS publishes no {o.display} AMIs for Kubernetes {k8s}; the last version with them is "
                f"{o.eks_max_kubernetes}."
            ),
            fix="Use os: al2023-nvidia (or bottlerocket-nvidia) for this pool.",
            reference=AL2_REF,
            path=pool_path(p, "os"),
        )
    if o.end_of_life and now > date.fromisoformat(o.end_of_life):
        yield Finding(
            id="os-end-of-life",
            severity=Severity.ERROR,
            pool=p.name,
            message=f"{o.display} reached its end of life on {o.end_of_life}: no more security updates.",
            fix="Move the pool to a supported OS: al2023-nvidia, bottlerocket-nvidia or Ubuntu.",
            reference=AL2_REF,
            path=pool_path(p, "os"),
        )
    elif eks and o.end_of_support and now > date.fromisoformat(o.end_of_support):
        yield Finding(
            id="os-end-of-support",
            severity=Severity.WARNING,
            pool=p.name,
            message=(
                f"EKS stopped supporting {o.display} AMIs on {o.end_of_support}: no new AMIs, patches or "
                f"Kubernetes versions" + (f"; the OS itself ends on {o.end_of_life}." if o.end_of_life else ".")
            ),
            fix="Plan the move to al2023-nvidia or bottlerocket-nvidia before the OS end of life.",
            reference=AL2_REF,
            path=pool_path(p, "os"),
        )


def _validated(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    if r.chart is None or p.os is None or r.spec.cluster.provider != "eks" or not r.chart.eks_os_families:
        return
    if p.os.id in r.chart.eks_os_families or not operand_runs_on(r, p, "driver"):
        return
    if p.os.id not in r.chart.driver_os_families:
        return  # driver-no-image already says more
    yield Finding(
        id="os-not-validated",
        severity=Severity.WARNING,
        pool=p.name,
        message=(
            f"NVIDIA validates chart {r.chart_version} on Amazon EKS only with "
            f"{', '.join(r.chart.eks_os_families)}; this pool runs the operator's driver on {p.os.display}."
        ),
        fix="Prefer one of the validated OSes for pools whose driver the operator manages.",
        reference=PLATFORM_REF,
        path=pool_path(p, "os"),
    )


def check(r: ResolvedSpec) -> Iterator[Finding]:
    now = today()
    for p in r.pools:
        if p.os is None:
            yield Finding(
                id="os-unknown",
                severity=Severity.WARNING,
                pool=p.name,
                message=f"gpuslice's catalog has no entry for os {p.spec.os!r}; OS checks are skipped.",
                fix="Use one of the catalog's OS ids, or report the missing entry.",
                reference=PLATFORM_REF,
                path=pool_path(p, "os"),
            )
            continue
        yield from _glibc(r, p)
        yield from _driver_image(r, p)
        yield from _bottlerocket_plugin(r, p)
        yield from _lifecycle(r, p, now)
        yield from _validated(r, p)
    yield from _mixed_os(r)
