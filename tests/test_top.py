"""gpuslice top: pid -> pod mapping (real-shaped cgroup files), the kubelet pod-resources API over real gRPC, the
report and its findings, Prometheus metrics over a real HTTP scrape, and the cluster view through the fake API
server's pod proxy."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from gpuslice.top import findings as tf
from gpuslice.top.agent import Agent, Sharing, build_report, pods_from_api, pods_from_log_dir, serve
from gpuslice.top.cgroup import PodRef, parse_cgroup, pod_of_pid
from gpuslice.top.nvml import GpuReading, NodeReading, ProcessReading, ReplaySampler
from gpuslice.top.podresources import Allocation, gpu_of_device_id, list_allocations, messages

CID = "7f2c1b9e4d3a5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff"[:64]
UID = "0d5bb4ab-4c9e-4b1d-9b0b-9a3b1b6e2f5a"
UID_ = UID.replace("-", "_")

# Real shapes of /proc/<pid>/cgroup (kubelet cgroup_manager_linux.go names; containerd/CRI-O/docker scope prefixes)
CGROUPS = {
    "v2-systemd-containerd-burstable": (
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{CID}.scope\n",
        PodRef(UID, "Burstable", CID, "containerd"),
    ),
    "v2-systemd-containerd-guaranteed": (
        f"0::/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{CID}.scope\n",
        PodRef(UID, "Guaranteed", CID, "containerd"),
    ),
    "v2-systemd-crio-besteffort": (
        f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/crio-{CID}.scope\n",
        PodRef(UID, "BestEffort", CID, "cri-o"),
    ),
    "v2-cgroupfs-burstable": (f"0::/kubepods/burstable/pod{UID}/{CID}\n", PodRef(UID, "Burstable", CID)),
    "v1-cgroupfs-besteffort": (
        f"12:pids:/kubepods/besteffort/pod{UID}/{CID}\n11:memory:/kubepods/besteffort/pod{UID}/{CID}\n"
        f"3:cpu,cpuacct:/kubepods/besteffort/pod{UID}/{CID}\n1:name=systemd:/kubepods/besteffort/pod{UID}/{CID}\n0::/\n",
        PodRef(UID, "BestEffort", CID),
    ),
    "v1-systemd-docker-guaranteed": (
        f"11:memory:/kubepods.slice/kubepods-pod{UID_}.slice/docker-{CID}.scope\n"
        f"1:name=systemd:/kubepods.slice/kubepods-pod{UID_}.slice/docker-{CID}.scope\n",
        PodRef(UID, "Guaranteed", CID, "docker"),
    ),
    "v2-nested-cgroupns": (
        f"0::/../../kubepods-burstable-pod{UID_}.slice/cri-containerd-{CID}.scope\n",
        PodRef(UID, "Burstable", CID, "containerd"),
    ),
    "crio-conmon-pod-only": (
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-conmon-{CID}.scope\n",
        PodRef(UID, "Burstable", None, None),
    ),
    "host-service": ("0::/system.slice/containerd.service\n", None),
    "host-user": ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
    "empty": ("", None),
}


@pytest.mark.parametrize("case", sorted(CGROUPS))
def test_cgroup_shapes(case):
    text, want = CGROUPS[case]
    assert parse_cgroup(text) == want


def test_pod_of_pid_reads_proc(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cgroup").write_text(CGROUPS["v2-systemd-containerd-burstable"][0])
    assert pod_of_pid(42, tmp_path) == CGROUPS["v2-systemd-containerd-burstable"][1]
    assert pod_of_pid(43, tmp_path) is None  # gone between NVML and /proc: no crash


# -- pod-resources over real gRPC ---------------------------------------------------------------------------------


def _pod_resources_server(sock: Path, pods: list[tuple[str, str, str, str, list[str]]], status=None):
    from concurrent import futures

    import grpc

    m = messages()

    def list_(request, context):
        if status is not None:
            context.abort(status, "kubelet says no")
        resp = m["ListPodResourcesResponse"]()
        for ns, pod, container, res, ids in pods:
            pr = resp.pod_resources.add(name=pod, namespace=ns)
            c = pr.containers.add(name=container)
            c.devices.add(resource_name=res, device_ids=ids)
        return resp

    handler = grpc.method_handlers_generic_handler(
        "v1.PodResourcesLister",
        {
            "List": grpc.unary_unary_rpc_method_handler(
                list_,
                request_deserializer=m["ListPodResourcesRequest"].FromString,
                response_serializer=lambda r: r.SerializeToString(),
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    return server


def test_pod_resources_list_over_grpc(tmp_path):
    sock = tmp_path / "kubelet.sock"
    server = _pod_resources_server(
        sock,
        [
            ("ml", "train-0", "worker", "nvidia.com/gpu", ["GPU-aaaa::0", "GPU-aaaa::3"]),
            ("ml", "infer-1", "server", "nvidia.com/gpu.shared", ["GPU-bbbb::1"]),
            ("kube-system", "coredns", "coredns", "example.com/foo", ["x"]),
        ],
    )
    try:
        got = list_allocations(sock)
    finally:
        server.stop(None)
    assert got == [
        Allocation("ml", "train-0", "worker", "nvidia.com/gpu", ("GPU-aaaa::0", "GPU-aaaa::3")),
        Allocation("ml", "infer-1", "server", "nvidia.com/gpu.shared", ("GPU-bbbb::1",)),
    ]
    assert got[0].gpus() == {"GPU-aaaa": 2}


def test_pod_resources_errors_are_clear(tmp_path):
    import grpc

    from gpuslice.errors import GpusliceError

    with pytest.raises(GpusliceError, match="no kubelet pod-resources socket"):
        list_allocations(tmp_path / "missing.sock")
    sock = tmp_path / "k.sock"
    server = _pod_resources_server(sock, [], status=grpc.StatusCode.PERMISSION_DENIED)
    try:
        with pytest.raises(GpusliceError, match="PERMISSION_DENIED"):
            list_allocations(sock)
    finally:
        server.stop(None)


def test_descriptor_matches_the_proto_file(tmp_path):
    """The messages built in code are the ones the committed .proto declares (compiled by the real protoc)."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    import gpuslice.top.podresources as pr

    proto_dir = Path(pr.__file__).parent / "proto"
    out = tmp_path / "set.pb"
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--descriptor_set_out={out}", "podresources_v1.proto"])
    assert rc == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    compiled = fds.file[0]
    ours = pr.file_descriptor()

    def shape(fd):
        return {m.name: [(f.name, f.number, f.label, f.type, f.type_name) for f in m.field] for m in fd.message_type}, [
            (s.name, [(x.name, x.input_type, x.output_type) for x in s.method]) for s in fd.service
        ]

    assert shape(ours) == shape(compiled)
    assert compiled.package == "v1"


