"""check, plan, render, schema, explain."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import typer

from gpuslice.commands._common import (
    OUTPUT_OPTION,
    OutputFormat,
    _esc,
    console,
    exit_code,
    findings_json,
    handle_errors,
    print_findings,
)

SPEC_ARG = typer.Argument(..., help="Path to gpuslice.yaml", show_default=False, metavar="SPEC")
OUT_OPTION = typer.Option(
    Path("gpuslice-out"),
    "--out-dir",
    "-d",
    help="Output folder, replaced atomically; only an empty one or one gpuslice wrote, unless --overwrite.",
)
OVERWRITE_OPTION = typer.Option(
    False, "--overwrite", help="Replace the output folder even if it holds files gpuslice did not write."
)
CHART_OPTION = typer.Option(None, "--chart", help="Local GPU Operator chart folder or .tgz (default: chart repo).")
HELM_OPTION = typer.Option(None, "--helm", help="helm binary (default: $GPUSLICE_HELM, then PATH).")
MIRROR_TOOL_OPTION = typer.Option("crane", "--mirror-tool", help="crane or skopeo, for mirror.sh.")
AMI_ID_OPTION = typer.Option(
    None,
    "--ami-id",
    help="POOL=ami-...: the AMI for that pool's managed node group launch template (custom-AMI OSes, e.g. Ubuntu). "
    "Repeatable; wins over nodePools[].amiId.",
)
RESOLVE_AMIS_OPTION = typer.Option(
    False,
    "--resolve-amis",
    help="Read the public AMI SSM parameters with your AWS credentials (boto3, the 'aws' extra); "
    "otherwise nodegroups/<pool>/create-nodegroup.sh resolves them with the AWS CLI.",
)


def _ami_ids(values: list[str] | None) -> dict[str, str]:
    import re

    from gpuslice.errors import GpusliceError

    out: dict[str, str] = {}
    for v in values or []:
        pool, sep, ami = v.partition("=")
        if not sep or not pool or not re.fullmatch(r"ami-[0-9a-f]{8,17}", ami):
            raise GpusliceError(
                f"--ami-id {v!r}: expected POOL=ami-<8 to 17 hex digits>, e.g. a10g=ami-0abc12345def67890"
            )
        out[pool] = ami
    return out


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("plan")(plan)
    app.command("render")(render)
    app.command("schema")(schema)
    app.command("explain")(explain)


@handle_errors
def check(spec: Path = SPEC_ARG, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Preflight: report every known trap in SPEC with a fix, before anything is installed."""
    from gpuslice import api
    from gpuslice.checks.report import print_report, summary

    r = api.load(spec)
    findings = api.check(r)
    if output == OutputFormat.json:
        print(findings_json(findings, spec=str(spec), summary=summary(findings)))
    else:
        print_report(findings, r, console())
    raise typer.Exit(exit_code(findings))


def _plan(
    spec: Path,
    out: Path,
    chart: Path | None,
    helm: str | None,
    mirror_tool: str,
    *,
    force: bool,
    status: str,
    overwrite: bool,
    ami_ids: dict[str, str] | None = None,
    resolve_amis: bool = False,
) -> Any:
    """What plan and render share: validate the options, then check + render (OUT too) with a status line."""
    from gpuslice import api
    from gpuslice._gc import gc_paused
    from gpuslice.errors import GpusliceError
    from gpuslice.render import RenderOptions

    if mirror_tool not in ("crane", "skopeo"):
        raise GpusliceError(f"--mirror-tool must be crane or skopeo, not {mirror_tool!r}")
    # OUT is checked by api.plan as soon as the spec is read (it knows every input then: operator.chart too).
    if ami_ids:
        pools = {p.name for p in api.load(spec).pools}
        unknown = sorted(set(ami_ids) - pools)
        if unknown:
            raise GpusliceError(
                f"--ami-id names no pool of {spec}: {', '.join(unknown)} (pools: {', '.join(sorted(pools))})"
            )
    options = RenderOptions(
        chart=chart, helm=helm, mirror_tool=mirror_tool, ami_ids=ami_ids or {}, resolve_amis=resolve_amis
    )
    with console(stderr=True).status(f"{status} {_esc(str(spec))}") as st, gc_paused():
        return api.plan(
            spec,
            out,
            force=force,
            overwrite=overwrite,
            options=options,
            progress=lambda text: st.update(f"{status} {_esc(str(spec))}: {_esc(text)}"),
        )


