"""Who joins the node, and with what: the user-data must not run a second join where EKS appends its own, a
Custom-AMI Karpenter node must register with Karpenter's startup taint, and a node told the endpoint and CA (so
bootstrap.sh skips DescribeCluster) must use the cluster's real DNS service IP."""

from __future__ import annotations

import base64
import shlex
import tomllib

import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups as ng
from gpuslice.render.bootstrap.common import NODE_ENV
from gpuslice.resolve import resolve
from tests.test_bootstrap import decoded_write_files, env_values, matrix, mime_parts

ENDPOINT = "https://ABC.gr7.us-east-1.eks.amazonaws.com"
CA = "LS0tLS1CRUdJTg=="


def node_env_of(user_data: str) -> dict[str, str]:
    (cc,) = [text for ctype, text in mime_parts(user_data) if ctype == "text/cloud-config"]
    return env_values(decoded_write_files(yaml.safe_load(cc))[NODE_ENV])


def bootstrap_args(user_data: str) -> list[str]:
    (cc,) = [text for ctype, text in mime_parts(user_data) if ctype == "text/cloud-config"]
    env = decoded_write_files(yaml.safe_load(cc))[NODE_ENV]
    (line,) = [x for x in env.splitlines() if x.startswith("GPUSLICE_BOOTSTRAP_EXTRA_ARGS=(")]
    return shlex.split(line.split("=(", 1)[1].rstrip(")"))


def lt_user_data(lt: dict) -> str:
    return base64.b64decode(lt["LaunchTemplateData"]["UserData"]).decode()


def test_al2_on_the_eks_ami_type_leaves_the_join_to_eks() -> None:
    # AL2 managed node group: amiType AL2_x86_64_GPU and no ImageId, so EKS appends bootstrap.sh to the user-data;
    # a second bootstrap.sh from gpuslice would reconfigure and restart kubelet after the node registered.
    r = matrix()
    pool = r.pool("al2-data")
    assert pool is not None
    assert ng.managed_nodegroup(r, pool)["amiType"] == "AL2_x86_64_GPU"
    lt = ng.launch_template(r, pool)
    assert "ImageId" not in lt["LaunchTemplateData"]
    env = node_env_of(lt_user_data(lt))
    assert env["GPUSLICE_JOIN"] == "0"
    assert env["GPUSLICE_DISKS"] == "1"  # the data disk is still prepared before EKS's join part runs
    # The standalone user-data (custom AMI, self-managed) still joins by itself.
    assert node_env_of(bs.user_data(r, pool))["GPUSLICE_JOIN"] == "1"


def test_ubuntu_launch_template_carries_the_ami_and_joins() -> None:
    r = matrix()
    pool = r.pool("u22-data")
    assert pool is not None
    assert "amiType" not in ng.managed_nodegroup(r, pool)
    lt = ng.launch_template(r, pool)
    assert lt["LaunchTemplateData"]["ImageId"] == ng.AMI_PLACEHOLDER  # create-nodegroup.sh resolves it
    assert node_env_of(lt_user_data(lt))["GPUSLICE_JOIN"] == "1"


def test_karpenter_custom_ami_registers_with_the_unregistered_taint() -> None:
    r = matrix()
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in ng.karpenter_manifests(r)}
    for pool in r.pools:
        nc = by_name[("EC2NodeClass", pool.node_group_name)]["spec"]
        ud = nc.get("userData", "")
        if nc.get("amiFamily") == "Custom":
            flags = shlex.split(node_env_of(ud)["GPUSLICE_KUBELET_EXTRA_ARGS"])
            (taints,) = [f for f in flags if f.startswith("--register-with-taints=")]
            got = taints.removeprefix("--register-with-taints=").split(",")
            assert got[0] == "karpenter.sh/unregistered:NoExecute", pool.name
            assert got[1:] == [bs.common.taint_string(t) for t in pool.spec.taints], pool.name
        else:
            # alias families: Karpenter merges its own join (NodeConfig / settings / bootstrap.sh), taint included
            assert "karpenter.sh/unregistered" not in ud, pool.name
            if pool.spec.os == "al2":
                assert node_env_of(ud)["GPUSLICE_JOIN"] == "0", "Karpenter appends bootstrap.sh on al2@latest"
    # The plan's own user-data (managed node groups, self-managed) does not carry Karpenter's taint.
    assert "karpenter.sh/unregistered" not in bs.user_data(r, "u22-data")


