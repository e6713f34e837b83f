"""Partial, typed views of the Kubernetes objects gpuslice reads (Node, Pod, DaemonSet, Event, ...).

Only the fields the doctor, verify and apply logic look at are declared; everything else in the API's JSON is
skipped while decoding (msgspec), which keeps reading a 5,000-node dump fast and its memory small. Every field is
optional with an empty default, because real dumps miss fields (``items: null``, pods without ``status``, events
without ``involvedObject.namespace``). Names follow the API's JSON (camelCase) through ``rename="camel"``.

``decode_list`` is the one entry point: JSON bytes, YAML text or already-parsed dicts in, a list of typed objects
out. A document that does not match the declared types (a broken or hand-edited dump) is converted item by item,
so one bad object costs that object, not the whole file.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from gpuslice.yamlio import type_name as _type_name


class _Obj(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    pass


class OwnerRef(_Obj):
    kind: str = ""
    name: str = ""


class Meta(_Obj):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerRef] | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None

    def label(self, key: str, default: str = "") -> str:
        return (self.labels or {}).get(key, default)


class Condition(_Obj):
    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None


class Taint(_Obj):
    key: str = ""
    value: str | None = None
    effect: str = ""


class NodeSpec(_Obj):
    taints: list[Taint] | None = None
    unschedulable: bool = False
    provider_id: str = msgspec.field(default="", name="providerID")


class NodeInfo(_Obj):
    os_image: str = ""
    kernel_version: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeStatus(_Obj):
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    conditions: list[Condition] | None = None
    node_info: NodeInfo | None = None


class Node(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels or {}

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.status.conditions or () if c.type == type_), None)

    @property
    def ready(self) -> bool:
        c = self.condition("Ready")
        return c is not None and c.status == "True"

    def capacity(self, resource: str) -> str | None:
        return (self.status.capacity or {}).get(resource)

    def allocatable(self, resource: str) -> str | None:
        return (self.status.allocatable or {}).get(resource)

    @property
    def os_image(self) -> str:
        return self.status.node_info.os_image if self.status.node_info else ""


class Waiting(_Obj):
    reason: str | None = None
    message: str | None = None


class Terminated(_Obj):
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    finished_at: str | None = None


class ContainerState(_Obj):
    waiting: Waiting | None = None
    running: dict[str, Any] | None = None
    terminated: Terminated | None = None


class ContainerStatus(_Obj):
    name: str = ""
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str = ""
    state: ContainerState | None = None
    last_state: ContainerState | None = None


class ConfigMapRef(_Obj):
    name: str = ""


class Volume(_Obj):
    name: str = ""
    config_map: ConfigMapRef | None = None


class ResourceRequirements(_Obj):
    limits: dict[str, str] | None = None
    requests: dict[str, str] | None = None


class Container(_Obj):
    name: str = ""
    image: str = ""
    resources: ResourceRequirements | None = None


class PodSpec(_Obj):
    node_name: str = ""
    host_network: bool = False
    containers: list[Container] | None = None
    init_containers: list[Container] | None = None
    volumes: list[Volume] | None = None
    node_selector: dict[str, str] | None = None
    update_strategy: dict[str, Any] | None = None  # only meaningful on DaemonSet specs


class PodStatus(_Obj):
    phase: str = ""
    reason: str | None = None
    message: str | None = None
    conditions: list[Condition] | None = None
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None


class Pod(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def ref(self) -> str:
        return f"pod {self.metadata.namespace}/{self.metadata.name}"

    def owner(self, kind: str | None = None) -> str | None:
        for o in self.metadata.owner_references or ():
            if kind is None or o.kind == kind:
                return o.name
        return None

    def statuses(self) -> list[tuple[bool, ContainerStatus]]:
        """(is_init, status) for every container status the pod reports."""
        st = self.status
        out: list[tuple[bool, ContainerStatus]] = []
        if st.init_container_statuses:
            out.extend((True, s) for s in st.init_container_statuses)
        if st.container_statuses:
            out.extend((False, s) for s in st.container_statuses)
        return out

    def container_names(self) -> list[str]:
        init = [c.name for c in self.spec.init_containers or ()]
        return init + [c.name for c in self.spec.containers or ()]

    def image_of(self, container: str) -> str:
        for c in [*(self.spec.init_containers or ()), *(self.spec.containers or ())]:
            if c.name == container:
                return c.image
        return ""

    def display_status(self) -> str:
        """What ``kubectl get pods`` shows in STATUS (close enough for evidence lines)."""
        if self.metadata.deletion_timestamp:
            return "Terminating"
        for s in self.status.init_container_statuses or ():
            st = s.state
            if st and st.waiting and st.waiting.reason and st.waiting.reason != "PodInitializing":
                return f"Init:{st.waiting.reason}"
            if st and st.terminated and st.terminated.exit_code not in (0, None):
                return f"Init:{st.terminated.reason or 'Error'}"
        for s in self.status.container_statuses or ():
            st = s.state
            if st and st.waiting and st.waiting.reason:
                return st.waiting.reason
            if st and st.terminated and st.terminated.reason:
                return st.terminated.reason
        return self.status.reason or self.status.phase or "Unknown"


class UpdateStrategy(_Obj):
    type: str = ""


class PodTemplate(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)


class DaemonSetSpec(_Obj):
    template: PodTemplate = msgspec.field(default_factory=PodTemplate)
    update_strategy: UpdateStrategy | None = None


class DaemonSetStatus(_Obj):
    desired_number_scheduled: int = 0
    current_number_scheduled: int = 0
    number_ready: int = 0
    number_available: int = 0
    number_unavailable: int = 0
    updated_number_scheduled: int = 0
    number_misscheduled: int = 0
    observed_generation: int = 0


class DaemonSet(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: DaemonSetSpec = msgspec.field(default_factory=DaemonSetSpec)
    status: DaemonSetStatus = msgspec.field(default_factory=DaemonSetStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    def configmap_volumes(self) -> list[str]:
        return [v.config_map.name for v in self.spec.template.spec.volumes or () if v.config_map]


class DeploymentSpec(_Obj):
    replicas: int | None = None


class DeploymentStatus(_Obj):
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0


class Deployment(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: DeploymentSpec = msgspec.field(default_factory=DeploymentSpec)
    status: DeploymentStatus = msgspec.field(default_factory=DeploymentStatus)


class ObjectRef(_Obj):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    field_path: str = ""


class EventSource(_Obj):
    component: str = ""
    host: str = ""


class Event(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    involved_object: ObjectRef = msgspec.field(default_factory=ObjectRef)
    regarding: ObjectRef | None = None  # events.k8s.io/v1 shape
    reason: str = ""
    message: str = ""
    note: str = ""  # events.k8s.io/v1 shape
    type: str = ""
    count: int | None = None
    source: EventSource | None = None

    @property
    def obj(self) -> ObjectRef:
        return self.regarding if self.regarding and self.regarding.name else self.involved_object

    @property
    def text(self) -> str:
        return self.message or self.note

    @property
    def ref(self) -> str:
        o = self.obj
        ns = o.namespace or self.metadata.namespace
        where = f"{ns}/{o.name}" if ns and o.kind != "Node" else o.name
        return f"{o.kind.lower() or 'object'} {where}"


class ConfigMap(_Obj):
    metadata: Meta = msgspec.field(default_factory=Meta)
    data: dict[str, str] | None = None


class ClusterPolicy(_Obj):
    """nvidia.com/v1 ClusterPolicy; ``spec`` stays a plain dict (its shape changes between operator versions)."""

    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        return str((self.status or {}).get("state") or "")

    def path(self, *keys: str) -> Any:
        cur: Any = self.spec or {}
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur

    @property
    def plugin_config(self) -> tuple[str, str]:
        """(ConfigMap name, default key) of ``spec.devicePlugin.config``; empty strings when unset."""
        cfg = self.path("devicePlugin", "config") or {}
        if not isinstance(cfg, dict):
            return "", ""
        return str(cfg.get("name") or ""), str(cfg.get("default") or "")


T = TypeVar("T")


class _List(msgspec.Struct):
    items: list[Any] | None = None


def _list_type(item: type[T]) -> Any:
    return msgspec.defstruct(
        f"{item.__name__}List",
        [("kind", str | None, None), ("items", list[item] | None, None)],  # type: ignore[valid-type]
    )


class _Kinds(msgspec.Struct):
    kind: str | None = None


class _ListKinds(msgspec.Struct):
    kind: str | None = None
    items: list[_Kinds] | None = None


_LIST_TYPES: dict[type, Any] = {}
NOT_A_LIST = "this file is not a Kubernetes list"


class DecodeError(ValueError):
    """The input is not a readable Kubernetes list (not JSON/YAML, not a mapping, ``items`` not a list, nested
    absurdly deep, or a list of another kind)."""


def _check_kinds(list_kind: str | None, item_kinds: list[str | None], item: type[T]) -> None:
    """A ``<Kind>List`` of the kind asked for; a generic ``List`` (``kubectl get -o json``) of items of that kind.

    A PodList saved as nodes.json must not pass for an empty node list."""
    want = item.__name__
    if list_kind and list_kind not in (f"{want}List", "List"):
        got = list_kind.removesuffix("List") or list_kind
        raise DecodeError(f"{NOT_A_LIST} of {want} objects: it holds a {list_kind} ({got} objects)")
    others = sorted({k for k in item_kinds if k and k != want})
    if others:
        raise DecodeError(f"{NOT_A_LIST} of {want} objects: its items are {', '.join(others)}")


def decode_list(raw: bytes | memoryview | str | dict[str, Any] | None, item: type[T]) -> tuple[list[T], int]:
    """Typed items of a ``*List`` document and the number of items that could not be read.

    ``raw`` may be JSON bytes, YAML/JSON text or a parsed dict. A single object (no ``items``) is treated as a
    list of one. Raises :class:`DecodeError` when the document itself is unreadable or is not a list of ``item``.
    """
    if raw is None:
        return [], 0
    lt = _LIST_TYPES.get(item)
    if lt is None:
        lt = _LIST_TYPES[item] = _list_type(item)
    generic: Any
    try:
        if isinstance(raw, bytes | bytearray | memoryview):
            try:
                got = msgspec.json.decode(raw, type=lt)
            except msgspec.ValidationError:
                try:
                    generic = msgspec.json.decode(raw)
                except msgspec.DecodeError as e:
                    raise DecodeError(str(e)) from None
            except msgspec.DecodeError as e:
                raise DecodeError(str(e)) from None
            else:
                kinds: list[str | None] = []
                if got.kind in (None, "List") and got.items:
                    shape = msgspec.json.decode(raw, type=_ListKinds)
                    kinds = [k.kind for k in shape.items or ()]
                _check_kinds(got.kind, kinds, item)
                return list(got.items or []), 0
        elif isinstance(raw, str):
            import yaml

            try:
                generic = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError as e:
                raise DecodeError(str(e).splitlines()[0]) from None
        else:
            generic = raw
    except RecursionError:
        raise DecodeError(f"{NOT_A_LIST}: it is nested too deeply to read") from None
    if not isinstance(generic, dict):
        raise DecodeError(f"{NOT_A_LIST}: expected a Kubernetes object or list, got {_type_name(generic)}")
    if "items" not in generic:
        single_kind = generic.get("kind")
        _check_kinds(None, [single_kind if isinstance(single_kind, str) else None], item)
        items: Any = [generic]
    else:
        items = generic.get("items")
    if items is not None and not isinstance(items, list):
        raise DecodeError(f"{NOT_A_LIST}: `items` is {_type_name(items)}, not a list")
    list_kind = generic.get("kind") if "items" in generic else None
    _check_kinds(
        list_kind if isinstance(list_kind, str) else None,
        [it.get("kind") if isinstance(it, dict) and isinstance(it.get("kind"), str) else None for it in items or ()],
        item,
    )
    out: list[T] = []
    bad = 0
    for it in items or ():
        try:
            out.append(msgspec.convert(it, item, strict=False))
        except (msgspec.ValidationError, RecursionError):
            bad += 1
    return out, bad


def parse_quantity(q: str | None) -> int | None:
    """Integer value of a count-like quantity (``"4"``, ``"4k"`` is not a GPU count); None when unreadable."""
    if q is None:
        return None
    try:
        return int(str(q).strip())
    except ValueError:
        return None
