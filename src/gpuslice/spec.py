"""The user-facing spec (``gpuslice.yaml``): strict pydantic models, parsing with source positions, JSON Schema.

A parsed ``Spec`` is already structurally valid: constrained types, enums and ``extra="forbid"`` everywhere.
Cross-field and catalog-dependent questions (is the OS supported on this Kubernetes version? is the root disk
big enough?) are *checks*, not parse errors, so the user sees every finding at once.
Defaults that depend on the catalog are applied by :func:`gpuslice.resolve.resolve`, in one place.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gpuslice.errors import Problem, SpecError
from gpuslice.names import DNS_LABEL_PATTERN, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN
from gpuslice.yamlio import Located, load_yaml_file, parse_yaml_text

API_VERSION = "gpuslice.dev/v1alpha1"
KIND = "GpuCluster"

OsId = Literal[
    "ubuntu-22.04",
    "ubuntu-24.04",
    "ubuntu-26.04",
    "al2023-nvidia",
    "al2",
    "bottlerocket-nvidia",
    "rhel-9",
    "rocky-9",
]
Strategy = Literal["time-slicing", "mps", "none"]
#: ``cluster.provider``: the keys of ``gpuslice.providers.providers()`` (a test keeps them equal)
ProviderId = Literal["eks", "generic"]

DnsLabel = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=f"^{DNS_LABEL_PATTERN}$"),
]
KubeVersion = Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")]
# Image reference prefix: host[:port][/path...], no scheme, no tag.
IMAGE_PREFIX_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*/?$"
ImagePrefix = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=255,
        pattern=IMAGE_PREFIX_PATTERN,
    ),
]
_LABEL_KEY = re.compile(f"^{LABEL_KEY_PATTERN}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_PATTERN}$")


class _Strict(BaseModel):
    """Every spec model: unknown keys are errors, camelCase in YAML, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
        frozen=True,
    )


class Cluster(_Strict):
    name: DnsLabel = Field(description="EKS cluster name (or any name for a generic cluster).")
    deployment_id: DnsLabel = Field(
        description="Stable key every generated name derives from. Keep it unchanged across re-deploys."
    )
    provider: ProviderId = Field(
        default="eks",
        description="eks: EKS node groups, bootstrap and EKS checks; generic: any Kubernetes whose GPU nodes exist "
        "already (operator, sharing config, labels, smoke test and a node-prep script).",
    )
    kubernetes_version: KubeVersion = Field(description='Kubernetes minor version, e.g. "1.33".')
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")


class Operator(_Strict):
    chart_version: str | None = Field(
        default=None, pattern=r"^v\d+\.\d+\.\d+$", description="GPU Operator chart version; default: catalog's."
    )
    namespace: DnsLabel = "gpu-operator"
    release_name: str | None = Field(
        default=None,
        max_length=53,
        pattern=f"^{DNS_LABEL_PATTERN}$",
        description="Helm release name; default derived from deploymentId.",
    )
    chart_repository: str = "https://helm.ngc.nvidia.com/nvidia"
    chart: str | None = Field(
        default=None,
        min_length=1,
        description="Local GPU Operator chart (folder or .tgz), relative to this spec file; used instead of "
        "pulling chartVersion from chartRepository (offline installs, vendored charts).",
    )
    timeout_minutes: int = Field(default=15, ge=1, le=120)
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="GPU Operator Helm values merged last over gpuslice's (e.g. driver.nvidiaDriverCRD, "
        "driver.repoConfig, driver.usePrecompiled, dcgmExporter, resources, tolerations). Images, pull secrets, "
        "ClusterPolicy and the sharing wiring are proven on the merged result; a value that breaks them is an error "
        "naming its key.",
    )


class MirrorRule(_Strict):
    source: ImagePrefix = Field(description="Image prefix to rewrite, e.g. nvcr.io/nvidia")
    mirror: ImagePrefix = Field(description="What replaces it, e.g. registry.corp.example/nvidia")


class Registry(_Strict):
    proxy: ImagePrefix | None = Field(
        default=None,
        description="Pull-through proxy: <host>/<path> becomes <proxy>/<host>/<path> for every source registry.",
    )
    mirrors: tuple[MirrorRule, ...] = ()
    pull_secrets: tuple[DnsLabel, ...] = Field(
        default=(), description="Names of existing image pull Secrets (never credentials)."
    )