def test_replica_ids_name_their_gpu():
    assert gpu_of_device_id("GPU-8f3a-11::3") == "GPU-8f3a-11"
    assert gpu_of_device_id("MIG-1234") == "MIG-1234"


# -- reports and findings -----------------------------------------------------------------------------------------

GIB = 1 << 30


def _reading(procs: list[tuple[int, float | None, float | None]], total_gib: int = 80) -> NodeReading:
    return NodeReading(
        time=1.0,
        interval_s=5.0,
        driver_version="580.159.04",
        gpus=[
            GpuReading(
                index=0,
                uuid="GPU-aaaa",
                name="NVIDIA A100-SXM4-80GB",
                memory_total_bytes=total_gib * GIB,
                memory_used_bytes=sum(int((m or 0) * GIB) for _, m, _ in procs),
                utilization_gpu=77,
                compute_mode="Default",
                processes=[
                    ProcessReading(pid, None if m is None else int(m * GIB), sm, command="python")
                    for pid, m, sm in procs
                ],
            )
        ],
    )


def _proc_tree(tmp_path: Path, pid_pods: dict[int, tuple[str, str]]) -> Path:
    """/proc/<pid>/cgroup for each pid: pod uid + container id (cgroup v2, systemd, containerd)."""
    for pid, (uid, cid) in pid_pods.items():
        d = tmp_path / "proc" / str(pid)
        d.mkdir(parents=True)
        u = uid.replace("-", "_")
        (d / "cgroup").write_text(
            f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{cid}.scope\n"
        )
    return tmp_path / "proc"


