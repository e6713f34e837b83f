"""High-level library calls behind the CLI verbs: load -> resolve -> check -> render -> write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpuslice.chart import input_paths
from gpuslice.checks import run_checks
from gpuslice.findings import Finding, has_errors, sort_findings
from gpuslice.output import check_out_dir, write_tree
from gpuslice.render import RenderOptions, RenderResult, render_all
from gpuslice.resolve import ResolvedSpec, resolve
from gpuslice.spec import load_spec


def load(path: str | Path) -> ResolvedSpec:
    """Parse, validate and resolve a spec file (raises SpecError with every problem)."""
    return resolve(load_spec(path), file=path)


def check(path_or_resolved: str | Path | ResolvedSpec) -> list[Finding]:
    r = path_or_resolved if isinstance(path_or_resolved, ResolvedSpec) else load(path_or_resolved)
    return run_checks(r)


@dataclass
class PlanResult:
    resolved: ResolvedSpec
    findings: list[Finding]
    rendered: RenderResult | None = None
    out_dir: Path | None = None
    refused: bool = False
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not has_errors(self.findings)


def plan(
    path: str | Path,
    out_dir: str | Path = "gpuslice-out",
    *,
    force: bool = False,
    options: RenderOptions | None = None,
    write: bool = True,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PlanResult:
    """Check, then render every artifact into ``out_dir`` (atomically). Refuses on errors unless ``force``.

    ``out_dir`` is replaced only when it is empty or holds exactly what gpuslice wrote there, unless ``overwrite``;
    never when it holds (or lies in) an input: the spec or a place its chart is read from (see
    :mod:`gpuslice.output`).
    """
    say = progress or (lambda _text: None)
    say("reading the spec")
    r = load(path)
    inputs: list[str | Path] = [path, *input_paths(r, options.chart if options else None)]
    if write:
        check_out_dir(out_dir, inputs=inputs, overwrite=overwrite)
    say(f"checking {len(r.pools)} pools")
    findings = run_checks(r)
    result = PlanResult(resolved=r, findings=findings)
    if has_errors(findings) and not force:
        result.refused = True
        return result
    rendered = render_all(r, options, progress=progress)
    result.rendered = rendered
    result.findings = sort_findings([*findings, *rendered.findings])
    from gpuslice.render.report import plan_markdown

    files = dict(rendered.files)
    files["PLAN.md"] = plan_markdown(r, result.findings, sorted([*files, "PLAN.md"]))
    result.files = sorted(files)
    if write:
        say(f"writing {len(files)} files")
        result.out_dir = write_tree(
            out_dir, files, executable=tuple(rendered.executable), inputs=inputs, overwrite=overwrite
        )
    return result
