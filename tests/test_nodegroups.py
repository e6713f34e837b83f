"""Node-group snippets, validated against the real schemas: eksctl's ClusterConfig JSON schema, Karpenter's
NodePool/EC2NodeClass CRDs, and the EKS/EC2 API models shipped in botocore (CreateNodegroup,
CreateLaunchTemplate). Labels and taints must be the pool's, everywhere."""

from __future__ import annotations

import base64
import gzip
import json
import re
import tomllib
from functools import cache
from typing import Any

import botocore.session
import jsonschema
import pytest
import yaml
from botocore.validate import ParamValidator

from gpuslice.render import RenderOptions
from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups as ng
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from tests.helpers import FIXTURES
from tests.test_bootstrap import all_pools, examples, matrix

SCHEMAS = FIXTURES / "bootstrap" / "schemas"
SPECS = [*examples(), matrix()]
POOLS = all_pools()


@cache
def eksctl_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / "eksctl-clusterconfig-v1alpha5.schema.json").read_text()))


@cache
def eksctl_ami_families() -> set[str]:
    schema = json.loads((SCHEMAS / "eksctl-clusterconfig-v1alpha5.schema.json").read_text())
    desc = schema["definitions"]["NodeGroup"]["properties"]["amiFamily"]["description"]
    return set(re.findall(r'`"([A-Za-z0-9]+)"`', desc))


