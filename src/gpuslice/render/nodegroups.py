"""Node-group snippets per pool: an EKS managed node group + its launch template, an eksctl ``nodeGroups`` entry,
and Karpenter ``NodePool`` + ``EC2NodeClass``. All carry the same labels and taints as the bootstrap
(``ResolvedPool.node_labels``, ``spec.taints``) and the same block device mappings and user-data.

Files (under the plan folder):

- ``nodegroups/<pool>/managed-nodegroup.json`` -- EKS ``CreateNodegroup`` request; ``nodeRole`` and ``subnets``
  are placeholders (``REPLACE_WITH_...``) the user fills in (``create-nodegroup.sh`` does it from the environment).
- ``nodegroups/<pool>/launch-template.json`` -- EC2 ``CreateLaunchTemplate`` request (block devices, IMDSv2,
  base64 user-data). For a custom AMI (Ubuntu) the ``ImageId`` is the pinned / resolved AMI id, else a
  placeholder that ``create-nodegroup.sh`` resolves from the public SSM parameter: EKS managed node groups do not
  resolve ``resolve:ssm:`` in a launch template (aws/containers-roadmap#1951, ``Client.SsmAccessDenied``).
- ``nodegroups/<pool>/autoscaler-tags.json`` -- Auto Scaling ``CreateOrUpdateTags`` request with
  cluster-autoscaler's node-template tags (GPUs x replicas, labels, taints) for the node group's ASG.
- ``nodegroups/<pool>/create-nodegroup.sh`` -- AWS CLI: resolve the AMI if needed, create the launch template
  and the node group, wait, tag its ASG.
- ``nodegroups/<pool>/eksctl.yaml`` -- a ``ClusterConfig`` with the pool as one ``nodeGroups`` entry
  (``eksctl create nodegroup -f ... --install-nvidia-plugin=false``).
- ``nodegroups/karpenter.yaml`` -- one ``NodePool`` and one ``EC2NodeClass`` per pool; the node role and the
  subnet/security-group discovery tag follow Karpenter's getting-started conventions (adapt them).
- ``nodegroups/karpenter-nodeoverlays.yaml`` -- Karpenter ``NodeOverlay`` (v1alpha1) per pool with a renamed
  shared resource, so the scheduling simulation sees GPUs x replicas.
"""

from __future__ import annotations

import base64
import json
import shlex
from functools import cache
from importlib import resources
from typing import Any

from gpuslice.findings import Finding, Severity
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


@cache
def script(name: str) -> str:
    return resources.files("gpuslice.render").joinpath("templates", name).read_text("utf-8")


