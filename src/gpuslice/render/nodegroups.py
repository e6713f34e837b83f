"""Node-group snippets per pool: an EKS managed node group + its launch template, an eksctl ``nodeGroups`` entry,
and Karpenter ``NodePool`` + ``EC2NodeClass``. All carry the same labels and taints as the bootstrap
(``ResolvedPool.node_labels``, ``spec.taints``) and the same block device mappings and user-data.

Files (under the plan folder):

- ``nodegroups/<pool>/managed-nodegroup.json`` -- EKS ``CreateNodegroup`` request fields gpuslice derives; add
  ``subnets`` and ``nodeRole`` (``aws eks create-nodegroup --cli-input-json``).
- ``nodegroups/<pool>/launch-template.json`` -- EC2 ``CreateLaunchTemplate`` request (block devices, IMDSv2,
  base64 user-data; the AMI via ``resolve:ssm:`` for AMIs EKS does not manage, i.e. Ubuntu).
- ``nodegroups/<pool>/eksctl.yaml`` -- a ``ClusterConfig`` with the pool as one ``nodeGroups`` entry
  (``eksctl create nodegroup -f``).
- ``nodegroups/karpenter.yaml`` -- one ``NodePool`` and one ``EC2NodeClass`` per pool; the node role and the
  subnet/security-group discovery tag follow Karpenter's getting-started conventions (adapt them).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from gpuslice.render import RenderOptions, RenderResult
from gpuslice.render import bootstrap as bs
from gpuslice.render.bootstrap.family import spec_eksctl_volumes
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint
from gpuslice.yamlio import dump_yaml

MNG_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
EKSCTL_API_VERSION = "eksctl.io/v1alpha5"
KARPENTER_NODEPOOL_API = "karpenter.sh/v1"
KARPENTER_NODECLASS_API = "karpenter.k8s.aws/v1"
DISCOVERY_TAG = "karpenter.sh/discovery"
#: Karpenter v1 registration contract: a Custom-AMI node's kubelet registers with this taint (karpenter.sh docs,
#: "NodeClasses", userData for amiFamily Custom; karpenter-provider-aws v1 migration guide).
KARPENTER_UNREGISTERED_TAINT = Taint(key="karpenter.sh/unregistered", effect="NoExecute")


def _tags(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    return {"gpuslice.dev/deployment": resolved.deployment_id, "gpuslice.dev/pool": pool.name}


def _desired(pool: ResolvedPool) -> int:
    return pool.spec.desired_size if pool.spec.desired_size is not None else pool.spec.min_size


def launch_template_name(pool: ResolvedPool) -> str:
    return pool.node_group_name


def launch_template(
    resolved: ResolvedSpec, pool: ResolvedPool, connection: bs.ClusterConnection | None = None
) -> dict[str, Any]:
    """EC2 ``CreateLaunchTemplate`` request for the pool's managed node group."""
    # With an EKS AMI type (no ImageId here) EKS appends its own join to the user-data: ours must not join too.
    eks_joins = bs.mng_ami_type(resolved, pool) is not None
    user_data = bs.user_data(resolved, pool, connection, eks_joins=eks_joins)
    data: dict[str, Any] = {
        "BlockDeviceMappings": bs.block_device_mappings(resolved, pool),
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        "UserData": base64.b64encode(user_data.encode("utf-8")).decode("ascii"),
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in _tags(resolved, pool).items()],
            }
        ],
    }
    if not eks_joins:
        param = bs.ami_ssm_parameter(resolved, pool)
        if param:
            data["ImageId"] = f"resolve:ssm:{param}"
    return {"LaunchTemplateName": launch_template_name(pool), "LaunchTemplateData": data}


