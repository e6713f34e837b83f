"""The spec reference: a description and an example for every field of the JSON Schema, and docs/spec.md made
from the schema (``python -m gpuslice.spec_docs > docs/spec.md``; a test fails when the committed file is stale).

Descriptions written on the models' fields (``Field(description=...)``) win; :data:`FIELD_DOCS` supplies the rest
and every example. A new spec field without an entry here fails ``tests/test_spec_reference.py``.
"""

from __future__ import annotations

import json
from typing import Any

#: model (JSON Schema $defs name, "Spec" for the root) -> field (YAML name) -> (description or None, example)
FIELD_DOCS: dict[str, dict[str, tuple[str | None, Any]]] = {
    "Spec": {
        "apiVersion": ("Schema version of this file.", "gpuslice.dev/v1alpha1"),
        "kind": ("Kind of document.", "GpuCluster"),
        "cluster": (
            "The cluster the GPU nodes join.",
            {"name": "ml-prod", "deploymentId": "ml-prod-euw1", "kubernetesVersion": "1.33"},
        ),
        "operator": ("The NVIDIA GPU Operator release.", {"chartVersion": "v26.7.0"}),
        "registry": (
            "Where the cluster pulls images from (mirror, proxy, pull secrets).",
            {"proxy": "registry.corp.example/docker-remote"},
        ),
        "nodePools": (
            "The GPU node pools, each with its instance type, OS, disks and GPU sharing (at least one).",
            [{"name": "a10g-shared", "instanceType": "g5.2xlarge", "os": "ubuntu-22.04"}],
        ),
        "checks": ("Options of gpuslice check and doctor.", {"disabled": ["disk-instance-store-unused"]}),
        "top": ("The gpuslice top node agent (optional DaemonSet).", {"enabled": False}),
    },
    "Cluster": {
        "name": (None, "ml-prod"),
        "deploymentId": (None, "ml-prod-euw1"),
        "provider": (None, "eks"),
        "kubernetesVersion": (None, "1.33"),
        "region": ("AWS region of the cluster (EKS).", "eu-west-1"),
    },
    "Operator": {
        "chartVersion": (None, "v26.7.0"),
        "namespace": ("Namespace of the GPU Operator release.", "gpu-operator"),
        "releaseName": (None, "ml-prod-gpu-operator"),
        "chartRepository": (
            "Helm repository (https://) or OCI registry (oci://) the chart is pulled from.",
            "https://helm.ngc.nvidia.com/nvidia",
        ),
        "chart": (None, "charts/gpu-operator-v26.7.0"),
        "timeoutMinutes": ("How long helm waits for the release (helm --timeout), in minutes.", 15),
        "values": (None, {"dcgmExporter": {"enabled": False}}),
    },
    "MirrorRule": {
        "source": (None, "nvcr.io"),
        "mirror": (None, "123456789012.dkr.ecr.us-east-1.amazonaws.com/nvcr"),
    },
    "Registry": {
        "proxy": (None, "artifactory.corp.example/docker-remote"),
        "mirrors": (
            "Copy-into mirrors: images under source are pulled from mirror instead (longest source wins; before proxy).",
            [{"source": "nvcr.io", "mirror": "registry.corp.example/nvcr"}],
        ),
        "pullSecrets": (None, ["corp-registry"]),
    },
    "DataVolume": {
        "sizeGiB": ("Size of the data volume (GiB).", 100),
        "mountPath": ("Where the data volume is mounted (containerd's root by default).", "/var/lib/containerd"),
        "deviceName": ("EBS device name the volume is attached as (found by its NVMe-recorded name).", "/dev/xvdb"),
        "volumeType": ("EBS volume type.", "gp3"),
        "kubeletDir": (None, False),
    },
    "Disks": {
        "rootGiB": (None, 40),
        "data": ("An extra EBS volume for container images and writable layers.", {"sizeGiB": 100}),
        "instanceStore": (None, "raid0"),
    },
    "Taint": {
        "key": ("Taint key (a Kubernetes label key).", "nvidia.com/gpu"),
        "value": ("Taint value.", "true"),
        "effect": ("Taint effect.", "NoSchedule"),
    },
    "GpuOverride": {
        "model": ("GPU model, when the instance type does not say it (provider generic) or to override it.", "A10G"),
        "count": ("GPUs per node.", 1),
        "memoryGiB": ("Memory per GPU (GiB).", 24),
    },
    "Sharing": {
        "strategy": ("How the pool's GPUs are shared: time-slicing, mps, or none (exclusive).", "time-slicing"),
        "replicas": (None, 4),
        "renameByDefault": (
            "Advertise shared GPUs as <resourceName>.shared instead of the plain resource name.",
            False,
        ),
        "failRequestsGreaterThanOne": (None, True),
        "resourceName": ("Extended resource the device plugin advertises.", "nvidia.com/gpu"),
        "workloadsRequest": (None, "nvidia.com/gpu"),
        "latencyBudgetMs": (None, 50),
    },
    "NodePool": {
        "name": ("Pool name (a DNS label); node-group and config names derive from it.", "a10g-shared"),
        "instanceType": (None, "g5.2xlarge"),
        "os": ("Node OS (its family decides the bootstrap: cloud-init, nodeadm or Bottlerocket TOML).", "ubuntu-22.04"),
        "gpu": (
            "The pool's GPUs when the instance type does not tell them (provider generic).",
            {"model": "L4", "count": 1},
        ),
        "disks": (
            "Root volume, data volume and instance store of the pool's nodes.",
            {"rootGiB": 40, "data": {"sizeGiB": 100}},
        ),
        "labels": ("Extra node labels.", {"team": "ml"}),
        "taints": ("Node taints.", [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]),
        "ssm": ("Enable the SSM agent on the nodes (the CDK node role gets its policy).", True),
        "ssmPolicyAttached": (None, False),
        "hostNetworkDns": (None, False),
        "kubeletResolvConf": (None, "/run/systemd/resolve/resolv.conf"),
        "amiId": (None, "ami-0123456789abcdef0"),
        "minSize": ("Fewest nodes of the node group.", 1),
        "maxSize": ("Most nodes of the node group.", 4),
        "desiredSize": ("Nodes to start with (between minSize and maxSize; default minSize).", 2),
        "sharing": ("GPU sharing of the pool's nodes.", {"strategy": "time-slicing", "replicas": 4}),
    },
    "ChecksOptions": {
        "memoryPerReplicaFloorGiB": ("Least GPU memory one shared replica should get (GiB); less is a warning.", 4),
        "disabled": (None, ["disk-instance-store-unused"]),
    },
    "Top": {
        "enabled": (None, True),
        "image": (None, "registry.corp.example/gpuslice:0.1.0"),
        "port": (None, 9400),
        "intervalSeconds": (None, 5),
    },
}


