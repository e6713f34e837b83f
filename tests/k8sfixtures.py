"""Kubernetes objects shaped exactly as the API returns them, and clusters built from them.

Used three ways: to write the fixture dumps under ``tests/fixtures/dumps`` (``python -m tests.k8sfixtures``; a test
checks the checked-in folders are current), to seed the fake API server (``tests/fakeapi.py``), and by
``benchmarks/bench_doctor.py`` to generate a 5,000-node dump. The shapes follow real ``kubectl get -o json`` /
``kubectl cluster-info dump`` output of an EKS cluster running the GPU Operator (v26.7.0): lists have ``kind``,
``apiVersion`` and ``metadata``, their items do not carry ``kind``/``apiVersion`` (typed lists), timestamps are
RFC 3339, quantities are strings, unset optional fields are absent.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DUMPS = ROOT / "fixtures" / "dumps"
SPEC = DUMPS / "gpuslice.yaml"

T0 = "2026-11-20T09:00:00Z"
T1 = "2026-11-20T09:03:12Z"
T2 = "2026-11-20T10:41:55Z"
OPERATOR_VERSION = "v26.7.0"
DP_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
OP_IMAGE = f"nvcr.io/nvidia/gpu-operator:{OPERATOR_VERSION}"
TOOLKIT_IMAGE = "nvcr.io/nvidia/k8s/container-toolkit:v1.20.0"
DRIVER_IMAGE = "nvcr.io/nvidia/driver:595.91.07-ubuntu22.04"
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless"
NFD_IMAGE = "registry.k8s.io/nfd/node-feature-discovery:v0.19.0"


def uid(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def rv(*parts: str) -> str:
    return str(int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:7], 16))


def suffix(*parts: str, n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = int(hashlib.sha256("/".join(parts).encode()).hexdigest(), 16)
    out = ""
    for _ in range(n):
        h, r = divmod(h, len(alphabet))
        out += alphabet[r]
    return out


# -- nodes -----------------------------------------------------------------------------------------------------


def node(
    name: str,
    *,
    instance_type: str = "g5.xlarge",
    gpus: int = 1,
    replicas: int = 4,
    strategy: str = "time-slicing",
    product: str = "NVIDIA-A10G",
    pool: str | None = None,
    nodegroup: str | None = None,
    config_label: str | None = None,
    os_id: str = "ubuntu",
    os_version: str = "22.04",
    os_image: str = "Ubuntu 22.04.5 LTS",
    kernel: str = "6.8.0-1021-aws",
    gfd: bool = True,
    nfd: bool = True,
    zone: str = "us-east-1a",
    taints: list[dict[str, Any]] | None = None,
    renamed: bool = False,
    extra_labels: dict[str, str] | None = None,
    disk_pressure: bool = False,
    ready: bool = True,
    capacity_gpus: int | None = None,
) -> dict[str, Any]:
    """A GPU (``gpus > 0``) or CPU node as ``kubectl get node -o json`` shows it, with the labels NFD, GFD and
    the operator put there when everything works."""
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "failure-domain.beta.kubernetes.io/region": zone[:-1],
        "failure-domain.beta.kubernetes.io/zone": zone,
        "k8s.io/cloud-provider-aws": "b69c1ba8b8fa1f8b6f8f1e2a5c0b6f0e",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.k8s.aws/zone-id": "use1-az4",
        "topology.kubernetes.io/region": zone[:-1],
        "topology.kubernetes.io/zone": zone,
    }
    if nodegroup:
        labels["eks.amazonaws.com/nodegroup"] = nodegroup
        labels["eks.amazonaws.com/nodegroup-image"] = "ami-0b5d6e0c3a8f9d1e2"
    if pool:
        labels["gpuslice.dev/pool"] = pool
    if nfd:
        labels.update(
            {
                "feature.node.kubernetes.io/cpu-cpuid.AVX2": "true",
                "feature.node.kubernetes.io/cpu-model.vendor_id": "AMD",
                "feature.node.kubernetes.io/kernel-version.full": kernel,
                "feature.node.kubernetes.io/kernel-version.major": kernel.split(".")[0],
                "feature.node.kubernetes.io/system-os_release.ID": os_id,
                "feature.node.kubernetes.io/system-os_release.VERSION_ID": os_version,
                "feature.node.kubernetes.io/system-os_release.VERSION_ID.major": os_version.split(".")[0],
            }
        )
        if gpus:
            labels["feature.node.kubernetes.io/pci-10de.present"] = "true"
            labels["feature.node.kubernetes.io/pci-1d0f.present"] = "true"
    shared = strategy != "none" and replicas > 1
    if gpus:
        for operand in (
            "container-toolkit",
            "dcgm",
            "dcgm-exporter",
            "device-plugin",
            "driver",
            "gpu-feature-discovery",
            "node-status-exporter",
            "operator-validator",
        ):
            labels[f"nvidia.com/gpu.deploy.{operand}"] = "true"
        labels["nvidia.com/gpu.present"] = "true"
        if config_label:
            labels["nvidia.com/device-plugin.config"] = config_label
        if gfd:
            labels.update(
                {
                    "nvidia.com/cuda.driver-version.full": "595.91.07",
                    "nvidia.com/cuda.driver-version.major": "595",
                    "nvidia.com/cuda.runtime-version.full": "13.1",
                    "nvidia.com/gfd.timestamp": "1763629392",
                    "nvidia.com/gpu.compute.major": "8",
                    "nvidia.com/gpu.compute.minor": "6",
                    "nvidia.com/gpu.count": str(gpus),
                    "nvidia.com/gpu.family": "ampere",
                    "nvidia.com/gpu.machine": instance_type,
                    "nvidia.com/gpu.memory": "23028",
                    "nvidia.com/gpu.mode": "compute",
                    "nvidia.com/gpu.product": product + ("-SHARED" if shared and not renamed else ""),
                    "nvidia.com/gpu.replicas": str(replicas if shared else 1),
                    "nvidia.com/gpu.sharing-strategy": strategy if shared else "none",
                    "nvidia.com/mig.capable": "false",
                    "nvidia.com/mps.capable": "true" if strategy == "mps" else "false",
                }
            )
    labels.update(extra_labels or {})
    cpu, mem = ("4", "16089560Ki") if instance_type.endswith(".xlarge") else ("48", "195932224Ki")
    capacity = {
        "cpu": cpu,
        "ephemeral-storage": "203056560Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": mem,
        "pods": "58",
    }
    allocatable = {
        "cpu": str(int(cpu) * 1000 - 90) + "m",
        "ephemeral-storage": "186070632071",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": mem.replace("Ki", "") + "Ki",
        "pods": "58",
    }
    if gpus:
        n = gpus * replicas if shared else gpus
        if capacity_gpus is not None:
            n = capacity_gpus
        res = "nvidia.com/gpu.shared" if renamed and shared else "nvidia.com/gpu"
        capacity[res] = str(n)
        allocatable[res] = str(n)
        if renamed and shared:
            capacity["nvidia.com/gpu"] = "0"
            allocatable["nvidia.com/gpu"] = "0"

    def cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": type_,
            "status": status,
            "lastHeartbeatTime": T2,
            "lastTransitionTime": T0,
            "reason": reason,
            "message": message,
        }

    conditions = [
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        cond("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure")
        if disk_pressure
        else cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        if ready
        else cond("Ready", "False", "KubeletNotReady", "container runtime network not ready"),
    ]
    ip = (
        "10.0."
        + str(int(hashlib.sha256(name.encode()).hexdigest()[:2], 16))
        + "."
        + str(int(hashlib.sha256(name.encode()).hexdigest()[2:4], 16))
    )
    spec: dict[str, Any] = {"providerID": f"aws:///{zone}/i-0{hashlib.sha256(name.encode()).hexdigest()[:16]}"}
    all_taints = list(taints or [])
    if disk_pressure:
        all_taints.append({"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "timeAdded": T2})
    if all_taints:
        spec["taints"] = all_taints
    return {
        "metadata": {
            "name": name,
            "uid": uid("node", name),
            "resourceVersion": rv("node", name),
            "creationTimestamp": T0,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": ip,
                "nfd.node.kubernetes.io/feature-labels": "cpu-cpuid.AVX2,cpu-model.vendor_id,kernel-version.full",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": name},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hashlib.md5(name.encode()).hexdigest(),
                "systemUUID": uid("sys", name),
                "bootID": uid("boot", name),
                "kernelVersion": kernel,
                "osImage": os_image,
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": "v1.33.5",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [
                {
                    "names": [
                        f"{DRIVER_IMAGE.rsplit(':', 1)[0]}@sha256:{hashlib.sha256(b'd').hexdigest()}",
                        DRIVER_IMAGE,
                    ],
                    "sizeBytes": 1405328719,
                },
                {"names": [DP_IMAGE], "sizeBytes": 187411034},
                {"names": [OP_IMAGE], "sizeBytes": 219551620},
            ]
            if gpus
            else [],
        },
    }


# -- pods ------------------------------------------------------------------------------------------------------


def running(
    name: str, image: str, *, restarts: int = 0, last: dict[str, Any] | None = None, ready: bool = True
) -> dict[str, Any]:
    s = {
        "name": name,
        "state": {"running": {"startedAt": T1}},
        "lastState": last or {},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "containerID": f"containerd://{hashlib.sha256((name + image).encode()).hexdigest()}",
        "started": True,
    }
    return s


def completed(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": T0,
                "finishedAt": T1,
                "containerID": "containerd://" + "c" * 64,
            }
        },
        "lastState": {},
        "ready": True,
        "restartCount": 0,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "containerID": "containerd://" + "c" * 64,
        "started": False,
    }


def waiting(
    name: str,
    image: str,
    reason: str,
    message: str | None = None,
    *,
    restarts: int = 0,
    last_message: str | None = None,
    last_exit: int = 1,
    started: bool = False,
) -> dict[str, Any]:
    w: dict[str, Any] = {"reason": reason}
    if message:
        w["message"] = message
    last: dict[str, Any] = {}
    if restarts:
        t: dict[str, Any] = {
            "exitCode": last_exit,
            "reason": "Error",
            "startedAt": T1,
            "finishedAt": T2,
            "containerID": "containerd://" + "e" * 64,
        }
        if last_message:
            t["message"] = last_message
        last = {"terminated": t}
    s = {
        "name": name,
        "state": {"waiting": w},
        "lastState": last,
        "ready": False,
        "restartCount": restarts,
        "image": image,
        "imageID": "",
        "started": started,
    }
    if restarts:
        s["imageID"] = f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
        s["containerID"] = "containerd://" + "e" * 64
    return s


def container(
    name: str,
    image: str,
    *,
    env: dict[str, str] | None = None,
    mounts: list[tuple[str, str]] = (),
    privileged: bool = False,
    args: list[str] | None = None,
    command: list[str] | None = None,
    limits: dict[str, str] | None = None,
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    c["resources"] = {"limits": limits, "requests": limits} if limits else {}
    vm = [{"name": n, "mountPath": p} for n, p in mounts]
    vm.append(
        {
            "name": "kube-api-access-" + suffix(name),
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    )
    c["volumeMounts"] = vm
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["imagePullPolicy"] = "IfNotPresent"
    if privileged:
        c["securityContext"] = {"privileged": True}
    return c


def pod(
    name: str,
    namespace: str,
    node_name: str | None,
    *,
    containers: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    init: list[dict[str, Any]] = (),
    init_statuses: list[dict[str, Any]] = (),
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
    host_network: bool = False,
    volumes: list[dict[str, Any]] = (),
    phase: str | None = None,
    node_selector: dict[str, str] | None = None,
    priority_class: str | None = None,
    service_account: str = "default",
    status_extra: dict[str, Any] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid("pod", namespace, name),
        "resourceVersion": rv("pod", namespace, name),
        "creationTimestamp": T0,
        "labels": labels or {},
    }
    if owner:
        kind, oname = owner
        meta["generateName"] = name[: len(name) - 5]
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": oname,
                "uid": uid(kind, namespace, oname),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    tol = (
        tolerations
        if tolerations is not None
        else [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
        ]
    )
    spec: dict[str, Any] = {
        "volumes": [
            *volumes,
            {
                "name": "kube-api-access-" + suffix(name),
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ],
                    "defaultMode": 420,
                },
            },
        ],
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
        "serviceAccountName": service_account,
        "serviceAccount": service_account,
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": tol,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if init:
        spec["initContainers"] = init
    if node_name:
        spec["nodeName"] = node_name
        if owner and owner[0] == "DaemonSet":
            spec["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
                        ]
                    }
                }
            }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if host_network:
        spec["hostNetwork"] = True
    if priority_class:
        spec["priorityClassName"] = priority_class
        spec["priority"] = 2000001000 if priority_class == "system-node-critical" else 2000000000
    all_ready = all(s.get("ready") for s in statuses) and all(
        s.get("state", {}).get("terminated", {}).get("exitCode") == 0 for s in init_statuses
    )
    ph = phase or (
        "Running"
        if all(s.get("state", {}).get("running") or s.get("restartCount") for s in statuses) and statuses
        else "Pending"
    )
    conds = [
        {
            "type": "PodReadyToStartContainers",
            "status": "True" if node_name else "False",
            "lastProbeTime": None,
            "lastTransitionTime": T1,
        },
        {
            "type": "Initialized",
            "status": "True"
            if all(s.get("state", {}).get("terminated", {}).get("exitCode") == 0 for s in init_statuses)
            else "False",
            "lastProbeTime": None,
            "lastTransitionTime": T1,
        },
        {"type": "Ready", "status": "True" if all_ready else "False", "lastProbeTime": None, "lastTransitionTime": T1},
        {
            "type": "ContainersReady",
            "status": "True" if all_ready else "False",
            "lastProbeTime": None,
            "lastTransitionTime": T1,
        },
        {
            "type": "PodScheduled",
            "status": "True" if node_name else "False",
            "lastProbeTime": None,
            "lastTransitionTime": T0,
        },
    ]
    if not all_ready:
        for c in conds[2:4]:
            c["reason"] = "ContainersNotReady"
            c["message"] = (
                "containers with unready status: [" + " ".join(s["name"] for s in statuses if not s.get("ready")) + "]"
            )
    status: dict[str, Any] = {"phase": ph, "conditions": conds}
    if node_name:
        ip = "10.0.7." + str(int(hashlib.sha256(name.encode()).hexdigest()[:2], 16))
        status.update(
            {
                "hostIP": "10.0.1.17",
                "hostIPs": [{"ip": "10.0.1.17"}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": T0,
            }
        )
    if init_statuses:
        status["initContainerStatuses"] = list(init_statuses)
    if statuses:
        status["containerStatuses"] = list(statuses)
    status["qosClass"] = "BestEffort"
    status.update(status_extra or {})
    return {"metadata": meta, "spec": spec, "status": status}


def hostpath(name: str, path: str, type_: str = "") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": type_}}


def configmap_volume(name: str) -> dict[str, Any]:
    return {"name": name, "configMap": {"name": name, "defaultMode": 420}}


# -- other kinds -----------------------------------------------------------------------------------------------


def daemonset(
    name: str,
    namespace: str,
    *,
    desired: int,
    ready: int | None = None,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] = (),
    init: list[dict[str, Any]] = (),
    volumes: list[dict[str, Any]] = (),
    node_selector: dict[str, str] | None = None,
    owner_cp: bool = True,
    update_strategy: str = "RollingUpdate",
) -> dict[str, Any]:
    ready = desired if ready is None else ready
    sel = labels or {"app": name}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid("DaemonSet", namespace, name),
        "resourceVersion": rv("ds", namespace, name),
        "generation": 3,
        "creationTimestamp": T0,
        "labels": {
            **sel,
            "app.kubernetes.io/managed-by": "gpu-operator",
            "helm.sh/chart": f"gpu-operator-{OPERATOR_VERSION}",
        },
        "annotations": {
            "deprecated.daemonset.template.generation": "3",
            "nvidia.com/last-applied-hash": str(int(hashlib.sha256(name.encode()).hexdigest()[:9], 16)),
        },
    }
    if owner_cp:
        meta["ownerReferences"] = [
            {
                "apiVersion": "nvidia.com/v1",
                "kind": "ClusterPolicy",
                "name": "cluster-policy",
                "uid": uid("cp"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    tpl_spec: dict[str, Any] = {
        "containers": list(containers),
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": name,
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "system-node-critical",
    }
    if init:
        tpl_spec["initContainers"] = list(init)
    if volumes:
        tpl_spec["volumes"] = list(volumes)
    if node_selector:
        tpl_spec["nodeSelector"] = node_selector
    strategy: dict[str, Any] = {"type": update_strategy}
    if update_strategy == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
    return {
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": sel},
            "template": {"metadata": {"labels": sel}, "spec": tpl_spec},
            "updateStrategy": strategy,
            "revisionHistoryLimit": 10,
        },
        "status": {
            "currentNumberScheduled": desired,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": 3,
            "updatedNumberScheduled": desired,
            "numberAvailable": ready,
            **({"numberUnavailable": desired - ready} if desired > ready else {}),
        },
    }


def deployment(
    name: str,
    namespace: str,
    *,
    replicas: int = 1,
    ready: int | None = None,
    labels: dict[str, str] | None = None,
    image: str = OP_IMAGE,
) -> dict[str, Any]:
    ready = replicas if ready is None else ready
    sel = labels or {"app": name}
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if ready else "False",
                "lastUpdateTime": T1,
                "lastTransitionTime": T1,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            }
        ],
    }
    if ready:
        status.update({"readyReplicas": ready, "availableReplicas": ready})
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid("Deployment", namespace, name),
            "resourceVersion": rv("deploy", namespace, name),
            "generation": 1,
            "creationTimestamp": T0,
            "labels": sel,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": sel},
            "template": {"metadata": {"labels": sel}, "spec": {"containers": [{"name": name, "image": image}]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": status,
    }


def event(
    namespace: str,
    kind: str,
    name: str,
    reason: str,
    message: str,
    *,
    type_: str = "Warning",
    count: int = 1,
    component: str = "kubelet",
    host: str | None = None,
    obj_namespace: str | None = None,
    field_path: str | None = None,
) -> dict[str, Any]:
    ev_name = f"{name}.{hashlib.sha256((reason + message).encode()).hexdigest()[:16]}"
    involved: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "uid": uid(kind, obj_namespace or namespace, name),
        "apiVersion": "v1",
    }
    if kind != "Node":
        involved["namespace"] = obj_namespace or namespace
        involved["resourceVersion"] = rv(kind, name)
    if field_path:
        involved["fieldPath"] = field_path
    src: dict[str, Any] = {"component": component}
    if host:
        src["host"] = host
    return {
        "metadata": {
            "name": ev_name,
            "namespace": namespace,
            "uid": uid("ev", ev_name),
            "resourceVersion": rv("ev", ev_name),
            "creationTimestamp": T1,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": src,
        "firstTimestamp": T1,
        "lastTimestamp": T2,
        "count": count,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }


def clusterpolicy(
    *,
    state: str = "ready",
    cm_name: str = "",
    default: str = "",
    namespace: str = "gpu-operator",
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    dp: dict[str, Any] = {
        "enabled": True,
        "repository": "nvcr.io/nvidia",
        "image": "k8s-device-plugin",
        "version": "v0.20.0",
        "imagePullPolicy": "IfNotPresent",
    }
    if cm_name:
        dp["config"] = {"name": cm_name, "default": default}
    conds = (
        conditions
        if conditions is not None
        else (
            [
                {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "", "lastTransitionTime": T1},
                {"type": "Error", "status": "False", "reason": "Ready", "message": "", "lastTransitionTime": T1},
            ]
            if state == "ready"
            else [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "OperandNotReady",
                    "lastTransitionTime": T2,
                    "message": "ClusterPolicy is not ready, states not ready: [state-device-plugin]",
                },
                {
                    "type": "Error",
                    "status": "True",
                    "reason": "OperandNotReady",
                    "lastTransitionTime": T2,
                    "message": "ClusterPolicy is not ready, states not ready: [state-device-plugin]",
                },
            ]
        )
    )
    return {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": "cluster-policy",
            "uid": uid("cp"),
            "resourceVersion": rv("cp"),
            "generation": 2,
            "creationTimestamp": T0,
            "labels": {"app.kubernetes.io/component": "gpu-operator", "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "demo-1-gpu-operator",
                "meta.helm.sh/release-namespace": namespace,
            },
        },
        "spec": {
            "operator": {"defaultRuntime": "containerd", "runtimeClass": "nvidia"},
            "daemonsets": {
                "updateStrategy": "RollingUpdate",
                "priorityClassName": "system-node-critical",
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            },
            "driver": {"enabled": True, "repository": "nvcr.io/nvidia", "image": "driver", "version": "595.91.07"},
            "toolkit": {
                "enabled": True,
                "repository": "nvcr.io/nvidia/k8s",
                "image": "container-toolkit",
                "version": "v1.20.0",
            },
            "devicePlugin": dp,
            "gfd": {
                "enabled": True,
                "repository": "nvcr.io/nvidia",
                "image": "k8s-device-plugin",
                "version": "v0.20.0",
            },
            "validator": {
                "repository": "nvcr.io/nvidia",
                "image": "gpu-operator",
                "version": OPERATOR_VERSION,
                "plugin": {"env": []},
            },
            "mig": {"strategy": "single"},
        },
        "status": {"state": state, "namespace": namespace, "conditions": conds},
    }


def configmap(name: str, namespace: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid("cm", namespace, name),
            "resourceVersion": rv("cm", namespace, name),
            "creationTimestamp": T0,
            "labels": labels or {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "demo-1-gpu-operator",
                "meta.helm.sh/release-namespace": namespace,
            },
        },
        "data": data,
    }


# -- a whole cluster -------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A cluster's objects by kind, writable as a kubectl dump and servable by the fake API."""

    namespace: str = "gpu-operator"
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    daemonsets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    configmaps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    clusterpolicies: list[dict[str, Any]] | None = None
    logs: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)

    def pod(self, ns: str, name_prefix: str) -> dict[str, Any]:
        return next(p for p in self.pods[ns] if p["metadata"]["name"].startswith(name_prefix))

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["metadata"]["name"] == name)

    def add_pod(self, p: dict[str, Any], logs: dict[str, list[str]] | None = None) -> dict[str, Any]:
        ns = p["metadata"]["namespace"]
        self.pods.setdefault(ns, []).append(p)
        if logs is not None:
            self.logs[(ns, p["metadata"]["name"])] = logs
        return p

    def add_event(self, e: dict[str, Any]) -> None:
        self.events.setdefault(e["metadata"]["namespace"], []).append(e)

    def copy(self) -> Cluster:
        return copy.deepcopy(self)

    # -- writers -------------------------------------------------------------------------------------------------
    @staticmethod
    def _list(kind: str, api: str, items: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "48213377"}, "items": items}

    def files(self, *, snapshot_extras: bool = True) -> dict[str, str]:
        """relative path -> content of the dump, as ``kubectl cluster-info dump --output-directory`` writes it
        (plus gpuslice's clusterpolicies.json / configmaps.json when ``snapshot_extras``)."""
        out: dict[str, str] = {}
        dump = lambda doc: json.dumps(doc, indent=4) + "\n"  # noqa: E731 - kubectl indents with 4 spaces
        out["nodes.json"] = dump(self._list("NodeList", "v1", self.nodes))
        namespaces = sorted({"default", "kube-system", self.namespace, *self.pods, *self.events})
        for ns in namespaces:
            out[f"{ns}/events.json"] = dump(self._list("EventList", "v1", self.events.get(ns, [])))
            out[f"{ns}/replication-controllers.json"] = dump(self._list("ReplicationControllerList", "v1", []))
            out[f"{ns}/services.json"] = dump(self._list("ServiceList", "v1", self.services.get(ns, [])))
            out[f"{ns}/daemonsets.json"] = dump(self._list("DaemonSetList", "apps/v1", self.daemonsets.get(ns, [])))
            out[f"{ns}/deployments.json"] = dump(self._list("DeploymentList", "apps/v1", self.deployments.get(ns, [])))
            out[f"{ns}/replicasets.json"] = dump(self._list("ReplicaSetList", "apps/v1", []))
            out[f"{ns}/pods.json"] = dump(self._list("PodList", "v1", self.pods.get(ns, [])))
            for p in self.pods.get(ns, []):
                name = p["metadata"]["name"]
                logs = self.logs.get((ns, name), {})
                text = ""
                for c in [*p["spec"].get("initContainers", []), *p["spec"]["containers"]]:
                    lines = logs.get(c["name"], [])
                    text += f"==== START logs for container {c['name']} of pod {ns}/{name} ====\n"
                    text += "".join(line + "\n" for line in lines)
                    text += f"==== END logs for container {c['name']} of pod {ns}/{name} ====\n"
                out[f"{ns}/{name}/logs.txt"] = text
        if snapshot_extras:
            if self.clusterpolicies is not None:
                out["clusterpolicies.json"] = dump(
                    {
                        "apiVersion": "nvidia.com/v1",
                        "kind": "ClusterPolicyList",
                        "metadata": {"continue": "", "resourceVersion": "48213377"},
                        "items": self.clusterpolicies,
                    }
                )
            for ns, cms in self.configmaps.items():
                out[f"{ns}/configmaps.json"] = dump(self._list("ConfigMapList", "v1", cms))
        return out

    def write_dump(self, root: Path, *, snapshot_extras: bool = True) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for rel, text in self.files(snapshot_extras=snapshot_extras).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        return root