def managed_nodegroup(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    """EKS ``CreateNodegroup`` request fields (without ``subnets`` and ``nodeRole``, which are yours)."""
    ng: dict[str, Any] = {
        "clusterName": resolved.spec.cluster.name,
        "nodegroupName": pool.node_group_name,
        "scalingConfig": {"minSize": pool.spec.min_size, "maxSize": pool.spec.max_size, "desiredSize": _desired(pool)},
        "instanceTypes": [pool.spec.instance_type],
        "labels": dict(sorted(pool.node_labels.items())),
        "launchTemplate": {"name": launch_template_name(pool)},
        "tags": _tags(resolved, pool),
    }
    ami_type = bs.mng_ami_type(resolved, pool)
    if ami_type:
        ng["amiType"] = ami_type
    if pool.spec.taints:
        ng["taints"] = [
            {"key": t.key, **({"value": t.value} if t.value else {}), "effect": MNG_EFFECT[t.effect]}
            for t in pool.spec.taints
        ]
    return ng


def eksctl_nodegroup(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    """One eksctl ``nodeGroups`` entry (self-managed): eksctl joins the node with these labels and taints."""
    img = pool.os.eks_ami if pool.os is not None else None
    fam = bs.bootstrap_family(pool)
    ng: dict[str, Any] = {"name": pool.node_group_name, "instanceType": pool.spec.instance_type}
    if img is not None:
        ng["amiFamily"] = img.eksctl_ami_family
    ng.update({"minSize": pool.spec.min_size, "maxSize": pool.spec.max_size, "desiredCapacity": _desired(pool)})
    ng.update(fam.eksctl_volumes(resolved, pool) if fam is not None else spec_eksctl_volumes(pool))
    ng["labels"] = dict(sorted(pool.node_labels.items()))
    if pool.spec.taints:
        ng["taints"] = [
            {"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in pool.spec.taints
        ]
    if fam is not None:
        ng.update(fam.eksctl_bootstrap(resolved, pool))
    ng["tags"] = _tags(resolved, pool)
    return ng


def eksctl_config(resolved: ResolvedSpec, pools: list[ResolvedPool] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": resolved.spec.cluster.name}
    if resolved.spec.cluster.region:
        meta["region"] = resolved.spec.cluster.region
    meta["version"] = resolved.kubernetes_version
    return {
        "apiVersion": EKSCTL_API_VERSION,
        "kind": "ClusterConfig",
        "metadata": meta,
        "nodeGroups": [eksctl_nodegroup(resolved, p) for p in (pools if pools is not None else resolved.pools)],
    }


def _karpenter_bdm(resolved: ResolvedSpec, pool: ResolvedPool) -> list[dict[str, Any]]:
    return [
        {
            "deviceName": m["DeviceName"],
            "ebs": {
                "volumeSize": f"{m['Ebs']['VolumeSize']}Gi",
                "volumeType": m["Ebs"]["VolumeType"],
                "encrypted": m["Ebs"]["Encrypted"],
                "deleteOnTermination": m["Ebs"]["DeleteOnTermination"],
            },
        }
        for m in bs.block_device_mappings(resolved, pool)
    ]


def karpenter_nodeclass(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    cluster = resolved.spec.cluster.name
    img = pool.os.eks_ami if pool.os is not None else None
    spec: dict[str, Any] = {}
    alias = img.karpenter.get("alias") if img else None
    if alias:
        spec["amiSelectorTerms"] = [{"alias": alias}]
    else:
        # Karpenter has no Ubuntu family since v1: a Custom AMI from Canonical's SSM parameter, and our user-data
        # does the whole join.
        spec["amiFamily"] = "Custom"
        spec["amiSelectorTerms"] = [{"ssmParameter": bs.ami_ssm_parameter(resolved, pool)}]
    spec.update(
        {
            "role": f"KarpenterNodeRole-{cluster}",
            "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster}}],
            "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster}}],
            "blockDeviceMappings": _karpenter_bdm(resolved, pool),
        }
    )
    fam = bs.bootstrap_family(pool)
    if fam is not None and fam.os_stripes_instance_store and pool.spec.disks.instance_store == "raid0":
        spec["instanceStorePolicy"] = "RAID0"
    if fam is not None:
        spec["userData"] = fam.karpenter_user_data(
            resolved, pool, alias=bool(alias), unregistered_taint=KARPENTER_UNREGISTERED_TAINT
        )
    spec["tags"] = _tags(resolved, pool)
    return {
        "apiVersion": KARPENTER_NODECLASS_API,
        "kind": "EC2NodeClass",
        "metadata": {"name": pool.node_group_name},
        "spec": spec,
    }


def karpenter_limits(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    """NodePool limits that stop at ``maxSize`` nodes.

    Karpenter counts a node it launched by its instance type (physical ``nvidia.com/gpu``) and a registered node
    by the node's own capacity, which the device plugin multiplies by the sharing replicas (under the renamed
    ``.shared`` resource with renameByDefault). A physical-GPU limit alone would stop a 4-way time-sliced pool
    at a quarter of maxSize. The CPU limit (when the catalog knows the vCPUs) caps the node count exactly.
    """
    n = pool.spec.max_size
    gpus = pool.gpu.count or 1
    sh = pool.sharing
    limits = {"nvidia.com/gpu": str(n * gpus)}
    if sh.shared:
        limits[sh.advertised_resource] = str(n * gpus * sh.replicas)
    it = resolved.catalog.instance(pool.spec.instance_type)
    if it is not None and it.vcpus:
        limits["cpu"] = str(n * it.vcpus)
    return limits


def karpenter_nodepool(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    tspec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.node_group_name},
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [pool.spec.instance_type]},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        ],
    }
    if pool.spec.taints:
        tspec["taints"] = [
            {"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in pool.spec.taints
        ]
    return {
        "apiVersion": KARPENTER_NODEPOOL_API,
        "kind": "NodePool",
        "metadata": {"name": pool.node_group_name},
        "spec": {
            "template": {"metadata": {"labels": dict(sorted(pool.node_labels.items()))}, "spec": tspec},
            "limits": karpenter_limits(resolved, pool),
        },
    }


def karpenter_manifests(resolved: ResolvedSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in resolved.pools:
        out += [karpenter_nodepool(resolved, p), karpenter_nodeclass(resolved, p)]
    return out


def _yaml_stream(docs: list[dict[str, Any]]) -> str:
    return "".join("---\n" + dump_yaml(d) for d in docs)


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    files: dict[str, str | bytes] = {}
    for p in resolved.pools:
        base = f"nodegroups/{p.name}"
        files[f"{base}/managed-nodegroup.json"] = json.dumps(managed_nodegroup(resolved, p), indent=2) + "\n"
        if bs.supported(p):
            files[f"{base}/launch-template.json"] = json.dumps(launch_template(resolved, p), indent=2) + "\n"
        files[f"{base}/eksctl.yaml"] = dump_yaml(eksctl_config(resolved, [p]))
    files["nodegroups/karpenter.yaml"] = _yaml_stream(karpenter_manifests(resolved))
    return RenderResult(files=files)
