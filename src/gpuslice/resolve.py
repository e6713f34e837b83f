"""Defaults in one place: ``resolve(spec, catalog)`` returns a fully resolved view and never raises user errors.

Checks read the resolved view and report; renderers take it and never discover validation problems.
Everything another part of gpuslice must agree on (node labels, sharing config keys, names, which operands the
operator deploys) is computed here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpuslice import names
from gpuslice.catalog import Catalog, ChartVersion, GpuModel, OsFamily, load_catalog
from gpuslice.spec import NodePool, Sharing, Spec

DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
POOL_LABEL = "gpuslice.dev/pool"
DEPLOY_LABEL_PREFIX = "nvidia.com/gpu.deploy."
EXCLUSIVE_KEY = "exclusive"


@dataclass(frozen=True)
class GpuInfo:
    model: str | None
    count: int | None
    memory_gib: float | None
    catalog_model: GpuModel | None

    @property
    def known(self) -> bool:
        return self.count is not None


@dataclass(frozen=True)
class ResolvedSharing:
    strategy: str  # time-slicing | mps | none
    replicas: int  # 1 when not shared
    rename_by_default: bool
    fail_requests_greater_than_one: bool
    fail_requests_explicit: bool  # whether the spec set it
    resource_name: str
    config_key: str

    @property
    def shared(self) -> bool:
        return self.strategy != "none"

    @property
    def advertised_resource(self) -> str:
        return f"{self.resource_name}.shared" if self.shared and self.rename_by_default else self.resource_name


@dataclass(frozen=True)
class DataVolume:
    """The extra EBS volume a pool's nodes get: the spec's ``disks.data``, or the OS's own data device."""

    device_name: str
    size_gib: int
    volume_type: str
    os_owned: bool  # the OS keeps container data on this device whatever the spec names (Bottlerocket)


@dataclass(frozen=True)
class ResolvedPool:
    spec: NodePool
    index: int
    os: OsFamily | None
    gpu: GpuInfo
    sharing: ResolvedSharing
    root_gib: int
    instance_store_gib: int
    instance_store_disks: int
    containerd_on_data: bool  # /var/lib/containerd lives on the data volume or instance store
    node_labels: dict[str, str]
    node_group_name: str
    # Driver image tag suffixes the chart publishes for this OS (several for RHEL 9 on charts that use the minor
    # release, e.g. rhel9.4); empty when there is no image or the chart version or OS is unknown. ``os.driver_os_tag`` is
    # the one tag when there is exactly one.
    driver_image_tags: tuple[str, ...] = ()
    # Derived once here, read by checks and every renderer:
    arch: str = "x86_64"  # x86_64 | arm64
    kubelet_resolv_conf: str | None = None  # the spec's kubeletResolvConf, else the OS's non-stub file
    data_volume: DataVolume | None = None
    ami_ssm_parameter: str | None = None  # EKS: the public SSM parameter naming the pool's AMI

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def join_method(self) -> str | None:
        """How the node is prepared and joined: the OS's bootstrap family (``generic``: none gpuslice renders for
        EKS), None for an OS the catalog does not know."""
        return self.os.bootstrap if self.os is not None else None


@dataclass(frozen=True)
class MirrorRule:
    source: str
    mirror: str
    origin: str  # "mirrors[i]" or "proxy"


@dataclass(frozen=True)
class ResolvedSpec:
    spec: Spec
    catalog: Catalog
    file: str | None
    chart_version: str
    chart: ChartVersion | None
    namespace: str
    release_name: str
    device_plugin_configmap: str
    pools: tuple[ResolvedPool, ...]
    mirror_rules: tuple[MirrorRule, ...]
    proxy: str | None
    pull_secrets: tuple[str, ...]
    driver_enabled: bool
    toolkit_enabled: bool
    device_plugin_enabled: bool
    sharing_configs: dict[str, ResolvedSharing] = field(default_factory=dict)

    @property
    def deployment_id(self) -> str:
        return self.spec.cluster.deployment_id

    @property
    def kubernetes_version(self) -> str:
        return self.spec.cluster.kubernetes_version

    def pool(self, name: str) -> ResolvedPool | None:
        return next((p for p in self.pools if p.name == name), None)


def path_within(path: str, mount: str) -> bool:
    """Whether ``path`` lives on a filesystem mounted at ``mount`` (equal, or below it)."""
    p, m = path.rstrip("/") or "/", mount.rstrip("/") or "/"
    return p == m or m == "/" or p.startswith(m + "/")