# -- the healthy baseline: what `gpuslice apply` of tests/fixtures/dumps/gpuslice.yaml leaves behind ------------


def _resolved() -> Any:
    from gpuslice import api

    return api.load(SPEC)


def operator_pods_for(
    c: Cluster,
    node_name: str,
    *,
    cm_name: str,
    shared: bool = True,
    replicas: int = 4,
    config_key: str = "time-slicing-4",
) -> None:
    """The operands the operator runs on one GPU node, all healthy (the plugin logs the config the node selects)."""
    ns = c.namespace
    s = suffix(node_name)
    val = container(
        "toolkit-validation",
        OP_IMAGE,
        command=["sh", "-c"],
        args=["until [ -f /run/nvidia/validations/toolkit-ready ]; do echo waiting; sleep 5; done"],
        mounts=[("run-nvidia-validations", "/run/nvidia/validations")],
        privileged=True,
    )
    cfg_env = {
        "ONESHOT": "true",
        "NODE_LABEL": "nvidia.com/device-plugin.config",
        "CONFIG_FILE_SRCDIR": "/available-configs",
        "CONFIG_FILE_DST": "/config/config.yaml",
        "DEFAULT_CONFIG": "exclusive",
        "FALLBACK_STRATEGIES": "empty",
    }
    cm_init = container(
        "config-manager-init",
        DP_IMAGE,
        command=["config-manager"],
        env=cfg_env,
        mounts=[(cm_name, "/available-configs"), ("config", "/config")],
    )
    cm_side = container(
        "config-manager",
        DP_IMAGE,
        command=["config-manager"],
        env={
            **cfg_env,
            "ONESHOT": "false",
            "SEND_SIGNAL": "true",
            "SIGNAL": "1",
            "PROCESS_TO_SIGNAL": "nvidia-device-plugin",
        },
        mounts=[(cm_name, "/available-configs"), ("config", "/config")],
    )
    dp_vols = [
        hostpath("device-plugin", "/var/lib/kubelet/device-plugins"),
        hostpath("run-nvidia-validations", "/run/nvidia/validations", "DirectoryOrCreate"),
        hostpath("driver-install-dir", "/run/nvidia/driver", "DirectoryOrCreate"),
        hostpath("host-root", "/"),
        hostpath("cdi-root", "/var/run/cdi", "DirectoryOrCreate"),
        configmap_volume(cm_name),
        {"name": "config", "emptyDir": {}},
    ]
    plugin_log = [
        "I1120 09:03:20.117345       1 main.go:244] Starting FS watcher for /var/lib/kubelet/device-plugins",
        'I1120 09:03:20.118002       1 main.go:388] Running with config: {"version": "v1", "flags": '
        '{"migStrategy": "single", "failOnInitError": true}, "sharing": {"timeSlicing": {"resources": '
        '[{"name": "nvidia.com/gpu", "devices": "all", "replicas": ' + str(replicas) + "}]}}}",
        "I1120 09:03:20.131203       1 server.go:176] Starting GRPC server for 'nvidia.com/gpu'",
        "I1120 09:03:20.132766       1 server.go:222] Registered device plugin for 'nvidia.com/gpu' with Kubelet",
    ]
    cm_log = [
        "I1120 09:03:18.200151       1 main.go:246] Waiting for change to 'nvidia.com/device-plugin.config' label",
        f"I1120 09:03:18.201944       1 main.go:305] Updating to config: {config_key}",
        f"I1120 09:03:18.203001       1 main.go:320] Successfully updated to config: {config_key}",
    ]
    dp_labels = {
        "app": "nvidia-device-plugin-daemonset",
        "controller-revision-hash": "7c5b7d4c9d",
        "pod-template-generation": "3",
    }
    c.add_pod(
        pod(
            f"nvidia-device-plugin-daemonset-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "nvidia-device-plugin-daemonset"),
            labels=dp_labels,
            service_account="nvidia-device-plugin",
            priority_class="system-node-critical",
            init=[val, cm_init],
            init_statuses=[completed("toolkit-validation", OP_IMAGE), completed("config-manager-init", DP_IMAGE)],
            containers=[
                container(
                    "nvidia-device-plugin",
                    DP_IMAGE,
                    command=["/bin/bash", "-c"],
                    args=["/bin/entrypoint.sh"],
                    privileged=True,
                    env={
                        "PASS_DEVICE_SPECS": "true",
                        "FAIL_ON_INIT_ERROR": "true",
                        "DEVICE_LIST_STRATEGY": "envvar",
                        "DEVICE_ID_STRATEGY": "uuid",
                        "NVIDIA_VISIBLE_DEVICES": "all",
                        "NVIDIA_DRIVER_CAPABILITIES": "all",
                        "MIG_STRATEGY": "single",
                        "CONFIG_FILE": "/config/config.yaml",
                    },
                    mounts=[
                        ("device-plugin", "/var/lib/kubelet/device-plugins"),
                        ("run-nvidia-validations", "/run/nvidia/validations"),
                        ("config", "/config"),
                    ],
                ),
                cm_side,
            ],
            statuses=[running("nvidia-device-plugin", DP_IMAGE), running("config-manager", DP_IMAGE)],
            volumes=dp_vols,
            node_selector={"nvidia.com/gpu.deploy.device-plugin": "true"},
        ),
        logs={"nvidia-device-plugin": plugin_log, "config-manager": cm_log, "config-manager-init": cm_log},
    )
    c.add_pod(
        pod(
            f"gpu-feature-discovery-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "gpu-feature-discovery"),
            labels={"app": "gpu-feature-discovery", "app.kubernetes.io/part-of": "nvidia-gpu"},
            service_account="nvidia-gpu-feature-discovery",
            priority_class="system-node-critical",
            init=[val, cm_init],
            init_statuses=[completed("toolkit-validation", OP_IMAGE), completed("config-manager-init", DP_IMAGE)],
            containers=[
                container(
                    "gpu-feature-discovery",
                    DP_IMAGE,
                    command=["/bin/bash", "-c"],
                    args=["gpu-feature-discovery"],
                    privileged=True,
                    mounts=[("output-dir", "/etc/kubernetes/node-feature-discovery/features.d"), ("config", "/config")],
                ),
                cm_side,
            ],
            statuses=[running("gpu-feature-discovery", DP_IMAGE), running("config-manager", DP_IMAGE)],
            volumes=[
                hostpath("output-dir", "/etc/kubernetes/node-feature-discovery/features.d"),
                configmap_volume(cm_name),
                {"name": "config", "emptyDir": {}},
            ],
        ),
        logs={
            "gpu-feature-discovery": [
                "I1120 09:03:25.402219       1 main.go:163] Start running",
                "I1120 09:03:25.913004       1 main.go:226] Creating Labels",
            ]
        },
    )
    c.add_pod(
        pod(
            f"nvidia-container-toolkit-daemonset-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "nvidia-container-toolkit-daemonset"),
            labels={"app": "nvidia-container-toolkit-daemonset"},
            priority_class="system-node-critical",
            service_account="nvidia-container-toolkit",
            init=[container("driver-validation", OP_IMAGE, privileged=True)],
            init_statuses=[completed("driver-validation", OP_IMAGE)],
            containers=[
                container(
                    "nvidia-container-toolkit-ctr",
                    TOOLKIT_IMAGE,
                    privileged=True,
                    env={
                        "RUNTIME": "containerd",
                        "CONTAINERD_CONFIG": "/runtime/config-dir/config.toml",
                        "CONTAINERD_SOCKET": "/runtime/sock-dir/containerd.sock",
                    },
                )
            ],
            statuses=[running("nvidia-container-toolkit-ctr", TOOLKIT_IMAGE)],
        ),
        logs={
            "nvidia-container-toolkit-ctr": [
                'time="2026-11-20T09:02:11Z" level=info msg="Installing NVIDIA container toolkit to '
                "'/usr/local/nvidia/toolkit'\"",
                'time="2026-11-20T09:02:14Z" level=info msg="Sending SIGHUP signal to containerd"',
            ]
        },
    )
    c.add_pod(
        pod(
            f"nvidia-driver-daemonset-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "nvidia-driver-daemonset"),
            labels={"app": "nvidia-driver-daemonset"},
            priority_class="system-node-critical",
            service_account="nvidia-driver",
            init=[container("k8s-driver-manager", "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0")],
            init_statuses=[completed("k8s-driver-manager", "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0")],
            containers=[
                container("nvidia-driver-ctr", DRIVER_IMAGE, privileged=True, command=["nvidia-driver"], args=["init"])
            ],
            statuses=[running("nvidia-driver-ctr", DRIVER_IMAGE)],
        ),
        logs={
            "nvidia-driver-ctr": [
                "========== NVIDIA Software Installer ==========",
                "Resolving Linux kernel version...",
                "Proceeding with Linux kernel version 6.8.0-1021-aws",
                "Loading NVIDIA driver kernel modules...",
                "Done, now waiting for signal",
            ]
        },
    )
    c.add_pod(
        pod(
            f"nvidia-dcgm-exporter-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "nvidia-dcgm-exporter"),
            labels={"app": "nvidia-dcgm-exporter"},
            service_account="nvidia-dcgm-exporter",
            containers=[container("nvidia-dcgm-exporter", DCGM_EXPORTER_IMAGE)],
            statuses=[running("nvidia-dcgm-exporter", DCGM_EXPORTER_IMAGE)],
        )
    )
    c.add_pod(
        pod(
            f"nvidia-operator-validator-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "nvidia-operator-validator"),
            labels={"app": "nvidia-operator-validator", "app.kubernetes.io/part-of": "gpu-operator"},
            service_account="nvidia-operator-validator",
            init=[
                container(n, OP_IMAGE, privileged=True)
                for n in ("driver-validation", "toolkit-validation", "cuda-validation", "plugin-validation")
            ],
            init_statuses=[
                completed(n, OP_IMAGE)
                for n in ("driver-validation", "toolkit-validation", "cuda-validation", "plugin-validation")
            ],
            containers=[
                container(
                    "nvidia-operator-validator",
                    OP_IMAGE,
                    command=["sh", "-c"],
                    args=["echo all validations are successful; sleep infinity"],
                )
            ],
            statuses=[running("nvidia-operator-validator", OP_IMAGE)],
        )
    )
    c.add_pod(
        pod(
            f"demo-1-nfd-worker-{s}",
            ns,
            node_name,
            owner=("DaemonSet", "demo-1-nfd-worker"),
            labels={"app.kubernetes.io/name": "node-feature-discovery", "role": "worker"},
            service_account="node-feature-discovery",
            containers=[container("worker", NFD_IMAGE)],
            statuses=[running("worker", NFD_IMAGE)],
        )
    )


