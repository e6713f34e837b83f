"""GPU nodes themselves: disk pressure, the NFD labels the operator needs, Bottlerocket's own device plugin."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase
from gpuslice.findings import Finding, Severity


def _disk(ctx: DoctorContext) -> list[Finding]:
    sig = k.signature("disk-eviction")
    gpu = {n.name: n for n in ctx.gpu_nodes}
    ev = Evidence()
    for n in gpu.values():
        c = n.condition("DiskPressure")
        if c is not None and c.status == "True":
            ev.add(
                "d", f"node {n.name}: condition DiskPressure=True ({c.reason or ''}: {c.message or ''})".strip(), n.name
            )
    for pod in ctx.unhealthy_pods:
        if pod.spec.node_name in gpu and pod.status.reason == "Evicted":
            mt = sig.search(pod.status.message)
            if mt:
                ev.add("d", f"{pod.ref} evicted: {k.excerpt(pod.status.message or '', mt)}", pod.spec.node_name)
    for e, t, mt in ctx.search_events(sig):
        node = t.node
        if not node and e.obj.kind == "Pod":
            owner = ctx.view.pod(e.obj.namespace or e.metadata.namespace, e.obj.name)
            node = owner.spec.node_name if owner else ""
        if node in gpu:
            ev.add("d", f"{t.ref}: {k.excerpt(t.text, mt)}", node)
    if not ev.groups:
        return []
    nodes = ev.node_names("d")
    pressure = any(
        gpu[n].condition("DiskPressure") and gpu[n].condition("DiskPressure").status == "True"  # type: ignore[union-attr]
        for n in nodes
    )
    pool = ctx.pool(nodes[0]) if len(nodes) == 1 or ctx.pool_name(nodes) else None
    size = ""
    if pool is not None:
        size = f" (the spec gives this pool a {pool.root_gib} GiB root" + (
            ", containerd on the data volume/instance store)"
            if pool.containerd_on_data
            else ", containerd on the root volume)"
        )
    return [
        finding(
            "gpu-node-disk-pressure",
            Severity.ERROR if pressure else Severity.WARNING,
            f"GPU node disk is full or nearly full on {nodes_phrase(nodes)}: the kubelet evicts pods or cannot free "
            f"image space{size}",
            "Give containerd room: put /var/lib/containerd on a data volume (spec disks.data with mountPath "
            "/var/lib/containerd) or RAID0 the instance store (disks.instanceStore: raid0), or raise disks.rootGiB; "
            "then replace the nodes. Meanwhile remove unused images on the node (crictl rmi --prune).",
            evidence=ev.lines("d"),
            pool=ctx.pool_name(nodes),
        )
    ]


def _nfd(ctx: DoctorContext) -> list[Finding]:
    id_key, ver_key = k.label("os_id"), k.label("os_version")
    if not ctx.operator_present:  # only the GPU Operator needs them (a plain device plugin does not)
        return []
    missing = [n for n in ctx.gpu_nodes if not n.labels.get(id_key) or not n.labels.get(ver_key)]
    if not missing:
        return []
    names = sorted(n.name for n in missing)
    no_nfd = [n for n in missing if not any(key.startswith("feature.node.kubernetes.io/") for key in n.labels)]
    lines = [
        f"node {n.name}: {id_key}={n.labels.get(id_key, '<missing>')}, {ver_key}={n.labels.get(ver_key, '<missing>')}"
        for n in missing[:5]
    ]
    if len(missing) > 5:
        lines.append(f"… and {len(missing) - 5} more")
    sig = k.signature("os-label-missing")
    op_pods = [p for p in ctx.view.pods.get(ctx.namespace, ()) if p.name.startswith(k.operator()["deployment"])]
    for pod in op_pods:
        for t in ctx.texts_of(pod):
            mt = sig.search(t.text)
            if mt:
                lines.append(f"{t.ref}: {k.excerpt(t.text, mt)}")
                break
    why = " (no NFD labels at all: the NFD worker does not run there)" if len(no_nfd) == len(missing) else ""
    return [
        finding(
            "nfd-os-labels-missing",
            Severity.ERROR,
            f"{nodes_phrase(names)} lack the NFD OS labels the GPU Operator needs{why}",
            "Make sure node-feature-discovery's worker runs on the GPU nodes (its DaemonSet must tolerate the GPU "
            "taints; the chart's nfd.enabled must be true unless an external NFD with extraLabelNs nvidia.com runs), "
            "then wait for the labels; the operator reads system-os_release.ID/VERSION_ID even with driver.enabled=false.",
            evidence=tuple(lines),
            pool=ctx.pool_name(names),
        )
    ]


def _bottlerocket(ctx: DoctorContext) -> list[Finding]:
    br = {n.name: n for n in ctx.view.nodes if k.is_bottlerocket(n)}
    if not br:
        return []
    ev = Evidence()
    for pod in ctx.operator_pods("device-plugin"):
        if pod.spec.node_name in br:
            ev.add(
                "b",
                f"{pod.ref} runs on Bottlerocket node {pod.spec.node_name} "
                f"({br[pod.spec.node_name].os_image or 'bottlerocket'}): {pod.display_status()}",
                pod.spec.node_name,
            )
    if not ev.groups:
        return []
    nodes = ev.node_names("b")
    return [
        finding(
            "bottlerocket-device-plugin",
            Severity.ERROR,
            f"the operator's device plugin runs on {nodes_phrase(nodes)} running Bottlerocket, which has its own "
            "NVIDIA device plugin: two plugins advertise the same GPUs",
            "Label those nodes nvidia.com/gpu.deploy.device-plugin=false (gpuslice sets it on bottlerocket-nvidia "
            "pools; `gpuslice apply` labels existing nodes) and configure time-slicing through Bottlerocket settings "
            "(settings.kubelet-device-plugins.nvidia.*).",
            evidence=ev.lines("b"),
            pool=ctx.pool_name(nodes),
        )
    ]


def check(ctx: DoctorContext) -> Iterable[Finding]:
    return [*_disk(ctx), *_nfd(ctx), *_bottlerocket(ctx)]
