"""snapshot, doctor, apply, verify: the verbs that talk to a cluster (or read a dump of one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from gpuslice.commands._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    OUTPUT_OPTION,
    OutputFormat,
    _esc,
    console,
    duration_option,
    exit_code,
    findings_json,
    handle_errors,
    print_findings,
)
from gpuslice.redact import redact

KUBECONFIG_OPTION = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
CONTEXT_OPTION = typer.Option(None, "--context", help="kubeconfig context (default: the current one).")
SPEC_OPTION = typer.Option(None, "--spec", help="gpuslice.yaml: check the cluster against what it asks for.")
DUMP_OPTION = typer.Option(
    None,
    "--dump",
    help="Read this folder (`kubectl cluster-info dump --output-directory` "
    "or `gpuslice snapshot`) instead of the live cluster.",
)
NAMESPACE_OPTION = typer.Option(
    None,
    "--namespace",
    "-n",
    help="The GPU Operator's namespace (default: the spec's, else found in the dump, else gpu-operator).",
)
ATTEMPTS_OPTION = typer.Option(6, "--max-attempts", min=1, help="Attempts per API/helm call on transient failures.")
RETRY_TIME_OPTION = duration_option(
    "5m", "--retry-timeout", min_s=1.0, help="How long one call may spend retrying transient failures (90s, 5m)."
)


def register(app: typer.Typer) -> None:
    app.command("snapshot")(snapshot)
    app.command("doctor")(doctor)
    app.command("apply")(apply)
    app.command("verify")(verify)


def _retrier(max_attempts: int, retry_timeout: float, err: Any) -> Any:
    from gpuslice.cluster.retry import Retrier, RetryEvent, RetryPolicy

    def show(ev: RetryEvent) -> None:
        err.print(
            f"[yellow]retry[/] {_esc(redact(ev.describe()))}: {_esc(redact(str(ev.error)))}",
            markup=True,
            highlight=False,
        )

    return Retrier(policy=RetryPolicy(max_attempts=max_attempts, total_timeout=retry_timeout), on_retry=show)


def _check_kubeconfig(kubeconfig: str | None, context: str | None = None) -> None:
    """Name the kubeconfig file that is missing or unreadable before the client says something vaguer.

    In a pod with no kubeconfig named or found the client uses the service account (in-cluster config): nothing to
    check then."""
    import os

    from gpuslice.cluster.kube import _use_in_cluster
    from gpuslice.errors import GpusliceError

    if _use_in_cluster(kubeconfig, context):
        return
    if kubeconfig:
        where, paths = "--kubeconfig", [kubeconfig]
    elif os.environ.get("KUBECONFIG"):
        # Like kubectl: a list of files; missing ones are skipped, but at least one must be there.
        where, paths = "$KUBECONFIG", [p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        where, paths = "the default", [str(Path.home() / ".kube" / "config")]
    if not paths:
        return
    problems = []
    found = False
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            problems.append(f"{p}: is a folder, not a kubeconfig file")
        elif not path.exists():
            problems.append(f"{p}: file not found")
        elif not os.access(path, os.R_OK):
            problems.append(f"{p}: not readable")
        else:
            found = True
            _check_kubeconfig_text(p)
    if found:
        return
    raise GpusliceError(
        f"cannot load kubeconfig ({where}): "
        + "; ".join(problems)
        + ". Pass --kubeconfig FILE or set KUBECONFIG, or read a dump with --dump DIR where the "
        "verb takes one."
    )


def _check_kubeconfig_text(path: str) -> None:
    """A kubeconfig must be UTF-8 YAML holding a mapping; say which file and line when it is not."""
    from gpuslice.errors import Problem, SpecError
    from gpuslice.yamlio import parse_yaml_text, read_text

    docs = parse_yaml_text(read_text(path), path)
    data = docs[0].data if docs else None
    if not isinstance(data, dict):
        got = "empty" if data is None else type(data).__name__
        raise SpecError(
            [
                Problem(
                    f"not a kubeconfig: expected a mapping with clusters, contexts and users, got {got}",
                    file=path,
                    line=1,
                )
            ]
        )


def _kube(kubeconfig: str | None, context: str | None, retrier: Any) -> Any:
    from gpuslice.cluster.kube import KubeClient

    _check_kubeconfig(kubeconfig, context)
    return KubeClient(kubeconfig, context, retrier=retrier)


@handle_errors
def snapshot(
    out: Path = typer.Option(
        ...,
        "--out-dir",
        "-d",
        help="Folder to write, replaced atomically; only an empty one or one gpuslice wrote, unless --overwrite.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the folder even if it holds files gpuslice did not write."
    ),
    spec: Path | None = SPEC_OPTION,
    namespace: str | None = NAMESPACE_OPTION,
    extra_namespace: list[str] = typer.Option([], "--include-namespace", help="Also capture this namespace."),
    max_log_pods: int = typer.Option(
        500, "--max-log-pods", min=0, help="Logs of at most this many pods (pods in trouble first)."
    ),
    tail_lines: int = typer.Option(2000, "--tail-lines", min=1, help="Last lines of each container's log."),
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    max_attempts: int = ATTEMPTS_OPTION,
    retry_timeout: float = RETRY_TIME_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Capture what doctor needs, in the layout of `kubectl cluster-info dump --output-directory`.

    -o json/yaml prints the folder, the files and namespaces captured, and warnings (what the folder lacks).
    """
    from gpuslice.cluster.kube import LiveSource
    from gpuslice.cluster.snapshot import snapshot_warnings, take_snapshot
    from gpuslice.output import check_out_dir

    check_out_dir(out, inputs=(spec, kubeconfig), overwrite=overwrite)
    err = console(stderr=True)
    ns = namespace
    cm_names: tuple[str, ...] = ()
    if spec is not None:
        from gpuslice import api

        r = api.load(spec)
        ns = ns or r.namespace
        cm_names = (r.device_plugin_configmap,)
    ns = ns or "gpu-operator"
    kube = _kube(kubeconfig, context, _retrier(max_attempts, retry_timeout, err))
    source = LiveSource(
        kube, [ns, "kube-system", "default", *extra_namespace], tail_lines=tail_lines, configmap_names=cm_names
    )
    with err.status("capturing") as st:
        res = take_snapshot(
            source,
            out,
            # plus the namespaces of device-plugin Helm releases / DaemonSets and of device-plugin ConfigMaps, which
            # doctor checks (a second plugin, the configs it mounts)
            namespaces=source.namespaces(),
            operator_namespace=ns,
            max_log_pods=max_log_pods,
            progress=lambda msg: st.update(f"capturing {_esc(msg)}"),
            overwrite=overwrite,
            inputs=(spec, kubeconfig),
        )
    warnings = [
        redact(w)
        for w in snapshot_warnings(res, operator_namespace=ns, asked=extra_namespace, max_log_pods=max_log_pods)
    ]
    if output == OutputFormat.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "out": str(res.out_dir),
                    "operatorNamespace": ns,
                    "namespaces": res.namespaces,
                    "files": res.paths,
                    "pods": res.pods,
                    "logs": {"pods": res.pods_with_logs, "skipped": res.skipped_logs},
                    "warnings": warnings,
                },
                indent=2,
            )
        )
        return
    for w in warnings:
        err.print(f"[yellow]warning:[/] {_esc(w)}")
    c = console()
    c.print(
        f"[green]Wrote {_esc(str(res.out_dir))}[/]: {res.files} files, {res.pods} pods in "
        f"{_esc(', '.join(res.namespaces))}, "
        f"logs of {res.pods_with_logs} pods" + (f" ({res.skipped_logs} more skipped)" if res.skipped_logs else "")
    )
    c.print(f"Read it with: gpuslice doctor --dump {out}" + (f" --spec {spec}" if spec else ""), markup=False)


