"""``GpuOperator``: the GPU Operator Helm release on an existing EKS cluster, with gpuslice's values.

The release name is always passed explicitly (``resolved.release_name``, <= 53): left out, CDK's ``HelmChart``
would derive one from the construct path (its last 53 characters), which changes when the app is refactored.
The values are written to the custom resource as our own JSON (so ``null`` values, which Helm uses to delete a
chart default, survive; jsii drops ``None`` from dicts).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from constructs import Construct

from gpuslice.cdk import _render
from gpuslice.cdk._util import fail
from gpuslice.errors import GpusliceError
from gpuslice.names import DNS_SUBDOMAIN_PATTERN, HELM_RELEASE_MAX
from gpuslice.resolve import ResolvedSpec

CHART_NAME = "gpu-operator"
#: CDK's Helm handler runs in AWS Lambda: aws-cdk-lib ``HelmChart`` rejects timeouts over 15 minutes.
CDK_HELM_TIMEOUT_MAX_MINUTES = 15
_RELEASE_RE = re.compile(f"^{DNS_SUBDOMAIN_PATTERN}$")
_MARKER_PREFIX = "GpusliceHelmRelease"


def _claim_release(scope: Construct, cluster: eks.ICluster, namespace: str, release: str) -> None:
    """Refuse a second gpuslice release with the same name on the same cluster in one CDK app.

    Two custom resources installing one Helm release would overwrite each other on every deploy.
    """
    name = cluster.cluster_name
    if cdk.Token.is_unresolved(name):
        name = cdk.Names.unique_id(cluster) if isinstance(cluster, Construct) else name
    from gpuslice.names import short_hash

    marker = f"{_MARKER_PREFIX}{short_hash(f'{name}|{namespace}|{release}')}"
    root = cast(Construct, scope.node.root)
    if root.node.try_find_child(marker) is not None:
        raise GpusliceError(
            f"this CDK app already installs Helm release {release!r} in namespace {namespace!r} on cluster "
            f"{cluster.cluster_name}; add GpuOperator once per cluster (one release serves every pool)"
        )
    Construct(root, marker)


class GpuOperator(Construct):
    """The NVIDIA GPU Operator release for a resolved spec, on ``cluster`` (an ``eks.ICluster``).

    ``chart`` is a local chart folder or ``.tgz`` whose values.yaml the values are computed from; left out, the
    chart is found as ``gpuslice plan`` finds it (``operator.chart``, ``charts/gpu-operator-<version>`` next to
    the spec, ``$GPUSLICE_CHARTS_DIR``, the cache, ``helm pull``). ``ship_chart=True`` also uploads that chart
    folder as a CDK asset and installs it from there instead of ``operator.chartRepository`` (for clusters
    that cannot reach the chart repository). ``values`` replaces the computed values altogether.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resolved: ResolvedSpec,
        cluster: eks.ICluster,
        chart: str | Path | None = None,
        values: dict[str, Any] | None = None,
        wait: bool = True,
        timeout_minutes: int | None = None,
        create_namespace: bool = True,
        ship_chart: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.resolved = resolved
        release = resolved.release_name
        if len(release) > HELM_RELEASE_MAX or not _RELEASE_RE.match(release):
            raise fail(
                resolved,
                ("operator", "releaseName"),
                f"Helm release name {release!r} must be a DNS-1123 name of at most {HELM_RELEASE_MAX} characters",
            )
        self.release_name = release
        self.namespace = resolved.namespace
        _claim_release(self, cluster, self.namespace, release)

        chart_obj = _render.chart(resolved, chart) if values is None or ship_chart else None
        if values is None:
            assert chart_obj is not None
            values = _render.operator_values(resolved, chart_obj)
        self.values = values

        minutes = timeout_minutes if timeout_minutes is not None else resolved.spec.operator.timeout_minutes
        if minutes > CDK_HELM_TIMEOUT_MAX_MINUTES:
            cdk.Annotations.of(self).add_warning_v2(
                "gpuslice:helm-timeout",
                f"operator.timeoutMinutes is {minutes}, but CDK's Helm handler (AWS Lambda) allows at most "
                f"{CDK_HELM_TIMEOUT_MAX_MINUTES}; using {CDK_HELM_TIMEOUT_MAX_MINUTES}",
            )
            minutes = CDK_HELM_TIMEOUT_MAX_MINUTES
        self.timeout_minutes = minutes

        source: dict[str, Any]
        if ship_chart:
            from aws_cdk import aws_s3_assets as s3_assets

            assert chart_obj is not None
            local = Path(chart_obj.path)
            if not local.is_dir():
                raise fail(
                    resolved,
                    ("operator", "chart"),
                    f"ship_chart=True needs the chart as a folder (CDK zips it), not {local.name}; "
                    f"unpack it: tar xzf {local.name}",
                )
            source = {"chart_asset": s3_assets.Asset(self, "ChartAsset", path=str(local))}
        else:
            source = {
                "chart": CHART_NAME,
                "repository": resolved.spec.operator.chart_repository,
                "version": resolved.chart_version,
            }
        self.chart = eks.HelmChart(
            self,
            "Release",
            cluster=cluster,
            release=release,
            namespace=self.namespace,
            wait=wait,
            timeout=cdk.Duration.minutes(minutes),
            create_namespace=create_namespace,
            **source,
        )
        # The sharing ConfigMap: the values name it (devicePlugin.config.create=false), gpuslice writes it. CDK
        # applies it before the release (kubectl apply: a sharing change replaces its keys in one go; only
        # `gpuslice apply` keeps keys nodes still select until they are relabelled).
        self.sharing_config: eks.KubernetesManifest | None = None
        cfg = (self.values.get("devicePlugin") or {}).get("config") or {}
        if cfg.get("name") and not cfg.get("create"):
            from gpuslice.sharing import configmap_manifest

            cm = configmap_manifest(resolved)
            cm["metadata"]["name"] = cfg["name"]
            docs: list[dict[str, Any]] = [cm]
            if create_namespace:
                docs.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
            self.sharing_config = eks.KubernetesManifest(
                self, "SharingConfig", cluster=cluster, manifest=docs, overwrite=True
            )
            self.chart.node.add_dependency(self.sharing_config)
        resource = self.chart.node.default_child
        assert isinstance(resource, cdk.CustomResource)
        cfn = resource.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        cfn.add_property_override("Values", json.dumps(self.values, sort_keys=True, separators=(",", ":")))
