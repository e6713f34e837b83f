"""One findings printer for every verb: at 80 columns each finding shows severity, id, where, message and fix,
with ids and paths never cut; the json output carries the same fields; render says on stderr when it wrote
files despite error findings."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from gpuslice.checks.report import _wrap, print_lines
from tests.helpers import CHARTS, EXAMPLES, FIXTURES, MINIMAL, ROOT, write_spec

DUMPS = FIXTURES / "dumps"
LINT = FIXTURES / "lint" / "configs" / "both-strategies-FAILED.yaml"
CHART = CHARTS / "chart-v26.7.0"
NVCR_ONLY = "registry:\n  mirrors:\n    - {source: nvcr.io, mirror: reg.corp.example/nvcr}\n"


def _cases(tmp_path):
    bad = write_spec(tmp_path, MINIMAL.replace("instanceType: g5.xlarge", "instanceType: zz9.unknown"), "bad.yaml")
    partial = write_spec(tmp_path, MINIMAL + NVCR_ONLY, "partial.yaml")
    return {
        "check": ["check", bad],
        "plan": ["plan", bad, "-d", tmp_path / "p"],
        "render": ["render", partial, "-d", tmp_path / "r", "--chart", CHART],
        "doctor": ["doctor", "--dump", DUMPS / "capacity-mismatch", "--spec", DUMPS / "gpuslice.yaml"],
        "verify": ["verify", DUMPS / "gpuslice.yaml", "--dump", DUMPS / "capacity-mismatch"],
        "lint-config": ["lint-config", LINT],
    }


@pytest.mark.parametrize("verb", ["check", "plan", "render", "doctor", "verify", "lint-config"])
def test_every_verb_prints_findings_the_same_way_at_80_columns(cli, tmp_path, monkeypatch, verb):
    monkeypatch.setenv("COLUMNS", "80")
    argv = _cases(tmp_path)[verb]
    text = cli(*argv)
    assert text.exit_code == 1, text.output
    if verb in ("plan", "render"):  # a second run must not trip over the first one's folder
        argv = [*argv, "--overwrite"]
    doc = json.loads(cli(*argv, "-o", "json").stdout)
    findings = doc["findings"]
    assert findings and {"severity", "id", "message", "fix", "file", "line", "path", "pool"} <= set(findings[0])
    out = text.stdout
    for line in out.splitlines():
        block = line.startswith(("    ", "  ERROR ", "  WARNING ", "  INFO "))
        if block or line.startswith(tuple("0123456789")):  # the finding blocks and the summary
            assert len(line) <= 80 or " " not in line.strip(), f"over 80 columns: {line!r}"
    words = set(out.split())
    for f in findings:
        assert f["id"] in words, f"id {f['id']} cut or missing"
        assert f"{f['severity'].upper()} {f['id']}" in out  # severity and id on one line, whole
        if f["fix"]:
            assert "fix:" in out
        if f["file"] and f["line"]:
            assert f"{f['file']}:{f['line']}" in words  # where, never cut
    for old_table in ("┏", "│ id", "┃"):
        assert old_table not in out


def test_render_with_error_findings_says_so_on_stderr(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL + NVCR_ONLY)
    out = tmp_path / "out"
    r = cli("render", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 1
    assert (out / "values.yaml").is_file()  # rendered anyway, by design
    assert "operator-image-not-mirrored" in r.stdout and "ERROR operator-image-not-mirrored" in r.stdout
    assert "render:" in r.stderr and "error" in r.stderr and "written anyway" in r.stderr
    clean = cli("render", EXAMPLES / "eks-ubuntu.yaml", "-d", tmp_path / "ok")
    assert clean.exit_code == 0 and "render:" not in clean.stderr


# Lines as the report makes them, and the awkward ones: a '[' wrapped onto another line than its ']', a backslash
# before a tag, an emoji code, a tab, a line longer than the console, an empty line, lines said twice.
_LINES = [
    "[bold]pool a[/] (g5.xlarge, ubuntu-22.04)",
    "  [bold red]ERROR[/] [bold]driver-mixed-os[/]",
    "    > evidence: pools [pool-01, pool-02,",
    "      pool-03] and a [lone bracket",
    "[dim]    at C:\\path\\ends\\with\\\\[/]",
    "    a\ttab and :warning: an emoji code",
    "    " + "x" * 130,
    "",
    "  [bold red]ERROR[/] [bold]driver-mixed-os[/]",  # a report repeats lines (the same finding for many pools)
    "    a\ttab and :warning: an emoji code",
    "3 error(s), 0 warning(s), 1 info - [bold red]errors: plan refuses to render[/]",
]


@pytest.mark.parametrize("markup", [True, False])
@pytest.mark.parametrize(
    "terminal, colours", [(False, None), (True, "truecolor"), (True, "standard"), (True, None)], ids=str
)
def test_print_lines_prints_what_printing_line_by_line_prints(terminal, colours, markup):
    """The one-write printer shows exactly what rich prints for each line on its own, coloured or plain."""

    def printed(how):
        buf = io.StringIO()
        c = Console(file=buf, width=60, force_terminal=terminal, color_system=colours, highlight=False, soft_wrap=True)
        how(c)
        return buf.getvalue()

    def one_by_one(c):
        for line in _LINES:
            c.print(line, soft_wrap=True, highlight=False, markup=markup)

    expected = printed(one_by_one)
    assert printed(lambda c: print_lines(c, _LINES, markup=markup)) == expected
    assert ("\x1b[" in expected) == (colours is not None and markup)
    assert printed(lambda c: print_lines(c, [])) == ""


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=" \t\n\r\u00a0ab-/:.[]", max_size=70),
    width=st.integers(min_value=0, max_value=60),
    first=st.sampled_from(["", "  ", "    "]),
)
def test_findings_are_wrapped_as_textwrap_wraps_them(text, width, first):
    """The report's wrapping (with its shortcut for a line that fits) is textwrap's: at spaces only, at least 20
    columns, a word longer than the line on a line of its own."""
    import textwrap

    reference = textwrap.wrap(
        text,
        width=max(width, 20),
        initial_indent=first,
        subsequent_indent=first + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]
    assert _wrap(text, width, first, first + "  ") == reference


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_plan(argv, *, terminal: str | None, tmp_path) -> tuple[str, str]:
    """(stdout, stderr) of plan run as a user runs it; ``terminal`` ("stdout" or "stderr") is the stream that goes
    to a terminal (a pseudo-terminal), the other one to a file."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(COLUMNS="80", TERM="xterm-256color", PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-m", "gpuslice", "plan", *map(str, argv)]
    if terminal is None:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        return r.stdout, r.stderr
    main, sub = os.openpty()
    with (tmp_path / "other-stream").open("w+b") as other:
        streams = {"stdout": other, "stderr": other, terminal: sub}
        proc = subprocess.Popen(cmd, env=env, stdout=streams["stdout"], stderr=streams["stderr"])
        os.close(sub)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(main)
        proc.wait()
        other.seek(0)
        rest = other.read().decode()
    shown = b"".join(chunks).decode().replace("\r\n", "\n")
    return (shown, rest) if terminal == "stdout" else (rest, shown)


