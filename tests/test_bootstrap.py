"""Rendered user-data per OS family, checked against the real upstream schemas, and the public helpers.

Every MIME cloud-config part is validated against cloud-init's own JSON schema; nodeadm NodeConfig parts
against nodeadm's CRD schema; Bottlerocket TOML against the settings reference. The labels in every bootstrap
must equal the pool's resolved labels, and their device-plugin config key must be a key of the rendered
device-plugin ConfigMap.
"""

from __future__ import annotations

import base64
import email
import gzip
import json
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render.bootstrap.common import script
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, ResolvedPool, ResolvedSpec, resolve
from gpuslice.sharing import configmap_data
from gpuslice.spec import load_spec, parse_spec_text
from tests.helpers import EXAMPLES, FIXTURES

SCHEMAS = FIXTURES / "bootstrap" / "schemas"
EC2_USER_DATA_LIMIT = 16 * 1024  # bytes, before base64 (EC2 RunInstances / launch templates)

# Pools for every OS family and disk layout gpuslice renders (the examples cover only a few).
MATRIX = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {name: matrix, deploymentId: matrix-1, kubernetesVersion: "1.32", region: us-east-1}
nodePools:
  - name: u22-data
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    disks: {rootGiB: 40, data: {sizeGiB: 200, deviceName: /dev/sdf, kubeletDir: true}}
    taints: [{key: nvidia.com/gpu, effect: NoSchedule}]
    sharing: {strategy: time-slicing, replicas: 4}
  - name: u24-raid
    instanceType: g5.12xlarge
    os: ubuntu-24.04
    ssm: false
    hostNetworkDns: true
    disks: {rootGiB: 40, instanceStore: raid0}
    sharing: {strategy: mps, replicas: 2}
  - name: u24-root-only
    instanceType: g4dn.xlarge
    os: ubuntu-24.04
    kubeletResolvConf: /etc/kubelet-resolv.conf
    sharing: {strategy: none}
  - name: al2023-data
    instanceType: g6.2xlarge
    os: al2023-nvidia
    disks: {rootGiB: 50, data: {sizeGiB: 300, kubeletDir: true}}
    taints: [{key: dedicated, value: inference, effect: NoExecute}]
    sharing: {strategy: time-slicing, replicas: 8, renameByDefault: true}
  - name: al2023-raid
    instanceType: g6e.12xlarge
    os: al2023-nvidia
    disks: {instanceStore: raid0}
    sharing: {strategy: time-slicing, replicas: 3, failRequestsGreaterThanOne: false}
  - name: br-ts
    instanceType: g5.xlarge
    os: bottlerocket-nvidia
    taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
    sharing: {strategy: time-slicing, replicas: 4}
  - name: br-mps-data
    instanceType: g6.xlarge
    os: bottlerocket-nvidia
    ssm: false
    disks: {data: {sizeGiB: 120}}
    sharing: {strategy: mps, replicas: 3}
  - name: br-none-raid
    instanceType: g5g.2xlarge
    os: bottlerocket-nvidia
    disks: {instanceStore: raid0}
    sharing: {strategy: none}
  - name: al2-data
    instanceType: g4dn.2xlarge
    os: al2
    disks: {data: {sizeGiB: 100}}
    sharing: {strategy: time-slicing, replicas: 2}
