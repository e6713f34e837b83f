"""``smoke-test.yaml``: pods that prove a pool's GPUs are really shared, for ``kubectl apply`` by hand, and the
same pod bodies ``gpuslice verify --smoke`` creates.

For a pool with G GPUs per node shared R ways, G x R + 1 pods each ask for one shared GPU on one node: G x R must
run at the same time (R on each GPU UUID) and one must stay Pending. Each pod runs the CUDA ``vectorAdd`` sample
and prints the UUID of the GPU it got. The image is the operator's validator image, which carries ``vectorAdd``
and which the cluster already pulls through the mirror (NVIDIA/gpu-operator ``docker/Dockerfile``; its own
plugin-workload validation pod runs it the same way, ``validator/manifests/plugin-workload-validation.yaml``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from gpuslice import names
from gpuslice.render import RenderOptions, RenderResult
from gpuslice.resolve import POOL_LABEL, ResolvedPool, ResolvedSpec

SMOKE_FILE = "smoke-test.yaml"
RUN_LABEL = "gpuslice.dev/smoke-run"
POOL_SMOKE_LABEL = "gpuslice.dev/smoke-pool"
UUID_PREFIX = "GPUSLICE_GPU_UUID="
MPS_PREFIX = "GPUSLICE_MPS="
#: On an MPS share the device plugin gives the container CUDA_MPS_PIPE_DIRECTORY and mounts the pipe directory
#: of the MPS control daemon (NVIDIA/k8s-device-plugin internal/plugin/mps.go ``updateReponse``); the daemon runs
#: as root (privileged), the validator image as uid 1000 (NVIDIA/gpu-operator docker/Dockerfile ``USER 1000:1000``).
#: A CUDA client talks to the daemon through the ``control`` socket in that directory: the pod reports its uid and
#: whether that socket is there and writable for it, before vectorAdd runs as that client.
MPS_PROBE = (
    'if [ -n "$CUDA_MPS_PIPE_DIRECTORY" ]; then c="$CUDA_MPS_PIPE_DIRECTORY/control"; '
    'if [ ! -e "$c" ]; then s=absent; elif [ -w "$c" ]; then s=writable; else s=denied; fi; '
    'echo "' + MPS_PREFIX + 'uid=$(id -u) control=$s"; fi; '
)
#: Prints the GPU UUID(s) the container sees (and, on MPS, the pipe check), runs vectorAdd, then keeps the GPU
#: share until deleted.
SCRIPT = (
    "nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null | sed 's/^/" + UUID_PREFIX + "/'; "
    'case "$NVIDIA_VISIBLE_DEVICES" in GPU-*) echo "'
    + UUID_PREFIX
    + '$NVIDIA_VISIBLE_DEVICES";; esac; '
    + MPS_PROBE
    + "vectorAdd || exit 1; echo GPUSLICE_READY; sleep 3600"
)


def validator_image(values: dict[str, Any]) -> str | None:
    """``repository/image:version`` of the validator in a values tree (effective values or a ClusterPolicy spec)."""
    v = values.get("validator") if isinstance(values, dict) else None
    if not isinstance(v, dict):
        return None
    repo, image, version = v.get("repository"), v.get("image"), v.get("version")
    if not (image and version):
        return None
    sep = "@" if str(version).startswith("sha256:") else ":"
    return f"{repo}/{image}{sep}{version}" if repo else f"{image}{sep}{version}"


def expected_pods(pool: ResolvedPool) -> int | None:
    """How many pods fill one node of the pool (GPUs x replicas); None when the GPU count is unknown."""
    return pool.gpu.count * pool.sharing.replicas if pool.gpu.count else None


def smoke_pods(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    image: str,
    *,
    count: int,
    node: str | None = None,
    run_id: str = "manual",
) -> list[dict[str, Any]]:
    """``count`` pod manifests asking for one ``pool.sharing.advertised_resource`` each, all on one node: pinned
    to ``node`` when given, else kept together by pod affinity on the pool's nodes. Every pod is its own tree (the
    caller may change one without touching the others)."""
    labels = {
        "app.kubernetes.io/managed-by": "gpuslice",
        "app.kubernetes.io/name": "gpuslice-smoke",
        RUN_LABEL: run_id,
        POOL_SMOKE_LABEL: pool.name,
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": smoke_pod_name(resolved, pool, run_id, i),
                "namespace": resolved.namespace,
                "labels": dict(labels),
            },
            "spec": _pod_spec(resolved, pool, image, node, run_id),
        }
        for i in range(count)
    ]


def smoke_pod_name(resolved: ResolvedSpec, pool: ResolvedPool, run_id: str, index: int) -> str:
    """The name of the pool's ``index``-th smoke pod of a run (the pods differ only in it)."""
    return names.object_name(resolved.deployment_id, f"smoke-{pool.name}-{run_id}-{index}")