def operand_runs_on(resolved: ResolvedSpec, pool: ResolvedPool, operand: str) -> bool:
    """Whether the GPU Operator deploys ``operand`` (driver, container-toolkit, device-plugin, ...) on the pool's
    nodes: the operand is enabled in the release and the pool's nodes do not carry
    ``nvidia.com/gpu.deploy.<operand>=false`` (gpuslice's opt-out, or a user label that overrides it)."""
    enabled = {
        "driver": resolved.driver_enabled,
        "container-toolkit": resolved.toolkit_enabled,
        "device-plugin": resolved.device_plugin_enabled,
    }.get(operand, True)
    return enabled and pool.node_labels.get(DEPLOY_LABEL_PREFIX + operand) != "false"


def _config_key(strategy: str, replicas: int, rename: bool, fail: bool, resource: str) -> str:
    if strategy == "none":
        return EXCLUSIVE_KEY
    parts = [strategy, str(replicas)]
    if rename:
        parts.append("renamed")
    if not fail:
        parts.append("multi")
    if resource != "nvidia.com/gpu":
        parts.append(resource.removeprefix("nvidia.com/"))
    return names.label_value(*parts)


def resolve_sharing(s: Sharing) -> ResolvedSharing:
    shared = s.strategy != "none"
    replicas = s.replicas if shared and s.replicas else 1
    # NVIDIA recommends failRequestsGreaterThanOne=true; the device plugin forces it on for MPS.
    fail = s.fail_requests_greater_than_one if s.fail_requests_greater_than_one is not None else True
    if s.strategy == "mps" and s.fail_requests_greater_than_one is None:
        fail = True
    rename = s.rename_by_default if shared else False
    return ResolvedSharing(
        strategy=s.strategy,
        replicas=replicas,
        rename_by_default=rename,
        fail_requests_greater_than_one=fail if shared else False,
        fail_requests_explicit=s.fail_requests_greater_than_one is not None,
        resource_name=s.resource_name,
        config_key=_config_key(s.strategy, replicas, rename, fail, s.resource_name),
    )


def _gpu(pool: NodePool, catalog: Catalog) -> GpuInfo:
    it = catalog.instance(pool.instance_type)
    o = pool.gpu
    model = (o.model if o and o.model else None) or (it.gpu_model if it else None)
    count = (o.count if o and o.count else None) or (it.gpu_count if it else None)
    cat_model = catalog.gpu(model) if model else None
    mem = (o.memory_gib if o and o.memory_gib else None) or (it.gpu_memory_gib if it else None)
    if mem is None and cat_model is not None:
        mem = cat_model.memory_gib
    return GpuInfo(model=model, count=count, memory_gib=mem, catalog_model=cat_model)


def pool_arch(pool: NodePool, catalog: Catalog) -> str:
    it = catalog.instance(pool.instance_type) if pool.instance_type else None
    if it is not None:
        return it.arch
    # Graviton GPU families (g5g) carry a "g" after the generation digit.
    family_part = (pool.instance_type or "").split(".", 1)[0]
    return "arm64" if family_part[-1:] == "g" and any(c.isdigit() for c in family_part) else "x86_64"


def data_volume(pool: NodePool, osf: OsFamily | None) -> DataVolume | None:
    """The OS's own data device (sized from the spec's ``disks.data`` or the OS default), else the spec's volume."""
    d = pool.disks.data
    if osf is not None and osf.containerd_on_data_device and osf.data_device and osf.default_data_gib:
        size = d.size_gib if d else osf.default_data_gib
        return DataVolume(osf.data_device, size, d.volume_type if d else "gp3", os_owned=True)
    return DataVolume(d.device_name, d.size_gib, d.volume_type, os_owned=False) if d is not None else None


def mirror_rules(spec: Spec) -> tuple[tuple[MirrorRule, ...], str | None]:
    rules = [
        MirrorRule(r.source.rstrip("/"), r.mirror.rstrip("/"), f"registry.mirrors[{i}]")
        for i, r in enumerate(spec.registry.mirrors)
    ]
    # Longest source prefix wins.
    rules.sort(key=lambda r: -len(r.source))
    proxy = spec.registry.proxy.rstrip("/") if spec.registry.proxy else None
    return tuple(rules), proxy


