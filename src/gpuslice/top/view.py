"""The cluster view of ``gpuslice top``: ask every node agent through the API server's pod proxy, print one table
per GPU.

The agents are the pods of the ``gpuslice-top`` DaemonSet (``render`` writes it when the spec enables ``top``);
each serves its latest report on ``/json``. A node whose agent does not answer is reported, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpuslice.findings import Finding
from gpuslice.top.findings import findings_from_reports

AGENT_SELECTOR = "app.kubernetes.io/name=gpuslice-top"
AGENT_PORT = 9400


class _Client(Protocol):
    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> dict[str, Any] | None: ...

    def pod_proxy_get(self, namespace: str, pod: str, port: int, path: str) -> bytes: ...


@dataclass
class ClusterTop:
    reports: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "node (pod): why"
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "unreachable": self.missing,
            "findings": [f.to_dict() for f in self.findings],
        }


def collect(
    client: _Client,
    namespace: str | None,
    selector: str = AGENT_SELECTOR,
    port: int = AGENT_PORT,
    node: str | None = None,
) -> ClusterTop:
    """Reports of the agents in ``namespace`` (None: every namespace)."""
    from gpuslice.errors import GpusliceError

    doc = client.list("pods", namespace, label_selector=selector) or {}
    pods = doc.get("items") or []
    out = ClusterTop()
    if not pods:
        out.missing.append(
            f"no gpuslice-top agent pods in {f'namespace {namespace}' if namespace else 'any namespace'} "
            f"(selector {selector}): enable `top` in the spec and "
            "apply the rendered top-agent.yaml"
        )
    for p in sorted(pods, key=lambda p: (p.get("spec") or {}).get("nodeName") or ""):
        name = (p.get("metadata") or {}).get("name", "?")
        pod_ns = (p.get("metadata") or {}).get("namespace") or namespace or "default"
        where = (p.get("spec") or {}).get("nodeName") or "?"
        if node and where != node:
            continue
        phase = (p.get("status") or {}).get("phase")
        if phase != "Running":
            out.missing.append(f"{where} ({name}): agent pod is {phase or 'not running'}")
            continue
        try:
            body = client.pod_proxy_get(pod_ns, name, port, "json")
            rep = json.loads(body)
        except GpusliceError as e:  # an API error, or retries that ran out
            out.missing.append(f"{where} ({name}): {str(e).splitlines()[-1]}")
            continue
        except ValueError:
            out.missing.append(f"{where} ({name}): answer is not JSON")
            continue
        if not isinstance(rep, dict) or rep.get("kind") != "GpusliceTopReport":
            out.missing.append(f"{where} ({name}): {rep.get('error') if isinstance(rep, dict) else 'bad answer'}")
            continue
        out.reports.append(rep)
    out.findings = findings_from_reports(out.reports)
    return out


def _gib(n: Any) -> str:
    return "-" if n is None else f"{n / (1 << 30):.1f}"


def _pct(x: Any) -> str:
    return "-" if x is None else f"{x:.0f}%"


def render_tables(top: ClusterTop) -> list[Any]:
    """rich renderables: one table per GPU, then the unreachable agents."""
    from rich.table import Table
    from rich.text import Text

    out: list[Any] = []
    for rep in top.reports:
        strategy = (rep.get("sharing") or {}).get("strategy", "unknown")
        for g in rep.get("gpus") or []:
            fair = g.get("fairShareBytes")
            title = (
                f"{rep.get('node')} · GPU {g.get('index')} {g.get('name')} · {strategy} x{g.get('replicas')} · "
                f"{_gib(g.get('memoryUsedBytes'))}/{_gib(g.get('memoryTotalBytes'))} GiB · util "
                f"{_pct(g.get('utilization'))}"
            )
            t = Table(title=title, title_justify="left", expand=False, pad_edge=False)
            t.add_column("pod (container)", overflow="fold", ratio=1)
            t.add_column("rep", no_wrap=True, justify="right")
            t.add_column("GiB used/share", no_wrap=True, justify="right")
            t.add_column("use", no_wrap=True, justify="right")
            t.add_column("SM", no_wrap=True, justify="right")
            t.add_column("note", overflow="fold")
            for r in g.get("pods") or []:
                held = max(int(r.get("replicas") or 0), 1)
                share = r.get("shareOfFairShare")
                note = ""
                if strategy == "time-slicing" and share is not None and share > 1:
                    note = "[red]over its share[/]"
                elif r.get("replicas") and not r.get("processes"):
                    note = "[dim]idle replica[/]"
                elif strategy == "mps" and g.get("mpsPinnedLimitBytes"):
                    note = f"MPS limit {_gib(g['mpsPinnedLimitBytes'] * held)}"
                t.add_row(
                    Text(f"{r['namespace']}/{r['pod']} ({r.get('container') or '?'})"),
                    str(r.get("replicas") or 0),
                    f"{_gib(r.get('memoryBytes'))}/{_gib(fair * held if fair else None)}",
                    "-" if share is None else f"{share * 100:.0f}%",
                    _pct(r.get("smUtil")),
                    note,
                )
            for p in g.get("processes") or []:
                if p.get("pod") is None:
                    what = "MPS server" if p.get("mpsServer") else "[yellow]no pod[/]"
                    t.add_row(
                        Text(f"pid {p['pid']} {p.get('command') or ''}"),
                        "-",
                        f"{_gib(p.get('memoryBytes'))}/-",
                        "-",
                        _pct(p.get("smUtil")),
                        what,
                    )
            out.append(t)
    for m in top.missing:
        out.append(Text(f"unreachable: {m}", style="yellow"))
    return out
