"""``gpuslice verify``: does the cluster match the spec, node by node, and does sharing really work?

Static checks (live API or a dump): ClusterPolicy ready; every operator DaemonSet desired == ready; for every node
of every pool the GFD labels ``nvidia.com/gpu.replicas``, ``nvidia.com/gpu.sharing-strategy``,
``nvidia.com/gpu.product`` (``-SHARED`` unless renamed) and the config label, and capacity/allocatable of the
advertised resource == physical GPUs (from the spec/catalog) x replicas.

``--smoke`` (live only): on one node of a shared pool, create GPUs x replicas + 1 pods asking for one GPU share
each (``gpuslice.render.smoke``), check that GPUs x replicas run at once with R pods per GPU UUID and one stays
Pending, then delete exactly the pods it created.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.view import ClusterView
from gpuslice.errors import ClusterError
from gpuslice.findings import Finding, Severity, sort_findings
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, ResolvedPool, ResolvedSpec

MAX_EVIDENCE = 8


@dataclass(frozen=True)
class NodeRow:
    pool: str
    node: str
    resource: str
    expected: int | None
    capacity: int | None
    allocatable: int | None
    replicas: str
    strategy: str
    product: str
    ok: bool


@dataclass
class VerifyResult:
    findings: list[Finding] = field(default_factory=list)
    rows: list[NodeRow] = field(default_factory=list)
    smoke: SmokeResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [r.__dict__ for r in self.rows], "smoke": self.smoke.to_dict() if self.smoke else None}


def _expected_strategy(pool: ResolvedPool) -> str:
    return pool.sharing.strategy if pool.sharing.shared else "none"


def verify_view(resolved: ResolvedSpec, view: ClusterView) -> VerifyResult:
    res = VerifyResult()
    out = res.findings
    ns = resolved.namespace
    cps = view.clusterpolicies
    if cps is None:
        out.append(
            Finding(
                "verify-clusterpolicy-unknown",
                Severity.WARNING,
                "ClusterPolicy is not in this dump, so its state was not verified",
                "Verify against the live cluster, or capture with `gpuslice snapshot`.",
            )
        )
    elif not cps:
        out.append(
            Finding(
                "verify-clusterpolicy",
                Severity.ERROR,
                "no ClusterPolicy exists",
                "Install the operator: `gpuslice apply SPEC`.",
            )
        )
    else:
        for cp in cps:
            if cp.state != "ready":
                msgs = [
                    str(c.get("message"))
                    for c in (cp.status or {}).get("conditions") or ()
                    if isinstance(c, dict) and c.get("message")
                ]
                out.append(
                    Finding(
                        "verify-clusterpolicy",
                        Severity.ERROR,
                        f"ClusterPolicy {cp.metadata.name} is not ready (state: {cp.state or 'none'})",
                        "`gpuslice doctor` shows why.",
                        evidence=tuple(msgs[:3]),
                    )
                )
    operator_ds = set(k.operator()["daemonsets"].values())
    for ds in view.daemonsets.get(ns, ()):
        st = ds.status
        if ds.name in operator_ds and (
            st.number_ready != st.desired_number_scheduled or st.updated_number_scheduled < st.desired_number_scheduled
        ):
            out.append(
                Finding(
                    "verify-daemonset",
                    Severity.ERROR,
                    f"daemonset {ns}/{ds.name}: desired {st.desired_number_scheduled}, ready "
                    f"{st.number_ready}, up to date {st.updated_number_scheduled}",
                    "`gpuslice doctor` shows why its pods are not ready.",
                )
            )
    if ns not in view.daemonsets and not view.pods.get(ns):
        out.append(
            Finding(
                "verify-operator-missing",
                Severity.ERROR,
                f"nothing of the GPU Operator runs in namespace {ns}",
                "Install it: `gpuslice apply SPEC`.",
            )
        )

    members = k.pool_nodes(resolved, view.nodes)
    rep_l, strat_l, prod_l, count_l = (
        k.label("gpu_replicas"),
        k.label("sharing_strategy"),
        k.label("gpu_product"),
        k.label("gpu_count"),
    )
    suffix = k.operator()["shared_product_suffix"]
    for pool in resolved.pools:
        nodes = members.get(pool.name, [])
        if not nodes:
            out.append(
                Finding(
                    "verify-pool-no-nodes",
                    Severity.WARNING,
                    f"pool {pool.name} has no nodes",
                    f"Nodes are recognised by the label gpuslice.dev/pool={pool.name} or node group "
                    f"{pool.node_group_name}.",
                    pool=pool.name,
                )
            )
            continue
        sh = pool.sharing
        builtin = pool.os is not None and pool.os.device_plugin_builtin
        problems: dict[str, list[str]] = {}
        for n in nodes:
            labels = n.labels
            gpus = pool.gpu.count or m.parse_quantity(labels.get(count_l))
            expected = gpus * sh.replicas if gpus else None
            cap = m.parse_quantity(n.capacity(sh.advertised_resource))
            alloc = m.parse_quantity(n.allocatable(sh.advertised_resource))
            bad: list[tuple[str, str]] = []
            if expected is None:
                bad.append(("verify-gpu-count", "GPU count unknown (not in the catalog, no nvidia.com/gpu.count)"))
            else:
                if cap != expected:
                    bad.append(("verify-capacity", f"capacity {sh.advertised_resource}={cap}, expected {expected}"))
                if alloc != expected:
                    bad.append(
                        ("verify-allocatable", f"allocatable {sh.advertised_resource}={alloc}, expected {expected}")
                    )
            if not builtin:
                want_r = str(sh.replicas)
                if labels.get(rep_l) != want_r:
                    bad.append(
                        ("verify-label-replicas", f"{rep_l}={labels.get(rep_l, '<missing>')}, expected {want_r}")
                    )
                want_s = _expected_strategy(pool)
                if labels.get(strat_l) != want_s:
                    bad.append(
                        ("verify-label-strategy", f"{strat_l}={labels.get(strat_l, '<missing>')}, expected {want_s}")
                    )
                product = labels.get(prod_l, "")
                want_suffix = sh.shared and not sh.rename_by_default
                if not product or product.endswith(suffix) != want_suffix:
                    bad.append(
                        (
                            "verify-label-product",
                            f"{prod_l}={product or '<missing>'}, expected "
                            + (f"a name ending in {suffix}" if want_suffix else f"no {suffix} suffix"),
                        )
                    )
                if sh.strategy == "mps" and not _mps_daemon_ready(view, ns, n.name):
                    # The MPS control daemon runs where GFD labels nvidia.com/mps.capable=true
                    # (NVIDIA/gpu-operator assets/state-mps-control-daemon/0400_daemonset.yaml nodeSelector); the
                    # plugin waits for it before it advertises an MPS share (internal/plugin/mps.go waitForDaemon).
                    bad.append(
                        (
                            "verify-mps-daemon",
                            f"no ready {k.daemonset('mps-control-daemon')} pod "
                            f"(nvidia.com/mps.capable={labels.get('nvidia.com/mps.capable', '<missing>')})",
                        )
                    )
                want_key = pool.node_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
                if want_key and labels.get(DEVICE_PLUGIN_CONFIG_LABEL) != want_key:
                    bad.append(
                        (
                            "verify-label-config",
                            f"{DEVICE_PLUGIN_CONFIG_LABEL}="
                            f"{labels.get(DEVICE_PLUGIN_CONFIG_LABEL, '<missing>')}, expected {want_key}",
                        )
                    )
            for fid, text in bad:
                problems.setdefault(fid, []).append(f"node {n.name}: {text}")
            res.rows.append(
                NodeRow(
                    pool.name,
                    n.name,
                    sh.advertised_resource,
                    expected,
                    cap,
                    alloc,
                    labels.get(rep_l, ""),
                    labels.get(strat_l, ""),
                    labels.get(prod_l, ""),
                    not bad,
                )
            )
        for fid, lines in problems.items():
            shown = lines[:MAX_EVIDENCE] + (
                [f"… and {len(lines) - MAX_EVIDENCE} more"] if len(lines) > MAX_EVIDENCE else []
            )
            out.append(
                Finding(
                    fid,
                    Severity.WARNING if fid == "verify-gpu-count" else Severity.ERROR,
                    f"pool {pool.name}: {len(lines)} of {len(nodes)} node(s) — {_TITLES[fid]}",
                    _FIXES[fid].format(pool=pool.name, key=pool.node_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)),
                    pool=pool.name,
                    evidence=tuple(shown),
                )
            )
    res.findings = sort_findings(out)
    return res


def _mps_daemon_ready(view: ClusterView, ns: str, node: str) -> bool:
    ds = k.daemonset("mps-control-daemon")
    for p in view.pods.get(ns, ()):
        if p.spec.node_name != node or not (p.owner("DaemonSet") == ds or p.metadata.label("app") == ds):
            continue
        cond = next((c for c in p.status.conditions or () if c.type == "Ready"), None)
        if p.status.phase == "Running" and cond is not None and cond.status == "True":
            return True
    return False


_TITLES = {
    "verify-gpu-count": "physical GPU count unknown, capacity not checked",
    "verify-capacity": "node capacity is not GPUs x replicas",
    "verify-allocatable": "allocatable is not GPUs x replicas (unhealthy GPU, or plugin not registered)",
    "verify-label-replicas": "nvidia.com/gpu.replicas differs from the spec",
    "verify-label-strategy": "nvidia.com/gpu.sharing-strategy differs from the spec",
    "verify-label-product": "nvidia.com/gpu.product does not say whether the GPU is shared as the spec does",
    "verify-label-config": "the device-plugin config label differs from the spec",
    "verify-mps-daemon": "no ready MPS control daemon on the node (MPS shares cannot be served)",
}
_FIXES = {
    "verify-gpu-count": "Set nodePools[].gpu.count in the spec for this instance type.",
    "verify-capacity": "`gpuslice doctor --spec SPEC` explains the node (labels, config, device plugin pod).",
    "verify-allocatable": "Check the device plugin log on the node for unhealthy devices (XID errors).",
    "verify-label-replicas": "Run `gpuslice apply SPEC` (labels the nodes with key {key}); GFD relabels within "
    "a minute after config-manager switches.",
    "verify-label-strategy": "Run `gpuslice apply SPEC`; needs device plugin >= v0.15 for this label.",
    "verify-label-product": "Run `gpuslice apply SPEC`; if the label stays, restart the GFD pod on the node.",
    "verify-label-config": "Run `gpuslice apply SPEC` (labels pool {pool} with {key}).",
    "verify-mps-daemon": "`gpuslice doctor --spec SPEC` explains the nvidia-device-plugin-mps-control-daemon pod "
    "(GFD must label the node nvidia.com/mps.capable=true first).",
}


# -- smoke test ------------------------------------------------------------------------------------------------


@dataclass
class SmokeResult:
    pool: str = ""
    node: str = ""
    image: str = ""
    expected_running: int = 0
    created: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    uuids: dict[str, list[str]] = field(default_factory=dict)  # pod -> GPU UUIDs it saw
    mps: dict[str, str] = field(default_factory=dict)  # pod -> its MPS pipe report ("uid=1000 control=writable")
    deleted: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k_: v for k_, v in self.__dict__.items() if k_ != "findings"}


#: What the smoke script prints once vectorAdd passed (``gpuslice.render.smoke.SCRIPT``). A container is Running
#: and ready as soon as it starts, long before its CUDA program is done: only this line proves a pod ran CUDA.
READY_MARK = "GPUSLICE_READY"
_UUID = re.compile(r"GPUSLICE_GPU_UUID=(GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)")
_MPS = re.compile(r"GPUSLICE_MPS=(uid=\d+ control=\w+)")


def _requested(pod: m.Pod, resource: str) -> int:
    total = 0
    for c in pod.spec.containers or ():
        q = (c.resources.limits or {}).get(resource) if c.resources else None
        total += m.parse_quantity(q) or 0
    return total


def run_smoke(
    resolved: ResolvedSpec,
    kube: Any,
    *,
    pool_name: str | None = None,
    image: str | None = None,
    timeout: float = 300.0,
    poll: float = 3.0,
    run_id: str | None = None,
    status: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SmokeResult:
    """The live smoke test (see the module docstring). ``kube`` is a :class:`~gpuslice.cluster.kube.KubeClient`."""
    from gpuslice.render.smoke import RUN_LABEL, expected_pods, smoke_pods, validator_image

    say = status or (lambda _t: None)
    res = SmokeResult()
    ns = resolved.namespace
    pools = [p for p in resolved.pools if p.sharing.shared and (pool_name is None or p.name == pool_name)]
    if not pools:
        res.findings.append(
            Finding(
                "smoke-no-pool",
                Severity.ERROR,
                f"no shared pool {'named ' + pool_name if pool_name else 'in the spec'}",
                "Pick a pool with sharing.strategy time-slicing or mps (--pool).",
            )
        )
        return res
    nodes, _ = m.decode_list(kube.list("nodes"), m.Node)
    members = k.pool_nodes(resolved, nodes)
    choice = None
    for pool in pools:
        res_name = pool.sharing.advertised_resource
        for n in sorted(members.get(pool.name, []), key=lambda x: x.name):
            alloc = m.parse_quantity(n.allocatable(res_name)) or 0
            if not n.ready or n.spec.unschedulable or alloc < 1:
                continue
            pods, _ = m.decode_list(kube.list("pods", None, field_selector=f"spec.nodeName={n.name}"), m.Pod)
            used = sum(_requested(p, res_name) for p in pods if p.status.phase not in ("Succeeded", "Failed"))
            free = alloc - used
            want = expected_pods(pool) or alloc
            if free >= 1:
                choice = (pool, n, free, want, used)
                break
        if choice:
            break
    if choice is None:
        res.findings.append(
            Finding(
                "smoke-no-node",
                Severity.ERROR,
                "no Ready, schedulable node with a free GPU share in " + ", ".join(p.name for p in pools),
                "Scale the pool up (or free a node) and run the smoke test again.",
            )
        )
        return res
    pool, node, free, want, used = choice
    res.pool, res.node, res.expected_running = pool.name, node.name, free
    if image is None:
        cps = (kube.list("clusterpolicies") or {}).get("items") or []
        image = validator_image((cps[0].get("spec") or {}) if cps else {})
    if not image:
        res.findings.append(
            Finding(
                "smoke-no-image",
                Severity.ERROR,
                "no validator image known (no ClusterPolicy)",
                "Pass --smoke-image, or install the operator first.",
            )
        )
        return res
    res.image = image
    run = run_id or secrets.token_hex(3)
    # The pods select the node by its kubernetes.io/hostname label, which kubelet sets from the host name: not
    # always the node's name (e.g. --hostname-override, resource-name node naming), so use the label itself.
    host = node.labels.get("kubernetes.io/hostname") or node.name
    bodies = smoke_pods(resolved, pool, image, count=free + 1, node=host, run_id=run)
    if used:
        res.findings.append(
            Finding(
                "smoke-node-busy",
                Severity.INFO,
                f"node {node.name} already has {used} of {want} shares in use; testing the remaining {free}",
                "",
                pool=pool.name,
            )
        )
    try:
        for body in bodies:
            say(f"creating {body['metadata']['name']} on {node.name}")
            kube.create("pods", ns, body)
            res.created.append(body["metadata"]["name"])
        deadline = clock() + timeout
        done: dict[str, str] = {}  # pod -> its log once it says vectorAdd passed
        while True:
            got, _ = m.decode_list(kube.list("pods", ns, label_selector=f"{RUN_LABEL}={run}"), m.Pod)
            mine = [p for p in got if p.name in res.created]
            started = [
                p
                for p in mine
                if p.status.phase == "Running" and all(s.ready for s in p.status.container_statuses or ())
            ]
            for p in started:
                if p.name not in done:
                    text = kube.pod_log(ns, p.name, "cuda", tail_lines=50)
                    if READY_MARK in text.splitlines():
                        done[p.name] = text
            ready = [p for p in started if p.name in done]
            failed = [p for p in mine if p.status.phase in ("Failed", "Succeeded")]
            unschedulable = [
                p
                for p in mine
                if p.status.phase == "Pending"
                and any(
                    c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
                    for c in p.status.conditions or ()
                )
            ]
            say(f"{len(ready)}/{free} ran CUDA and hold their share, {len(unschedulable)} pending (want 1)")
            if failed or len(ready) > free or (len(ready) == free and len(unschedulable) >= 1):
                break
            if clock() >= deadline:
                break
            sleep(poll)
        res.running = sorted(p.name for p in ready)
        res.pending = sorted(p.name for p in mine if p.status.phase == "Pending")
        for p in ready:
            res.uuids[p.name] = sorted(set(_UUID.findall(done[p.name])))
            mps = _MPS.search(done[p.name])
            if mps:
                res.mps[p.name] = mps.group(1)
        res.findings += _judge(res, pool, free, failed, unschedulable, kube, ns)
    except ClusterError as e:
        res.findings.append(
            Finding(
                "smoke-error",
                Severity.ERROR,
                f"smoke test stopped: {e}",
                "Check access to the cluster; the pods it created are removed below.",
            )
        )
    finally:
        for name in res.created:
            say(f"deleting {name}")
            try:
                kube.delete_pod(ns, name)
                res.deleted.append(name)
            except ClusterError as e:
                res.findings.append(
                    Finding(
                        "smoke-cleanup-failed",
                        Severity.ERROR,
                        f"could not delete smoke pod {ns}/{name}: {e}",
                        f"kubectl -n {ns} delete pod {name} (it also stops by itself after "
                        "30 minutes: activeDeadlineSeconds)",
                    )
                )
    return res


def _judge(
    res: SmokeResult, pool: ResolvedPool, free: int, failed: list[m.Pod], unschedulable: list[m.Pod], kube: Any, ns: str
) -> list[Finding]:
    out = []
    r = pool.sharing.replicas
    for p in failed:
        try:
            tail = kube.pod_log(ns, p.name, "cuda", tail_lines=20).strip().splitlines()[-3:]
        except ClusterError:
            tail = []
        out.append(
            Finding(
                "smoke-cuda-failed",
                Severity.ERROR,
                f"smoke pod {p.name} ended ({p.status.phase}) instead of running CUDA on its share",
                "Look at the pod's log; `gpuslice doctor` checks the node's runtime and driver.",
                pool=pool.name,
                evidence=tuple(tail),
            )
        )
    if len(res.running) > free:
        out.append(
            Finding(
                "smoke-oversubscribed",
                Severity.ERROR,
                f"{len(res.running)} smoke pods run on {res.node} where {free} shares were free: the node "
                "advertises more than GPUs x replicas",
                "`gpuslice verify SPEC` shows the capacity.",
                pool=pool.name,
            )
        )
    elif len(res.running) < free:
        out.append(
            Finding(
                "smoke-not-concurrent",
                Severity.ERROR,
                f"only {len(res.running)} of {free} smoke pods ran at once on {res.node}",
                "The pending pods' events say why (kubectl describe pod); sharing may be off "
                "(`gpuslice doctor --spec SPEC`).",
                pool=pool.name,
                evidence=tuple(res.pending[:5]),
            )
        )
    if not unschedulable and not failed and len(res.running) <= free:
        out.append(
            Finding(
                "smoke-extra-not-pending",
                Severity.ERROR,
                f"the extra smoke pod (number {free + 1}) is not Pending as Unschedulable on {res.node}",
                "Capacity is larger than GPUs x replicas, or the scheduler has not decided yet "
                "(raise --smoke-timeout).",
                pool=pool.name,
            )
        )
    by_uuid: dict[str, list[str]] = {}
    unknown = [name for name, ids in res.uuids.items() if not ids]
    for name, ids in res.uuids.items():
        for u in ids:
            by_uuid.setdefault(u, []).append(name)
    multi = [name for name, ids in res.uuids.items() if len(ids) > 1]
    over = {u: names for u, names in by_uuid.items() if len(names) > r}
    if multi:
        out.append(
            Finding(
                "smoke-gpu-uuid",
                Severity.ERROR,
                f"{len(multi)} smoke pod(s) saw more than one GPU while asking for one share",
                "failRequestsGreaterThanOne and the device list strategy decide what a pod sees; "
                "check the device plugin config.",
                pool=pool.name,
                evidence=tuple(multi[:5]),
            )
        )
    if over:
        out.append(
            Finding(
                "smoke-gpu-uuid",
                Severity.ERROR,
                f"more than {r} smoke pods share one GPU",
                "Check the replicas in the device plugin config the node uses.",
                pool=pool.name,
                evidence=tuple(f"{u}: {', '.join(v)}" for u, v in over.items()),
            )
        )
    if unknown:
        out.append(
            Finding(
                "smoke-gpu-uuid-unknown",
                Severity.WARNING,
                f"{len(unknown)} smoke pod(s) did not print their GPU UUID (nvidia-smi not injected and "
                "NVIDIA_VISIBLE_DEVICES not a UUID)",
                "The concurrency check still holds; check NVIDIA_DRIVER_CAPABILITIES injection on the node.",
                pool=pool.name,
                evidence=tuple(unknown[:5]),
            )
        )
    mps_note = ""
    if pool.sharing.strategy == "mps" and res.running:
        missing = [n for n in res.running if n not in res.mps]
        blocked = {n: v for n, v in res.mps.items() if not v.endswith("control=writable")}
        if missing:
            out.append(
                Finding(
                    "smoke-mps-not-injected",
                    Severity.ERROR,
                    f"{len(missing)} smoke pod(s) on the MPS pool got no CUDA_MPS_PIPE_DIRECTORY: the device plugin "
                    "did not hand out an MPS share (the node's plugin runs another config, or MPS is off)",
                    "`gpuslice doctor --spec SPEC` shows the node's config key and the MPS control daemon.",
                    pool=pool.name,
                    evidence=tuple(missing[:5]),
                )
            )
        if blocked:
            out.append(
                Finding(
                    "smoke-mps-pipe",
                    Severity.ERROR,
                    f"{len(blocked)} smoke pod(s) cannot use the MPS control pipe as their user: a non-root CUDA "
                    "client there cannot reach the MPS server",
                    "Check the MPS pipe directory on the node (/run/nvidia/mps/<resource>/pipe) and the "
                    "nvidia-device-plugin-mps-control-daemon pod; run the workloads as a user that can reach it.",
                    pool=pool.name,
                    evidence=tuple(f"{n}: {v}" for n, v in list(blocked.items())[:5]),
                )
            )
        if not missing and not blocked:
            uids = sorted({v.split()[0] for v in res.mps.values()})
            mps_note = (
                f"; every pod had the MPS control pipe writable as {', '.join(uids)} (the validator image's user) "
                "and ran vectorAdd with CUDA_MPS_PIPE_DIRECTORY set. Not proven: that the MPS server (not a "
                "fallback) executed the kernels, and the per-client memory/thread limits"
            )
    if not any(f.severity is Severity.ERROR for f in out):
        shared = ", ".join(f"{u} x{len(v)}" for u, v in sorted(by_uuid.items()))
        out.append(
            Finding(
                "smoke-passed",
                Severity.INFO,
                f"{len(res.running)} pods ran CUDA at once on {res.node} ({shared or 'UUIDs not reported'}) "
                f"and the extra pod stayed Pending: {pool.sharing.strategy} x{r} works{mps_note}",
                "",
                pool=pool.name,
            )
        )
    return out


def rule_docs() -> dict[str, str]:
    """Finding id -> explanation, for every verify / smoke-test finding (the registry's owner ``verify``)."""
    from gpuslice.findings import registry

    return {i.id: i.explanation for i in registry().values() if i.owner == "verify"}