def system_pods_for(c: Cluster, node_name: str) -> None:
    s = suffix("ks", node_name)
    c.add_pod(
        pod(
            f"aws-node-{s}",
            "kube-system",
            node_name,
            owner=("DaemonSet", "aws-node"),
            labels={"k8s-app": "aws-node", "app.kubernetes.io/name": "aws-node"},
            host_network=True,
            priority_class="system-node-critical",
            service_account="aws-node",
            init=[
                container(
                    "aws-vpc-cni-init",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init:v1.20.4-eksbuild.1",
                    privileged=True,
                )
            ],
            init_statuses=[
                completed(
                    "aws-vpc-cni-init",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init:v1.20.4-eksbuild.1",
                )
            ],
            containers=[
                container(
                    "aws-node",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.20.4-eksbuild.1",
                    env={
                        "ADDITIONAL_ENI_TAGS": "{}",
                        "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true",
                        "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
                        "ENABLE_PREFIX_DELEGATION": "false",
                        "WARM_ENI_TARGET": "1",
                        "VPC_CNI_VERSION": "v1.20.4",
                    },
                )
            ],
            statuses=[
                running("aws-node", "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.20.4-eksbuild.1")
            ],
        )
    )
    c.add_pod(
        pod(
            f"kube-proxy-{s}",
            "kube-system",
            node_name,
            owner=("DaemonSet", "kube-proxy"),
            labels={"k8s-app": "kube-proxy"},
            host_network=True,
            priority_class="system-node-critical",
            service_account="kube-proxy",
            containers=[
                container(
                    "kube-proxy",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.33.3-eksbuild.6",
                    command=["kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config"],
                    privileged=True,
                )
            ],
            statuses=[
                running("kube-proxy", "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.33.3-eksbuild.6")
            ],
        )
    )


