"""Small helpers shared by the constructs: spec positions for errors, spec loading, tokens."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from constructs import Construct

from gpuslice.errors import GpusliceError, Problem, SpecError
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Spec

PathT = tuple[str | int, ...]


def problem(resolved: ResolvedSpec, path: PathT, message: str) -> Problem:
    """A Problem naming the spec file, field and (when the file can be re-read) line."""
    if resolved.file and Path(resolved.file).is_file():
        from gpuslice.yamlio import load_yaml_file

        try:
            return load_yaml_file(resolved.file)[0].problem(path, message)
        except GpusliceError:  # the file changed since it was loaded: the message stands without a line
            pass
    from gpuslice.yamlio import format_path

    return Problem(message, file=resolved.file, path=format_path(path))


def fail(resolved: ResolvedSpec, path: PathT, message: str) -> SpecError:
    return SpecError([problem(resolved, path, message)])


def as_resolved(spec: str | Path | Spec | ResolvedSpec) -> ResolvedSpec:
    """Accept a spec file path, a parsed Spec or a ResolvedSpec."""
    if isinstance(spec, ResolvedSpec):
        return spec
    from gpuslice.resolve import resolve

    if isinstance(spec, Spec):
        return resolve(spec)
    from gpuslice.api import load

    return load(spec)


def pick_pool(resolved: ResolvedSpec, pool: str | int | ResolvedPool) -> ResolvedPool:
    if isinstance(pool, ResolvedPool):
        return pool
    if isinstance(pool, int):
        if 0 <= pool < len(resolved.pools):
            return resolved.pools[pool]
        raise fail(
            resolved, ("nodePools",), f"there is no node pool number {pool} (the spec has {len(resolved.pools)})"
        )
    found = resolved.pool(pool)
    if found is None:
        names = ", ".join(p.name for p in resolved.pools)
        raise fail(resolved, ("nodePools",), f"there is no node pool named {pool!r} (pools: {names})")
    return found


def check_cluster(scope: Construct, resolved: ResolvedSpec, cluster: eks.ICluster) -> None:
    """The CDK cluster must be the spec's: the node user-data joins ``cluster.name`` in ``cluster.region``."""
    name = cluster.cluster_name
    want = resolved.spec.cluster.name
    if cdk.Token.is_unresolved(name):
        cdk.Annotations.of(scope).add_warning_v2(
            "gpuslice:cluster-name",
            f"the cluster's name is only known at deploy time; the node user-data joins cluster {want!r} "
            "(cluster.name in the spec): give the eks.Cluster that clusterName",
        )
    elif name != want:
        raise fail(
            resolved,
            ("cluster", "name"),
            f"the spec names cluster {want!r} but the CDK cluster is {name!r}; nodes would try to join {want!r}",
        )
    region = resolved.spec.cluster.region
    stack_region = cdk.Stack.of(scope).region
    if region and not cdk.Token.is_unresolved(stack_region) and stack_region != region:
        raise fail(
            resolved, ("cluster", "region"), f"the spec's region is {region} but the stack deploys to {stack_region}"
        )
