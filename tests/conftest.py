from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The real GPU Operator charts (v25.3.4, v26.7.0), copied into the repository: see fixtures/gpu-operator/SOURCE.md.
CHARTS = FIXTURES / "gpu-operator"


@pytest.fixture
def cli():
    """Invoke the CLI in-process; returns a function(args) -> Result with exit_code/stdout/stderr."""
    from gpuslice.cli import app, build_app

    build_app()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke
