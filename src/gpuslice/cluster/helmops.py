"""The operator release through the official helm binary: what is deployed, and install/upgrade with retries.

Idempotence is decided from helm's own record of the release: ``helm list`` with every state flag (status, chart) and ``helm get
values -o json`` (the user-supplied values, exactly as they were given). When the deployed chart and values equal
the rendered ones and the release is ``deployed``, nothing is run. Before every retry of an upgrade the same check
runs again, so an upgrade that did succeed but whose answer was lost (timeout, reset) is not repeated.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuslice.cluster.retry import Retrier, classify_helm
from gpuslice.errors import HelmError
from gpuslice.helm import find_helm, run_helm


@dataclass(frozen=True)
class ChartRef:
    """What ``helm upgrade --install`` installs: a local chart (folder/.tgz) or a chart in a repository."""

    name: str
    version: str
    path: str | None = None
    repo: str | None = None

    @property
    def label(self) -> str:
        """How ``helm list`` shows it in the CHART column."""
        return f"{self.name}-{self.version}"

    def argv(self) -> list[str]:
        if self.path:
            return [self.path]
        return [self.name, "--repo", self.repo or "", "--version", self.version]


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    status: str  # deployed | failed | pending-install | pending-upgrade | ...
    chart: str
    revision: int
    values: dict[str, Any]


def as_helm_stores(value: Any) -> Any:
    """``value`` as helm gives it back from ``helm get values -o json``.

    helm parses the values file with sigs.k8s.io/yaml into Go ``interface{}`` values, so every number becomes a
    float64, and Go's encoding/json prints an integral float64 without a fraction: ``replicas: 4.0`` comes back
    as ``4``, and an integer beyond 2**53 comes back rounded. Comparing the rendered values with helm's record
    through the same lens keeps a second apply from upgrading again for a difference only in number spelling.
    """
    if isinstance(value, dict):
        return {str(k): as_helm_stores(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_helm_stores(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    f = float(value)
    if math.isfinite(f) and f.is_integer() and abs(f) < 1e21:
        return int(f)
    return f


def canonical(values: Any) -> str:
    """A stable text of a values tree (for comparing and fingerprinting), numbers as helm stores them."""
    return json.dumps(
        as_helm_stores(values if values is not None else {}), sort_keys=True, separators=(",", ":"), default=str
    )


def fingerprint(chart: ChartRef, values: Any) -> str:
    return hashlib.sha256(f"{chart.label}\n{canonical(values)}".encode()).hexdigest()[:12]


class Helm:
    """helm for one cluster (kubeconfig/context), every mutating call under the retrier."""

    def __init__(
        self,
        *,
        helm: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        self.binary = find_helm(helm)
        self.kube_args = ([f"--kubeconfig={kubeconfig}"] if kubeconfig else []) + (
            [f"--kube-context={context}"] if context else []
        )
        self.retrier = retrier or Retrier()

    def _run(self, args: list[str], *, timeout: float = 120, op: str | None = None, retry: bool = True) -> str:
        def once() -> str:
            return run_helm([*args, *self.kube_args], helm=self.binary, timeout=timeout).stdout

        if not retry:
            return once()
        return self.retrier.call(once, op or f"helm {args[0]}", classify_helm)

    def release(self, name: str, namespace: str) -> Release | None:
        """The release as helm records it, or None when there is none."""
        # Every state explicitly: helm 3's `--all` is gone in helm 4 ("unknown flag: --all"); these flags
        # exist in both and together list a release whatever state it is in.
        states = ["--deployed", "--failed", "--pending", "--uninstalling", "--superseded"]
        out = self._run(
            ["list", *states, "--namespace", namespace, "--filter", f"^{name}$", "--output", "json"], op="helm list"
        )
        try:
            rows = json.loads(out or "[]") or []
        except ValueError as e:
            raise HelmError(f"helm list printed something that is not JSON: {out[:200]!r}") from e
        row = next((r for r in rows if r.get("name") == name), None)
        if row is None:
            return None
        try:
            vals = self._run(
                ["get", "values", name, "--namespace", namespace, "--output", "json"], op="helm get values"
            )
            values = json.loads(vals or "null") or {}
        except HelmError as e:
            if "not found" in (e.stderr or str(e)):
                values = {}
            else:
                raise
        return Release(
            name=name,
            namespace=namespace,
            status=str(row.get("status", "")),
            chart=str(row.get("chart", "")),
            revision=int(row.get("revision") or 0),
            values=values,
        )

    def matches(self, rel: Release | None, chart: ChartRef, values: Any) -> bool:
        return (
            rel is not None
            and rel.status == "deployed"
            and rel.chart == chart.label
            and canonical(rel.values) == canonical(values)
        )

    def upgrade_install(
        self,
        name: str,
        namespace: str,
        chart: ChartRef,
        values: dict[str, Any],
        *,
        timeout_minutes: int = 15,
        wait: bool = True,
    ) -> Release | None:
        """``helm upgrade --install`` with retries; returns the release as deployed afterwards."""
        with values_file(values) as path:
            args = [
                "upgrade",
                "--install",
                name,
                *chart.argv(),
                "--namespace",
                namespace,
                "--create-namespace",
                "--values",
                str(path),
                "--timeout",
                f"{timeout_minutes}m",
            ]
            if wait:
                args.append("--wait")

            def settled() -> tuple[bool, Release | None]:
                rel = self.release(name, namespace)
                return self.matches(rel, chart, values), rel

            def once() -> Release | None:
                run_helm([*args, *self.kube_args], helm=self.binary, timeout=timeout_minutes * 60 + 60)
                return self.release(name, namespace)

            return self.retrier.call(once, f"helm upgrade --install {name}", classify_helm, settled)

    def template(
        self, name: str, namespace: str, chart: ChartRef, values: dict[str, Any], *, kube_version: str | None = None
    ) -> str:
        """Client-side render (no cluster): proves the values render with this chart."""
        with values_file(values) as path:
            args = ["template", name, *chart.argv(), "--namespace", namespace, "--values", str(path)]
            if kube_version:
                args += ["--kube-version", kube_version]
            return run_helm(args, helm=self.binary, timeout=120).stdout


@contextmanager
def values_file(values: dict[str, Any]) -> Iterator[Path]:
    """The values as a private temporary YAML file (JSON is YAML), removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="gpuslice-values-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(values, fh, indent=2, sort_keys=True)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
