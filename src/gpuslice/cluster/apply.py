"""``gpuslice apply``: install or upgrade the operator from the spec, idempotently, surviving transient failures.

The sharing ConfigMap has one stable name per deployment (ClusterPolicy's ``devicePlugin.config.name``); its keys
are named by their content (``time-slicing-4``, ``mps-8-renamed``, ...), and each node selects one key with the
label ``nvidia.com/device-plugin.config``. A sharing change is therefore a ConfigMap edit plus a relabel of the
nodes whose key changed: ClusterPolicy and the Helm release stay as they are, so the operator rolls nothing
cluster-wide. What that relies on, upstream:

- The config-manager sidecar of the device plugin, GFD and the MPS control daemon watches its own node's label
  and, when it changes, links ``/config/config.yaml`` to the key's file in the kubelet-mounted ConfigMap and
  SIGHUPs the process; a key missing from the mounted copy makes it exit ("specified config %v does not exist"),
  and at pod start the init container fails the same way (NVIDIA/k8s-device-plugin cmd/config-manager/main.go:
  ``continuouslySyncConfigChanges``, ``updateConfigName``).
- The operator mounts the ConfigMap whole (``createConfigMapVolume`` in ``handleDevicePluginConfig``,
  NVIDIA/gpu-operator controllers/object_controls.go) and rolls a DaemonSet only when the spec it renders hashes
  differently (``isDaemonsetSpecChanged``); the ConfigMap's data is not in that spec.
- The kubelet refreshes a mounted ConfigMap on its periodic pod sync (``syncFrequency``, 1 minute by default) plus
  its cache's propagation delay, not at once (Kubernetes docs, "Mounted ConfigMaps are updated automatically").

Order of work (each step reads what is there first, so a re-run after any failure or interruption resumes):

1. Read the release (helm), the nodes, the ConfigMap.
2. ConfigMap: the spec's keys **plus every key a node selects now**. It records when its data was last written
   (annotation ``gpuslice.dev/data-written-at``).
3. Node labels that select no config (pool label, operand opt-outs); on a first install (no plugin runs yet) the
   config label too.
4. ``helm upgrade --install`` with the rendered values, ``--wait``; skipped when helm's record of the release
   already has this chart and exactly these values. Then, if the release moved the device plugin onto another
   ConfigMap name (an older gpuslice's hashed name), the rollout of the device plugin, GFD and (with MPS) the MPS
   control daemon is watched.
5. Relabel, pool by pool and node by node, only the nodes whose key changed: first wait until the kubelet can
   have refreshed the mounted ConfigMap (``configmap_sync`` seconds after its last write), then after each node
   wait until GFD reports the key's ``nvidia.com/gpu.replicas`` and ``nvidia.com/gpu.sharing-strategy`` on it
   (and, for MPS, the MPS control daemon pod on it is ready) before the next node. A node that does not report in
   time stops apply: later nodes keep their current key.
6. Only then remove keys no node selects.

So at every moment each node's label names a key that exists. apply deletes no object. Every API and helm call is
retried on transient failures (see :mod:`gpuslice.cluster.retry`), each retry is reported, and writes are checked
before they are repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.helmops import UNFINISHED, ChartRef, Helm, Release, canonical, fingerprint
from gpuslice.cluster.kube import KubeClient, NotFound
from gpuslice.cluster.retry import RetriesExhausted, RetryEvent
from gpuslice.cluster.source import CONFIGMAPS, NODES
from gpuslice.errors import ClusterError, GpusliceError, HelmError
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, ResolvedPool, ResolvedSpec


@dataclass(frozen=True)
class Step:
    name: str  # configmap | labels | release | rollout | render
    action: str  # unchanged | created | updated | installed | upgraded | labelled | rolled | would-* | waiting
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "skipped", "checked", "waited", "confirmed") and not (
            self.action.startswith("would")
        )


@dataclass
class ApplyResult:
    dry_run: bool
    fingerprint: str
    steps: list[Step] = field(default_factory=list)
    retries: list[RetryEvent] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.steps)

    @property
    def would_change(self) -> bool:
        return any(s.action.startswith("would") for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "changed": self.changed,
            "wouldChange": self.would_change,
            "fingerprint": self.fingerprint,
            "steps": [{"name": s.name, "action": s.action, "detail": s.detail} for s in self.steps],
            "retries": [
                {
                    "operation": r.operation,
                    "attempt": r.attempt,
                    "reason": r.reason,
                    "delay": round(r.delay, 3),
                    "error": r.error,
                }
                for r in self.retries
            ],
            "findings": [f.to_dict() for f in self.findings],
        }


class Reporter(Protocol):
    def step(self, step: Step) -> None: ...
    def status(self, text: str) -> None: ...


class _Quiet:
    def step(self, step: Step) -> None:
        pass

    def status(self, text: str) -> None:
        pass


@dataclass
class ApplyOptions:
    dry_run: bool = False
    wait: bool = True
    rollout_timeout: float = 600.0
    poll_interval: float = 5.0
    kube_version: str | None = None  # for the dry-run render
    #: Recover a release left pending-install/-upgrade by a helm that is gone (False: --no-recover).
    recover: bool = True
    #: A pending revision older than this many seconds has no helm behind it (default: the operator timeout + 2 min).
    stale_after: float | None = None
    #: seconds after a ConfigMap write before a node may select one of its new keys: the kubelet's syncFrequency
    #: (1 minute by default) plus its ConfigMap cache propagation
    configmap_sync: float = 90.0
    #: seconds to wait for one relabelled node's GFD labels (and MPS daemon) to show the new config
    node_timeout: float = 300.0


class ApplyError(GpusliceError):
    """apply stopped; ``result`` holds what was done before."""

    def __init__(self, message: str, result: ApplyResult) -> None:
        super().__init__(message)
        self.result = result


def _plugin_config(values: dict[str, Any]) -> tuple[str, bool]:
    cfg = ((values.get("devicePlugin") or {}).get("config") or {}) if isinstance(values, dict) else {}
    return str(cfg.get("name") or ""), bool(cfg.get("create"))


def apply_release(
    resolved: ResolvedSpec,
    values: dict[str, Any],
    chart: ChartRef,
    *,
    kube: KubeClient,
    helm: Helm,
    options: ApplyOptions | None = None,
    reporter: Reporter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
) -> ApplyResult:
    """Bring the cluster to ``values`` + ``chart`` + the spec's node labels (see the module docstring)."""
    opts = options or ApplyOptions()
    rep = reporter or _Quiet()
    res = ApplyResult(dry_run=opts.dry_run, fingerprint=fingerprint(chart, values))
    ns, name = resolved.namespace, resolved.release_name
    helm.recover = opts.recover

    def add(step: Step) -> None:
        res.steps.append(step)
        rep.step(step)

    run = _Run(resolved, kube, opts, add, res, rep, sleep, clock, now)
    try:
        rep.status(f"reading release {name} in {ns}")
        rel = helm.release(name, ns)
        if rel is not None and rel.status in UNFINISHED and not opts.dry_run:
            rel = _recover(resolved, helm, opts, add, rep)
        rep.status("reading nodes")
        nodes, _ = m.decode_list(kube.list(NODES), m.Node)
        new_cm, chart_creates = _plugin_config(values)
        old_cm = _plugin_config(rel.values)[0] if rel else ""
        # gpuslice writes the ConfigMap (the rendered values never let the chart create it); values that do are
        # left to the chart, as before, without the key-by-key ordering.
        managed = bool(new_cm) and not chart_creates

        if opts.dry_run:
            rep.status("rendering the chart client-side (helm template)")
            try:
                helm.template(name, ns, chart, values, kube_version=opts.kube_version)
                add(Step("render", "checked", f"helm template {chart.label} with the rendered values"))
            except HelmError as e:
                res.findings.append(
                    Finding(
                        "apply-render-failed",
                        Severity.ERROR,
                        f"the chart does not render with these values: {e}",
                        "Fix the spec (gpuslice check) or the chart source.",
                    )
                )
                return res

        if managed:
            run.write_configmap(new_cm, nodes, prune=False, legacy=old_cm if old_cm != new_cm else "")
        # No device plugin runs before the first install: every label can go on at once.
        first_install = rel is None or not managed
        _label_nodes(resolved, kube, nodes, opts, add, res, rep, config=first_install)

        if helm.matches(rel, chart, values):
            add(
                Step(
                    "release",
                    "unchanged",
                    f"{name} rev {rel.revision if rel else '?'}: {chart.label}, "
                    f"values {res.fingerprint} already deployed",
                )
            )
        else:
            verb = "upgrade" if rel else "install"
            why = _why(rel, chart, values)
            if opts.dry_run:
                add(Step("release", f"would-{verb}", f"{name} in {ns}: {why}"))
            else:
                rep.status(
                    f"helm upgrade --install {name} ({chart.label}), waiting up to "
                    f"{resolved.spec.operator.timeout_minutes} min"
                )
                after = helm.upgrade_install(
                    name, ns, chart, values, timeout_minutes=resolved.spec.operator.timeout_minutes, wait=opts.wait
                )
                rev = after.revision if after else "?"
                add(Step("release", "upgraded" if rel else "installed", f"{name} rev {rev}: {why}"))
        if old_cm and new_cm and old_cm != new_cm:
            consumers = _config_consumers(resolved)
            detail = (
                f"device-plugin config {old_cm} -> {new_cm}: ClusterPolicy changes, the operator updates "
                + ", ".join(consumers)
            )
            if opts.dry_run:
                add(Step("rollout", "would-roll", detail))
            else:
                add(Step("rollout", "started", detail))
                _await_rollout(kube, ns, new_cm, consumers, opts, add, res, rep, sleep, clock)
        if not first_install:
            run.relabel(new_cm, nodes)
        if managed and not opts.dry_run:
            rep.status("reading nodes")
            nodes, _ = m.decode_list(kube.list(NODES), m.Node)
            run.write_configmap(new_cm, nodes, prune=True)
    except RetriesExhausted as e:
        hint = ""
        if "another helm operation" in e.reason:
            hint = (
                f"\nThe release is locked by another helm operation that is still running or just started. When "
                f"its revision is older than the operator timeout, the next apply recovers it (`helm -n {ns} "
                f"history {name}` shows it; if nothing else is running, `helm -n {ns} rollback {name}` unlocks an "
                f"upgrade, `helm -n {ns} uninstall {name}` a first install)."
            )
        res.retries = _events(kube, helm)
        raise ApplyError(f"{e}{hint}", res) from e
    except (ClusterError, HelmError) as e:
        res.retries = _events(kube, helm)
        raise ApplyError(str(e), res) from e
    except _Stopped as e:
        res.retries = _events(kube, helm)
        raise ApplyError(str(e), res) from e
    res.retries = _events(kube, helm)
    return res


