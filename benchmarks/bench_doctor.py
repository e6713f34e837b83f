"""Time `gpuslice doctor` on generated `kubectl cluster-info dump` folders of 500 / 5,000 / 20,000 GPU nodes.

Each GPU node carries what an EKS GPU node running the GPU Operator carries: 8 operator pods (NFD worker, driver,
toolkit, device plugin, GFD, DCGM exporter, validator, the completed CUDA validator) and 4 kube-system pods
(aws-node, kube-proxy, ebs-csi-node, node-local-dns): 12 pods per node, so 5,000 nodes = 60,000 pods, with the
object shapes of ``tests/k8sfixtures.py`` (real `kubectl get -o json` shapes, ~9 KB per pod, indented like
kubectl). About 1% of the nodes are broken in ways doctor must find (config-manager crash loop, image pull failure
from nvcr.io, disk pressure), so the timed run does real work (log reading included), not just parsing.

Usage:  python benchmarks/bench_doctor.py [--nodes 500 5000 20000] [--keep DIR] [--all-logs]
Prints, per size: dump size, pods, generation time, doctor time (read + decode + every rule), findings.
Goal: <= 2 s at 5,000 nodes on the 2-core dev machine, growing linearly.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests import k8sfixtures as kf  # noqa: E402  (the object builders the tests use)

NS = "gpu-operator"
CM = "demo-1-dp-config-e7d8710c"
PROTO_NODE = "ip-10-9-99-99.ec2.internal"


def _prototype() -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """One GPU node and its 12 pods, named after PROTO_NODE (replaced per generated node)."""
    c = kf.Cluster(namespace=NS)
    n = kf.node(PROTO_NODE, pool="a10g-shared", nodegroup="demo-1-a10g-shared", config_label="time-slicing-4")
    kf.operator_pods_for(c, PROTO_NODE, cm_name=CM)
    kf.system_pods_for(c, PROTO_NODE)
    ebs = "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/aws-ebs-csi-driver:v1.48.0"
    c.add_pod(
        kf.pod(
            f"ebs-csi-node-{kf.suffix('ebs', PROTO_NODE)}",
            "kube-system",
            PROTO_NODE,
            owner=("DaemonSet", "ebs-csi-node"),
            labels={"app": "ebs-csi-node"},
            containers=[kf.container(x, ebs) for x in ("ebs-plugin", "node-driver-registrar", "liveness-probe")],
            statuses=[kf.running(x, ebs) for x in ("ebs-plugin", "node-driver-registrar", "liveness-probe")],
        )
    )
    nld = "registry.k8s.io/dns/k8s-dns-node-cache:1.26.4"
    c.add_pod(
        kf.pod(
            f"node-local-dns-{kf.suffix('nld', PROTO_NODE)}",
            "kube-system",
            PROTO_NODE,
            owner=("DaemonSet", "node-local-dns"),
            labels={"k8s-app": "node-local-dns"},
            host_network=True,
            containers=[kf.container("node-cache", nld)],
            statuses=[kf.running("node-cache", nld)],
        )
    )
    c.add_pod(
        kf.pod(
            f"nvidia-cuda-validator-{kf.suffix('cv', PROTO_NODE)}",
            NS,
            PROTO_NODE,
            labels={"app": "nvidia-cuda-validator"},
            init=[kf.container("cuda-validation", kf.OP_IMAGE)],
            init_statuses=[kf.completed("cuda-validation", kf.OP_IMAGE)],
            containers=[kf.container("nvidia-cuda-validator", kf.OP_IMAGE)],
            statuses=[kf.completed("nvidia-cuda-validator", kf.OP_IMAGE)],
            phase="Succeeded",
        )
    )
    return n, [(ns, p) for ns, ps in c.pods.items() for p in ps]


def _fault(i: int) -> str | None:
    """Which fault node ``i`` has (about 1% of the nodes)."""
    if i % 250 == 3:
        return "config-key"
    if i % 500 == 7:
        return "image-pull"
    if i % 1000 == 11:
        return "disk"
    return None


def _break(fault: str, node: dict[str, Any], pods: list[tuple[str, dict[str, Any]]]) -> dict[tuple[str, str], dict]:
    """Apply ``fault`` to a node's objects; returns logs to write (pod -> container -> lines)."""
    logs: dict[tuple[str, str], dict[str, list[str]]] = {}
    if fault == "disk":
        for cond in node["status"]["conditions"]:
            if cond["type"] == "DiskPressure":
                cond.update(
                    {"status": "True", "reason": "KubeletHasDiskPressure", "message": "kubelet has disk pressure"}
                )
    for ns, p in pods:
        pname = p["metadata"]["name"]
        if fault == "config-key" and pname.startswith("nvidia-device-plugin-daemonset-"):
            node["metadata"]["labels"]["nvidia.com/device-plugin.config"] = "time-slicing-8"
            p["status"]["phase"] = "Pending"
            p["status"]["initContainerStatuses"][1] = kf.waiting(
                "config-manager-init",
                kf.DP_IMAGE,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container",
                restarts=9,
            )
            logs[(ns, pname)] = {
                "config-manager-init": [
                    "E1120 10:40:01.102398       1 main.go:126] error: specified config time-slicing-8 does not exist"
                ]
            }
        if fault == "image-pull" and pname.startswith("nvidia-dcgm-exporter-"):
            p["status"]["phase"] = "Pending"
            p["status"]["containerStatuses"] = [
                kf.waiting(
                    "nvidia-dcgm-exporter",
                    kf.DCGM_EXPORTER_IMAGE,
                    "ImagePullBackOff",
                    f'Back-off pulling image "{kf.DCGM_EXPORTER_IMAGE}"',
                )
            ]
    return logs


