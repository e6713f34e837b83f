"""gpuslice: shared NVIDIA GPUs (time-slicing or MPS) on Kubernetes, from one declarative spec.

The public library API; the CLI and other Python code (CDK apps, CI scripts) use what is re-exported here.
Re-exports are resolved lazily (PEP 562) so that ``gpuslice --help`` does not pay for pydantic and the catalog.
``resolve`` is not re-exported here because the submodule ``gpuslice.resolve`` would shadow it: use
``gpuslice.load(path)`` or ``from gpuslice.resolve import resolve``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The version lives in one place, pyproject.toml; ``__version__`` reads the installed metadata (lazily, below).
_DIST = "gpuslice"

_EXPORTS = {
    "CatalogError": "gpuslice.errors",
    "ClusterError": "gpuslice.errors",
    "GpusliceError": "gpuslice.errors",
    "HelmError": "gpuslice.errors",
    "Problem": "gpuslice.errors",
    "SpecError": "gpuslice.errors",
    "Finding": "gpuslice.findings",
    "Severity": "gpuslice.findings",
    "has_errors": "gpuslice.findings",
    "ResolvedPool": "gpuslice.resolve",
    "ResolvedSpec": "gpuslice.resolve",
    "Spec": "gpuslice.spec",
    "json_schema": "gpuslice.spec",
    "load_spec": "gpuslice.spec",
    "parse_spec_text": "gpuslice.spec",
    "load": "gpuslice.api",
    "check": "gpuslice.api",
    "plan": "gpuslice.api",
}

if TYPE_CHECKING:
    __version__: str
    from gpuslice.api import check, load, plan
    from gpuslice.errors import CatalogError, ClusterError, GpusliceError, HelmError, Problem, SpecError
    from gpuslice.findings import Finding, Severity, has_errors
    from gpuslice.resolve import ResolvedPool, ResolvedSpec
    from gpuslice.spec import Spec, json_schema, load_spec, parse_spec_text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_DIST)
    except PackageNotFoundError:  # running from a source tree that was never installed (PYTHONPATH=src)
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'gpuslice' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, "__version__"})


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
    "check",
    "has_errors",
    "json_schema",
    "load",
    "load_spec",
    "parse_spec_text",
    "plan",
]
