"""GPU sharing settings against the GPU model and the NVIDIA device plugin's rules.

Facts used: the device plugin's MPS control daemon refuses more replicas than the GPU's MPS client limit (48 from
compute capability 7.5, else 16) and does not support MIG devices; renamed resources are advertised as
``<name>.shared``; ``failRequestsGreaterThanOne`` defaults to false for time-slicing (NVIDIA recommends true). GPU
models, memory, MIG profiles and MPS limits come from the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedPool, ResolvedSpec

SHARING_REF = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html"
PLUGIN_REF = "https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus"
MPS_REF = "https://github.com/NVIDIA/k8s-device-plugin#with-cuda-mps"
MIG_PREFIX = "nvidia.com/mig-"


def _model(p: ResolvedPool) -> str:
    return p.gpu.model or "the GPU"


def _pool(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    s = p.sharing
    m = p.gpu.catalog_model
    if not s.shared:
        return
    is_mig = s.resource_name.startswith(MIG_PREFIX)
    floor = r.spec.checks.memory_per_replica_floor_gib
    if p.gpu.memory_gib is not None and not is_mig and p.gpu.memory_gib / s.replicas < floor:
        per = p.gpu.memory_gib / s.replicas
        fit = max(1, int(p.gpu.memory_gib // floor)) if floor else s.replicas
        yield Finding(
            id="sharing-memory-per-replica",
            severity=Severity.WARNING,
            pool=p.name,
            message=(
                f"{s.replicas} replicas of a {p.gpu.memory_gib:g} GiB {_model(p)} leave {per:.1f} GiB per "
                f"replica, below the {floor:g} GiB floor (memory is not isolated between replicas)."
            ),
            fix=(
                f"Use at most {fit} replicas, a GPU with more memory, or lower checks.memoryPerReplicaFloorGiB "
                f"if the workloads are known to be small."
            ),
            reference=SHARING_REF,
            path=pool_path(p, "sharing", "replicas"),
        )
    if s.strategy == "mps" and is_mig:
        yield Finding(
            id="sharing-mps-mig",
            severity=Severity.ERROR,
            pool=p.name,
            message=(
                f"MPS sharing of the MIG resource {s.resource_name}: the device plugin does not support MPS "
                f"on MIG devices."
            ),
            fix="Use strategy time-slicing for MIG resources, or MPS on full GPUs (resourceName nvidia.com/gpu).",
            reference=MPS_REF,
            path=pool_path(p, "sharing", "strategy"),
        )
    if s.strategy == "mps" and m is not None and s.replicas > m.mps_max_clients:
        yield Finding(
            id="sharing-mps-replicas",
            severity=Severity.ERROR,
            pool=p.name,
            message=(
                f"{s.replicas} MPS replicas on {m.id} (compute capability {m.compute_capability}): the MPS "
                f"control daemon allows at most {m.mps_max_clients} clients per GPU."
            ),
            fix=f"Set sharing.replicas to {m.mps_max_clients} or fewer.",
            reference=MPS_REF,
            path=pool_path(p, "sharing", "replicas"),
        )
    if is_mig and m is not None:
        profile = s.resource_name.removeprefix(MIG_PREFIX)
        offered = m.mig_resource_profiles()
        if profile not in offered:
            have = ", ".join(offered) if offered else "none: this GPU has no MIG"
            yield Finding(
                id="sharing-mig-profile",
                severity=Severity.ERROR,
                pool=p.name,
                message=(
                    f"{s.resource_name} names MIG profile {profile!r}, which {m.id} does not offer "
                    f"(profiles: {have}); the device plugin skips a sharing entry that matches no device, so "
                    f"nothing would be shared."
                ),
                fix="Use one of the GPU's profiles, or nvidia.com/gpu for whole GPUs.",
                reference=PLUGIN_REF,
                path=pool_path(p, "sharing", "resourceName"),
            )
    wants = p.spec.sharing.workloads_request
    if wants and wants != s.advertised_resource:
        if s.rename_by_default and wants == s.resource_name:
            why = f"with renameByDefault the nodes advertise {s.advertised_resource} and {s.resource_name} drops to 0"
            fix = f"Make the workloads request {s.advertised_resource}, or set renameByDefault: false."
        else:
            why = f"the nodes advertise {s.advertised_resource}"
            fix = (
                f"Make the workloads request {s.advertised_resource}"
                + (", or set renameByDefault: true" if wants == f"{s.resource_name}.shared" else "")
                + "."
            )
        yield Finding(
            id="sharing-rename-workloads",
            severity=Severity.WARNING,
            pool=p.name,
            message=f"The pool's workloads request {wants}, but {why}: their pods would stay Pending.",
            fix=fix,
            reference=PLUGIN_REF,
            path=pool_path(p, "sharing", "renameByDefault"),
        )
    if s.strategy == "time-slicing" and not s.fail_requests_explicit:
        yield Finding(
            id="sharing-fail-requests-unset",
            severity=Severity.WARNING,
            pool=p.name,
            message=(
                "failRequestsGreaterThanOne is not set. The device plugin defaults it to false for "
                "time-slicing (a request for 2 replicas gets 2 slices of the same GPU); gpuslice writes "
                "true, as NVIDIA recommends."
            ),
            fix="Set sharing.failRequestsGreaterThanOne: true (or false, if multi-replica requests are intended).",
            reference=PLUGIN_REF,
            path=pool_path(p, "sharing"),
        )


def check(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        yield from _pool(r, p)