COREDNS_IMAGE = "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.12.2-eksbuild.4"


def healthy() -> Cluster:
    """Two GPU nodes (one per pool of the fixture spec) and a system node; everything ready."""
    r = _resolved()
    ns = r.namespace
    c = Cluster(namespace=ns)
    cm = r.device_plugin_configmap
    from gpuslice.sharing import configmap_data

    c.configmaps[ns] = [configmap(cm, ns, configmap_data(r))]
    c.clusterpolicies = [clusterpolicy(cm_name=cm, default="exclusive", namespace=ns)]
    c.nodes.append(node("ip-10-0-2-41.ec2.internal", instance_type="m6i.large", gpus=0, nodegroup="demo-1-system"))
    specs = {"a10g-shared": "ip-10-0-1-17.ec2.internal", "a10g-x4": "ip-10-0-3-88.ec2.internal"}
    for p in r.pools:
        name = specs[p.name]
        c.nodes.append(
            node(
                name,
                instance_type=p.spec.instance_type,
                gpus=p.gpu.count or 1,
                replicas=p.sharing.replicas,
                pool=p.name,
                nodegroup=p.node_group_name,
                config_label=p.node_labels["nvidia.com/device-plugin.config"],
            )
        )
        operator_pods_for(
            c,
            name,
            cm_name=cm,
            replicas=p.sharing.replicas,
            config_key=p.node_labels["nvidia.com/device-plugin.config"],
        )
    for n in c.nodes:
        system_pods_for(c, n["metadata"]["name"])
    sysnode = "ip-10-0-2-41.ec2.internal"
    for i in range(2):
        nm = f"coredns-6b9575c64c-{suffix('dns', str(i))}"
        c.add_pod(
            pod(
                nm,
                "kube-system",
                sysnode,
                owner=("ReplicaSet", "coredns-6b9575c64c"),
                labels={
                    "k8s-app": "kube-dns",
                    "eks.amazonaws.com/component": "coredns",
                    "pod-template-hash": "6b9575c64c",
                },
                service_account="coredns",
                priority_class="system-cluster-critical",
                containers=[container("coredns", COREDNS_IMAGE, args=["-conf", "/etc/coredns/Corefile"])],
                statuses=[running("coredns", COREDNS_IMAGE)],
            ),
            logs={
                "coredns": [
                    ".:53",
                    "[INFO] plugin/reload: Running configuration SHA512 = 8a7d59126e7f1154",
                    "CoreDNS-1.12.2",
                    "linux/amd64, go1.24.6, 9ae4b0c",
                ]
            },
        )
    gpu_nodes = len(r.pools)
    for name, key in (
        ("nvidia-device-plugin-daemonset", "device-plugin"),
        ("gpu-feature-discovery", "gfd"),
        ("nvidia-container-toolkit-daemonset", "toolkit"),
        ("nvidia-driver-daemonset", "driver"),
        ("nvidia-dcgm-exporter", "dcgm"),
        ("nvidia-operator-validator", "validator"),
    ):
        vols = [configmap_volume(cm), {"name": "config", "emptyDir": {}}] if key in ("device-plugin", "gfd") else []
        c.daemonsets.setdefault(ns, []).append(
            daemonset(
                name,
                ns,
                desired=gpu_nodes,
                volumes=vols,
                containers=[{"name": name, "image": DP_IMAGE}],
                node_selector={f"nvidia.com/gpu.deploy.{key}": "true"},
            )
        )
    c.daemonsets[ns].append(
        daemonset(
            "demo-1-nfd-worker",
            ns,
            desired=gpu_nodes,
            owner_cp=False,
            labels={"app.kubernetes.io/name": "node-feature-discovery", "role": "worker"},
        )
    )
    c.deployments.setdefault(ns, []).append(
        deployment("gpu-operator", ns, labels={"app": "gpu-operator", "app.kubernetes.io/component": "gpu-operator"})
    )
    c.add_pod(
        pod(
            f"gpu-operator-7d8f6c5b9-{suffix('op')}",
            ns,
            sysnode,
            owner=("ReplicaSet", "gpu-operator-7d8f6c5b9"),
            labels={"app": "gpu-operator", "app.kubernetes.io/component": "gpu-operator"},
            service_account="gpu-operator",
            containers=[container("gpu-operator", OP_IMAGE, command=["gpu-operator"])],
            statuses=[running("gpu-operator", OP_IMAGE)],
        ),
        logs={
            "gpu-operator": [
                '{"level":"info","ts":1763629400,"logger":"controllers.ClusterPolicy",'
                '"msg":"ClusterPolicy is ready as all resources have been successfully reconciled"}'
            ]
        },
    )
    for n in c.nodes:
        nm = n["metadata"]["name"]
        c.add_event(
            event("default", "Node", nm, "NodeReady", f"Node {nm} status is now: NodeReady", type_="Normal", host=nm)
        )
    c.add_event(
        event(
            ns,
            "Pod",
            c.pod(ns, "nvidia-device-plugin-daemonset")["metadata"]["name"],
            "Pulled",
            f'Container image "{DP_IMAGE}" already present on machine',
            type_="Normal",
            host="ip-10-0-1-17.ec2.internal",
            field_path="spec.containers{nvidia-device-plugin}",
        )
    )
    return c


