#!/usr/bin/env bash
# Rebuild NVIDIA's nvidia-device-plugin, gpu-feature-discovery, config-manager and mps-control-daemon from
# NVIDIA/k8s-device-plugin at the tags the catalog's operator charts ship (catalog/data/operator_charts.yaml:
# device_plugin_version). Uses the repository's vendored Go modules (no network) and the linker flags of its
# Makefile (BUILDFLAGS: -s -w, --export-dynamic, unresolved NVML symbols resolved at run time via dlopen).
#
# usage: scripts/build-nvidia-device-plugin.sh SOURCE OUTDIR [TAG...]
#   SOURCE  a git clone (or bare git dir) of NVIDIA/k8s-device-plugin
#   OUTDIR  binaries land in OUTDIR/<tag>/<command>
#   TAG     default: v0.17.4 v0.20.0
# Needs: go (>= the go.mod's go line; GOTOOLCHAIN=local is used, nothing is downloaded), gcc (cgo), git, tar.
# Output binaries are never committed; benchmarks/device-plugin/ says how they are used.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SOURCE OUTDIR [TAG...]" >&2
  exit 2
fi
src=$1
out=$2
shift 2
tags=("$@")
[ ${#tags[@]} -gt 0 ] || tags=(v0.17.4 v0.20.0)
if git -C "$src" rev-parse --is-bare-repository >/dev/null 2>&1; then
  gitdir=$(git -C "$src" rev-parse --absolute-git-dir)
else
  echo "$0: $src is not a git repository of NVIDIA/k8s-device-plugin" >&2
  exit 2
fi
command -v go >/dev/null || { echo "$0: go not on PATH" >&2; exit 2; }
export GOTOOLCHAIN=local GOFLAGS=-mod=vendor CGO_ENABLED=1 CGO_CFLAGS="-O2 -Wno-deprecated-declarations"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tag in "${tags[@]}"; do
  commit=$(git --git-dir "$gitdir" rev-parse "$tag^{commit}")
  tree="$work/$tag"
  mkdir -p "$tree" "$out/$tag"
  # tests/ (the e2e suite, with its own vendor tree) is not needed and may be absent from shallow snapshots
  mapfile -t top < <(git --git-dir "$gitdir" ls-tree --name-only "$commit" | grep -vx tests)
  git --git-dir "$gitdir" archive "$commit" -- "${top[@]}" | tar -x -C "$tree"
  pkg=github.com/NVIDIA/k8s-device-plugin/internal/info
  ldflags="-s -w '-extldflags=-Wl,--export-dynamic -Wl,--unresolved-symbols=ignore-in-object-files'"
  ldflags="$ldflags -X $pkg.gitCommit=$commit -X $pkg.version=$tag"
  for cmd in nvidia-device-plugin gpu-feature-discovery config-manager mps-control-daemon; do
    (cd "$tree" && go build -trimpath -ldflags "$ldflags" -o "$out/$tag/$cmd" "./cmd/$cmd")
    echo "built $tag/$cmd ($(du -h "$out/$tag/$cmd" | cut -f1))"
  done
  echo "$commit" >"$out/$tag/COMMIT"
done