@handle_errors
def doctor(
    dump: Path | None = DUMP_OPTION,
    spec: Path | None = SPEC_OPTION,
    namespace: str | None = NAMESPACE_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    max_attempts: int = ATTEMPTS_OPTION,
    retry_timeout: float = RETRY_TIME_OPTION,
) -> None:
    """What is wrong with the GPU cluster: findings with evidence and a fix, from a dump or the live API."""
    from gpuslice.cluster.doctor import run_doctor
    from gpuslice.cluster.view import load_view

    resolved = None
    if spec is not None:
        from gpuslice import api

        resolved = api.load(spec)
    err = console(stderr=True)
    if dump is not None:
        from gpuslice.cluster.dump import DumpSource
        from gpuslice.cluster.snapshot import read_manifest

        source: Any = DumpSource(dump)
        hint = namespace or (resolved.namespace if resolved else None) or read_manifest(dump).get("operatorNamespace")
    else:
        from gpuslice.cluster.kube import LiveSource

        hint = namespace or (resolved.namespace if resolved else None) or "gpu-operator"
        kube = _kube(kubeconfig, context, _retrier(max_attempts, retry_timeout, err))
        source = LiveSource(
            kube,
            [hint, "kube-system", "default"],
            configmap_names=(resolved.device_plugin_configmap,) if resolved else (),
        )
    with err.status(f"reading {_esc(source.label)}"):
        view = load_view(source)
        findings = run_doctor(view, resolved, namespace=hint)
    if output == OutputFormat.json:
        print(
            findings_json(
                findings, source=view.label, nodes=len(view.nodes), pods=sum(len(p) for p in view.pods.values())
            )
        )
    else:
        console().print(
            f"{view.label}: {len(view.nodes)} nodes, {sum(len(p) for p in view.pods.values())} pods", markup=False
        )
        print_findings(findings, title="doctor")
    raise typer.Exit(exit_code(findings))