# -- one broken cluster per doctor rule -------------------------------------------------------------------------

GPU1 = "ip-10-0-1-17.ec2.internal"
GPU4 = "ip-10-0-3-88.ec2.internal"


def _set_pod(
    c: Cluster,
    ns: str,
    prefix: str,
    *,
    init_statuses: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    logs: dict[str, list[str]] | None = None,
    node_name: str | None = None,
) -> dict[str, Any]:
    p = next(
        p
        for p in c.pods[ns]
        if p["metadata"]["name"].startswith(prefix) and (node_name is None or p["spec"].get("nodeName") == node_name)
    )
    if init_statuses is not None:
        p["status"]["initContainerStatuses"] = init_statuses
    if statuses is not None:
        p["status"]["containerStatuses"] = statuses
    ready = all(s.get("ready") for s in p["status"].get("containerStatuses", []))
    if not ready:
        for cond in p["status"]["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update({"status": "False", "reason": "ContainersNotReady"})
    if init_statuses is not None and any("waiting" in s["state"] for s in init_statuses):
        p["status"]["phase"] = "Pending"
        for cond in p["status"]["conditions"]:
            if cond["type"] == "Initialized":
                cond.update({"status": "False", "reason": "ContainersNotInitialized"})
    if logs is not None:
        c.logs[(ns, p["metadata"]["name"])] = logs
    return p


def _ds_unready(c: Cluster, name: str, ready: int) -> None:
    ds = next(d for d in c.daemonsets[c.namespace] if d["metadata"]["name"] == name)
    st = ds["status"]
    st["numberReady"] = ready
    st["numberAvailable"] = ready
    st["numberUnavailable"] = st["desiredNumberScheduled"] - ready


def _cp_not_ready(c: Cluster, state: str = "state-device-plugin") -> None:
    assert c.clusterpolicies is not None
    cp = c.clusterpolicies[0]
    cp["status"]["state"] = "notReady"
    cp["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "OperandNotReady",
            "lastTransitionTime": T2,
            "message": f"ClusterPolicy is not ready, states not ready: [{state}]",
        },
        {
            "type": "Error",
            "status": "True",
            "reason": "OperandNotReady",
            "lastTransitionTime": T2,
            "message": f"ClusterPolicy is not ready, states not ready: [{state}]",
        },
    ]


