"""Device plugins: more than one on a node, and every sharing config doctor can see (linted).

Two plugins registering ``nvidia.com/gpu`` on one node fight over it: the kubelet keeps the last registration, and
when either restarts or is deleted the node's capacity drops to 0 (k8s-device-plugin #255) or CUDA is blocked
(bottlerocket #4309). Sources of a second plugin: eksctl's ``nvidia-device-plugin-daemonset`` in kube-system (eksctl
installs it for GPU node groups unless --install-nvidia-plugin=false), the device plugin's Helm chart beside the
operator's, and Bottlerocket NVIDIA variants, whose host runs its own plugin as a systemd service.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase
from gpuslice.findings import Finding, Severity


def is_device_plugin_ds(ds: m.DaemonSet) -> bool:
    """A DaemonSet that runs the NVIDIA device plugin itself (not GFD, not the MPS control daemon)."""
    name = ds.name.lower()
    if "mps-control-daemon" in name or "feature-discovery" in name or "gfd" in name:
        return False
    if "device-plugin" in name and ("nvidia" in name or "nvdp" in name):
        return True
    return any(
        c.name in ("nvidia-device-plugin-ctr", "nvidia-device-plugin") for c in ds.spec.template.spec.containers or ()
    )


def plugin_pods(ctx: DoctorContext) -> list[tuple[m.Pod, str]]:
    """(pod, its DaemonSet) for every pod of a device-plugin DaemonSet. Only the namespaces holding such a
    DaemonSet are walked (a 5,000-node dump has 60,000 pods, a handful of plugin DaemonSets)."""
    if ctx._plugin_pods is not None:
        return ctx._plugin_pods
    by_ns: dict[str, set[str]] = {}
    for d in ctx.view.all_daemonsets():
        if is_device_plugin_ds(d):
            by_ns.setdefault(d.metadata.namespace, set()).add(d.name)
    out = []
    for ns, names in by_ns.items():
        for pod in ctx.view.pods.get(ns, ()):
            owner = pod.owner("DaemonSet")
            if owner in names:
                out.append((pod, owner))
    ctx._plugin_pods = out
    return out


def _bottlerocket_nvidia(node: m.Node) -> bool:
    """A Bottlerocket GPU node (only the *-nvidia variants have GPUs, and they run the host plugin)."""
    return k.is_bottlerocket(node)


def _duplicates(ctx: DoctorContext) -> list[Finding]:
    plugin_ds = {(d.metadata.namespace, d.name): d for d in ctx.view.all_daemonsets() if is_device_plugin_ds(d)}
    per_node: dict[str, list[str]] = {}
    for pod, owner in plugin_pods(ctx):
        if pod.spec.node_name:
            per_node.setdefault(pod.spec.node_name, []).append(f"daemonset {pod.namespace}/{owner} (pod {pod.name})")
    ev = Evidence()
    operator_ds = k.daemonset("device-plugin")
    for node in ctx.gpu_nodes:
        plugins = sorted(set(per_node.get(node.name, [])))
        host = _bottlerocket_nvidia(node)
        if host:
            # The operator's own plugin on Bottlerocket is reported by `bottlerocket-device-plugin` (nodes rules).
            others = [p for p in plugins if not p.startswith(f"daemonset {ctx.namespace}/{operator_ds} ")]
            if not others:
                continue
            plugins = [
                f"Bottlerocket host plugin (nvidia-k8s-device-plugin.service; osImage {node.os_image})",
                *plugins,
            ]
        if len(plugins) < 2:
            continue
        for p in plugins:
            ev.add("dup", f"node {node.name}: {p}", node.name)
    # DaemonSets without pods in the dump still say how many nodes they cover
    if not ev.groups and len(plugin_ds) > 1:
        live = [d for d in plugin_ds.values() if d.status.desired_number_scheduled > 0]
        if len(live) > 1:
            for d in live:
                ev.add(
                    "dup",
                    f"daemonset {d.metadata.namespace}/{d.name}: desired {d.status.desired_number_scheduled}, "
                    f"ready {d.status.number_ready}",
                )
    if not ev.groups:
        return []
    nodes = ev.node_names("dup")
    where = nodes_phrase(nodes) if nodes else "the cluster"
    host = any("Bottlerocket host plugin" in x for x in ev.groups["dup"])
    eksctl = any("kube-system/nvidia-device-plugin-daemonset" in x for x in ev.groups["dup"])
    fix = (
        "Keep exactly one device plugin per node. With the GPU Operator, remove the others: eksctl's "
        "(`kubectl -n kube-system delete daemonset nvidia-device-plugin-daemonset`, and create node groups with "
        "--install-nvidia-plugin=false so it does not come back), a separate nvidia-device-plugin Helm release, or "
        "on Bottlerocket the DaemonSet (exclude Bottlerocket nodes, or label them "
        "nvidia.com/gpu.deploy.device-plugin=false for the operator)."
    )
    return [
        finding(
            "device-plugin-duplicate",
            Severity.ERROR,
            f"more than one NVIDIA device plugin serves {where}"
            + (" (Bottlerocket's own host plugin and a DaemonSet)" if host else "")
            + (
                " (kube-system/nvidia-device-plugin-daemonset is the one eksctl installs)"
                if eksctl and not host
                else ""
            )
            + ": they register the same GPU resource and the node loses its GPUs when one restarts",
            fix,
            evidence=ev.lines("dup"),
            pool=ctx.pool_name(nodes),
            reference="https://github.com/bottlerocket-os/bottlerocket/issues/4309",
        )
    ]


def sharing_configmaps(ctx: DoctorContext) -> list[tuple[m.ConfigMap, str]]:
    """(ConfigMap, why doctor thinks it is a device-plugin config) for every one it can see."""
    if ctx.view.configmaps is None:
        return []
    wanted: dict[tuple[str, str], str] = {}
    cp = ctx.view.clusterpolicy
    if cp is not None and cp.plugin_config[0]:
        wanted[(ctx.namespace, cp.plugin_config[0])] = "named by ClusterPolicy devicePlugin.config"
    for d in ctx.view.all_daemonsets():
        low = d.name.lower()
        if not (is_device_plugin_ds(d) or "feature-discovery" in low or "mps-control-daemon" in low):
            continue
        for name in d.configmap_volumes():
            wanted.setdefault((d.metadata.namespace, name), f"mounted by daemonset {d.metadata.namespace}/{d.name}")
    out = []
    for (ns, name), why in sorted(wanted.items()):
        for cm in ctx.view.configmap(name, ns):
            out.append((cm, why))
    return out


def _lint_all(ctx: DoctorContext) -> list[Finding]:
    from gpuslice.cluster.doctor.operand_causes import lint_key, plugin_version_of
    from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL

    selectors: dict[str, list[str]] = {}
    for n in ctx.gpu_nodes:
        key = n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
        if key:
            selectors.setdefault(key, []).append(n.name)
    out = []
    # the plugin version reading each ConfigMap, from the image of a DaemonSet that mounts it (DaemonSets are few;
    # their pods are many)
    versions: dict[tuple[str, str], str | None] = {}
    for d in ctx.view.all_daemonsets():
        tpl = m.Pod(spec=d.spec.template.spec)
        for name in d.configmap_volumes():
            versions.setdefault((d.metadata.namespace, name), plugin_version_of(tpl))
    for cm, why in sharing_configmaps(ctx):
        version = versions.get((cm.metadata.namespace, cm.metadata.name))
        for key in sorted(cm.data or {}):
            lines = [x for x in lint_key(cm, key, version) if x.startswith("lint error")]
            if not lines:
                continue
            users = selectors.get(key, [])
            sel = f"; selected by {nodes_phrase(sorted(users))}" if users else ""
            out.append(
                finding(
                    "sharing-config-invalid",
                    Severity.ERROR,
                    f"device-plugin config key {key!r} of ConfigMap {cm.metadata.namespace}/{cm.metadata.name} "
                    f"({why}{sel}) fails lint-config: the plugin rejects or misreads it",
                    "Fix the key (run `gpuslice lint-config` on the ConfigMap for line numbers); `gpuslice apply` "
                    "renders configs the plugin accepts.",
                    evidence=tuple(lines[:5]),
                    pool=ctx.pool_name(users),
                )
            )
    return out


def _unused(ctx: DoctorContext) -> list[Finding]:
    from gpuslice.cluster.doctor.sharing import config_sharing

    if ctx.view.configmaps is None:
        return []
    used = {(cm.metadata.namespace, cm.metadata.name) for cm, _why in sharing_configmaps(ctx)}
    cp = ctx.view.clusterpolicy
    named = cp.plugin_config[0] if cp is not None else ""  # elsewhere than the operator namespace: configmap-namespace
    unshared = []
    for n in ctx.gpu_nodes:
        reps = n.labels.get(k.label("gpu_replicas"))
        if k.is_bottlerocket(n) or (reps is not None and reps != "1"):
            continue
        caps = {r: q for r, q in (n.status.capacity or {}).items() if r.startswith("nvidia.com/gpu")}
        unshared.append(
            f"node {n.name}: nvidia.com/gpu.replicas={reps or '<missing>'}, capacity "
            + (", ".join(f"{r}={q}" for r, q in sorted(caps.items())) or "<no nvidia.com/gpu>")
        )
    if not unshared:
        return []
    out = []
    for ns, cms in sorted(ctx.view.configmaps.items()):
        for cm in cms:
            if (ns, cm.metadata.name) in used or cm.metadata.name == named:
                continue
            shared = {
                key: config_sharing(text)
                for key, text in (cm.data or {}).items()
                if isinstance(text, str) and "sharing" in text and "version" in text
            }
            shared = {key: v for key, v in shared.items() if v[1] > 1}
            if not shared:
                continue
            keys = ", ".join(f"{key} ({st} x{r})" for key, (st, r) in sorted(shared.items()))
            out.append(
                finding(
                    "sharing-config-unused",
                    Severity.WARNING,
                    f"ConfigMap {ns}/{cm.metadata.name} holds device-plugin sharing config ({keys}) but no device "
                    "plugin mounts it, and the GPU nodes advertise their GPUs unshared",
                    "Point the plugin at it: device-plugin chart value config.name="
                    f"{cm.metadata.name} (config.default only picks a key inside it), or ClusterPolicy "
                    "devicePlugin.config.name (the ConfigMap in the operator's namespace); then label nodes "
                    "nvidia.com/device-plugin.config=<key> or set the default.",
                    evidence=(
                        f"configmap {ns}/{cm.metadata.name}: keys {keys}; mounted by no DaemonSet",
                        *unshared[:4],
                    ),
                    reference="https://github.com/NVIDIA/k8s-device-plugin/issues/990",
                )
            )
    return out


def check(ctx: DoctorContext) -> Iterable[Finding]:
    return [*_duplicates(ctx), *_lint_all(ctx), *_unused(ctx)]