U1, U2, U3 = (f"1111111{i}-2222-3333-4444-555555555555" for i in range(3))
C1, C2, C3 = (str(i) * 64 for i in range(1, 4))


def _api_pods() -> list[dict]:
    def p(uid, name, cid, cname):
        return {
            "metadata": {"uid": uid, "namespace": "ml", "name": name},
            "status": {
                "qosClass": "Burstable",
                "containerStatuses": [{"name": cname, "containerID": f"containerd://{cid}"}],
            },
        }

    return [p(U1, "hog", C1, "trainer"), p(U2, "polite", C2, "server"), p(U3, "idle", C3, "notebook")]


ALLOCS = [
    Allocation("ml", "hog", "trainer", "nvidia.com/gpu", ("GPU-aaaa::0",)),
    Allocation("ml", "polite", "server", "nvidia.com/gpu", ("GPU-aaaa::1",)),
    Allocation("ml", "idle", "notebook", "nvidia.com/gpu", ("GPU-aaaa::2",)),
    Allocation("ml", "elsewhere", "x", "nvidia.com/gpu", ("GPU-zzzz::0",)),
]


def _report(tmp_path, procs, strategy="time-slicing", replicas=4, allocations=ALLOCS):
    proc = _proc_tree(tmp_path, {101: (U1, C1), 102: (U2, C2)})
    return build_report(
        _reading(procs),
        node="gpu-1",
        sharing=Sharing(strategy, replicas),
        pods=pods_from_api(_api_pods()),
        allocations=allocations,
        proc=proc,
    )


def test_report_maps_processes_to_pods_and_replicas(tmp_path):
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0), (999, 1.0, 5.0)])
    g = rep["gpus"][0]
    assert g["fairShareBytes"] == 20 * GIB and g["replicas"] == 4 and g["mpsPinnedLimitBytes"] is None
    by_pid = {p["pid"]: p for p in g["processes"]}
    assert (by_pid[101]["namespace"], by_pid[101]["pod"], by_pid[101]["container"]) == ("ml", "hog", "trainer")
    assert by_pid[102]["pod"] == "polite" and by_pid[102]["qos"] == "Burstable"
    assert by_pid[999]["pod"] is None  # a host process (no /proc entry in a pod)
    rows = {r["pod"]: r for r in g["pods"]}
    assert rows["hog"]["memoryBytes"] == 30 * GIB and rows["hog"]["shareOfFairShare"] == 1.5
    assert rows["polite"]["replicas"] == 1 and rows["polite"]["smUtil"] == 20.0
    assert rows["idle"]["processes"] == 0 and rows["idle"]["deviceIds"] == ["GPU-aaaa::2"]
    assert rep["unmapped"] == [{"namespace": "ml", "pod": "elsewhere", "container": "x", "deviceIds": ["GPU-zzzz::0"]}]


def test_findings_over_share_oversubscribed_idle(tmp_path):
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0), (999, 1.0, 5.0), (1000, 1.0, 1.0), (1001, 1, 1)])
    fs = tf.report_findings(rep)
    ids = sorted(f.id for f in fs)
    assert ids == sorted([tf.OVER_SHARE, tf.OVERSUBSCRIBED, tf.IDLE_REPLICA])
    over = next(f for f in fs if f.id == tf.OVER_SHARE)
    assert "ml/hog" in over.message and "30.0 GiB" in over.message and "20.0 GiB" in over.message
    idle = next(f for f in fs if f.id == tf.IDLE_REPLICA)
    assert "ml/idle" in idle.message


def test_no_findings_when_everyone_keeps_to_their_share(tmp_path):
    allocs = ALLOCS[:2]
    rep = _report(tmp_path, [(101, 19.0, 50.0), (102, 5.0, 20.0)], allocations=allocs)
    assert tf.report_findings(rep) == []