def case_image_pull_upstream() -> Cluster:
    c = healthy()
    ns = c.namespace
    img = DP_IMAGE
    msg = (
        f'failed to pull and unpack image "{img}": failed to resolve reference "{img}": failed to do request: '
        'Head "https://nvcr.io/v2/nvidia/k8s-device-plugin/manifests/v0.20.0": dial tcp 3.227.49.224:443: i/o timeout'
    )
    p = _set_pod(
        c,
        ns,
        "nvidia-device-plugin-daemonset",
        node_name=GPU1,
        init_statuses=[
            completed("toolkit-validation", OP_IMAGE),
            waiting(
                "config-manager-init", img, "ImagePullBackOff", f'Back-off pulling image "{img}": ErrImagePull: {msg}'
            ),
        ],
        statuses=[
            waiting("nvidia-device-plugin", img, "PodInitializing"),
            waiting("config-manager", img, "PodInitializing"),
        ],
    )
    name = p["metadata"]["name"]
    c.add_event(
        event(
            ns,
            "Pod",
            name,
            "Failed",
            f'Failed to pull image "{img}": {msg}',
            host=GPU1,
            count=14,
            field_path="spec.initContainers{config-manager-init}",
        )
    )
    c.add_event(
        event(
            ns,
            "Pod",
            name,
            "BackOff",
            f'Back-off pulling image "{img}"',
            type_="Normal",
            host=GPU1,
            count=310,
            field_path="spec.initContainers{config-manager-init}",
        )
    )
    _ds_unready(c, "nvidia-device-plugin-daemonset", 1)
    _cp_not_ready(c)
    return c


