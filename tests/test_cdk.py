"""gpuslice.cdk: synthesize real CDK apps in-process (offline) and check the templates.

One App with several stacks is synthesized once per module (jsii start + synth cost a few seconds): the example
app (the story's Ubuntu g5 pool), the AL2023 example, the three-pool example, a pool on a CDK-created cluster,
and an edge-case spec (SSM off, a 63-character deploymentId, a 30-minute Helm timeout). cfn-lint checks every
synthesized template; the node bootstrap script is extracted from the template and run with stand-ins.
"""

from __future__ import annotations

import base64
import email
import gzip
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuslice.errors import GpusliceError, SpecError
from tests.helpers import EXAMPLES, ROOT, write_spec

if importlib.util.find_spec("aws_cdk") is None:  # pragma: no cover - the cdk extra is part of `make setup`
    pytest.skip("the cdk extra (aws-cdk-lib) is not installed", allow_module_level=True)

# isort: off
# gpuslice.cdk first: it points jsii at the environment's Node before aws_cdk starts it.
import gpuslice.cdk as gcdk
import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk.assertions import Annotations, Match, Template
# isort: on

from gpuslice.api import load
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, ResolvedSpec
from gpuslice.sharing import configmap_data

HELM_RELEASE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KUBECTL_ROLE = "arn:aws:iam::123456789012:role/kubectl"
ENDPOINT = "https://0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com"
CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()

EDGE_SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster:
  name: edge
  deploymentId: a-very-long-deployment-identifier-that-uses-all-63-characters-x
  kubernetesVersion: "1.33"
  region: eu-central-1
operator:
  timeoutMinutes: 30
nodePools:
  - name: l4
    instanceType: g6.2xlarge
    os: ubuntu-24.04
    ssm: false
    maxSize: 2
    disks:
      rootGiB: 60
      data: {sizeGiB: 250, deviceName: /dev/sdf}
    sharing: {strategy: mps, replicas: 3}
