"""Replay what NVIDIA's own code said about every device-plugin config gpuslice renders, through verify and doctor.

The captures under benchmarks/results/2026-12-04-nvidia-oracle/ come from NVIDIA/k8s-device-plugin at the
catalog's device-plugin tags (v0.17.4 for operator v25.3.x, v0.20.0 for v26.7.x), run by
scripts/run-nvidia-oracle.sh: GFD's labelling (``gfd.run`` oneshot, the ``internal/lm`` labelers) writes
``<key>.labels``; the device plugin's resource manager (``internal/rm``: replicas, renaming, request
validation) writes ``<key>.rm.json``. Only the GPU is mocked there (upstream's own test mock, set to an H200).
The folder's README has the commands. No GPU or Go toolchain is needed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuslice import api
from gpuslice.cluster.doctor import run_doctor
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.verify import verify_view
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL
from gpuslice.sharing import configmap_data
from tests import k8sfixtures as kf

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "benchmarks" / "results" / "2026-12-04-nvidia-oracle"
MANIFEST = json.loads((CAPTURE / "manifest.json").read_text())
KEYS = sorted(MANIFEST["keys"])
TAGS = sorted(set(MANIFEST["charts"].values()))
NODE = "ip-10-0-1-17.ec2.internal"  # the fixture cluster's node of pool a10g-shared (1 GPU)
POOL = "a10g-shared"


def labels(tag: str, key: str) -> dict[str, str]:
    text = (CAPTURE / tag / f"{key}.labels").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def rm(tag: str, key: str) -> dict[str, Any]:
    return json.loads((CAPTURE / tag / f"{key}.rm.json").read_text())


def sharing_block(key: str) -> dict[str, Any]:
    k = MANIFEST["keys"][key]
    if k["strategy"] == "none":
        return {"strategy": "none"}
    return {
        "strategy": k["strategy"],
        "replicas": k["replicas"],
        "renameByDefault": k["renameByDefault"],
        "failRequestsGreaterThanOne": k["failRequestsGreaterThanOne"],
    }


def test_every_rendered_key_was_captured_for_every_chart() -> None:
    from gpuslice.catalog import load_catalog

    plugin_tags = {c.device_plugin_version for c in load_catalog().chart_versions.values()}
    assert set(TAGS) == plugin_tags
    for tag in TAGS:
        assert sorted(p.name.removesuffix(".labels") for p in (CAPTURE / tag).glob("*.labels")) == KEYS
        assert sorted(p.name.removesuffix(".rm.json") for p in (CAPTURE / tag).glob("*.rm.json")) == KEYS


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("key", KEYS)
def test_nvidia_code_agrees_with_what_gpuslice_expects(tag: str, key: str) -> None:
    """GFD's labels and the plugin's device list for the key are what verify and the docs say they will be."""
    want = MANIFEST["keys"][key]
    lab = labels(tag, key)
    shared = want["strategy"] != "none"
    assert lab["nvidia.com/gpu.replicas"] == str(want["replicas"])
    assert lab["nvidia.com/gpu.sharing-strategy"] == want["strategy"]
    assert lab["nvidia.com/gpu.count"] == "1"
    assert lab["nvidia.com/gpu.product"].endswith("-SHARED") == (shared and not want["renameByDefault"])
    res = rm(tag, key)["resources"]
    assert list(res) == [want["advertisedResource"]]  # nvidia.com/gpu, or nvidia.com/gpu.shared when renamed
    dev = res[want["advertisedResource"]]
    assert dev["count"] == want["replicas"]  # GPUs (1) x replicas
    assert list(dev["replicasPerGpu"].values()) == [want["replicas"]]  # every replica is the same GPU
    assert dev["validateOne"] is None
    if shared:
        refused = dev["validateTwoReplicasOfOneGpu"] is not None
        # failRequestsGreaterThanOne: a pod asking for 2 replicas is refused (v0.17.4 always refuses for MPS).
        assert refused == (want["failRequestsGreaterThanOne"] or (want["strategy"] == "mps" and tag == "v0.17.4"))
        if refused:
            assert "maximum request size for shared resources is 1" in dev["validateTwoReplicasOfOneGpu"]


def _cluster_with_capture(tmp_path: Path, spec_key: str, tag: str, captured_key: str) -> tuple[Any, Path]:
    """The fixture cluster, pool a10g-shared set to ``spec_key``, its node showing what NVIDIA's code said for
    ``captured_key``; returns (resolved spec, dump folder)."""
    doc = yaml.safe_load(kf.SPEC.read_text())
    doc["nodePools"][0]["sharing"] = sharing_block(spec_key)
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(yaml.safe_dump(doc))
    resolved = api.load(str(spec))
    c = kf.healthy()
    ns = c.namespace
    cm = resolved.device_plugin_configmap
    c.configmaps[ns] = [kf.configmap(cm, ns, configmap_data(resolved))]
    node = c.node(NODE)
    meta_labels = node["metadata"]["labels"]
    for k in [k for k in meta_labels if k.startswith("nvidia.com/")]:
        del meta_labels[k]
    meta_labels.update(labels(tag, captured_key))
    meta_labels[DEVICE_PLUGIN_CONFIG_LABEL] = captured_key
    for part in ("capacity", "allocatable"):
        q = node["status"][part]
        for r in [r for r in q if r.startswith("nvidia.com/gpu")]:
            del q[r]
        for r, d in rm(tag, captured_key)["resources"].items():
            q[r] = str(d["count"])
    if MANIFEST["keys"][captured_key]["strategy"] == "mps":
        # The operator runs NVIDIA's MPS control daemon on MPS nodes; verify looks for it.
        ds = "nvidia-device-plugin-mps-control-daemon"
        c.add_pod(
            kf.pod(
                f"{ds}-x1",
                ns,
                NODE,
                containers=[kf.container("mps-control-daemon-ctr", kf.DP_IMAGE)],
                statuses=[kf.running("mps-control-daemon-ctr", kf.DP_IMAGE)],
                owner=("DaemonSet", ds),
                labels={"app": ds},
            )
        )
    dump = c.write_dump(tmp_path / "dump")
    return resolved, dump


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("key", KEYS)
def test_verify_passes_on_what_nvidia_code_produced(tmp_path: Path, tag: str, key: str) -> None:
    resolved, dump = _cluster_with_capture(tmp_path, key, tag, key)
    res = verify_view(resolved, load_view(DumpSource(dump)))
    bad = [f for f in res.findings if f.severity is Severity.ERROR and f.pool == POOL]
    assert bad == [], [f.message for f in bad]
    row = next(r for r in res.rows if r.node == NODE)
    assert row.ok and row.capacity == row.expected == MANIFEST["keys"][key]["replicas"]


def test_verify_catches_a_node_left_on_another_key(tmp_path: Path) -> None:
    """The spec says time-slicing x4; the node still runs what NVIDIA's code made of time-slicing-2."""
    resolved, dump = _cluster_with_capture(tmp_path, "time-slicing-4", "v0.20.0", "time-slicing-2")
    res = verify_view(resolved, load_view(DumpSource(dump)))
    ids = {f.id for f in res.findings if f.severity is Severity.ERROR and f.pool == POOL}
    assert {"verify-capacity", "verify-label-replicas", "verify-label-config"} <= ids


