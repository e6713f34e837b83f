"""What a known crash signature of a GPU operand means, with the extra evidence each cause needs (the config key the
node selects and its lint result; whether an MPS control daemon exists; the node's GPU model; the installer's words).

Each ``explain`` returns one finding per finding id, evidence first naming the pods (pod, container, restarts, last
lines), then what doctor looked up to reach the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, Text, finding, nodes_phrase
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL

if TYPE_CHECKING:
    from gpuslice.cluster.doctor.operands import _Failing

Hit = tuple["_Failing", re.Match[str], Text]
MAX_LINES = 10


def _base(ctx: DoctorContext, hits: list[Hit]) -> tuple[list[str], list[str]]:
    from gpuslice.cluster.doctor.operands import describe

    lines: list[str] = []
    nodes: set[str] = set()
    for f, mt, t in hits:
        d = describe(ctx, f)
        lines.append(d[0])
        lines.append(f"  {t.ref}: {k.excerpt(t.text, mt, width=300)}")
        lines.extend(x for x in d[1:] if "last log lines" in x)
        if f.pod.spec.node_name:
            nodes.add(f.pod.spec.node_name)
    return lines, sorted(nodes)


def _cap(lines: list[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for x in lines:
        if x not in seen:
            seen.append(x)
    if len(seen) <= MAX_LINES:
        return tuple(seen)
    return (*seen[:MAX_LINES], f"… and {len(seen) - MAX_LINES} more")


# -- unable to load config ---------------------------------------------------------------------------------------


def _selected_config(ctx: DoctorContext, pod: m.Pod) -> tuple[m.ConfigMap | None, str, str]:
    """(ConfigMap the pod mounts, key its node selects, how the key was chosen)."""
    node = ctx.view.node(pod.spec.node_name) if pod.spec.node_name else None
    cms = [
        v.config_map.name for v in pod.spec.volumes or () if v.config_map and v.config_map.name != "kube-root-ca.crt"
    ]
    cm = None
    for name in cms:
        got = ctx.view.configmap(name, pod.namespace)
        if got:
            cm = got[0]
            break
    label = node.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) if node else None
    if label:
        return cm, label, f"node label {DEVICE_PLUGIN_CONFIG_LABEL}={label}"
    cp = ctx.view.clusterpolicy
    if cp is not None and pod.namespace == ctx.namespace and cp.plugin_config[1]:
        return cm, cp.plugin_config[1], f"ClusterPolicy devicePlugin.config.default={cp.plugin_config[1]}"
    if cm is not None and cm.data and len(cm.data) == 1:
        only = next(iter(cm.data))
        return cm, only, "the ConfigMap's only key"
    return cm, "", "no node label and no default"


def plugin_version_of(pod: m.Pod | None) -> str | None:
    """The device plugin's image tag (``v0.17.4``), which picks lint-config's per-version rules."""
    if pod is None:
        return None
    for c in pod.spec.containers or ():
        if "k8s-device-plugin" in c.image and ":" in c.image.rsplit("/", 1)[-1]:
            return c.image.rsplit(":", 1)[-1]
    return None


def lint_key(cm: m.ConfigMap, key: str, plugin_version: str | None = None) -> list[str]:
    """lint-config's errors and warnings for one ConfigMap key, as evidence lines (lintconfig.lint_config, the
    stable API, with the rules of the plugin version that reads it)."""
    from gpuslice.lintconfig import lint_config

    text = (cm.data or {}).get(key)
    if text is None:
        return [f"ConfigMap {cm.metadata.namespace}/{cm.metadata.name} has no key {key!r}"]
    where = f"configmap {cm.metadata.namespace}/{cm.metadata.name} key {key}"
    result = lint_config(text, plugin_version=plugin_version, file=where)
    out = []
    for f in result.findings:
        if f.severity is Severity.INFO:
            continue
        out.append(f"lint {f.severity.value} {f.id} ({where}, line {f.line or '?'}): {f.message}")
    return out or [f"lint-config finds nothing wrong in {where}"]


def _config(ctx: DoctorContext, hits: list[Hit]) -> Finding:
    lines, nodes = _base(ctx, hits)
    mps = False
    done: set[tuple[str, str, str]] = set()
    for f, mt, _t in hits:
        why = mt.group("why") or ""
        mps = mps or "mps" in why.lower()
        cm, key, how = _selected_config(ctx, f.pod)
        if cm is None:
            lines.append(
                f"{f.pod.ref}: mounts no device-plugin ConfigMap that is in the dump (config from a file/flag)"
            )
            continue
        ident = (cm.metadata.namespace, cm.metadata.name, key)
        if ident in done:
            continue
        done.add(ident)
        if not key:
            lines.append(f"ConfigMap {cm.metadata.namespace}/{cm.metadata.name}: {how}, so no key is selected")
            continue
        lines.append(f"node {f.pod.spec.node_name} selects key {key!r} of ConfigMap {ident[0]}/{ident[1]} ({how})")
        lines.extend(lint_key(cm, key, plugin_version_of(f.pod)))
    fix = (
        "Fix the selected config key (`gpuslice lint-config` on the ConfigMap names every problem with its line) "
        "and restart the plugin pods; `gpuslice apply` renders a config the plugin accepts."
    )
    if mps:
        fix = (
            "MPS needs the plugin's --mps-root (MPS_ROOT) and an MPS control daemon on the node: deploy the device "
            "plugin with its Helm chart (it runs nvidia-device-plugin-mps-control-daemon) or GPU Operator >= v24.3, "
            "not a static DaemonSet; or switch the key to time-slicing. " + fix
        )
    return finding(
        "plugin-config-unloadable",
        Severity.ERROR,
        f"the device plugin/GFD cannot load its config on {nodes_phrase(nodes)} (`unable to load config`), so it "
        "exits and the node advertises no GPUs",
        fix,
        evidence=_cap(lines),
        pool=ctx.pool_name(nodes),
        reference="https://github.com/NVIDIA/k8s-device-plugin/issues/1132",
    )


# -- MPS ---------------------------------------------------------------------------------------------------------


def _mps(ctx: DoctorContext, hits: list[Hit]) -> Finding:
    lines, nodes = _base(ctx, hits)
    daemons = [d for d in ctx.view.all_daemonsets() if "mps-control-daemon" in d.name]
    if not daemons:
        lines.append("no MPS control daemon DaemonSet in the dump (searched every namespace for *mps-control-daemon*)")
        msg = "but no MPS control daemon is deployed at all"
        fix = (
            "Deploy the MPS control daemon: the device-plugin Helm chart creates nvidia-device-plugin-mps-control-"
            "daemon, GPU Operator >= v24.3 runs it for MPS configs (older operators and the static DaemonSet do "
            "not); or select a time-slicing config for these nodes."
        )
    else:
        on = {p.spec.node_name for d in daemons for p in ctx.view.all_pods() if p.owner("DaemonSet") == d.name}
        for d in daemons:
            st = d.status
            lines.append(
                f"daemonset {d.metadata.namespace}/{d.name}: desired {st.desired_number_scheduled}, ready "
                f"{st.number_ready}"
            )
        missing = [n for n in nodes if n not in on]
        msg = (
            f"and the MPS control daemon has no pod on {nodes_phrase(missing)}"
            if missing
            else "and the MPS control daemon there is not healthy"
        )
        fix = (
            "The MPS control daemon runs only on nodes labelled nvidia.com/mps.capable=true by GFD (and with the "
            "MPS config selected): check GFD on those nodes and the daemon's own pod/log; its failure is why the "
            "plugin waits."
        )
    return finding(
        "mps-daemon-missing",
        Severity.ERROR,
        f"the device plugin on {nodes_phrase(nodes)} waits for an MPS daemon (`error waiting for MPS daemon`) {msg}",
        fix,
        evidence=_cap(lines),
        pool=ctx.pool_name(nodes),
        reference="https://github.com/NVIDIA/k8s-device-plugin/issues/712",
    )


# -- CUDA not initialized (fabric manager) -----------------------------------------------------------------------

_NVSWITCH = re.compile(r"SXM|HGX|DGX|H100|H200|H800|A800|B200|GB200", re.IGNORECASE)


def _fabric(ctx: DoctorContext, hits: list[Hit]) -> Finding:
    lines, nodes = _base(ctx, hits)
    nvswitch = False
    for n in nodes[:3]:
        node = ctx.view.node(n)
        if node is None:
            continue
        product = node.labels.get(k.label("gpu_product"), "")
        count = node.labels.get(k.label("gpu_count"), "")
        itype = node.labels.get("node.kubernetes.io/instance-type", "")
        looks = bool(_NVSWITCH.search(product)) or itype.startswith(("p4d", "p4de", "p5", "p5e", "p5en", "p6"))
        nvswitch = nvswitch or looks
        lines.append(
            f"node {n}: gpu.product={product or '?'} gpu.count={count or '?'}"
            + (f" instance-type={itype}" if itype else "")
            + (" (an NVSwitch system)" if looks else "")
        )
    return finding(
        "cuda-fabric-manager",
        Severity.ERROR,
        f"CUDA reports `system not yet initialized` on {nodes_phrase(nodes)}: on NVSwitch systems the GPUs stay "
        "unusable until nvidia-fabricmanager runs" + ("" if nvswitch else " (check whether these nodes have NVSwitch)"),
        "Start nvidia-fabricmanager on the host (`systemctl enable --now nvidia-fabricmanager`, the package version "
        "equal to the driver's) when the driver is pre-installed; with the operator's driver container make sure "
        "its fabric manager starts (driver container log). Then delete the validator pods.",
        evidence=_cap(lines),
        pool=ctx.pool_name(nodes),
        reference="https://github.com/NVIDIA/gpu-operator/issues/1043",
    )


# -- nvidia-container-cli ----------------------------------------------------------------------------------------

_CLI_CAUSES: tuple[tuple[str, str], ...] = (
    (
        "version mismatch",
        "the driver's user-space library and the loaded kernel module differ (the driver changed under running pods): "
        "delete the failing pods so they start against the current driver; reboot the node if the host driver was "
        "upgraded",
    ),
    (
        "load library failed",
        "the toolkit cannot find the driver libraries: no driver installed where it looks (driver.enabled=false "
        "without a host driver, or the driver container not ready), or a wrong driver root",
    ),
    ("driver not loaded", "the NVIDIA kernel module is not loaded on the node: check the driver (pod or host)"),
    (
        "insufficient permissions",
        "NVML refuses access to the device nodes: check the device permissions / SELinux on the host",
    ),
    (
        "no cuda-capable device",
        "the node exposes no NVIDIA GPU to the runtime: a non-GPU node, or the GPU is not passed through",
    ),
)


def _cli(ctx: DoctorContext, hits: list[Hit]) -> Finding:
    lines, nodes = _base(ctx, hits)
    causes = []
    for _f, mt, _t in hits:
        why = (mt.group("why") or "").lower()
        for needle, cause in _CLI_CAUSES:
            if needle in why and cause not in causes:
                causes.append(cause)
    msg_cause = "; ".join(causes) if causes else "see the quoted error"
    return finding(
        "container-cli-init-error",
        Severity.ERROR,
        f"the NVIDIA container hook fails before containers start on {nodes_phrase(nodes)} "
        f"(`nvidia-container-cli: initialization error`): {msg_cause}",
        "Fix the driver first (its pod or the host driver), then delete the failing operand pods so they start "
        "again; `kubectl -n NS describe pod` shows the hook error in State/Last State.",
        evidence=_cap(lines),
        pool=ctx.pool_name(nodes),
        reference="https://github.com/NVIDIA/gpu-operator/issues/898",
    )


# -- driver build ------------------------------------------------------------------------------------------------

_BUILD_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"not signed by a key|unsigned module is rejected|CONFIG_MODULE_SIG", re.IGNORECASE),
        "Secure Boot / module signing rejects the unsigned NVIDIA module: sign it (driver container with keys) "
        "or disable Secure Boot, or use precompiled signed drivers",
    ),
    (
        re.compile(r"Unable to locate package linux-(?:objects|modules|signatures)-nvidia"),
        "the driver image has no packages for this node's kernel: the node OS/kernel is not one NVIDIA builds the "
        "driver container for (e.g. Debian): use a supported OS or pre-install the driver (driver.enabled=false)",
    ),
    (
        re.compile(r"/lib/modules/\S+/build: No such file or directory"),
        "the kernel build tree for the running kernel is missing in the container: install matching kernel "
        "headers/repos (driver.repoConfig) or use precompiled drivers",
    ),
    (
        re.compile(r"dkms\.conf|Unable to load the kernel module"),
        "the module was built but does not load: the usual causes are nouveau holding the GPU (blacklist it and "
        "rebuild the initramfs), a host driver already loaded, or Secure Boot",
    ),
)


def _build(ctx: DoctorContext, hits: list[Hit]) -> Finding:
    lines, nodes = _base(ctx, hits)
    causes: list[str] = []
    for f, _mt, _t in hits:
        text = "\n".join(t.text for t in f.texts)
        for rx, cause in _BUILD_CAUSES:
            if rx.search(text):
                if cause not in causes:
                    causes.append(cause)
                break
        node = ctx.view.node(f.pod.spec.node_name) if f.pod.spec.node_name else None
        if node is not None and node.status.node_info:
            lines.append(
                f"node {node.name}: kernel {node.status.node_info.kernel_version or '?'}, OS {k.node_os(node) or '?'}"
            )
    return finding(
        "driver-build-failed",
        Severity.ERROR,
        f"the NVIDIA driver container cannot build or load the kernel module on {nodes_phrase(nodes)}: "
        + ("; ".join(causes) if causes else "see the installer's error lines"),
        "Act on the cause named above; an AMI/OS with the driver pre-installed and driver.enabled=false avoids "
        "building the driver on the node altogether.",
        evidence=_cap(lines),
        pool=ctx.pool_name(nodes),
    )


_EXPLAIN: dict[str, Callable[[DoctorContext, list[Hit]], Finding]] = {
    "plugin-config-unloadable": _config,
    "mps-daemon-missing": _mps,
    "cuda-fabric-manager": _fabric,
    "container-cli-init-error": _cli,
    "driver-build-failed": _build,
}


def explain(ctx: DoctorContext, fid: str, hits: list[Hit]) -> list[Finding]:
    return [_EXPLAIN[fid](ctx, hits)]
