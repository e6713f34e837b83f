"""Write the device-plugin config of every key gpuslice renders, for the H200 run (no GPU needed).

Keys: those of the bundled examples (examples/*.yaml) plus variants of the first example's pool that cover the
other shapes (MPS, renamed resource, ``failRequestsGreaterThanOne: false``). Each key's YAML is exactly what
``gpuslice render`` puts into the sharing ConfigMap (``gpuslice.sharing.configmap_data``); the manifest says,
per key, the pool settings it came from and what the device plugin and GFD must then show.

usage: python benchmarks/device_plugin/prepare.py OUTDIR
writes OUTDIR/configs/<key>.yaml, OUTDIR/manifest.json and OUTDIR/variants.yaml (the variant spec).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: Pool sharing settings beyond the examples' own (name -> sharing block).
VARIANTS: dict[str, dict[str, Any]] = {
    "ts8": {"strategy": "time-slicing", "replicas": 8},
    "ts4-renamed": {"strategy": "time-slicing", "replicas": 4, "renameByDefault": True},
    "ts2-multi": {"strategy": "time-slicing", "replicas": 2, "failRequestsGreaterThanOne": False},
    "mps2": {"strategy": "mps", "replicas": 2},
    "mps4": {"strategy": "mps", "replicas": 4},
    "mps8": {"strategy": "mps", "replicas": 8},
}


def variant_spec(base: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    pool0 = spec["nodePools"][0]
    pools = []
    for name, sharing in VARIANTS.items():
        p = copy.deepcopy(pool0)
        p["name"] = name
        p["sharing"] = dict(sharing)
        pools.append(p)
    spec["nodePools"] = pools
    return spec


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "src"))
    import yaml

    import gpuslice
    from gpuslice.catalog import load_catalog
    from gpuslice.sharing import configmap_data
    from gpuslice.yamlio import dump_yaml

    out = Path(argv[0])
    (out / "configs").mkdir(parents=True, exist_ok=True)
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    base = yaml.safe_load((ROOT / "examples" / "eks-ubuntu.yaml").read_text())
    vpath = out / "variants.yaml"
    vpath.write_text(dump_yaml(variant_spec(base)))
    keys: dict[str, Any] = {}
    for path in [*examples, vpath]:
        src = path.name if path != vpath else "variants.yaml"
        resolved = gpuslice.load(str(path))
        data = configmap_data(resolved)
        for pool in resolved.pools:
            rs = pool.sharing
            k = keys.setdefault(
                rs.config_key,
                {
                    "strategy": rs.strategy if rs.shared else "none",
                    "replicas": rs.replicas,
                    "renameByDefault": rs.rename_by_default,
                    "failRequestsGreaterThanOne": rs.fail_requests_greater_than_one,
                    "resourceName": rs.resource_name,
                    "advertisedResource": rs.advertised_resource,
                    "pools": [],
                },
            )
            k["pools"].append(f"{src}:{pool.name}")
        for key, text in data.items():
            (out / "configs" / f"{key}.yaml").write_text(text)
            keys.setdefault(
                key,
                {
                    "strategy": "none",
                    "replicas": 1,
                    "renameByDefault": False,
                    "failRequestsGreaterThanOne": False,
                    "resourceName": "nvidia.com/gpu",
                    "advertisedResource": "nvidia.com/gpu",
                    "pools": [],
                },
            )
    cat = load_catalog()
    charts = {v: c.device_plugin_version for v, c in cat.chart_versions.items()}
    manifest = {"charts": charts, "keys": dict(sorted(keys.items()))}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(keys)} keys: {', '.join(sorted(keys))}; charts {charts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
