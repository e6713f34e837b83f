"""The ``gpuslice`` command: a thin shell over the library. Each verb lives in ``gpuslice.commands.<module>``.

Exit codes: 0 ok, 1 findings of severity error (or an invalid linted file), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys

import typer

app = typer.Typer(
    name="gpuslice",
    help="Shared NVIDIA GPUs (time-slicing or MPS) on Kubernetes, from one spec: check, render, apply, verify.",
    no_args_is_help=True,
    # `gpuslice completion bash|zsh|fish` prints the scripts (commands/meta.py); no --install-completion.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    "gpuslice.commands.meta",
]


def _version(value: bool) -> None:
    if value:
        from gpuslice import __version__

        typer.echo(f"gpuslice {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """gpuslice: shared NVIDIA GPUs on Kubernetes."""


_built = False


def _flags_without_a_type() -> None:
    """Show boolean flags as flags in help (`--force`), not with a `<bool>` value they do not take."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_gpuslice", False):
        return

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        if self.is_flag or self.is_bool_flag:
            return None
        return shown(self, ctx)  # type: ignore[arg-type]

    display_type_rich._gpuslice = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def build_app() -> typer.Typer:
    """Register every verb once (calling it again is a no-op, not a second copy of each command)."""
    global _built
    if not _built:
        for mod in COMMAND_MODULES:
            importlib.import_module(mod).register(app)
        _flags_without_a_type()
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
    if os.environ.get("_GPUSLICE_COMPLETE"):  # a completion script asking for candidates (gpuslice completion)
        from typer._completion_classes import completion_init

        completion_init()
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
