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

from gpuslice.render.bootstrap.common import ClusterConnection, cluster_dns_ip, taint_string
from gpuslice.resolve import ResolvedPool, ResolvedSpec

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