def _recover(
    resolved: ResolvedSpec, helm: Helm, opts: ApplyOptions, add: Callable[[Step], None], rep: Reporter
) -> Release | None:
    """Unlock a release a vanished helm left pending (see :meth:`Helm.recover_stale`) and read it again."""
    ns, name = resolved.namespace, resolved.release_name
    minutes = resolved.spec.operator.timeout_minutes
    stale_after = opts.stale_after if opts.stale_after is not None else minutes * 60 + 120
    rep.status(f"release {name} is locked by an unfinished helm operation: checking whether it is stale")
    rec = helm.recover_stale(name, ns, stale_after=stale_after, timeout_minutes=minutes)
    if rec is not None:
        add(Step("release", rec.action, rec.detail))
    return helm.release(name, ns)


class _Stopped(GpusliceError):
    """A relabelled node did not come up with its new config in time."""


WRITTEN_AT = "gpuslice.dev/data-written-at"


def _config_consumers(resolved: ResolvedSpec) -> list[str]:
    """The DaemonSets that mount the sharing ConfigMap and roll when its name changes (handleDevicePluginConfig
    in NVIDIA/gpu-operator controllers/object_controls.go); the MPS control daemon only runs where a pool uses
    MPS (its nodeSelector wants nvidia.com/mps.capable=true, assets/state-mps-control-daemon/0400_daemonset.yaml)."""
    out = [k.daemonset("device-plugin"), k.daemonset("gfd")]
    if any(p.sharing.strategy == "mps" for p in resolved.pools):
        out.append(k.daemonset("mps-control-daemon"))
    return out


