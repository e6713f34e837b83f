"""The ``gpuslice`` command: a thin shell over the library. Each verb lives in ``gpuslice.commands.<module>``.

Exit codes: 0 ok, 1 findings of severity error (or an invalid linted file), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys

import typer

from gpuslice import __version__

app = typer.Typer(
    name="gpuslice",
    help="Shared NVIDIA GPUs (time-slicing or MPS) on Kubernetes, from one spec: check, render, apply, verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

#: Each module defines ``register(app)``. Listed explicitly: the one place that says which verbs exist.
COMMAND_MODULES = [
    "gpuslice.commands.core",
    "gpuslice.commands.bench",
    "gpuslice.commands.images",
    "gpuslice.commands.lint",
    "gpuslice.commands.cluster",
    "gpuslice.commands.top",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gpuslice {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """gpuslice: shared NVIDIA GPUs on Kubernetes."""


_built = False


def build_app() -> typer.Typer:
    """Register every verb once (calling it again is a no-op, not a second copy of each command)."""
    global _built
    if not _built:
        for mod in COMMAND_MODULES:
            importlib.import_module(mod).register(app)
        _built = True
    return app


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    # A terminal or pipe that cannot encode ✓/✗/— (PYTHONIOENCODING=ascii, a latin-1 locale) gets '?', not a crash.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    build_app()
    # A SIGTERM (CI job timeout, `kill`, a container stopping) takes the same path as Ctrl-C: helm gets to record
    # its release as failed (see gpuslice.helm.stop_process), output folders are left whole; exit 130.
    with contextlib.suppress(ValueError):  # not the main thread (embedded use): keep the default
        signal.signal(signal.SIGTERM, _terminated)
    try:
        app(args=argv, prog_name="gpuslice", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