def case_toolkit_glibc() -> Cluster:
    c = healthy()
    ns = c.namespace
    n = c.node(GPU1)
    n["status"]["nodeInfo"].update({"osImage": "Amazon Linux 2", "kernelVersion": "5.10.238-231.953.amzn2.x86_64"})
    n["metadata"]["labels"]["feature.node.kubernetes.io/system-os_release.ID"] = "amzn"
    n["metadata"]["labels"]["feature.node.kubernetes.io/system-os_release.VERSION_ID"] = "2"
    glibc = (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
        "failed: unable to start container process: error during container init: error running prestart hook "
        "#0: exit status 1, stdout: , stderr: /usr/local/nvidia/toolkit/nvidia-container-cli.real: "
        "/lib64/libc.so.6: version `GLIBC_2.27' not found (required by "
        "/usr/local/nvidia/toolkit/libnvidia-container.so.1): unknown"
    )
    p = _set_pod(
        c,
        ns,
        "nvidia-operator-validator",
        node_name=GPU1,
        init_statuses=[
            completed("driver-validation", OP_IMAGE),
            waiting(
                "toolkit-validation",
                OP_IMAGE,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container=toolkit-validation pod=nvidia-operator-validator",
                restarts=9,
                last_exit=128,
                last_message=glibc,
            ),
            waiting("cuda-validation", OP_IMAGE, "PodInitializing"),
            waiting("plugin-validation", OP_IMAGE, "PodInitializing"),
        ],
        statuses=[waiting("nvidia-operator-validator", OP_IMAGE, "PodInitializing")],
    )
    c.add_event(
        event(
            ns,
            "Pod",
            p["metadata"]["name"],
            "Failed",
            f"Error: {glibc}",
            host=GPU1,
            count=9,
            field_path="spec.initContainers{toolkit-validation}",
        )
    )
    _ds_unready(c, "nvidia-operator-validator", 1)
    _cp_not_ready(c, "state-operator-validation")
    return c


def case_config_manager_missing_key() -> Cluster:
    c = healthy()
    ns = c.namespace
    n = c.node(GPU1)
    n["metadata"]["labels"]["nvidia.com/device-plugin.config"] = "time-slicing-8"
    err = (
        "I1120 10:40:01.100212       1 main.go:246] Waiting for change to 'nvidia.com/device-plugin.config' label",
        "E1120 10:40:01.102398       1 main.go:126] error: specified config time-slicing-8 does not exist",
    )
    for prefix in ("nvidia-device-plugin-daemonset", "gpu-feature-discovery"):
        _set_pod(
            c,
            ns,
            prefix,
            node_name=GPU1,
            init_statuses=[
                completed("toolkit-validation", OP_IMAGE),
                waiting(
                    "config-manager-init",
                    DP_IMAGE,
                    "CrashLoopBackOff",
                    "back-off 2m40s restarting failed container=config-manager-init",
                    restarts=6,
                ),
            ],
            statuses=[
                waiting(
                    "nvidia-device-plugin" if "device" in prefix else "gpu-feature-discovery",
                    DP_IMAGE,
                    "PodInitializing",
                ),
                waiting("config-manager", DP_IMAGE, "PodInitializing"),
            ],
            logs={"config-manager-init": list(err)},
        )
    _ds_unready(c, "nvidia-device-plugin-daemonset", 1)
    _ds_unready(c, "gpu-feature-discovery", 1)
    _cp_not_ready(c)
    return c


def case_sharing_off() -> Cluster:
    """The node lost its config label and ClusterPolicy has no default: config-manager falls back to nothing."""
    c = healthy()
    assert c.clusterpolicies is not None
    c.clusterpolicies[0]["spec"]["devicePlugin"]["config"]["default"] = ""
    n = c.node(GPU1)
    lab = n["metadata"]["labels"]
    del lab["nvidia.com/device-plugin.config"]
    lab.update(
        {
            "nvidia.com/gpu.replicas": "1",
            "nvidia.com/gpu.sharing-strategy": "none",
            "nvidia.com/gpu.product": "NVIDIA-A10G",
        }
    )
    n["status"]["capacity"]["nvidia.com/gpu"] = "1"
    n["status"]["allocatable"]["nvidia.com/gpu"] = "1"
    c.logs[(c.namespace, c.pod(c.namespace, "nvidia-device-plugin-daemonset")["metadata"]["name"])][
        "config-manager"
    ] = [
        "I1120 10:40:01.201944       1 main.go:305] Updating to config: ",
        "I1120 10:40:01.203001       1 main.go:318] Successfully updated to empty config",
    ]
    return c


def case_capacity_mismatch() -> Cluster:
    """One of the four GPUs fell off the bus: 3 x 2 advertised where the spec wants 4 x 2."""
    c = healthy()
    n = c.node(GPU4)
    n["status"]["capacity"]["nvidia.com/gpu"] = "6"
    n["status"]["allocatable"]["nvidia.com/gpu"] = "6"
    n["metadata"]["labels"]["nvidia.com/gpu.count"] = "3"
    return c


def case_configmap_namespace() -> Cluster:
    c = healthy()
    ns = c.namespace
    cm = c.configmaps.pop(ns)[0]
    cm["metadata"]["namespace"] = "kube-system"
    c.configmaps["kube-system"] = [cm]
    name = cm["metadata"]["name"]
    for prefix in ("nvidia-device-plugin-daemonset", "gpu-feature-discovery"):
        for node_name in (GPU1, GPU4):
            p = _set_pod(
                c,
                ns,
                prefix,
                node_name=node_name,
                init_statuses=[
                    completed("toolkit-validation", OP_IMAGE),
                    waiting("config-manager-init", DP_IMAGE, "PodInitializing"),
                ],
                statuses=[waiting("config-manager", DP_IMAGE, "ContainerCreating")],
            )
            c.add_event(
                event(
                    ns,
                    "Pod",
                    p["metadata"]["name"],
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{name}" : configmap "{name}" not found',
                    host=node_name,
                    count=23,
                )
            )
    _ds_unready(c, "nvidia-device-plugin-daemonset", 0)
    _ds_unready(c, "gpu-feature-discovery", 0)
    _cp_not_ready(c)
    return c


def case_coredns_port_in_use() -> Cluster:
    c = healthy()
    img = "registry.k8s.io/dns/k8s-dns-node-cache:1.26.4"
    for node_name in (GPU1,):
        c.add_pod(
            pod(
                f"node-local-dns-{suffix('nld', node_name)}",
                "kube-system",
                node_name,
                owner=("DaemonSet", "node-local-dns"),
                labels={"k8s-app": "node-local-dns"},
                host_network=True,
                priority_class="system-node-critical",
                service_account="node-local-dns",
                containers=[
                    container(
                        "node-cache", img, args=["-localip", "169.254.20.10,172.20.0.10", "-conf", "/etc/Corefile"]
                    )
                ],
                statuses=[
                    waiting(
                        "node-cache",
                        img,
                        "CrashLoopBackOff",
                        "back-off 5m0s restarting failed container=node-cache",
                        restarts=12,
                    )
                ],
            ),
            logs={
                "node-cache": [
                    "2026/11/20 10:41:02 [INFO] Starting node-cache image: 1.26.4",
                    "2026/11/20 10:41:02 [INFO] Using Corefile /etc/Corefile",
                    "Listen: listen udp 0.0.0.0:53: bind: address already in use",
                ]
            },
        )
    return c


def case_coredns_loop() -> Cluster:
    c = healthy()
    for p in [p for p in c.pods["kube-system"] if p["metadata"]["name"].startswith("coredns-")]:
        p["status"]["containerStatuses"] = [
            waiting(
                "coredns",
                COREDNS_IMAGE,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container=coredns",
                restarts=17,
            )
        ]
        p["spec"]["nodeName"] = GPU1
        c.logs[("kube-system", p["metadata"]["name"])] = {
            "coredns": [
                ".:53",
                "[INFO] plugin/reload: Running configuration SHA512 = 8a7d59126e7f1154",
                "CoreDNS-1.12.2",
                "linux/amd64, go1.24.6, 9ae4b0c",
                '[FATAL] plugin/loop: Loop (127.0.0.1:38541 -> :53) detected for zone ".", see '
                'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 5685135666098706724.5086278856509779791."',
            ]
        }
    return c


