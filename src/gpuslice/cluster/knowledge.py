"""Loaders for the cluster data files (operator object names, message signatures, transient errors) and the
small helpers every cluster module shares: which nodes are GPU nodes, and which spec pool a node belongs to."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from gpuslice.cluster import model as m
from gpuslice.resolve import POOL_LABEL, ResolvedPool, ResolvedSpec

#: Node labels by which a node is recognised as a member of a pool (the first that matches wins):
#: gpuslice's own pool label (set at node creation by the bootstrap/node-group artifacts), then the names the
#: provisioners put on nodes for the node group gpuslice named.
NODEGROUP_LABELS = ("eks.amazonaws.com/nodegroup", "alpha.eksctl.io/nodegroup-name", "karpenter.sh/nodepool")


def _load(name: str) -> dict[str, Any]:
    from gpuslice.yamlio import load_packaged

    data: dict[str, Any] = load_packaged("gpuslice.cluster", f"data/{name}")
    return data


@functools.cache
def operator() -> dict[str, Any]:
    return _load("operator.yaml")


def daemonset(key: str) -> str:
    return str(operator()["daemonsets"][key])


def label(key: str) -> str:
    return str(operator()["labels"][key])


@dataclass(frozen=True)
class Signature:
    id: str
    regex: re.Pattern[str]
    source: str

    def search(self, text: str | None) -> re.Match[str] | None:
        return self.regex.search(text) if text else None


@functools.cache
def _signatures() -> dict[str, Signature]:
    data = _load("signatures.yaml")["signatures"]
    return {
        k: Signature(k, re.compile(v["pattern"], re.IGNORECASE if v.get("ignorecase") else 0), v["source"])
        for k, v in data.items()
    }


def signature(key: str) -> Signature:
    return _signatures()[key]


@functools.cache
def upstream_registries() -> tuple[str, ...]:
    return tuple(_load("signatures.yaml")["upstream_registries"])


@functools.cache
def pull_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(not found, network/access) patterns for the text of a failed image pull."""
    data = _load("signatures.yaml")
    return re.compile(data["pull_not_found"]), re.compile(data["pull_network"], re.IGNORECASE)


def node_os(node: m.Node | None) -> str:
    """The node's OS as its labels (NFD) say, else its osImage: ``amzn 2 (Amazon Linux 2)``; '' when unknown."""
    if node is None:
        return ""
    os_id = node.labels.get(label("os_id"), "")
    ver = node.labels.get(label("os_version"), "")
    image = node.os_image
    if os_id:
        return f"{os_id} {ver}".strip() + (f" ({image})" if image else "") + " [NFD labels]"
    return f"{image} [osImage]" if image else ""


def is_gpu_node(node: m.Node, resolved: ResolvedSpec | None = None) -> bool:
    """A node with an NVIDIA GPU, by any of: the operator's label, an advertised nvidia.com resource, NFD's PCI
    vendor label, membership in a spec pool whose instance type has GPUs, Karpenter's GPU-manufacturer label, or
    an EC2 instance type the catalog lists with GPUs."""
    labels = node.labels
    if labels.get(label("gpu_present")) == "true":
        return True
    for key in operator()["labels"]["pci"]:
        if labels.get(key) == "true":
            return True
    for res, qty in (node.status.capacity or {}).items():
        if (res.startswith("nvidia.com/gpu") or res.startswith("nvidia.com/mig-")) and m.parse_quantity(qty):
            return True
    if resolved is not None:
        pool = pool_of(node, resolved)
        if pool is not None and (pool.gpu.count or 0) > 0:
            return True
    # Before NFD/GFD/the device plugin ever ran on it (exactly when it is broken), a node is still known as a GPU
    # node by what the cloud says: Karpenter's instance labels, or the instance type's row in the catalog.
    if labels.get("karpenter.k8s.aws/instance-gpu-manufacturer", "").lower() == "nvidia":
        return True
    itype = labels.get("node.kubernetes.io/instance-type") or labels.get("beta.kubernetes.io/instance-type")
    if itype:
        from gpuslice.catalog import load_catalog

        it = load_catalog().instance(itype)
        if it is not None and (it.gpu_count > 0 or it.gpu_fraction):
            return True
    return False


def pool_of(node: m.Node, resolved: ResolvedSpec) -> ResolvedPool | None:
    labels = node.labels
    name = labels.get(POOL_LABEL)
    if name:
        return resolved.pool(name)
    for key in NODEGROUP_LABELS:
        value = labels.get(key)
        if value:
            for p in resolved.pools:
                if value in (p.node_group_name, p.name):
                    return p
    return None


def pool_nodes(resolved: ResolvedSpec, nodes: list[m.Node]) -> dict[str, list[m.Node]]:
    """pool name -> its nodes (every pool present, possibly empty)."""
    out: dict[str, list[m.Node]] = {p.name: [] for p in resolved.pools}
    for n in nodes:
        p = pool_of(n, resolved)
        if p is not None:
            out[p.name].append(n)
    return out


def is_bottlerocket(node: m.Node) -> bool:
    return node.labels.get(label("os_id")) == "bottlerocket" or "bottlerocket" in node.os_image.lower()


def excerpt(text: str, match: re.Match[str] | None = None, width: int = 220) -> str:
    """A one-line piece of ``text`` around ``match`` (or its start), at most ``width`` characters."""
    flat = " ".join(text.split())
    if match is None:
        return flat[:width] + ("…" if len(flat) > width else "")
    token = " ".join(match.group(0).split())
    i = flat.find(token)
    if i < 0:
        return flat[:width] + ("…" if len(flat) > width else "")
    start = max(0, i - (width - len(token)) // 2)
    piece = flat[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(flat) else "")