def _models(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("Spec", schema), *sorted((schema.get("$defs") or {}).items())]


def annotate(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every property of ``schema`` a description (unless the model has one) and ``examples``."""
    for name, model in _models(schema):
        docs = FIELD_DOCS.get(name, {})
        for field, prop in (model.get("properties") or {}).items():
            if field not in docs:
                continue
            desc, example = docs[field]
            if desc and "description" not in prop:
                prop["description"] = desc
            prop["examples"] = [example]
    return schema


def undocumented(schema: dict[str, Any]) -> list[str]:
    """``Model.field`` of every property without a description or an example."""
    return [
        f"{name}.{field}"
        for name, model in _models(schema)
        for field, prop in (model.get("properties") or {}).items()
        if not prop.get("description") or not prop.get("examples")
    ]


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].rsplit('/', 1)[-1]}](#{prop['$ref'].rsplit('/', 1)[-1].lower()})"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"] if p.get("type") != "null")
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    t = prop.get("type", "any")
    if t == "array":
        return f"list of {_type(prop.get('items') or {})}"
    if t == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(t)


def _limits(prop: dict[str, Any]) -> str:
    p = prop
    if "anyOf" in prop:
        p = next((x for x in prop["anyOf"] if x.get("type") != "null"), prop)
    parts = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("minLength", "length >="),
                      ("maxLength", "length <="), ("minItems", "items >=")):  # fmt: skip
        if key in p:
            parts.append(f"{word} {p[key]}")
    if "pattern" in p:
        parts.append(f"pattern `{p['pattern']}`")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def spec_markdown(schema: dict[str, Any]) -> str:
    """docs/spec.md: one table per model (field, type, required, default, description, example)."""
    lines = [
        "# gpuslice.yaml reference",
        "",
        "<!-- Generated from the JSON Schema (gpuslice schema) by `python -m gpuslice.spec_docs > docs/spec.md`;",
        "     tests/test_spec_reference.py fails when this file is stale. Edit src/gpuslice/spec.py / spec_docs.py. -->",
        "",
        f"{schema.get('title', 'gpuslice spec')}: `apiVersion: gpuslice.dev/v1alpha1`, `kind: GpuCluster`. Unknown",
        "fields are errors (with a did-you-mean). The JSON Schema itself: `gpuslice schema` or",
        "[`schema/gpuslice.schema.json`](../schema/gpuslice.schema.json).",
        "",
    ]
    for name, model in _models(schema):
        props = model.get("properties") or {}
        if not props:
            continue
        required = set(model.get("required") or [])
        lines += [f"## {name}", ""]
        if model.get("description") and name != "Spec":
            lines += [_cell(model["description"]), ""]
        lines += ["| field | type | required | default | description | example |", "|---|---|---|---|---|---|"]
        for field, prop in props.items():
            default = json.dumps(prop["default"]) if "default" in prop else ""
            limits = _limits(prop)
            desc = prop.get("description", "") + (f" ({limits})" if limits else "")
            example = json.dumps(prop["examples"][0]) if prop.get("examples") else ""
            lines.append(
                f"| `{field}` | {_cell(_type(prop))} | {'yes' if field in required else ''} | "
                f"{_cell(f'`{default}`' if default else '')} | {_cell(desc)} | `{_cell(example)}` |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    from gpuslice.spec import json_schema

    print(spec_markdown(json_schema()), end="")
