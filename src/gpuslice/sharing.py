"""Build the NVIDIA device plugin's sharing config (``api/config/v1``) from the resolved spec.

One ConfigMap key per distinct sharing setting, plus ``exclusive`` (no sharing) which is also the default for
any GPU node that carries no ``nvidia.com/device-plugin.config`` label, so an unlabeled node is predictable.
"""

from __future__ import annotations

from typing import Any

from gpuslice.resolve import EXCLUSIVE_KEY, ResolvedSharing, ResolvedSpec
from gpuslice.yamlio import dump_yaml


def device_plugin_config(rs: ResolvedSharing, mig_strategy: str = "none") -> dict[str, Any]:
    """The config document the device plugin reads for one key."""
    cfg: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": mig_strategy}}
    if rs.shared:
        block = "timeSlicing" if rs.strategy == "time-slicing" else "mps"
        cfg["sharing"] = {
            block: {
                "renameByDefault": rs.rename_by_default,
                "failRequestsGreaterThanOne": rs.fail_requests_greater_than_one,
                "resources": [{"name": rs.resource_name, "replicas": rs.replicas}],
            }
        }
    return cfg


def mig_strategy(resolved: ResolvedSpec) -> str:
    """The MIG strategy the sharing config declares (ClusterPolicy ``mig.strategy`` must say the same)."""
    found = sorted({str(device_plugin_config(rs)["flags"]["migStrategy"]) for rs in resolved.sharing_configs.values()})
    return found[0] if found else "none"


def configmap_data(resolved: ResolvedSpec) -> dict[str, str]:
    """ConfigMap ``data``: key -> YAML text of the device plugin config."""
    return {key: dump_yaml(device_plugin_config(rs)) for key, rs in resolved.sharing_configs.items()}


def default_key(resolved: ResolvedSpec) -> str:
    return EXCLUSIVE_KEY


def configmap_manifest(resolved: ResolvedSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": resolved.device_plugin_configmap,
            "namespace": resolved.namespace,
            "labels": {"app.kubernetes.io/managed-by": "gpuslice"},
        },
        "data": configmap_data(resolved),
    }


def pool_labels(resolved: ResolvedSpec) -> dict[str, dict[str, str]]:
    """pool name -> every node label gpuslice needs on that pool's nodes."""
    return {p.name: dict(p.node_labels) for p in resolved.pools}