"""

# settings.kubelet-device-plugins.nvidia keys in the Bottlerocket settings reference (bottlerocket.dev 1.54.x,
# api/settings/kubelet-device-plugins) and the core-kit template nvidia-k8s-device-plugin-conf.
BOTTLEROCKET_NVIDIA_KEYS = {
    "device-id-strategy",
    "device-list-strategy",
    "device-partitioning-strategy",
    "device-sharing-strategy",
    "mig.profile",
    "mps.rename-by-default",
    "mps.replicas",
    "pass-device-specs",
    "time-slicing.fail-requests-greater-than-one",
    "time-slicing.rename-by-default",
    "time-slicing.replicas",
}


@cache
def matrix() -> ResolvedSpec:
    return resolve(parse_spec_text(MATRIX, "matrix.yaml"))


def eks_example_files() -> list[Path]:
    """The examples whose nodes gpuslice bootstraps (provider eks; generic-onprem.yaml gets node-prep instead)."""
    return [p for p in sorted(EXAMPLES.glob("*.yaml")) if load_spec(p).cluster.provider == "eks"]


def examples() -> list[ResolvedSpec]:
    return [resolve(load_spec(p), file=p) for p in eks_example_files()]


def all_pools() -> list[tuple[str, ResolvedSpec, ResolvedPool]]:
    out = []
    for r in [*examples(), matrix()]:
        out += [(f"{r.deployment_id}/{p.name}", r, p) for p in r.pools]
    return out


POOLS = all_pools()


@cache
def cloud_init_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "cloud-init-schema-cloud-config-v1.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@cache
def crd_validator(name: str) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((SCHEMAS / name).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


def mime_parts(user_data: str) -> list[tuple[str, str]]:
    msg = email.message_from_string(user_data)
    assert msg.is_multipart(), "user-data must be MIME multi-part"
    return [(p.get_content_type(), p.get_payload()) for p in msg.walk() if not p.is_multipart()]


def env_values(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line or line.rstrip().endswith(")"):
            continue
        k, v = line.split("=", 1)
        out[k] = shlex.split(v)[0] if v else ""
    return out


def decoded_write_files(cloud_config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for e in cloud_config["write_files"]:
        c = e["content"]
        out[e["path"]] = gzip.decompress(base64.b64decode(c)).decode() if e.get("encoding") == "gz+b64" else c
    return out


def labels_from_flag(flag: str) -> dict[str, str]:
    assert flag.startswith("--node-labels=")
    return dict(kv.split("=", 1) for kv in flag.removeprefix("--node-labels=").split(","))


def bootstrap_labels(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    """The node labels as the rendered user-data sets them (parsed back from the user-data itself)."""
    ud = bs.user_data(resolved, pool)
    if pool.spec.os == "bottlerocket-nvidia":
        return tomllib.loads(ud)["settings"]["kubernetes"]["node-labels"]
    for ctype, payload in mime_parts(ud):
        if ctype == "application/node.eks.aws":
            return labels_from_flag(yaml.safe_load(payload)["spec"]["kubelet"]["flags"][0])
        if ctype == "text/cloud-config":
            files = decoded_write_files(yaml.safe_load(payload))
            args = env_values(files["/etc/gpuslice/node.env"])["GPUSLICE_KUBELET_EXTRA_ARGS"].split()
            return labels_from_flag(args[0])
    raise AssertionError("no labels found in the user-data")


# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "resolved", "pool"), POOLS, ids=[n for n, _, _ in POOLS])
def test_labels_in_the_bootstrap_match_the_device_plugin_config(name, resolved, pool) -> None:
    labels = bootstrap_labels(resolved, pool)
    assert labels == pool.node_labels
    keys = set(configmap_data(resolved))
    # Bottlerocket too: its host plugin reads its own settings, but the operator's GFD there reads this key
    assert labels[DEVICE_PLUGIN_CONFIG_LABEL] in keys
    assert labels[DEVICE_PLUGIN_CONFIG_LABEL] == pool.sharing.config_key


@pytest.mark.parametrize(("name", "resolved", "pool"), POOLS, ids=[n for n, _, _ in POOLS])
def test_every_mime_part_is_valid(name, resolved, pool) -> None:
    ud = bs.user_data(resolved, pool)
    assert len(ud.encode()) < EC2_USER_DATA_LIMIT
    assert ud.isascii()
    if pool.spec.os == "bottlerocket-nvidia":
        tomllib.loads(ud)
        return
    types = []
    for ctype, payload in mime_parts(ud):
        types.append(ctype)
        if ctype == "text/cloud-config":
            assert payload.startswith("#cloud-config\n")
            doc = yaml.safe_load(payload)
            errors = sorted(cloud_init_validator().iter_errors(doc), key=str)
            assert not errors, [e.message for e in errors]
            files = decoded_write_files(doc)
            assert files["/usr/local/sbin/gpuslice-node-setup"] == script("node-setup.sh")
            if "/usr/local/sbin/gpuslice-setup-disks" in files:
                assert files["/usr/local/sbin/gpuslice-setup-disks"] == script("setup-disks.sh")
        elif ctype == "application/node.eks.aws":
            doc = yaml.safe_load(payload)
            assert (doc["apiVersion"], doc["kind"]) == ("node.eks.aws/v1alpha1", "NodeConfig")
            errors = list(crd_validator("node.eks.aws_nodeconfigs.yaml").iter_errors(doc))
            assert not errors, [e.message for e in errors]
        elif ctype == "text/x-shellscript":
            assert payload.startswith("#!/bin/bash\n")
        else:
            pytest.fail(f"unexpected part {ctype}")
    if pool.spec.os.startswith(("ubuntu", "al2-")) or pool.spec.os == "al2":
        assert types == ["text/cloud-config", "text/x-shellscript"]
    else:
        assert types[0] == "application/node.eks.aws"


def test_the_cloud_init_schema_rejects_what_a_broken_renderer_would_write() -> None:
    r = matrix()
    doc = yaml.safe_load(dict(mime_parts(bs.user_data(r, r.pool("u22-data"))))["text/cloud-config"])
    doc["write_files"][0]["permissions"] = 644  # must be a string
    doc["write_files"][1]["encoding"] = "zstd+b64"  # not an encoding cloud-init knows
    doc["runcmd"] = "echo hi"
    assert len(list(cloud_init_validator().iter_errors(doc))) >= 3
    assert list(cloud_init_validator().iter_errors({"write_file": []}))  # unknown top-level key


def test_nodeconfig_schema_rejects_a_wrong_shape() -> None:
    r = matrix()
    nc = bs.nodeadm.node_config(r, r.pool("al2023-raid"))
    nc["spec"]["kubelet"]["flags"] = "--node-labels=a=b"  # must be a list
    nc["spec"]["instance"]["localStorage"]["strategy"] = "RAID5"
    messages = [e.message for e in crd_validator("node.eks.aws_nodeconfigs.yaml").iter_errors(nc)]
    assert any("is not of type 'array'" in m for m in messages)
    assert any("RAID5" in m for m in messages)


def test_ubuntu_node_settings() -> None:
    r = matrix()
    u22 = bs.bootstrap_files(r, "u22-data")
    env = env_values(u22["node.env"])
    assert env["GPUSLICE_CLUSTER_NAME"] == "matrix"
    assert env["GPUSLICE_SSM"] == "snap" and env["GPUSLICE_DISKS"] == "1" and env["GPUSLICE_JOIN"] == "1"
    args = env["GPUSLICE_KUBELET_EXTRA_ARGS"].split()
    assert "--register-with-taints=nvidia.com/gpu:NoSchedule" in args
    assert "--resolv-conf=/run/systemd/resolve/resolv.conf" in args
    disks = env_values(u22["disks.env"])
    assert disks == {
        "GPUSLICE_DISK_MODE": "ebs",
        "GPUSLICE_DEVICE_NAME": "/dev/sdf",
        "GPUSLICE_SIZE_GIB": "200",
        "GPUSLICE_FS_TYPE": "ext4",
        "GPUSLICE_FS_LABEL": "gpuslice",
        "GPUSLICE_DATA_ROOT": "/mnt/gpuslice-data",
        "GPUSLICE_TARGETS": "/var/lib/containerd /var/lib/kubelet",
        "GPUSLICE_SERVICES": "containerd.service snap.kubelet-eks.daemon.service",
    }
    assert "Before=containerd.service snap.kubelet-eks.daemon.service" in u22["gpuslice-disks.service"]
    assert "RESOLVED" not in json.dumps(u22)  # no DNS drop-in unless hostNetworkDns
    raid = bs.bootstrap_files(r, "u24-raid")
    env = env_values(raid["node.env"])
    assert env["GPUSLICE_SSM"] == "off" and env["GPUSLICE_HOST_NETWORK_DNS"] == "1"
    assert env_values(raid["disks.env"])["GPUSLICE_DISK_MODE"] == "instance-store"
    cc = yaml.safe_load(raid["cloud-config.yaml"])
    files = decoded_write_files(cc)
    assert files["/etc/systemd/resolved.conf.d/90-gpuslice.conf"].endswith("[Resolve]\nDNSStubListener=no\n")
    root_only = bs.bootstrap_files(r, "u24-root-only")
    assert "setup-disks.sh" not in root_only and "disks.env" not in root_only
    assert "--resolv-conf=/etc/kubelet-resolv.conf" in env_values(root_only["node.env"])["GPUSLICE_KUBELET_EXTRA_ARGS"]
    assert env_values(root_only["node.env"])["GPUSLICE_DISKS"] == "0"


def test_al2023_nodeconfig_and_disk_parts() -> None:
    r = matrix()
    nc = bs.nodeadm.node_config(r, r.pool("al2023-data"))
    assert nc["spec"]["kubelet"]["flags"][1] == "--register-with-taints=dedicated=inference:NoExecute"
    assert "instance" not in nc["spec"]
    parts = dict(mime_parts(bs.user_data(r, r.pool("al2023-data"))))
    files = decoded_write_files(yaml.safe_load(parts["text/cloud-config"]))
    env = env_values(files["/etc/gpuslice/node.env"])
    assert env["GPUSLICE_JOIN"] == "0"  # nodeadm joins
    assert env_values(files["/etc/gpuslice/disks.env"])["GPUSLICE_FS_TYPE"] == "xfs"
    # the join unit never starts on a broken disk
    guard = files["/etc/systemd/system/nodeadm-run.service.d/10-gpuslice-disks.conf"]
    assert "ConditionPathExists=!/run/gpuslice/disk-failed" in guard
    assert "nodeadm-run.service" in files["/etc/systemd/system/gpuslice-disks.service"]
    raid = bs.nodeadm.node_config(r, r.pool("al2023-raid"))
    assert raid["spec"]["instance"] == {"localStorage": {"strategy": "RAID0"}}
    assert [c for c, _ in mime_parts(bs.user_data(r, r.pool("al2023-raid")))] == ["application/node.eks.aws"]


def test_bottlerocket_settings() -> None:
    r = matrix()
    ts = tomllib.loads(bs.user_data(r, "br-ts"))["settings"]
    nv = ts["kubelet-device-plugins"]["nvidia"]
    assert nv == {
        "device-sharing-strategy": "time-slicing",
        "time-slicing": {"replicas": 4, "rename-by-default": False, "fail-requests-greater-than-one": True},
    }
    assert ts["kubernetes"]["node-taints"] == {"nvidia.com/gpu": ["true:NoSchedule"]}
    assert ts["kubernetes"]["cluster-name"] == "matrix"
    assert ts["host-containers"]["control"]["enabled"] is True
    assert "bootstrap-commands" not in ts
    mps = tomllib.loads(bs.user_data(r, "br-mps-data"))["settings"]
    assert mps["kubelet-device-plugins"]["nvidia"] == {
        "device-sharing-strategy": "mps",
        "mps": {"replicas": 3, "rename-by-default": False},
    }
    assert mps["host-containers"]["control"]["enabled"] is False
    none = tomllib.loads(bs.user_data(r, "br-none-raid"))["settings"]
    assert none["kubelet-device-plugins"]["nvidia"] == {"device-sharing-strategy": "none"}
    cmd = none["bootstrap-commands"]["000-gpuslice-instance-storage"]
    assert cmd["commands"][0] == ["apiclient", "ephemeral-storage", "init"]
    assert cmd["commands"][1][:4] == ["apiclient", "ephemeral-storage", "bind", "--dirs"]
    assert cmd["essential"] is True and cmd["mode"] == "always"
    for pool in ("br-ts", "br-mps-data", "br-none-raid"):
        nv = tomllib.loads(bs.user_data(r, pool))["settings"]["kubelet-device-plugins"]["nvidia"]
        flat = {
            f"{k}.{kk}" if isinstance(v, dict) else k
            for k, v in nv.items()
            for kk in (v if isinstance(v, dict) else [None])
        }
        assert flat <= BOTTLEROCKET_NVIDIA_KEYS, flat - BOTTLEROCKET_NVIDIA_KEYS


def test_bottlerocket_renders_rename_by_default_explicitly_even_when_true() -> None:
    spec = MATRIX.replace(
        "sharing: {strategy: time-slicing, replicas: 4}\n  - name: br-mps-data",
        "sharing: {strategy: time-slicing, replicas: 4, renameByDefault: true}\n  - name: br-mps-data",
    )
    r = resolve(parse_spec_text(spec))
    ts = tomllib.loads(bs.user_data(r, "br-ts"))["settings"]["kubelet-device-plugins"]["nvidia"]["time-slicing"]
    assert ts["rename-by-default"] is True


def test_block_device_mappings_per_ami_family() -> None:
    r = matrix()

    def bdm(pool: str) -> list[tuple[str, int]]:
        return [(m["DeviceName"], m["Ebs"]["VolumeSize"]) for m in bs.block_device_mappings(r, pool)]

    assert bdm("u22-data") == [("/dev/sda1", 40), ("/dev/sdf", 200)]
    assert bdm("u24-raid") == [("/dev/sda1", 40)]  # instance store is attached by EC2, not mapped
    assert bdm("al2023-data") == [("/dev/xvda", 50), ("/dev/xvdb", 300)]
    assert bdm("al2-data")[0][0] == "/dev/xvda"
    assert bdm("br-ts")[0][0] == "/dev/xvda" and bdm("br-ts")[1] == ("/dev/xvdb", 20)
    assert bdm("br-mps-data")[1] == ("/dev/xvdb", 120)
    for m in bs.block_device_mappings(r, "u22-data"):
        assert m["Ebs"]["Encrypted"] is True and m["Ebs"]["VolumeType"] == "gp3"


def test_ami_ssm_parameters() -> None:
    r = matrix()
    assert (
        bs.ami_ssm_parameter(r, "u22-data")
        == "/aws/service/canonical/ubuntu/eks/22.04/1.32/stable/current/amd64/hvm/ebs-gp2/ami-id"
    )
    assert (
        bs.ami_ssm_parameter(r, "u24-raid")
        == "/aws/service/canonical/ubuntu/eks/24.04/1.32/stable/current/amd64/hvm/ebs-gp3/ami-id"
    )
    assert (
        bs.ami_ssm_parameter(r, "al2023-data")
        == "/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
    )
    assert bs.ami_ssm_parameter(r, "br-ts") == "/aws/service/bottlerocket/aws-k8s-1.32-nvidia/x86_64/latest/image_id"
    # g5g is Graviton: arm64 AMIs
    assert (
        bs.ami_ssm_parameter(r, "br-none-raid") == "/aws/service/bottlerocket/aws-k8s-1.32-nvidia/arm64/latest/image_id"
    )
    assert (
        bs.ami_ssm_parameter(r, "al2-data")
        == "/aws/service/eks/optimized-ami/1.32/amazon-linux-2-gpu/recommended/image_id"
    )


def test_cluster_connection_is_passed_to_every_family() -> None:
    r = matrix()
    conn = bs.ClusterConnection(
        endpoint="https://ABC.gr7.us-east-1.eks.amazonaws.com",
        certificate_authority="LS0tLS1CRUdJTg==",
        service_cidr="10.100.0.0/16",
        dns_cluster_ip="10.100.0.10",
    )
    ub = bs.bootstrap_files(r, "u22-data", conn)["node.env"]
    assert (
        "GPUSLICE_BOOTSTRAP_EXTRA_ARGS=(--apiserver-endpoint https://ABC.gr7.us-east-1.eks.amazonaws.com "
        "--b64-cluster-ca LS0tLS1CRUdJTg== --dns-cluster-ip 10.100.0.10)" in ub
    )
    nc = bs.nodeadm.node_config(r, r.pool("al2023-data"), conn)
    assert nc["spec"]["cluster"] == {
        "name": "matrix",
        "apiServerEndpoint": conn.endpoint,
        "certificateAuthority": conn.certificate_authority,
        "cidr": "10.100.0.0/16",
    }
    assert not list(crd_validator("node.eks.aws_nodeconfigs.yaml").iter_errors(nc))
    br = tomllib.loads(bs.user_data(r, "br-ts", conn))["settings"]["kubernetes"]
    assert br["api-server"] == conn.endpoint and br["cluster-dns-ip"] == "10.100.0.10"


def test_unsupported_os_gets_a_warning_and_no_files() -> None:
    spec = MATRIX.split("  - name: u24-raid")[0] + "  - name: rhel\n    instanceType: g5.xlarge\n    os: rhel-9\n"
    r = resolve(parse_spec_text(spec))
    result = bs.render(r)
    assert not [f for f in result.files if f.startswith("bootstrap/rhel/")]
    assert [f.id for f in result.findings if f.pool == "rhel"] == ["bootstrap-unsupported-os"]
    with pytest.raises(ValueError, match="no bootstrap for OS 'rhel-9'"):
        bs.user_data(r, "rhel")


def test_render_is_deterministic_and_marks_scripts_executable() -> None:
    r = matrix()
    a, b = bs.render(r), bs.render(r)
    assert a.files == b.files
    assert "bootstrap/u22-data/setup-disks.sh" in a.executable
    assert "bootstrap/u22-data/user-data" not in a.executable
    assert set(a.files) >= {f"bootstrap/{p.name}/user-data" for p in r.pools}


def test_plan_writes_bootstrap_for_every_pool_of_every_example(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GPUSLICE_OFFLINE", "1")
    for spec in eks_example_files():
        out = tmp_path / spec.stem
        res = cli("plan", spec, "-d", out, "--output", "json")
        assert res.exit_code == 0, res.stdout + res.stderr
        resolved = resolve(load_spec(spec), file=spec)
        for p in resolved.pools:
            ud = (out / "bootstrap" / p.name / "user-data").read_text()
            assert ud == bs.user_data(resolved, p)
            assert (out / "nodegroups" / p.name / "eksctl.yaml").exists()
        assert (out / "nodegroups" / "karpenter.yaml").exists()
