"""AWS CDK (Python) constructs built from a gpuslice spec: the optional extra ``gpuslice[cdk]``.

``GpuNodePool`` (one spec pool as an EKS managed node group with gpuslice's launch template and node role),
``GpuOperator`` (the GPU Operator Helm release with gpuslice's values) and ``GpuCluster`` (a whole spec applied
to a cluster). aws-cdk-lib is imported here and nowhere else in gpuslice.

    from gpuslice.cdk import GpuCluster, import_cluster
    cluster = import_cluster(stack, "Cluster", resolved, kubectl_role_arn=..., vpc=vpc)
    GpuCluster(stack, "Gpu", spec="gpuslice.yaml", cluster=cluster)
"""

from __future__ import annotations

from gpuslice.cdk._runtime import select_node
from gpuslice.errors import GpusliceError

select_node()

try:
    import aws_cdk  # noqa: F401
    import constructs  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise GpusliceError("gpuslice.cdk needs the cdk extra: pip install 'gpuslice[cdk]'") from e

from gpuslice.cdk._util import as_resolved as load  # noqa: E402
from gpuslice.cdk.cluster import GpuCluster, import_cluster, installed_kubectl_layers, kubectl_layer  # noqa: E402
from gpuslice.cdk.node_pool import NODE_POLICIES, GpuNodePool, node_policy_names  # noqa: E402
from gpuslice.cdk.operator import CDK_HELM_TIMEOUT_MAX_MINUTES, GpuOperator  # noqa: E402

__all__ = [
    "CDK_HELM_TIMEOUT_MAX_MINUTES",
    "NODE_POLICIES",
    "GpuCluster",
    "GpuNodePool",
    "GpuOperator",
    "import_cluster",
    "installed_kubectl_layers",
    "kubectl_layer",
    "load",
    "node_policy_names",
]
