"""DNS on nodes whose /etc/resolv.conf points at systemd-resolved's stub listener (Ubuntu).

Two different failures look alike: (1) the kubelet hands pods /etc/resolv.conf, whose only nameserver is
127.0.0.53 - inside a pod (or CoreDNS, which forwards to it) that is the pod itself, so lookups fail or loop; the
kubelet must read the non-stub file /run/systemd/resolve/resolv.conf (Canonical's EKS bootstrap sets it).
(2) A DNS server with hostNetwork that binds 0.0.0.0:53 cannot start, because systemd-resolved already listens on
127.0.0.53:53; it must bind specific addresses, or the stub listener must be turned off (DNSStubListener=no).
Which OS has the stub comes from the catalog (``systemd_resolved_stub``, ``kubelet_resolv_conf``).
"""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedSpec

DNS_REF = "https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/#known-issues"
RESOLVED_REF = "https://www.freedesktop.org/software/systemd/man/latest/resolved.conf.html#DNSStubListener="
STUB_FILES = ("/etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf")

IDS = {
    "dns-kubelet-stub-resolver": (
        "The kubelet is told to read a resolv.conf whose nameserver is systemd-resolved's stub 127.0.0.53. Pods "
        "(and CoreDNS forwarding upstream) would query 127.0.0.53 inside their own network namespace: lookups fail, "
        "or CoreDNS's loop plugin crashes CoreDNS. Point the kubelet at /run/systemd/resolve/resolv.conf."
    ),
    "dns-hostnetwork-port53": (
        "A DNS server with hostNetwork binding 0.0.0.0:53 conflicts with systemd-resolved's stub listener on "
        "127.0.0.53:53 (\"address already in use\"). Bind the server to specific addresses, or disable the stub "
        "(DNSStubListener=no in a resolved.conf.d drop-in) in the node bootstrap."
    ),
}


def check(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        o = p.os
        if o is None or not o.systemd_resolved_stub:
            continue
        effective = p.spec.kubelet_resolv_conf or o.kubelet_resolv_conf
        if effective and effective.rstrip("/") in STUB_FILES:
            yield Finding(
                id="dns-kubelet-stub-resolver",
                severity=Severity.ERROR,
                pool=p.name,
                message=(f"kubeletResolvConf is {effective}, whose nameserver on {o.display} is systemd-resolved's "
                         f"stub 127.0.0.53: pods and CoreDNS cannot reach it from their own network namespace."),
                fix=(f"Remove kubeletResolvConf (gpuslice then uses {o.kubelet_resolv_conf}) or set it to "
                     f"{o.kubelet_resolv_conf}."),
                reference=DNS_REF,
                path=pool_path(p, "kubeletResolvConf"),
            )
        if p.spec.host_network_dns:
            yield Finding(
                id="dns-hostnetwork-port53",
                severity=Severity.WARNING,
                pool=p.name,
                message=(f"A hostNetwork DNS server runs on these {o.display} nodes; systemd-resolved's stub "
                         f"already listens on 127.0.0.53:53, so a server binding 0.0.0.0:53 fails with "
                         f"\"address already in use\"."),
                fix=("Bind the DNS server to the node's own addresses (not 0.0.0.0), or disable the stub in the "
                     "node bootstrap: DNSStubListener=no in /etc/systemd/resolved.conf.d/ and restart "
                     "systemd-resolved. Keep the kubelet on the non-stub resolv.conf either way."),
                reference=RESOLVED_REF,
                path=pool_path(p, "hostNetworkDns"),
            )