def test_service_cidr_gives_the_cluster_dns_ip_when_describe_cluster_is_skipped() -> None:
    r = matrix()
    conn = bs.ClusterConnection(endpoint=ENDPOINT, certificate_authority=CA, service_cidr="172.31.128.0/20")
    args = bootstrap_args(bs.user_data(r, "u22-data", conn))
    assert args[args.index("--dns-cluster-ip") + 1] == "172.31.128.10"
    br = tomllib.loads(bs.user_data(r, "br-ts", conn))["settings"]["kubernetes"]
    assert br["cluster-dns-ip"] == "172.31.128.10"
    # An explicit IP wins; without either, bootstrap.sh finds it itself (no flag).
    explicit = bs.ClusterConnection(
        endpoint=ENDPOINT, certificate_authority=CA, service_cidr="172.31.128.0/20", dns_cluster_ip="172.31.128.53"
    )
    args = bootstrap_args(bs.user_data(r, "u22-data", explicit))
    assert args[args.index("--dns-cluster-ip") + 1] == "172.31.128.53"
    bare = bs.ClusterConnection(endpoint=ENDPOINT, certificate_authority=CA)
    assert "--dns-cluster-ip" not in bootstrap_args(bs.user_data(r, "u22-data", bare))


def test_karpenter_limits_count_what_a_registered_node_advertises() -> None:
    # A registered node's capacity is the device plugin's: GPUs x replicas (renamed to .shared with
    # renameByDefault). A limit on physical GPUs alone would stop the pool after maxSize / replicas nodes.
    r = matrix()
    for pool in r.pools:
        limits = ng.karpenter_nodepool(r, pool)["spec"]["limits"]
        n, gpus, sh = pool.spec.max_size, pool.gpu.count or 1, pool.sharing
        assert int(limits[sh.advertised_resource]) == n * gpus * sh.replicas, pool.name
        assert int(limits["nvidia.com/gpu"]) == n * gpus * (
            sh.replicas if sh.advertised_resource == "nvidia.com/gpu" else 1
        ), pool.name
        it = r.catalog.instance(pool.spec.instance_type)
        if it is not None and it.vcpus:
            assert int(limits["cpu"]) == n * it.vcpus, pool.name
    shared = [p for p in r.pools if p.sharing.shared and p.sharing.replicas > 1]
    assert shared and any(not p.sharing.rename_by_default for p in shared)
    assert any(p.sharing.rename_by_default for p in shared)


def test_connection_args_only_when_the_user_data_joins() -> None:
    # The CA (~1.5 KB of the 16 KB limit) is only for bootstrap.sh; a part that does not join leaves it out.
    r = matrix()
    conn = bs.ClusterConnection(endpoint=ENDPOINT, certificate_authority=CA, service_cidr="10.100.0.0/16")
    assert "--b64-cluster-ca" in bootstrap_args(bs.user_data(r, "u22-data", conn))
    assert bootstrap_args(bs.user_data(r, "u22-data", conn, eks_joins=True)) == []
    # AL2023: nodeadm joins from the NodeConfig; the disk part's settings carry no control-plane details.
    ud = bs.user_data(r, "al2023-data", conn)
    assert ud.count(CA) == 1 and bootstrap_args(ud) == []


def test_user_data_over_the_ec2_limit_is_an_error_finding() -> None:
    spec = matrix().spec
    big = {f"team.example.com/label-{i:03d}": "x" * 60 for i in range(200)}
    pools = (spec.node_pools[0].model_copy(update={"labels": big}), *spec.node_pools[1:])
    r = resolve(spec.model_copy(update={"node_pools": pools}))
    assert len(bs.user_data(r, r.pools[0]).encode()) > bs.USER_DATA_MAX_BYTES
    result = bs.render(r)
    (f,) = [f for f in result.findings if f.id == "bootstrap-user-data-too-large"]
    assert f.severity.value == "error" and f.pool == r.pools[0].name
    assert not [f for f in result.findings if f.id == "bootstrap-user-data-too-large" and f.pool != r.pools[0].name]
