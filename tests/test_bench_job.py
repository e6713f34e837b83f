"""gpuslice bench --render-job: a Job validated against the Kubernetes OpenAPI schema (kubernetes-validate)."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gpuslice.bench.job import job_defaults, render_job
from gpuslice.errors import GpusliceError
from gpuslice.resolve import resolve
from gpuslice.spec import load_spec
from tests.conftest import EXAMPLES, FIXTURES

SPEC = FIXTURES / "bench" / "spec-h200.yaml"


def _validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, "1.33", strict=True)


def test_job_for_a_shared_pool() -> None:
    r = resolve(load_spec(SPEC))
    job = render_job(r, "h200-online")
    m = job.manifest
    _validate(m)
    pod = m["spec"]["template"]["spec"]
    assert m["metadata"]["namespace"] == r.namespace
    assert pod["hostIPC"] is True and pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"gpuslice.dev/pool": "h200-online", "nvidia.com/device-plugin.config": "exclusive"}
    (c,) = pod["containers"]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 1}  # one whole GPU on the exclusive config
    # The image goes through the spec's pull-through proxy, with its pull secret.
    default = job_defaults()["image"]["reference"]
    assert c["image"] == "registry.corp.example/docker-remote/" + default
    assert pod["imagePullSecrets"] == [{"name": "corp-registry"}]
    assert {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"} in pod["tolerations"]
    script = c["command"][2]
    assert 'gpuslice bench --out-dir "$out" --print-log' in script and "pip install" in script
    assert {v["name"] for v in pod["volumes"]} == {"results", "dshm"}
    assert any("kubectl label node" in n and "time-slicing-4" in n for n in job.notes)
    text = job.yaml()
    assert text.startswith("# gpuslice bench Job for pool h200-online")
    assert yaml.safe_load(text) == m


def test_job_options_and_exclusive_pool() -> None:
    r = resolve(load_spec(EXAMPLES / "mixed-pools.yaml"))
    job = render_job(
        r,
        "a10g-training",
        image="ghcr.io/acme/gpuslice-bench:1.0",
        install=False,
        bench_args=["--n", "1,2", "--window", "1.5"],
    )
    _validate(job.manifest)
    c = job.manifest["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "mirror.corp.example:5000/proxy/ghcr.io/acme/gpuslice-bench:1.0"
    assert "pip install" not in c["command"][2] and "--n 1,2 --window 1.5" in c["command"][2]
    assert not any("kubectl label node" in n for n in job.notes)  # strategy none: already whole GPUs
    assert len(job.manifest["metadata"]["name"]) <= 63


def test_unknown_pool_and_bad_image() -> None:
    r = resolve(load_spec(SPEC))
    with pytest.raises(GpusliceError, match="did you mean 'h200-batch'"):
        render_job(r, "h200-bach")
    with pytest.raises(GpusliceError, match="--image"):
        render_job(r, "h200-batch", image="not an image")


def test_cli_render_job(cli, tmp_path: Path) -> None:
    out = tmp_path / "job.yaml"
    r = cli("bench", "--render-job", "--spec", str(SPEC), "--pool", "h200-batch", "--job-out", str(out), "--n", "1,2,4")
    assert r.exit_code == 0, r.output
    m = yaml.safe_load(out.read_text())
    _validate(m)
    assert "--n 1,2,4" in m["spec"]["template"]["spec"]["containers"][0]["command"][2]
    r = cli("bench", "--render-job", "--spec", str(SPEC))
    assert r.exit_code == 2 and "--pool" in r.stderr
    r = cli("bench", "--render-job", "--spec", str(SPEC), "--pool", "nope")
    assert r.exit_code == 2 and "no node pool named 'nope'" in r.stderr


def test_pod_log_from_print_log_feeds_recommend(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Job prints (bench --print-log) is what recommend --bench reads back."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no MPS tools: MPS is skipped with a note
    r = cli(
        "bench",
        "--backend",
        "fake",
        "--n",
        "1,2",
        "--window",
        "0.3",
        "--workloads",
        "compute,latency",
        "--out-dir",
        str(tmp_path / "o"),
        "--print-log",
        "--no-plots",
        "--param",
        "fakeSpin=5000",
    )
    assert r.exit_code == 0, r.output
    log = tmp_path / "bench.log"
    log.write_text("pod started\n" + r.stdout)
    rec = cli("recommend", "--bench", str(log), "--workload", "latency", "-o", "json")
    assert rec.exit_code == 0, rec.output
    doc = json.loads(rec.stdout)
    assert doc["recommendations"][0]["strategy"] in ("none", "time-slicing")
    assert not (tmp_path / "o" / "results.partial.json").exists()
    assert json.loads((tmp_path / "o" / "results.json").read_text())["strategies"]["mps"]["status"] == "skipped"
