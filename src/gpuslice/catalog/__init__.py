"""Knowledge that changes with upstream releases, as data files with a source note per entry.

The loader validates the data with pydantic (a broken data file is a ``CatalogError``, a gpuslice bug) and
caches it. Code asks the catalog questions; it never hard-codes an OS, instance type or chart version.

Data files (``catalog/data``): ``gpu_models.yaml``, ``instance_types.yaml``, ``os_families.yaml``,
``operator_charts.yaml``, ``disk_budget.yaml``. Each file's header says where its columns come from.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpuslice.errors import CatalogError

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
#: ``os_families[].bootstrap`` of an OS gpuslice renders no EKS bootstrap for (provider generic: node-prep script)
GENERIC_BOOTSTRAP = "generic"
_MINOR = r"^1\.\d{1,3}$"


def version_tuple(v: str) -> tuple[int, ...]:
    """'1.33' -> (1, 33); '2.27' -> (2, 27); 'v0.20.0' -> (0, 20, 0). Non-numeric parts end the tuple."""
    out: list[int] = []
    for part in v.lstrip("v").split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GpuModel(_Entry):
    id: str  # e.g. "A10G"; matches the instance type entries
    product: str | None = None  # the nvidia.com/gpu.product label value the GFD sets, e.g. "NVIDIA-A10G"
    memory_gib: float
    compute_capability: str  # "8.6"
    architecture: str  # "Ampere"
    mig_profiles: tuple[str, ...] = ()  # empty when the GPU has no MIG
    mps_max_clients: int = 48  # the device plugin's MPS limit: 48 from compute capability 7.5, else 16
    source: str

    @property
    def mig_capable(self) -> bool:
        return bool(self.mig_profiles)

    def mig_resource_profiles(self) -> tuple[str, ...]:
        """Profiles as the device plugin spells them in resource names ("+" becomes ".")."""
        return tuple(p.replace("+", ".") for p in self.mig_profiles)


class InstanceType(_Entry):
    name: str
    gpu_model: str
    gpu_count: int
    gpu_memory_gib: float  # per GPU, as advertised
    gpu_memory_mib: int | None = None  # per GPU, exactly as EC2 DescribeInstanceTypes reports it
    gpu_fraction: str | None = None  # g6f/gr6f: the share of one GPU ("1/8")
    vcpus: int | None = None
    memory_gib: float | None = None
    instance_store_gib: int = 0  # total local NVMe (GB as EC2 reports it); 0: EBS only
    instance_store_disks: int | None = None  # None: the count is not in the source (>= 1 when the total is > 0)
    arch: str = "x86_64"
    source: str

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def has_instance_store(self) -> bool:
        return self.instance_store_gib > 0

    @model_validator(mode="after")
    def _consistent(self) -> InstanceType:
        if self.instance_store_gib == 0 and self.instance_store_disks:
            raise ValueError(f"{self.name}: instance_store_disks without instance_store_gib")
        return self


class EksAmi(_Entry):
    """Where EKS tooling finds the OS's AMI and what it calls the OS."""

    ssm_parameter: str  # placeholders {k8s}, {arch} (x86_64|arm64), {ubuntu_arch} (amd64|arm64)
    eksctl_ami_family: str
    mng_ami_type: dict[str, str]  # arch -> EKS AMI type; CUSTOM = the launch template carries the AMI
    karpenter: dict[str, str]  # {alias: ...} or {ami_family: Custom}
    source: str

    def ssm_parameter_for(self, kubernetes: str, arch: str) -> str:
        return self.ssm_parameter.format(k8s=kubernetes, arch=arch, ubuntu_arch="arm64" if arch == "arm64" else "amd64")

    @model_validator(mode="after")
    def _complete(self) -> EksAmi:
        try:
            self.ssm_parameter_for("1.33", "x86_64")
        except (KeyError, IndexError) as e:
            raise ValueError(f"eks_ami.ssm_parameter has an unknown placeholder {e}") from None
        if set(self.karpenter) not in ({"alias"}, {"ami_family"}):
            raise ValueError("eks_ami.karpenter is {alias: ...} or {ami_family: Custom}")
        if "x86_64" not in self.mng_ami_type:
            raise ValueError("eks_ami.mng_ami_type needs an x86_64 entry")
        return self


class BootstrapFamilyData(_Entry):
    """How nodes of one bootstrap family are prepared (``bootstrapFamilies`` in os_families.yaml)."""

    fs_type: str = "ext4"
    services: tuple[str, ...] = ()
    join_units: tuple[str, ...] = ()
    ssm_agent: Literal["snap", "preinstalled", "builtin"] = "preinstalled"
    source: str


