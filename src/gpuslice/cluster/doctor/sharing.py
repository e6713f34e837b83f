"""GPU sharing: the device-plugin ConfigMap, the per-node config label, and what the nodes actually advertise."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase, pod_unhealthy
from gpuslice.cluster.doctor.operands import crash_summary
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL


def config_sharing(text: str) -> tuple[str, int]:
    """(strategy, replicas) a device-plugin config document asks for; ('none', 1) when it shares nothing."""
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return "none", 1
    sharing = doc.get("sharing") if isinstance(doc, dict) else None
    if not isinstance(sharing, dict):
        return "none", 1
    for block, strategy in (("mps", "mps"), ("timeSlicing", "time-slicing")):  # MPS wins when both are present
        b = sharing.get(block)
        if isinstance(b, dict):
            reps = [
                r["replicas"]
                for r in b.get("resources") or ()
                if isinstance(r, dict) and isinstance(r.get("replicas"), int)
            ]
            if reps and max(reps) > 1:
                return strategy, max(reps)
    return "none", 1


def _configmap_findings(ctx: DoctorContext, cm_name: str) -> list[Finding]:
    ns = ctx.namespace
    ev = Evidence()
    elsewhere: list[str] = []
    if cm_name and ctx.view.configmaps is not None and not ctx.view.configmap(cm_name, ns):
        elsewhere = [c.metadata.namespace for c in ctx.view.configmap(cm_name)]
        ev.add(
            "cm",
            f"ClusterPolicy spec.devicePlugin.config.name={cm_name}; ConfigMap in {ns}: none"
            + (f"; found in: {', '.join(elsewhere)}" if elsewhere else ""),
        )
    sig = k.signature("configmap-not-found")
    consumers = {k.daemonset(x) for x in k.operator()["config_consumers"]}
    for e, t, mt in ctx.search_events(sig):
        name = mt.group("name")
        if (e.obj.namespace or e.metadata.namespace) != ns:
            continue
        if name == cm_name or any(e.obj.name.startswith(c) for c in consumers):
            ev.add("cm", f"{t.ref}: {k.excerpt(t.text, mt)}", t.node)
            cm_name = cm_name or name
    if not ev.groups:
        return []
    if elsewhere:
        return [
            finding(
                "configmap-namespace",
                Severity.ERROR,
                f"device-plugin ConfigMap {cm_name} is in {', '.join(elsewhere)}, not in the operator namespace {ns}; "
                "the operator only mounts it from its own namespace, so the sharing config never loads",
                f"Create it in {ns} (gpuslice renders it into the release namespace: `gpuslice apply SPEC`), then "
                f"delete the stray copy.",
                evidence=ev.lines("cm"),
                reference="https://github.com/NVIDIA/gpu-operator/issues/412",
            )
        ]
    return [
        finding(
            "configmap-missing",
            Severity.ERROR,
            f"device-plugin ConfigMap {cm_name or '(unnamed)'} does not exist in {ns}: the device plugin and GFD pods "
            "cannot mount it",
            "Create the ConfigMap ClusterPolicy names (`gpuslice apply SPEC` installs values whose chart creates it), or "
            "point devicePlugin.config.name at an existing one.",
            evidence=ev.lines("cm"),
        )
    ]


def _crashing(s: m.ContainerStatus) -> bool:
    """The container itself fails (not: waits for its image, its volumes or earlier init containers)."""
    w = s.state.waiting if s.state else None
    if w is not None and w.reason in ("CrashLoopBackOff", "Error", "RunContainerError"):
        return True
    t = s.state.terminated if s.state else None
    return t is not None and t.exit_code not in (0, None)


def _missing_keys(ctx: DoctorContext, keys: set[str] | None, default: str, cm_name: str) -> list[Finding]:
    ev = Evidence()
    label_key = DEVICE_PLUGIN_CONFIG_LABEL
    if keys is not None:
        for n in ctx.gpu_nodes:
            if k.is_bottlerocket(n):
                continue
            value = n.labels.get(label_key)
            if value and value not in keys:
                ev.add(value, f"node {n.name}: {label_key}={value}", n.name)
            elif not value and default and default not in keys:
                ev.add(default, f"node {n.name}: no label, ClusterPolicy default {default!r}", n.name)
    sig = k.signature("config-missing")
    cm_containers = set(k.operator()["config_manager_containers"])
    for key in k.operator()["config_consumers"]:
        for pod in ctx.operator_pods(key):
            bad = [s for _i, s in pod.statuses() if s.name in cm_containers and _crashing(s)]
            if not bad and not pod_unhealthy(pod):
                continue
            found = False
            for t in ctx.texts_of(pod, cm_containers):
                mt = sig.search(t.text)
                if mt:
                    # config-manager (k8s-device-plugin cmd/config-manager updateConfigName) prints the label value,
                    # which is empty when the missing key is the default: "specified config  does not exist".
                    ev.add(
                        mt.group("key") or default or "?",
                        f"{t.ref} on {pod.spec.node_name}: {k.excerpt(t.text, mt)}",
                        pod.spec.node_name,
                    )
                    summary = crash_summary(ctx, pod)
                    if summary:
                        ev.add(mt.group("key") or default or "?", summary, pod.spec.node_name)
                    found = True
                    break
            if bad and not found:
                s = bad[0]
                st = s.state.waiting.reason if s.state and s.state.waiting else f"{s.restart_count} restarts"
                ev.add(
                    "?",
                    f"{pod.ref} on {pod.spec.node_name}: {s.name} {st} ({pod.display_status()})",
                    pod.spec.node_name,
                )
    out = []
    have = ", ".join(sorted(keys)) if keys is not None else "unknown (ConfigMap not in the dump)"
    for key in sorted(ev.groups, key=str):
        nodes = ev.node_names(key)
        if key == "?":
            msg = (
                f"config-manager keeps failing in the device-plugin/GFD pods on {nodes_phrase(nodes)}; the usual "
                "cause is a node label naming a config key the ConfigMap does not have"
            )
        else:
            msg = (
                f"config key {key!r} is asked for on {nodes_phrase(nodes)} but ConfigMap {cm_name or '?'} has no "
                f"such key (keys: {have}): config-manager fails and the device plugin does not start there"
            )
        out.append(
            finding(
                "config-manager-missing-key",
                Severity.ERROR,
                msg,
                "Make labels and ConfigMap come from the same spec: `gpuslice apply SPEC` writes the ConfigMap keys and "
                f"labels each pool's nodes ({DEVICE_PLUGIN_CONFIG_LABEL}=<key>); or relabel the nodes to an existing key.",
                evidence=ev.lines(key),
                pool=ctx.pool_name(nodes),
            )
        )
    return out


def _spec_sharing(
    ctx: DoctorContext,
    keys: set[str] | None,
    default: str,
    cp_has_config: bool | None,
    configs: dict[str, tuple[str, int]],
) -> tuple[list[Finding], set[str]]:
    r = ctx.resolved
    assert r is not None
    out: list[Finding] = []
    off_nodes: set[str] = set()
    rep_label = k.label("gpu_replicas")
    members = k.pool_nodes(r, ctx.view.nodes)
    for pool in r.pools:
        sh = pool.sharing
        if not sh.shared or (pool.os is not None and pool.os.device_plugin_builtin):
            continue
        ev = Evidence()
        for n in members.get(pool.name, ()):
            reps = n.labels.get(rep_label)
            cap = m.parse_quantity(n.capacity(sh.advertised_resource))
            unshared = reps == "1" or (reps is None and pool.gpu.count is not None and cap == pool.gpu.count)
            if not unshared:
                continue
            label = n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
            if cp_has_config is False:
                cause = "ClusterPolicy has no devicePlugin.config at all"
            elif label is None:
                dflt = f"ClusterPolicy default {default!r}" if default else "no ClusterPolicy default"
                cause = f"no {DEVICE_PLUGIN_CONFIG_LABEL} label and {dflt}"
                if default and configs.get(default, ("none", 1))[1] > 1:
                    cause = f"no {DEVICE_PLUGIN_CONFIG_LABEL} label (default {default!r} should share; plugin stale?)"
            elif label != sh.config_key:
                cause = f"label {DEVICE_PLUGIN_CONFIG_LABEL}={label}, the spec wants {sh.config_key}"
            elif keys is not None and label not in keys:
                cause = f"label {label} is not a key of the ConfigMap"
            else:
                cause = "label and config are right but the device plugin has not applied them"
            ev.add(
                "o",
                f"node {n.name}: nvidia.com/gpu.replicas={reps or '<missing>'}, "
                f"{sh.advertised_resource}={n.capacity(sh.advertised_resource) or '<none>'} — {cause}",
                n.name,
            )
            off_nodes.add(n.name)
        if ev.groups:
            nodes = ev.node_names("o")
            out.append(
                finding(
                    "sharing-off",
                    Severity.ERROR,
                    f"sharing is off on {nodes_phrase(nodes)} of pool {pool.name}: the spec wants {sh.strategy} x"
                    f"{sh.replicas} but the GPUs are advertised unshared",
                    f"Label the pool's nodes {DEVICE_PLUGIN_CONFIG_LABEL}={sh.config_key} (`gpuslice apply SPEC` does it, "
                    "with the matching ConfigMap); config-manager picks a label change up without a restart.",
                    evidence=ev.lines("o"),
                    pool=pool.name,
                )
            )
    return out, off_nodes


def _capacity_spec(ctx: DoctorContext, skip: set[str]) -> list[Finding]:
    r = ctx.resolved
    assert r is not None
    out = []
    members = k.pool_nodes(r, ctx.view.nodes)
    for pool in r.pools:
        if not pool.gpu.count:
            continue
        res = pool.sharing.advertised_resource
        want = pool.gpu.count * pool.sharing.replicas
        ev = Evidence()
        for n in members.get(pool.name, ()):
            if n.name in skip:
                continue
            cap = m.parse_quantity(n.capacity(res))
            if cap != want:
                ev.add(
                    "c",
                    f"node {n.name}: capacity {res}={n.capacity(res) or '<none>'}, expected {want} "
                    f"({pool.gpu.count} GPU x {pool.sharing.replicas})",
                    n.name,
                )
        if ev.groups:
            nodes = ev.node_names("c")
            out.append(
                finding(
                    "capacity-mismatch",
                    Severity.ERROR,
                    f"{nodes_phrase(nodes)} of pool {pool.name} do not advertise {want} x {res} "
                    f"({pool.gpu.count} GPU x {pool.sharing.replicas} replicas)",
                    "Check the device plugin pod on those nodes and the nvidia.com/gpu.count label (a GPU may have "
                    "fallen off the bus, or the node runs another config); `gpuslice verify SPEC` shows every node.",
                    evidence=ev.lines("c"),
                    pool=pool.name,
                )
            )
    return out


_RUNNING_WITH = re.compile(r"Running with config:\s*(?P<json>\{.*\})\s*$")


def plugin_log_replicas(ctx: DoctorContext, pod: m.Pod) -> tuple[int, str] | None:
    """(replicas, log line) from the last one-line `Running with config: {...}` of a device-plugin pod; None when
    its log has none (multi-line JSON is not reassembled)."""
    import json

    lines = ctx.view.logs(pod).get(k.operator()["containers"]["device-plugin"], [])
    for line in reversed(lines):
        mt = _RUNNING_WITH.search(line)
        if not mt:
            continue
        try:
            cfg = json.loads(mt.group("json"))
        except ValueError:
            return None
        sharing = cfg.get("sharing") if isinstance(cfg, dict) else None
        reps = 1
        if isinstance(sharing, dict):
            for block in ("mps", "timeSlicing"):
                b = sharing.get(block)
                if isinstance(b, dict):
                    for r in b.get("resources") or ():
                        if isinstance(r, dict) and isinstance(r.get("replicas"), int):
                            reps = max(reps, r["replicas"])
        return reps, line
    return None


def _logged_replicas(
    ctx: DoctorContext, default: str, configs: dict[str, tuple[str, int]]
) -> dict[str, tuple[int, str]]:
    """node -> what its device plugin logged, for nodes whose plugin logged another replica count than its key asks.
    One plugin pod per selected key is read (pods with the same config log the same; reading every healthy plugin's
    log would cost a 5,000-node dump seconds); when that one disagrees, every pod of the group is read."""
    groups: dict[str, list[m.Pod]] = {}
    for pod in ctx.operator_pods("device-plugin"):
        node = ctx.view.node(pod.spec.node_name) if pod.spec.node_name else None
        if node is not None and pod.status.phase == "Running" and not k.is_bottlerocket(node):
            groups.setdefault(node.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) or default, []).append(pod)
    out: dict[str, tuple[int, str]] = {}
    for key, pods in groups.items():
        if key not in configs:
            continue
        want = configs[key][1]
        first = plugin_log_replicas(ctx, pods[0])
        if first is None or first[0] == want:
            continue
        for pod in pods:
            got = plugin_log_replicas(ctx, pod)
            if got is not None and got[0] != want:
                out[pod.spec.node_name] = got
    return out


def _no_spec(
    ctx: DoctorContext, keys: set[str] | None, default: str, cm_name: str, configs: dict[str, tuple[str, int]]
) -> list[Finding]:
    out = []
    rep_label, count_label = k.label("gpu_replicas"), k.label("gpu_count")
    fallback = Evidence()
    off = Evidence()
    cap = Evidence()
    stale = Evidence()
    logged_by_node = _logged_replicas(ctx, default, configs) if configs else {}
    for n in ctx.gpu_nodes:
        if not k.is_bottlerocket(n) and configs:
            key = n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) or default
            if key in configs:
                want = configs[key][1]
                why = []
                reps_now = m.parse_quantity(n.labels.get(rep_label))
                if reps_now is not None and reps_now > 1 and reps_now != want:
                    why.append(f"label nvidia.com/gpu.replicas={reps_now}")
                logged = logged_by_node.get(n.name)
                if logged is not None and logged[0] != want and not (want > 1 and reps_now == 1):
                    why.append(f"device plugin log says replicas {logged[0]} ({k.excerpt(logged[1], width=160)})")
                if why:
                    caps = ", ".join(
                        f"{r}={q}"
                        for r, q in sorted((n.status.capacity or {}).items())
                        if r.startswith("nvidia.com/gpu")
                    )
                    stale.add(
                        "s",
                        f"node {n.name}: selects key {key!r} asking for {want} replica(s); "
                        + "; ".join(why)
                        + (f"; capacity {caps}" if caps else ""),
                        n.name,
                    )
                    continue
        if k.is_bottlerocket(n):
            continue
        label = n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
        reps = n.labels.get(rep_label)
        if cm_name and not label and not default:
            fallback.add(
                "f",
                f"node {n.name}: no {DEVICE_PLUGIN_CONFIG_LABEL} label, nvidia.com/gpu.replicas={reps or '<missing>'}",
                n.name,
            )
        wanted = configs.get(label or default or "", ("none", 1))[1]
        if wanted > 1 and reps == "1":
            off.add(
                "o",
                f"node {n.name}: config {label or default!r} asks for {wanted} replicas, nvidia.com/gpu.replicas=1",
                n.name,
            )
            continue
        c, rp = m.parse_quantity(n.labels.get(count_label)), m.parse_quantity(reps)
        if c is None or rp is None:
            continue
        res = "nvidia.com/gpu.shared" if m.parse_quantity(n.capacity("nvidia.com/gpu.shared")) else "nvidia.com/gpu"
        got = m.parse_quantity(n.capacity(res))
        if got is not None and got != c * rp:
            cap.add("c", f"node {n.name}: {res}={got}, labels say {c} GPU x {rp} replicas = {c * rp}", n.name)
    if stale.groups:
        nodes = stale.node_names("s")
        out.append(
            finding(
                "sharing-config-stale",
                Severity.ERROR,
                f"{nodes_phrase(nodes)} run another sharing config than the key they select: the device plugin did "
                "not pick up a change of the ConfigMap or of the node label",
                "Restart the device plugin and GFD pods on those nodes (`kubectl -n "
                f"{ctx.namespace} rollout restart daemonset nvidia-device-plugin-daemonset gpu-feature-discovery`); "
                "`gpuslice apply` rolls them itself when it changes the config.",
                evidence=stale.lines("s"),
                pool=ctx.pool_name(nodes),
                reference="https://github.com/NVIDIA/gpu-operator/issues/1144",
            )
        )
    if fallback.groups:
        nodes = fallback.node_names("f")
        out.append(
            finding(
                "sharing-off",
                Severity.WARNING,
                f"{nodes_phrase(nodes)} have no {DEVICE_PLUGIN_CONFIG_LABEL} label and ClusterPolicy sets no default "
                "config: config-manager falls back to an empty config, so these GPUs are not shared",
                f"Label the nodes {DEVICE_PLUGIN_CONFIG_LABEL}=<key of {cm_name}> or set devicePlugin.config.default "
                "(gpuslice sets a default and labels every pool).",
                evidence=fallback.lines("f"),
                pool=ctx.pool_name(nodes),
            )
        )
    if off.groups:
        nodes = off.node_names("o")
        out.append(
            finding(
                "sharing-off",
                Severity.ERROR,
                f"{nodes_phrase(nodes)} should be shared by their config but report nvidia.com/gpu.replicas=1",
                "Check the device plugin and GFD pods on those nodes (config-manager log: `Updating to config`); "
                "restart them if the config changed while they ran.",
                evidence=off.lines("o"),
                pool=ctx.pool_name(nodes),
            )
        )
    if cap.groups:
        nodes = cap.node_names("c")
        out.append(
            finding(
                "capacity-mismatch",
                Severity.WARNING,
                f"{nodes_phrase(nodes)} advertise a GPU capacity that is not GPUs x replicas per their own labels",
                "Check the device plugin pod on those nodes; a GPU may be unhealthy or the plugin runs a stale config.",
                evidence=cap.lines("c"),
                pool=ctx.pool_name(nodes),
            )
        )
    return out


def check(ctx: DoctorContext) -> Iterable[Finding]:
    cps = ctx.view.clusterpolicies
    cp = ctx.view.clusterpolicy
    cm_name, default = cp.plugin_config if cp else ("", "")
    cp_has_config: bool | None = None if cps is None or not cps else bool(cm_name)
    r = ctx.resolved
    if r is not None and cps is None:
        cm_name = cm_name or r.device_plugin_configmap
    out: list[Finding] = []
    out += _configmap_findings(ctx, cm_name) if cm_name else []
    keys: set[str] | None = None
    configs: dict[str, tuple[str, int]] = {}
    cms = ctx.view.configmap(cm_name, ctx.namespace) if cm_name else []
    if cms:
        data: dict[str, Any] = cms[0].data or {}
        keys = set(data)
        configs = {key: config_sharing(text) for key, text in data.items() if isinstance(text, str)}
    out += _missing_keys(ctx, keys, default, cm_name)
    if r is not None:
        off, off_nodes = _spec_sharing(ctx, keys, default, cp_has_config, configs)
        out += off
        out += _capacity_spec(ctx, off_nodes)
        if cp is not None and cm_name and cm_name != r.device_plugin_configmap:
            out.append(
                finding(
                    "sharing-config-drift",
                    Severity.WARNING,
                    f"ClusterPolicy uses device-plugin ConfigMap {cm_name}; the spec renders {r.device_plugin_configmap}",
                    "Run `gpuslice apply SPEC`: the new ConfigMap name changes ClusterPolicy and the operator rolls the "
                    "device plugin and GFD onto it.",
                )
            )
    else:
        out += _no_spec(ctx, keys, default, cm_name, configs)
    return out
