"""lint-config: check a hand-written device-plugin config or ConfigMap against the plugin's real rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gpuslice.commands._common import (
    OUTPUT_OPTION,
    OutputFormat,
    console,
    exit_code,
    findings_json,
    handle_errors,
    print_findings,
)


def register(app: typer.Typer) -> None:
    app.command("lint-config")(lint_config)


@handle_errors
def lint_config(
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="A device-plugin config (YAML/JSON), a ConfigMap manifest, gpu-operator / nvidia-device-plugin chart values, "
        "or a Flux HelmRelease / RKE2 HelmChart / Argo CD Application holding them.",
        show_default=False,
    ),
    default: str | None = typer.Option(
        None, "--default", help="ConfigMap key used by nodes without a label (devicePlugin.config.default); must exist."
    ),
    node_label_keys: str | None = typer.Option(
        None,
        "--node-label-keys",
        help="Comma-separated keys that nvidia.com/device-plugin.config node labels select; each must exist.",
    ),
    spec: Path | None = typer.Option(
        None,
        "--spec",
        help="Take the default, the node-label keys, the namespace and the expected settings from a gpuslice spec.",
    ),
    upstream: bool = typer.Option(
        False,
        "--upstream",
        help="Errors only where the device plugin itself fails; gpuslice's stricter rules become warnings.",
    ),
    plugin_version: str | None = typer.Option(
        None,
        "--plugin-version",
        help="Device-plugin version whose loader rules apply (e.g. v0.17.4). Default: the spec's gpu-operator chart, "
        "else a version the file names (devicePlugin.version, chart version), else the newest known.",
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Lint a device-plugin sharing config: exit 0 valid (warnings allowed), 1 invalid, 2 unreadable."""
    from gpuslice.lintconfig import lint_file

    resolved = None
    if spec is not None:
        from gpuslice import api

        resolved = api.load(spec)
    keys = [k.strip() for k in (node_label_keys or "").split(",") if k.strip()]
    result = lint_file(
        file,
        default=default,
        node_label_keys=keys,
        resolved=resolved,
        upstream=upstream,
        plugin_version=plugin_version,
    )
    if output == OutputFormat.json:
        print(findings_json(result.findings, **result.to_dict()))
    else:
        _print(result)
    raise typer.Exit(exit_code(result.findings))


def _print(result: Any) -> None:
    from rich.markup import escape

    from gpuslice.findings import Severity

    out = console()
    if result.configs:
        # One line per config (not a table: at 80 columns a table column would cut file and config names).
        out.print(f"{escape(result.file)}: {escape(result.kind)}", soft_wrap=True)
        for c in result.configs:
            res = ", ".join(f"{n} x{r}" for n, r in c.resources) or "-"
            shared = c.strategy != "none"
            parts = [
                f"strategy {c.strategy}",
                f"resources {res}",
                *(
                    [
                        f"renameByDefault {str(c.rename_by_default).lower()}",
                        f"failRequestsGreaterThanOne {str(c.fail_requests_greater_than_one).lower()}",
                    ]
                    if shared
                    else []
                ),
                f"{c.errors} error(s), {c.warnings} warning(s)",
            ]
            out.print(f"  {c.name or Path(result.file).name}: " + "; ".join(parts), markup=False, soft_wrap=True)
    if result.findings:
        print_findings(result.findings, title=result.file)
    note = f" [dim]({escape(result.plugin.note)})[/]" if result.plugin.note else ""
    out.print(f"rules: {escape(result.plugin.describe())}{note}")
    n_err = sum(1 for f in result.findings if f.severity is Severity.ERROR)
    n_warn = sum(1 for f in result.findings if f.severity is Severity.WARNING)
    verdict = "[bold red]invalid[/]" if n_err else "[green]valid[/]"
    out.print(f"{escape(result.file)}: {verdict} ({n_err} error(s), {n_warn} warning(s))")
