"""The operator's driver container."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase, pod_unhealthy
from gpuslice.cluster.doctor.operands import crash_summary
from gpuslice.findings import Finding, Severity


def check(ctx: DoctorContext) -> Iterable[Finding]:
    sig = k.signature("kernel-headers")
    ev = Evidence()
    for pod in ctx.operator_pods("driver"):
        if not pod_unhealthy(pod):
            continue
        for t in ctx.texts_of(pod):
            mt = sig.search(t.text)
            if mt:
                node = ctx.view.node(pod.spec.node_name)
                kern = (
                    f" (kernel {node.status.node_info.kernel_version}, {node.os_image})"
                    if node and node.status.node_info
                    else ""
                )
                ev.add("k", f"{t.ref}{kern}: {k.excerpt(t.text, mt)}", pod.spec.node_name)
                summary = crash_summary(ctx, pod)
                if summary:
                    ev.add("k", summary, pod.spec.node_name)
                break
    if not ev.groups:
        return []
    nodes = ev.node_names("k")
    return [
        finding(
            "driver-kernel-headers",
            Severity.ERROR,
            f"the NVIDIA driver container cannot build for the running kernel on {nodes_phrase(nodes)}: no kernel "
            "headers for it in the OS repositories",
            "Use precompiled drivers (driver.usePrecompiled: true, Ubuntu) or point driver.repoConfig at repositories "
            "that still have this kernel's headers; or run a kernel the repositories have; or use an AMI with the "
            "driver pre-installed (al2023-nvidia) so the operator does not build one.",
            evidence=ev.lines("k"),
            pool=ctx.pool_name(nodes),
            reference="https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/install-gpu-operator-outdated-kernels.html",
        )
    ]
