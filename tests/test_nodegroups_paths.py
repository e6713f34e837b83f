"""Every node path (EKS managed node group, eksctl, Karpenter, CDK) against upstream behaviour: AMIs a managed node
group can use, create-nodegroup.sh run against a stand-in AWS CLI, eksctl without its own device plugin,
Karpenter's taints on AL2023, cluster-autoscaler and Karpenter told about GPUs x replicas, and a matrix over OS
family x disk mode x node path in which the node joins exactly once, after its disks, with the pool's labels and
taints. Only AWS is stubbed (botocore Stubber, a fake ``aws`` program)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuslice.render import RenderOptions, ami_lookup
from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups as ng
from gpuslice.render.bootstrap.common import family_name
from gpuslice.resolve import ResolvedPool, ResolvedSpec, resolve
from gpuslice.spec import parse_spec_text
from tests.test_bootstrap import MATRIX, decoded_write_files, env_values, matrix, mime_parts
from tests.test_bootstrap_shell import ROOT_DISK, Machine, ebs, store
from tests.test_nodegroups import api_errors, crd_validator, errors

NODE_ROLE = "arn:aws:iam::123456789012:role/gpu-node"
SUBNETS = "subnet-0123456789abcdef0 subnet-0fedcba9876543210"
AMI = "ami-0123456789abcdef0"


def pool(r: ResolvedSpec, name: str) -> ResolvedPool:
    p = r.pool(name)
    assert p is not None
    return p


def custom_pools(r: ResolvedSpec) -> list[ResolvedPool]:
    return [p for p in r.pools if ng.custom_ami(r, p)]


# ----------------------------------------------------------------------------------------------------------
# Managed node groups: AMIs, placeholders, versions


def test_no_launch_template_asks_eks_to_resolve_an_ssm_parameter() -> None:
    r = matrix()
    files = ng.render(r, RenderOptions()).files
    assert custom_pools(r)
    for p in r.pools:
        text = files.get(f"nodegroups/{p.name}/launch-template.json")
        if text is None:
            continue
        lt = json.loads(text)
        assert "resolve:ssm" not in str(text), p.name
        mng = json.loads(files[f"nodegroups/{p.name}/managed-nodegroup.json"])
        # EKS refuses version/releaseVersion next to a launch template that names an AMI
        assert "version" not in mng and "releaseVersion" not in mng, p.name
        if ng.custom_ami(r, p):
            assert lt["LaunchTemplateData"]["ImageId"] == ng.AMI_PLACEHOLDER
            assert "amiType" not in mng
        else:
            assert "ImageId" not in lt["LaunchTemplateData"] and "amiType" in mng
        # the fields the user fills in are named as such
        assert mng["nodeRole"] == ng.NODE_ROLE_PLACEHOLDER and mng["subnets"] == [ng.SUBNET_PLACEHOLDER]


def test_pinned_ami_from_the_spec_and_from_the_command_line() -> None:
    spec = MATRIX.replace("    os: ubuntu-22.04\n", f"    os: ubuntu-22.04\n    amiId: {AMI}\n", 1)
    r = resolve(parse_spec_text(spec, "m.yaml"))
    files = ng.render(r, RenderOptions()).files
    assert json.loads(files["nodegroups/u22-data/launch-template.json"])["LaunchTemplateData"]["ImageId"] == AMI
    # nothing left to resolve: the script reads no SSM parameter
    assert 'ssm_parameter=""' in files["nodegroups/u22-data/create-nodegroup.sh"]
    # --ami-id wins over the spec
    other = "ami-0fedcba9876543210"
    files = ng.render(r, RenderOptions(ami_ids={"u22-data": other, "u24-raid": AMI})).files
    assert json.loads(files["nodegroups/u22-data/launch-template.json"])["LaunchTemplateData"]["ImageId"] == other
    assert json.loads(files["nodegroups/u24-raid/launch-template.json"])["LaunchTemplateData"]["ImageId"] == AMI


def test_cli_refuses_a_malformed_or_unknown_ami_id(tmp_path: Path, cli) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(MATRIX)
    for arg, want in [("u22-data:ami-1", "expected POOL=ami-"), ("nope=ami-0123456789abcdef0", "names no pool")]:
        res = cli("plan", spec, "-d", tmp_path / "out", "--ami-id", arg)
        assert res.exit_code == 2, res.output
        assert want in res.output
        assert not (tmp_path / "out").exists()


def _stubbed_ssm(responses: dict[str, Any]) -> Any:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    for name, value in responses.items():
        if isinstance(value, str):
            stub.add_response(
                "get_parameter", {"Parameter": {"Name": name, "Value": value, "Type": "String"}}, {"Name": name}
            )
        else:
            stub.add_client_error(
                "get_parameter", service_error_code="ParameterNotFound", expected_params={"Name": name}
            )
    stub.activate()
    return client


def test_resolve_amis_reads_the_public_parameter_with_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    r = matrix()
    params = {p.name: bs.ami_ssm_parameter(r, p) for p in custom_pools(r)}
    names = list(params)
    responses = {params[names[0]]: AMI, **{params[n]: None for n in names[1:]}}
    client = _stubbed_ssm(responses)
    monkeypatch.setattr(ami_lookup, "_client", lambda region: client)
    result = ng.render(r, RenderOptions(resolve_amis=True))
    lt = json.loads(result.files[f"nodegroups/{names[0]}/launch-template.json"])
    assert lt["LaunchTemplateData"]["ImageId"] == AMI
    assert 'ssm_parameter=""' in result.files[f"nodegroups/{names[0]}/create-nodegroup.sh"]
    unresolved = [f for f in result.findings if f.id == "nodegroups-ami-unresolved"]
    assert sorted(f.pool for f in unresolved) == sorted(names[1:])
    assert all("ParameterNotFound" in f.message for f in unresolved)
    for n in names[1:]:
        lt = json.loads(result.files[f"nodegroups/{n}/launch-template.json"])
        assert lt["LaunchTemplateData"]["ImageId"] == ng.AMI_PLACEHOLDER
        assert shlex.quote(params[n]) in result.files[f"nodegroups/{n}/create-nodegroup.sh"]


def test_resolve_amis_without_boto3_falls_back_to_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_boto3(region: str) -> Any:
        raise ImportError("No module named 'boto3'")

    monkeypatch.setattr(ami_lookup, "_client", no_boto3)
    r = matrix()
    result = ng.render(r, RenderOptions(resolve_amis=True))
    (f, *_) = [f for f in result.findings if f.id == "nodegroups-ami-unresolved"]
    assert "pip install 'gpuslice[aws]'" in f.message


FAKE_AWS = r"""#!{python}
import json, os, sys
args = sys.argv[1:]
rec = {{"argv": args}}
for a in args:
    if a.startswith("file://"):
        rec["input"] = json.load(open(a[len("file://"):]))
