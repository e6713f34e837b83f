"""Cluster DNS on GPU nodes: CoreDNS versus systemd-resolved (Ubuntu)."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster import model as m
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase
from gpuslice.findings import Finding, Severity

_DNS_APPS = ("kube-dns", "coredns", "node-local-dns", "nodelocaldns")
_DNS_CONTAINERS = ("coredns", "node-cache")


def _dns_pods(ctx: DoctorContext) -> list[m.Pod]:
    """DNS server pods in trouble (both failures make the server exit, so a healthy one is not of interest)."""
    out = []
    for pod in ctx.unhealthy_pods:
        app = pod.metadata.label("k8s-app") or pod.metadata.label("app.kubernetes.io/name")
        if (
            app in _DNS_APPS
            or pod.name.startswith(("coredns-", "node-local-dns-"))
            or any(c.name in _DNS_CONTAINERS for c in pod.spec.containers or ())
        ):
            out.append(pod)
    return out


def check(ctx: DoctorContext) -> Iterable[Finding]:
    port = k.signature("port53-in-use")
    loop = k.signature("dns-loop")
    ev = Evidence()
    for pod in _dns_pods(ctx):
        troubled = any(s.restart_count > 0 or not s.ready for init, s in pod.statuses() if not init)
        for t in ctx.texts_of(pod, logs=troubled):
            for sig in (port, loop):
                mt = sig.search(t.text)
                if mt:
                    host = " (hostNetwork)" if pod.spec.host_network else ""
                    ev.add(sig.id, f"{t.ref}{host}: {k.excerpt(t.text, mt)}", pod.spec.node_name)
    out = []
    if port.id in ev.groups:
        nodes = ev.node_names(port.id)
        out.append(
            finding(
                "coredns-port-in-use",
                Severity.ERROR,
                f"a DNS pod cannot bind port 53 on {nodes_phrase(nodes)}: something on the node (systemd-resolved on "
                "Ubuntu) already listens there",
                "A DNS server with hostNetwork must not bind the wildcard address on Ubuntu nodes: bind specific "
                "addresses (NodeLocal DNSCache's default `bind 169.254.20.10 <kube-dns IP>`), or turn off "
                "systemd-resolved's stub listener (DNSStubListener=no in /etc/systemd/resolved.conf.d/) and point "
                "/etc/resolv.conf at /run/systemd/resolve/resolv.conf.",
                evidence=ev.lines(port.id),
                pool=ctx.pool_name(nodes),
                reference="https://github.com/coredns/coredns/issues/3834",
            )
        )
    if loop.id in ev.groups:
        nodes = ev.node_names(loop.id)
        ubuntu = [n for n in nodes if (nd := ctx.view.node(n)) and "ubuntu" in nd.os_image.lower()]
        why = " (Ubuntu nodes: /etc/resolv.conf is systemd-resolved's stub at 127.0.0.53)" if ubuntu else ""
        out.append(
            finding(
                "coredns-loop",
                Severity.ERROR,
                f"CoreDNS detected a forwarding loop and stopped on {nodes_phrase(nodes)}: its upstream resolver is "
                f"itself{why}",
                "Give kubelet the real resolver list: KubeletConfiguration resolvConf: /run/systemd/resolve/resolv.conf "
                "(`--resolv-conf`); gpuslice's Ubuntu node bootstrap sets it, so re-create the nodes from the current "
                "plan. Then restart the CoreDNS pods.",
                evidence=ev.lines(loop.id),
                pool=ctx.pool_name(nodes),
                reference="https://coredns.io/plugins/loop#troubleshooting",
            )
        )
    return out