def _tags(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    return {"gpuslice.dev/deployment": resolved.deployment_id, "gpuslice.dev/pool": pool.name}


def _desired(pool: ResolvedPool) -> int:
    return pool.spec.desired_size if pool.spec.desired_size is not None else pool.spec.min_size


def launch_template_name(pool: ResolvedPool) -> str:
    return pool.node_group_name


#: Placeholders in the rendered JSON that the user (or create-nodegroup.sh) replaces.
AMI_PLACEHOLDER = "REPLACE_WITH_AMI_ID"
NODE_ROLE_PLACEHOLDER = "REPLACE_WITH_NODE_ROLE_ARN"
SUBNET_PLACEHOLDER = "REPLACE_WITH_SUBNET_ID"
ASG_PLACEHOLDER = "REPLACE_WITH_ASG_NAME"
#: cluster-autoscaler's scale-from-zero hints on an ASG (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/
#: README.md, "Auto-Discovery Setup"): node-template/resources/<resource>, /label/<key>, /taint/<key> =
#: "<value>:<effect>".
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
#: eksctl installs its own NVIDIA device plugin DaemonSet for GPU node groups unless told not to (eksctl-io/eksctl
#: pkg/eks/tasks.go ClusterTasksForNodeGroups / newNvidiaDevicePluginTask, flag --install-nvidia-plugin).
EKSCTL_CREATE = "eksctl create nodegroup -f eksctl.yaml --install-nvidia-plugin=false"
KARPENTER_OVERLAY_API = "karpenter.sh/v1alpha1"


def custom_ami(resolved: ResolvedSpec, pool: ResolvedPool) -> bool:
    """Whether the managed node group's launch template must carry the AMI (no EKS AMI type for the OS)."""
    return bs.supported(pool) and bs.mng_ami_type(resolved, pool) is None


def launch_template(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    connection: bs.ClusterConnection | None = None,
    *,
    ami_id: str | None = None,
) -> dict[str, Any]:
    """EC2 ``CreateLaunchTemplate`` request for the pool's managed node group.

    ``ami_id``: the resolved AMI for a custom-AMI OS (else the spec's ``amiId``, else a placeholder that
    create-nodegroup.sh fills from the public SSM parameter). Never ``resolve:ssm:``: the EKS node-group service
    role may not read SSM parameters, and the node group fails with ``Client.SsmAccessDenied``
    (aws/containers-roadmap#1951).
    """
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
        data["ImageId"] = ami_id or pool.spec.ami_id or AMI_PLACEHOLDER
    return {"LaunchTemplateName": launch_template_name(pool), "LaunchTemplateData": data}


def managed_nodegroup(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    """EKS ``CreateNodegroup`` request. ``nodeRole`` and ``subnets`` are placeholders for the user's values.

    No ``version`` / ``releaseVersion``: EKS refuses them next to a launch template that names an AMI, and with an
    EKS AMI type the node group follows the cluster's version by itself.
    """
    ng: dict[str, Any] = {
        "clusterName": resolved.spec.cluster.name,
        "nodegroupName": pool.node_group_name,
        "nodeRole": NODE_ROLE_PLACEHOLDER,
        "subnets": [SUBNET_PLACEHOLDER],
        "scalingConfig": {"minSize": pool.spec.min_size, "maxSize": pool.spec.max_size, "desiredSize": _desired(pool)},
        "instanceTypes": [pool.spec.instance_type],
        "labels": dict(sorted(pool.node_labels.items())),
        "launchTemplate": {"name": launch_template_name(pool)},
        # cluster-autoscaler reads GPUs x replicas from these (DescribeNodegroup), labels/taints from the fields above
        "tags": {**_tags(resolved, pool), **autoscaler_resource_tags(resolved, pool)},
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
    # eksctl puts a self-managed node group's tags on its ASG: cluster-autoscaler's node-template hints ride along.
    ng["tags"] = {**_tags(resolved, pool), **autoscaler_tags(resolved, pool)}
    ng["propagateASGTags"] = True
    return ng


def autoscaler_resource_tags(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    """Only the ``node-template/resources/...`` tags. On an EKS managed node group's own tags cluster-autoscaler
    reads them through DescribeNodegroup (and they win over the ASG's), as it reads the node group's labels and
    taints there (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/aws_manager.go buildNodeFromTemplate,
    managedNodegroupCache)."""
    return {k: v for k, v in autoscaler_tags(resolved, pool).items() if k.startswith(f"{CA_TEMPLATE}/resources/")}


def autoscaler_tags(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, str]:
    """cluster-autoscaler's node-template tags for the pool's ASG: what a node of an empty group will advertise.

    From zero nodes the autoscaler builds a template node from the instance type (physical GPUs) and these tags.
    A shared pool advertises GPUs x replicas (under ``<resource>.shared`` with renameByDefault, the plain
    ``nvidia.com/gpu`` then 0); labels let a pod's nodeSelector match, taints keep untolerating pods off.
    """
    out: dict[str, str] = {}
    gpus = pool.gpu.count or 0
    sh = pool.sharing
    if gpus:
        if sh.shared:
            out[f"{CA_TEMPLATE}/resources/{sh.advertised_resource}"] = str(gpus * sh.replicas)
            if sh.advertised_resource != "nvidia.com/gpu":
                out[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] = "0"
        else:
            out[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] = str(gpus)
    for k, v in sorted(pool.node_labels.items()):
        out[f"{CA_TEMPLATE}/label/{k}"] = v
    for t in pool.spec.taints:
        out[f"{CA_TEMPLATE}/taint/{t.key}"] = f"{t.value}:{t.effect}"
    return out


def autoscaler_tags_request(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any]:
    """Auto Scaling ``CreateOrUpdateTags`` request for the managed node group's ASG (EKS does not copy node-group
    tags to the ASG it creates; cluster-autoscaler reads labels and taints of a managed node group from the EKS
    API, but extended resources such as GPUs x replicas only from these tags)."""
    return {
        "Tags": [
            {
                "ResourceId": ASG_PLACEHOLDER,
                "ResourceType": "auto-scaling-group",
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": False,
            }
            for k, v in autoscaler_tags(resolved, pool).items()
        ]
    }


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


def karpenter_nodeoverlay(resolved: ResolvedSpec, pool: ResolvedPool) -> dict[str, Any] | None:
    """A NodeOverlay that tells Karpenter's scheduling simulation what a node of the pool advertises, or None.

    NodeOverlay capacity only adds extended resources and never replaces one Karpenter already knows
    (kubernetes-sigs/karpenter NodeOverlay CRD, ``spec.capacity``: "adds extended resources only, and does not
    replace any existing resources"), so it can describe a renamed shared resource (``nvidia.com/gpu.shared`` or
    a custom name) but not ``nvidia.com/gpu`` multiplied in place: for those pools Karpenter keeps believing the
    physical GPU count (PLAN.md says so).
    """
    sh = pool.sharing
    gpus = pool.gpu.count or 0
    if not (sh.shared and gpus and sh.advertised_resource != "nvidia.com/gpu"):
        return None
    return {
        "apiVersion": KARPENTER_OVERLAY_API,
        "kind": "NodeOverlay",
        "metadata": {"name": pool.node_group_name},
        "spec": {
            "requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": [pool.node_group_name]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [pool.spec.instance_type]},
            ],
            "capacity": {sh.advertised_resource: str(gpus * sh.replicas)},
        },
    }


def karpenter_manifests(resolved: ResolvedSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in resolved.pools:
        out += [karpenter_nodepool(resolved, p), karpenter_nodeclass(resolved, p)]
    return out


def _yaml_stream(docs: list[dict[str, Any]]) -> str:
    return "".join("---\n" + dump_yaml(d) for d in docs)


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


def resolve_ami_ids(resolved: ResolvedSpec, options: RenderOptions) -> tuple[dict[str, str], list[Finding]]:
    """Pool name -> AMI id for every custom-AMI pool whose AMI is known now: the spec's ``amiId``, then
    ``--ami-id POOL=ami-...``, then (``--resolve-amis``) the public SSM parameter read with boto3. What stays
    unknown is resolved by create-nodegroup.sh with the AWS CLI."""
    out: dict[str, str] = {}
    findings: list[Finding] = []
    pending: list[ResolvedPool] = []
    for p in resolved.pools:
        if not custom_ami(resolved, p):
            continue
        ami = options.ami_ids.get(p.name) or p.spec.ami_id
        if ami:
            out[p.name] = ami
        else:
            pending.append(p)
    if options.resolve_amis and pending:
        from gpuslice.render import ami_lookup

        got, why = ami_lookup.resolve_ssm(
            resolved.spec.cluster.region, {p.name: bs.ami_ssm_parameter(resolved, p) or "" for p in pending}
        )
        out.update(got)
        for p in pending:
            if p.name not in got:
                findings.append(
                    Finding(
                        "nodegroups-ami-unresolved",
                        Severity.INFO,
                        f"the AMI for the managed node group was not resolved ({why.get(p.name, 'unknown')}); "
                        "nodegroups/<pool>/create-nodegroup.sh resolves it with the AWS CLI",
                        fix="Set nodePools[].amiId, pass --ami-id POOL=ami-..., or run create-nodegroup.sh.",
                        pool=p.name,
                        reference="docs/bootstrap.md",
                        path=f"nodePools[{p.index}].amiId",
                    )
                )
    return out, findings


def create_script(resolved: ResolvedSpec, pool: ResolvedPool, ami_id: str | None) -> str:
    """create-nodegroup.sh: the managed node group with the AWS CLI (the AMI resolved first when not pinned)."""
    region = resolved.spec.cluster.region or ""
    param = bs.ami_ssm_parameter(resolved, pool) if custom_ami(resolved, pool) and not ami_id else None
    tags = autoscaler_tags(resolved, pool)
    values = {
        "POOL": pool.name,
        "CLUSTER": shlex.quote(resolved.spec.cluster.name),
        "NODEGROUP": shlex.quote(pool.node_group_name),
        "REGION": shlex.quote(region) if region else "",
        "SSM_PARAMETER": shlex.quote(param) if param else '""',
        "AMI_PLACEHOLDER": AMI_PLACEHOLDER,
        "ROLE_PLACEHOLDER": NODE_ROLE_PLACEHOLDER,
        "SUBNET_PLACEHOLDER": SUBNET_PLACEHOLDER,
        "ASG_PLACEHOLDER": ASG_PLACEHOLDER,
        "TAG_COUNT": str(len(tags)),
    }
    text = script("create-nodegroup.sh")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    files: dict[str, str | bytes] = {}
    ami_ids, findings = resolve_ami_ids(resolved, options)
    executable: set[str] = set()
    for p in resolved.pools:
        base = f"nodegroups/{p.name}"
        files[f"{base}/managed-nodegroup.json"] = _json(managed_nodegroup(resolved, p))
        files[f"{base}/autoscaler-tags.json"] = _json(autoscaler_tags_request(resolved, p))
        if bs.supported(p):
            ami = ami_ids.get(p.name)
            files[f"{base}/launch-template.json"] = _json(launch_template(resolved, p, ami_id=ami))
            files[f"{base}/create-nodegroup.sh"] = create_script(resolved, p, ami)
            executable.add(f"{base}/create-nodegroup.sh")
        files[f"{base}/eksctl.yaml"] = (
            f"# Create with: {EKSCTL_CREATE}\n"
            "# (--install-nvidia-plugin=false: the GPU Operator runs the device plugin; eksctl's own would compete\n"
            "# for nvidia.com/gpu and the node could advertise its GPUs without the sharing replicas)\n"
            + dump_yaml(eksctl_config(resolved, [p]))
        )
    files["nodegroups/karpenter.yaml"] = _yaml_stream(karpenter_manifests(resolved))
    overlays = [o for p in resolved.pools if (o := karpenter_nodeoverlay(resolved, p)) is not None]
    if overlays:
        files["nodegroups/karpenter-nodeoverlays.yaml"] = (
            "# Karpenter >= 1.7 with the NodeOverlay feature gate (alpha): settings.featureGates.nodeOverlay=true\n"
            + _yaml_stream(overlays)
        )
    return RenderResult(files=files, findings=findings, executable=executable)


def node_paths_markdown(resolved: ResolvedSpec) -> list[str]:
    """PLAN.md "Node paths": per pool, what each way of creating its nodes still needs from the user, and what
    each autoscaler will believe a new node advertises."""
    lines = [
        "## Node paths",
        "",
        "Each pool can be created four ways; gpuslice renders everything except the values only you know.",
        "",
    ]
    for p in resolved.pools:
        base = f"nodegroups/{p.name}"
        sh = p.sharing
        gpus = p.gpu.count or 0
        resource = sh.advertised_resource if sh.shared else "nvidia.com/gpu"
        per_node = gpus * (sh.replicas if sh.shared else 1)
        lines += [f"### {p.name} ({p.spec.os}, {p.spec.instance_type})", ""]
        if not bs.supported(p):
            lines += ["- No bootstrap for this OS: create the nodes yourself with the labels in node-labels.json.", ""]
            continue
        ami_type = bs.mng_ami_type(resolved, p)
        param = bs.ami_ssm_parameter(resolved, p)
        if ami_type:
            ami = (
                f"EKS AMI type `{ami_type}`: EKS picks the AMI and joins the node (the user-data prepares the node "
                "and does not join a second time)"
            )
        elif p.spec.ami_id:
            ami = (
                f"Custom AMI `{p.spec.ami_id}` (nodePools[].amiId) in the launch template; the user-data joins with "
                "`bootstrap.sh`, so the node role needs `eks:DescribeCluster`"
            )
        else:
            ami = (
                f"Custom AMI: `create-nodegroup.sh` reads `{param}` with the AWS CLI and puts the id in the launch "
                "template (managed node groups cannot resolve `resolve:ssm:`, aws/containers-roadmap#1951; or pin it "
                "with `amiId` / `plan --ami-id`); the user-data joins with `bootstrap.sh`, so the node role needs "
                "`eks:DescribeCluster`"
            )
        lines += [
            f"- **EKS managed node group**: `NODE_ROLE_ARN=... SUBNET_IDS='subnet-... subnet-...' "
            f"{base}/create-nodegroup.sh` (or fill `REPLACE_WITH_NODE_ROLE_ARN` / `REPLACE_WITH_SUBNET_ID` in "
            "`managed-nodegroup.json` yourself). "
            f"{ami}. No `version`/`releaseVersion` (EKS refuses them next to a launch-template AMI). The script also "
            "puts cluster-autoscaler's tags on the node group's Auto Scaling group (EKS does not copy node-group tags "
            "there; cluster-autoscaler versions that read the node group's own tags do not need it).",
            f"- **eksctl**: `cd {base} && {EKSCTL_CREATE}` against a cluster eksctl can describe. "
            "`--install-nvidia-plugin=false`: eksctl otherwise installs its own NVIDIA device plugin on GPU node "
            "groups, which competes with the operator's for `nvidia.com/gpu`. Tags (cluster-autoscaler's included) go "
            "on the ASG.",
        ]
        img = p.os.eks_ami if p.os is not None else None
        nc_alias = img.karpenter.get("alias") if img else None
        if nc_alias:
            karp = f"`amiSelectorTerms` alias `{nc_alias}` (Karpenter joins the node and registers its taints)"
        else:
            karp = (
                "`amiFamily: Custom` with `amiSelectorTerms.ssmParameter` (Karpenter >= 1.4); the user-data joins "
                "with `bootstrap.sh`, so the node role needs `eks:DescribeCluster`"
            )
        lines += [
            f"- **Karpenter** (v1 APIs): `kubectl apply -f nodegroups/karpenter.yaml`; {karp}. Adapt the node role "
            f"`KarpenterNodeRole-{resolved.spec.cluster.name}` and the `karpenter.sh/discovery` subnet / security-group "
            "tag.",
            "- **CDK**: `GpuNodePool` (docs/cdk.md): `ami='ssm'` (default) launches the public AMI as a custom AMI, "
            "so nodeadm / Bottlerocket nodes need the cluster's endpoint, CA and service CIDR; `ami='eks'` uses EKS's "
            "AMI type where there is one. The node group carries cluster-autoscaler's resource tags (GPUs x "
            "replicas).",
            "",
            f"What the autoscalers will believe a new node of this pool advertises (a registered node: `{resource}` = "
            f"{per_node}):",
            "",
        ]
        ca_ok = f"`{resource}` = {per_node}, the pool's labels and taints"
        if sh.shared and resource == "nvidia.com/gpu":
            karp_belief = (
                f"`nvidia.com/gpu` = {gpus} (physical: a NodeOverlay cannot replace a resource Karpenter knows). For "
                f"pending pods it launches up to {sh.replicas}x the nodes they need, and consolidation removes the "
                "extra ones later; NodePool limits count the advertised replicas. Use `renameByDefault: true` (or a "
                "`resourceName`) to let a NodeOverlay describe the replicas."
            )
        elif sh.shared:
            karp_belief = (
                f"`{resource}` = {per_node} through `nodegroups/karpenter-nodeoverlays.yaml` (Karpenter >= 1.7 with "
                "the NodeOverlay feature gate). Without it Karpenter does not know the resource at all and never "
                f"launches a node for pods that request `{resource}`."
            )
        else:
            karp_belief = f"`nvidia.com/gpu` = {gpus} (from the instance type; exclusive GPUs, which is right)"
        lines += [
            f"- cluster-autoscaler, from zero nodes: {ca_ok}. For a managed node group (create-nodegroup.sh, "
            "`managed-nodegroup.json`, CDK) it reads the resource from the node group's own tags and its labels and "
            "taints from the EKS API (DescribeNodegroup); eksctl's self-managed group carries all of them as ASG tags "
            f"(`{base}/autoscaler-tags.json` is the same set for any other ASG). Without the tags it believes the "
            f"physical `nvidia.com/gpu` = {gpus} and no renamed resource. With nodes running it copies a real node.",
            f"- Karpenter: {karp_belief}",
            "",
        ]
    return lines