def test_memory_over_share_is_not_flagged_under_mps(tmp_path):
    """MPS pins each client to its share: the time-slicing warning does not apply; the pinned limit is shown."""
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0)], strategy="mps", allocations=ALLOCS[:2])
    assert rep["gpus"][0]["mpsPinnedLimitBytes"] == 20 * GIB
    assert [f.id for f in tf.report_findings(rep)] == []


def test_container_named_from_allocation_when_status_lacks_it(tmp_path):
    """Without the API (names from /var/log/pods), the container comes from pod-resources when only one holds GPUs."""
    logs = tmp_path / "logs"
    (logs / f"ml_hog_{U1}" / "trainer").mkdir(parents=True)
    (logs / "not-a-pod-folder").mkdir()
    pods = pods_from_log_dir(logs)
    assert set(pods) == {U1}
    proc = _proc_tree(tmp_path, {101: (U1, C1)})
    rep = build_report(
        _reading([(101, 3.0, 10.0)]),
        node="n",
        sharing=Sharing("time-slicing", 4),
        pods=pods,
        allocations=ALLOCS,
        proc=proc,
    )
    p = rep["gpus"][0]["processes"][0]
    assert (p["pod"], p["container"]) == ("hog", "trainer")


# -- metrics and JSON over real HTTP ------------------------------------------------------------------------------


def test_metrics_endpoint_scrape(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0), (999, 1.0, 5.0)])
    agent = Agent(lambda: rep, interval=60)
    agent.tick()
    server = serve(agent, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        got = json.loads(urllib.request.urlopen(base + "/json", timeout=5).read())
        health = urllib.request.urlopen(base + "/healthz", timeout=5).read()
    finally:
        server.shutdown()
    assert got["node"] == "gpu-1" and health == b"ok\n"
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["gpuslice_top_up"].samples[0].value == 1.0
    mem = {
        (s.labels["namespace"], s.labels["pod"], s.labels["container"]): s.value
        for s in fams["gpuslice_container_gpu_memory_bytes"].samples
    }
    assert mem[("ml", "hog", "trainer")] == 30 * GIB
    assert mem[("", "", "")] == 1 * GIB  # the host process, without a pid label
    sm = {s.labels["pod"]: s.value for s in fams["gpuslice_container_gpu_sm_utilization_ratio"].samples}
    assert sm["hog"] == pytest.approx(0.70)
    share = {s.labels["pod"]: s.value for s in fams["gpuslice_container_gpu_memory_fair_share_ratio"].samples}
    assert share["hog"] == 1.5
    total = fams["gpuslice_gpu_memory_total_bytes"].samples[0]
    assert total.labels == {"node": "gpu-1", "gpu_uuid": "GPU-aaaa", "gpu_index": "0", "strategy": "time-slicing"}
    for name in fams:  # Prometheus naming: prefix, base units, no pid label
        assert name.startswith("gpuslice_")
    assert all("pid" not in s.labels for f in fams.values() for s in f.samples)


def test_json_endpoint_before_first_sample_says_why(tmp_path):
    def broken():
        raise RuntimeError("NVML: driver not loaded")

    agent = Agent(broken, interval=60)
    agent.tick()
    server = serve(agent, "127.0.0.1", 0)
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/json", timeout=5)
        assert e.value.code == 503 and b"driver not loaded" in e.value.read()
    finally:
        server.shutdown()


# -- CLI: agent on a replayed reading, cluster view through the pod proxy -------------------------------------------


def test_cli_agent_once_replay(cli, tmp_path):
    reading = tmp_path / "reading.json"
    reading.write_text(json.dumps(_reading([(101, 30.0, 70.0), (102, 5.0, 20.0)]).to_dict()))
    proc = _proc_tree(tmp_path, {101: (U1, C1), 102: (U2, C2)})
    logs = tmp_path / "logs"
    for uid, name in ((U1, "hog"), (U2, "polite")):
        (logs / f"ml_{name}_{uid}").mkdir(parents=True)
    r = cli(
        "top",
        "--node",
        "--once",
        "--replay",
        reading,
        "--proc",
        proc,
        "--pod-log-dir",
        logs,
        "--strategy",
        "time-slicing",
        "--replicas",
        "4",
        "--node-name",
        "gpu-1",
        "--pod-resources",
        tmp_path / "none.sock",
        "-o",
        "json",
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert {p["pid"]: p["pod"] for p in rep["gpus"][0]["processes"]} == {101: "hog", 102: "polite"}
    assert [f["id"] for f in rep["findings"]] == [tf.OVER_SHARE]
    assert "no pod-resources socket" in r.stderr


def test_cli_agent_bad_replay_file_is_a_clean_error(cli, tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    r = cli("top", "--node", "--once", "--replay", bad)
    assert r.exit_code == 2 and "cannot read NVML readings" in r.stderr and "Traceback" not in r.output


def test_cluster_view_through_pod_proxy(cli, tmp_path):
    from tests import k8sfixtures as kf
    from tests.fakeapi import FakeKube

    c = kf.healthy()
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0)])
    agents = []
    for i, node_name in enumerate(["gpu-a", "gpu-b", "gpu-c"]):
        agents.append(
            {
                "metadata": {
                    "name": f"gpuslice-top-{i}",
                    "namespace": "gpu-operator",
                    "labels": {"app.kubernetes.io/name": "gpuslice-top"},
                },
                "spec": {"nodeName": node_name},
                "status": {"phase": "Pending" if i == 2 else "Running"},
            }
        )
    c.pods.setdefault("gpu-operator", []).extend(agents)
    with FakeKube(c) as api:
        api.proxies[("gpu-operator", "gpuslice-top-0", 9400)] = {**rep, "node": "gpu-a"}
        # gpuslice-top-1 does not answer (no proxy registered -> 503 from the API server)
        kc = api.kubeconfig(tmp_path)
        r = cli("top", "--kubeconfig", kc, "-o", "json")
        text = cli("top", "--kubeconfig", kc)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [x["node"] for x in doc["reports"]] == ["gpu-a"]
    assert any(u.startswith("gpu-b (gpuslice-top-1)") for u in doc["unreachable"])
    assert any("gpu-c" in u and "Pending" in u for u in doc["unreachable"])
    assert tf.OVER_SHARE in {f["id"] for f in doc["findings"]}
    assert text.exit_code == 0 and "ml/hog" in text.stdout and "over its share" in text.stdout


