"""doctor on real-world message variants and real-world dump shapes.

Every message below is the text a user posted (issue cited per case, wording kept; node/pod names adapted to the
fixture cluster), put where the kubelet puts it (a container state, a pod event), on top of the healthy fixture
cluster of tests/k8sfixtures.py. Sources are listed in tests/fixtures/dumps/SOURCE.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gpuslice import api
from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor import run_doctor
from gpuslice.cluster.dump import DumpSource
from gpuslice.cluster.view import load_view
from gpuslice.findings import Severity
from tests import k8sfixtures as kf

GPU1, GPU4 = kf.GPU1, kf.GPU4
NS = "gpu-operator"


@pytest.fixture(scope="module")
def resolved():
    return api.load(kf.SPEC)


def _doctor(c: kf.Cluster, tmp: Path, resolved=None):
    return run_doctor(load_view(DumpSource(c.write_dump(tmp))), resolved)


def _serious(findings):
    return [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]


# ---------------------------------------------------------------------------------------------------------------
# image pulls: containerd, docker(shim) and CRI-O wording, digests, private registries with a port


def _pull(image: str, state_reason: str, state_msg: str, event_msg: str | None) -> Callable[[kf.Cluster], None]:
    def mutate(c: kf.Cluster) -> None:
        p = kf._set_pod(
            c,
            NS,
            "nvidia-driver-daemonset",
            node_name=GPU1,
            statuses=[kf.waiting("nvidia-driver-ctr", image, state_reason, state_msg)],
        )
        if event_msg:
            c.add_event(
                kf.event(
                    NS,
                    "Pod",
                    p["metadata"]["name"],
                    "Failed",
                    event_msg,
                    host=GPU1,
                    count=6,
                    field_path="spec.containers{nvidia-driver-ctr}",
                )
            )

    return mutate


D273 = "nvcr.io/nvidia/driver:460.73.01-ubuntu21.04"
D519 = "registry.kubeoperator.io:8082/kubeoperator/driver:460.73.01-ubuntu20.04"
D199 = "nvcr.io/nvidia/driver:460.73.01-rhcos4.7"
D560 = "nvcr.io/nvidia/cuda@sha256:ed723a1339cddd75eb9f2be2f3476edf497a1b189c10c9bf9eb8da4a16a51a59"
PULL_IDS = ("image-pull", "driver-image-unpublished", "image-not-found")
PULLS = {
    # gpu-operator #273, containerd 1.x: the tag does not exist (no driver for Ubuntu 21.04): not a mirror problem
    "containerd-notfound": (
        D273,
        "driver-image-unpublished",
        _pull(
            D273,
            "ErrImagePull",
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{D273}": failed to resolve reference '
            f'"{D273}": {D273}: not found',
            f'Failed to pull image "{D273}": rpc error: code = NotFound desc = failed to pull and unpack image "{D273}": '
            f'failed to resolve reference "{D273}": {D273}: not found',
        ),
    ),
    # KubeOperator #519, dockershim, a private registry with a port
    "docker-manifest-unknown": (
        D519,
        "image-pull-mirror",
        _pull(
            D519,
            "ImagePullBackOff",
            f'Back-off pulling image "{D519}"',
            f'Failed to pull image "{D519}": rpc error: code = Unknown desc = Error response from daemon: manifest for '
            f"{D519} not found: manifest unknown: manifest unknown",
        ),
    ),
    # gpu-operator #199, CRI-O
    "crio-ping": (
        D199,
        "image-pull-upstream",
        _pull(
            D199,
            "ErrImagePull",
            "rpc error: code = Unknown desc = error pinging docker registry nvcr.io: Get "
            '"https://nvcr.io/v2/": Method Not Allowed',
            f'Failed to pull image "{D199}": rpc error: code = Unknown desc = error pinging docker registry nvcr.io: '
            'Get "https://nvcr.io/v2/": Method Not Allowed',
        ),
    ),
    # gpu-operator #560, image by digest, Back-off only
    "backoff-digest": (
        D560,
        "image-pull-upstream",
        _pull(D560, "ImagePullBackOff", f'Back-off pulling image "{D560}"', None),
    ),
    # kubelet >= 1.30 wording (no rpc prefix, reason appended to the back-off)
    "kubelet-130": (
        D273,
        "image-pull-upstream",
        _pull(
            D273,
            "ImagePullBackOff",
            f'Back-off pulling image "{D273}": ErrImagePull: failed to pull and unpack image "docker.io/{D273}": '
            "failed to resolve reference: dial tcp 3.227.49.224:443: i/o timeout",
            None,
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(PULLS))
def test_image_pull_variants(case, tmp_path):
    image, fid, mutate = PULLS[case]
    c = kf.healthy()
    mutate(c)
    got = [f for f in _doctor(c, tmp_path) if f.id.startswith(PULL_IDS)]
    assert [f.id for f in got] == [fid], [(f.id, f.message) for f in got]
    assert image in got[0].message


def test_image_pull_seen_only_in_events(tmp_path):
    """The failing pod was replaced (a DaemonSet rollout): only its events are left in the dump."""
    c = kf.healthy()
    for reason, msg in (
        ("Failed", f'Failed to pull image "{D273}": rpc error: code = NotFound desc = not found'),
        ("BackOff", f'Back-off pulling image "{D273}"'),
    ):
        c.add_event(kf.event(NS, "Pod", "nvidia-driver-daemonset-gone1", reason, msg, host=GPU1, count=3))
    got = [f for f in _doctor(c, tmp_path) if f.id.startswith(PULL_IDS)]
    assert [f.id for f in got] == ["driver-image-unpublished"] and D273 in got[0].message


# ---------------------------------------------------------------------------------------------------------------
# GLIBC, nvidia runtime handler, config-manager, kernel headers, CoreDNS


GLIBC_755 = (
    "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc "
    "create failed: unable to start container process: error during container init: error running hook #0: "
    "error running hook: exit status 1, stdout: , stderr: /usr/local/nvidia/toolkit/nvidia-container-cli.real:"
    " /lib64/libc.so.6: version `GLIBC_2.27' not found (required by "
    "/usr/local/nvidia/toolkit/libnvidia-container.so.1): unknown"
)
GLIBC_557 = GLIBC_755.replace("version `GLIBC", "versionGLIBC")  # data-on-eks #557: the backtick lost in markdown
GLIBC_72 = (
    'Error: failed to start container "nvidia-driver-ctr": Error response from daemon: OCI runtime create '
    "failed: container_linux.go:367: starting container process caused: process_linux.go:495: container init "
    "caused: Running hook #0:: error running hook: exit status 1, stdout: , stderr: "
    "/usr/local/nvidia/toolkit/nvidia-container-cli.real: /lib64/libc.so.6: version `GLIBC_2.27' not found "
    "(required by /usr/local/nvidia/toolkit/libnvidia-container.so.1): unknown"
)


@pytest.mark.parametrize("text", [GLIBC_755, GLIBC_557, GLIBC_72], ids=["op755", "doe557", "op72-docker"])
def test_glibc_variants(text, tmp_path):
    c = kf.healthy()
    p = kf._set_pod(
        c,
        NS,
        "nvidia-operator-validator",
        node_name=GPU1,
        init_statuses=[kf.waiting("toolkit-validation", kf.OP_IMAGE, "RunContainerError", restarts=2, last_exit=128)],
        statuses=[kf.waiting("nvidia-operator-validator", kf.OP_IMAGE, "PodInitializing")],
    )
    c.add_event(kf.event(NS, "Pod", p["metadata"]["name"], "Failed", text, host=GPU1, count=3))
    got = [f for f in _doctor(c, tmp_path) if f.id == "toolkit-glibc"]
    assert len(got) == 1 and GPU1 in got[0].message


SANDBOX = "Failed to create pod sandbox: rpc error: code = Unknown desc = "
RUNTIME = {
    "containerd1-op730": (SANDBOX + 'failed to get sandbox runtime: no runtime for "nvidia" is configured', "nvidia"),
    "curly-quotes-op759": (SANDBOX + "failed to get sandbox runtime: no runtime for “nvidia” is configured", "nvidia"),
    "containerd2-cdi": (
        SANDBOX + 'unable to get OCI runtime for sandbox "3f1c": no runtime for "nvidia-cdi" is configured',
        "nvidia-cdi",
    ),
    "crio": (
        SANDBOX + "failed to find runtime handler nvidia from runtime list map[crun:0xc0004a6000 runc:0xc0004a60f0]",
        "nvidia",
    ),
}


@pytest.mark.parametrize("case", sorted(RUNTIME))
@pytest.mark.parametrize("with_host", [True, False], ids=["source.host", "no-source-host"])
def test_runtime_handler_variants(case, with_host, tmp_path):
    text, handler = RUNTIME[case]
    c = kf.healthy()
    p = kf._set_pod(
        c,
        NS,
        "nvidia-dcgm-exporter",
        node_name=GPU4,
        statuses=[kf.waiting("nvidia-dcgm-exporter", kf.DCGM_EXPORTER_IMAGE, "ContainerCreating")],
    )
    ev = kf.event(NS, "Pod", p["metadata"]["name"], "FailedCreatePodSandBox", text, host=GPU4, count=10)
    if not with_host:  # events written through events.k8s.io carry reportingInstance, not source.host
        ev["source"] = {}
        ev["reportingInstance"] = ""
    c.add_event(ev)
    got = [f for f in _doctor(c, tmp_path) if f.id == "runtime-nvidia-missing"]
    assert len(got) == 1, [f.id for f in _doctor(c, tmp_path)]
    assert f"`{handler}`" in got[0].message and GPU4 in got[0].message


def test_runtime_handler_of_another_runtime_is_not_nvidia(tmp_path):
    c = kf.healthy()
    p = kf._set_pod(
        c,
        NS,
        "nvidia-dcgm-exporter",
        node_name=GPU4,
        statuses=[kf.waiting("nvidia-dcgm-exporter", kf.DCGM_EXPORTER_IMAGE, "ContainerCreating")],
    )
    c.add_event(
        kf.event(
            NS,
            "Pod",
            p["metadata"]["name"],
            "FailedCreatePodSandBox",
            SANDBOX + 'failed to get sandbox runtime: no runtime for "runsc" is configured',
            host=GPU4,
        )
    )
    assert not [f for f in _doctor(c, tmp_path) if f.id == "runtime-nvidia-missing"]


def test_config_manager_missing_default_key(resolved, tmp_path):
    """Unlabelled node, ClusterPolicy default not in the ConfigMap: config-manager prints an EMPTY key
    ('specified config  does not exist', k8s-device-plugin cmd/config-manager updateConfigName)."""
    c = kf.healthy()
    assert c.clusterpolicies is not None
    c.clusterpolicies[0]["spec"]["devicePlugin"]["config"]["default"] = "any"
    del c.node(GPU1)["metadata"]["labels"]["nvidia.com/device-plugin.config"]
    log = [
        "I1120 10:40:01.100212       1 main.go:254] Waiting for change to 'nvidia.com/device-plugin.config' label",
        "I1120 10:40:01.100301       1 main.go:256] Label change detected: nvidia.com/device-plugin.config=",
        "I1120 10:40:01.100390       1 main.go:362] No value set. Selecting default name: any",
        "E1120 10:40:01.102398       1 main.go:126] specified config  does not exist",
    ]
    kf._set_pod(
        c,
        NS,
        "nvidia-device-plugin-daemonset",
        node_name=GPU1,
        init_statuses=[
            kf.completed("toolkit-validation", kf.OP_IMAGE),
            kf.waiting("config-manager-init", kf.DP_IMAGE, "CrashLoopBackOff", restarts=4),
        ],
        statuses=[kf.waiting("nvidia-device-plugin", kf.DP_IMAGE, "PodInitializing")],
        logs={"config-manager-init": log},
    )
    got = [f for f in _doctor(c, tmp_path) if f.id == "config-manager-missing-key"]
    assert len(got) == 1, [(f.message) for f in got]
    assert "'any'" in got[0].message and "''" not in got[0].message


KERNEL_155 = (
    "Unable to open the file '/lib/modules/3.10.0-862.el7.x86_64/proc/version' (No such file or "
    "directory).Could not resolve Linux kernel version"
)


@pytest.mark.parametrize(
    "lines",
    [
        [
            "Resolving Linux kernel version...",
            "Could not resolve Linux kernel version",
            "Stopping NVIDIA persistence daemon...",
        ],  # gpu-operator #85
        ["Updating the package cache...", "Resolving Linux kernel version...", KERNEL_155],  # gpu-operator #155
    ],
    ids=["op85", "op155"],
)
def test_kernel_header_variants(lines, tmp_path):
    c = kf.healthy()
    kf._set_pod(
        c,
        NS,
        "nvidia-driver-daemonset",
        node_name=GPU1,
        statuses=[kf.waiting("nvidia-driver-ctr", kf.DRIVER_IMAGE, "CrashLoopBackOff", restarts=14)],
        logs={"nvidia-driver-ctr": lines},
    )
    assert [f.id for f in _doctor(c, tmp_path) if f.id == "driver-kernel-headers"] == ["driver-kernel-headers"]


@pytest.mark.parametrize(
    ("line", "fid"),
    [
        ("Listen: listen tcp :53: bind: address already in use", "coredns-port-in-use"),  # coredns #3834
        ("Listen: listen udp [::]:53: bind: address already in use", "coredns-port-in-use"),
        (
            '[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone ".", see '
            'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."',
            "coredns-loop",
        ),
        (
            '[FATAL] plugin/loop: Forwarding loop detected in "." zone. Exiting. See '
            'https://coredns.io/plugins/loop#troubleshooting. Probe query: "HINFO 4547991504243258144.3688648895315093531."',
            "coredns-loop",
        ),  # CoreDNS 1.2/1.3 (kubernetes/kubernetes #70202)
        ("Listen: listen tcp :8080: bind: address already in use", None),  # another port: not DNS
    ],
)
def test_coredns_variants(line, fid, tmp_path):
    c = kf.healthy()
    for p in [p for p in c.pods["kube-system"] if p["metadata"]["name"].startswith("coredns-")]:
        p["status"]["containerStatuses"] = [kf.waiting("coredns", kf.COREDNS_IMAGE, "CrashLoopBackOff", restarts=5)]
        p["spec"]["nodeName"] = GPU1
        c.logs[("kube-system", p["metadata"]["name"])] = {"coredns": [".:53", "CoreDNS-1.12.2", line]}
    got = {f.id for f in _doctor(c, tmp_path) if f.id.startswith("coredns")}
    assert got == ({fid} if fid else set())


# ---------------------------------------------------------------------------------------------------------------
# disk pressure: node conditions, eviction events and messages, image GC; and what is NOT disk pressure


@pytest.mark.parametrize(
    ("reason", "msg", "fires"),
    [
        ("EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", True),
        ("EvictionThresholdMet", "Attempting to reclaim inodes", True),
        ("EvictionThresholdMet", "Attempting to reclaim imagefs", True),  # kubelet < 1.10
        (
            "FreeDiskSpaceFailed",
            "failed to garbage collect required amount of images. Wanted to free 6213301043 bytes, but freed 0 bytes",
            True,
        ),  # kubelet < 1.29 wording
        ("EvictionThresholdMet", "Attempting to reclaim memory", False),
        ("InvalidDiskCapacity", "invalid capacity 0 on image filesystem", False),  # every node at boot
    ],
)
def test_disk_events(reason, msg, fires, tmp_path):
    c = kf.healthy()
    c.add_event(kf.event("default", "Node", GPU1, reason, msg, host=GPU1))
    got = [f.id for f in _doctor(c, tmp_path) if f.id == "gpu-node-disk-pressure"]
    assert got == (["gpu-node-disk-pressure"] if fires else [])


@pytest.mark.parametrize(
    ("message", "fires"),
    [
        (
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 4108936Ki. Container "
            "worker was using 81246124Ki, request is 0, has larger consumption of ephemeral-storage. ",
            True,
        ),
        (
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 87544Ki. Container worker was "
            "using 15203624Ki, request is 8Gi, has larger consumption of memory. ",
            False,
        ),
        ("Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ", False),  # the pod's own limit
    ],
)
def test_evicted_pods_on_gpu_nodes(message, fires, tmp_path):
    c = kf.healthy()
    img = "nvcr.io/nvidia/pytorch:25.08-py3"
    c.add_pod(
        kf.pod(
            "trainer-7c9d8-x2x4q",
            "ml",
            GPU1,
            containers=[kf.container("worker", img)],
            statuses=[],
            phase="Failed",
            status_extra={"reason": "Evicted", "message": message},
        )
    )
    got = [f.id for f in _doctor(c, tmp_path) if f.id == "gpu-node-disk-pressure"]
    assert got == (["gpu-node-disk-pressure"] if fires else [])


def test_disk_pressure_on_a_cpu_node_is_not_a_gpu_finding(tmp_path):
    c = kf.healthy()
    cpu = "ip-10-0-2-41.ec2.internal"
    c.add_event(
        kf.event("default", "Node", cpu, "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", host=cpu)
    )
    assert not [f for f in _doctor(c, tmp_path) if f.id == "gpu-node-disk-pressure"]


# ---------------------------------------------------------------------------------------------------------------
# Bottlerocket as EKS labels it (no NFD labels at all, only the osImage)


def test_bottlerocket_recognised_by_os_image_alone(tmp_path):
    c = kf.healthy()
    n = c.node(GPU1)
    n["status"]["nodeInfo"].update(
        {
            "osImage": "Bottlerocket OS 1.26.2 (aws-k8s-1.31-nvidia)",
            "containerRuntimeVersion": "containerd://1.7.22+bottlerocket",
        }
    )
    for key in [x for x in n["metadata"]["labels"] if x.startswith("feature.node.kubernetes.io/system-os")]:
        del n["metadata"]["labels"][key]
    got = {f.id for f in _doctor(c, tmp_path)}
    assert "bottlerocket-device-plugin" in got


# ---------------------------------------------------------------------------------------------------------------
# dump shapes kubectl really writes: other namespaces, YAML output, unknown files; a busy healthy cluster


def _busy(c: kf.Cluster, namespaces: int = 30) -> None:
    """Unrelated workloads of a real cluster: running, completed, restarted, evicted for memory, a healthy
    node-local DNS, an app log that says 'address already in use' on another port, CPU-node DiskPressure noise."""
    cpu = "ip-10-0-2-41.ec2.internal"
    for i in range(namespaces):
        ns = f"team-{i:02d}"
        img = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-{i:02d}/api:1.{i}.0"
        node = (cpu, GPU1, GPU4)[i % 3]
        for j in range(4):
            c.add_pod(
                kf.pod(
                    f"api-5f7d9c{i:02d}-{kf.suffix(ns, str(j))}",
                    ns,
                    node,
                    owner=("ReplicaSet", "api"),
                    containers=[kf.container("api", img)],
                    statuses=[kf.running("api", img, restarts=j)],
                ),
                logs={
                    "api": [
                        "GET /healthz 200",
                        "listen tcp :8080: bind: address already in use (retrying)",
                        "image pull policy: IfNotPresent",
                    ]
                },
            )
        c.add_pod(
            kf.pod(
                f"migrate-{kf.suffix(ns, 'job')}",
                ns,
                cpu,
                owner=("Job", "migrate"),
                containers=[kf.container("migrate", img)],
                statuses=[kf.completed("migrate", img)],
                phase="Succeeded",
            )
        )
        c.add_event(
            kf.event(
                ns,
                "Pod",
                f"api-5f7d9c{i:02d}-x",
                "Pulled",
                f'Successfully pulled image "{img}" in 1.2s (1.2s including waiting)',
                type_="Normal",
                host=node,
            )
        )
        c.add_event(
            kf.event(
                ns,
                "Pod",
                f"api-5f7d9c{i:02d}-y",
                "Evicted",
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 2Mi. ",
                host=node,
            )
        )
    c.add_event(
        kf.event("default", "Node", cpu, "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", host=cpu)
    )
    c.add_event(
        kf.event("default", "Node", GPU1, "InvalidDiskCapacity", "invalid capacity 0 on image filesystem", host=GPU1)
    )


def test_busy_healthy_cluster_has_no_findings(resolved, tmp_path):
    c = kf.healthy()
    _busy(c)
    for spec in (None, resolved):
        assert _serious(_doctor(c, tmp_path / str(bool(spec)), spec)) == []


def _to_yaml_dump(src: Path, dst: Path) -> None:
    """`kubectl cluster-info dump -o yaml --output-directory`: every list as .yaml, logs as they are."""
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_dir():
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".json":
            out.with_suffix(".yaml").write_text(yaml.safe_dump(json.loads(p.read_text()), sort_keys=False))
        else:
            shutil.copy(p, out)


def test_yaml_dump_with_other_namespaces_and_stray_files(resolved, tmp_path):
    c = kf.healthy()
    _busy(c, namespaces=6)
    p = kf._set_pod(
        c,
        NS,
        "nvidia-dcgm-exporter",
        node_name=GPU4,
        statuses=[kf.waiting("nvidia-dcgm-exporter", kf.DCGM_EXPORTER_IMAGE, "ContainerCreating")],
    )
    c.add_event(
        kf.event(NS, "Pod", p["metadata"]["name"], "FailedCreatePodSandBox", RUNTIME["containerd1-op730"][0], host=GPU4)
    )
    js = c.write_dump(tmp_path / "json", snapshot_extras=False)
    ym = tmp_path / "yaml"
    _to_yaml_dump(js, ym)
    # what else lands in a support bundle folder
    (ym / ".DS_Store").write_bytes(b"\x00\x01binary")
    (ym / "README.txt").write_text("collected by support\n")
    (ym / "team-00" / "notes.md").write_text("# nothing\n")
    (ym / "empty-ns").mkdir()
    (ym / "only-logs" / "some-pod-abc").mkdir(parents=True)
    (ym / "only-logs" / "some-pod-abc" / "logs.txt").write_text(
        "==== START logs for container c of pod only-logs/some-pod-abc ====\nhello\n"
    )
    (ym / "kube-public").mkdir()
    (ym / "kube-public" / "pods.yaml").write_text("apiVersion: v1\nkind: PodList\nitems: null\n")
    for root in (js, ym):
        findings = run_doctor(load_view(DumpSource(root)), resolved)
        assert [f.id for f in _serious(findings)] == ["runtime-nvidia-missing"], [
            (f.id, f.message) for f in _serious(findings)
        ]


def test_kubectl_stdout_dump_file_gets_a_clear_message(tmp_path, cli):
    """`kubectl cluster-info dump > dump.json` (no --output-directory) is one file, not a folder."""
    f = tmp_path / "cluster-dump.json"
    f.write_text('{"kind": "NodeList", "apiVersion": "v1", "items": []}\n')
    res = cli("doctor", "--dump", str(f))
    assert res.exit_code == 2
    out = res.stdout + (res.stderr or "")
    assert "--output-directory" in out and "Traceback" not in out


def test_signature_sources_are_documented():
    for sid in ("no-nvidia-runtime", "dns-loop", "disk-eviction", "glibc", "config-missing"):
        assert k.signature(sid).source


@pytest.mark.parametrize("pod_name", ["running", "replaced"])
def test_stale_pull_events_of_a_recovered_pod_are_not_findings(pod_name, tmp_path):
    """Events live an hour: a pull that failed and then worked (or a pod replaced by one that runs the image)
    leaves BackOff/Failed events behind while everything runs."""
    c = kf.healthy()
    p = c.pod(NS, "nvidia-driver-daemonset")
    name = p["metadata"]["name"] if pod_name == "running" else "nvidia-driver-daemonset-old42"
    img = kf.DRIVER_IMAGE
    c.add_event(
        kf.event(
            NS,
            "Pod",
            name,
            "Failed",
            f'Failed to pull image "{img}": rpc error: code = Unknown desc = '
            "failed to pull and unpack image: dial tcp 3.227.49.224:443: i/o timeout",
            host=GPU1,
        )
    )
    c.add_event(kf.event(NS, "Pod", name, "BackOff", f'Back-off pulling image "{img}"', type_="Normal", host=GPU1))
    assert not [f for f in _doctor(c, tmp_path) if f.id.startswith("image-pull")]


def test_plain_kubectl_dump_without_the_operator_namespace_says_so(tmp_path, cli):
    """`kubectl cluster-info dump --output-directory DIR` without --all-namespaces has only default and kube-system:
    'No findings' would be a lie."""
    c = kf.healthy()
    d = c.write_dump(tmp_path / "d", snapshot_extras=False)
    shutil.rmtree(d / NS)
    got = [f for f in run_doctor(load_view(DumpSource(d))) if f.severity is not Severity.INFO]
    assert [f.id for f in got] == ["operator-not-found"]
    assert "--all-namespaces" in got[0].fix and "kube-system" in got[0].message
    res = cli("doctor", "--dump", str(d), "--output", "json")
    assert res.exit_code == 0 and "operator-not-found" in res.stdout


@pytest.mark.parametrize(
    "labels",
    [
        {"node.kubernetes.io/instance-type": "g5.2xlarge"},  # EKS managed node group
        {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia", "karpenter.k8s.aws/instance-gpu-count": "1"},
    ],
    ids=["instance-type", "karpenter"],
)
def test_gpu_node_known_before_nfd_ran(labels, tmp_path):
    """NFD's worker does not tolerate the GPU taint: no PCI label, no gpu.present, no advertised GPU. Without a
    spec the node must still count as a GPU node (the NFD-label rule and disk rule look at GPU nodes only)."""
    c = kf.healthy()
    n = kf.node(
        "ip-10-0-9-9.ec2.internal",
        instance_type="m6i.large",
        gpus=0,
        nfd=False,
        gfd=False,
        disk_pressure=True,
        extra_labels=labels,
    )
    for key in ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"):
        n["metadata"]["labels"].pop(key, None)
    n["metadata"]["labels"].update(labels)
    c.nodes.append(n)
    got = {f.id for f in _doctor(c, tmp_path)}
    assert {"nfd-os-labels-missing", "gpu-node-disk-pressure"} <= got
