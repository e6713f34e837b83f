"""``top-agent.yaml``: the ``gpuslice top`` node agent as a DaemonSet on the GPU nodes (only when ``top.enabled``).

What the agent needs and why:
- ``hostPID: true``: NVML reports host pids; ``/proc/<pid>/cgroup`` must be the host's to name their pods.
- GPU visibility without taking a replica: ``NVIDIA_VISIBLE_DEVICES=all`` through the NVIDIA runtime (the
  ``nvidia`` RuntimeClass the operator creates), no ``nvidia.com/gpu`` request — as dcgm-exporter runs.
- The kubelet's pod-resources socket (``/var/lib/kubelet/pod-resources``, read-only mount; the socket needs root).
- RBAC: get nodes (its GFD sharing labels), list pods (names and container ids of the pods on its node).
- Port ``top.port`` serving /metrics, /json, /healthz; ``gpuslice top`` reads /json through the pod proxy.
"""

from __future__ import annotations

from typing import Any

from gpuslice import names
from gpuslice.render import RenderOptions, RenderResult
from gpuslice.resolve import ResolvedSpec

TOP_FILE = "top-agent.yaml"
APP = "gpuslice-top"
GPU_PRESENT = "nvidia.com/gpu.present"


def manifests(resolved: ResolvedSpec) -> list[dict[str, Any]]:
    top = resolved.spec.top
    ns = resolved.namespace
    role = names.object_name(resolved.deployment_id, "top")
    labels = {"app.kubernetes.io/name": APP, "app.kubernetes.io/part-of": "gpuslice"}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": APP,
        "hostPID": True,
        "runtimeClassName": "nvidia",
        "priorityClassName": "system-node-critical",
        "nodeSelector": {GPU_PRESENT: "true"},
        "tolerations": [{"operator": "Exists"}],  # GPU pools are often tainted; the agent belongs on every one
        "containers": [
            {
                "name": "agent",
                "image": top.image,
                "args": ["top", "--node", "--listen", f"0.0.0.0:{top.port}", "--interval", f"{top.interval_seconds:g}"],
                "env": [
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
                    {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"},
                ],
                "ports": [{"name": "metrics", "containerPort": top.port, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": top.port}, "periodSeconds": 10},
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "securityContext": {
                    "runAsUser": 0,
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True},
                    {"name": "pod-logs", "mountPath": "/var/log/pods", "readOnly": True},
                ],
            }
        ],
        "volumes": [
            {"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}},
            {"name": "pod-logs", "hostPath": {"path": "/var/log/pods", "type": "DirectoryOrCreate"}},
        ],
    }
    if resolved.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in resolved.pull_secrets]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": APP, "namespace": ns, "labels": labels}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role, "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": APP, "namespace": ns, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": APP}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(top.port)},
                    },
                    "spec": pod_spec,
                },
            },
        },
    ]


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    from gpuslice.yamlio import dump_yaml

    if not resolved.spec.top.enabled:
        return RenderResult()
    head = (
        "# gpuslice top: the node agent on every GPU node (kubectl apply -f top-agent.yaml; gpuslice apply does it).\n"
        f"# Then: gpuslice top -n {resolved.namespace}   (or scrape :{resolved.spec.top.port}/metrics with Prometheus)\n"
    )
    return RenderResult(files={TOP_FILE: head + "---\n".join(dump_yaml(d) for d in manifests(resolved))})
