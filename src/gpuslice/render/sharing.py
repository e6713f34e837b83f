"""Device-plugin sharing ConfigMap and the node labels each pool needs."""

from __future__ import annotations

import json

from gpuslice.render import RenderOptions, RenderResult
from gpuslice.resolve import ResolvedSpec
from gpuslice.sharing import configmap_manifest, pool_labels
from gpuslice.yamlio import dump_yaml


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    labels = pool_labels(resolved)
    return RenderResult(
        files={
            "device-plugin-config.yaml": dump_yaml(configmap_manifest(resolved)),
            "node-labels.json": json.dumps(labels, indent=2, sort_keys=True) + "\n",
        }
    )