def _plan_output(argv, terminal: bool, tmp_path) -> str:
    return _run_plan(argv, terminal="stdout" if terminal else None, tmp_path=tmp_path)[0]


@pytest.mark.parametrize("case", ["refused", "forced"])
def test_plan_prints_the_same_text_on_a_terminal_and_on_a_pipe(tmp_path, case):
    """Coloured on a terminal, plain on a pipe: the same words, lines and wrapping (findings, the refusal, the list
    of files written)."""
    if case == "refused":
        spec = write_spec(tmp_path, MINIMAL.replace("instanceType: g5.xlarge", "instanceType: zz9.unknown"))
        argv = [spec]
    else:
        argv = [EXAMPLES / "mixed-pools.yaml", "--force", "--chart", CHART]
    coloured = _plan_output([*argv, "-d", tmp_path / "tty"], terminal=True, tmp_path=tmp_path)
    plain = _plan_output([*argv, "-d", tmp_path / "pipe"], terminal=False, tmp_path=tmp_path)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    plain = plain.replace(str(tmp_path / "pipe"), str(tmp_path / "tty"))  # 'Wrote N files to DIR'
    assert _ANSI.sub("", coloured) == plain
    assert ("Not rendered:" in plain) == (case == "refused")
    assert ("values.yaml" in plain) == (case == "forced")


def test_plan_reports_each_step_to_its_progress_callback(tmp_path):
    from gpuslice import api
    from gpuslice.render import RenderOptions, renderers_for

    said: list[str] = []
    res = api.plan(
        EXAMPLES / "mixed-pools.yaml",
        tmp_path / "out",
        force=True,
        options=RenderOptions(chart=CHART),
        progress=said.append,
    )
    n = len(res.resolved.pools)
    rendering = [s for s in said if s.startswith("rendering ")]
    assert said[:2] == ["reading the spec", f"checking {n} pools"]
    assert said[-1] == f"writing {len(res.files)} files"
    assert {s.split()[1] for s in rendering} == set(renderers_for(res.resolved))


@pytest.mark.parametrize("output", ["text", "json"])
def test_plan_shows_progress_on_a_terminals_stderr_and_keeps_stdout_clean(tmp_path, output):
    """A long plan says what it is doing on stderr when that is a terminal (text or json); stdout carries only the
    report or the JSON document, and with stderr not a terminal nothing is added to it."""
    argv = [EXAMPLES / "mixed-pools.yaml", "--force", "--chart", CHART, "-o", output]
    stdout, stderr = _run_plan([*argv, "-d", tmp_path / "tty"], terminal="stderr", tmp_path=tmp_path)
    assert "checking and rendering" in _ANSI.sub("", stderr) and "mixed-pools.yaml" in stderr
    piped_out, piped_err = _run_plan([*argv, "-d", tmp_path / "pipe"], terminal=None, tmp_path=tmp_path)
    assert piped_err == ""
    for out in (stdout, piped_out):
        assert "checking and rendering" not in out and "\x1b[" not in out
        if output == "json":
            assert json.loads(out)["files"]
        else:
            assert "Wrote" in out
