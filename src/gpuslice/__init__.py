"""gpuslice: shared NVIDIA GPUs (time-slicing or MPS) on Kubernetes, from one declarative spec.

The public library API; the CLI and other Python code (CDK apps, CI scripts) use only what is re-exported here.
"""

from __future__ import annotations

from gpuslice.errors import CatalogError, ClusterError, GpusliceError, HelmError, Problem, SpecError
from gpuslice.findings import Finding, Severity, has_errors
from gpuslice.resolve import ResolvedPool, ResolvedSpec, resolve
from gpuslice.spec import Spec, json_schema, load_spec, parse_spec_text

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "ClusterError",
    "Finding",
    "GpusliceError",
    "HelmError",
    "Problem",
    "ResolvedPool",
    "ResolvedSpec",
    "Severity",
    "Spec",
    "SpecError",
    "__version__",
    "has_errors",
    "json_schema",
    "load_spec",
    "parse_spec_text",
    "resolve",
]
