from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The real GPU Operator charts live in the shared folder beside the checkout (CI has it too).
SHARED = Path(os.environ.get("GPUSLICE_SHARED", ROOT.parent / "shared"))
CHARTS = SHARED / "fixtures" / "gpu-operator"


@pytest.fixture
def cli():
    """Invoke the CLI in-process; returns a function(args) -> Result with exit_code/stdout/stderr."""
    from gpuslice.cli import app, build_app

    build_app()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke
