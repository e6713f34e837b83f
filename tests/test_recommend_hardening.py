"""recommend/bench on inputs the committed H200 run does not cover: another GPU shape, MPS skipped or not asked
for, specs written in other YAML styles (CRLF, BOM, document markers, anchors, symlinks), a Job per pool of every
spec in the repository."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gpuslice.bench.job import render_job
from gpuslice.bench.recommend import PoolTarget, recommend, recommend_one
from gpuslice.bench.results import load_results, validate_results
from gpuslice.bench.writeback import apply_recommendations, write_recommendations
from gpuslice.errors import GpusliceError, SpecError
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, EXCLUSIVE_KEY, resolve
from gpuslice.spec import load_spec
from tests.conftest import EXAMPLES, FIXTURES, ROOT

H200 = ROOT / "benchmarks" / "results" / "2026-11-28-h200" / "results.json"
MIXED = EXAMPLES / "mixed-pools.yaml"


@pytest.fixture(scope="module")
def h200() -> dict[str, Any]:
    return load_results(H200)


def _as_gpu(results: dict[str, Any], name: str, memory_mib: int) -> dict[str, Any]:
    """The same measurements, reported for another GPU (its name and memory are what recommend reads)."""
    doc = copy.deepcopy(results)
    doc["gpu"].update(name=name, memoryMiB=memory_mib, migSupported=False)
    validate_results(doc)
    return doc


def _without(results: dict[str, Any], strategies: tuple[str, ...], status: str | None, note: str) -> dict[str, Any]:
    doc = copy.deepcopy(results)
    doc["cases"] = [c for c in doc["cases"] if c["strategy"] not in strategies]
    for s in strategies:
        if status is None:  # never asked for
            doc["config"]["strategies"].remove(s)
            doc["strategies"].pop(s, None)
        else:
            doc["strategies"][s] = {"status": status, "note": note}
    validate_results(doc)
    return doc


# -- another GPU shape ---------------------------------------------------------------------------------------


def test_smaller_gpu_caps_replicas_by_memory_and_says_so(h200: dict[str, Any]) -> None:
    a10g = _as_gpu(h200, "NVIDIA A10G", 23028)  # 22.5 GiB
    rec = recommend_one(a10g, PoolTarget(workloads=("latency",)))
    # 8 x 4 GiB tenants do not fit in 22 GiB: the largest MPS setting that fits wins, with the reason.
    assert (rec.strategy, rec.replicas) == ("mps", 4)
    text = " ".join(rec.reasons)
    assert "8 tenants x 4 GiB do not fit in 22 GiB" in text
    assert "about 5.6 GiB each" in text
    # Tenants that need 12 GiB: two do not fit either, so no sharing, and the reason names the limit.
    big = recommend_one(a10g, PoolTarget(workloads=("latency",), tenant_memory_gib=12.0))
    assert big.strategy == "none"
    assert any("do not fit in 22 GiB" in r for r in big.reasons)


def test_pools_of_the_benchmarked_gpu_are_not_called_indicative(h200: dict[str, Any]) -> None:
    a10g = _as_gpu(h200, "NVIDIA A10G", 23028)
    recs = {r.pool: r for r in recommend(a10g, resolve(load_spec(MIXED)), workloads=("latency",))}
    for pool in ("a10g-notebooks", "a10g-training"):
        assert not any("indicative" in w for w in recs[pool].warnings), recs[pool].warnings
    assert any("measured on NVIDIA A10G, but this pool runs T4" in w for w in recs["t4-dev"].warnings)
    # The pool's own GPU memory (T4: 16 GiB) bounds its replicas, not the benchmarked GPU's.
    assert recs["t4-dev"].replicas * 4 <= 16


def test_no_sharing_is_named_as_such_when_alone_is_best(h200: dict[str, Any]) -> None:
    doc = _without(h200, ("mps", "mps-uncapped"), "skipped", "MPS unavailable: nvidia-cuda-mps-control not found")
    rec = recommend_one(doc, PoolTarget(workloads=("compute",)))
    assert rec.strategy == "none"
    assert "(it is the best measured)" in rec.reasons[0]
    assert "time-slicing x1" not in " ".join(rec.reasons)


# -- MPS not measured ----------------------------------------------------------------------------------------


def test_skipped_mps_is_explained(h200: dict[str, Any], cli, tmp_path: Path) -> None:
    doc = _without(h200, ("mps", "mps-uncapped"), "skipped", "MPS unavailable: nvidia-cuda-mps-control not found")
    rec = recommend_one(doc, PoolTarget(workloads=("latency",)))
    # Without MPS the latency tenants gain nothing from sharing; the user must learn that MPS was never tried.
    assert rec.strategy == "none"
    (w,) = [w for w in rec.warnings if w.startswith("MPS was not measured")]
    assert "skipped: MPS unavailable: nvidia-cuda-mps-control not found" in w and "re-run the bench" in w
    f = tmp_path / "results.json"
    f.write_text(json.dumps(doc))
    r = cli("recommend", "--bench", str(f), "--workload", "latency", "-o", "json")
    assert r.exit_code == 0, r.output
    (out,) = json.loads(r.stdout)["recommendations"]
    assert any("MPS was not measured (skipped" in x for x in out["warnings"])


def test_mps_not_asked_for_or_failed(h200: dict[str, Any]) -> None:
    never = _without(h200, ("mps", "mps-uncapped"), None, "")
    rec = recommend_one(never, PoolTarget(workloads=("latency",)))
    assert any("MPS was not measured (not requested with --strategies)" in w for w in rec.warnings)
    failed = _without(h200, ("mps",), "failed", "mps-2: daemon did not start")
    rec = recommend_one(failed, PoolTarget(workloads=("mixed",)))
    assert any("MPS was not measured (failed: mps-2: daemon did not start)" in w for w in rec.warnings)
    # Fully measured: no such warning.
    assert not any("not measured" in w for w in recommend_one(h200, PoolTarget(workloads=("latency",))).warnings)


def test_partly_measured_mps_is_said(h200: dict[str, Any]) -> None:
    doc = copy.deepcopy(h200)
    doc["cases"] = [c for c in doc["cases"] if not (c["strategy"] == "mps" and c["n"] == 8)]
    doc["strategies"]["mps"] = {"status": "partial", "note": "mps-8: daemon did not start"}
    validate_results(doc)
    rec = recommend_one(doc, PoolTarget(workloads=("latency",)))
    assert (rec.strategy, rec.replicas) == ("mps", 4)
    assert any("MPS was only partly measured (mps-8: daemon did not start)" in w for w in rec.warnings)


# -- bench --render-job for every pool of every spec in the repository ---------------------------------------


def _all_specs() -> list[Path]:
    specs = sorted(EXAMPLES.glob("*.yaml")) + sorted((FIXTURES / "bench").glob("*.yaml"))
    specs += sorted((FIXTURES / "specs").glob("*/*.yaml"))
    return specs


def test_render_job_validates_for_every_pool_of_every_spec() -> None:
    jobs = 0
    for path in _all_specs():
        try:
            resolved = resolve(load_spec(path))
        except (SpecError, GpusliceError):
            continue  # fixtures of bad input
        for pool in resolved.pools:
            job = render_job(resolved, pool.name)
            m = yaml.safe_load(job.yaml())
            assert m == job.manifest
            kubernetes_validate.validate(m, "1.33", strict=True)
            pod = m["spec"]["template"]["spec"]
            sel = pod["nodeSelector"]
            # Every label the Job selects on is one the pool's nodes carry, except the exclusive config that
            # the notes tell the user to set on one node of a shared pool.
            for k, v in sel.items():
                if k == DEVICE_PLUGIN_CONFIG_LABEL and v == EXCLUSIVE_KEY and pool.sharing.shared:
                    assert any("kubectl label node" in n for n in job.notes), (path, pool.name)
                else:
                    assert pool.node_labels.get(k) == v, (path, pool.name, k)
            assert len(m["metadata"]["name"]) <= 63
            assert pod["containers"][0]["resources"]["limits"]
            jobs += 1
    assert jobs >= 10


# -- recommend --write on other YAML styles ------------------------------------------------------------------


def _write(tmp_path: Path, text: str | bytes, h200: dict[str, Any], **kw: Any) -> tuple[Path, list[str]]:
    spec = tmp_path / "gpuslice.yaml"
    if isinstance(text, bytes):
        spec.write_bytes(text)
    else:
        spec.write_text(text)
    recs = recommend(h200, resolve(load_spec(spec)), workloads=("latency",), **kw)
    return spec, write_recommendations(spec, recs)


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_write_keeps_crlf_bom_and_document_markers(h200: dict[str, Any], tmp_path: Path) -> None:
    base = MIXED.read_text()
    for name, raw in {
        "crlf": base.replace("\n", "\r\n").encode(),
        "bom": b"\xef\xbb\xbf" + base.encode(),
        "markers": ("%YAML 1.2\n---\n" + base + "...\n").encode(),
    }.items():
        d = tmp_path / name
        d.mkdir()
        spec, changes = _write(d, raw, h200)
        assert len(changes) == 3, name
        new = spec.read_bytes()
        assert new.startswith(raw[:3]), name
        assert new.count(b"\r\n") == raw.count(b"\r\n"), name
        assert (b"...\n" in new) == (b"...\n" in raw), name
        diff = _changed_lines(raw.decode("utf-8-sig"), new.decode("utf-8-sig"))
        assert len(diff) == 3 and all("sharing:" in x for x, _ in diff), (name, diff)
        spec_after = load_spec(spec)
        assert {p.sharing.strategy for p in spec_after.node_pools} == {"mps"}


def test_write_through_a_symlink_keeps_the_link_and_the_mode(h200: dict[str, Any], tmp_path: Path) -> None:
    real = tmp_path / "repo" / "gpuslice.yaml"
    real.parent.mkdir()
    real.write_text(MIXED.read_text())
    real.chmod(0o640)
    link = tmp_path / "spec.yaml"
    link.symlink_to(real)
    recs = recommend(h200, resolve(load_spec(link)), workloads=("latency",))
    assert write_recommendations(link, recs)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert "strategy: mps" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["gpuslice.yaml"]  # no temporary file left


def test_write_refuses_an_anchor_shared_by_pools_with_different_settings(h200: dict[str, Any], tmp_path: Path) -> None:
    text = MIXED.read_text()
    text = text.replace(
        "    sharing: {strategy: time-slicing, replicas: 4, failRequestsGreaterThanOne: true}",
        "    sharing: &shared {strategy: time-slicing, replicas: 4, failRequestsGreaterThanOne: true}",
    )
    text = text.replace(
        "    sharing: {strategy: time-slicing, replicas: 2, failRequestsGreaterThanOne: true}", "    sharing: *shared"
    )
    # T4 (16 GiB) and A10G (24 GiB) pools get different replica counts for 5 GiB tenants.
    with pytest.raises(GpusliceError, match="t4-dev, a10g-notebooks share one sharing mapping"):
        _write(tmp_path, text, h200, tenant_memory_gib=5.0)
    assert (tmp_path / "gpuslice.yaml").read_text() == text  # untouched
    # When both get the same setting, the shared mapping is written once and the alias stays.
    same = text.replace("    instanceType: g5.12xlarge", "    instanceType: g4dn.xlarge", 1)
    spec, changes = _write(tmp_path, same, h200, tenant_memory_gib=5.0)
    new = spec.read_text()
    assert "sharing: *shared" in new and "sharing: &shared {strategy: mps, replicas: 2" in new
    pools = {p.name: (p.sharing.strategy, p.sharing.replicas) for p in load_spec(spec).node_pools}
    assert pools["t4-dev"] == pools["a10g-notebooks"] == ("mps", 2)  # measured N: 1, 2, 4, 8
    assert len(changes) == 3


def test_failed_write_leaves_the_spec_untouched(
    h200: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(MIXED.read_text())
    recs = recommend(h200, resolve(load_spec(spec)), workloads=("latency",))

    def boom(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises((OSError, GpusliceError)):
        write_recommendations(spec, recs)
    monkeypatch.undo()
    assert spec.read_text() == MIXED.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["gpuslice.yaml"]


def test_nothing_to_change_returns_the_text_itself(h200: dict[str, Any]) -> None:
    text = MIXED.read_text()
    recs = recommend(h200, resolve(load_spec(MIXED)), workloads=("compute",))
    for r in recs:  # pretend the spec already holds every recommendation
        r.current_strategy, r.current_replicas = r.strategy, r.replicas
    assert apply_recommendations(text, recs, "x") == (text, [])


def test_render_job_on_a_mig_pool_says_it_needs_a_whole_gpu() -> None:
    r = resolve(load_spec(FIXTURES / "specs" / "sharing-mig-profile" / "a100-80gb-1g10gb-PASSED.yaml"))
    (pool,) = r.pools
    job = render_job(r, pool.name)
    kubernetes_validate.validate(job.manifest, "1.33", strict=True)
    assert job.manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert any("shares MIG slices (nvidia.com/mig-1g.10gb)" in n and "MIG disabled" in n for n in job.notes)
    # A pool without MIG gets no such note.
    assert not any("MIG" in n for n in render_job(resolve(load_spec(MIXED)), "t4-dev").notes)
