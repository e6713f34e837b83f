"""Under a C/POSIX locale with Python's UTF-8 mode off, every subprocess gpuslice reads (helm above all, whose
output of the real chart holds non-ASCII text) is decoded as UTF-8: no UnicodeDecodeError."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import CHARTS, EXAMPLES, MINIMAL, ROOT, write_spec


def _c_locale_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env.update(LANG="C", LC_ALL="C", PYTHONUTF8="0", PYTHONPATH=str(ROOT / "src"))
    return env


def _gpuslice(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gpuslice", *args], env=_c_locale_env(), capture_output=True, cwd=cwd, check=False
    )


def test_the_c_locale_is_really_ascii_here():
    code = "import locale, sys; print(locale.getpreferredencoding(False), sys.flags.utf8_mode)"
    p = subprocess.run([sys.executable, "-c", code], env=_c_locale_env(), capture_output=True, text=True, check=True)
    enc, utf8_mode = p.stdout.split()
    if enc.lower().replace("-", "") == "utf8":
        pytest.skip("this Python coerces the C locale to UTF-8 (PEP 538); the bug cannot show here")
    assert utf8_mode == "0"


def test_plan_of_the_example_under_lang_c(tmp_path):
    chart = CHARTS / "chart-v26.7.0"
    # The CRDs helm prints (--include-crds) hold non-ASCII text: the case that failed.
    assert any(b"\xe2" in p.read_bytes() for p in (chart / "crds").glob("*.yaml"))
    out = tmp_path / "out"
    p = _gpuslice("plan", str(EXAMPLES / "eks-ubuntu.yaml"), "-d", str(out), "-o", "json")
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    assert b"UnicodeDecodeError" not in p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] and "values.yaml" in doc["files"] and (out / "values.yaml").is_file()


def test_non_ascii_spec_under_lang_c(tmp_path):
    spec = write_spec(tmp_path, MINIMAL.replace("name: demo", "name: demo  # caf\u00e9 \u2014 team"))
    p = _gpuslice("render", str(spec), "-d", str(tmp_path / "out"), "--chart", str(CHARTS / "chart-v26.7.0"))
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    assert b"internal error" not in p.stderr
