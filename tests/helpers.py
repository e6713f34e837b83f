"""Test helpers shared by several test modules."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CHARTS, EXAMPLES, FIXTURES, ROOT  # noqa: F401


def write_spec(tmp_path: Path, text: str, name: str = "gpuslice.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


MINIMAL = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster:
  name: demo
  deploymentId: demo-1
  kubernetesVersion: "1.33"
nodePools:
  - name: pool-a
    instanceType: g5.xlarge
    os: ubuntu-22.04
    disks:
      rootGiB: 40
      data: {sizeGiB: 100}
    sharing: {strategy: time-slicing, replicas: 4, failRequestsGreaterThanOne: true}
"""
