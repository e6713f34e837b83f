"""No lost files: an output folder is replaced only when it is empty or exactly what gpuslice wrote there; inputs
(spec, --chart, operator.chart, vendored charts/, the chart cache) and system folders are never replaced; stale
temporaries of a killed run are cleaned by the next run.

Tests that point gpuslice at a folder it must refuse replace :func:`gpuslice.output.commit` (the one step that
swaps folders) with a failure first, so a broken guard fails the test instead of deleting anything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuslice.errors import GpusliceError
from gpuslice.output import MARKER, STAGING, check_out_dir, clean_stale, write_tree
from tests.helpers import CHARTS, MINIMAL, ROOT, write_spec

CHART = CHARTS / "chart-v26.7.0"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, MINIMAL)


@pytest.fixture
def no_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to put a folder in place fails the test (nothing is renamed or deleted)."""
    import gpuslice.output

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("gpuslice tried to replace a folder it must not touch")

    monkeypatch.setattr(gpuslice.output, "commit", refuse)


def _refused(r, *needles: str) -> None:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for n in needles:
        assert n in r.stderr, r.stderr


@pytest.mark.parametrize("verb", ["plan", "render"])
def test_folder_with_the_users_files_is_kept(cli, tmp_path, spec, verb, no_swap):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "important.txt").write_text("keep")
    r = cli(verb, spec, "-d", existing, "--chart", CHART)
    _refused(r, "existing", "important.txt", "did not write", "--overwrite")
    assert (existing / "important.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "gpuslice.yaml"]


def test_overwrite_replaces_the_users_folder_when_asked(cli, tmp_path, spec):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "important.txt").write_text("keep")
    r = cli("plan", spec, "-d", existing, "--chart", CHART, "--overwrite")
    assert r.exit_code == 0, r.output
    assert not (existing / "important.txt").exists() and (existing / "PLAN.md").is_file()