class DataVolume(_Strict):
    size_gib: int = Field(alias="sizeGiB", ge=1, le=65536)
    mount_path: str = Field(default="/var/lib/containerd", pattern=r"^/[^\s]*$")
    device_name: str = Field(default="/dev/xvdb", pattern=r"^/dev/(sd[b-z]|xvd[b-z][a-z]?)$")
    volume_type: Literal["gp3", "gp2", "io1", "io2"] = "gp3"
    kubelet_dir: bool = Field(default=False, description="Also put /var/lib/kubelet on the data volume.")


class Disks(_Strict):
    root_gib: int | None = Field(default=None, alias="rootGiB", ge=1, le=16384, description="Root volume size (GiB).")
    data: DataVolume | None = None
    instance_store: Literal["raid0", "none"] | None = Field(
        default=None, description="Use the instance's local NVMe disks (RAID0) for the containerd root."
    )


class Taint(_Strict):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _LABEL_KEY.match(v):
            raise ValueError(f"{v!r} is not a valid taint key")
        return v


class GpuOverride(_Strict):
    model: str | None = None
    count: int | None = Field(default=None, ge=1, le=64)
    memory_gib: float | None = Field(default=None, alias="memoryGiB", gt=0)


class Sharing(_Strict):
    strategy: Strategy = "none"
    replicas: int | None = Field(default=None, ge=2, le=1024, description="Shares per physical GPU.")
    rename_by_default: bool = False
    fail_requests_greater_than_one: bool | None = Field(
        default=None, description="Reject pods asking for more than one shared GPU (default true when sharing)."
    )
    resource_name: str = Field(default="nvidia.com/gpu", pattern=r"^nvidia\.com/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    workloads_request: str | None = Field(
        default=None, description="Resource the pool's workloads request, e.g. nvidia.com/gpu (for checks)."
    )
    latency_budget_ms: float | None = Field(
        default=None, gt=0, description="p99 step-latency budget of latency-sensitive tenants (recommend)."
    )

    @model_validator(mode="after")
    def _replicas(self) -> Sharing:
        if self.strategy == "none" and self.replicas is not None:
            raise ValueError("replicas is only meaningful with strategy time-slicing or mps")
        if self.strategy != "none" and self.replicas is None:
            raise ValueError(f"strategy {self.strategy} needs replicas (an integer >= 2)")
        return self


class NodePool(_Strict):
    name: DnsLabel
    instance_type: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$",
        description="EC2 instance type; required for provider eks. Optional for generic, where gpu: {model, count, "
        "memoryGiB} describes the GPUs.",
    )
    os: OsId
    gpu: GpuOverride | None = None
    disks: Disks = Disks()
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    ssm: bool = True
    ssm_policy_attached: bool | None = Field(
        default=None, description="Set false when the node role is managed elsewhere and lacks SSM."
    )
    host_network_dns: bool = Field(
        default=False, description="A DNS server runs with hostNetwork on these nodes (binds :53)."
    )
    kubelet_resolv_conf: str | None = Field(
        default=None, description="Override kubelet's resolvConf; default per OS (Ubuntu: non-stub file)."
    )
    ami_id: str | None = Field(
        default=None,
        pattern=r"^ami-[0-9a-f]{8,17}$",
        description="Pinned AMI for the managed node group's launch template (custom-AMI OSes such as Ubuntu); "
        "without it, `plan --ami-id POOL=ami-...`, `--resolve-amis` or nodegroups/<pool>/create-nodegroup.sh resolve "
        "the public SSM parameter.",
    )
    min_size: int = Field(default=1, ge=0)
    max_size: int = Field(default=1, ge=0)
    desired_size: int | None = Field(default=None, ge=0)
    sharing: Sharing = Sharing()

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not isinstance(k, str) or not _LABEL_KEY.match(k):
                raise ValueError(f"label key {k!r} is not a valid Kubernetes label key")
            if not isinstance(val, str) or not _LABEL_VALUE.match(val) or len(val) > 63:
                raise ValueError(f"label {k}: value {val!r} is not a valid label value (<= 63, alphanumeric ends)")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.max_size < self.min_size:
            raise ValueError(f"maxSize ({self.max_size}) is smaller than minSize ({self.min_size})")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("desiredSize must lie between minSize and maxSize")
        return self


