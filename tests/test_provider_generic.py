"""The provider seam: provider generic plans an on-prem pool with no EKS output and no EBS/SSM/EKS rules."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import typing

from gpuslice import api
from gpuslice.checks import run_checks
from gpuslice.providers import providers
from gpuslice.render import RenderOptions, render_all
from gpuslice.spec import ProviderId
from tests.helpers import EXAMPLES, write_spec

ONPREM = EXAMPLES / "generic-onprem.yaml"
EKS_MARKERS = ("eks.amazonaws.com", "/etc/eks/bootstrap.sh", "karpenter", "eksctl", "LaunchTemplate", "nodeadm")

ROOT_ONLY = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {{name: dc, deploymentId: dc-1, provider: {provider}, kubernetesVersion: "1.33"}}
nodePools:
  - name: p
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    ssmPolicyAttached: false
    sharing: {{strategy: time-slicing, replicas: 2, failRequestsGreaterThanOne: true}}
"""


def test_provider_ids_in_the_spec_are_the_registry():
    assert set(typing.get_args(ProviderId)) == set(providers())


def test_generic_onprem_plans_cleanly_with_no_eks_output(cli, tmp_path):
    out = tmp_path / "plan"
    r = cli("plan", ONPREM, "-d", out, "-o", "json")
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["findings"] == []
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert "node-prep/h100-shared/node-prep.sh" in files
    assert {"values.yaml", "device-plugin-config.yaml", "node-labels.json", "smoke-test.yaml", "images.txt"} <= set(
        files
    )
    assert not [f for f in files if f.startswith(("bootstrap/", "nodegroups/"))], files
    for f in files:
        text = (out / f).read_text(encoding="utf-8")
        assert not [m for m in EKS_MARKERS if m in text], (f, [m for m in EKS_MARKERS if m in text])
    # The pool's 8 H100s come from the spec, not from an instance type.
    labels = json.loads((out / "node-labels.json").read_text())
    assert labels["h100-shared"]["nvidia.com/device-plugin.config"] == "time-slicing-4"
    plan_md = (out / "PLAN.md").read_text()
    assert "| h100-shared | - | ubuntu-22.04 | 8 x H100 | 80 GiB | time-slicing x4 |" in plan_md


def test_node_prep_script_labels_and_taints_the_named_nodes(tmp_path):
    """Run the rendered script with bash and a kubectl stand-in that records its arguments."""
    resolved = api.load(ONPREM)
    files = render_all(resolved, RenderOptions(prove=False), only={"node-prep"}).files
    script = tmp_path / "node-prep.sh"
    script.write_text(str(files["node-prep/h100-shared/node-prep.sh"]))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> {log}\n')
    kubectl.chmod(0o755)
    env = {**os.environ, "KUBECTL": str(kubectl)}
    assert subprocess.run(["bash", str(script)], env=env, capture_output=True).returncode == 2  # no node named
    subprocess.run(["bash", str(script), "gpu-node-1", "gpu-node-2"], env=env, check=True)
    pool = resolved.pools[0]
    want_labels = " ".join(f"{k}={v}" for k, v in sorted(pool.node_labels.items()))
    assert log.read_text().splitlines() == [
        f"label node gpu-node-1 --overwrite {want_labels}",
        "taint node gpu-node-1 --overwrite nvidia.com/gpu=true:NoSchedule",
        f"label node gpu-node-2 --overwrite {want_labels}",
        "taint node gpu-node-2 --overwrite nvidia.com/gpu=true:NoSchedule",
    ]


def test_generic_runs_no_ebs_ssm_or_eks_rules(tmp_path):
    """The same pool (20 GiB default root, SSM policy not attached): EKS reports both, generic neither."""
    ids = {}
    for provider in ("eks", "generic"):
        spec = write_spec(tmp_path, ROOT_ONLY.format(provider=provider), f"{provider}.yaml")
        ids[provider] = {f.id for f in run_checks(api.load(spec))}
    assert {"disk-root-too-small", "eks-ssm-policy"} <= ids["eks"]
    assert not {i for i in ids["generic"] if i.startswith(("disk-", "eks-", "names-eksctl"))}, ids["generic"]


def test_instance_type_is_required_for_eks_only(cli, tmp_path):
    no_type = ROOT_ONLY.replace("    instanceType: g5.2xlarge\n", "")
    spec = write_spec(tmp_path, no_type.format(provider="eks"), "eks.yaml")
    r = cli("check", spec)
    assert r.exit_code == 2
    assert f"{spec}:5:5: nodePools[0].instanceType: required for provider eks" in " ".join(r.output.split())
    # generic: fine, as long as the GPUs are described; without them the GPU check says what is missing.
    spec = write_spec(tmp_path, no_type.format(provider="generic"), "generic.yaml")
    (f,) = [f for f in run_checks(api.load(spec)) if f.id == "gpu-unknown-instance-type"]
    assert "names no instanceType" in f.message and "model, count, memoryGiB" in f.message