def test_cluster_view_without_agents_says_how_to_get_them(cli, tmp_path):
    from tests import k8sfixtures as kf
    from tests.fakeapi import FakeKube

    with FakeKube(kf.healthy()) as api:
        r = cli("top", "--kubeconfig", api.kubeconfig(tmp_path))
    assert r.exit_code == 2
    assert "no gpuslice-top agent pods" in r.stdout


def test_replay_sampler_rejects_non_readings(tmp_path):
    from gpuslice.errors import GpusliceError

    p = tmp_path / "x.json"
    p.write_text(json.dumps([{"nope": 1}]))
    with pytest.raises(GpusliceError, match="not a gpuslice NVML reading"):
        ReplaySampler(p)


# -- the DaemonSet render writes when the spec enables top ---------------------------------------------------------

TOP_SPEC = (Path(__file__).resolve().parents[1] / "examples" / "eks-ubuntu.yaml").read_text()


def _spec_with_top(tmp_path: Path, block: str) -> Path:
    from tests.helpers import write_spec

    return write_spec(tmp_path, TOP_SPEC.rstrip() + "\n" + block)


def test_render_top_agent_daemonset_validates(tmp_path):
    import kubernetes_validate
    import yaml

    from gpuslice.api import load
    from gpuslice.render import RenderOptions, top_agent

    spec = _spec_with_top(
        tmp_path, "top:\n  enabled: true\n  image: registry.corp.example/gpuslice:0.1.0\n  port: 9500\n"
    )
    resolved = load(spec)
    out = top_agent.render(resolved, RenderOptions(prove=False))
    docs = [d for d in yaml.safe_load_all(out.files[top_agent.TOP_FILE]) if d]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"]
    for d in docs:
        kubernetes_validate.validate(d, "1.33", strict=True)
    ds = docs[-1]
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["hostPID"] is True and c["image"] == "registry.corp.example/gpuslice:0.1.0"
    assert c["args"][:2] == ["top", "--node"] and "0.0.0.0:9500" in c["args"]
    assert "nvidia.com/gpu" not in str(c.get("resources"))  # never takes a replica
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"} in c["env"]
    assert ds["metadata"]["namespace"] == resolved.namespace
    assert ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "gpuslice-top"
    # the cluster view finds these pods with its default selector
    from gpuslice.top.view import AGENT_SELECTOR

    k, v = AGENT_SELECTOR.split("=")
    assert ds["spec"]["template"]["metadata"]["labels"][k] == v