@dataclass
class _Run:
    resolved: ResolvedSpec
    kube: KubeClient
    opts: ApplyOptions
    add: Callable[[Step], None]
    res: ApplyResult
    rep: Reporter
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    now: Callable[[], float]

    def write_configmap(self, name: str, nodes: list[m.Node], *, prune: bool, legacy: str = "") -> None:
        """Write the spec's keys, keeping every key a node selects now (``prune``: and nothing else). ``legacy``:
        the ConfigMap the release named before (an older gpuslice's content-hashed name), whose keys that nodes
        select are carried over, since the operator moves every pod onto this one."""
        from gpuslice.sharing import configmap_manifest

        r, kube, opts = self.resolved, self.kube, self.opts
        ns = r.namespace
        body = configmap_manifest(r)
        body["metadata"]["name"] = name
        want: dict[str, str] = body["data"]
        self.rep.status(f"checking ConfigMap {ns}/{name}")
        found = kube.get(CONFIGMAPS, name, ns)
        have: dict[str, str] = dict((found or {}).get("data") or {})
        selected = {n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL, "") for n in nodes} - {""}
        if legacy:
            old = kube.get(CONFIGMAPS, legacy, ns)
            old_data = dict((old or {}).get("data") or {})
            have_or_old = {**{key: v for key, v in old_data.items() if key in selected}, **have}
        else:
            have_or_old = have
        kept = {key: have_or_old[key] for key in sorted(selected) if key in have_or_old and key not in want}
        if not prune:
            # Keys no node selects are left alone until the relabel is done (a node may select them meanwhile).
            kept.update({key: v for key, v in have.items() if key not in want})
        data = {**want, **kept}
        missing = sorted(selected - set(data))
        if missing and not prune:
            self.res.findings.append(
                Finding(
                    "apply-config-key-missing",
                    Severity.WARNING,
                    f"node(s) select device-plugin config key(s) {', '.join(missing)} that ConfigMap {ns}/{name} "
                    "does not hold; their plugin cannot start until they are relabelled",
                    "apply relabels the spec's pool nodes; label any other node "
                    f"{DEVICE_PLUGIN_CONFIG_LABEL}=<an existing key> or remove the label.",
                )
            )
        step = "configmap-prune" if prune else "configmap"
        if found is not None and have == data:
            if not prune:
                self.add(Step(step, "unchanged", f"{ns}/{name}"))
            return
        dropped = sorted(set(have) - set(data))
        added = sorted(set(data) - set(have))
        detail = f"{ns}/{name}" + (f": + {', '.join(added)}" if added and found else "")
        detail += f"; keeps {', '.join(sorted(kept))} (selected by nodes)" if kept and not prune else ""
        detail += f": - {', '.join(dropped)} (no node selects them)" if dropped else ""
        body["data"] = data
        body["metadata"].setdefault("annotations", {})[WRITTEN_AT] = _rfc3339(self.now())
        if opts.dry_run:
            self.add(Step(step, "would-update" if found else "would-create", detail))
            return
        if found is None:
            try:
                kube.create(CONFIGMAPS, ns, body)
            except NotFound:  # the namespace is not there yet: create it (ours now), then the ConfigMap
                kube.create_namespace(ns)
                kube.create(CONFIGMAPS, ns, body)
            self.add(Step(step, "created", detail))
        else:
            body["metadata"]["resourceVersion"] = found["metadata"].get("resourceVersion")
            keep_ann = {a: v for a, v in (found["metadata"].get("annotations") or {}).items() if a != WRITTEN_AT}
            body["metadata"]["annotations"] = {**keep_ann, WRITTEN_AT: body["metadata"]["annotations"][WRITTEN_AT]}
            if not added:
                # Nothing new to propagate: keep the old time so a resumed apply does not wait again.
                prev = (found["metadata"].get("annotations") or {}).get(WRITTEN_AT)
                if prev:
                    body["metadata"]["annotations"][WRITTEN_AT] = prev
            kube.replace_configmap(ns, name, body)
            self.add(Step(step, "updated", detail))

    def _await_propagation(self, cm: str) -> None:
        """Until the kubelet can have refreshed the mounted ConfigMap with the keys written last."""
        found = self.kube.get(CONFIGMAPS, cm, self.resolved.namespace) if cm else None
        stamp = ((found or {}).get("metadata", {}).get("annotations") or {}).get(WRITTEN_AT)
        written = _parse_rfc3339(stamp) if stamp else None
        if written is None:
            return
        left = written + self.opts.configmap_sync - self.now()
        if left <= 0:
            return
        self.rep.status(f"waiting {left:.0f}s for the kubelets to refresh the mounted ConfigMap {cm}")
        self.add(Step("configmap", "waited", f"{left:.0f}s for the kubelet to refresh the mounted copy"))
        self.sleep(left)

    def relabel(self, cm: str, nodes: list[m.Node]) -> None:
        """Move the nodes whose config key changed, one at a time, each confirmed before the next."""
        r, kube, opts = self.resolved, self.kube, self.opts
        members = k.pool_nodes(r, nodes)
        waited = False
        for pool in r.pools:
            key = pool.node_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
            if key is None:
                continue
            movers = [n for n in members.get(pool.name, []) if n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) != key]
            if not opts.dry_run and opts.wait:
                # A node an interrupted apply moved but did not see confirmed: confirm it before moving others.
                for n in members.get(pool.name, []):
                    if n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) == key and not self._confirmed(n, pool):
                        seen = self._await_node(n, pool)
                        self.add(Step("relabel", "confirmed", f"pool {pool.name}: node {n.name} on {key}; {seen}"))
            if not movers:
                continue
            if opts.dry_run:
                self.add(Step("relabel", "would-relabel", f"pool {pool.name}: {len(movers)} node(s) -> {key}"))
                continue
            if not waited:
                self._await_propagation(cm)
                waited = True
            for n in movers:
                old = n.labels.get(DEVICE_PLUGIN_CONFIG_LABEL) or "(default)"
                self.rep.status(f"relabelling node {n.name}: {old} -> {key}")
                kube.patch_node_labels(n.name, {DEVICE_PLUGIN_CONFIG_LABEL: key})
                seen = self._await_node(n, pool) if opts.wait else "not waited for (--no-wait)"
                self.add(Step("relabel", "relabelled", f"pool {pool.name}: node {n.name} {old} -> {key}; {seen}"))

    def _confirmed(self, node: m.Node, pool: ResolvedPool) -> bool:
        """Whether ``node`` (as listed) already shows the pool's sharing (GFD labels; MPS: its daemon ready).
        A node without GFD labels cannot show it and counts as confirmed."""
        sh = pool.sharing
        labels = node.labels
        if labels.get(k.label("gpu_replicas")) is None:
            return True
        if labels.get(k.label("gpu_replicas")) != str(sh.replicas):
            return False
        strategy = labels.get(k.label("sharing_strategy"))
        if strategy is not None and strategy != (sh.strategy if sh.shared else "none"):
            return False
        return sh.strategy != "mps" or self._mps_daemon_ready(node.name) in (None, True)

    def _await_node(self, node: m.Node, pool: ResolvedPool) -> str:
        """Wait until GFD on ``node`` reports the pool's sharing (labels from NVIDIA/k8s-device-plugin
        internal/lm: ``nvidia.com/gpu.replicas``, ``nvidia.com/gpu.sharing-strategy``, which are 1/none when not
        shared), and for MPS until the MPS control daemon pod on it is ready. Returns what was seen."""
        sh = pool.sharing
        want = {k.label("gpu_replicas"): str(sh.replicas)}
        if node.labels.get(k.label("sharing_strategy")) is not None:
            want[k.label("sharing_strategy")] = sh.strategy if sh.shared else "none"
        if node.labels.get(k.label("gpu_replicas")) is None:
            return "GFD does not label this node, so its new config was not observed"
        deadline = self.clock() + self.opts.node_timeout
        mps = sh.strategy == "mps"
        while True:
            cur = self.kube.get(NODES, node.name) or {}
            labels = (cur.get("metadata") or {}).get("labels") or {}
            wrong = {key: labels.get(key) for key, v in want.items() if labels.get(key) != v}
            daemon = self._mps_daemon_ready(node.name) if mps and not wrong else None
            if not wrong and daemon in (None, True):
                seen = ", ".join(f"{key}={v}" for key, v in want.items())
                return f"GFD reports {seen}" + ("; MPS control daemon ready" if mps else "")
            if self.clock() >= deadline:
                why = (
                    "; ".join(f"{key}={v or '(none)'} (want {want[key]})" for key, v in wrong.items())
                    if wrong
                    else f"the {k.daemonset('mps-control-daemon')} pod on it is not ready"
                )
                raise _Stopped(
                    f"node {node.name} (pool {pool.name}) selects {sh.config_key} but after "
                    f"{self.opts.node_timeout:.0f}s {why}. apply stopped before the next node: every node selects "
                    f"a key that exists; see `gpuslice doctor` and the config-manager log on that node, then run "
                    f"apply again to continue."
                )
            self.rep.status(f"waiting for node {node.name} to report {sh.config_key}")
            self.sleep(self.opts.poll_interval)

    def _mps_daemon_ready(self, node: str) -> bool | None:
        """True/False for the MPS control daemon pod on ``node``; None when the DaemonSet does not exist."""
        ns = self.resolved.namespace
        ds_name = k.daemonset("mps-control-daemon")
        if self.kube.get("daemonsets", ds_name, ns) is None:
            return None
        pods, _ = m.decode_list(self.kube.list("pods", ns, field_selector=f"spec.nodeName={node}"), m.Pod)
        for p in pods:
            if p.owner("DaemonSet") == ds_name or p.metadata.label("app") == ds_name:
                cond = next((c for c in p.status.conditions or () if c.type == "Ready"), None)
                return p.status.phase == "Running" and cond is not None and cond.status == "True"
        return False


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _parse_rfc3339(text: str) -> float | None:
    import calendar

    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _events(kube: KubeClient, helm: Helm) -> list[RetryEvent]:
    evs = list(kube.retrier.events)
    if helm.retrier is not kube.retrier:
        evs += helm.retrier.events
    return evs


