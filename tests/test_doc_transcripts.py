"""Console transcripts in README.md and docs/*.md are re-run and must match: every ```console block whose commands
can run here (gpuslice verbs and plain shell tools on files that exist in the repository, no cluster, no GPU) is
run in order, block after block of one document, in a scratch folder that sees the repository's examples/, tests/
and benchmarks/ and holds `gpuslice-out/` as `make demo` writes it; each command's output must equal the lines
under it. A line `...` matches any further lines. Blocks naming files that are not in the repository (a reader's
own gpuslice.yaml, a cluster) are reported as not re-runnable and skipped."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_TOOLS = {"grep", "sed", "head", "tail", "cat", "ls", "wc", "sort", "jq", "cut", "echo"}
#: Verbs that need a live cluster, a GPU or the network.
LIVE = {"apply", "snapshot", "top", "bench"}
LINKED = ("examples", "tests", "benchmarks", "schema")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    doc: str
    line: int
    steps: list[Step]
    #: A YAML/JSON block the prose introduces with "saved as `NAME`:" is written to NAME before later blocks run.
    saves: tuple[str, str] | None = None


def _blocks() -> list[Block]:
    """Fenced blocks (console, text, shell or no language) holding `$ command` lines, with the output under each."""
    out: list[Block] = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            fence = lines[i].strip()
            if not fence.startswith("```"):
                i += 1
                continue
            lang, start, steps = fence[3:].strip(), i + 1, []
            before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            saved = re.search(r"saved as `([^`/]+)`:\s*$", before)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                if lang in ("console", "", "text", "shell"):
                    if lines[i].startswith("$ "):
                        steps.append(Step(lines[i][2:]))
                    elif steps:
                        steps[-1].expected.append(lines[i])
                i += 1
            i += 1  # the closing fence
            if steps:
                out.append(Block(doc.relative_to(ROOT).as_posix(), start, steps))
            elif saved and lang in ("yaml", "json"):
                text = "\n".join(body) + "\n"
                out.append(Block(doc.relative_to(ROOT).as_posix(), start, [], saves=(saved[1], text)))
    return out


def _command(step: Step) -> str:
    """The command without a trailing `# comment`."""
    return re.sub(r"\s+#\s.*$", "", step.command).strip()


def _runnable(block: Block, made: set[str]) -> str | None:
    """None when the block can run here, else why not. ``made``: top-level names earlier blocks wrote (updated)."""
    if block.saves is not None:
        made.add(block.saves[0])
        return None
    made_here: set[str] = set()
    for step in block.steps:
        cmd = _command(step)
        try:
            words = shlex.split(cmd.replace("|", " | ").replace(">", " > "))
        except ValueError:
            return f"cannot parse {cmd!r}"
        if not words:
            continue
        for stage in " ".join(words).split(" | "):
            parts = stage.split()
            while parts and re.match(r"^[A-Z_]+=\S*$", parts[0]):  # VAR=value prefix
                parts = parts[1:]
            if not parts or parts[0] == "cd":
                continue
            if parts[0] == "gpuslice":
                if len(parts) > 1 and parts[1] in LIVE:
                    return f"needs a cluster or GPU ({parts[1]})"
            elif parts[0] not in SHELL_TOOLS:
                return f"runs {parts[0]}"
            elif shutil.which(parts[0]) is None:
                return f"needs {parts[0]}, which is not installed here"
        for w in words:
            if "/" in w or w.endswith((".yaml", ".json", ".tgz")):
                if w.startswith(("-", "http", "nvcr.io")) or "=" in w:
                    continue
                top = w.split("/", 1)[0]
                if top in made or top in made_here or top == "gpuslice-out" or (ROOT / w).exists():
                    continue
                return f"names {w}, which is not in the repository"
        words_iter = iter(words)
        for w in words_iter:
            if w in ("-d", "--out-dir", "--out-file", "--job-out", ">"):
                made_here.add(next(words_iter, "").split("/", 1)[0])
    made |= made_here
    return None


def _matches(expected: list[str], got: list[str]) -> bool:
    exp = [e.rstrip() for e in expected]
    got = [g.rstrip() for g in got]
    while exp and not exp[-1]:
        exp.pop()
    while got and not got[-1]:
        got.pop()
    if exp and exp[0] == "...":  # the tail
        tail = exp[1:]
        return not tail or got[-len(tail) :] == tail
    if "..." in exp:
        cut = exp.index("...")
        return got[:cut] == exp[:cut]
    return got == exp


BLOCKS = _blocks()
DOC_NAMES = sorted({b.doc for b in BLOCKS})


def _scratch(tmp_path: Path) -> dict[str, str]:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    bindir = tmp_path / ".bin"
    bindir.mkdir()
    (bindir / "gpuslice").write_text(f'#!/usr/bin/env bash\nexec {sys.executable} -m gpuslice "$@"\n')
    (bindir / "gpuslice").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "COLUMNS": "120",
        "TERM": "dumb",
        "NO_COLOR": "1",
    }
    # What `make demo` leaves, which the docs refer to.
    subprocess.run(
        ["gpuslice", "plan", "examples/eks-ubuntu.yaml", "-d", "gpuslice-out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
    )
    return env


@pytest.mark.parametrize("doc", DOC_NAMES)
def test_transcripts_of(doc: str, tmp_path: Path) -> None:
    blocks = [b for b in BLOCKS if b.doc == doc]
    made: set[str] = set()
    runnable = [b for b in blocks if _runnable(b, made) is None]
    if not [b for b in runnable if b.saves is None]:
        pytest.skip(f"{doc}: no transcript runs here (they need a cluster, a GPU or the reader's own files)")
    env = _scratch(tmp_path)
    failures = []
    last_rc = 0
    for block in runnable:
        if block.saves is not None:
            (tmp_path / block.saves[0]).write_text(block.saves[1], encoding="utf-8")
            continue
        for step in block.steps:
            cmd = _command(step).replace("$?", str(last_rc))
            p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
            last_rc = p.returncode
            if not step.expected:
                continue
            got = p.stdout.splitlines()
            got_all = (p.stdout + p.stderr).splitlines()
            if not (_matches(step.expected, got) or _matches(step.expected, got_all)):
                failures.append(f"{block.doc}:{block.line}: `{step.command}` printed\n" + "\n".join(got_all[:40]))
    assert not failures, "\n\n".join(failures)


def test_enough_transcripts_are_re_run() -> None:
    count = 0
    for doc in DOC_NAMES:
        made: set[str] = set()
        count += sum(1 for b in BLOCKS if b.doc == doc and _runnable(b, made) is None and b.saves is None)
    assert count >= 5
