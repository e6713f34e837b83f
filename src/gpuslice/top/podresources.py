"""A client for the kubelet's pod-resources API: which pod and container were allocated which device.

``List`` on ``/var/lib/kubelet/pod-resources/kubelet.sock`` answers, per pod and container, the device ids the
device plugin handed out. With time-slicing or MPS those are replica ids: the NVIDIA device plugin names replica
``n`` of a GPU ``<uuid>::<n>`` (k8s-device-plugin internal/rm/device_map.go, ``AnnotatedID``), so the GPU behind a
replica is the part before ``::``.

The message classes are built at run time from a file descriptor (the same messages as ``proto/podresources_v1.proto``,
upstream's field numbers) so that no generated code ties gpuslice to one protobuf release. grpcio and protobuf are
imported only when the socket is used (the ``top`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuslice.errors import GpusliceError

DEFAULT_SOCKET = Path("/var/lib/kubelet/pod-resources/kubelet.sock")
LIST_METHOD = "/v1.PodResourcesLister/List"

# FileDescriptorProto of proto/podresources_v1.proto, in protobuf text format.
_DESCRIPTOR = """
name: "podresources_v1.proto"
package: "v1"
syntax: "proto3"
message_type { name: "ListPodResourcesRequest" }
message_type {
  name: "ListPodResourcesResponse"
  field { name: "pod_resources" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".v1.PodResources"
          json_name: "podResources" }
}
message_type {
  name: "PodResources"
  field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "name" }
  field { name: "namespace" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "namespace" }
  field { name: "containers" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".v1.ContainerResources"
          json_name: "containers" }
}
message_type {
  name: "ContainerResources"
  field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "name" }
  field { name: "devices" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".v1.ContainerDevices"
          json_name: "devices" }
}
message_type {
  name: "ContainerDevices"
  field { name: "resource_name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "resourceName" }
  field { name: "device_ids" number: 2 label: LABEL_REPEATED type: TYPE_STRING json_name: "deviceIds" }
}
service {
  name: "PodResourcesLister"
  method { name: "List" input_type: ".v1.ListPodResourcesRequest" output_type: ".v1.ListPodResourcesResponse" }
}
"""

_classes: dict[str, Any] = {}


def file_descriptor() -> Any:
    """The FileDescriptorProto above, parsed."""
    from google.protobuf import descriptor_pb2, text_format

    return text_format.Parse(_DESCRIPTOR, descriptor_pb2.FileDescriptorProto())


def messages() -> dict[str, Any]:
    """Message classes by short name (``ListPodResourcesRequest``, ``ListPodResourcesResponse``, ...)."""
    if not _classes:
        from google.protobuf import descriptor_pool, message_factory

        pool = descriptor_pool.DescriptorPool()
        pool.Add(file_descriptor())
        for name in (
            "ListPodResourcesRequest",
            "ListPodResourcesResponse",
            "PodResources",
            "ContainerResources",
            "ContainerDevices",
        ):
            desc = pool.FindMessageTypeByName(f"v1.{name}")
            get = getattr(message_factory, "GetMessageClass", None)
            _classes[name] = get(desc) if get else message_factory.MessageFactory(pool).GetPrototype(desc)
    return _classes


@dataclass(frozen=True)
class Allocation:
    """Devices of one resource given to one container."""

    namespace: str
    pod: str
    container: str
    resource: str  # nvidia.com/gpu, nvidia.com/gpu.shared, ...
    device_ids: tuple[str, ...] = field(default_factory=tuple)

    def gpus(self) -> dict[str, int]:
        """GPU UUID -> how many replicas of it this container holds."""
        out: dict[str, int] = {}
        for d in self.device_ids:
            uuid = gpu_of_device_id(d)
            out[uuid] = out.get(uuid, 0) + 1
        return out


def gpu_of_device_id(device_id: str) -> str:
    """``GPU-8f3...::3`` (replica 3) -> ``GPU-8f3...``; a plain GPU or MIG id is returned as it is."""
    return device_id.split("::", 1)[0]


def parse_response(resp: Any, resource_prefix: str = "nvidia.com/") -> list[Allocation]:
    """Allocations of ``nvidia.com/*`` resources in a ListPodResourcesResponse."""
    out: list[Allocation] = []
    for pod in resp.pod_resources:
        for c in pod.containers:
            for d in c.devices:
                if d.resource_name.startswith(resource_prefix) and d.device_ids:
                    out.append(Allocation(pod.namespace, pod.name, c.name, d.resource_name, tuple(d.device_ids)))
    return out


def list_allocations(socket: Path = DEFAULT_SOCKET, timeout: float = 5.0) -> list[Allocation]:
    """Ask the kubelet. Raises GpusliceError with the reason when the socket is missing or does not answer."""
    if not socket.exists():
        raise GpusliceError(
            f"{socket}: no kubelet pod-resources socket here (mount /var/lib/kubelet/pod-resources into the agent)"
        )
    import grpc

    m = messages()
    with grpc.insecure_channel(f"unix://{socket}") as channel:
        call = channel.unary_unary(
            LIST_METHOD,
            request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=m["ListPodResourcesResponse"].FromString,
        )
        try:
            resp = call(m["ListPodResourcesRequest"](), timeout=timeout)
        except grpc.RpcError as e:
            raise GpusliceError(f"{socket}: pod-resources List failed: {e.code().name}: {e.details()}") from None
    return parse_response(resp)
