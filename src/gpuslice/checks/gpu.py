"""Every pool must have a known GPU: an instance type in the catalog, or a ``gpu:`` override that says what it has."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from gpuslice.checks._common import pool_path
from gpuslice.findings import Finding, Severity
from gpuslice.resolve import ResolvedPool, ResolvedSpec

TYPES_REF = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html"


def _pool(r: ResolvedSpec, p: ResolvedPool) -> Iterator[Finding]:
    it = r.catalog.instance(p.spec.instance_type)
    o = p.spec.gpu
    if it is None:
        missing = [
            k
            for k, v in (("model", o and o.model), ("count", o and o.count), ("memoryGiB", o and o.memory_gib))
            if not v
        ]
        if missing:
            name = p.spec.instance_type
            close = difflib.get_close_matches(name, list(r.catalog.instance_types), n=3, cutoff=0.75) if name else []
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            what = f"Instance type {name!r} is not in gpuslice's catalog" if name else "The pool names no instanceType"
            yield Finding(
                id="gpu-unknown-instance-type",
                severity=Severity.ERROR,
                pool=p.name,
                message=f"{what} and the pool's gpu: override lacks {', '.join(missing)}.{hint}",
                fix=(
                    "Describe the GPU: gpu: {model: <e.g. L4>, count: <GPUs per node>, memoryGiB: <per GPU>} "
                    "(aws ec2 describe-instance-types --instance-types <type> --query "
                    "'InstanceTypes[].GpuInfo' shows them)."
                ),
                reference=TYPES_REF,
                path=pool_path(p, "instanceType"),
            )
            return
    if p.gpu.model and p.gpu.catalog_model is None:
        known = ", ".join(sorted(r.catalog.gpu_models))
        yield Finding(
            id="gpu-model-unknown",
            severity=Severity.WARNING,
            pool=p.name,
            message=(
                f"GPU model {p.gpu.model!r} is not in gpuslice's catalog; MIG, MPS-limit and compute-capability "
                f"checks are skipped for this pool."
            ),
            fix=f"Use a catalog model id in gpu.model ({known}) if it is one of them.",
            reference=TYPES_REF,
            path=pool_path(p, "gpu", "model"),
        )


def check(r: ResolvedSpec) -> Iterator[Finding]:
    for p in r.pools:
        yield from _pool(r, p)
