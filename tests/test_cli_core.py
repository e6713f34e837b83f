from __future__ import annotations

import json

from gpuslice.output import MARKER, write_tree
from tests.helpers import CHARTS, EXAMPLES, MINIMAL, write_spec

CHART = CHARTS / "chart-v26.7.0"


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.startswith("gpuslice ")


def test_check_json_on_example(cli):
    r = cli("check", EXAMPLES / "eks-ubuntu.yaml", "--output", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == (0 if doc["ok"] else 1)
    assert isinstance(doc["findings"], list)


def test_bad_spec_exits_2_with_position_and_no_traceback(cli, tmp_path):
    p = write_spec(tmp_path, MINIMAL.replace("replicas: 4", "replicas: four"))
    r = cli("check", p)
    assert r.exit_code == 2
    assert f"{p}:14:" in r.stderr and "nodePools[0].sharing.replicas" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_missing_spec_file(cli, tmp_path):
    r = cli("plan", tmp_path / "absent.yaml", "-d", tmp_path / "out")
    assert r.exit_code == 2 and "file not found" in r.stderr
    assert not (tmp_path / "out").exists()


def test_plan_writes_outputs_atomically_and_replaces(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    r = cli("plan", spec, "-d", out, "--chart", CHART, "--output", "json", "--overwrite")
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    # The same summary as `check -o json`: counts per severity of the findings listed.
    assert doc["summary"] == {s: sum(f["severity"] == s for f in doc["findings"]) for s in ("error", "warning", "info")}
    assert not (out / "stale.txt").exists()
    assert (out / "PLAN.md").is_file() and (out / "device-plugin-config.yaml").is_file()
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != MARKER)
    assert sorted(doc["files"]) == written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_plan_refuses_on_errors_and_leaves_no_folder(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL.replace("instanceType: g5.xlarge", "instanceType: zz9.unknown"))
    out = tmp_path / "out"
    r = cli("plan", spec, "-d", out, "--chart", CHART)
    assert r.exit_code == 1
    assert "Not rendered" in r.stdout and "gpu-unknown-instance-type" in r.stdout
    assert not out.exists()
    # --force renders anyway, and still exits 1 because errors were found.
    r = cli("plan", spec, "-d", out, "--chart", CHART, "--force")
    assert r.exit_code == 1 and (out / "PLAN.md").is_file()
    assert "gpu-unknown-instance-type" in (out / "PLAN.md").read_text()


def test_write_tree_failure_leaves_previous_content(tmp_path):
    out = tmp_path / "o"
    write_tree(out, {"a.txt": "1"})

    files = {"b.txt": "2", "../escape.txt": "x"}
    try:
        write_tree(out, files)
    except Exception as e:
        assert "outside" in str(e)
    assert (out / "a.txt").read_text() == "1" and not (out / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_schema_command_prints_json_schema(cli):
    r = cli("schema")
    doc = json.loads(r.stdout)
    assert doc["title"].startswith("gpuslice") and "nodePools" in doc["properties"]


def test_explain_unknown_and_known(cli):
    r = cli("explain", "names-colision")
    assert r.exit_code == 2 and "did you mean names-collision" in r.stderr
    assert cli("explain", "names-collision").exit_code == 0


def test_explain_knows_every_doctor_finding_the_fixture_dumps_produce(cli):
    import json as _json

    from tests.helpers import FIXTURES

    dumps = FIXTURES / "dumps"
    seen: set[str] = set()
    for d in sorted(p for p in dumps.iterdir() if p.is_dir()):
        r = cli("doctor", "--dump", d, "--spec", dumps / "gpuslice.yaml", "--output", "json")
        seen |= {f["id"] for f in _json.loads(r.stdout)["findings"]}
    assert len(seen) >= 10
    for fid in sorted(seen):
        r = cli("explain", fid)
        assert r.exit_code == 0, fid
        assert len(r.stdout.strip()) > len(fid) + 10


def test_typo_in_checks_disabled_is_reported_with_its_line(cli, tmp_path):
    spec = write_spec(
        tmp_path, MINIMAL + "checks:\n  disabled: [disk-instance-store-unused, disk-instance-store-unsued]\n"
    )
    r = cli("check", spec, "--output", "json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["id"] == "checks-disabled-unknown"]
    assert len(found) == 1
    assert "did you mean 'disk-instance-store-unused'" in found[0]["message"]
    assert found[0]["path"] == "checks.disabled[1]" and found[0]["line"] == 16
    assert not any(f["id"] == "disk-instance-store-unused" for f in json.loads(r.stdout)["findings"])


def test_every_finding_id_in_the_source_is_explained():
    """Static guard: an id="..." literal anywhere in src must be known to `gpuslice explain`."""
    import re

    from gpuslice.commands.core import all_finding_docs
    from tests.helpers import ROOT

    docs = all_finding_docs()
    ids: set[str] = set()
    for py in (ROOT / "src" / "gpuslice").rglob("*.py"):
        text = py.read_text()
        ids |= set(re.findall(r'\bid="([a-z0-9]+(?:-[a-z0-9]+)+)"', text))
        ids |= set(re.findall(r'Finding\(\s*"([a-z0-9]+(?:-[a-z0-9]+)+)"', text))
    assert len(ids) > 30
    missing = sorted(ids - set(docs))
    assert missing == []


def test_doctor_refuses_a_folder_that_is_not_a_dump(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "plan-out"
    assert cli("plan", spec, "-d", out, "--chart", CHART).exit_code == 0
    r = cli("doctor", "--dump", out)
    assert r.exit_code == 2 and "not a cluster dump" in r.stderr and str(out) in r.stderr


def test_unquoted_kubernetes_version_gets_a_quoting_hint(tmp_path):
    import pytest

    from gpuslice import SpecError, parse_spec_text

    with pytest.raises(SpecError) as ei:
        parse_spec_text(MINIMAL.replace('"1.33"', "1.30"), "s.yaml")
    (p,) = ei.value.problems
    assert p.path == "cluster.kubernetesVersion" and p.line == 6
    assert "quote it" in p.message and "1.3" in p.message


def test_bench_bad_input_leaves_no_out_folder(cli, tmp_path):
    out = tmp_path / "bx"
    r = cli("bench", "--report-from", tmp_path / "missing.json", "--out-dir", out)
    assert r.exit_code == 2 and not out.exists()
    r = cli("bench", "--backend", "nonsense", "--out-dir", out)
    assert r.exit_code == 2 and "unknown backend" in r.stderr and not out.exists()


def test_plan_pauses_the_cycle_collector_and_resumes_it(cli, tmp_path, monkeypatch):
    """plan and render work with the cycle collector paused (millions of short-lived objects, freed by reference
    counting); it runs again afterwards, whether the folder was written, the plan refused or the spec was bad."""
    import gc

    from gpuslice import api

    seen: list[bool] = []
    real_plan = api.plan

    def plan(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(api, "plan", plan)
    good = write_spec(tmp_path, MINIMAL)
    refused = write_spec(tmp_path, MINIMAL.replace("instanceType: g5.xlarge", "instanceType: zz9.unknown"), "r.yaml")
    bad = write_spec(tmp_path, "nodePools: 3\n", "bad.yaml")
    assert gc.isenabled()
    for argv, code in (
        (["plan", good, "-d", tmp_path / "a", "--chart", CHART], 0),
        (["render", good, "-d", tmp_path / "b", "--chart", CHART], 0),
        (["plan", refused, "-d", tmp_path / "c", "--chart", CHART], 1),
        (["plan", bad, "-d", tmp_path / "d", "--chart", CHART], 2),
    ):
        assert cli(*argv).exit_code == code, argv
        assert gc.isenabled(), argv
    assert seen == [False] * 4
