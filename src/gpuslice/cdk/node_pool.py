"""``GpuNodePool``: one spec node pool as an EKS managed node group with a gpuslice launch template.

Everything the nodes need comes from the same resolved spec as the CLI's artifacts: the user-data (data disk,
DNS, SSM, join) and block-device mappings from the bootstrap renderer, the node labels (including
``nvidia.com/device-plugin.config=<key>``) from :mod:`gpuslice.resolve`, and the AMI from the public SSM
parameter for the pool's OS family and the cluster's Kubernetes version. That AMI is a *custom* AMI for EKS, so
the node group sets no ``amiType`` and the user-data does the join (``ami="eks"`` instead lets EKS pick its own
AMI type, where it has one, and merge the join details itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from gpuslice.cdk import _render
from gpuslice.cdk._util import check_cluster, fail, pick_pool
from gpuslice.errors import GpusliceError
from gpuslice.resolve import ResolvedPool, ResolvedSpec


@dataclass(frozen=True)
class NodePolicy:
    name: str  # AWS managed policy name
    when: str  # always | cni | ssm
    source: str


#: AWS managed policies of the node role (knowledge with its source, not an if-chain).
NODE_POLICIES: tuple[NodePolicy, ...] = (
    NodePolicy(
        "AmazonEKSWorkerNodePolicy",
        "always",
        "EKS User Guide, 'Amazon EKS node IAM role': required for nodes to join (eks:DescribeCluster, ...)",
    ),
    NodePolicy(
        "AmazonEC2ContainerRegistryReadOnly",
        "always",
        "EKS User Guide, 'Amazon EKS node IAM role': pulls the VPC CNI, kube-proxy and other ECR images",
    ),
    NodePolicy(
        "AmazonEKS_CNI_Policy",
        "cni",
        "EKS User Guide, 'Amazon EKS node IAM role': needed on the node role unless the VPC CNI uses "
        "IRSA or EKS Pod Identity",
    ),
    NodePolicy(
        "AmazonSSMManagedInstanceCore",
        "ssm",
        "Systems Manager User Guide, instance profile for Session Manager; eksctl attaches it by default",
    ),
)


_JOIN_HINTS = {
    "endpoint": "cluster_endpoint= when importing the cluster",
    "certificate_authority": "cluster_certificate_authority_data= when importing the cluster",
    "service_cidr": "service_cidr= (the cluster's Kubernetes service CIDR, e.g. 10.100.0.0/16)",
}

#: EC2 RunInstances / launch templates: user data is limited to 16 KB before base64 encoding.
USER_DATA_MAX_BYTES = 16384

_TAINT_EFFECTS = {
    "NoSchedule": eks.TaintEffect.NO_SCHEDULE,
    "PreferNoSchedule": eks.TaintEffect.PREFER_NO_SCHEDULE,
    "NoExecute": eks.TaintEffect.NO_EXECUTE,
}

_VOLUME_TYPES = {t.name.lower(): t for t in ec2.EbsDeviceVolumeType}  # gp3 -> GP3, ...


def node_policy_names(pool: ResolvedPool, *, attach_cni_policy: bool = True) -> list[str]:
    """The managed policies the node role of ``pool`` gets."""
    wanted = {"always": True, "cni": attach_cni_policy, "ssm": pool.spec.ssm}
    return [p.name for p in NODE_POLICIES if wanted[p.when]]


def block_device(mapping: dict[str, Any]) -> ec2.BlockDevice:
    """An EC2 ``BlockDeviceMapping`` (API/CloudFormation shape) as a CDK ``BlockDevice``."""
    ebs = mapping["Ebs"]
    vtype = ebs.get("VolumeType")
    return ec2.BlockDevice(
        device_name=mapping["DeviceName"],
        volume=ec2.BlockDeviceVolume.ebs(
            int(ebs["VolumeSize"]),
            volume_type=_VOLUME_TYPES[vtype] if vtype else None,
            encrypted=ebs.get("Encrypted"),
            delete_on_termination=ebs.get("DeleteOnTermination"),
            iops=ebs.get("Iops"),
            throughput=ebs.get("Throughput"),
        ),
    )


def _attr(read: Any) -> str | None:
    """An attribute of an ``ICluster`` that an imported cluster may not have (jsii raises then)."""
    try:
        value = read()
    except RuntimeError:
        return None
    return value if isinstance(value, str) and value else None


class GpuNodePool(Construct):
    """A GPU node pool of a gpuslice spec as an EKS managed node group.

    ``pool`` is the pool's name (or index, or a ``ResolvedPool``). ``cluster`` must know its VPC (an imported
    cluster needs ``vpc=``); ``subnets`` selects the node subnets in it (default: the private subnets).
    ``role`` replaces the node role gpuslice would create (then attaching policies is up to you).
    ``ami="ssm"`` (default) launches the AMI named by the public SSM parameter for the pool's OS and Kubernetes
    version; ``ami="eks"`` uses EKS's own AMI type for the OS (AL2023 / Bottlerocket NVIDIA; not Ubuntu).
    ``service_cidr`` is needed by AL2023 nodes on the SSM AMI (nodeadm must be told it).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resolved: ResolvedSpec,
        pool: str | int | ResolvedPool,
        cluster: eks.ICluster,
        subnets: ec2.SubnetSelection | None = None,
        role: iam.IRole | None = None,
        attach_cni_policy: bool = True,
        ami: Literal["ssm", "eks"] = "ssm",
        service_cidr: str | None = None,
        dns_cluster_ip: str | None = None,
        capacity_type: eks.CapacityType | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        rp = pick_pool(resolved, pool)
        self.resolved = resolved
        self.pool = rp
        where = ("nodePools", rp.index)
        if resolved.spec.cluster.provider != "eks":  # gpuslice.cdk builds EKS managed node groups only
            raise fail(
                resolved,
                ("cluster", "provider"),
                f"GpuNodePool builds an EKS managed node group, but the spec's provider is "
                f"{resolved.spec.cluster.provider!r} (use provider: eks, or the plan's node-prep scripts)",
            )
        if not _render.supported(rp):
            raise fail(
                resolved,
                (*where, "os"),
                f"gpuslice has no node bootstrap for os {rp.spec.os!r}, so gpuslice.cdk cannot build its "
                "launch template (supported: Ubuntu EKS, AL2023 NVIDIA, AL2, Bottlerocket NVIDIA)",
            )
        if rp.spec.max_size < 1:
            raise fail(resolved, (*where, "maxSize"), "an EKS managed node group needs maxSize >= 1")
        if rp.spec.instance_type is None:
            raise fail(resolved, (*where, "instanceType"), "an EKS managed node group needs the pool's instanceType")
        instance_type: str = rp.spec.instance_type
        try:
            cluster.vpc  # noqa: B018 - an imported cluster without a VPC raises here
        except RuntimeError as e:
            raise GpusliceError(
                f"GpuNodePool {rp.name!r}: the cluster has no VPC; import it with vpc= (e.g. "
                "ec2.Vpc.from_vpc_attributes) so the node group can pick its subnets"
            ) from e
        check_cluster(self, resolved, cluster)

        self.ami_type: str | None = None
        self.ami_parameter: str | None = None
        if ami == "eks":
            self.ami_type = _render.eks_ami_type(resolved, rp)
            if self.ami_type is None:
                raise fail(
                    resolved,
                    (*where, "os"),
                    f"EKS has no managed AMI type for os {rp.spec.os!r}; use ami='ssm' (the default)",
                )
            conn = None
            machine_image: ec2.IMachineImage | None = None
        else:
            self.ami_parameter = _render.ami_parameter(resolved, rp)
            if self.ami_parameter is None:
                raise fail(resolved, (*where, "os"), f"gpuslice knows no public AMI parameter for os {rp.spec.os!r}")
            machine_image = ec2.MachineImage.from_ssm_parameter(self.ami_parameter)
            conn = _render.connection(
                endpoint=_attr(lambda: cluster.cluster_endpoint),
                certificate_authority=_attr(lambda: cluster.cluster_certificate_authority_data),
                service_cidr=service_cidr,
                dns_cluster_ip=dns_cluster_ip,
            )
            family = _render.bootstrap_family(rp)
            # What a node of the family must be told to join when EKS does not merge it in (custom AMI).
            missing = [f for f in (family.join_needs if family else ()) if not getattr(conn, f)]
            if family is not None and missing:
                hints = "; ".join(_JOIN_HINTS[f] for f in missing)
                alt = " (or ami='eks' to let EKS supply them)" if _render.eks_ami_type(resolved, rp) else ""
                raise GpusliceError(
                    f"GpuNodePool {rp.name!r}: {rp.spec.os} nodes on a custom AMI join with {family.name}, which "
                    f"must be told the cluster's {', '.join(missing)}: pass {hints}{alt}"
                )
        self.connection = conn
        self.user_data_text = _render.user_data(resolved, rp, conn, eks_joins=self.ami_type is not None)
        size = len(self.user_data_text.encode("utf-8"))
        if size > USER_DATA_MAX_BYTES:
            raise GpusliceError(
                f"GpuNodePool {rp.name!r}: the user-data has {size} bytes; EC2 allows "
                f"{USER_DATA_MAX_BYTES} (before base64)"
            )
        self.block_device_mappings = _render.block_device_mappings(resolved, rp)

        if role is None:
            role = iam.Role(
                self,
                "NodeRole",
                assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                description=f"gpuslice node role for pool {rp.name} of {resolved.deployment_id}",
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name(n)
                    for n in node_policy_names(rp, attach_cni_policy=attach_cni_policy)
                ],
            )
        self.role = role

        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            machine_image=machine_image,
            # CDK base64-encodes it (Fn::Base64); tokens (a new cluster's endpoint) resolve at deploy time.
            user_data=ec2.UserData.custom(self.user_data_text),
            block_devices=[block_device(m) for m in self.block_device_mappings],
            require_imdsv2=True,
            # 2 hops: containers on the node (e.g. the VPC CNI) still reach IMDSv2.
            http_put_response_hop_limit=2,
        )

        sharing = rp.sharing
        self.nodegroup = eks.Nodegroup(
            self,
            "NodeGroup",
            cluster=cluster,
            nodegroup_name=rp.node_group_name,
            node_role=role,
            launch_template_spec=eks.LaunchTemplateSpec(
                id=self.launch_template.launch_template_id or "",
                version=self.launch_template.latest_version_number,
            ),
            ami_type=eks.NodegroupAmiType[self.ami_type.upper()] if self.ami_type else None,
            instance_types=[ec2.InstanceType(instance_type)],
            min_size=rp.spec.min_size,
            max_size=rp.spec.max_size,
            desired_size=rp.spec.desired_size if rp.spec.desired_size is not None else rp.spec.min_size,
            labels=dict(rp.node_labels),
            taints=[
                eks.TaintSpec(effect=_TAINT_EFFECTS[t.effect], key=t.key, value=t.value or None) for t in rp.spec.taints
            ],
            subnets=subnets,
            capacity_type=capacity_type,
            tags={
                "gpuslice.dev/deployment": resolved.deployment_id,
                "gpuslice.dev/pool": rp.name,
                "gpuslice.dev/sharing": f"{sharing.strategy}-{sharing.replicas}",
                # cluster-autoscaler reads GPUs x replicas from the node group's tags (DescribeNodegroup)
                **_render.autoscaler_resource_tags(resolved, rp),
                **(tags or {}),
            },
        )
        # Instances and volumes are named after the node group (CDK's default Name is the construct path).
        cdk.Tags.of(self.launch_template).add("Name", rp.node_group_name)
        cdk.Tags.of(self.launch_template).add("gpuslice.dev/pool", rp.name)
