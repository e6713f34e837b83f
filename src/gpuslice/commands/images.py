"""images: every image the GPU Operator release makes the cluster pull, source -> mirror, or a mirror script."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from gpuslice.commands._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    OUTPUT_OPTION,
    OutputFormat,
    _esc,
    console,
    handle_errors,
)


class ImagesFormat(StrEnum):
    list = "list"
    mirror_script = "mirror-script"


class MirrorTool(StrEnum):
    crane = "crane"
    skopeo = "skopeo"


def register(app: typer.Typer) -> None:
    app.command("images")(images)


@handle_errors
def images(
    spec: Path = typer.Argument(..., help="Path to gpuslice.yaml", show_default=False, metavar="SPEC"),
    chart: Path | None = typer.Option(None, "--chart", help="Local GPU Operator chart folder or .tgz."),
    helm: str | None = typer.Option(None, "--helm", help="helm binary, only used to pull the chart."),
    fmt: ImagesFormat = typer.Option(
        ImagesFormat.list,
        "--format",
        "-f",
        help="list: source -> mirror; mirror-script: a bash script copying them. With -o json/yaml, mirror-script "
        "adds the script's text to the document (mirrorScript.text; e.g. jq -r .mirrorScript.text > mirror.sh).",
    ),
    tool: MirrorTool = typer.Option(MirrorTool.crane, "--mirror-tool", help="crane or skopeo (mirror-script)."),
    all_images: bool = typer.Option(
        False,
        "--all-images",
        help="Also list images of enabled components the release does not run (sandbox/vGPU/CC operands, "
        "MIG manager without MIG GPUs, ...).",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Every image the release runs (operator, operands, NFD, driver per pool OS), source -> mirror.

    Images of components the operator does not run for this spec are left out (--all-images lists them).

    Exit 1 when a mirror is configured but some image has no mirror rule.

    -o json/yaml: the inventory as one document; --format mirror-script adds the script to it (mirrorScript.text).
    """
    from gpuslice import api
    from gpuslice.chart import locate_chart
    from gpuslice.images import images_text, mirror_script
    from gpuslice.render.operator import image_inventory

    r = api.load(spec)
    with console(stderr=True).status("reading the chart's images") as st:
        inv = image_inventory(r, locate_chart(r, chart, helm=helm, progress=lambda text: st.update(_esc(text))))
    left_out = len(inv.not_run)
    if all_images:
        inv = inv.with_all_images()
    if output == OutputFormat.json:
        doc = {"spec": str(spec), "chartVersion": r.chart_version, **inv.to_dict()}
        if fmt == ImagesFormat.mirror_script:
            # The document stays the inventory (a script reading .images works with either --format); the script
            # a script user asked for rides along rather than being dropped.
            doc["mirrorScript"] = {"tool": tool.value, "text": mirror_script(inv, tool.value, title=r.deployment_id)}
        print(json.dumps(doc, indent=2))
    elif fmt == ImagesFormat.mirror_script:
        print(mirror_script(inv, tool.value, title=r.deployment_id), end="")
    else:
        print(images_text(inv), end="")
    from rich.markup import escape

    err = console(stderr=True)
    for w in inv.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    for i in inv.unmapped:
        err.print(f"[bold red]error:[/] no registry mirror rule covers {escape(i.source)}")
    if left_out and not all_images and output != OutputFormat.json:
        err.print(
            f"{left_out} image(s) of components this release does not run are left out (--all-images lists them)."
        )
    raise typer.Exit(EXIT_FINDINGS if inv.unmapped else EXIT_OK)