@dataclass
class Prepared:
    """What apply installs, rendered from the spec exactly as ``plan`` renders it."""

    resolved: ResolvedSpec
    values: dict[str, Any]
    chart: ChartRef
    findings: list[Finding]


def prepare(spec: str, *, chart: str | None = None, helm: str | None = None, force: bool = False) -> Prepared:
    """Check and render the spec in memory; the chart is located (and pulled to the cache if needed) once, so
    the chart helm installs is the one the values were rendered and proven against."""
    import yaml

    from gpuslice import api
    from gpuslice.chart import locate_chart
    from gpuslice.render import RenderOptions

    result = api.plan(spec, write=False, force=force, options=RenderOptions(chart=chart, helm=helm))
    if result.refused or result.rendered is None:
        ids = ", ".join(sorted({f.id for f in result.findings if f.severity.value == "error"}))
        raise ApplyError(
            f"{spec}: the checks found errors ({ids}); nothing was installed. Fix them "
            f"(`gpuslice check {spec}` shows each with its fix) or pass --force",
            ApplyResult(dry_run=True, fingerprint="", findings=result.findings),
        )
    text = result.rendered.files.get("values.yaml")
    if text is None:
        raise GpusliceError("this gpuslice renders no values.yaml (no operator renderer registered)")
    values = yaml.safe_load(text if isinstance(text, str) else text.decode("utf-8")) or {}
    located = locate_chart(result.resolved, chart, helm=helm)
    ref = ChartRef(name=located.name, version=located.version, path=str(located.path))
    return Prepared(resolved=result.resolved, values=values, chart=ref, findings=result.findings)


