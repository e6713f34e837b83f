"""The kubelet stand-in (benchmarks/device_plugin/kubelet_standin.py) against a small gRPC device plugin.

The real NVIDIA plugin needs a GPU (NVML); its captured answers on the H200 are replayed in
test_device_plugin_capture.py. Here a plugin written against the same generated stubs registers, lists
replicated devices and refuses multi-device requests, and the stand-in must record all of it.
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")

TOOLS = Path(__file__).resolve().parents[1] / "benchmarks" / "device_plugin"
sys.path.insert(0, str(TOOLS))

import kubelet_standin as ks  # noqa: E402
from deviceplugin import api_pb2, api_pb2_grpc  # noqa: E402

GPU = "GPU-00000000-1111-2222-3333-444444444444"


class FakePlugin(api_pb2_grpc.DevicePluginServicer):
    def __init__(self, replicas: int, fail_gt_one: bool) -> None:
        self.ids = [f"{GPU}::{i}" for i in range(replicas)]
        self.fail_gt_one = fail_gt_one
        self.stop = threading.Event()

    def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:
        return api_pb2.DevicePluginOptions(get_preferred_allocation_available=True)

    def ListAndWatch(self, request: Any, context: Any) -> Any:
        yield api_pb2.ListAndWatchResponse(devices=[api_pb2.Device(ID=i, health="Healthy") for i in self.ids])
        self.stop.wait(5)

    def GetPreferredAllocation(self, request: Any, context: Any) -> Any:
        return api_pb2.PreferredAllocationResponse(
            container_responses=[
                api_pb2.ContainerPreferredAllocationResponse(deviceIDs=list(r.available_deviceIDs)[: r.allocation_size])
                for r in request.container_requests
            ]
        )

    def Allocate(self, request: Any, context: Any) -> Any:
        out = []
        for r in request.container_requests:
            if self.fail_gt_one and len(r.devices_ids) > 1:
                context.abort(grpc.StatusCode.UNKNOWN, "request for 'nvidia.com/gpu: 2' too large: maximum 1")
            gpus = sorted({ks.physical_id(i) for i in r.devices_ids})
            out.append(api_pb2.ContainerAllocateResponse(envs={"NVIDIA_VISIBLE_DEVICES": ",".join(gpus)}))
        return api_pb2.AllocateResponse(container_responses=out)


def _run_plugin(tmp: Path, replicas: int, fail_gt_one: bool) -> list[dict[str, Any]]:
    plugin = FakePlugin(replicas, fail_gt_one)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_DevicePluginServicer_to_server(plugin, server)
    server.add_insecure_port(f"unix://{tmp / 'nvidia-gpu.sock'}")
    server.start()
    try:
        with ks.StandIn(tmp, tmp / "events.jsonl") as kubelet:
            ch = grpc.insecure_channel(f"unix://{tmp / ks.KUBELET_SOCKET}")
            api_pb2_grpc.RegistrationStub(ch).Register(
                api_pb2.RegisterRequest(version="v1beta1", endpoint="nvidia-gpu.sock", resource_name="nvidia.com/gpu"),
                timeout=5,
            )
            ch.close()
            assert kubelet.wait_for(lambda e: e["event"] == "probe-done"), kubelet.log.events
            plugin.stop.set()
    finally:
        server.stop(grace=0).wait()
    return ks.summarize(ks.load_events(tmp / "events.jsonl"))


def test_standin_records_devices_and_refusal(tmp_path: Path) -> None:
    (reg,) = _run_plugin(tmp_path, replicas=4, fail_gt_one=True)
    assert reg["resource"] == "nvidia.com/gpu"
    assert reg["count"] == 4 and reg["replicasPerGpu"] == {GPU: 4}
    assert reg["preferred"]["size2"]["response"] == [[f"{GPU}::0", f"{GPU}::1"]]
    assert ks.allocated_uuids(reg["allocate"]["one"]) == [GPU]
    refused = reg["allocate"]["two-in-one-container"]
    assert "response" not in refused and "too large" in refused["error"]["details"]
    # Two containers with one replica each of the same GPU see the same UUID.
    assert ks.allocated_uuids(reg["allocate"]["one-each-two-containers"]) == [GPU, GPU]


def test_standin_without_refusal_gets_the_allocation(tmp_path: Path) -> None:
    (reg,) = _run_plugin(tmp_path, replicas=2, fail_gt_one=False)
    assert ks.allocated_uuids(reg["allocate"]["two-in-one-container"]) == [GPU]


def test_standin_refuses_other_api_versions(tmp_path: Path) -> None:
    with ks.StandIn(tmp_path) as kubelet:
        ch = grpc.insecure_channel(f"unix://{tmp_path / ks.KUBELET_SOCKET}")
        with pytest.raises(grpc.RpcError) as e:
            api_pb2_grpc.RegistrationStub(ch).Register(
                api_pb2.RegisterRequest(version="v1alpha", endpoint="x.sock", resource_name="nvidia.com/gpu"), timeout=5
            )
        ch.close()
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any(ev["event"] == "register" and ev["version"] == "v1alpha" for ev in kubelet.log.events)