"""


def _vpc(stack: cdk.Stack, azs: list[str], id: str = "Vpc") -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        id,
        vpc_id="vpc-0a1b2c3d4e5f60718",
        availability_zones=azs,
        private_subnet_ids=[f"subnet-0a1b2c3d4e5f6071{i}" for i in range(len(azs))],
    )


def _load_example_app() -> Any:
    spec = importlib.util.spec_from_file_location("gpuslice_example_cdk_app", EXAMPLES / "cdk" / "app.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Synth:
    """The synthesized app: stacks by name, their resolved specs, templates and the output folder."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.app = cdk.App(outdir=str(outdir))
        self.stacks: dict[str, cdk.Stack] = {}
        self.resolved: dict[str, ResolvedSpec] = {}
        self.templates: dict[str, Template] = {}

    def add(self, name: str, stack: cdk.Stack, resolved: ResolvedSpec) -> None:
        self.stacks[name] = stack
        self.resolved[name] = resolved

    def tpl(self, name: str) -> dict[str, Any]:
        return self.templates[name].to_json()


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    s = Synth(tmp_path_factory.mktemp("cdk.out"))

    # 1. The example app, as a CDK user runs it (examples/cdk/app.py + cdk.json context).
    example = _load_example_app()
    stack = example.build(s.app)
    s.add("ubuntu", stack, load(EXAMPLES / "eks-ubuntu.yaml"))

    # 2. AL2023 NVIDIA on its SSM AMI (a custom AMI for EKS): the user-data must carry the join details.
    r = load(EXAMPLES / "eks-al2023.yaml")
    stack = cdk.Stack(s.app, "Al2023", env=cdk.Environment(region="us-east-1"))
    cluster = gcdk.import_cluster(
        stack,
        "Cluster",
        r,
        vpc=_vpc(stack, ["us-east-1a", "us-east-1b"]),
        kubectl_role_arn=KUBECTL_ROLE,
        cluster_endpoint=ENDPOINT,
        cluster_certificate_authority_data=CA_DATA,
    )
    gcdk.GpuCluster(stack, "Gpu", spec=r, cluster=cluster, service_cidr="10.100.0.0/16")
    s.add("al2023", stack, r)

    # 3. Three pools, one release; the spec file given as a path.
    stack = cdk.Stack(s.app, "Mixed", env=cdk.Environment(region="us-west-2"))
    r = load(EXAMPLES / "mixed-pools.yaml")
    cluster = gcdk.import_cluster(
        stack, "Cluster", r, vpc=_vpc(stack, ["us-west-2a", "us-west-2b", "us-west-2c"]), kubectl_role_arn=KUBECTL_ROLE
    )
    gcdk.GpuCluster(stack, "Gpu", spec=EXAMPLES / "mixed-pools.yaml", cluster=cluster)
    s.add("mixed", stack, r)

    # 4. A cluster created in the same app: endpoint and CA are deploy-time tokens inside the user-data.
    stack = cdk.Stack(s.app, "NewCluster", env=cdk.Environment(region="us-east-1"))
    r = load(EXAMPLES / "eks-al2023.yaml")
    new = eks.Cluster(
        stack,
        "Cluster",
        cluster_name=r.spec.cluster.name,
        version=eks.KubernetesVersion.of("1.34"),
        default_capacity=0,
        kubectl_layer=gcdk.kubectl_layer(stack, "Kubectl", "1.34"),
        vpc=_vpc(stack, ["us-east-1a", "us-east-1b"]),
        vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
    )
    gcdk.GpuNodePool(stack, "Pool", resolved=r, pool="l4-shared", cluster=new, service_cidr="172.20.0.0/16")
    s.add("new-cluster", stack, r)

    # 5. Edge cases: SSM off, a long deploymentId, a Helm timeout over CDK's limit, MPS on Ubuntu 24.04.
    spec_file = write_spec(tmp_path_factory.mktemp("edge"), EDGE_SPEC)
    r = load(spec_file)
    stack = cdk.Stack(s.app, "Edge", env=cdk.Environment(region="eu-central-1"))
    cluster = gcdk.import_cluster(
        stack, "Cluster", r, vpc=_vpc(stack, ["eu-central-1a"]), kubectl_role_arn=KUBECTL_ROLE
    )
    gcdk.GpuCluster(stack, "Gpu", spec=r, cluster=cluster, chart=ROOT / "examples" / "charts" / "gpu-operator-v26.7.0")
    s.add("edge", stack, r)

    s.app.synth()
    for name, st in s.stacks.items():
        s.templates[name] = Template.from_stack(st)
    return s


# ----------------------------------------------------------------------------------------------------------
# helpers over templates


def resources(t: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r["Properties"] | {"_id": k} for k, r in t["Resources"].items() if r["Type"] == rtype]