class ChecksOptions(_Strict):
    memory_per_replica_floor_gib: float = Field(default=4.0, alias="memoryPerReplicaFloorGiB", ge=0)
    disabled: tuple[str, ...] = Field(
        default=(), description="Finding ids to skip in check and doctor (any id of docs/findings.md)."
    )


class Top(_Strict):
    """``gpuslice top``'s node agent, run as a DaemonSet on the GPU nodes (``render`` writes top-agent.yaml)."""

    enabled: bool = Field(default=False, description="Render the gpuslice-top DaemonSet.")
    image: str | None = Field(
        default=None,
        pattern=r"^[^\s]+$",
        description="Image with gpuslice and its `top` extra installed (see docs/top.md), "
        "e.g. registry.corp.example/gpuslice:0.1.0. Required when enabled.",
    )
    port: int = Field(default=9400, ge=1024, le=65535, description="Port of /metrics, /json and /healthz.")
    interval_seconds: float = Field(default=5.0, ge=1, le=300, description="Seconds between samples.")

    @model_validator(mode="after")
    def _image_when_enabled(self) -> Top:
        if self.enabled and not self.image:
            raise ValueError("top.enabled needs top.image: an image with gpuslice[top] installed (docs/top.md)")
        return self


class Spec(_Strict):
    api_version: Literal["gpuslice.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["GpuCluster"] = "GpuCluster"
    cluster: Cluster
    operator: Operator = Operator()
    registry: Registry = Registry()
    node_pools: tuple[NodePool, ...] = Field(min_length=1)
    checks: ChecksOptions = ChecksOptions()
    top: Top = Top()

    @model_validator(mode="after")
    def _unique_pools(self) -> Spec:
        seen: dict[str, int] = {}
        for i, p in enumerate(self.node_pools):
            if p.name in seen:
                # Point at the second pool (the one to rename), not at the document.
                raise FieldError(
                    ("nodePools", i, "name"),
                    f"pool name {p.name!r} is already used by nodePools[{seen[p.name]}]; pool names must be unique",
                )
            seen[p.name] = i
        return self

    @model_validator(mode="after")
    def _instance_types(self) -> Spec:
        from gpuslice.providers import providers

        if providers()[self.cluster.provider].needs_instance_type:
            for i, p in enumerate(self.node_pools):
                if p.instance_type is None:
                    raise FieldError(
                        ("nodePools", i, "instanceType"),
                        f"required for provider {self.cluster.provider} (the EC2 instance type of the pool's nodes)",
                    )
        return self


class FieldError(ValueError):
    """A cross-field rule broken at ``path`` (the error then points at that field, not at the document)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


# ----------------------------------------------------------------------------------------------------------
# Parsing with positions


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at ``path`` (for "did you mean")."""
    model: type[BaseModel] | None = Spec
    for step in path:
        if model is None:
            return None
        if isinstance(step, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == step), None)
        if field is None:
            return None
        model = _first_model(field.annotation)
    return model


def _first_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in getattr(tp, "__args__", ()) or ():
        m = _first_model(arg)
        if m is not None:
            return m
    return None


#: Regular expressions of the spec's string types -> what they mean, for messages (a user should not read a regex).
_PATTERN_WORDS = {
    IMAGE_PREFIX_PATTERN: "an image prefix: registry host[:port] and an optional lowercase path, no scheme and no tag "
    "(e.g. registry.corp.example/nvidia)",
}


