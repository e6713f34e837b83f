"""``gpuslice apply``: install or upgrade the operator from the spec, idempotently, surviving transient failures.

Order of work, and why:

1. Read what is there: the release (helm), the nodes, the device-plugin ConfigMap when gpuslice manages it.
2. Device-plugin ConfigMap, only when the values do not let the chart create it (the rendered values normally do,
   under the content-hashed name ``resolved.device_plugin_configmap``).
3. Node labels of each pool (``resolved.pools[i].node_labels``): merged, never removed. Labels first, so that when
   the operator rolls the device plugin onto a new config every key the nodes ask for already exists.
4. ``helm upgrade --install`` of the release with the rendered values, ``--wait``; skipped when helm's record of
   the release already has this chart and exactly these values (a second apply changes nothing and says so).
5. When the sharing config changed: the ConfigMap name is content-hashed and referenced from ClusterPolicy, so the
   new release changes ClusterPolicy; the operator hashes each DaemonSet spec it renders and updates the
   DaemonSet when the hash differs (``isDaemonsetSpecChanged`` in ``controllers/object_controls.go``), and the
   DaemonSet rolls its pods. apply watches the device-plugin and GFD DaemonSets until their pod template mounts
   the new ConfigMap and the rollout is complete, and reports it. (The operator does not watch the ConfigMap
   itself; with an unchanged name an edited ConfigMap would need a manual rollout restart. The hashed name
   avoids that.)

apply never deletes anything. Every API and helm call is retried on transient failures (see
:mod:`gpuslice.cluster.retry`), each retry is reported, and writes are checked before they are repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.helmops import PENDING, ChartRef, Helm, Release, canonical, fingerprint
from gpuslice.cluster.kube import KubeClient, NotFound
from gpuslice.cluster.retry import RetriesExhausted, RetryEvent
from gpuslice.cluster.source import CONFIGMAPS, NODES
from gpuslice.errors import ClusterError, GpusliceError, HelmError
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec


@dataclass(frozen=True)
class Step:
    name: str  # configmap | labels | release | rollout | render
    action: str  # unchanged | created | updated | installed | upgraded | labelled | rolled | would-* | waiting
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "skipped", "checked") and not self.action.startswith("would")


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

    try:
        rep.status(f"reading release {name} in {ns}")
        rel = helm.release(name, ns)
        if rel is not None and rel.status in PENDING and not opts.dry_run:
            rel = _recover(resolved, helm, opts, add, rep)
        rep.status("reading nodes")
        nodes, _ = m.decode_list(kube.list(NODES), m.Node)
        new_cm, chart_creates = _plugin_config(values)
        old_cm = _plugin_config(rel.values)[0] if rel else ""

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

        if new_cm and not chart_creates:
            _ensure_configmap(resolved, kube, new_cm, opts, add, rep)
        _label_nodes(resolved, kube, nodes, opts, add, res, rep)

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
            detail = (
                f"device-plugin config {old_cm} -> {new_cm}: ClusterPolicy changes, the operator updates "
                f"{k.daemonset('device-plugin')} and {k.daemonset('gfd')}"
            )
            if opts.dry_run:
                add(Step("rollout", "would-roll", detail))
            else:
                add(Step("rollout", "started", detail))
                _await_rollout(kube, ns, new_cm, opts, add, res, rep, sleep, clock)
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


def _ensure_configmap(
    resolved: ResolvedSpec, kube: KubeClient, name: str, opts: ApplyOptions, add: Callable[[Step], None], rep: Reporter
) -> None:
    from gpuslice.sharing import configmap_manifest

    body = configmap_manifest(resolved)
    body["metadata"]["name"] = name
    ns = resolved.namespace
    rep.status(f"checking ConfigMap {ns}/{name}")
    found = kube.get(CONFIGMAPS, name, ns)
    if found is not None and (found.get("data") or {}) == body["data"]:
        add(Step("configmap", "unchanged", f"{ns}/{name}"))
        return
    if opts.dry_run:
        add(Step("configmap", "would-update" if found else "would-create", f"{ns}/{name}"))
        return
    if found is None:
        try:
            kube.create(CONFIGMAPS, ns, body)
        except NotFound:  # the namespace is not there yet: create it (ours now), then the ConfigMap
            kube.create_namespace(ns)
            kube.create(CONFIGMAPS, ns, body)
        add(Step("configmap", "created", f"{ns}/{name}"))
    else:
        body["metadata"]["resourceVersion"] = found["metadata"].get("resourceVersion")
        kube.replace_configmap(ns, name, body)
        add(Step("configmap", "updated", f"{ns}/{name} (its data differed from the spec)"))


def _label_nodes(
    resolved: ResolvedSpec,
    kube: KubeClient,
    nodes: list[m.Node],
    opts: ApplyOptions,
    add: Callable[[Step], None],
    res: ApplyResult,
    rep: Reporter,
) -> None:
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
        for n in pool_nodes:
            want = {key: v for key, v in pool.node_labels.items() if n.labels.get(key) != v}
            if not want:
                continue
            changed += 1
            if not opts.dry_run:
                rep.status(f"labelling node {n.name}")
                kube.patch_node_labels(n.name, want)
        desc = ", ".join(f"{key}={v}" for key, v in pool.node_labels.items())
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
    opts: ApplyOptions,
    add: Callable[[Step], None],
    res: ApplyResult,
    rep: Reporter,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    names = [k.daemonset("device-plugin"), k.daemonset("gfd")]
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