class OsFamily(_Entry):
    id: str  # the spec's `os` value
    display: str
    bootstrap: str  # ubuntu-eks | nodeadm | al2-eks | bottlerocket | generic
    os_release_id: str | None = None  # NFD system-os_release.ID
    os_release_version: str | None = None  # NFD system-os_release.VERSION_ID (None: varies per release)
    glibc: str | None = None
    driver_preinstalled: bool = False
    toolkit_preinstalled: bool = False
    device_plugin_builtin: bool = False
    # The operator's driver image tag suffix ("ubuntu22.04") depends on the chart version, so the catalog entry has
    # none; resolve() fills it on each pool's copy from ChartVersion.driver_images (None: no single published tag).
    driver_os_tag: str | None = None
    root_device: str = "/dev/xvda"
    default_root_gib: int = 20
    containerd_root: str = "/var/lib/containerd"
    containerd_on_data_device: bool = False  # images live on the OS's own second volume (Bottlerocket)
    data_device: str | None = None  # that volume's device name
    default_data_gib: int | None = None  # that volume's default size
    containerd2_from_kubernetes: str | None = None  # first Kubernetes minor whose AMIs run containerd 2
    eks_max_kubernetes: str | None = Field(default=None, pattern=_MINOR)  # last minor with EKS AMIs
    end_of_support: str | None = Field(default=None, pattern=_ISO_DATE)  # EKS-optimized AMIs stop getting updates
    end_of_life: str | None = Field(default=None, pattern=_ISO_DATE)  # the OS vendor's end of support
    systemd_resolved_stub: bool = False  # /etc/resolv.conf -> 127.0.0.53 (systemd-resolved stub listener)
    kubelet_resolv_conf: str | None = None  # the resolv.conf the kubelet must read (non-stub)
    eks_ami: EksAmi | None = None  # None: no EKS AMI (provider generic only)
    source: str

    @model_validator(mode="after")
    def _data_device(self) -> OsFamily:
        if self.containerd_on_data_device and not (self.default_data_gib and self.data_device):
            raise ValueError(f"{self.id}: containerd_on_data_device needs data_device and default_data_gib")
        if self.systemd_resolved_stub and not self.kubelet_resolv_conf:
            raise ValueError(f"{self.id}: systemd_resolved_stub needs kubelet_resolv_conf (the non-stub file)")
        return self


class ChartVersion(_Entry):
    version: str  # "v25.3.4"
    kubernetes_min: str = Field(pattern=_MINOR)
    kubernetes_max: str = Field(pattern=_MINOR)
    kubernetes_min_by_os: dict[str, str] = Field(default_factory=dict)
    eks_kubernetes_min: str | None = Field(default=None, pattern=_MINOR)
    eks_kubernetes_max: str | None = Field(default=None, pattern=_MINOR)
    device_plugin_version: str
    driver_version: str
    toolkit_version: str | None = None
    nfd_version: str | None = None
    driver_os_tags: tuple[str, ...] = ()  # every published driver image tag suffix at driver_version
    driver_images: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # spec OS id -> its published suffixes
    eks_os_families: tuple[str, ...] = ()  # spec OS ids NVIDIA validated on EKS
    toolkit_min_glibc: str | None = None
    source: str

    @model_validator(mode="after")
    def _published(self) -> ChartVersion:
        for os_id, tags in self.driver_images.items():
            if not tags or set(tags) - set(self.driver_os_tags):
                raise ValueError(f"{self.version}: driver_images[{os_id}] must be published tags ({tags})")
        return self

    @property
    def driver_os_families(self) -> tuple[str, ...]:
        """Spec OS ids with a published driver image at this chart version."""
        return tuple(self.driver_images)

    def driver_tags(self, os_id: str) -> tuple[str, ...]:
        """The published driver tag suffixes the operator can ask for on nodes of ``os_id`` (empty: none)."""
        return self.driver_images.get(os_id, ())

    def kubernetes_range(self, provider: str, os_id: str | None = None) -> tuple[str, str]:
        """The validated Kubernetes range for a provider (eks uses its own column when there is one)."""
        if provider == "eks" and self.eks_kubernetes_min and self.eks_kubernetes_max:
            return self.eks_kubernetes_min, self.eks_kubernetes_max
        lo = self.kubernetes_min_by_os.get(os_id or "", self.kubernetes_min)
        return lo, self.kubernetes_max


