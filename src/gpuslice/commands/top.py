"""top: who is using each shared GPU — the node agent (``--node``) and the cluster view."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import typer

from gpuslice.commands._common import (
    OUTPUT_OPTION,
    OutputFormat,
    _esc,
    console,
    duration_option,
    exit_code,
    handle_errors,
    print_findings,
)


def register(app: typer.Typer) -> None:
    app.command("top")(top)


@handle_errors
def top(
    node: bool = typer.Option(False, "--node", help="Run the node agent on this GPU node (what the DaemonSet runs)."),
    once: bool = typer.Option(False, "--once", help="Agent: take one sample, print it and exit (no HTTP server)."),
    listen: str = typer.Option("0.0.0.0:9400", "--listen", help="Agent: HOST:PORT for /metrics, /json, /healthz."),
    interval: float = duration_option(
        "5s", "--interval", min_s=0.2, help="Time between samples and --watch refreshes (5s, 500ms)."
    ),
    node_name: str | None = typer.Option(None, "--node-name", help="Agent: this node's name (default $NODE_NAME)."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Agent: time-slicing|mps|none (default: the node's GFD labels)."
    ),
    replicas: int | None = typer.Option(None, "--replicas", min=1, help="Agent: replicas per GPU (default: labels)."),
    socket_path: Path = typer.Option(
        Path("/var/lib/kubelet/pod-resources/kubelet.sock"), "--pod-resources", help="Agent: kubelet socket."
    ),
    proc: Path = typer.Option(Path("/proc"), "--proc", help="Agent: the host's /proc (hostPID)."),
    replay: Path | None = typer.Option(None, "--replay", help="Agent: NVML readings from a file instead of the GPU."),
    pod_logs: Path = typer.Option(
        Path("/var/log/pods"), "--pod-log-dir", help="Agent without an API server: pod names from these folders."
    ),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="kubeconfig (default: $KUBECONFIG, ~/.kube)."),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
    namespace: str = typer.Option("gpu-operator", "--namespace", "-n", help="Namespace of the top agents."),
    only_node: str | None = typer.Option(None, "--only-node", help="Cluster view: one node only."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Cluster view: refresh every --interval seconds."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Who is using each shared GPU: memory and SM share per pod against its fair share.

    Without --node: asks the gpuslice-top agents through the API server. With --node: runs the agent here.
    """
    if node:
        _agent(
            once=once,
            listen=listen,
            interval=interval,
            node_name=node_name,
            strategy=strategy,
            replicas=replicas,
            socket_path=socket_path,
            proc=proc,
            replay=replay,
            pod_logs=pod_logs,
            kubeconfig=kubeconfig,
            context=context,
            output=output,
        )
        return
    _cluster(kubeconfig, context, namespace, only_node, watch, interval, output)


def _cluster(
    kubeconfig: str | None,
    context: str | None,
    namespace: str,
    only_node: str | None,
    watch: bool,
    interval: float,
    output: OutputFormat,
) -> None:
    from gpuslice.cluster.kube import KubeClient
    from gpuslice.cluster.retry import RetryPolicy
    from gpuslice.commands.cluster import _check_kubeconfig
    from gpuslice.top.view import collect, render_tables

    _check_kubeconfig(kubeconfig, context)
    # An agent that does not answer is reported, not waited for: a short retry budget per call.
    client = KubeClient(kubeconfig, context, policy=RetryPolicy(max_attempts=2, total_timeout=10.0))
    if watch and output != OutputFormat.json:
        from rich.console import Group
        from rich.live import Live

        with Live(console=console(), refresh_per_second=2, screen=False) as live:
            while True:
                t = collect(client, namespace, node=only_node)
                live.update(Group(*render_tables(t)))
                time.sleep(interval)
    while True:
        t = collect(client, namespace, node=only_node)
        if output == OutputFormat.json:
            print(json.dumps(t.to_dict(), indent=2), flush=True)
        else:
            out = console()
            for r in render_tables(t):
                out.print(r)
            if t.findings:
                print_findings(t.findings, title="top")
        if not watch:
            break
        time.sleep(interval)
    if not t.reports and t.missing:
        raise typer.Exit(2)
    raise typer.Exit(exit_code(t.findings))