def test_empty_folder_and_own_output_are_replaced_without_asking(cli, tmp_path, spec):
    out = tmp_path / "out"
    out.mkdir()
    r = cli("plan", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 0, r.output
    marker = json.loads((out / MARKER).read_text())
    assert marker["tool"] == "gpuslice" and marker["command"] == "plan" and "PLAN.md" in marker["files"]
    assert set(marker["files"]) == {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {MARKER}
    # A second run replaces gpuslice's own folder; a file that is no longer rendered goes away with it.
    (out / "values.yaml").write_text((out / "values.yaml").read_text())  # rewritten, same content: still ours
    spec.write_text(MINIMAL.replace("name: demo", "name: renamed"))
    r = cli("plan", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 0, r.output
    assert "# gpuslice plan: renamed" in (out / "PLAN.md").read_text()


@pytest.mark.parametrize("change", ["added", "edited"])
def test_own_output_changed_by_hand_is_kept(cli, tmp_path, spec, change, request):
    out = tmp_path / "out"
    write_tree(out, {"values.yaml": "a: 1\n"})
    request.getfixturevalue("no_swap")
    if change == "added":
        (out / "notes" / "mine.md").parent.mkdir()
        (out / "notes" / "mine.md").write_text("mine")
        needle = "notes/mine.md"
    else:
        (out / "values.yaml").write_text("a: 2\n")
        needle = "changed since gpuslice wrote them (values.yaml)"
    r = cli("render", spec, "-d", out, "--chart", CHART)
    _refused(r, needle, "--overwrite")
    assert (out / "values.yaml").exists()


def test_output_over_the_specs_operator_chart_is_refused_even_with_overwrite(cli, tmp_path, no_swap):
    """The reported case: `-d charts` deleted the bundled chart and the next plan failed."""
    shutil.copytree(CHART, tmp_path / "charts" / "gpu-operator")
    spec = write_spec(tmp_path, MINIMAL + "operator:\n  chart: charts/gpu-operator\n")
    for target in ("charts", "charts/gpu-operator", "charts/gpu-operator/templates", "charts/gpu-operator/out"):
        r = cli("plan", spec, "-d", tmp_path / target, "--overwrite")
        _refused(r, "refusing", "input")
    assert (tmp_path / "charts" / "gpu-operator" / "Chart.yaml").is_file()


def test_output_over_a_vendored_chart_is_refused(cli, tmp_path, spec, no_swap):
    shutil.copytree(CHART, tmp_path / "charts" / "gpu-operator-v26.7.0")
    r = cli("plan", spec, "-d", tmp_path / "charts", "--overwrite")
    _refused(r, "refusing to replace a folder that holds the input")
    assert (tmp_path / "charts" / "gpu-operator-v26.7.0" / "Chart.yaml").is_file()


def test_output_over_the_chart_option_is_refused(cli, tmp_path, spec, no_swap):
    chart = tmp_path / "vendor" / "gpu-operator"
    shutil.copytree(CHART, chart)
    for target in (chart.parent, chart):
        r = cli("render", spec, "-d", target, "--chart", chart, "--overwrite")
        _refused(r, "refusing", str(chart))
    assert (chart / "Chart.yaml").is_file()


def test_output_over_the_chart_cache_is_refused(cli, tmp_path, spec, monkeypatch, no_swap):
    cache = tmp_path / "cache"
    (cache / "gpuslice" / "charts").mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    for target in (cache / "gpuslice", cache / "gpuslice" / "charts" / "out"):
        r = cli("render", spec, "-d", target, "--chart", CHART, "--overwrite")
        _refused(r, "refusing", "charts")


@pytest.mark.parametrize("folder", ["/", "/etc", "/var", "/opt", "/usr", "/usr/local", "/var/lib", "/boot"])
def test_system_folders_are_refused_even_with_overwrite(folder):
    if not Path(folder).is_dir():
        pytest.skip(f"{folder} does not exist here")
    with pytest.raises(GpusliceError, match="refusing to replace"):
        check_out_dir(folder, overwrite=True)


@pytest.mark.parametrize("name", ["etc", "var", "opt"])
def test_relative_system_folder_from_the_root(cli, spec, monkeypatch, name, no_swap):
    """As root from `/`: `-d etc` is /etc."""
    monkeypatch.chdir("/")
    r = cli("render", spec, "-d", name, "--chart", CHART, "--overwrite")
    _refused(r, f"{name}: refusing to replace the system folder /{name}")


def test_snapshot_keeps_the_users_folder(cli, tmp_path, no_swap):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "important.txt").write_text("keep")
    r = cli("snapshot", "-d", existing, "--kubeconfig", tmp_path / "no-kubeconfig")
    _refused(r, "important.txt", "--overwrite")
    assert (existing / "important.txt").read_text() == "keep"


def test_write_tree_writes_exactly_the_files_given(tmp_path):
    """Every file with its bytes (text as UTF-8), nested folders made, paths written as given or not normalised,
    scripts executable, the manifest's hashes those of the files on disk."""
    import hashlib
    import stat

    files = {
        "values.yaml": "a: 1\n",
        "bootstrap/pool-a/user-data.mime": "Ünïcode ✓\n" * 1000,
        "bootstrap/pool-a/deep/er/blob.bin": bytes(range(256)) * 5000,
        "nodegroups//pool-a/./create-nodegroup.sh": "#!/bin/sh\necho hi\n",
        "./empty.txt": "",
    }
    out = write_tree(tmp_path / "out", files, executable=("nodegroups//pool-a/./create-nodegroup.sh",))
    expected = {
        "values.yaml": b"a: 1\n",
        "bootstrap/pool-a/user-data.mime": ("Ünïcode ✓\n" * 1000).encode(),
        "bootstrap/pool-a/deep/er/blob.bin": bytes(range(256)) * 5000,
        "nodegroups/pool-a/create-nodegroup.sh": b"#!/bin/sh\necho hi\n",
        "empty.txt": b"",
    }
    on_disk = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert on_disk.pop(MARKER) and on_disk == expected
    manifest = json.loads((out / MARKER).read_text())["files"]
    assert manifest == {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(expected.items())}
    umask = os.umask(0o022)
    os.umask(umask)
    for rel in expected:
        mode = 0o777 if rel.endswith(".sh") else 0o666
        assert stat.S_IMODE((out / rel).stat().st_mode) == mode & ~umask, rel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    "rel", ["../up.txt", "a/../../up.txt", "/etc/passwd", "//net/x", "", ".", "a/..", MARKER, f"./{MARKER}", STAGING]
)
def test_write_tree_refuses_a_path_outside_the_folder_or_over_its_notes(tmp_path, rel):
    out = tmp_path / "out"
    write_tree(out, {"a.txt": "1"})
    with pytest.raises(GpusliceError, match="refusing to write outside the output folder"):
        write_tree(out, {"b.txt": "2", rel: "x"})
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_tree_that_fails_midway_leaves_the_old_folder_and_no_temporary(tmp_path):
    out = tmp_path / "out"
    write_tree(out, {"a.txt": "1"})
    with pytest.raises(GpusliceError, match="cannot write the output folder"):
        write_tree(out, {"b.txt": "2", "b.txt/c.txt": "a file where a folder must go"})
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---------------------------------------------------------------------------------------------------------------
# Stale temporaries of a run killed with SIGKILL in the middle of writing


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from collections.abc import Mapping
    from gpuslice.output import write_tree

    class Dying(Mapping):
        names = ["a.txt", "b.txt", "c.txt"]
        def __getitem__(self, key):
            if key == "c.txt":
                os.kill(os.getpid(), signal.SIGKILL)
            return key
        def __iter__(self):
            return iter(self.names)
        def __len__(self):
            return 3
        def items(self):
            return [(k, self[k]) for k in self.names]

    write_tree(sys.argv[1], Dying())
    """
)


def _killed_run(out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(out)], env=env, capture_output=True, check=False)
    assert p.returncode == -signal.SIGKILL, p.stderr


def test_sigkill_leaves_a_temporary_that_the_next_run_removes(cli, tmp_path, spec):
    out = tmp_path / "out"
    _killed_run(out)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    assert len(left) == 1 and (left[0] / STAGING).is_file() and not out.exists()
    r = cli("render", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 0, r.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_only_own_dead_temporaries_are_removed(tmp_path):
    out = tmp_path / "out"
    _killed_run(out)
    dead = next(p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-"))
    live = tmp_path / ".out.tmp-live"  # a run still going (this process)
    live.mkdir()
    (live / STAGING).write_text(json.dumps({"tool": "gpuslice", "pid": os.getpid(), "host": os.uname().nodename}))
    foreign = tmp_path / ".out.tmp-users"  # same name pattern, not gpuslice's
    foreign.mkdir()
    (foreign / "data.txt").write_text("mine")
    other = tmp_path / ".other.tmp-x"  # another output's temporary
    shutil.copytree(dead, other)
    empty = tmp_path / ".out.tmp-empty"  # killed between mkdtemp and the staging note
    empty.mkdir()
    assert sorted(clean_stale(out)) == sorted([dead, empty])
    assert live.is_dir() and (foreign / "data.txt").is_file() and other.is_dir()