class DiskComponent(_Entry):
    id: str
    gib: float
    what: str


class DiskBudget(_Entry):
    kubelet_image_gc_high_percent: int = Field(ge=1, le=100)
    components: tuple[DiskComponent, ...]
    source: str

    def gib(self, component: str) -> float:
        return next(c.gib for c in self.components if c.id == component)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    gpu_models: dict[str, GpuModel]
    instance_types: dict[str, InstanceType]
    os_families: dict[str, OsFamily]
    bootstrap_families: dict[str, BootstrapFamilyData]
    chart_versions: dict[str, ChartVersion]
    default_chart_version: str
    disk_budget: DiskBudget

    def instance(self, name: str | None) -> InstanceType | None:
        return self.instance_types.get(name) if name else None

    def gpu(self, model: str) -> GpuModel | None:
        return self.gpu_models.get(model)

    def os(self, os_id: str) -> OsFamily | None:
        return self.os_families.get(os_id)

    def bootstrap_family(self, name: str) -> BootstrapFamilyData | None:
        return self.bootstrap_families.get(name)

    def chart(self, version: str) -> ChartVersion | None:
        return self.chart_versions.get(version)


def _read(name: str) -> Any:
    from gpuslice.yamlio import load_packaged

    return load_packaged("gpuslice.catalog", f"data/{name}")


def _index(entries: list[dict[str, Any]], key: str, what: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        k = e[key]
        if k in out:
            raise CatalogError(f"gpuslice catalog lists {what} {k!r} twice")
        out[k] = e
    return out


def _check_references(cat: Catalog) -> None:
    for it in cat.instance_types.values():
        if it.gpu_model not in cat.gpu_models:
            raise CatalogError(f"instance type {it.name} names unknown GPU model {it.gpu_model}")
    if cat.default_chart_version not in cat.chart_versions:
        raise CatalogError("catalog default chart version is not in chartVersions")
    for ch in cat.chart_versions.values():
        for os_id in (*ch.driver_os_families, *ch.eks_os_families, *ch.kubernetes_min_by_os):
            if os_id not in cat.os_families:
                raise CatalogError(f"chart {ch.version} names unknown OS family {os_id}")
    for o in cat.os_families.values():
        if o.bootstrap != GENERIC_BOOTSTRAP and o.bootstrap not in cat.bootstrap_families:
            raise CatalogError(f"OS {o.id} names unknown bootstrap family {o.bootstrap!r}")
        if o.bootstrap != GENERIC_BOOTSTRAP and o.eks_ami is None:
            raise CatalogError(f"OS {o.id} has an EKS bootstrap family ({o.bootstrap}) but no eks_ami")
    need = {"os", "operator-driver", "operator-operands", "workload-images"}
    missing = need - {c.id for c in cat.disk_budget.components}
    if missing:
        raise CatalogError(f"disk_budget.yaml lacks components {sorted(missing)}")


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    try:
        gpus = {k: GpuModel(**e) for k, e in _index(_read("gpu_models.yaml")["gpuModels"], "id", "GPU model").items()}
        types = {
            k: InstanceType(**e)
            for k, e in _index(_read("instance_types.yaml")["instanceTypes"], "name", "instance type").items()
        }
        os_doc = _read("os_families.yaml")
        oses = {k: OsFamily(**e) for k, e in _index(os_doc["osFamilies"], "id", "OS").items()}
        families = {k: BootstrapFamilyData(**e) for k, e in os_doc["bootstrapFamilies"].items()}
        charts_doc = _read("operator_charts.yaml")
        charts = {
            k: ChartVersion(**e) for k, e in _index(charts_doc["chartVersions"], "version", "chart version").items()
        }
        disk = DiskBudget(**_read("disk_budget.yaml"))
        cat = Catalog(
            gpu_models=gpus,
            instance_types=types,
            os_families=oses,
            bootstrap_families=families,
            chart_versions=charts,
            default_chart_version=charts_doc["default"],
            disk_budget=disk,
        )
    except (ValidationError, KeyError, TypeError) as e:
        raise CatalogError(f"gpuslice catalog data is broken: {e}") from e
    _check_references(cat)
    return cat


__all__ = [
    "GENERIC_BOOTSTRAP",
    "BootstrapFamilyData",
    "Catalog",
    "ChartVersion",
    "DiskBudget",
    "EksAmi",
    "GpuModel",
    "InstanceType",
    "OsFamily",
    "load_catalog",
    "version_tuple",
]
