#!/usr/bin/env bash
# `make demo` on a fresh clone: wall time and venv size (goal: <= 60 s with a warm package cache, gpuslice +
# helm only). Runs twice: the first fills pip's cache if it is cold, the second is the figure to report.
# Usage: benchmarks/bench_demo_setup.sh [REPO]   (default: this checkout; uncommitted changes are not cloned)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for run in 1 2; do
  rm -rf "$work/clone"
  git clone -q "$repo" "$work/clone"
  start=$(date +%s.%N)
  make -C "$work/clone" demo >"$work/demo-$run.log" 2>&1 || { cat "$work/demo-$run.log"; exit 1; }
  end=$(date +%s.%N)
  size=$(du -sm "$work/clone/.venv" | cut -f1)
  pkgs=$("$work/clone/.venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)
  heavy=$("$work/clone/.venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -ciE '^(aws-cdk-lib|constructs|cfn-lint|jsii)==' || true)
  printf 'run %d: make demo %.1f s, .venv %d MB, %d packages, CDK/cfn-lint/jsii packages: %d\n' \
    "$run" "$(echo "$end - $start" | bc)" "$size" "$pkgs" "$heavy"
done
tail -3 "$work/demo-2.log"
