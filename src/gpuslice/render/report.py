"""PLAN.md: what was rendered, for which pools, and what the checks found."""

from __future__ import annotations

from gpuslice.findings import Finding
from gpuslice.resolve import ResolvedSpec


def plan_markdown(r: ResolvedSpec, findings: list[Finding], files: list[str]) -> str:
    s = r.spec
    lines = [
        f"# gpuslice plan: {s.cluster.name} ({r.deployment_id})",
        "",
        f"- Kubernetes {s.cluster.kubernetes_version} on {s.cluster.provider}"
        + (f" in {s.cluster.region}" if s.cluster.region else ""),
        f"- GPU Operator chart {r.chart_version}, release `{r.release_name}` in namespace `{r.namespace}`",
        f"- Device-plugin config ConfigMap `{r.device_plugin_configmap}` (default key `exclusive`)",
        f"- Operator-managed driver: {'yes' if r.driver_enabled else 'no'}; "
        f"toolkit: {'yes' if r.toolkit_enabled else 'no'}",
    ]
    if r.proxy or r.mirror_rules:
        lines.append(f"- Registry: proxy `{r.proxy}`" if r.proxy else "- Registry: mirror rules")
        for m in r.mirror_rules:
            lines.append(f"  - `{m.source}` -> `{m.mirror}`")
    lines += [
        "",
        "## Node pools",
        "",
        "| pool | instance | OS | GPUs | GPU memory | sharing | config key |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in r.pools:
        g = p.gpu
        gpus = f"{g.count} x {g.model}" if g.count else "unknown"
        mem = f"{g.memory_gib:g} GiB" if g.memory_gib else "?"
        sh = p.sharing
        sharing = f"{sh.strategy} x{sh.replicas}" if sh.shared else "exclusive"
        key = p.node_labels.get("nvidia.com/device-plugin.config", "(Bottlerocket settings)")
        lines.append(
            f"| {p.name} | {p.spec.instance_type or '-'} | {p.spec.os} | {gpus} | {mem} | {sharing} | `{key}` |"
        )
    from gpuslice.providers import provider_of

    lines += ["", *provider_of(r).plan_notes(r)]
    lines += ["## Findings", ""]
    if not findings:
        lines.append("None.")
    for f in findings:
        where = f" [{f.pool}]" if f.pool else ""
        lines.append(f"- **{f.severity.value}** `{f.id}`{where}: {f.message}")
        if f.fix:
            lines.append(f"  - fix: {f.fix}")
    lines += ["", "## Files", ""] + [f"- `{name}`" for name in files]
    return "\n".join(lines) + "\n"
