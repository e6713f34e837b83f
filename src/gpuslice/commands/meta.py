"""version, completion: about gpuslice itself."""

from __future__ import annotations

import json
import platform
import sys
from enum import StrEnum

import typer

from gpuslice.commands._common import OUTPUT_OPTION, OutputFormat, handle_errors

PROG = "gpuslice"
#: The environment variable the shell completion scripts set when they ask gpuslice for candidates.
COMPLETE_VAR = "_GPUSLICE_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def register(app: typer.Typer) -> None:
    app.command("version")(version)
    app.command("completion")(completion)


def _helm() -> dict[str, str | None]:
    """Which helm gpuslice would run, and its version; or why there is none (with what to do)."""
    import subprocess

    from gpuslice.errors import HelmError
    from gpuslice.helm import find_helm

    try:
        path = find_helm()
    except HelmError as e:
        return {"path": None, "version": None, "problem": str(e)}
    try:
        p = subprocess.run(
            [path, "version", "--short"], capture_output=True, encoding="utf-8", errors="replace", timeout=20
        )
        ver = p.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"path": path, "version": None, "problem": f"{path} does not run: {e}"}
    return {"path": path, "version": ver, "problem": None}


@handle_errors
def version(
    output: OutputFormat = OUTPUT_OPTION,
    short: bool = typer.Option(False, "--short", help="Only the version number."),
) -> None:
    """Show gpuslice's version, Python, and the helm binary gpuslice will use (or what to do without one)."""
    from gpuslice import __version__

    if short:
        print(__version__)
        return
    helm = _helm()
    doc = {
        "gpuslice": __version__,
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "helm": helm,
    }
    if output == OutputFormat.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"gpuslice {__version__} (Python {doc['python']}, {doc['platform']})")
    if helm["path"]:
        print(f"helm {helm['version'] or '(version unknown)'} at {helm['path']}")
    else:
        print(f"helm: {helm['problem']}")


@handle_errors
def completion(
    shell: Shell = typer.Argument(..., help="bash, zsh or fish.", show_default=False, metavar="SHELL"),
) -> None:
    """Print the shell completion script for SHELL.

    bash: source <(gpuslice completion bash)   (or save it in ~/.local/share/bash-completion/completions/gpuslice)
    zsh:  gpuslice completion zsh > "${fpath[1]}/_gpuslice"
    fish: gpuslice completion fish > ~/.config/fish/completions/gpuslice.fish
    """
    from typer._completion_shared import get_completion_script

    print(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell.value))
