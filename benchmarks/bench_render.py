"""Time `render` of the GPU Operator artifacts for a 50-pool spec, helm render and proof included.

    .venv/bin/python benchmarks/bench_render.py [--pools 50] [--repeat 5] [--chart PATH] [--json out.json]

Prints the median and best wall time of (a) the operator renderer alone (values, inventory, mirror script,
`helm template` of the real chart, image/pull-secret checks, kubernetes-validate and CRD validation) and (b) every
registered renderer (what `gpuslice render` does), plus `helm template` alone for reference. Goal: (b) <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHART = ROOT / "examples" / "charts" / "gpu-operator-v26.7.0"

# Pools cycle through instance types, OSes and sharing settings so the device-plugin config has many keys.
INSTANCES = ["g5.2xlarge", "g5.12xlarge", "g6.xlarge", "g4dn.xlarge", "p4d.24xlarge", "g6e.2xlarge"]
OSES = ["ubuntu-22.04", "ubuntu-24.04", "al2023-nvidia"]


def spec_text(pools: int) -> str:
    lines = [
        "apiVersion: gpuslice.dev/v1alpha1",
        "kind: GpuCluster",
        "cluster: {name: bench, deploymentId: bench-euw1, kubernetesVersion: '1.33'}",
        "operator: {chartVersion: v26.7.0}",
        "registry:",
        "  pullSecrets: [corp-registry]",
        "  mirrors:",
        "    - {source: nvcr.io/nvidia, mirror: registry.corp.example/nvidia}",
        "    - {source: registry.k8s.io, mirror: registry.corp.example/k8s}",
        "nodePools:",
    ]
    for i in range(pools):
        sharing = (
            "{strategy: none}"
            if i % 5 == 0
            else (f"{{strategy: {'mps' if i % 7 == 0 else 'time-slicing'}, replicas: {2 + i % 9}}}")
        )
        lines += [
            f"  - name: pool-{i:02d}",
            f"    instanceType: {INSTANCES[i % len(INSTANCES)]}",
            f"    os: {OSES[i % len(OSES)]}",
            "    disks: {rootGiB: 100, data: {sizeGiB: 200}}",
            f"    taints: [{{key: team-{i % 4}, value: 'true', effect: NoSchedule}}]",
            f"    sharing: {sharing}",
        ]
    return "\n".join(lines) + "\n"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from gpuslice import api
    from gpuslice.helm import find_helm, template
    from gpuslice.render import RenderOptions, render_all
    from gpuslice.render import operator as op

    imports = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "gpuslice.yaml"
        spec.write_text(spec_text(args.pools))
        r = api.load(spec)
        opts = RenderOptions(chart=args.chart)
        first = timed(lambda: op.render(r, opts), 1)[0]  # cold: schemas, chart parse
        result = op.render(r, opts)
        errors = [f for f in result.findings if f.severity.value == "error"]
        operator_runs = timed(lambda: op.render(r, opts), args.repeat)
        all_runs = timed(lambda: render_all(r, opts), args.repeat)
        values = str(result.files["values.yaml"])
        helm_runs = timed(
            lambda: template(
                args.chart,
                release=r.release_name,
                namespace=r.namespace,
                values_yaml=values,
                kube_version=r.kubernetes_version,
            ),
            args.repeat,
        )
    figures = {
        "pools": args.pools,
        "sharing_config_keys": len(r.sharing_configs),
        "images": str(result.files["images.txt"]).count("\n"),
        "proof_errors": len(errors),
        "helm": find_helm(),
        "imports_s": round(imports, 3),
        "operator_render_cold_s": round(first, 3),
        "operator_render_median_s": round(statistics.median(operator_runs), 3),
        "operator_render_best_s": round(min(operator_runs), 3),
        "all_renderers_median_s": round(statistics.median(all_runs), 3),
        "helm_template_median_s": round(statistics.median(helm_runs), 3),
    }
    for k, v in figures.items():
        print(f"{k:28} {v}")
    ok = figures["all_renderers_median_s"] <= 1.0 and not errors
    print(f"goal (whole render incl. helm and proof <= 1 s, no proof errors): {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