def _pod_spec(resolved: ResolvedSpec, pool: ResolvedPool, image: str, node: str | None, run_id: str) -> dict[str, Any]:
    tolerations: list[dict[str, Any]] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    for t in pool.spec.taints:
        tol: dict[str, Any] = {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
        if not t.value:
            tol = {"key": t.key, "operator": "Exists", "effect": t.effect}
        tolerations.append(tol)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": 1800,  # the pods go away even if nobody cleans up
        "terminationGracePeriodSeconds": 5,
        "tolerations": tolerations,
        "containers": [
            {
                "name": "cuda",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c"],
                "args": [SCRIPT],
                "env": [{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"}],
                "resources": {"limits": {pool.sharing.advertised_resource: "1"}},  # quantities are strings in the API
                "securityContext": {"allowPrivilegeEscalation": False},
            }
        ],
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    else:
        spec["nodeSelector"] = {POOL_LABEL: pool.name}
        spec["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {RUN_LABEL: run_id, POOL_SMOKE_LABEL: pool.name}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    if resolved.pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in resolved.pull_secrets]
    return spec


_PLAIN_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def _writes_plain(name: str) -> bool:
    """Whether YAML writes the name as it is: DNS-label characters and not a word it reads as something else
    (``on``, ``no``, ``true``, ``null`` ...; the emitter quotes those)."""
    import yaml

    if not _PLAIN_NAME.match(name):
        return False
    return _resolver().resolve(yaml.ScalarNode, name, (True, False)) == "tag:yaml.org,2002:str"


@functools.cache
def _resolver() -> Any:
    import yaml

    return yaml.resolver.Resolver()


_PLACEHOLDER = "gpuslice-smoke-name-placeholder"


def _pod_texts(pod: dict[str, Any], pod_names: list[str]) -> list[str]:
    """The YAML of ``pod`` under each of ``pod_names``: a pool's smoke pods differ only in their name, so the pod is
    emitted once and each name put in (a 300-pool spec has thousands of smoke pods; emitting each took most of a
    plan's time). A name YAML would not write plain is emitted with its pod."""
    from gpuslice.yamlio import dump_yaml

    def named(name: str) -> dict[str, Any]:
        return {**pod, "metadata": {**pod["metadata"], "name": name}}

    text = dump_yaml(named(_PLACEHOLDER))
    once = text.count(_PLACEHOLDER) == 1
    return [
        text.replace(_PLACEHOLDER, name) if once and _writes_plain(name) else dump_yaml(named(name))
        for name in pod_names
    ]


def smoke_image(resolved: ResolvedSpec, options: RenderOptions) -> str:
    """The validator image the operator will run, with the mirror applied (from the rendered operator values)."""
    from gpuslice.render.operator import chart_and_values

    chart, values = chart_and_values(resolved, options)
    image = validator_image(chart.effective_values(values))
    if image is None:  # a chart without validator keys: the operator image carries vectorAdd too
        image = validator_image({"validator": (chart.effective_values({}).get("operator") or {})}) or ""
    return image


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    shared = [p for p in resolved.pools if p.sharing.shared and expected_pods(p)]
    if not shared:
        return RenderResult()
    image = smoke_image(resolved, options)
    texts: list[str] = []
    for pool in shared:
        # what smoke_pods(..., count=n + 1) gives, emitted from its first pod
        pod_names = [smoke_pod_name(resolved, pool, "manual", i) for i in range((expected_pods(pool) or 0) + 1)]
        texts += _pod_texts(smoke_pods(resolved, pool, image, count=1)[0], pod_names)
    head = [
        "# GPU sharing smoke test (gpuslice). For each shared pool: GPUs x replicas + 1 pods on one node.",
        "# Expect GPUs x replicas Running (replicas per GPU UUID, see each pod's log) and exactly one Pending.",
        "#   kubectl apply -f smoke-test.yaml",
        f"#   kubectl -n {resolved.namespace} get pods -l {RUN_LABEL}=manual -o wide",
        f"#   kubectl -n {resolved.namespace} logs -l {RUN_LABEL}=manual --prefix | grep {UUID_PREFIX}",
        f"#   kubectl -n {resolved.namespace} delete pods -l {RUN_LABEL}=manual",
        "# `gpuslice verify SPEC --smoke` does all of this (on a node it picks) and removes what it created.",
    ]
    for pool in shared:
        head.append(
            f"# pool {pool.name}: {pool.gpu.count} GPU x {pool.sharing.replicas} "
            f"({pool.sharing.strategy}) -> {expected_pods(pool)} Running + 1 Pending, "
            f"resource {pool.sharing.advertised_resource}"
        )
    body = "---\n".join(texts)
    return RenderResult(files={SMOKE_FILE: "\n".join(head) + "\n" + body})