def generate(root: Path, nodes: int, *, all_logs: bool = False) -> dict[str, int]:
    from gpuslice.cluster.snapshot import log_block

    proto_node, proto_pods = _prototype()
    node_t = json.dumps(proto_node, indent=4)
    pod_t = [(ns, p["metadata"]["name"], json.dumps(p, indent=4)) for ns, p in proto_pods]
    root.mkdir(parents=True)
    for ns in (NS, "kube-system", "default"):
        (root / ns).mkdir()

    def head(kind: str) -> str:
        return (
            f'{{\n    "kind": "{kind}",\n    "apiVersion": "v1",\n    "metadata": {{\n'
            '        "resourceVersion": "48213377"\n    },\n    "items": [\n'
        )

    outs = {ns: (root / ns / "pods.json").open("w", encoding="utf-8") for ns in (NS, "kube-system")}
    first = dict.fromkeys(outs, True)
    for fh in outs.values():
        fh.write(head("PodList"))
    events: list[dict[str, Any]] = []
    pods_written = 0
    with (root / "nodes.json").open("w", encoding="utf-8") as nf:
        nf.write(head("NodeList"))
        for i in range(nodes):
            name = f"ip-10-{i // 62500}-{(i // 250) % 250}-{i % 250}.ec2.internal"
            fault = _fault(i)
            logs: dict[tuple[str, str], dict[str, list[str]]] = {}
            if fault:
                node = json.loads(node_t.replace(PROTO_NODE, name))
                pods = [
                    (ns, json.loads(t.replace(pname, f"{pname[:-5]}n{i:05d}").replace(PROTO_NODE, name)))
                    for ns, pname, t in pod_t
                ]
                logs = _break(fault, node, pods)
                node_text = json.dumps(node, indent=4)
                texts = [(ns, p["metadata"]["name"], json.dumps(p, indent=4)) for ns, p in pods]
                if fault == "disk":
                    events.append(
                        kf.event(
                            "default",
                            "Node",
                            name,
                            "FreeDiskSpaceFailed",
                            "Failed to garbage collect required amount of images. Attempted to free "
                            "9461842534 bytes, but only found 0 bytes eligible to free.",
                            host=name,
                        )
                    )
            else:
                node_text = node_t.replace(PROTO_NODE, name)
                texts = [
                    (ns, f"{pname[:-5]}n{i:05d}", t.replace(pname, f"{pname[:-5]}n{i:05d}").replace(PROTO_NODE, name))
                    for ns, pname, t in pod_t
                ]
            nf.write(("" if i == 0 else ",\n") + textwrap.indent(node_text, " " * 8))
            events.append(
                kf.event(
                    "default",
                    "Node",
                    name,
                    "NodeReady",
                    f"Node {name} status is now: NodeReady",
                    type_="Normal",
                    host=name,
                )
            )
            for ns, pname, text in texts:
                outs[ns].write(("" if first[ns] else ",\n") + textwrap.indent(text, " " * 8))
                first[ns] = False
                pods_written += 1
                if all_logs or (ns, pname) in logs:
                    d = root / ns / pname
                    d.mkdir()
                    got = logs.get((ns, pname), {})
                    (d / "logs.txt").write_text(
                        "".join(log_block(ns, pname, c, got.get(c, [])) for c in got or ["main"]), encoding="utf-8"
                    )
        nf.write("\n    ]\n}\n")
    for fh in outs.values():
        fh.write("\n    ]\n}\n")
        fh.close()
    doc = lambda kind, api, items: json.dumps(  # noqa: E731
        {"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "48213377"}, "items": items}, indent=4
    )
    (root / "default" / "events.json").write_text(doc("EventList", "v1", events))
    (root / NS / "daemonsets.json").write_text(
        doc(
            "DaemonSetList",
            "apps/v1",
            [
                kf.daemonset(n, NS, desired=nodes, volumes=[kf.configmap_volume(CM)])
                for n in ("nvidia-device-plugin-daemonset", "gpu-feature-discovery")
            ],
        )
    )
    (root / "clusterpolicies.json").write_text(
        doc("ClusterPolicyList", "nvidia.com/v1", [kf.clusterpolicy(cm_name=CM, default="exclusive")])
    )
    data = {
        "exclusive": "version: v1\nflags:\n  migStrategy: none\n",
        "time-slicing-4": "version: v1\nflags:\n  migStrategy: none\nsharing:\n  timeSlicing:\n"
        "    resources:\n    - name: nvidia.com/gpu\n      replicas: 4\n",
    }
    (root / NS / "configmaps.json").write_text(doc("ConfigMapList", "v1", [kf.configmap(CM, NS, data)]))
    return {"pods": pods_written, "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file())}


def run_doctor(root: Path) -> tuple[float, list[str]]:
    from gpuslice.cluster.doctor import run_doctor as doctor
    from gpuslice.cluster.dump import DumpSource
    from gpuslice.cluster.view import load_view

    t = time.perf_counter()
    view = load_view(DumpSource(root))
    findings = doctor(view)
    return time.perf_counter() - t, sorted({f"{f.severity.value}:{f.id}" for f in findings})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[500, 5000, 20000])
    ap.add_argument("--keep", type=Path, help="keep the generated dumps under this folder")
    ap.add_argument("--all-logs", action="store_true", help="write logs.txt for every pod, as kubectl does")
    ap.add_argument("--repeat", type=int, default=3, help="doctor runs per size (the best is reported)")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-doctor-"))
    rows = []
    try:
        for n in args.nodes:
            root = base / f"dump-{n}"
            if root.exists():
                shutil.rmtree(root)
            t = time.perf_counter()
            st = generate(root, n, all_logs=args.all_logs)
            gen = time.perf_counter() - t
            times = []
            found: list[str] = []
            for _ in range(args.repeat):
                dt, found = run_doctor(root)
                times.append(dt)
            best = min(times)
            rows.append((n, st["pods"], st["bytes"], gen, best))
            print(
                f"{n:>6} GPU nodes | {st['pods']:>7} pods | dump {st['bytes'] / 1e6:8.1f} MB | generated in "
                f"{gen:6.1f} s | doctor {best:6.2f} s (runs: {', '.join(f'{x:.2f}' for x in times)}) | "
                f"{best / n * 1000:.3f} ms/node",
                flush=True,
            )
            print(f"         findings: {', '.join(found)}", flush=True)
            if not args.keep:
                shutil.rmtree(root)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if len(rows) > 1:
        (n0, *_rest0, t0), (n1, *_rest1, t1) = rows[0], rows[-1]
        print(f"scaling {n0} -> {n1} nodes ({n1 / n0:.0f}x): doctor time x{t1 / t0:.1f}")


if __name__ == "__main__":
    main()
