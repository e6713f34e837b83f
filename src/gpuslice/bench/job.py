"""A Kubernetes Job that runs ``gpuslice bench`` on one node of a pool, on one whole GPU.

* Placement: the pool's node label (``gpuslice.dev/pool``) and, where the operator's device plugin serves the
  pool, the device-plugin config label set to the *exclusive* config, so ``nvidia.com/gpu: 1`` is a whole GPU
  rather than one time-sliced replica. On a shared pool, relabel one node first (the notes say how).
* ``hostIPC: true`` and a memory-backed ``/dev/shm``: MPS clients and the control daemon talk through IPC.
* The image goes through the spec's registry mirror rules (:func:`gpuslice.images.mirror_for`) and uses its
  pull secrets.
* Results: the pod log (between markers that ``gpuslice recommend --bench <log>`` understands) and a file
  on the node (hostPath).
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gpuslice.bench.results import LOG_BEGIN, LOG_END
from gpuslice.errors import GpusliceError
from gpuslice.resolve import DEVICE_PLUGIN_CONFIG_LABEL, EXCLUSIVE_KEY, POOL_LABEL, ResolvedSpec


@lru_cache(maxsize=1)
def job_defaults() -> dict[str, Any]:
    from gpuslice.yamlio import load_packaged

    data: dict[str, Any] = load_packaged("gpuslice.bench", "job_defaults.yaml")
    return data


@dataclass
class RenderedJob:
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        from gpuslice.yamlio import dump_yaml

        head = "".join(f"# {n}\n" for n in self.notes)
        return head + dump_yaml(self.manifest)


def _tolerations(pool: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    for t in pool.spec.taints:
        tol: dict[str, Any] = {"key": t.key, "effect": t.effect}
        if t.value:
            tol.update(operator="Equal", value=t.value)
        else:
            tol["operator"] = "Exists"
        if tol not in out:
            out.append(tol)
    return out


def render_job(
    resolved: ResolvedSpec,
    pool_name: str,
    *,
    image: str | None = None,
    install: bool = True,
    bench_args: list[str] | None = None,
    namespace: str | None = None,
) -> RenderedJob:
    """The bench Job for ``pool_name``. Raises GpusliceError for an unknown pool."""
    from gpuslice import __version__, names
    from gpuslice.images import mirror_for, parse_image

    pool = resolved.pool(pool_name)
    if pool is None:
        known = [p.name for p in resolved.pools]
        hint = difflib.get_close_matches(pool_name, known, n=1)
        raise GpusliceError(
            f"no node pool named {pool_name!r} in the spec"
            + (f"; did you mean {hint[0]!r}?" if hint else f"; pools: {', '.join(known)}")
        )
    d = job_defaults()
    notes: list[str] = [f"gpuslice bench Job for pool {pool.name} (rendered by gpuslice {__version__})"]
    src_image = image or d["image"]["reference"]
    try:
        parse_image(src_image)
    except ValueError as e:
        raise GpusliceError(f"--image: {e}") from None
    pulled = mirror_for(src_image, resolved) or src_image
    if pulled != src_image:
        notes.append(f"image {src_image} pulled through the mirror as {pulled}")

    selector = {POOL_LABEL: pool.name}
    if DEVICE_PLUGIN_CONFIG_LABEL in pool.node_labels:
        selector[DEVICE_PLUGIN_CONFIG_LABEL] = EXCLUSIVE_KEY
        if pool.sharing.shared:
            notes.append(
                f"pool {pool.name} shares its GPUs ({pool.sharing.strategy} x{pool.sharing.replicas}); the Job "
                f"needs a whole GPU, so label one node with the exclusive config first: kubectl label node <node> "
                f"{DEVICE_PLUGIN_CONFIG_LABEL}={EXCLUSIVE_KEY} --overwrite (and set it back to "
                f"{pool.sharing.config_key} afterwards); drain that node of shared-GPU pods before the run"
            )
    elif pool.sharing.shared:
        notes.append(
            f"pool {pool.name}: the OS's built-in device plugin decides sharing; make sure the bench node "
            "advertises whole GPUs before running the Job"
        )
    if pool.sharing.resource_name.startswith("nvidia.com/mig-"):
        notes.append(
            f"pool {pool.name} shares MIG slices ({pool.sharing.resource_name}); the Job asks for a whole GPU, which "
            "a node whose GPUs are all MIG-partitioned does not offer (the Job stays Pending): run it on a node with "
            "MIG disabled (gpuslice leaves MIG settings alone); its numbers describe a whole GPU, not a slice"
        )
    resource = (
        resolved.sharing_configs[EXCLUSIVE_KEY].resource_name
        if EXCLUSIVE_KEY in resolved.sharing_configs
        else "nvidia.com/gpu"
    )

    script = ["set -eu"]
    if install:
        script.append(d["install"].format(version=__version__))
    script += [
        f'out="/results/{pool.name}-$(date -u +%Y%m%dT%H%M%SZ)"',
        'gpuslice bench --out-dir "$out" --print-log' + "".join(" " + shlex.quote(a) for a in bench_args or []),
        'echo "results: $out on node $NODE_NAME"',
    ]
    name = names.dns_label(resolved.deployment_id, "bench", pool.name)
    labels = {
        "app.kubernetes.io/name": "gpuslice-bench",
        "app.kubernetes.io/managed-by": "gpuslice",
        POOL_LABEL: pool.name,
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostIPC": True,
        "nodeSelector": selector,
        "tolerations": _tolerations(pool),
        "containers": [
            {
                "name": "bench",
                "image": pulled,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", "\n".join(script) + "\n"],
                "env": [
                    {"name": "PYTHONUNBUFFERED", "value": "1"},
                    {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                ],
                "resources": {"limits": {resource: 1}},
                "volumeMounts": [
                    {"name": "results", "mountPath": "/results"},
                    {"name": "dshm", "mountPath": "/dev/shm"},
                ],
            }
        ],
        "volumes": [
            {"name": "results", "hostPath": {"path": d["resultsHostPath"], "type": "DirectoryOrCreate"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
        ],
    }
    if resolved.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in resolved.pull_secrets]
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace or resolved.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(d["activeDeadlineSeconds"]),
            "ttlSecondsAfterFinished": int(d["ttlSecondsAfterFinished"]),
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }
    notes.append(
        f"results: kubectl -n {namespace or resolved.namespace} logs job/{name} > bench.log; "
        f"gpuslice recommend --bench bench.log --spec <spec>  (the log holds the JSON between "
        f"'{LOG_BEGIN}' and '{LOG_END}'); a copy stays on the node under {d['resultsHostPath']}"
    )
    return RenderedJob(manifest=manifest, notes=notes)
