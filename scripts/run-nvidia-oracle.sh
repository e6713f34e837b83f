#!/usr/bin/env bash
# Run NVIDIA's own GFD labelling and device-plugin resource-manager code (NVIDIA/k8s-device-plugin at the
# catalog's device-plugin tags) on every device-plugin config gpuslice renders, without a GPU: the two Go test
# files in scripts/nvidia-oracle/ are copied into the upstream tree and run with `go test` (vendored modules, no
# network); only the GPU is mocked (upstream's own test mock for GFD, one Device record for the plugin).
#
# usage: scripts/run-nvidia-oracle.sh SOURCE CONFIGS OUTDIR [TAG...]
#   SOURCE   a git clone (or bare git dir) of NVIDIA/k8s-device-plugin
#   CONFIGS  folder of <key>.yaml (benchmarks/device_plugin/prepare.py writes DIR/configs)
#   OUTDIR   OUTDIR/<tag>/<key>.labels (GFD) and <key>.rm.json (resource manager)
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 SOURCE CONFIGS OUTDIR [TAG...]" >&2
  exit 2
fi
src=$1
configs=$(cd "$2" && pwd)
mkdir -p "$3"
out=$(cd "$3" && pwd)
shift 3
tags=("$@")
[ ${#tags[@]} -gt 0 ] || tags=(v0.17.4 v0.20.0)
here=$(cd "$(dirname "$0")" && pwd)
gitdir=$(git -C "$src" rev-parse --absolute-git-dir)
export GOTOOLCHAIN=local GOFLAGS=-mod=vendor CGO_ENABLED=1 CGO_CFLAGS="-O2 -Wno-deprecated-declarations"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tag in "${tags[@]}"; do
  tree="$work/$tag"
  mkdir -p "$tree" "$out/$tag"
  mapfile -t top < <(git --git-dir "$gitdir" ls-tree --name-only "$tag" | grep -vx tests)
  git --git-dir "$gitdir" archive "$tag" -- "${top[@]}" | tar -x -C "$tree"
  cp "$here/nvidia-oracle/gfd_oracle_test.go" "$tree/cmd/gpu-feature-discovery/"
  cp "$here/nvidia-oracle/rm_oracle_test.go" "$tree/internal/rm/"
  (cd "$tree" && GPUSLICE_CONFIGS=$configs GPUSLICE_OUT=$out/$tag \
    go test -trimpath -count=1 -run 'TestGpusliceOracle' ./cmd/gpu-feature-discovery ./internal/rm)
  git --git-dir "$gitdir" rev-parse "$tag^{commit}" >"$out/$tag/COMMIT"
done