@handle_errors
def plan(
    spec: Path = SPEC_ARG,
    out: Path = OUT_OPTION,
    force: bool = typer.Option(False, "--force", help="Render even when checks report errors."),
    chart: Path | None = CHART_OPTION,
    helm: str | None = HELM_OPTION,
    mirror_tool: str = MIRROR_TOOL_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
    ami_id: list[str] | None = AMI_ID_OPTION,
    resolve_amis: bool = RESOLVE_AMIS_OPTION,
) -> None:
    """Check SPEC, then render every artifact into the --out-dir folder (values, sharing config, bootstrap, images).

    SPEC may be - (standard input). Refuses to render on check errors unless --force.
    """
    res = _plan(
        spec,
        out,
        chart,
        helm,
        mirror_tool,
        force=force,
        status="checking and rendering",
        overwrite=overwrite,
        ami_ids=_ami_ids(ami_id),
        resolve_amis=resolve_amis,
    )
    if output == OutputFormat.json:
        from gpuslice.checks.report import summary

        print(
            findings_json(
                res.findings,
                spec=str(spec),
                summary=summary(res.findings),
                refused=res.refused,
                out=str(res.out_dir) if res.out_dir else None,
                files=res.files,
            )
        )
    else:
        print_findings(res.findings, title="check")
        c = console()
        if res.refused:
            from gpuslice.checks.report import print_lines, wrap_markup

            errors = sorted({f.id for f in res.findings if f.severity.value == "error"})
            said = (
                f"Not rendered: the checks above found {len(errors)} kind(s) of error: {', '.join(errors)}. "
                "Fix them, or pass --force (gpuslice explain <id> says more)."
            )
            # wrapped at spaces to the terminal like the findings above it: an id is never cut by the terminal
            print_lines(c, wrap_markup(said, c.width, lead="Not rendered:", lead_style="bold red"))
        else:
            from gpuslice.checks.report import print_lines

            c.print(f"[green]Wrote {len(res.files)} files to {_esc(str(out))}[/]")
            print_lines(c, [f"  {f}" for f in res.files], markup=False)
    raise typer.Exit(1 if res.refused or not res.ok else 0)


@handle_errors
def render(
    spec: Path = SPEC_ARG,
    out: Path = OUT_OPTION,
    chart: Path | None = CHART_OPTION,
    helm: str | None = HELM_OPTION,
    mirror_tool: str = MIRROR_TOOL_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
    ami_id: list[str] | None = AMI_ID_OPTION,
    resolve_amis: bool = RESOLVE_AMIS_OPTION,
) -> None:
    """Render every artifact into the --out-dir folder without refusing on check errors (plan = check + render)."""
    res = _plan(
        spec,
        out,
        chart,
        helm,
        mirror_tool,
        force=True,
        status="rendering",
        overwrite=overwrite,
        ami_ids=_ami_ids(ami_id),
        resolve_amis=resolve_amis,
    )
    found = res.rendered.findings if res.rendered else []
    if output == OutputFormat.json:
        from gpuslice.checks.report import summary

        print(
            findings_json(
                found,
                spec=str(spec),
                summary=summary(found),
                out=str(res.out_dir),
                files=res.files,
            )
        )
    else:
        if found:
            print_findings(found, title="render", verdict="rendered anyway (plan would refuse)")
        console().print(f"[green]Wrote {len(res.files)} files to {_esc(str(out))}[/]")
    errors = sorted({f.id for f in (res.rendered.findings if res.rendered else []) if f.severity.value == "error"})
    if errors:
        # render renders whatever the checks say (plan is check + render); a script still learns it on stderr.
        console(stderr=True).print(
            f"[bold red]render: {len(errors)} kind(s) of error in the rendered output[/] ({_esc(', '.join(errors))}); "
            "the files were written anyway. gpuslice explain <id> says more."
        )
    raise typer.Exit(exit_code(res.rendered.findings if res.rendered else []))


@handle_errors
def schema(
    out: Path | None = typer.Option(None, "--out-file", help="Write to a file instead of stdout."),
) -> None:
    """Print the JSON Schema of gpuslice.yaml (for editors and CI validation)."""
    from gpuslice.output import write_file_atomic
    from gpuslice.spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        write_file_atomic(out, text)
    else:
        print(text, end="")


@handle_errors
def explain(
    finding_id: str = typer.Argument(..., help="A finding id, e.g. names-collision", metavar="ID"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Explain a finding id: what it means, who reports it and where the rule comes from."""
    import difflib

    from gpuslice.errors import GpusliceError
    from gpuslice.findings import registry

    reg = registry()
    info = reg.get(finding_id)
    if info is None:
        hint = difflib.get_close_matches(finding_id, list(reg), n=3)
        raise GpusliceError(
            f"unknown finding id {finding_id!r}" + (f"; did you mean {', '.join(hint)}?" if hint else "")
        )
    if output is OutputFormat.json:
        d = dataclasses.asdict(info)
        print(json.dumps({**d, "severity": info.severity.value}, indent=2))
        return
    print(f"{finding_id}: {info.explanation}")
    print(f"  reported by: {info.owner} · severity: {info.severity.value}" + (f" · {info.kind}" if info.kind else ""))
    if info.reference:
        print(f"  reference: {info.reference}")


def all_finding_docs() -> dict[str, str]:
    """Every finding id gpuslice can report -> its explanation (the finding registry)."""
    from gpuslice.findings import registry

    return {i.id: i.explanation for i in registry().values()}
