"""Bottlerocket NVIDIA: user-data is TOML settings. The NVIDIA device plugin runs on the host, configured by
``settings.kubelet-device-plugins.nvidia`` (bottlerocket-core-kit ``nvidia-k8s-device-plugin-conf``; key names
checked against the 1.54.x settings reference), so the sharing config is rendered here, not in a ConfigMap.

Bottlerocket defaults ``time-slicing.rename-by-default`` to true (upstream: false), so gpuslice always writes it
from the spec. Containers live on the data volume (/dev/xvdb) by design; the instance store is striped and bound
with ``apiclient ephemeral-storage`` in a bootstrap command, as Karpenter does for ``instanceStorePolicy: RAID0``.
"""

from __future__ import annotations

from typing import Any

import tomli_w

from gpuslice.findings import Finding, Severity
from gpuslice.render.bootstrap.common import ClusterConnection, DiskPlan, cluster_dns_ip, taint_string
from gpuslice.render.bootstrap.family import BOOTSTRAP_REF, BootstrapFamily
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint

DEVICE_PLUGIN_SETTINGS = "kubelet-device-plugins"  # plural; the 1.23-1.29 docs URLs say "kubelet-device-plugin"
EPHEMERAL_DIRS = ["/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods"]
BOOTSTRAP_COMMAND = "000-gpuslice-instance-storage"


def nvidia_settings(pool: ResolvedPool) -> dict[str, Any]:
    """``settings.kubelet-device-plugins.nvidia`` for the pool's sharing strategy (rename-by-default explicit)."""
    sh = pool.sharing
    out: dict[str, Any] = {"device-sharing-strategy": sh.strategy}
    if sh.strategy == "time-slicing":
        out["time-slicing"] = {
            "replicas": sh.replicas,
            "rename-by-default": sh.rename_by_default,
            "fail-requests-greater-than-one": sh.fail_requests_greater_than_one,
        }
    elif sh.strategy == "mps":
        out["mps"] = {"replicas": sh.replicas, "rename-by-default": sh.rename_by_default}
    return out


def node_taints(pool: ResolvedPool) -> dict[str, list[str]]:
    taints: dict[str, list[str]] = {}
    for t in pool.spec.taints:
        value_effect = taint_string(t).split("=", 1)[1] if t.value else f":{t.effect}"
        taints.setdefault(t.key, []).append(value_effect)
    return taints


def settings(resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None = None) -> dict[str, Any]:
    """The settings document (``{"settings": {...}}``) for one pool."""
    kubernetes: dict[str, Any] = {"cluster-name": resolved.spec.cluster.name}
    if conn is not None:
        if conn.endpoint:
            kubernetes["api-server"] = conn.endpoint
        if conn.certificate_authority:
            kubernetes["cluster-certificate"] = conn.certificate_authority
        dns_ip = cluster_dns_ip(conn)
        if dns_ip:
            kubernetes["cluster-dns-ip"] = dns_ip
    kubernetes["node-labels"] = dict(sorted(pool.node_labels.items()))
    taints = node_taints(pool)
    if taints:
        kubernetes["node-taints"] = taints
    s: dict[str, Any] = {
        "kubernetes": kubernetes,
        DEVICE_PLUGIN_SETTINGS: {"nvidia": nvidia_settings(pool)},
        # The control container runs the SSM agent.
        "host-containers": {"control": {"enabled": bool(pool.spec.ssm)}},
    }
    if pool.spec.disks.instance_store == "raid0":
        s["bootstrap-commands"] = {
            BOOTSTRAP_COMMAND: {
                "commands": [
                    ["apiclient", "ephemeral-storage", "init"],
                    ["apiclient", "ephemeral-storage", "bind", "--dirs", *EPHEMERAL_DIRS],
                ],
                "essential": True,
                "mode": "always",
            }
        }
    return {"settings": s}


def user_data(resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None = None) -> str:
    header = f"# gpuslice: Bottlerocket settings for pool {pool.name}\n"
    return header + tomli_w.dumps(settings(resolved, pool, conn))


class Bottlerocket(BootstrapFamily):
    """Bottlerocket NVIDIA variants: TOML settings; the host's device plugin shares the GPUs; container data on the
    OS's own data volume."""

    name = "bottlerocket"
    join_needs = ("endpoint", "certificate_authority")
    join_needs_source = "Bottlerocket settings.kubernetes.api-server and cluster-certificate"
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
        return user_data(resolved, pool, conn)

    def files(self, resolved: ResolvedSpec, pool: ResolvedPool, conn: ClusterConnection | None) -> dict[str, str]:
        return {"user-data": self.user_data(resolved, pool, conn)}

    def disk_plan(self, resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
        return None

    def findings(self, resolved: ResolvedSpec, pool: ResolvedPool) -> list[Finding]:
        out: list[Finding] = []
        if pool.sharing.shared and pool.sharing.resource_name != "nvidia.com/gpu":
            out.append(
                Finding(
                    "bootstrap-bottlerocket-resource-name",
                    Severity.WARNING,
                    f"Bottlerocket's device plugin settings always share nvidia.com/gpu; sharing.resourceName "
                    f"{pool.sharing.resource_name} cannot be rendered",
                    fix="Remove sharing.resourceName for Bottlerocket pools.",
                    pool=pool.name,
                    reference=BOOTSTRAP_REF,
                    path=f"nodePools[{pool.index}].sharing.resourceName",
                )
            )
        d = pool.spec.disks
        vol = pool.data_volume
        if d.data is not None and vol is not None and vol.os_owned and d.data.device_name != vol.device_name:
            out.append(
                Finding(
                    "bootstrap-bottlerocket-data-device",
                    Severity.INFO,
                    f"Bottlerocket keeps container data on {vol.device_name}; disks.data.deviceName "
                    f"{d.data.device_name} is ignored and the volume is mapped at {vol.device_name}",
                    pool=pool.name,
                    reference=BOOTSTRAP_REF,
                    path=f"nodePools[{pool.index}].disks.data.deviceName",
                )
            )
        return out

    def eksctl_volumes(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        # eksctl puts volumeSize on Bottlerocket's data volume (/dev/xvdb) and adds the OS volume itself.
        vol = pool.data_volume
        if vol is None or not vol.os_owned:
            return super().eksctl_volumes(resolved, pool)
        return {"volumeSize": vol.size_gib, "volumeType": vol.volume_type}

    def eksctl_bootstrap(self, resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
        s = settings(resolved, pool)["settings"]
        s.pop("kubernetes")  # eksctl sets cluster, labels and taints from the node group's own fields
        return {"bottlerocket": {"settings": s}}

    def karpenter_user_data(
        self, resolved: ResolvedSpec, pool: ResolvedPool, *, alias: bool, unregistered_taint: Taint
    ) -> str:
        doc = settings(resolved, pool)
        doc["settings"].pop("bootstrap-commands", None)  # Karpenter adds its own for instanceStorePolicy RAID0
        return tomli_w.dumps(doc)
