"""Knowledge that changes with upstream releases, as data files with a source note per entry.

The loader validates the data with pydantic (a broken data file is a ``CatalogError``, a gpuslice bug) and
caches it. Code asks the catalog questions; it never hard-codes an OS, instance type or chart version.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gpuslice.errors import CatalogError


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GpuModel(_Entry):
    id: str  # e.g. "A10G"; matches the instance type entries
    product: str  # the nvidia.com/gpu.product label value the GFD sets, e.g. "NVIDIA-A10G"
    memory_gib: float
    compute_capability: str  # "8.6"
    architecture: str  # "Ampere"
    mig_profiles: tuple[str, ...] = ()  # empty when the GPU has no MIG
    mps_max_clients: int = 48  # 48 from Volta (7.0) on ... see source
    source: str


class InstanceType(_Entry):
    name: str
    gpu_model: str
    gpu_count: int
    gpu_memory_gib: float  # per GPU
    vcpus: int | None = None
    memory_gib: float | None = None
    instance_store_gib: int = 0  # total local NVMe
    instance_store_disks: int = 0
    arch: str = "x86_64"
    source: str


class OsFamily(_Entry):
    id: str  # the spec's `os` value
    display: str
    bootstrap: str  # ubuntu-eks | nodeadm | bottlerocket | generic
    glibc: str | None = None
    driver_preinstalled: bool = False
    toolkit_preinstalled: bool = False
    device_plugin_builtin: bool = False
    driver_os_tag: str | None = None  # suffix of the operator's driver image tag, e.g. "ubuntu22.04"
    root_device: str = "/dev/xvda"
    default_root_gib: int = 20
    containerd_root: str = "/var/lib/containerd"
    eks_max_kubernetes: str | None = None  # last Kubernetes minor with EKS AMIs (None: still published)
    end_of_support: str | None = None  # ISO date
    source: str


class ChartVersion(_Entry):
    version: str  # "v25.3.4"
    kubernetes_min: str
    kubernetes_max: str
    device_plugin_version: str
    driver_version: str
    driver_os_tags: tuple[str, ...] = ()
    source: str


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    gpu_models: dict[str, GpuModel]
    instance_types: dict[str, InstanceType]
    os_families: dict[str, OsFamily]
    chart_versions: dict[str, ChartVersion]
    default_chart_version: str

    def instance(self, name: str) -> InstanceType | None:
        return self.instance_types.get(name)

    def gpu(self, model: str) -> GpuModel | None:
        return self.gpu_models.get(model)

    def os(self, os_id: str) -> OsFamily | None:
        return self.os_families.get(os_id)

    def chart(self, version: str) -> ChartVersion | None:
        return self.chart_versions.get(version)


def _read(name: str) -> Any:
    text = resources.files("gpuslice.catalog").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    try:
        gpus = {e["id"]: GpuModel(**e) for e in _read("gpu_models.yaml")["gpuModels"]}
        types = {e["name"]: InstanceType(**e) for e in _read("instance_types.yaml")["instanceTypes"]}
        oses = {e["id"]: OsFamily(**e) for e in _read("os_families.yaml")["osFamilies"]}
        charts_doc = _read("operator_charts.yaml")
        charts = {e["version"]: ChartVersion(**e) for e in charts_doc["chartVersions"]}
        cat = Catalog(gpu_models=gpus, instance_types=types, os_families=oses, chart_versions=charts,
                      default_chart_version=charts_doc["default"])
    except (ValidationError, KeyError, TypeError, yaml.YAMLError) as e:
        raise CatalogError(f"gpuslice catalog data is broken: {e}") from e
    for it in types.values():
        if it.gpu_model not in gpus:
            raise CatalogError(f"instance type {it.name} names unknown GPU model {it.gpu_model}")
    if cat.default_chart_version not in charts:
        raise CatalogError("catalog default chart version is not in chartVersions")
    return cat


__all__ = ["Catalog", "ChartVersion", "GpuModel", "InstanceType", "OsFamily", "load_catalog"]
