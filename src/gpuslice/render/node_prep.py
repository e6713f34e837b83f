"""Provider generic: a plain node-prep script per pool, ``node-prep/<pool>/node-prep.sh``.

gpuslice does not create generic nodes, so it cannot bake labels and taints into a boot image. The script gives the
pool's existing nodes the same labels and taints the EKS bootstrap registers (``ResolvedPool.node_labels``,
``spec.taints``): run it with kubectl rights on the nodes you add to the pool, e.g.
``node-prep/gpu-a/node-prep.sh node-17 node-18``. ``$KUBECTL`` picks another kubectl binary.
"""

from __future__ import annotations

import shlex

from gpuslice.render import RenderOptions, RenderResult
from gpuslice.render.bootstrap.common import taint_string
from gpuslice.resolve import ResolvedPool, ResolvedSpec


def script(resolved: ResolvedSpec, pool: ResolvedPool) -> str:
    labels = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(pool.node_labels.items()))
    taints = " ".join(shlex.quote(taint_string(t)) for t in pool.spec.taints)
    notes = []
    if pool.kubelet_resolv_conf:
        notes.append(
            f"# The kubelet on these nodes must read {pool.kubelet_resolv_conf} (--resolv-conf), not the stub resolver."
        )
    return (
        "#!/usr/bin/env bash\n"
        f"# gpuslice: label and taint the nodes of pool {pool.name} ({resolved.deployment_id}); rendered, edit the spec.\n"
        "# Usage: node-prep.sh NODE [NODE...]   (kubectl with rights to patch nodes; $KUBECTL picks the binary)\n"
        + "".join(n + "\n" for n in notes)
        + "set -euo pipefail\n"
        'if [ "$#" -eq 0 ]; then\n'
        '  echo "usage: $0 NODE [NODE...]" >&2\n'
        "  exit 2\n"
        "fi\n"
        'KUBECTL="${KUBECTL:-kubectl}"\n'
        f"LABELS=({labels})\n"
        f"TAINTS=({taints})\n"
        'for node in "$@"; do\n'
        '  "$KUBECTL" label node "$node" --overwrite "${LABELS[@]}"\n'
        '  if [ "${#TAINTS[@]}" -gt 0 ]; then\n'
        '    "$KUBECTL" taint node "$node" --overwrite "${TAINTS[@]}"\n'
        "  fi\n"
        "done\n"
    )


def render(resolved: ResolvedSpec, options: RenderOptions) -> RenderResult:
    result = RenderResult()
    for p in resolved.pools:
        rel = f"node-prep/{p.name}/node-prep.sh"
        result.files[rel] = script(resolved, p)
        result.executable.add(rel)
    return result
