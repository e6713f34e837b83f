"""render_all runs the operator renderer's ``helm template`` (the real helm on the real chart) while the renderers
after it run: the result must be the one of running every renderer to its end in turn (same files in the same
order, same findings in the same order, same executables), and errors must surface as they did then."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from gpuslice.errors import HelmError
from gpuslice.render import RenderOptions, RenderResult, render_all, renderers_for
from gpuslice.render import operator as operator_renderer
from gpuslice.render import smoke as smoke_renderer
from gpuslice.resolve import ResolvedSpec, resolve
from gpuslice.spec import load_spec
from tests.helpers import EXAMPLES
from tests.test_bootstrap import matrix

DEFAULT_CHART = CHART = EXAMPLES / "charts" / "gpu-operator-v26.7.0"
SPECS = {p.stem: p for p in sorted(EXAMPLES.glob("*.yaml"))}


def resolved_of(name: str) -> ResolvedSpec:
    if name == "bootstrap-matrix":  # every OS family and disk layout
        return matrix()
    return resolve(load_spec(SPECS[name]), file=SPECS[name])


def in_turn(r: ResolvedSpec, options: RenderOptions) -> RenderResult:
    result = RenderResult()
    for fn in renderers_for(r).values():
        result.merge(fn(r, options))
    return result


@pytest.mark.parametrize("name", [*SPECS, "bootstrap-matrix"])
def test_render_all_is_every_renderer_run_in_turn(name):
    r = resolved_of(name)
    together = render_all(r, RenderOptions(chart=DEFAULT_CHART))
    alone = in_turn(r, RenderOptions(chart=DEFAULT_CHART))
    assert list(together.files) == list(alone.files)
    assert together.files == alone.files
    assert together.findings == alone.findings
    assert together.executable == alone.executable
    assert "values.yaml" in together.files


def test_a_helm_failure_surfaces_as_the_operator_renderer_raises_it():
    r = resolved_of("eks-ubuntu")
    opts = RenderOptions(chart=DEFAULT_CHART, helm="/nonexistent/helm")
    with pytest.raises(HelmError) as alone:
        operator_renderer.render(r, opts)
    with pytest.raises(HelmError) as together:
        render_all(r, RenderOptions(chart=DEFAULT_CHART, helm="/nonexistent/helm"))
    assert str(together.value) == str(alone.value)
    assert "/nonexistent/helm" in str(together.value) and "not found" in str(together.value)


def test_the_first_failing_renderer_in_registry_order_raises(monkeypatch):
    """helm fails in the background while a later renderer (smoke) fails in the foreground: the operator's error
    is the one raised, as when the renderers ran one after another."""

    def broken(resolved, options):
        raise RuntimeError("smoke renderer broke")

    monkeypatch.setattr(smoke_renderer, "render", broken)
    r = resolved_of("eks-ubuntu")
    with pytest.raises(HelmError):
        render_all(r, RenderOptions(chart=DEFAULT_CHART, helm="/nonexistent/helm"))
    with pytest.raises(RuntimeError, match="smoke renderer broke"):
        render_all(r, RenderOptions(chart=DEFAULT_CHART))


def test_plan_with_a_missing_helm_fails_clearly_and_writes_nothing(cli, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GPUSLICE_HELM", "/nonexistent/helm")
    out = tmp_path / "out"
    res = cli("plan", SPECS["eks-ubuntu"], "-d", out, "--chart", DEFAULT_CHART)
    assert res.exit_code == 2, res.stdout + res.stderr
    assert "/nonexistent/helm" in res.stderr and "not found" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert not out.exists()


def test_ctrl_c_while_helm_template_runs_stops_plan_at_once(tmp_path: Path):
    """helm template runs in a background thread: an interrupt in the main thread still ends the plan (exit 130,
    no folder) without waiting for the template. The stand-in helm would take 120 s."""
    import os
    import signal
    import subprocess
    import sys
    import time

    started = tmp_path / "helm-started"
    helm = tmp_path / "helm"
    helm.write_text(f'#!/bin/sh\necho $$ > "{started}"\nexec sleep 120\n')
    helm.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "GPUSLICE_HELM": str(helm), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpuslice", "plan", str(SPECS["eks-ubuntu"]), "-d", str(out), "--chart", str(CHART)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text().strip()) and proc.poll() is None:
            assert time.monotonic() < deadline, "helm was never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # the template would take 120 s
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert not out.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        if started.exists() and started.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(started.read_text()), signal.SIGKILL)