def test_top_disabled_renders_nothing(tmp_path):
    from gpuslice.api import load
    from gpuslice.render import RenderOptions, top_agent

    resolved = load(_spec_with_top(tmp_path, ""))
    assert top_agent.render(resolved, RenderOptions(prove=False)).files == {}


def test_top_enabled_without_image_is_a_spec_error(cli, tmp_path):
    spec = _spec_with_top(tmp_path, "top:\n  enabled: true\n")
    r = cli("check", spec)
    assert r.exit_code == 2
    assert "top.enabled needs top.image" in r.stderr and "gpuslice.yaml" in r.stderr


# -- doctor reuses the top findings (a dump's gpuslice-top.json, the live agents through snapshot) ------------------


def test_doctor_reads_top_reports_beside_a_dump(cli, tmp_path):
    from tests import k8sfixtures as kf

    root = kf.healthy().write_dump(tmp_path / "dump")
    healthy = cli("doctor", "--dump", root, "-o", "json")
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0)])
    # what `gpuslice top -o json > DIR/gpuslice-top.json` writes
    (root / "gpuslice-top.json").write_text(json.dumps({"reports": [rep], "unreachable": [], "findings": []}))
    r = cli("doctor", "--dump", root, "-o", "json")
    before = {f["id"] for f in json.loads(healthy.stdout)["findings"]}
    after = {f["id"] for f in json.loads(r.stdout)["findings"]}
    assert after - before == {tf.OVER_SHARE, tf.IDLE_REPLICA}
    (root / "gpuslice-top.json").write_text("[1, 2")
    bad = cli("doctor", "--dump", root, "-o", "json")
    doc = json.loads(bad.stdout)
    assert any(f["id"] == "dump-unreadable" and "gpuslice-top.json" in f["message"] for f in doc["findings"])


def test_snapshot_captures_agent_reports(cli, tmp_path):
    from tests import k8sfixtures as kf
    from tests.fakeapi import FakeKube

    c = kf.healthy()
    c.pods.setdefault("monitoring", []).append(
        {
            "metadata": {
                "name": "gpuslice-top-x",
                "namespace": "monitoring",
                "labels": {"app.kubernetes.io/name": "gpuslice-top"},
            },
            "spec": {"nodeName": "gpu-a"},
            "status": {"phase": "Running"},
        }
    )
    rep = _report(tmp_path, [(101, 30.0, 70.0), (102, 5.0, 20.0)])
    with FakeKube(c) as api:
        api.proxies[("monitoring", "gpuslice-top-x", 9400)] = rep
        r = cli("snapshot", "--kubeconfig", api.kubeconfig(tmp_path), "-d", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "snap" / "gpuslice-top.json").read_text())
    assert saved[0]["node"] == "gpu-1"
    d = cli("doctor", "--dump", tmp_path / "snap", "-o", "json")
    assert tf.OVER_SHARE in {f["id"] for f in json.loads(d.stdout)["findings"]}


# -- the NVML sampler against a stand-in driver (the real GPU run is benchmarks/top_gpu_check.py) ------------------