def _agent(
    *,
    once: bool,
    listen: str,
    interval: float,
    node_name: str | None,
    strategy: str | None,
    replicas: int | None,
    socket_path: Path,
    proc: Path,
    replay: Path | None,
    pod_logs: Path,
    kubeconfig: str | None,
    context: str | None,
    output: OutputFormat,
) -> None:
    from gpuslice.errors import GpusliceError
    from gpuslice.top.agent import Agent, Sharing, pods_from_api, pods_from_log_dir, sampler_report, serve
    from gpuslice.top.nvml import NvmlSampler, ReplaySampler
    from gpuslice.top.podresources import list_allocations

    err = console(stderr=True)
    host, _, port_s = listen.rpartition(":")
    try:
        port = int(port_s)
    except ValueError:
        raise GpusliceError(f"--listen {listen}: give HOST:PORT, e.g. 0.0.0.0:9400") from None
    name = node_name or os.environ.get("NODE_NAME") or socket.gethostname()
    sampler = ReplaySampler(replay) if replay else NvmlSampler(interval=interval, proc=proc)
    kube = _kube_or_none(kubeconfig, context, err)
    warned: set[str] = set()

    def warn_once(key: str, msg: str) -> None:
        if key not in warned:
            warned.add(key)
            err.print(f"[yellow]warning:[/] {_esc(msg)}")

    def sharing() -> Sharing:
        labels: dict[str, str] = {}
        if kube is not None and (strategy is None or replicas is None):
            try:
                labels = ((kube.get("nodes", name) or {}).get("metadata") or {}).get("labels") or {}
            except GpusliceError as e:
                warn_once("node", f"cannot read node {name}'s labels ({e}); sharing shown as unknown")
        s = Sharing.from_node_labels(labels)
        return Sharing(strategy=strategy or s.strategy, replicas=replicas or s.replicas, resource=s.resource)

    def pods() -> dict[str, Any]:
        if kube is not None:
            try:
                doc = kube.list("pods", None, field_selector=f"spec.nodeName={name}") or {}
                return pods_from_api(doc.get("items") or [])
            except GpusliceError as e:
                warn_once("pods", f"cannot list pods on {name} ({e}); names from /var/log/pods")
        return pods_from_log_dir(pod_logs)

    def allocations() -> list[Any]:
        if not socket_path.exists():
            warn_once("sock", f"{socket_path}: no pod-resources socket; replicas held per pod unknown")
            return []
        try:
            return list_allocations(socket_path)
        except GpusliceError as e:
            warn_once("alloc", str(e))
            return []

    sample = sampler_report(sampler, node=name, sharing=sharing, pods=pods, allocations=allocations, proc=proc)
    agent = Agent(sample, interval=interval)
    if once:
        if not replay:
            time.sleep(min(interval, 2.0))  # let NVML collect utilisation samples for the window
        rep = agent.tick()
        if rep is None:
            raise GpusliceError(f"sampling failed: {agent.error}")
        if output == OutputFormat.json:
            print(json.dumps(rep, indent=2))
        else:
            from gpuslice.findings import Finding
            from gpuslice.top.view import ClusterTop, render_tables

            out = console()
            for r in render_tables(ClusterTop(reports=[rep])):
                out.print(r)
            fs = [Finding(**{**f, "evidence": tuple(f["evidence"])}) for f in rep.get("findings") or []]
            if fs:
                print_findings(fs, title="top")
        return
    server = serve(agent, host or "0.0.0.0", port)
    err.print(f"gpuslice top agent on {name}: http://{host or '0.0.0.0'}:{server.server_port}/metrics, /json")
    try:
        agent.run()
    finally:
        server.shutdown()


def _kube_or_none(kubeconfig: str | None, context: str | None, err: Any) -> Any:
    """The API server when one is configured (in a pod: the service account); None when there is none."""
    if not (kubeconfig or context or os.environ.get("KUBECONFIG") or os.environ.get("KUBERNETES_SERVICE_HOST")):
        return None
    from gpuslice.cluster.kube import KubeClient
    from gpuslice.errors import GpusliceError

    try:
        return KubeClient(kubeconfig, context)
    except GpusliceError as e:
        err.print(f"[yellow]warning:[/] no API server ({_esc(str(e))}); pod names from /var/log/pods")
        return None