with open(os.environ["FAKE_AWS_LOG"], "a") as fh:
    fh.write(json.dumps(rec) + "\n")
if args[:2] == ["ssm", "get-parameter"]:
    print(os.environ.get("FAKE_AMI", "ami-0123456789abcdef0"))
elif args[:2] == ["eks", "describe-nodegroup"]:
    print("eks-gpu-asg-1234")
"""


def run_create(tmp: Path, files: dict[str, Any], pool_name: str, env: dict[str, str]) -> tuple[int, str, list[dict]]:
    folder = tmp / "nodegroups" / pool_name
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        if rel.startswith(f"nodegroups/{pool_name}/"):
            (tmp / rel).write_text(content)
    (folder / "create-nodegroup.sh").chmod(0o755)
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS.format(python=sys.executable))
    aws.chmod(0o755)
    log = tmp / "aws.jsonl"
    log.write_text("")
    path = f"{bin_dir}:{os.environ['PATH']}"
    p = subprocess.run(
        [str(folder / "create-nodegroup.sh")],
        capture_output=True,
        text=True,
        env={"PATH": path, "FAKE_AWS_LOG": str(log), **env},
        timeout=60,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines() if line]
    return p.returncode, p.stderr, calls


def test_create_nodegroup_script_resolves_the_ami_then_creates_and_tags(tmp_path: Path) -> None:
    r = matrix()
    files = {k: v for k, v in ng.render(r, RenderOptions()).files.items() if isinstance(v, str)}
    p = pool(r, "u22-data")
    rc, err, calls = run_create(tmp_path, files, p.name, {"NODE_ROLE_ARN": NODE_ROLE, "SUBNET_IDS": SUBNETS})
    assert rc == 0, err
    ops = [c["argv"][:2] for c in calls]
    assert ops == [
        ["ssm", "get-parameter"],
        ["ec2", "create-launch-template"],
        ["eks", "create-nodegroup"],
        ["eks", "wait"],
        ["eks", "describe-nodegroup"],
        ["autoscaling", "create-or-update-tags"],
    ]
    assert calls[0]["argv"][calls[0]["argv"].index("--name") + 1] == bs.ami_ssm_parameter(r, p)
    assert calls[0]["argv"][calls[0]["argv"].index("--region") + 1] == "us-east-1"
    lt = calls[1]["input"]
    assert lt["LaunchTemplateData"]["ImageId"] == AMI
    assert api_errors(lt, "ec2", "CreateLaunchTemplate") == ""
    mng = calls[2]["input"]
    assert mng["nodeRole"] == NODE_ROLE and mng["subnets"] == SUBNETS.split()
    assert api_errors(mng, "eks", "CreateNodegroup") == ""
    tags = calls[5]["input"]
    assert api_errors(tags, "autoscaling", "CreateOrUpdateTags") == ""
    assert {t["ResourceId"] for t in tags["Tags"]} == {"eks-gpu-asg-1234"}
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == ng.autoscaler_tags(r, p)
    # An EKS AMI type (AL2023): no SSM lookup, no ImageId.
    (tmp_path / "b").mkdir()
    rc, err, calls = run_create(
        tmp_path / "b", files, "al2023-data", {"NODE_ROLE_ARN": NODE_ROLE, "SUBNET_IDS": SUBNETS}
    )
    assert rc == 0, err
    assert calls[0]["argv"][:2] == ["ec2", "create-launch-template"]
    assert "ImageId" not in calls[0]["input"]["LaunchTemplateData"]


def test_create_nodegroup_script_says_what_it_needs(tmp_path: Path) -> None:
    r = matrix()
    files = {k: v for k, v in ng.render(r, RenderOptions()).files.items() if isinstance(v, str)}
    rc, err, calls = run_create(tmp_path, files, "u22-data", {"SUBNET_IDS": SUBNETS})
    assert rc == 2 and "set NODE_ROLE_ARN" in err and calls == []
    rc, err, calls = run_create(tmp_path, files, "u22-data", {"NODE_ROLE_ARN": NODE_ROLE, "SUBNET_IDS": "sub-1"})
    assert rc == 2 and "'sub-1' is not a subnet id" in err
    assert not [c for c in calls if c["argv"][0] != "ssm"]
    rc, err, calls = run_create(
        tmp_path, files, "u22-data", {"NODE_ROLE_ARN": NODE_ROLE, "SUBNET_IDS": SUBNETS, "FAKE_AMI": "None"}
    )
    assert rc == 2 and "not an AMI id" in err
    assert [c["argv"][:2] for c in calls] == [["ssm", "get-parameter"]]


def test_create_nodegroup_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck
    r = matrix()
    for p in r.pools:
        if not bs.supported(p):
            continue
        text = ng.create_script(r, p, None)
        res = subprocess.run([shellcheck, "--severity=style", "-"], input=text, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout


# ----------------------------------------------------------------------------------------------------------
# eksctl, Karpenter, autoscalers


def test_eksctl_is_told_not_to_install_its_own_device_plugin() -> None:
    r = matrix()
    files = ng.render(r, RenderOptions()).files
    for p in r.pools:
        text = files[f"nodegroups/{p.name}/eksctl.yaml"]
        assert isinstance(text, str)
        assert text.startswith("# Create with: eksctl create nodegroup -f eksctl.yaml --install-nvidia-plugin=false")
        entry = yaml.safe_load(text)["nodeGroups"][0]
        assert entry["propagateASGTags"] is True
        for k, v in ng.autoscaler_tags(r, p).items():
            assert entry["tags"][k] == v


def test_karpenter_al2023_leaves_taints_to_karpenter() -> None:
    # kubelet flags replace the config's registerWithTaints, where Karpenter's NodeConfig puts the NodePool's
    # taints and karpenter.sh/unregistered:NoExecute
    r = matrix()
    p = pool(r, "al2023-data")
    assert p.spec.taints
    nc = ng.karpenter_nodeclass(r, p)["spec"]
    (cfg,) = [yaml.safe_load(t) for c, t in mime_parts(nc["userData"]) if c == "application/node.eks.aws"]
    flags = cfg["spec"]["kubelet"]["flags"]
    assert not [f for f in flags if f.startswith("--register-with-taints")]
    assert flags[0].startswith("--node-labels=")
    tmpl = ng.karpenter_nodepool(r, p)["spec"]["template"]["spec"]
    assert [(t["key"], t["effect"]) for t in tmpl["taints"]] == [(t.key, t.effect) for t in p.spec.taints]
    # the managed node group / self-managed user-data still registers them with the flag
    (own,) = [yaml.safe_load(t) for c, t in mime_parts(bs.user_data(r, p)) if c == "application/node.eks.aws"]
    assert "--register-with-taints=dedicated=inference:NoExecute" in own["spec"]["kubelet"]["flags"]


def test_al2023_nodeconfig_says_it_needs_merging_without_connection_details() -> None:
    r = matrix()
    p = pool(r, "al2023-data")
    text = bs.bootstrap_files(r, p)["nodeconfig.yaml"]
    assert "merges apiServerEndpoint" in text
    conn = bs.ClusterConnection(
        endpoint="https://x.eks.amazonaws.com", certificate_authority="LS0t", service_cidr="10.100.0.0/16"
    )
    full = bs.bootstrap_files(r, p, conn)["nodeconfig.yaml"]
    assert "merges apiServerEndpoint" not in full
    cluster = yaml.safe_load(full)["spec"]["cluster"]
    assert cluster["apiServerEndpoint"] and cluster["certificateAuthority"] and cluster["cidr"] == "10.100.0.0/16"


def test_autoscaler_tags_count_gpus_times_replicas() -> None:
    r = matrix()
    prefix = "k8s.io/cluster-autoscaler/node-template"
    for p in r.pools:
        tags = ng.autoscaler_tags(r, p)
        sh, gpus = p.sharing, p.gpu.count
        want = gpus * (sh.replicas if sh.shared else 1)
        assert tags[f"{prefix}/resources/{sh.advertised_resource if sh.shared else 'nvidia.com/gpu'}"] == str(want)
        if sh.shared and sh.advertised_resource != "nvidia.com/gpu":
            assert tags[f"{prefix}/resources/nvidia.com/gpu"] == "0"
        for k, v in p.node_labels.items():
            assert tags[f"{prefix}/label/{k}"] == v
        for t in p.spec.taints:
            assert tags[f"{prefix}/taint/{t.key}"] == f"{t.value}:{t.effect}"
        mng_tags = ng.managed_nodegroup(r, p)["tags"]
        assert {k: v for k, v in mng_tags.items() if k.startswith(prefix)} == ng.autoscaler_resource_tags(r, p)
        assert ng.autoscaler_resource_tags(r, p)  # GPUs (x replicas) on every GPU pool
        request = ng.autoscaler_tags_request(r, p)
        assert api_errors(request, "autoscaling", "CreateOrUpdateTags") == ""
    al = ng.autoscaler_tags(r, pool(r, "al2023-data"))
    assert al[f"{prefix}/resources/nvidia.com/gpu.shared"] == "8"  # g6.2xlarge: 1 L4 x 8, renamed


def test_karpenter_nodeoverlay_for_renamed_shared_resources() -> None:
    r = matrix()
    files = ng.render(r, RenderOptions()).files
    text = files["nodegroups/karpenter-nodeoverlays.yaml"]
    assert isinstance(text, str) and "featureGates.nodeOverlay" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    by_name = {d["metadata"]["name"]: d for d in docs}
    for p in r.pools:
        sh = p.sharing
        renamed = sh.shared and sh.advertised_resource != "nvidia.com/gpu"
        assert (p.node_group_name in by_name) == renamed, p.name
        if renamed:
            d = by_name[p.node_group_name]
            assert errors(crd_validator("karpenter.sh_nodeoverlays.yaml"), d) == []
            assert d["spec"]["capacity"] == {sh.advertised_resource: str(p.gpu.count * sh.replicas)}
            req = {x["key"]: x["values"] for x in d["spec"]["requirements"]}
            assert req["karpenter.sh/nodepool"] == [p.node_group_name]
            # CEL rule of the CRD: capacity never names cpu/memory/ephemeral-storage/pods
            assert not set(d["spec"]["capacity"]) & {"cpu", "memory", "ephemeral-storage", "pods"}
    bad = dict(docs[0], spec={**docs[0]["spec"], "weight": 0})
    assert errors(crd_validator("karpenter.sh_nodeoverlays.yaml"), bad)


# ----------------------------------------------------------------------------------------------------------
# The matrix: OS family x disk mode x node path


def _disks_for(r: ResolvedSpec, p: ResolvedPool) -> list[dict]:
    plan = bs.disk_plan(r, p)
    if plan is None:
        return [ROOT_DISK]
    if plan.mode == "instance-store":
        return [ROOT_DISK, store("/dev/nvme1n1"), store("/dev/nvme2n1")]
    return [ROOT_DISK, ebs("/dev/nvme1n1", plan.size_gib or 0, plan.device_name)]


def _paths(r: ResolvedSpec, p: ResolvedPool) -> dict[str, tuple[str, bool]]:
    """path -> (the user-data that path gives the node, whether the path's tool joins the node itself)."""
    from gpuslice.cdk import _render as cdk_render

    mng_lt = ng.launch_template(r, p)
    import base64

    out = {"mng": (base64.b64decode(mng_lt["LaunchTemplateData"]["UserData"]).decode(), not ng.custom_ami(r, p))}
    nc = ng.karpenter_nodeclass(r, p)["spec"]
    out["karpenter"] = (nc.get("userData", ""), nc.get("amiFamily") != "Custom")
    out["cdk-ssm"] = (cdk_render.user_data(r, p, None, eks_joins=False), False)
    if bs.mng_ami_type(r, p):
        out["cdk-eks"] = (cdk_render.user_data(r, p, None, eks_joins=True), True)
    return out


def _install_pre_bootstrap(m: Machine, commands: list[str]) -> None:
    """What eksctl's preBootstrapCommands do, into the fake root (the last command runs the node setup)."""
    import base64
    import gzip
    import re

    for c in commands[:-1]:
        found = re.fullmatch(r"mkdir -p \S+ && echo (\S+) \| base64 -d \| gunzip > (\S+) && chmod (\d+) \S+", c)
        assert found, c
        m.install({found.group(2): gzip.decompress(base64.b64decode(found.group(1))).decode()}, int(found.group(3), 8))
    if commands:
        assert commands[-1] == "/usr/local/sbin/gpuslice-node-setup"


MATRIX_POOLS = [p.name for p in matrix().pools if family_name(p) in ("ubuntu-eks", "al2-eks")]


@pytest.mark.parametrize("pool_name", MATRIX_POOLS)
def test_matrix_the_node_joins_once_after_its_disks_with_its_labels_and_taints(tmp_path: Path, pool_name: str) -> None:
    r = matrix()
    p = pool(r, pool_name)
    paths: dict[str, tuple[str | None, bool]] = {**_paths(r, p), "eksctl": (None, True)}
    for path, (ud, tool_joins) in paths.items():
        (tmp_path / path).mkdir()
        m = Machine(tmp_path / path, _disks_for(r, p))
        if ud is None:  # eksctl: preBootstrapCommands install the files, eksctl's bootstrap joins
            entry = ng.eksctl_nodegroup(r, p)
            assert entry["labels"] == p.node_labels
            assert [(t["key"], t.get("value", ""), t["effect"]) for t in entry.get("taints", [])] == [
                (t.key, t.value, t.effect) for t in p.spec.taints
            ]
            if not entry.get("preBootstrapCommands"):
                continue  # nothing to prepare: eksctl's bootstrap alone joins
            _install_pre_bootstrap(m, entry["preBootstrapCommands"])
        else:
            m.install_write_files(ud)
        m.update(snap={"installed": ["amazon-ssm-agent"]})
        run = m.run("/usr/local/sbin/gpuslice-node-setup")
        assert run.rc == 0, (path, run.stderr)
        joins = run.called("bootstrap.sh")
        assert len(joins) + int(tool_joins) == 1, (path, joins, tool_joins)  # exactly one join
        if bs.disk_plan(r, p) is not None:
            disk = min(i for i, c in enumerate(run.calls) if c[0].startswith("mkfs.") or c[0] == "mdadm")
            if joins:
                assert disk < run.index("bootstrap.sh"), path
            else:  # the tool's join comes later (EKS's part, Karpenter's bootstrap.sh) and is guarded by the flag
                assert (m.root / "etc/systemd/system/gpuslice-disks.service").exists()
        env = env_values((m.root / "etc/gpuslice/node.env").read_text())
        flags = shlex.split(env["GPUSLICE_KUBELET_EXTRA_ARGS"])
        if joins:
            extra = shlex.split(joins[0][joins[0].index("--kubelet-extra-args") + 1])
            assert extra == flags
            labels = dict(kv.split("=", 1) for kv in flags[0].removeprefix("--node-labels=").split(","))
            assert labels == p.node_labels, path
            taints = [f for f in flags if f.startswith("--register-with-taints=")]
            want = [bs.common.taint_string(t) for t in p.spec.taints]
            if path == "karpenter":
                want = ["karpenter.sh/unregistered:NoExecute", *want]
            got = taints[0].removeprefix("--register-with-taints=").split(",") if taints else []
            assert got == want, path


@pytest.mark.parametrize("pool_name", [p.name for p in matrix().pools if family_name(p) == "nodeadm"])
def test_matrix_al2023_paths_carry_labels_and_taints_once(pool_name: str) -> None:
    # AL2023: nodeadm joins once from the merged NodeConfigs; gpuslice's part carries labels, and taints except
    # where Karpenter registers them.
    r = matrix()
    p = pool(r, pool_name)
    for path, (ud, _tool_joins) in _paths(r, p).items():
        parts = mime_parts(ud)
        (cfg,) = [yaml.safe_load(t) for c, t in parts if c == "application/node.eks.aws"]
        flags = cfg["spec"]["kubelet"]["flags"]
        labels = dict(kv.split("=", 1) for kv in flags[0].removeprefix("--node-labels=").split(","))
        assert labels == p.node_labels, path
        taint_flags = [f for f in flags if f.startswith("--register-with-taints=")]
        assert bool(taint_flags) == (bool(p.spec.taints) and path != "karpenter"), path
        assert not any(c == "text/x-shellscript" and "bootstrap.sh" in t for c, t in parts), path
        cc = [yaml.safe_load(t) for c, t in parts if c == "text/cloud-config"]
        if cc:
            files = decoded_write_files(cc[0])
            assert "GPUSLICE_JOIN=0" in files["/etc/gpuslice/node.env"]
            assert "/etc/systemd/system/nodeadm-run.service.d/10-gpuslice-disks.conf" in files


def test_plan_md_tells_each_path_what_it_needs_and_what_autoscalers_believe() -> None:
    from gpuslice.render.report import plan_markdown

    r = matrix()
    text = plan_markdown(r, [], [])
    section = text.split("## Node paths", 1)[1].split("## Findings", 1)[0]
    per_pool = {chunk.split(" ", 1)[0]: chunk for chunk in section.split("\n### ")[1:]}
    assert set(per_pool) == {p.name for p in r.pools}
    u22 = per_pool["u22-data"]
    assert "NODE_ROLE_ARN" in u22 and "SUBNET_IDS" in u22
    assert f"reads `{bs.ami_ssm_parameter(r, pool(r, 'u22-data'))}`" in u22
    assert "--install-nvidia-plugin=false" in u22 and "Karpenter >= 1.4" in u22
    assert "`nvidia.com/gpu` = 4, the pool's labels and taints" in u22  # g5.2xlarge: 1 A10G x 4 (cluster-autoscaler)
    assert "launches up to 4x the nodes" in u22  # Karpenter: physical GPUs for an in-place multiplied resource
    al = per_pool["al2023-data"]
    assert "EKS AMI type `AL2023_x86_64_NVIDIA`" in al and "alias `al2023@latest`" in al
    assert "`nvidia.com/gpu.shared` = 8 through `nodegroups/karpenter-nodeoverlays.yaml`" in al
