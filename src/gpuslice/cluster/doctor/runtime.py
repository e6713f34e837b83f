"""The container runtime on GPU nodes: the toolkit's hook and containerd's nvidia runtime handler."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase
from gpuslice.cluster.doctor.operands import crash_summary
from gpuslice.findings import Finding, Severity


def _scan(ctx: DoctorContext, sig: k.Signature, log_keys: tuple[str, ...]) -> Evidence:
    ev = Evidence()
    log_pods = {id(p) for key in log_keys for p in ctx.operator_pods(key)}
    for pod in ctx.unhealthy_pods:
        logs = id(pod) in log_pods
        for t in ctx.texts_of(pod, logs=logs):
            mt = sig.search(t.text)
            if mt:
                ev.add(sig.id, f"{t.ref}: {k.excerpt(t.text, mt)}", t.node)
                summary = crash_summary(ctx, pod)
                if summary:
                    ev.add(sig.id, summary, t.node)
                break
    for e, t, mt in ctx.search_events(sig):
        node = t.node
        ev.add(sig.id, f"{t.ref}: {k.excerpt(t.text, mt)}", node)
        o = e.obj
        summary = (
            crash_summary(ctx, ctx.view.pod(o.namespace or e.metadata.namespace, o.name)) if o.kind == "Pod" else None
        )
        if summary:
            ev.add(sig.id, summary, node)
    return ev


def check(ctx: DoctorContext) -> Iterable[Finding]:
    out = []
    glibc = _scan(ctx, k.signature("glibc"), ("toolkit", "validator", "device-plugin"))
    if glibc.groups:
        nodes = glibc.node_names("glibc")
        oses = sorted({n.os_image for n in (ctx.view.node(x) for x in nodes) if n and n.os_image})
        os_note = f" (node OS: {', '.join(oses)})" if oses else ""
        out.append(
            finding(
                "toolkit-glibc",
                Severity.ERROR,
                f"GPU containers fail on {nodes_phrase(nodes)}: the host's glibc is older than the NVIDIA container "
                f"toolkit needs (GLIBC_2.27){os_note}",
                "Do not let the operator install its toolkit on Amazon Linux 2: use the AMI's pre-installed driver and "
                "toolkit (spec `os: al2`; gpuslice then labels the pool nvidia.com/gpu.deploy.driver=false and "
                "nvidia.com/gpu.deploy.container-toolkit=false), or better move the pool to al2023-nvidia.",
                evidence=glibc.lines("glibc"),
                pool=ctx.pool_name(nodes),
                reference="https://github.com/NVIDIA/gpu-operator/issues/755",
            )
        )
    rt = _scan(ctx, k.signature("no-nvidia-runtime"), ("toolkit",))
    if rt.groups:
        nodes = rt.node_names("no-nvidia-runtime")
        toolkit = {p.spec.node_name: p for p in ctx.operator_pods("toolkit")}
        lines = list(rt.lines("no-nvidia-runtime"))
        for n in nodes[:3]:
            tp = toolkit.get(n)
            lines.append(
                f"node {n}: "
                + (f"toolkit {tp.ref} is {tp.display_status()}" if tp else "no nvidia-container-toolkit pod runs there")
            )
        sig = k.signature("no-nvidia-runtime")
        handlers = sorted(
            {
                h
                for line in rt.lines("no-nvidia-runtime")
                if (mt := sig.search(line))
                for h in (mt.group("handler"), mt.group("handler2"))
                if h
            }
        ) or ["nvidia"]
        out.append(
            finding(
                "runtime-nvidia-missing",
                Severity.ERROR,
                f"the container runtime (containerd or CRI-O) has no {', '.join(f'`{h}`' for h in handlers)} runtime "
                f"handler on {nodes_phrase(nodes)}, so GPU pods cannot start",
                "Check the nvidia-container-toolkit-daemonset pod on those nodes (its log says which containerd config "
                "it wrote). On k3s/RKE2 set the toolkit's CONTAINERD_CONFIG/CONTAINERD_SOCKET; on OSes that bring their "
                "own toolkit (AL2023 NVIDIA, Bottlerocket) make sure the pool is labelled "
                "nvidia.com/gpu.deploy.container-toolkit=false and the AMI's runtime is the default.",
                evidence=tuple(lines),
                pool=ctx.pool_name(nodes),
            )
        )
    return out