def by_ref(t: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return t["Resources"][ref["Ref"]]["Properties"]


def launch_template_of(t: dict[str, Any], ng: dict[str, Any]) -> dict[str, Any]:
    return by_ref(t, ng["LaunchTemplate"]["Id"])["LaunchTemplateData"]


def user_data_text(lt: dict[str, Any]) -> str:
    body = lt["UserData"]["Fn::Base64"]
    assert isinstance(body, str), "user-data of an imported cluster has no deploy-time tokens"
    return body


def mime_parts(text: str) -> list[tuple[str, str]]:
    msg = email.message_from_string(text)
    assert msg.is_multipart()
    return [(p.get_content_type(), p.get_payload()) for p in msg.get_payload()]


def cloud_config_files(text: str) -> dict[str, str]:
    """path -> content of every cloud-config write_files entry (gz+b64 decoded)."""
    out: dict[str, str] = {}
    for ctype, payload in mime_parts(text):
        if ctype != "text/cloud-config":
            continue
        for f in yaml.safe_load(payload)["write_files"]:
            data = f["content"]
            if f.get("encoding") == "gz+b64":
                data = gzip.decompress(base64.b64decode(data)).decode()
            out[f["path"]] = data
    return out


def policy_names(t: dict[str, Any], role_ref: dict[str, Any]) -> set[str]:
    role = t["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
    return {m for a in role["ManagedPolicyArns"] for m in re.findall(r":iam::aws:policy/([\w+=,.@-]+)", json.dumps(a))}


def helm_release(t: dict[str, Any]) -> dict[str, Any]:
    (rel,) = resources(t, "Custom::AWSCDK-EKS-HelmChart")
    return rel


def sharing_configmap(t: dict[str, Any]) -> dict[str, Any]:
    """The sharing ConfigMap gpuslice's construct applies (a KubernetesManifest), which the release depends on."""
    for rid, res in t["Resources"].items():
        if res["Type"] != "Custom::AWSCDK-EKS-KubernetesResource":
            continue
        manifest = res["Properties"]["Manifest"]
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        try:
            docs = json.loads(text)
        except ValueError:
            continue
        for d in docs:
            if (
                d.get("kind") == "ConfigMap"
                and d["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "gpuslice"
            ):
                assert rid in helm_release_dependencies(t)
                return d
    raise AssertionError("no sharing ConfigMap manifest")


def helm_release_dependencies(t: dict[str, Any]) -> list[str]:
    rid = next(k for k, v in t["Resources"].items() if v["Type"] == "Custom::AWSCDK-EKS-HelmChart")
    deps = t["Resources"][rid].get("DependsOn") or []
    return [deps] if isinstance(deps, str) else list(deps)


def ami_parameter_default(t: dict[str, Any], lt: dict[str, Any]) -> str:
    return t["Parameters"][lt["ImageId"]["Ref"]]["Default"]


# ----------------------------------------------------------------------------------------------------------
# The story: Ubuntu g5 pool, 4 replicas, proxy registry, 100 GB data volume, SSM


def test_example_app_is_the_story(synth: Synth) -> None:
    t = synth.tpl("ubuntu")
    r = synth.resolved["ubuntu"]
    (ng,) = resources(t, "AWS::EKS::Nodegroup")
    assert ng["ClusterName"] == "ml-platform"
    assert ng["InstanceTypes"] == ["g5.2xlarge"]
    assert ng["NodegroupName"] == r.pools[0].node_group_name
    assert ng["ScalingConfig"] == {"MinSize": 1, "MaxSize": 4, "DesiredSize": 1}
    assert ng["Taints"] == [{"Effect": "NO_SCHEDULE", "Key": "nvidia.com/gpu", "Value": "true"}]
    # A custom AMI (the launch template's): EKS must not be told an AMI type.
    assert "AmiType" not in ng
    lt = launch_template_of(t, ng)
    assert ami_parameter_default(t, lt) == (
        "/aws/service/canonical/ubuntu/eks/22.04/1.33/stable/current/amd64/hvm/ebs-gp2/ami-id"
    )
    assert t["Parameters"][lt["ImageId"]["Ref"]]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    # CloudFormation resolves the parameter at deploy time, so the launch template holds the AMI id itself: never
    # resolve:ssm:, which a managed node group cannot use (aws/containers-roadmap#1951); and no Kubernetes
    # version next to that AMI (EKS refuses it).
    assert "resolve:ssm" not in json.dumps(t)
    assert "Version" not in ng and "ReleaseVersion" not in ng
    # cluster-autoscaler reads GPUs x replicas from the node group's own tags (DescribeNodegroup): 1 A10G x 4
    assert ng["Tags"]["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "4"
    assert lt["MetadataOptions"]["HttpTokens"] == "required"
    instance_tags = next(ts["Tags"] for ts in lt["TagSpecifications"] if ts["ResourceType"] == "instance")
    assert {"Key": "Name", "Value": r.pools[0].node_group_name} in instance_tags

    values = json.loads(helm_release(t)["Values"])
    assert values["devicePlugin"]["repository"].startswith("artifactory.corp.example/docker-remote/nvcr.io/")
    assert values["devicePlugin"]["imagePullSecrets"] == ["corp-registry"]
    replicas = yaml.safe_load(sharing_configmap(t)["data"]["time-slicing-4"])
    assert replicas["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    # The release is installed after the node group exists.
    rel_id = helm_release(t)["_id"]
    assert ng["_id"] in t["Resources"][rel_id]["DependsOn"]


def test_user_data_mounts_the_data_volume_before_bootstrap(synth: Synth, tmp_path: Path) -> None:
    """Extract the node setup from the synthesized launch template and run it with stand-ins for the disk
    script, /etc/eks/bootstrap.sh, systemctl and snap: the disk step must come first and gate the join."""
    from gpuslice.render.bootstrap.common import DISKS_ENV, NODE_ENV, NODE_SETUP_BIN

    t = synth.tpl("ubuntu")
    (ng,) = resources(t, "AWS::EKS::Nodegroup")
    lt = launch_template_of(t, ng)
    text = user_data_text(lt)
    assert len(text.encode()) <= 16384
    files = cloud_config_files(text)
    shell = [p for ctype, p in mime_parts(text) if ctype == "text/x-shellscript"]
    assert shell and NODE_SETUP_BIN in shell[0]

    # The data volume the launch template attaches is the one the disk step formats and mounts.
    data_bdm = [b for b in lt["BlockDeviceMappings"] if b["DeviceName"] != "/dev/sda1"]
    assert [(b["DeviceName"], b["Ebs"]["VolumeSize"]) for b in data_bdm] == [("/dev/xvdb", 100)]
    disks_env = files[DISKS_ENV]
    assert "GPUSLICE_DEVICE_NAME=/dev/xvdb" in disks_env
    assert "GPUSLICE_SIZE_GIB=100" in disks_env
    assert re.search(r"GPUSLICE_TARGETS='?[^\n]*/var/lib/containerd", disks_env)

    root = tmp_path / "root"
    for path, content in files.items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
        dest.chmod(0o755)
    log = tmp_path / "calls.log"
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("systemctl", "snap", "setup-disks", "bootstrap.sh"):
        (fake / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        (fake / name).chmod(0o755)

    def run(disk_rc: int) -> subprocess.CompletedProcess[str]:
        log.write_text("")
        if disk_rc:
            (fake / "setup-disks").write_text(f'#!/bin/sh\necho "setup-disks" >> "{log}"\nexit {disk_rc}\n')
        env = {
            "PATH": f"{fake}:/usr/bin:/bin",
            "GPUSLICE_ROOT": str(root),
            "GPUSLICE_NODE_ENV": str(root / NODE_ENV.lstrip("/")),
            "GPUSLICE_SETUP_DISKS": str(fake / "setup-disks"),
            "GPUSLICE_BOOTSTRAP_SH": str(fake / "bootstrap.sh"),
            "GPUSLICE_RETRY_DELAY": "0",
        }
        return subprocess.run(
            ["bash", str(root / NODE_SETUP_BIN.lstrip("/"))], env=env, capture_output=True, text=True, timeout=30
        )

    ok = run(0)
    assert ok.returncode == 0, ok.stderr
    calls = log.read_text().splitlines()
    disk_at = next(i for i, c in enumerate(calls) if c.startswith("setup-disks"))
    join_at = next(i for i, c in enumerate(calls) if c.startswith("bootstrap.sh"))
    assert disk_at < join_at
    join = calls[join_at]
    assert join.startswith("bootstrap.sh ml-platform ")
    key = synth.resolved["ubuntu"].pools[0].node_labels[DEVICE_PLUGIN_CONFIG_LABEL]
    assert f"{DEVICE_PLUGIN_CONFIG_LABEL}={key}" in join
    assert "--register-with-taints=nvidia.com/gpu=true:NoSchedule" in join
    assert any(c.startswith("snap") and "amazon-ssm-agent" in c for c in calls)  # SSM on (pool.ssm)

    failed = run(1)  # a broken data disk: the node must not join
    assert failed.returncode != 0
    assert not any(c.startswith("bootstrap.sh") for c in log.read_text().splitlines())


def test_node_role_policies(synth: Synth) -> None:
    for name in ("ubuntu", "al2023", "mixed"):
        t = synth.tpl(name)
        for ng in resources(t, "AWS::EKS::Nodegroup"):
            assert policy_names(t, ng["NodeRole"]) == {
                "AmazonEKSWorkerNodePolicy",
                "AmazonEC2ContainerRegistryReadOnly",
                "AmazonEKS_CNI_Policy",
                "AmazonSSMManagedInstanceCore",
            }, name
    t = synth.tpl("edge")  # ssm: false
    (ng,) = resources(t, "AWS::EKS::Nodegroup")
    assert "AmazonSSMManagedInstanceCore" not in policy_names(t, ng["NodeRole"])
    assert "AmazonEKSWorkerNodePolicy" in policy_names(t, ng["NodeRole"])
    # And nothing on the node tries to start the SSM agent.
    from gpuslice.render.bootstrap.common import NODE_ENV

    env = cloud_config_files(user_data_text(launch_template_of(t, ng)))[NODE_ENV]
    assert "GPUSLICE_SSM=off" in env


def test_root_device_names_per_family(synth: Synth) -> None:
    expect = {  # (stack, pool) -> mappings (device, GiB); root device per AMI family
        ("ubuntu", "a10g-shared"): [("/dev/sda1", 20), ("/dev/xvdb", 100)],
        ("al2023", "l4-shared"): [("/dev/xvda", 100)],
        ("edge", "l4"): [("/dev/sda1", 60), ("/dev/sdf", 250)],
        ("mixed", "t4-dev"): [("/dev/sda1", 30), ("/dev/xvdb", 150)],
        ("mixed", "a10g-notebooks"): [("/dev/sda1", 30)],
    }
    for (stack, pool), want in expect.items():
        t = synth.tpl(stack)
        rp = synth.resolved[stack].pool(pool)
        assert rp is not None and rp.os is not None
        ng = next(n for n in resources(t, "AWS::EKS::Nodegroup") if n["NodegroupName"] == rp.node_group_name)
        bdm = launch_template_of(t, ng)["BlockDeviceMappings"]
        assert [(b["DeviceName"], b["Ebs"]["VolumeSize"]) for b in bdm] == want, (stack, pool)
        assert bdm[0]["DeviceName"] == rp.os.root_device
        assert all(b["Ebs"]["VolumeType"] == "gp3" and b["Ebs"]["Encrypted"] for b in bdm)


def test_al2023_custom_ami_joins_with_nodeadm(synth: Synth) -> None:
    t = synth.tpl("al2023")
    (ng,) = resources(t, "AWS::EKS::Nodegroup")
    assert "AmiType" not in ng
    lt = launch_template_of(t, ng)
    assert ami_parameter_default(t, lt) == (
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
    )
    parts = mime_parts(user_data_text(lt))
    (node_config,) = [yaml.safe_load(p) for c, p in parts if c == "application/node.eks.aws"]
    cluster = node_config["spec"]["cluster"]
    assert cluster == {
        "name": "inference",
        "apiServerEndpoint": ENDPOINT,
        "certificateAuthority": CA_DATA,
        "cidr": "10.100.0.0/16",
    }
    # The AMI brings driver and toolkit: the operator deploys neither.
    values = json.loads(helm_release(t)["Values"])
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False


def test_new_cluster_tokens_resolve_in_user_data(synth: Synth) -> None:
    t = synth.tpl("new-cluster")
    (ng,) = resources(t, "AWS::EKS::Nodegroup")
    body = launch_template_of(t, ng)["UserData"]["Fn::Base64"]
    assert "Fn::Join" in body  # the endpoint and CA are filled in by CloudFormation
    flat = json.dumps(body)
    assert "Endpoint" in flat and "CertificateAuthorityData" in flat
    assert "${Token[" not in flat
    assert ng["ClusterName"] == {
        "Ref": next(k for k, v in t["Resources"].items() if v["Type"] == "Custom::AWSCDK-EKS-Cluster")
    }


def test_release_name_is_the_resolved_one_and_fits_helm(synth: Synth) -> None:
    for name in ("ubuntu", "al2023", "mixed", "edge"):
        rel = helm_release(synth.tpl(name))
        r = synth.resolved[name]
        assert rel["Release"] == r.release_name
        assert len(rel["Release"]) <= 53 and HELM_RELEASE_RE.match(rel["Release"])
        assert rel["Namespace"] == r.namespace
        assert rel["Version"] == r.chart_version
        assert rel["Repository"] == r.spec.operator.chart_repository
        assert rel["Chart"] == "gpu-operator"
        assert rel["Wait"] is True
    edge = helm_release(synth.tpl("edge"))
    assert len(synth.resolved["edge"].deployment_id) == 63
    assert edge["Release"].startswith("a-very-long-deployment-identifier")
    assert edge["Release"] != helm_release(synth.tpl("ubuntu"))["Release"]
    # operator.timeoutMinutes 30 is over the 15 minutes CDK's Lambda handler allows: clamped, with a warning.
    assert edge["Timeout"] == "900s"
    Annotations.from_stack(synth.stacks["edge"]).has_warning("*", Match.string_like_regexp("timeoutMinutes is 30"))
    assert helm_release(synth.tpl("ubuntu"))["Timeout"] == "900s"


def test_node_labels_select_device_plugin_config_keys(synth: Synth) -> None:
    for name in ("ubuntu", "al2023", "mixed", "edge"):
        t = synth.tpl(name)
        r = synth.resolved[name]
        keys = set(configmap_data(r))
        config = json.loads(helm_release(t)["Values"])["devicePlugin"]["config"]
        cm = sharing_configmap(t)
        assert config["create"] is False and set(cm["data"]) == keys and cm["metadata"]["name"] == config["name"]
        assert config["name"] == r.device_plugin_configmap
        assert config["default"] in keys
        groups = resources(t, "AWS::EKS::Nodegroup")
        assert len(groups) == len(r.pools)
        for ng in groups:
            rp = next(p for p in r.pools if p.node_group_name == ng["NodegroupName"])
            assert ng["Labels"] == rp.node_labels
            assert ng["Labels"][DEVICE_PLUGIN_CONFIG_LABEL] in keys
    mixed = {
        n["Labels"]["gpuslice.dev/pool"]: n["Labels"][DEVICE_PLUGIN_CONFIG_LABEL]
        for n in resources(synth.tpl("mixed"), "AWS::EKS::Nodegroup")
    }
    assert len(set(mixed.values())) == 3  # 4 replicas, 2 replicas, exclusive: three keys


def test_cfn_lint_finds_no_errors(synth: Synth) -> None:
    from cfnlint.api import ManualArgs, lint_file

    # Every stack's template, and the nested ones of the story's stack (the others' are the same CDK code).
    templates = sorted(
        p
        for p in synth.outdir.glob("*.template.json")
        if ".nested." not in p.name or p.name.startswith(synth.stacks["ubuntu"].stack_name)
    )
    assert len(templates) == len(synth.stacks) + 1
    report: dict[str, list[str]] = {}
    for path in templates:
        stack = next(s for s in synth.stacks.values() if path.name.startswith(s.stack_name))
        matches = lint_file(path, config=ManualArgs(regions=[stack.region]))
        report[path.name] = [f"{m.rule.id} {m.message} ({m.linenumber})" for m in matches]
    errors = {k: [m for m in v if m.startswith("E")] for k, v in report.items()}
    assert not any(errors.values()), errors
    # Nor warnings, except W3005 (a DependsOn that a GetAtt already implies), which CDK's own eks.Cluster and
    # kubectl-provider resources carry.
    others = {k: [m for m in v if not m.startswith("W3005 ")] for k, v in report.items()}
    assert not any(others.values()), others


# ----------------------------------------------------------------------------------------------------------
# Errors a CDK user can make: clear messages, no jsii tracebacks


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "T", env=cdk.Environment(region="eu-west-1"))


@pytest.fixture
def story() -> ResolvedSpec:
    return load(EXAMPLES / "eks-ubuntu.yaml")


def _cluster(stack: cdk.Stack, name: str = "ml-platform", **kw: Any) -> eks.ICluster:
    n = len(stack.node.children)
    return eks.Cluster.from_cluster_attributes(
        stack,
        f"C{n}",
        cluster_name=name,
        kubectl_role_arn=KUBECTL_ROLE,
        vpc=_vpc(stack, ["eu-west-1a"], f"Vpc{n}"),
        **kw,
    )


def test_unknown_pool_names_the_pools(stack: cdk.Stack, story: ResolvedSpec) -> None:
    with pytest.raises(SpecError) as e:
        gcdk.GpuNodePool(stack, "P", resolved=story, pool="nope", cluster=_cluster(stack))
    assert "a10g-shared" in str(e.value)


def test_cluster_name_mismatch_points_at_the_spec_line(stack: cdk.Stack, story: ResolvedSpec) -> None:
    with pytest.raises(SpecError) as e:
        gcdk.GpuNodePool(stack, "P", resolved=story, pool="a10g-shared", cluster=_cluster(stack, "other"))
    (p,) = e.value.problems
    assert p.path == "cluster.name" and p.file and p.file.endswith("eks-ubuntu.yaml")
    lines = (EXAMPLES / "eks-ubuntu.yaml").read_text().splitlines()
    assert lines[p.line - 1].strip() == "name: ml-platform"
    assert "'other'" in p.message


def test_generic_provider_spec_is_refused_pointing_at_the_provider(stack: cdk.Stack) -> None:
    r = load(EXAMPLES / "generic-onprem.yaml")
    with pytest.raises(SpecError) as e:
        gcdk.GpuNodePool(stack, "P", resolved=r, pool=0, cluster=_cluster(stack, "onprem-dc1"))
    (p,) = e.value.problems
    assert p.path == "cluster.provider" and "'generic'" in p.message
    lines = (EXAMPLES / "generic-onprem.yaml").read_text().splitlines()
    assert lines[p.line - 1].strip() == "provider: generic"


def test_imported_cluster_without_vpc(stack: cdk.Stack, story: ResolvedSpec) -> None:
    cluster = eks.Cluster.from_cluster_attributes(stack, "C", cluster_name="ml-platform")
    with pytest.raises(GpusliceError, match="vpc="):
        gcdk.GpuNodePool(stack, "P", resolved=story, pool=0, cluster=cluster)


def test_al2023_on_custom_ami_needs_join_details(stack: cdk.Stack) -> None:
    r = load(EXAMPLES / "eks-al2023.yaml")
    st = cdk.Stack(cdk.App(), "T", env=cdk.Environment(region="us-east-1"))
    with pytest.raises(GpusliceError) as e:
        gcdk.GpuNodePool(st, "P", resolved=r, pool=0, cluster=_cluster(st, "inference"))
    msg = str(e.value)
    assert "cluster_endpoint=" in msg and "service_cidr=" in msg and "ami='eks'" in msg
    # With EKS's own AMI type, EKS merges the join details in.
    pool = gcdk.GpuNodePool(st, "Q", resolved=r, pool=0, cluster=_cluster(st, "inference"), ami="eks")
    assert pool.ami_type == "AL2023_x86_64_NVIDIA" and pool.ami_parameter is None
    ng = Template.from_stack(st).find_resources("AWS::EKS::Nodegroup")
    (props,) = [v["Properties"] for v in ng.values()]
    assert props["AmiType"] == "AL2023_x86_64_NVIDIA"
    assert (
        "ImageId"
        not in Template.from_stack(st)
        .find_resources("AWS::EC2::LaunchTemplate")
        .popitem()[1]["Properties"]["LaunchTemplateData"]
    )


AL2_SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {name: ml-platform, deploymentId: legacy, kubernetesVersion: "1.32", region: eu-west-1}
nodePools:
  - name: t4
    instanceType: g4dn.2xlarge
    os: al2
    disks: {data: {sizeGiB: 100}}
    sharing: {strategy: time-slicing, replicas: 2}
"""


def test_eks_ami_type_leaves_the_join_to_eks(stack: cdk.Stack, tmp_path: Path) -> None:
    # AL2 on EKS's AMI type: EKS appends bootstrap.sh to the user-data, so gpuslice's part must not join too.
    r = load(write_spec(tmp_path, AL2_SPEC))
    eks_pool = gcdk.GpuNodePool(stack, "E", resolved=r, pool="t4", cluster=_cluster(stack), ami="eks")
    assert eks_pool.ami_type == "AL2_x86_64_GPU"
    assert "GPUSLICE_JOIN=0" in cloud_config_files(eks_pool.user_data_text)["/etc/gpuslice/node.env"]
    # On the SSM AMI (a custom AMI for EKS) the user-data is the only join.
    ssm_pool = gcdk.GpuNodePool(stack, "S", resolved=r, pool="t4", cluster=_cluster(stack))
    assert ssm_pool.ami_type is None
    assert "GPUSLICE_JOIN=1" in cloud_config_files(ssm_pool.user_data_text)["/etc/gpuslice/node.env"]


def test_ubuntu_has_no_eks_ami_type(stack: cdk.Stack, story: ResolvedSpec) -> None:
    with pytest.raises(SpecError, match="no managed AMI type"):
        gcdk.GpuNodePool(stack, "P", resolved=story, pool=0, cluster=_cluster(stack), ami="eks")


def test_one_release_per_cluster(stack: cdk.Stack, story: ResolvedSpec) -> None:
    cluster = _cluster(stack)
    values = {"devicePlugin": {"enabled": True}}
    gcdk.GpuOperator(stack, "A", resolved=story, cluster=cluster, values=values)
    with pytest.raises(GpusliceError, match="already installs Helm release"):
        gcdk.GpuOperator(stack, "B", resolved=story, cluster=cluster, values=values)


def test_values_keep_nulls(stack: cdk.Stack, story: ResolvedSpec) -> None:
    """jsii drops None from dicts; Helm uses null to delete a chart default. The values must survive."""
    op = gcdk.GpuOperator(
        stack, "Op", resolved=story, cluster=_cluster(stack), values={"nfd": {"enabled": None}, "a": [1, None]}
    )
    rel = next(iter(Template.from_stack(stack).find_resources("Custom::AWSCDK-EKS-HelmChart").values()))
    assert json.loads(rel["Properties"]["Values"]) == {"nfd": {"enabled": None}, "a": [1, None]}
    assert op.release_name == story.release_name


def test_ship_chart_uploads_the_local_chart_folder(stack: cdk.Stack, story: ResolvedSpec) -> None:
    gcdk.GpuOperator(stack, "Op", resolved=story, cluster=_cluster(stack), ship_chart=True)
    rel = next(iter(Template.from_stack(stack).find_resources("Custom::AWSCDK-EKS-HelmChart").values()))
    props = rel["Properties"]
    assert "ChartAssetURL" in props and "Repository" not in props and "Version" not in props
    assert props["Release"] == story.release_name


def test_spec_with_error_findings_is_refused(tmp_path: Path, stack: cdk.Stack) -> None:
    from gpuslice.api import check
    from gpuslice.findings import Severity

    text = (EXAMPLES / "eks-ubuntu.yaml").read_text().replace("os: ubuntu-22.04", "os: al2")
    r = load(write_spec(tmp_path, text))
    errors = [f.id for f in check(r) if f.severity is Severity.ERROR]
    assert errors, "AL2 on Kubernetes 1.33 must be an error finding"
    with pytest.raises(GpusliceError) as e:
        gcdk.GpuCluster(stack, "G", spec=r, cluster=_cluster(stack), operator=False)
    assert all(i in str(e.value) for i in errors)
    forced = gcdk.GpuCluster(stack, "F", spec=r, cluster=_cluster(stack), operator=False, force=True)
    assert list(forced.node_pools) == ["a10g-shared"]


def test_kubectl_layer_is_picked_by_kubernetes_version() -> None:
    have = gcdk.installed_kubectl_layers()
    assert 35 in have  # scripts/setup.sh installs aws-cdk.lambda-layer-kubectl-v35
    exact = cdk.Stack(cdk.App(), "Exact")
    gcdk.kubectl_layer(exact, "Layer", "1.35")
    Annotations.from_stack(exact).has_no_warning("*", Match.string_like_regexp("skew"))
    far = cdk.Stack(cdk.App(), "Far")
    gcdk.kubectl_layer(far, "Layer", "1.20")  # no layer package that old: the nearest, with a warning
    Annotations.from_stack(far).has_warning("*", Match.string_like_regexp("outside kubectl's"))


def test_example_app_runs_as_a_script(tmp_path: Path) -> None:
    """`python app.py` (what cdk.json's app command runs) synthesizes offline into cdk.out."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "cdk" / "app.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**_env(), "CDK_OUTDIR": str(out)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "end-of-life" not in proc.stderr  # jsii runs on the environment's Node 22
    tpl = json.loads((out / "GpuPlatform.template.json").read_text())
    assert any(r["Type"] == "AWS::EKS::Nodegroup" for r in tpl["Resources"].values())


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "JSII_NODE"}
