"""Helm values files: the gpu-operator chart's ``devicePlugin.config`` and the nvidia-device-plugin chart's
``config.map``, linted as the ConfigMap each chart renders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuslice.findings import Finding, Severity, sort_findings
from gpuslice.lintconfig.configmap import CmContext, lint_entries
from gpuslice.lintconfig.goyaml import Doc
from gpuslice.lintconfig.result import LintResult, emit
from gpuslice.lintconfig.schema import DNS1123_LABEL, schema
from gpuslice.lintconfig.speccheck import missing_keys, required_keys
from gpuslice.lintconfig.versions import PluginRules
from gpuslice.yamlio import format_path

if TYPE_CHECKING:
    from gpuslice.resolve import ResolvedSpec


#: top-level keys of the gpu-operator chart's values.yaml that the nvidia-device-plugin chart does not have
#: (deployments/gpu-operator/values.yaml at v22.9.2 ... v26.7.0, stored in tests/fixtures/charts)
OPERATOR_KEYS = frozenset(
    {
        "operator", "driver", "toolkit", "dcgm", "dcgmExporter", "migManager", "validator", "nodeStatusExporter",
        "vgpuManager", "vgpuDeviceManager", "vfioManager", "sandboxDevicePlugin", "kataSandboxDevicePlugin",
        "sandboxWorkloads", "kataManager", "ccManager", "gds", "gdrcopy", "psp", "psa", "daemonsets", "hostPaths",
        "node-feature-discovery", "clusterPolicy", "draDriver", "gpuCluster", "platform",
    }
)  # fmt: skip
#: top-level keys of the nvidia-device-plugin chart's values.yaml that the gpu-operator chart does not have
#: (deployments/helm/nvidia-device-plugin/values.yaml at v0.17.4 and v0.20.0)
NVDP_KEYS = frozenset(
    {
        "compatWithCPUManager", "migStrategy", "failOnInitError", "deviceListStrategy", "deviceIDStrategy",
        "nvidiaDriverRoot", "gdrcopyEnabled", "gdsEnabled", "mofedEnabled", "deviceDiscoveryStrategy",
        "allowDefaultNamespace", "selectorLabelsOverride", "legacyDaemonsetAPI",
    }
)  # fmt: skip
#: top-level keys of a device-plugin config file itself (``resources`` is left out: the nvidia-device-plugin chart
#: has a top-level ``resources`` for its pods too)
_DP_ONLY_KEYS = frozenset({"version", "flags", "sharing", "imex"})
#: how deep a parent chart may nest the values of a subchart (umbrella -> gpu-operator is one level)
MAX_NESTING = 2

Key = str | int


@dataclass(frozen=True)
class Values:
    doc: Doc
    chart: str  # "gpu-operator" | "nvidia-device-plugin"
    base: tuple[Key, ...]  # path of the config block (devicePlugin.config / config) in ``doc``
    section: str  # "data" | "map"
    config: dict[str, Any] | None  # None: the values set no device-plugin config block
    label: str = ""  # how the block is named in messages; default: its path

    @property
    def where(self) -> str:
        return self.label or format_path(self.base)


def chart_of(d: dict[str, Any]) -> str | None:
    """Which chart's values a mapping is: "gpu-operator", "nvidia-device-plugin", or None (a device-plugin config
    itself, or something else)."""
    if {str(k).lower() for k in d} & _DP_ONLY_KEYS:
        return None
    keys = set(d)
    nvdp = keys & NVDP_KEYS or (isinstance(d.get("config"), dict) and "map" in d["config"])
    if keys & OPERATOR_KEYS and not nvdp:
        return "gpu-operator"
    if nvdp and not keys & OPERATOR_KEYS:
        return "nvidia-device-plugin"
    dp = d.get("devicePlugin")
    if isinstance(dp, dict) and not nvdp and set(dp) & {"config", "version", "repository", "image", "env", "args"}:
        return "gpu-operator"
    return None


def find_values(doc: Doc, data: Any = None, base: tuple[Key, ...] = (), chart: str | None = None) -> list[Values]:
    """Every chart values block in ``data`` (default: the whole document): at ``base`` itself, or nested up to
    ``MAX_NESTING`` levels under a parent chart's keys (``gpu-operator:`` in an umbrella chart's values).
    ``chart`` forces the chart (a HelmRelease that names it)."""
    data = doc.data if data is None and not base else data
    if not isinstance(data, dict):
        return []

    def block(d: dict[str, Any], at: tuple[Key, ...], which: str) -> Values:
        if which == "gpu-operator":
            dp = d.get("devicePlugin")
            cfg = dp.get("config") if isinstance(dp, dict) else None
            return Values(doc, which, (*at, "devicePlugin", "config"), "data", cfg if isinstance(cfg, dict) else None)
        cfg = d.get("config")
        return Values(doc, which, (*at, "config"), "map", cfg if isinstance(cfg, dict) else None)

    which = chart or chart_of(data)
    if which:
        return [block(data, base, which)]
    if {str(k).lower() for k in data} & (_DP_ONLY_KEYS | {"resources"}):
        return []  # a device-plugin config (maybe misspelt): never looked into

    found: list[Values] = []

    def visit(d: dict[str, Any], at: tuple[Key, ...], depth: int) -> None:
        for k, v in d.items():
            if not isinstance(v, dict):
                continue
            sub = chart_of(v)
            if sub:
                found.append(block(v, (*at, k), sub))
            elif depth < MAX_NESTING:
                visit(v, (*at, k), depth + 1)

    visit(data, base, 1)
    return found


def helm_values_config(docs: list[Doc]) -> list[Values]:
    """The chart values blocks of a Helm values file (one document without ``kind``); [] for anything else."""
    if len(docs) != 1 or not isinstance(docs[0].data, dict) or "kind" in docs[0].data:
        return []
    return find_values(docs[0])


def lint_values(
    file: str,
    v: Values,
    *,
    upstream: bool,
    default: str | None,
    label_keys: list[str],
    resolved: ResolvedSpec | None = None,
    rules: PluginRules,
) -> LintResult:
    """Lint the configs a Helm values file puts into the device-plugin ConfigMap the chart renders."""
    result = LintResult(file=file, kind="helm-values", plugin=rules)
    ctx = CmContext(file=file, upstream=upstream, findings=result.findings, configs=result.configs, rules=rules)
    doc, where = v.doc, v.where
    if v.config is None:
        result.findings.append(no_config(file, v))
        return result
    cfg = v.config

    def add(rule: str, message: str, fix: str, *path: Key, severity: Severity | None = None) -> None:
        result.findings.append(
            emit(
                rule,
                message,
                fix,
                file=file,
                line=doc.line((*v.base, *path)),
                path=".".join((where, *map(str, path))),
                severity=severity,
            )
        )

    data = cfg.get(v.section)
    if data is not None and not isinstance(data, dict):
        add(
            "lint-configmap",
            f"must be a mapping of key -> config text, got {type(data).__name__}",
            f"Write {v.section}:\\n  my-key: |\\n    version: v1 ...",
            v.section,
        )
        data = None
    name = cfg.get("name")
    chart_default = cfg.get("default") if isinstance(cfg.get("default"), str) and cfg.get("default") else None
    if v.chart == "gpu-operator":
        create = cfg.get("create") is True
        if create and not data:
            add(
                "lint-configmap-empty",
                "create is true but data is empty; the chart refuses to render "
                "('devicePlugin.config.data cannot be empty when devicePlugin.config.create is set to true')",
                "Add data, or set create: false and point name at an existing ConfigMap.",
                "data",
            )
        if create and not name:
            add(
                "lint-helm-values",
                "create is true but name is empty; the chart refuses to render "
                "('devicePlugin.config.name cannot be empty ...')",
                "Set devicePlugin.config.name.",
                "name",
                severity=Severity.ERROR,
            )
        if data and not create:
            add(
                "lint-helm-values",
                "data is set but create is not true: the chart does not create the ConfigMap "
                f"and the operator looks for an existing ConfigMap {name or '(no name)'}",
                "Set create: true.",
                "create" if "create" in cfg else v.section,
            )
    if isinstance(name, str) and name:
        reserved = schema()["configmap"]["reserved_volume_names"]
        if len(name) > 63 or not DNS1123_LABEL.fullmatch(name) or name in reserved:
            add(
                "lint-configmap-name",
                f"'{name}' cannot be the device-plugin ConfigMap's name: it must be a DNS-1123 "
                "label of at most 63 characters that no other volume of the device-plugin pods uses "
                f"({', '.join(reserved)})",
                "Use a short lowercase name such as device-plugin-config.",
                "name",
            )
    if not data:
        if not result.findings:
            result.findings.append(no_config(file, v))
        result.findings[:] = sort_findings(result.findings)
        return result
    entries = [(v.section, str(k), val) for k, val in data.items()]
    keys = lint_entries(ctx, doc, v.base, entries, f"{where}.{v.section}", shown=f"{where}.")
    required = required_keys([(chart_default, f"{where}.default"), (default, "--default")], label_keys, resolved)
    for k, why, close in missing_keys(required, keys):
        add(
            "lint-missing-config-key",
            f"{where}.{v.section} has no key '{k}', named by {why}; config-manager "
            f"fails with 'specified config {k} does not exist' and the device-plugin pod crash-loops",
            f"Add {v.section}['{k}']" + (f" (or did you mean '{close}'?)" if close else "") + ".",
            "default" if why.endswith(".default") else v.section,
        )
    result.findings[:] = sort_findings(result.findings)
    return result


def no_config(file: str, v: Values) -> Finding:
    """Info: these chart values set no device-plugin sharing config (most published values files)."""
    cfg = v.config or {}
    name = cfg.get("name") if isinstance(cfg.get("name"), str) and cfg.get("name") else None
    if v.config is None:
        what = f"{v.chart} values without {'devicePlugin.config' if v.chart == 'gpu-operator' else 'config.map'}"
    elif cfg.get(v.section) is None:
        what = f"{v.where} sets no {v.section}"
    else:
        what = f"{v.where}.{v.section} is empty"
    parent = format_path(v.base[: -2 if v.chart == "gpu-operator" else -1])
    return emit(
        "lint-no-config",
        f"no device-plugin sharing config here ({what}"
        + (f", under {parent}" if parent and v.config is None else "")
        + ")"
        + (f"; it names the ConfigMap {name!r}: lint that ConfigMap" if name else "; GPUs are not shared"),
        "",
        file=file,
        line=v.doc.line(v.base),
        path=None,
    )


def values_version(v: Values) -> str | None:
    """The device-plugin version these values pin: gpu-operator ``devicePlugin.version``, nvidia-device-plugin
    ``image.tag``."""
    parent: Any = v.doc.data
    for k in v.base[:-1]:
        parent = parent.get(k) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        return None
    if v.chart == "gpu-operator":
        ver = parent.get("version")
    else:
        image = parent.get("image")
        ver = image.get("tag") if isinstance(image, dict) else None
    return ver if isinstance(ver, str) and ver else None