@cache
def crd_validator(name: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((SCHEMAS / name).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


@cache
def api_shape(service: str, operation: str) -> Any:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def api_errors(params: dict[str, Any], service: str, operation: str) -> str:
    report = ParamValidator().validate(params, api_shape(service, operation))
    return report.generate_report() if report.has_errors() else ""


def errors(validator: jsonschema.Draft7Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# ----------------------------------------------------------------------------------------------------------
# eksctl


@pytest.mark.parametrize("resolved", SPECS, ids=[r.deployment_id for r in SPECS])
def test_eksctl_config_validates_against_eksctl_schema(resolved: ResolvedSpec) -> None:
    cfg = ng.eksctl_config(resolved)
    assert errors(eksctl_validator(), cfg) == []
    assert cfg["metadata"] == {
        "name": resolved.spec.cluster.name,
        "region": resolved.spec.cluster.region,
        "version": resolved.kubernetes_version,
    }
    for entry, pool in zip(cfg["nodeGroups"], resolved.pools, strict=True):
        assert entry["amiFamily"] in eksctl_ami_families()
        assert entry["labels"] == pool.node_labels
        assert [(t["key"], t.get("value", ""), t["effect"]) for t in entry.get("taints", [])] == [
            (t.key, t.value, t.effect) for t in pool.spec.taints
        ]
        if "bottlerocket" in entry:
            # eksctl refuses labels/taints/max-pods inside bottlerocket.settings.kubernetes
            assert "kubernetes" not in entry["bottlerocket"]["settings"]
            assert "preBootstrapCommands" not in entry and "overrideBootstrapCommand" not in entry


def test_eksctl_schema_rejects_a_typo() -> None:
    cfg = ng.eksctl_config(matrix())
    cfg["nodeGroups"][0]["labelz"] = {"a": "b"}
    cfg["nodeGroups"][1]["minSize"] = "one"
    assert len(errors(eksctl_validator(), cfg)) == 2


def test_eksctl_entries_per_family() -> None:
    r = matrix()
    cfg = {e["name"]: e for e in ng.eksctl_config(r)["nodeGroups"]}
    u22 = cfg[r.pool("u22-data").node_group_name]
    assert u22["amiFamily"] == "Ubuntu2204"
    assert u22["volumeSize"] == 40
    assert u22["additionalVolumes"] == [{"volumeName": "/dev/sdf", "volumeSize": 200, "volumeType": "gp3"}]
    assert u22["kubeletExtraConfig"] == {"resolvConf": "/run/systemd/resolve/resolv.conf"}
    # preBootstrapCommands install exactly the files the user-data writes, then run the node setup (no join:
    # eksctl's own bootstrap joins with the labels above).
    cmds = u22["preBootstrapCommands"]
    assert cmds[-1] == "/usr/local/sbin/gpuslice-node-setup"
    installed = {}
    for c in cmds[:-1]:
        m = re.fullmatch(r"mkdir -p \S+ && echo (\S+) \| base64 -d \| gunzip > (\S+) && chmod (\d+) \S+", c)
        assert m, c
        installed[m.group(2)] = gzip.decompress(base64.b64decode(m.group(1))).decode()
    assert installed["/usr/local/sbin/gpuslice-setup-disks"] == bs.common.script("setup-disks.sh")
    assert "GPUSLICE_JOIN=0" in installed["/etc/gpuslice/node.env"]
    assert "GPUSLICE_DEVICE_NAME=/dev/sdf" in installed["/etc/gpuslice/disks.env"]
    al2023 = cfg[r.pool("al2023-raid").node_group_name]
    assert al2023["amiFamily"] == "AmazonLinux2023"
    assert yaml.safe_load(al2023["overrideBootstrapCommand"])["spec"]["instance"]["localStorage"]["strategy"] == "RAID0"
    assert "preBootstrapCommands" not in al2023  # nodeadm does the instance store
    br = cfg[r.pool("br-mps-data").node_group_name]
    assert br["volumeSize"] == 120  # eksctl sizes Bottlerocket's data volume with volumeSize
    assert br["bottlerocket"]["settings"]["kubelet-device-plugins"]["nvidia"]["device-sharing-strategy"] == "mps"


# ----------------------------------------------------------------------------------------------------------
# Karpenter


def karpenter_docs(resolved: ResolvedSpec) -> list[dict[str, Any]]:
    text = ng.render(resolved, RenderOptions()).files["nodegroups/karpenter.yaml"]
    assert isinstance(text, str)
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("resolved", SPECS, ids=[r.deployment_id for r in SPECS])
def test_karpenter_manifests_validate_against_the_crds(resolved: ResolvedSpec) -> None:
    docs = karpenter_docs(resolved)
    classes = {d["metadata"]["name"]: d for d in docs if d["kind"] == "EC2NodeClass"}
    pools = [d for d in docs if d["kind"] == "NodePool"]
    assert len(pools) == len(classes) == len(resolved.pools)
    for d in docs:
        crd = "karpenter.sh_nodepools.yaml" if d["kind"] == "NodePool" else "karpenter.k8s.aws_ec2nodeclasses.yaml"
        assert errors(crd_validator(crd), d) == [], d["metadata"]["name"]
    for nc in classes.values():
        spec = nc["spec"]
        # The CRD's CEL rules (not evaluated by jsonschema) that gpuslice's output must meet:
        assert ("role" in spec) != ("instanceProfile" in spec)
        aliases = [t["alias"] for t in spec["amiSelectorTerms"] if "alias" in t]
        assert aliases or "amiFamily" in spec
        for t in spec["amiSelectorTerms"]:
            if "alias" in t:
                assert re.fullmatch(r"[a-zA-Z0-9]+@.+", t["alias"]) and len(t["alias"]) <= 30
                assert t["alias"].split("@")[0] in {"al2", "al2023", "bottlerocket"}
    for p, pool in zip(pools, resolved.pools, strict=True):
        tmpl = p["spec"]["template"]
        assert tmpl["metadata"]["labels"] == pool.node_labels
        assert tmpl["spec"]["nodeClassRef"]["name"] in classes
        assert [(t["key"], t.get("value", ""), t["effect"]) for t in tmpl["spec"].get("taints", [])] == [
            (t.key, t.value, t.effect) for t in pool.spec.taints
        ]


def test_karpenter_crd_rejects_a_wrong_value() -> None:
    docs = karpenter_docs(matrix())
    nc = next(d for d in docs if d["kind"] == "EC2NodeClass")
    nc["spec"]["instanceStorePolicy"] = "RAID1"
    nodepool = next(d for d in docs if d["kind"] == "NodePool")
    del nodepool["spec"]["template"]["spec"]["nodeClassRef"]
    assert errors(crd_validator("karpenter.k8s.aws_ec2nodeclasses.yaml"), nc)
    assert errors(crd_validator("karpenter.sh_nodepools.yaml"), nodepool)


def test_karpenter_per_family() -> None:
    r = matrix()
    by_name = {d["metadata"]["name"]: d for d in karpenter_docs(r) if d["kind"] == "EC2NodeClass"}
    u22 = by_name[r.pool("u22-data").node_group_name]["spec"]
    assert u22["amiFamily"] == "Custom"
    assert u22["amiSelectorTerms"] == [{"ssmParameter": bs.ami_ssm_parameter(r, "u22-data")}]
    # Custom: the user-data does the whole join, registering with Karpenter's startup taint
    assert u22["userData"] == bs.user_data(r, "u22-data", registration_taints=(ng.KARPENTER_UNREGISTERED_TAINT,))
    assert u22["blockDeviceMappings"][0] == {
        "deviceName": "/dev/sda1",
        "ebs": {"volumeSize": "40Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
    }
    assert "instanceStorePolicy" not in by_name[r.pool("u24-raid").node_group_name]["spec"]  # our script RAIDs
    al = by_name[r.pool("al2023-raid").node_group_name]["spec"]
    assert al["amiSelectorTerms"] == [{"alias": "al2023@latest"}] and al["instanceStorePolicy"] == "RAID0"
    br = by_name[r.pool("br-none-raid").node_group_name]["spec"]
    assert br["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}] and br["instanceStorePolicy"] == "RAID0"
    settings = tomllib.loads(br["userData"])["settings"]
    assert "bootstrap-commands" not in settings  # Karpenter adds its own for instanceStorePolicy RAID0
    assert settings["kubelet-device-plugins"]["nvidia"]["device-sharing-strategy"] == "none"


# ----------------------------------------------------------------------------------------------------------
# EKS managed node group + launch template, against the API models


@pytest.mark.parametrize(("name", "resolved", "pool"), POOLS, ids=[n for n, _, _ in POOLS])
def test_managed_nodegroup_and_launch_template_match_the_api(name, resolved: ResolvedSpec, pool: ResolvedPool) -> None:
    mng = ng.managed_nodegroup(resolved, pool)
    assert api_errors(mng, "eks", "CreateNodegroup") == ""  # as rendered, placeholders included
    assert mng["nodeRole"] == ng.NODE_ROLE_PLACEHOLDER and mng["subnets"] == [ng.SUBNET_PLACEHOLDER]
    shape = api_shape("eks", "CreateNodegroup")
    if "amiType" in mng:
        assert mng["amiType"] in shape.members["amiType"].enum
    for t in mng.get("taints", []):
        assert t["effect"] in shape.members["taints"].member.members["effect"].enum
    assert mng["labels"] == pool.node_labels
    lt = ng.launch_template(resolved, pool)
    assert api_errors(lt, "ec2", "CreateLaunchTemplate") == ""
    data = lt["LaunchTemplateData"]
    # With an EKS AMI type EKS appends the join; only a custom AMI's user-data joins by itself.
    eks_joins = "amiType" in mng
    assert base64.b64decode(data["UserData"]).decode() == bs.user_data(resolved, pool, eks_joins=eks_joins)
    assert data["BlockDeviceMappings"] == bs.block_device_mappings(resolved, pool)
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    if pool.spec.os.startswith("ubuntu"):
        assert "amiType" not in mng  # a custom AMI: the launch template names it
        # never resolve:ssm: (managed node groups cannot resolve it, aws/containers-roadmap#1951)
        assert data["ImageId"] == (pool.spec.ami_id or ng.AMI_PLACEHOLDER)
    else:
        assert "ImageId" not in data and "amiType" in mng


def test_api_models_reject_a_wrong_shape() -> None:
    r = matrix()
    pool = r.pool("u22-data")
    bad = {**ng.managed_nodegroup(r, pool), "subnets": "subnet-1", "nodeRole": "x", "scalingConfig": {"min": 1}}
    assert "Unknown parameter in scalingConfig" in api_errors(bad, "eks", "CreateNodegroup")
    lt = ng.launch_template(r, pool)
    lt["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] = "40"
    assert "VolumeSize" in api_errors(lt, "ec2", "CreateLaunchTemplate")


def test_render_writes_the_documented_files() -> None:
    r = matrix()
    files = ng.render(r, RenderOptions()).files
    for p in r.pools:
        assert {
            f"nodegroups/{p.name}/{f}" for f in ("managed-nodegroup.json", "launch-template.json", "eksctl.yaml")
        } <= set(files)
        one = yaml.safe_load(files[f"nodegroups/{p.name}/eksctl.yaml"])
        assert [e["name"] for e in one["nodeGroups"]] == [p.node_group_name]
    assert "nodegroups/karpenter.yaml" in files