def _why(rel: Release | None, chart: ChartRef, values: dict[str, Any]) -> str:
    if rel is None:
        return f"new release of {chart.label}"
    parts = []
    if rel.status != "deployed":
        parts.append(f"release status is {rel.status}")
    if rel.chart != chart.label:
        parts.append(f"chart {rel.chart} -> {chart.label}")
    if canonical(rel.values) != canonical(values):
        keys = sorted(
            {*rel.values, *values}
            - {k for k in {*rel.values, *values} if canonical(rel.values.get(k)) == canonical(values.get(k))}
        )
        parts.append("values changed (" + ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "") + ")")
    return "; ".join(parts) or "release differs"


def _label_nodes(
    resolved: ResolvedSpec,
    kube: KubeClient,
    nodes: list[m.Node],
    opts: ApplyOptions,
    add: Callable[[Step], None],
    res: ApplyResult,
    rep: Reporter,
    *,
    config: bool,
) -> None:
    """Set each pool's labels on its nodes; the config-selecting label only when ``config`` (no plugin runs yet),
    else :meth:`_Run.relabel` moves it node by node."""
    members = k.pool_nodes(resolved, nodes)
    for pool in resolved.pools:
        pool_nodes = members.get(pool.name, [])
        if not pool_nodes:
            res.findings.append(
                Finding(
                    "apply-pool-no-nodes",
                    Severity.WARNING,
                    f"no nodes of pool {pool.name} found (label gpuslice.dev/pool={pool.name} or node group "
                    f"{pool.node_group_name}); their labels will be set when the nodes join with the rendered bootstrap",
                    "Create the node group from the plan (nodegroups/, bootstrap/), then run apply again.",
                    pool=pool.name,
                )
            )
            continue
        changed = 0
        labels = {key: v for key, v in pool.node_labels.items() if config or key != DEVICE_PLUGIN_CONFIG_LABEL}
        for n in pool_nodes:
            want = {key: v for key, v in labels.items() if n.labels.get(key) != v}
            if not want:
                continue
            changed += 1
            if not opts.dry_run:
                rep.status(f"labelling node {n.name}")
                kube.patch_node_labels(n.name, want)
        desc = ", ".join(f"{key}={v}" for key, v in labels.items())
        if not changed:
            add(Step("labels", "unchanged", f"pool {pool.name}: {len(pool_nodes)} node(s) carry {desc}"))
        else:
            add(
                Step(
                    "labels",
                    "would-label" if opts.dry_run else "labelled",
                    f"pool {pool.name}: {changed} of {len(pool_nodes)} node(s) -> {desc}",
                )
            )


