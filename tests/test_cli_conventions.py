"""CLI conventions platform engineers expect from helm/kubectl: -h, `-` for stdin, `version`, shell completion,
boolean flags shown as flags, durations like 90s/10m, and `--output yaml` next to json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import typer
import yaml

from gpuslice.commands._common import parse_duration
from tests.helpers import CHARTS, EXAMPLES, MINIMAL, ROOT

CHART = CHARTS / "chart-v26.7.0"


def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gpuslice", *args], capture_output=True, text=True, env=e, input=stdin, check=False
    )


@pytest.mark.parametrize("argv", [["-h"], ["plan", "-h"], ["doctor", "-h"], ["completion", "-h"]])
def test_dash_h_is_help(cli, argv):
    r = cli(*argv)
    assert r.exit_code == 0 and "Usage:" in r.stdout


def test_boolean_flags_take_no_value_in_help(cli):
    for verb in ("plan", "apply", "images", "bench", "recommend"):
        out = cli(verb, "--help").stdout
        assert "<bool>" not in out and "BOOLEAN" not in out, verb
    assert "--force" in cli("plan", "--help").stdout


def test_version_verb(cli):
    r = cli("version", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["gpuslice"] and doc["python"] and set(doc["helm"]) == {"path", "version", "problem"}
    assert doc["helm"]["path"] and doc["helm"]["version"].startswith("v")  # the suite runs the real helm


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_valid_and_complete_verbs(cli, shell):
    script = cli("completion", shell).stdout
    assert "_GPUSLICE_COMPLETE" in script
    if shutil.which(shell):
        check = ["-n"] if shell != "fish" else ["--no-execute"]
        p = subprocess.run([shell, *check], input=script, capture_output=True, text=True, check=False)
        assert p.returncode == 0, p.stderr
    # The protocol the scripts speak: the shell sets these variables and runs gpuslice.
    if shell == "bash":
        env = {"_GPUSLICE_COMPLETE": "complete_bash", "COMP_WORDS": "gpuslice pl", "COMP_CWORD": "1"}
    else:
        env = {"_GPUSLICE_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": "gpuslice pl"}
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    p = _run(env=env)
    assert p.returncode == 0 and "plan" in p.stdout, p.stderr
    env = {**env, "COMP_WORDS": "gpuslice plan --ov", "COMP_CWORD": "2", "_TYPER_COMPLETE_ARGS": "gpuslice plan --ov"}
    assert "--overwrite" in _run(env=env).stdout


def test_bash_completion_in_a_real_bash(tmp_path):
    if not shutil.which("bash"):
        pytest.skip("no bash")
    bindir = tmp_path / "bin"  # the script runs `gpuslice` by name: put one on PATH
    bindir.mkdir()
    (bindir / "gpuslice").write_text(f'#!/usr/bin/env bash\nexec {sys.executable} -m gpuslice "$@"\n')
    (bindir / "gpuslice").chmod(0o755)
    script = _run("completion", "bash").stdout
    probe = f'{script}\nCOMP_WORDS=(gpuslice ver); COMP_CWORD=1; _gpuslice_completion gpuslice ver gpuslice; printf "%s\\n" "${{COMPREPLY[@]}}"\n'
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": f"{bindir}:{os.environ['PATH']}"}
    p = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert "verify" in p.stdout.split() and "version" in p.stdout.split(), p.stdout + p.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("2.5", 2.5), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5), ("1m30s", 90)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10x", "m", "1.2.3s", "-5s", "5 m"])
def test_bad_durations_say_what_is_expected(bad):
    with pytest.raises(typer.BadParameter, match=r"duration|negative"):
        parse_duration(bad)


def test_duration_flags_on_the_command_line(cli, tmp_path):
    r = _run("verify", str(tmp_path / "x.yaml"), "--smoke-timeout", "10x")
    assert r.returncode == 2 and "not a duration" in r.stderr and "Traceback" not in r.stderr
    r = _run("doctor", "--dump", str(tmp_path / "none"), "--retry-timeout", "0.5s")
    assert r.returncode == 2 and "shorter than the minimum" in r.stderr


def test_output_yaml_is_the_json_document(cli):
    spec = str(EXAMPLES / "eks-ubuntu.yaml")
    j = json.loads(cli("check", spec, "-o", "json").stdout)
    y = yaml.safe_load(cli("check", spec, "-o", "yaml").stdout)
    assert y == j and "findings" in y
    img_j = json.loads(cli("images", spec, "-o", "json").stdout)
    assert yaml.safe_load(cli("images", spec, "-o", "yaml").stdout) == img_j


def test_output_yaml_errors_are_yaml_too(cli, tmp_path):
    r = cli("check", tmp_path / "absent.yaml", "-o", "yaml")
    assert r.exit_code == 2
    doc = yaml.safe_load(r.stdout)
    assert doc["ok"] is False and doc["errors"][0]["message"] == "file not found"


def test_dash_reads_the_spec_from_stdin(tmp_path):
    text = (EXAMPLES / "eks-al2023.yaml").read_text(encoding="utf-8")
    r = _run("check", "-", "-o", "json", stdin=text)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spec"] == "-"
    bad = _run("check", "-", stdin="apiVersion: nope\n")
    assert bad.returncode == 2 and "<stdin>:1:" in bad.stderr
    out = tmp_path / "out"
    spec = MINIMAL
    r = _run("render", "-", "-d", str(out), "--chart", str(CHART), stdin=spec)
    assert r.returncode == 0, r.stderr
    assert (out / "values.yaml").is_file()


def test_dash_for_lint_config():
    cfg = (ROOT / "tests" / "fixtures" / "lint" / "configs" / "exclusive-PASSED.yaml").read_text(encoding="utf-8")
    r = _run("lint-config", "-", stdin=cfg)
    assert r.returncode == 0, r.stderr
    assert "<stdin>" in r.stdout