def case_gpu_node_disk_pressure() -> Cluster:
    c = healthy()
    i = c.nodes.index(c.node(GPU1))
    old = c.nodes[i]
    c.nodes[i] = node(
        GPU1,
        pool="a10g-shared",
        nodegroup=old["metadata"]["labels"]["eks.amazonaws.com/nodegroup"],
        config_label="time-slicing-4",
        disk_pressure=True,
    )
    c.add_event(
        event(
            "default",
            "Node",
            GPU1,
            "EvictionThresholdMet",
            "Attempting to reclaim ephemeral-storage",
            host=GPU1,
            count=20,
        )
    )
    c.add_event(
        event(
            "default",
            "Node",
            GPU1,
            "FreeDiskSpaceFailed",
            "Failed to garbage collect required amount of images. Attempted to free 11461842534 bytes, "
            "but only found 0 bytes eligible to free.",
            host=GPU1,
            count=8,
        )
    )
    img = "nvcr.io/nvidia/pytorch:25.10-py3"
    c.add_pod(
        pod(
            f"train-{suffix('t')}",
            "default",
            GPU1,
            labels={"app": "train"},
            containers=[container("train", img, limits={"nvidia.com/gpu": "1"})],
            statuses=[],
            phase="Failed",
            status_extra={
                "reason": "Evicted",
                "message": "The node was low on resource: ephemeral-storage. Threshold quantity: 2070174761, "
                "available: 1547996Ki. Container train was using 15603372Ki, request is 0, has "
                "larger consumption of ephemeral-storage. ",
            },
        )
    )
    return c


def case_driver_kernel_headers() -> Cluster:
    c = healthy()
    ns = c.namespace
    n = c.node(GPU1)
    n["status"]["nodeInfo"]["kernelVersion"] = "6.8.0-1041-aws"
    _set_pod(
        c,
        ns,
        "nvidia-driver-daemonset",
        node_name=GPU1,
        statuses=[
            waiting(
                "nvidia-driver-ctr",
                DRIVER_IMAGE,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container=nvidia-driver-ctr",
                restarts=7,
            )
        ],
        logs={
            "nvidia-driver-ctr": [
                "========== NVIDIA Software Installer ==========",
                "Starting installation of NVIDIA driver version 595.91.07 for Linux kernel version 6.8.0-1041-aws",
                "Stopping NVIDIA persistence daemon...",
                "Unloading NVIDIA driver kernel modules...",
                "Installing prerequisites...",
                "Resolving Linux kernel version...",
                "E: Unable to locate package linux-headers-6.8.0-1041-aws",
                "Could not resolve Linux kernel version",
                "Stopping NVIDIA persistence daemon...",
            ]
        },
    )
    _ds_unready(c, "nvidia-driver-daemonset", 1)
    _cp_not_ready(c, "state-driver")
    return c


def case_nfd_os_labels_missing() -> Cluster:
    c = healthy()
    n = c.node(GPU4)
    for key in [k for k in n["metadata"]["labels"] if k.startswith("feature.node.kubernetes.io/system-os_release")]:
        del n["metadata"]["labels"][key]
    op = c.pod(c.namespace, "gpu-operator-")
    c.logs[(c.namespace, op["metadata"]["name"])]["gpu-operator"].append(
        '{"level":"error","ts":1763635200,"logger":"controllers.ClusterPolicy","msg":"Failed to get OS info",'
        '"error":"unable to retrieve OS name from label feature.node.kubernetes.io/system-os_release.ID"}'
    )
    _cp_not_ready(c, "state-driver")
    return c


def case_runtime_nvidia_missing() -> Cluster:
    c = healthy()
    ns = c.namespace
    msg = (
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime "
        'for "nvidia" is configured'
    )
    for prefix in ("nvidia-device-plugin-daemonset", "gpu-feature-discovery", "nvidia-dcgm-exporter"):
        p = _set_pod(c, ns, prefix, node_name=GPU4, statuses=[waiting(prefix, DP_IMAGE, "ContainerCreating")])
        c.add_event(event(ns, "Pod", p["metadata"]["name"], "FailedCreatePodSandBox", msg, host=GPU4, count=41))
    tk = _set_pod(
        c,
        ns,
        "nvidia-container-toolkit-daemonset",
        node_name=GPU4,
        statuses=[
            waiting(
                "nvidia-container-toolkit-ctr",
                TOOLKIT_IMAGE,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container",
                restarts=5,
            )
        ],
    )
    c.logs[(ns, tk["metadata"]["name"])] = {
        "nvidia-container-toolkit-ctr": [
            'time="2026-11-20T10:30:01Z" level=error msg="error running nvidia-toolkit: unable to setup runtime: '
            'unable to load config: failed to load config: open /runtime/config-dir/config.toml: no such file"'
        ]
    }
    _ds_unready(c, "nvidia-device-plugin-daemonset", 1)
    return c


def case_bottlerocket_device_plugin() -> Cluster:
    c = healthy()
    n = c.node(GPU1)
    n["status"]["nodeInfo"].update(
        {
            "osImage": "Bottlerocket OS 1.54.0 (aws-k8s-1.33-nvidia)",
            "kernelVersion": "6.1.158",
            "containerRuntimeVersion": "containerd://2.0.6+bottlerocket",
        }
    )
    n["metadata"]["labels"]["feature.node.kubernetes.io/system-os_release.ID"] = "bottlerocket"
    n["metadata"]["labels"]["feature.node.kubernetes.io/system-os_release.VERSION_ID"] = "1.54.0"
    return c


def case_clusterpolicy_not_ready() -> Cluster:
    c = healthy()
    _ds_unready(c, "nvidia-dcgm-exporter", 1)
    _set_pod(
        c,
        c.namespace,
        "nvidia-dcgm-exporter",
        node_name=GPU4,
        statuses=[running("nvidia-dcgm-exporter", DCGM_EXPORTER_IMAGE, ready=False, restarts=3)],
    )
    _cp_not_ready(c, "state-dcgm-exporter")
    return c


@dataclass(frozen=True)
class Case:
    build: Any
    fires: tuple[str, ...]
    spec: bool = False  # run doctor with the fixture spec
    kubectl_only: bool = False  # write without gpuslice's extra files (a plain kubectl dump)


CASES: dict[str, Case] = {
    "healthy": Case(healthy, ()),
    "image-pull-upstream": Case(case_image_pull_upstream, ("image-pull-upstream",)),
    "toolkit-glibc": Case(case_toolkit_glibc, ("toolkit-glibc",)),
    "config-manager-missing-key": Case(case_config_manager_missing_key, ("config-manager-missing-key",)),
    "sharing-off": Case(case_sharing_off, ("sharing-off",), spec=True),
    "capacity-mismatch": Case(case_capacity_mismatch, ("capacity-mismatch",), spec=True),
    "configmap-namespace": Case(case_configmap_namespace, ("configmap-namespace",)),
    "coredns-port-in-use": Case(case_coredns_port_in_use, ("coredns-port-in-use",), kubectl_only=True),
    "coredns-loop": Case(case_coredns_loop, ("coredns-loop",), kubectl_only=True),
    "gpu-node-disk-pressure": Case(case_gpu_node_disk_pressure, ("gpu-node-disk-pressure",)),
    "driver-kernel-headers": Case(case_driver_kernel_headers, ("driver-kernel-headers",)),
    "nfd-os-labels-missing": Case(case_nfd_os_labels_missing, ("nfd-os-labels-missing",)),
    "runtime-nvidia-missing": Case(case_runtime_nvidia_missing, ("runtime-nvidia-missing",), kubectl_only=True),
    "bottlerocket-device-plugin": Case(case_bottlerocket_device_plugin, ("bottlerocket-device-plugin",)),
    "clusterpolicy-not-ready": Case(case_clusterpolicy_not_ready, ("clusterpolicy-not-ready",)),
}


def case_files(name: str) -> dict[str, str]:
    case = CASES[name]
    files = case.build().files(snapshot_extras=not case.kubectl_only)
    files["expect.json"] = json.dumps({"fires": list(case.fires), "spec": case.spec}, indent=2) + "\n"
    return files


def write_cases(root: Path = DUMPS) -> None:
    import shutil

    for name in CASES:
        target = root / name
        if target.exists():
            shutil.rmtree(target)
        for rel, text in case_files(name).items():
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_cases()
    print(f"wrote {len(CASES)} dumps under {DUMPS}")