def _what(value: Any) -> str:
    """A YAML value in the user's words."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a true/false value)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping (key: value)"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _friendly(err: Any, owner: type[BaseModel] | None = None) -> str:
    """pydantic's error in the user's terms: what the field must be, and what it got (never "Input should be a
    valid tuple" or "instance of Sharing")."""
    t = err["type"]
    msg = str(err["msg"])
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if t == "missing":
        return "required field is missing"
    tag = getattr(got, "tag", None)
    if tag is not None and not isinstance(got, str) and hasattr(got, "value"):  # an unknown YAML tag (`!Custom x`)
        return f"the YAML tag {tag} means nothing to gpuslice; write the value without it (got {tag} {got.value!r})"
    if t == "literal_error":
        expected = ctx.get("expected", "")
        return f"must be one of {expected} (got {got!r})"
    if t == "string_type" and isinstance(got, int | float) and not isinstance(got, bool):
        return (
            f'must be a string; quote it (e.g. "{got}"): YAML reads an unquoted number, and 1.30 '
            f"would become 1.3 (got the number {got!r})"
        )
    if t == "string_type":
        return f"must be a string, not {_what(got)}"
    if t == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if isinstance(got, str) and "://" in got:
            bare = got.split("://", 1)[1]
            return f"drop the scheme: write {bare!r}, not {got!r} (a registry or image prefix has no http(s)://)"
        words = _PATTERN_WORDS.get(pattern)
        return f"{got!r} is not {words}" if words else f"{got!r} does not have the expected form ({pattern})"
    if t in ("model_type", "model_attributes_type", "dict_type"):
        fields = _allowed_keys(owner) if owner else []
        like = f" with fields {', '.join(fields)}" if fields else ""
        return f"must be a mapping (key: value lines){like}, not {_what(got)}"
    if t in ("tuple_type", "list_type", "set_type"):
        return f"must be a list (lines starting with '- '), not {_what(got)}"
    if t in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {_what(got)}"
    if t in ("float_type", "float_parsing"):
        return f"must be a number, not {_what(got)}"
    if t in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {_what(got)}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if t in bounds:
        words, key = bounds[t]
        return f"must be {words} {ctx.get(key)} (got {got!r})"
    if t in ("too_short", "too_long"):
        if "min_length" in ctx and t == "too_short":
            return f"needs at least {ctx['min_length']} item(s)"
        if "max_length" in ctx:
            return f"takes at most {ctx['max_length']} item(s)"
    if t == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters (got {len(str(got))})"
    if t == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"must be at least {ctx.get('min_length')} characters"
        )
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return msg


def problems_from_validation(e: ValidationError, located: Located) -> list[Problem]:
    problems: list[Problem] = []
    errors = e.errors()
    deep = [tuple(x["loc"]) for x in errors]
    for err in errors:
        # A list that is too short only because its items failed is noise next to the items' own errors.
        if err["type"] == "too_short" and any(
            len(d) > len(err["loc"]) and d[: len(err["loc"])] == tuple(err["loc"]) for d in deep
        ):
            continue
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x and x.endswith("]")))
        # Drop pydantic union/function tags like 'function-after[...]'.
        loc = tuple(x for x in loc if not (isinstance(x, str) and x.startswith(("function-", "tagged-union"))))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc = (*loc, *cause.path)
        if err["type"] == "extra_forbidden":
            if not loc or loc[-1] != err["loc"][-1]:
                # The unknown key itself looked like a pydantic tag (e.g. a key spelled "[]"): keep it.
                loc = (*loc, err["loc"][-1])
            key = str(loc[-1])
            owner = _model_at(loc[:-1])
            allowed = _allowed_keys(owner) if owner else []
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            msg = f"unknown field {key!r}"
            if hint:
                msg += f"; did you mean {hint[0]!r}?"
            elif allowed:
                msg += f"; allowed here: {', '.join(allowed)}"
            problems.append(located.problem(loc, msg))
        else:
            problems.append(located.problem(loc, _friendly(err, _model_at(loc))))
    return problems


def parse_spec_text(text: str, file: str = "<input>") -> Spec:
    """Parse and validate a spec document. Raises :class:`SpecError` listing every problem with its position."""
    located = parse_yaml_text(text, file)[0]
    return spec_from_located(located)


def spec_from_located(located: Located) -> Spec:
    data = located.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError([Problem(f"expected a mapping (a gpuslice spec), got {kind}", file=located.file, line=1)])
    for bad in [k for k in data if not isinstance(k, str)]:
        raise SpecError([located.problem((bad,), f"keys must be strings, got {bad!r}")])
    try:
        return Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(problems_from_validation(e, located)) from None


def load_spec(path: str | Path) -> Spec:
    """Read ``path`` and return the validated spec."""
    located = load_yaml_file(path)[0]
    return spec_from_located(located)


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://gpuslice.dev/schema/v1alpha1/gpuslice.json"
    schema["title"] = "gpuslice spec (gpuslice.yaml)"
    from gpuslice.spec_docs import annotate

    return annotate(schema)