class _FakeNvml:
    """pynvml's surface as NvmlSampler uses it, with the real binding's behaviours: processes as objects with
    ``pid``/``usedGpuMemory`` (None when NVML cannot say), utilisation samples since a timestamp in microseconds,
    and NVMLError (NOT_FOUND) when there are no samples."""

    class NVMLError(Exception):
        pass

    class _Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    def __init__(self, now_us: int):
        self.now_us = now_us
        self.asked_since: list[int] = []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("h", i)

    def nvmlDeviceGetMemoryInfo(self, h):
        return self._Obj(total=80 * GIB, used=13 * GIB, free=67 * GIB)

    def nvmlDeviceGetUtilizationRates(self, h):
        return self._Obj(gpu=64, memory=10)

    def nvmlDeviceGetComputeMode(self, h):
        return 3  # EXCLUSIVE_PROCESS, as the device plugin sets it for MPS

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        # the MPS server holds the context; NVML lists it with the memory of all its clients
        return [self._Obj(pid=500, usedGpuMemory=12 * GIB)]

    def nvmlDeviceGetMPSComputeRunningProcesses(self, h):
        return [self._Obj(pid=101, usedGpuMemory=8 * GIB), self._Obj(pid=102, usedGpuMemory=None)]

    def nvmlDeviceGetProcessUtilization(self, h, since):
        self.asked_since.append(since)
        samples = [
            self._Obj(pid=101, timeStamp=self.now_us - 300, smUtil=60, memUtil=5),
            self._Obj(pid=101, timeStamp=self.now_us - 200, smUtil=40, memUtil=7),
            self._Obj(pid=102, timeStamp=self.now_us - 100, smUtil=10, memUtil=1),
        ]
        got = [s for s in samples if s.timeStamp > since]
        if not got:
            raise self.NVMLError("Not Found")
        return got

    def nvmlDeviceGetUUID(self, h):
        return b"GPU-ffff"

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"

    def nvmlSystemGetDriverVersion(self):
        return "580.159.04"


def test_nvml_sampler_merges_mps_clients_and_averages_samples(tmp_path, monkeypatch):
    import sys
    import time as _time

    from gpuslice.top.nvml import NvmlSampler

    fake = _FakeNvml(now_us=int(_time.time() * 1e6))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    for pid, comm in ((500, "nvidia-cuda-mps-server"), (101, "python"), (102, "python")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    s = NvmlSampler(interval=5.0, proc=tmp_path)
    r = s.read()
    g = r.gpus[0]
    assert (g.uuid, g.name, g.compute_mode, g.utilization_gpu) == (
        "GPU-ffff",
        "NVIDIA H100 80GB HBM3",
        "Exclusive_Process",
        64,
    )
    by = {p.pid: p for p in g.processes}
    assert by[500].command == "nvidia-cuda-mps-server" and not by[500].mps_client
    assert by[101].mps_client and by[101].used_memory_bytes == 8 * GIB and by[101].sm_util == 50.0
    assert by[102].used_memory_bytes is None and by[102].sm_util == 10.0
    # the first read asks for the last `interval` seconds; the next one only for samples after the newest seen
    assert fake.now_us - 5.5e6 < fake.asked_since[0] < fake.now_us - 4.5e6
    r2 = s.read()
    assert fake.asked_since[1] == fake.now_us - 100
    assert all(p.sm_util is None for p in r2.gpus[0].processes)  # NOT_FOUND: no new samples, not an error
    # the report counts the clients, not the MPS server, against the replicas
    rep = build_report(r, node="n", sharing=Sharing("mps", 2), pods={}, allocations=[], proc=tmp_path)
    assert [p["mpsServer"] for p in rep["gpus"][0]["processes"]] == [False, False, True]
    assert tf.report_findings(rep) == []
    rep3 = build_report(r, node="n", sharing=Sharing("mps", 1), pods={}, allocations=[], proc=tmp_path)
    assert [f.id for f in tf.report_findings(rep3)] == [tf.OVERSUBSCRIBED]  # 2 clients on 1 replica
