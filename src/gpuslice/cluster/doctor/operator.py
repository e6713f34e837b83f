"""The GPU Operator's own state: ClusterPolicy and its DaemonSets."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, finding
from gpuslice.findings import Finding, Severity


def _ds_lines(ctx: DoctorContext) -> list[str]:
    names = set(k.operator()["daemonsets"].values())
    out = []
    for ds in ctx.view.daemonsets.get(ctx.namespace, ()):
        st = ds.status
        if ds.name in names and st.desired_number_scheduled != st.number_ready:
            out.append(
                f"daemonset {ctx.namespace}/{ds.name}: desired {st.desired_number_scheduled}, ready "
                f"{st.number_ready}, unavailable {st.number_unavailable}"
            )
    return out


def _not_found(ctx: DoctorContext) -> Finding:
    from gpuslice.cluster.doctor.plugins import is_device_plugin_ds
    from gpuslice.cluster.dump import DumpSource

    plugins = sorted(
        f"{d.metadata.namespace}/{d.name}"
        for d in ctx.view.all_daemonsets()
        if d.metadata.namespace != ctx.namespace and is_device_plugin_ds(d)
    )
    if plugins and not ctx.view.clusterpolicies:
        # A device plugin without the operator (its Helm chart, eksctl's, a static manifest): nothing missing.
        return finding(
            "operator-not-found",
            Severity.INFO,
            f"no GPU Operator in namespace {ctx.namespace}; the NVIDIA device plugin runs without it "
            f"({', '.join(plugins[:3])}), so only the plugin rules apply",
            "Nothing to do if the driver and toolkit are on the nodes; pass --namespace if an operator runs elsewhere.",
            evidence=tuple(f"daemonset {p}" for p in plugins[:5]),
        )
    src = ctx.view.source
    if isinstance(src, DumpSource):
        have = src.namespaces()
        dumped = ctx.namespace in have
        return finding(
            "operator-not-found",
            Severity.WARNING,
            f"the dump has {'no GPU Operator objects in' if dumped else 'no folder for'} namespace {ctx.namespace} "
            f"(namespaces in the dump: {', '.join(have) or 'none'}), so the operator and its pods were not checked",
            "Dump the operator namespace too: `kubectl cluster-info dump --all-namespaces --output-directory DIR` "
            "(plain `cluster-info dump` covers only default and kube-system), or `gpuslice snapshot -d DIR`; pass "
            "--namespace if the operator runs elsewhere.",
            evidence=(
                f"{src.root}/{ctx.namespace}: "
                + ("no gpu-operator Deployment, DaemonSets or pods" if dumped else "missing"),
            ),
        )
    return finding(
        "operator-not-found",
        Severity.WARNING,
        f"no GPU Operator found in namespace {ctx.namespace}: no gpu-operator Deployment, DaemonSets or pods",
        "Install it (`gpuslice apply SPEC`), or pass --namespace where it runs.",
    )


def check(ctx: DoctorContext) -> Iterable[Finding]:
    out = []
    ds_lines = _ds_lines(ctx)
    cps = ctx.view.clusterpolicies
    operator_present = any(
        d.metadata.name == k.operator()["deployment"] for d in ctx.view.deployments.get(ctx.namespace, ())
    ) or bool(ctx.view.daemonsets.get(ctx.namespace))
    if not operator_present and not ctx.view.pods.get(ctx.namespace):
        out.append(_not_found(ctx))
    if cps is None:
        if operator_present:
            out.append(
                finding(
                    "clusterpolicy-not-captured",
                    Severity.INFO,
                    "ClusterPolicy is not in this dump, so its state was not checked",
                    "Use `gpuslice snapshot -d DIR` (or add `kubectl get clusterpolicies -o json > "
                    "DIR/clusterpolicies.json`) to include it.",
                )
            )
    elif not cps:
        if operator_present:
            out.append(
                finding(
                    "clusterpolicy-missing",
                    Severity.ERROR,
                    f"the GPU Operator runs in {ctx.namespace} but no ClusterPolicy exists: it deploys no operands",
                    "Install the chart with its ClusterPolicy (`gpuslice apply SPEC`), or create one.",
                )
            )
    else:
        for cp in cps:
            if cp.state == "ready":
                continue
            lines = []
            for c in (cp.status or {}).get("conditions") or ():
                if isinstance(c, dict):
                    lines.append(
                        f"condition {c.get('type')}={c.get('status')} {c.get('reason') or ''}: "
                        f"{(c.get('message') or '')[:200]}".rstrip(": ")
                    )
            lines += ds_lines
            out.append(
                finding(
                    "clusterpolicy-not-ready",
                    Severity.ERROR,
                    f"ClusterPolicy {cp.metadata.name or ''} is not ready (state: {cp.state or 'none'})",
                    "Look at the operands listed in the evidence (and at the other findings, which "
                    "usually name the cause); `gpuslice verify SPEC` re-checks once they are up.",
                    evidence=tuple(lines[:8]),
                )
            )
            ds_lines = []  # already shown
    for line in ds_lines:
        out.append(
            finding(
                "operator-daemonset-not-ready",
                Severity.WARNING,
                line.split(":", 1)[0] + " is not fully ready",
                "See the findings about its pods; `kubectl -n "
                f"{ctx.namespace} describe daemonset {line.split(':', 1)[0].rsplit('/', 1)[-1]}` shows why.",
                evidence=(line,),
            )
        )
    return out