@handle_errors
def apply(
    spec: Path = typer.Argument(..., help="Path to gpuslice.yaml", show_default=False, metavar="SPEC"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read the cluster and render client-side; change nothing."),
    chart: Path | None = typer.Option(None, "--chart", help="Local GPU Operator chart folder or .tgz."),
    helm: str | None = typer.Option(None, "--helm", help="helm binary (default: $GPUSLICE_HELM, then PATH)."),
    force: bool = typer.Option(False, "--force", help="Apply even when checks report errors."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="helm --wait for the release to be ready."),
    rollout_timeout: float = duration_option(
        "10m", "--rollout-timeout", help="How long to watch the device plugin roll onto a changed config (10m)."
    ),
    recover: bool = typer.Option(
        True,
        "--recover/--no-recover",
        help="Unlock a release that a killed helm left pending-install/-upgrade (only one gpuslice created): roll "
        "back to the last deployed revision, or uninstall a first install that never completed, then apply.",
    ),
    stale_after: float | None = duration_option(
        None,
        "--stale-after",
        help="Age after which a pending release has no helm behind it, e.g. 15m (default: operator timeout + 2m).",
    ),
    configmap_sync: float = duration_option(
        "90s",
        "--configmap-sync",
        help="How long after the sharing ConfigMap gained keys before a node may select one (kubelet refresh, 90s).",
    ),
    node_timeout: float = duration_option(
        "5m", "--node-timeout", help="How long a relabelled node has to report its new sharing config (5m)."
    ),
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    max_attempts: int = ATTEMPTS_OPTION,
    retry_timeout: float = RETRY_TIME_OPTION,
) -> None:
    """Install or upgrade the GPU Operator (helm upgrade --install), label the pools' nodes, roll the plugin; idempotent.

    A sharing change relabels only the nodes whose config key changed, one at a time; a second run changes nothing.
    """
    from gpuslice.cluster.apply import ApplyError, ApplyOptions, Step, apply_release, prepare
    from gpuslice.cluster.helmops import Helm

    err = console(stderr=True)
    with err.status("rendering the plan"):
        prep = prepare(str(spec), chart=str(chart) if chart else None, helm=helm, force=force)
    retrier = _retrier(max_attempts, retry_timeout, err)
    kube = _kube(kubeconfig, context, retrier)
    helm_ops = Helm(helm=helm, kubeconfig=kubeconfig, context=context, retrier=retrier)
    opts = ApplyOptions(
        dry_run=dry_run,
        wait=wait,
        rollout_timeout=rollout_timeout,
        configmap_sync=configmap_sync,
        node_timeout=node_timeout,
        kube_version=f"{prep.resolved.kubernetes_version}.0",
        recover=recover,
        stale_after=stale_after,
    )

    with err.status("starting") as st:

        class Progress:
            def step(self, step: Step) -> None:
                mark = (
                    "[green]✓[/]"
                    if step.changed
                    else "[dim]=[/]"
                    if step.action in ("unchanged", "checked")
                    else "[cyan]~[/]"
                )
                err.print(
                    f"{mark} {_esc(step.name)}: {_esc(step.action)} — {_esc(step.detail)}", markup=True, highlight=False
                )

            def status(self, text: str) -> None:
                st.update(_esc(text))

        try:
            res = apply_release(
                prep.resolved, prep.values, prep.chart, kube=kube, helm=helm_ops, options=opts, reporter=Progress()
            )
            failure = None
        except ApplyError as e:
            res, failure = e.result, redact(str(e))
    findings = [*res.findings]
    if output == OutputFormat.json:
        print(
            json.dumps(
                {
                    **res.to_dict(),
                    "ok": failure is None and not any(f.severity.value == "error" for f in findings),
                    "error": failure,
                },
                indent=2,
            )
        )
    else:
        c = console()
        if findings:
            print_findings(findings, title="apply")
        if failure:
            err.print(f"[bold red]apply failed:[/] {_esc(failure)}", markup=True, highlight=False)
        elif dry_run:
            c.print(
                "[cyan]dry run:[/] "
                + ("changes listed above would be made" if res.would_change else "nothing would change")
                + f" (values {res.fingerprint})"
            )
        elif res.changed:
            c.print(
                f"[green]applied[/] {_esc(prep.chart.label)}, values {res.fingerprint}"
                + (f" after {len(res.retries)} retried call(s)" if res.retries else "")
            )
        else:
            c.print(
                f"[green]no changes:[/] the cluster already runs {_esc(prep.chart.label)} with values "
                f"{res.fingerprint} "
                "and every pool's labels"
            )
    raise typer.Exit(EXIT_FINDINGS if failure or exit_code(findings) else EXIT_OK)


@handle_errors
def verify(
    spec: Path = typer.Argument(..., help="Path to gpuslice.yaml", show_default=False, metavar="SPEC"),
    dump: Path | None = DUMP_OPTION,
    smoke: bool = typer.Option(False, "--smoke", help="Also run the sharing smoke test (live cluster only)."),
    pool: str | None = typer.Option(None, "--pool", help="Pool for the smoke test (default: first shared pool)."),
    smoke_image: str | None = typer.Option(
        None, "--smoke-image", help="Image with vectorAdd (default: the operator's validator image from ClusterPolicy)."
    ),
    smoke_timeout: float = duration_option(
        "5m", "--smoke-timeout", min_s=1.0, help="How long to wait for the smoke-test pods (90s, 5m)."
    ),
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    max_attempts: int = ATTEMPTS_OPTION,
    retry_timeout: float = RETRY_TIME_OPTION,
) -> None:
    """Prove sharing works: ClusterPolicy ready, DaemonSets ready, per-node labels and capacity = GPUs x replicas."""
    from gpuslice import api
    from gpuslice.cluster.verify import run_smoke, verify_view
    from gpuslice.cluster.view import load_view
    from gpuslice.errors import GpusliceError

    resolved = api.load(spec)
    err = console(stderr=True)
    kube = None
    if dump is not None:
        from gpuslice.cluster.dump import DumpSource

        if smoke:
            raise GpusliceError("--smoke needs the live cluster (it creates pods); drop --dump")
        source: Any = DumpSource(dump)
    else:
        from gpuslice.cluster.kube import LiveSource

        kube = _kube(kubeconfig, context, _retrier(max_attempts, retry_timeout, err))
        source = LiveSource(kube, [resolved.namespace])
    with err.status(f"reading {_esc(source.label)}"):
        result = verify_view(resolved, load_view(source, [resolved.namespace]))
    if smoke and kube is not None:
        with err.status("smoke test") as st:
            result.smoke = run_smoke(
                resolved,
                kube,
                pool_name=pool,
                image=smoke_image,
                timeout=smoke_timeout,
                status=lambda text: st.update(_esc(text)),
            )
        result.findings += result.smoke.findings
    findings = result.findings
    if output == OutputFormat.json:
        print(findings_json(findings, spec=str(spec), **result.to_dict()))
    else:
        _print_rows(result)
        print_findings(findings, title="verify")
    raise typer.Exit(exit_code(findings))


def _print_rows(result: Any) -> None:
    """The node table; on a terminal too narrow for it whole (or piped: 80 columns), one line per node instead,
    so no pool, node or resource name is cut."""
    from rich.markup import escape
    from rich.table import Table

    if not result.rows:
        return
    c = console()
    cols = ("pool", "node", "resource", "want", "capacity", "allocatable", "replicas", "")
    cells = [
        (
            r.pool,
            r.node,
            r.resource,
            str(r.expected),
            str(r.capacity),
            str(r.allocatable),
            str(r.replicas),
            "ok" if r.ok else "✗",
        )
        for r in result.rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(cols)]
    title = "GPU nodes (want = GPUs x replicas from the spec)"
    if sum(widths) + 3 * len(cols) + 1 > c.width:
        c.print(title, markup=False)
        for r, row in zip(result.rows, cells, strict=True):
            mark = "[green]ok[/]" if r.ok else "[red]✗[/]"
            c.print(
                f"  {mark} {escape(row[1])}  pool {escape(row[0])}  {escape(row[2])}: want {row[3]}, capacity "
                f"{row[4]}, allocatable {row[5]}, replicas {escape(row[6])}"
            )
        return
    t = Table(title=title, title_justify="left")
    for col in cols:
        t.add_column(col, no_wrap=True)
    for r, row in zip(result.rows, cells, strict=True):
        t.add_row(*(escape(x) for x in row[:-1]), "[green]ok[/]" if r.ok else "[red]✗[/]")
    c.print(t)