def resolve(spec: Spec, catalog: Catalog | None = None, file: str | Path | None = None) -> ResolvedSpec:
    cat = catalog or load_catalog()
    chart_version = spec.operator.chart_version or cat.default_chart_version
    dep = spec.cluster.deployment_id

    pools: list[ResolvedPool] = []
    sharing_configs: dict[str, ResolvedSharing] = {}
    resolved_sharings = [resolve_sharing(p.sharing) for p in spec.node_pools]
    oses = [cat.os(p.os) for p in spec.node_pools]

    # One operator release serves every pool. The driver/toolkit operands run where the OS needs them; pools
    # whose OS brings its own stack opt out by node label.
    driver_enabled = any(o is None or not o.driver_preinstalled for o in oses)
    toolkit_enabled = any(o is None or not o.toolkit_preinstalled for o in oses)
    device_plugin_enabled = any(o is None or not o.device_plugin_builtin for o in oses)

    chart = cat.chart(chart_version)
    for i, (p, rs, osf) in enumerate(zip(spec.node_pools, resolved_sharings, oses, strict=True)):
        driver_tags = chart.driver_tags(p.os) if chart and osf else ()
        if osf is not None:
            # The driver image tag suffix depends on the chart version: the pool sees its chart's tag.
            osf = osf.model_copy(update={"driver_os_tag": driver_tags[0] if len(driver_tags) == 1 else None})
        gpu = _gpu(p, cat)
        it = cat.instance(p.instance_type)
        root = p.disks.root_gib or (osf.default_root_gib if osf else 20)
        store_gib = it.instance_store_gib if it else 0
        # The catalog knows the disk count only where AWS states it; a store with a total has at least one disk.
        store_disks = max(it.instance_store_disks or 0, 1 if store_gib else 0) if it else 0
        containerd_root = osf.containerd_root if osf else "/var/lib/containerd"
        on_data = (
            bool(p.disks.data and path_within(containerd_root, p.disks.data.mount_path))
            or (p.disks.instance_store == "raid0" and store_disks > 0)
            or bool(osf and osf.containerd_on_data_device)
        )
        labels: dict[str, str] = {POOL_LABEL: p.name}
        # Every pool selects its key, Bottlerocket's too: its device plugin is the OS's (sharing through its
        # settings), but the operator's GFD runs there and reads the same config (handleDevicePluginConfig adds
        # config-manager to GFD whatever devicePlugin.enabled says, NVIDIA/gpu-operator
        # controllers/object_controls.go), so its nvidia.com/gpu.replicas / sharing-strategy labels tell the truth.
        labels[DEVICE_PLUGIN_CONFIG_LABEL] = rs.config_key
        sharing_configs.setdefault(rs.config_key, rs)
        if osf is not None:
            if driver_enabled and osf.driver_preinstalled:
                labels[DEPLOY_LABEL_PREFIX + "driver"] = "false"
            if toolkit_enabled and osf.toolkit_preinstalled:
                labels[DEPLOY_LABEL_PREFIX + "container-toolkit"] = "false"
            if device_plugin_enabled and osf.device_plugin_builtin:
                labels[DEPLOY_LABEL_PREFIX + "device-plugin"] = "false"
        labels.update(p.labels)
        arch = pool_arch(p, cat)
        ami = osf.eks_ami if osf is not None else None
        pools.append(
            ResolvedPool(
                spec=p,
                index=i,
                os=osf,
                gpu=gpu,
                sharing=rs,
                root_gib=root,
                instance_store_gib=store_gib,
                instance_store_disks=store_disks,
                containerd_on_data=on_data,
                node_labels=labels,
                node_group_name=names.object_name(dep, p.name),
                driver_image_tags=driver_tags,
                arch=arch,
                kubelet_resolv_conf=p.kubelet_resolv_conf or (osf.kubelet_resolv_conf if osf else None),
                data_volume=data_volume(p, osf),
                ami_ssm_parameter=ami.ssm_parameter_for(spec.cluster.kubernetes_version, arch) if ami else None,
            )
        )
    sharing_configs.setdefault(EXCLUSIVE_KEY, resolve_sharing(Sharing()))

    rules, proxy = mirror_rules(spec)
    return ResolvedSpec(
        spec=spec,
        catalog=cat,
        file=str(file) if file else None,
        chart_version=chart_version,
        chart=chart,
        namespace=spec.operator.namespace,
        release_name=names.helm_release_name(dep, spec.operator.release_name),
        # One stable name per deployment: ClusterPolicy's devicePlugin.config names it, so a sharing change never
        # touches ClusterPolicy (a new name would make the operator roll the device plugin, GFD and the MPS control
        # daemon on every GPU node: isDaemonsetSpecChanged in NVIDIA/gpu-operator controllers/object_controls.go).
        # The keys inside are named by content (``_config_key``); a node moves to another key by its label, which
        # config-manager (NVIDIA/k8s-device-plugin cmd/config-manager/main.go) follows on that node alone.
        device_plugin_configmap=names.object_name(dep, "dp-config"),
        pools=tuple(pools),
        mirror_rules=rules,
        proxy=proxy,
        pull_secrets=spec.registry.pull_secrets,
        driver_enabled=driver_enabled,
        toolkit_enabled=toolkit_enabled,
        device_plugin_enabled=device_plugin_enabled,
        sharing_configs=dict(sorted(sharing_configs.items())),
    )