def test_verify_catches_a_renamed_resource_the_spec_does_not_expect(tmp_path: Path) -> None:
    resolved, dump = _cluster_with_capture(tmp_path, "time-slicing-4", "v0.20.0", "time-slicing-4-renamed")
    res = verify_view(resolved, load_view(DumpSource(dump)))
    ids = {f.id for f in res.findings if f.severity is Severity.ERROR and f.pool == POOL}
    assert {"verify-capacity", "verify-label-product"} <= ids  # nvidia.com/gpu is gone, no -SHARED suffix


@pytest.mark.parametrize("key", ["time-slicing-4", "mps-4", "time-slicing-4-renamed", "exclusive"])
def test_doctor_finds_nothing_wrong_with_nvidia_labels(tmp_path: Path, key: str) -> None:
    resolved, dump = _cluster_with_capture(tmp_path, key, "v0.20.0", key)
    baseline = {f.id for f in run_doctor(load_view(DumpSource(kf.DUMPS / "healthy")), api.load(kf.SPEC))}
    found = run_doctor(load_view(DumpSource(dump)), resolved)
    new = [f for f in found if f.id not in baseline and f.severity is not Severity.INFO]
    assert new == [], [(f.id, f.message) for f in new]


def test_doctor_flags_a_node_left_on_another_key(tmp_path: Path) -> None:
    resolved, dump = _cluster_with_capture(tmp_path, "time-slicing-4", "v0.20.0", "time-slicing-2")
    found = run_doctor(load_view(DumpSource(dump)), resolved)
    assert any(f.id == "capacity-mismatch" and f.severity is Severity.ERROR for f in found)
