"""DNS on nodes whose /etc/resolv.conf points at systemd-resolved's stub listener (Ubuntu).

Two different failures look alike: (1) the kubelet hands pods a resolv.conf whose only nameserver is 127.0.0.53 -
inside a pod (or CoreDNS, which forwards to it) that is the pod itself, so lookups fail or loop; the kubelet must
read the non-stub file /run/systemd/resolve/resolv.conf (Canonical's EKS bootstrap and gpuslice's set it).
(2) A DNS server with hostNetwork that binds 0.0.0.0:53 cannot start while systemd-resolved listens on
127.0.0.53:53. gpuslice's node bootstrap handles (2) when the pool says ``hostNetworkDns: true``: it writes a
resolved.conf.d drop-in with ``DNSStubListener=no``, restarts systemd-resolved and re-links /etc/resolv.conf to the
non-stub file (``render/bootstrap``: ``node_files``, ``node-setup.sh setup_dns``). The rules mirror that: the port
conflict is guidance (info), and the kubelet's resolv.conf is judged as the bootstrap leaves the node - with the stub
off, /etc/resolv.conf is the non-stub file, but stub-resolv.conf names a listener that no longer exists.
Which OS has the stub comes from the catalog (``systemd_resolved_stub``, ``kubelet_resolv_conf``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedPool, ResolvedSpec

DNS_REF = "https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/#known-issues"
RESOLVED_REF = "https://www.freedesktop.org/software/systemd/man/latest/resolved.conf.html#DNSStubListener="
ETC_RESOLV = "/etc/resolv.conf"
STUB_RESOLV = "/run/systemd/resolve/stub-resolv.conf"


def _stub_files(p: ResolvedPool) -> tuple[str, ...]:
    """The resolv.conf paths that name 127.0.0.53 once the node bootstrap has run."""
    if p.spec.host_network_dns:
        return (STUB_RESOLV,)  # /etc/resolv.conf was re-linked to the non-stub file
    return (ETC_RESOLV, STUB_RESOLV)


def check(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        o = p.os
        if o is None or not o.systemd_resolved_stub:
            continue
        effective = p.kubelet_resolv_conf  # the spec's, else the OS's (resolve)
        if effective and posixpath.normpath(effective) in _stub_files(p):
            why = (
                " (the bootstrap turns the stub listener off for hostNetworkDns, so nothing answers there)"
                if p.spec.host_network_dns
                else ""
            )
            yield Finding(
                id="dns-kubelet-stub-resolver",
                severity=Severity.ERROR,
                pool=p.name,
                message=(
                    f"kubeletResolvConf is {effective}, whose nameserver on {o.display} is systemd-resolved's "
                    f"stub 127.0.0.53{why}: pods and CoreDNS cannot resolve names through it."
                ),
                fix=(
                    f"Remove kubeletResolvConf (gpuslice then uses {o.kubelet_resolv_conf}) or set it to "
                    f"{o.kubelet_resolv_conf}."
                ),
                reference=DNS_REF,
                path=pool_path(p, "kubeletResolvConf"),
            )
        if p.spec.host_network_dns:
            yield Finding(
                id="dns-hostnetwork-port53",
                severity=Severity.INFO,
                pool=p.name,
                message=(
                    f"A hostNetwork DNS server runs on these {o.display} nodes, where systemd-resolved's stub "
                    f'listens on 127.0.0.53:53 (a server binding 0.0.0.0:53 fails with "address already in '
                    f"use\"). gpuslice's bootstrap turns the stub listener off (DNSStubListener=no) and "
                    f"re-links /etc/resolv.conf to the non-stub /run/systemd/resolve/resolv.conf."
                ),
                fix=(
                    "Nothing, for nodes built from gpuslice's user-data. Nodes built another way need the same "
                    "drop-in (/etc/systemd/resolved.conf.d/ with DNSStubListener=no, then restart "
                    "systemd-resolved), or a DNS server that binds the node's own addresses, not 0.0.0.0."
                ),
                reference=RESOLVED_REF,
                path=pool_path(p, "hostNetworkDns"),
            )