def _await_rollout(
    kube: KubeClient,
    ns: str,
    cm: str,
    names: list[str],
    opts: ApplyOptions,
    add: Callable[[Step], None],
    res: ApplyResult,
    rep: Reporter,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    deadline = clock() + opts.rollout_timeout
    while True:
        dss = {d.name: d for d in m.decode_list(kube.list("daemonsets", ns), m.DaemonSet)[0] if d.name in names}
        pending = []
        for name in names:
            ds = dss.get(name)
            if ds is None:
                continue
            st = ds.status
            if cm not in ds.configmap_volumes():
                pending.append(f"{name}: the operator has not updated it yet")
            elif ds.spec.update_strategy and ds.spec.update_strategy.type == "OnDelete":
                res.findings.append(
                    Finding(
                        "apply-rollout-ondelete",
                        Severity.WARNING,
                        f"{name} uses updateStrategy OnDelete: its pods keep the old config until deleted",
                        f"Delete its pods one node at a time (`kubectl -n {ns} delete pod -l app={name} "
                        f"--field-selector spec.nodeName=<node>`) or set daemonsets.updateStrategy=RollingUpdate.",
                    )
                )
            elif (
                st.observed_generation < ds.metadata.generation
                or st.updated_number_scheduled < st.desired_number_scheduled
                or st.number_unavailable > 0
            ):
                pending.append(
                    f"{name}: {st.updated_number_scheduled}/{st.desired_number_scheduled} updated, "
                    f"{st.number_unavailable} unavailable"
                )
        if not pending:
            if dss:
                add(Step("rollout", "rolled", f"{', '.join(sorted(dss))} run with {cm}"))
            else:
                add(Step("rollout", "skipped", "the operator has not created the device-plugin DaemonSets yet"))
            return
        if clock() >= deadline:
            res.findings.append(
                Finding(
                    "apply-rollout-pending",
                    Severity.WARNING,
                    f"the device plugin has not finished rolling onto {cm} after {opts.rollout_timeout:.0f}s: "
                    + "; ".join(pending),
                    f"Watch it with `kubectl -n {ns} rollout status ds/{names[0]}`; `gpuslice doctor` explains stuck pods.",
                )
            )
            return
        rep.status("waiting for the rollout: " + "; ".join(pending))
        sleep(opts.poll_interval)
