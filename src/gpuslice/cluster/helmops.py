"""The operator release through the official helm binary: what is deployed, and install/upgrade with retries.

A stale lock is recovered (:meth:`Helm.recover_stale`): a helm that was killed mid-install/upgrade (CI timeout,
closed laptop, OOM) leaves its revision ``pending-install``/``pending-upgrade`` and every later upgrade fails with
"another operation (install/upgrade/rollback) is in progress". When no helm operation can still be running (the
pending revision is older than helm's own ``--timeout`` plus a margin, or gpuslice itself just stopped that
helm) and the release was created by gpuslice (every install/upgrade it runs passes ``--labels
gpuslice.dev/managed-by=gpuslice``, which helm >= 3.13 stores with the release), it is rolled back to the last
deployed revision, or, for a first install that never completed, uninstalled, and the install/upgrade runs
again. A release gpuslice did not create is never touched.

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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gpuslice.cluster.retry import Retrier, Transient, classify_helm
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


#: The release label gpuslice sets on every install/upgrade (``helm --labels``): "this release is ours".
MANAGED_LABEL = "gpuslice.dev/managed-by"
MANAGED_VALUE = "gpuslice"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
#: States an operation leaves behind when it stopped half-way: helm refuses upgrades from them ("another operation
#: is in progress"; "has no deployed releases" after an uninstall cut short).
UNFINISHED = (*PENDING, "uninstalling")


@dataclass(frozen=True)
class Revision:
    """One row of ``helm history -o json``."""

    revision: int
    status: str
    updated: float | None  # seconds since the epoch
    chart: str
    description: str


@dataclass(frozen=True)
class Recovery:
    """What :meth:`Helm.recover_stale` did to a stale pending release."""

    action: str  # rolled-back | uninstalled
    detail: str


class HelmLeftPending(HelmError):
    """helm exited but its release is still pending; recovered, and worth another attempt."""

    def __init__(self, message: str, *, transient_reason: str) -> None:
        super().__init__(message)
        self.transient_reason = transient_reason


class StaleLock(HelmError):
    """The release is pending and gpuslice will not (or may not yet) recover it; the message says why and how."""


def _classify_recovery(e: BaseException) -> Transient | None:
    """Recovery commands: helm's transient failures, and its bare "failed to delete release" / "rollback failed"
    (helm collapses the API error behind them; on a release gpuslice owns, trying again is the way on)."""
    t = classify_helm(e)
    if t is not None:
        return t
    text = (getattr(e, "stderr", "") or str(e)).lower()
    if "failed to delete release" in text or "uninstallation completed with" in text or "rollback" in text:
        return Transient("helm could not finish the recovery step")
    return None


def parse_helm_time(text: str) -> float | None:
    """helm's RFC 3339 timestamps (nanoseconds, ``Z`` or an offset) as seconds since the epoch."""
    t = (text or "").strip()
    if not t:
        return None
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if "." in t:  # Python reads at most microseconds
        head, _, rest = t.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        t = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        return None


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
        #: False (``--no-recover``): a stale pending release is reported, never rolled back or uninstalled.
        self.recover = True
        #: What recover_stale did, in order (for the apply report).
        self.recoveries: list[Recovery] = []

    def _run(
        self,
        args: list[str],
        *,
        timeout: float = 120,
        op: str | None = None,
        retry: bool = True,
        classify: Callable[[BaseException], Transient | None] = classify_helm,
    ) -> str:
        def once() -> str:
            return run_helm([*args, *self.kube_args], helm=self.binary, timeout=timeout).stdout

        if not retry:
            return once()
        return self.retrier.call(once, op or f"helm {args[0]}", classify)

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

    # -- stale pending releases --------------------------------------------------------------------------------
    def history(self, name: str, namespace: str) -> list[Revision]:
        """Every revision helm keeps of the release, oldest first ([] when there is no release)."""
        try:
            out = self._run(
                ["history", name, "--namespace", namespace, "--max", "256", "--output", "json"], op="helm history"
            )
        except HelmError as e:
            if "not found" in (e.stderr or str(e)):
                return []
            raise
        try:
            rows = json.loads(out or "[]") or []
        except ValueError as e:
            raise HelmError(f"helm history printed something that is not JSON: {out[:200]!r}") from e
        revs = [
            Revision(
                revision=int(r.get("revision") or 0),
                status=str(r.get("status") or ""),
                updated=parse_helm_time(str(r.get("updated") or "")),
                chart=str(r.get("chart") or ""),
                description=str(r.get("description") or ""),
            )
            for r in rows
            if isinstance(r, dict)
        ]
        return sorted(revs, key=lambda r: r.revision)

    def labels(self, name: str, namespace: str, revision: int) -> dict[str, str]:
        """The release labels of one revision (``helm get metadata``); {} when helm keeps none."""
        try:
            out = self._run(
                ["get", "metadata", name, "--namespace", namespace, "--revision", str(revision), "--output", "json"],
                op="helm get metadata",
            )
            meta = json.loads(out or "{}") or {}
        except (HelmError, ValueError):
            return {}
        got = meta.get("labels") if isinstance(meta, dict) else None
        return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else {}

    def recover_stale(
        self,
        name: str,
        namespace: str,
        *,
        stale_after: float,
        timeout_minutes: int = 15,
        now: Callable[[], float] = time.time,
    ) -> Recovery | None:
        """Unlock a release left pending by a helm that is no longer running; None when it is not pending.

        Raises :class:`StaleLock` when the pending revision is younger than ``stale_after`` seconds (a helm may
        still be at work), when gpuslice did not create the release, or when recovery is switched off.
        """
        hist = self.history(name, namespace)
        if not hist or hist[-1].status not in UNFINISHED:
            return None
        last = hist[-1]
        age = (now() - last.updated) if last.updated is not None else None
        since = f"{age / 60:.0f} min" if age is not None and age >= 60 else f"{age or 0:.0f} s"
        where = f"release {namespace}/{name} revision {last.revision} is {last.status} (since {since} ago)"
        earlier = [r for r in hist[:-1] if r.status in ("deployed", "superseded")]
        if last.status == "uninstalling":  # an uninstall cut short: finishing it is the only way on
            earlier = []
        manual = (
            f"`helm -n {namespace} rollback {name} {earlier[-1].revision}`"
            if earlier
            else f"`helm -n {namespace} uninstall {name}` (a first install that never completed; there is no "
            "earlier revision to roll back to)"
        )
        if not self.recover:
            raise StaleLock(
                f"{where}: helm refuses every upgrade until it is resolved. --no-recover: gpuslice leaves it as it is; "
                f"if no helm is running, {manual}, then apply again"
            )
        if age is not None and age < stale_after:
            raise StaleLock(
                f"{where}: a helm operation may still be running (helm's --timeout is {timeout_minutes} min). "
                f"gpuslice recovers it by itself once it is {stale_after / 60:.0f} min old; if you are sure no helm "
                f"is running for it, run apply with --stale-after 0, or {manual}"
            )
        first = hist[0]
        owned = all(
            self.labels(name, namespace, r.revision).get(MANAGED_LABEL) == MANAGED_VALUE
            for r in {first.revision: first, last.revision: last}.values()
        )
        if not owned:
            raise StaleLock(
                f"{where}, but gpuslice did not create this release (it lacks the release label "
                f"{MANAGED_LABEL}={MANAGED_VALUE}), so gpuslice does not touch it. If no helm is running, {manual}"
            )
        if earlier:
            target = earlier[-1]
            self._run(
                ["rollback", name, str(target.revision), "--namespace", namespace, "--timeout", f"{timeout_minutes}m"],
                op=f"helm rollback {name}",
                timeout=timeout_minutes * 60 + 60,
                classify=_classify_recovery,
            )
            rec = Recovery(
                "rolled-back",
                f"{where}, left by a helm that is no longer running; rolled back to revision {target.revision} "
                f"({target.chart}) to unlock it",
            )
        else:
            self._run(
                ["uninstall", name, "--namespace", namespace, "--timeout", f"{timeout_minutes}m"],
                op=f"helm uninstall {name}",
                timeout=timeout_minutes * 60 + 60,
                classify=_classify_recovery,
            )
            rec = Recovery(
                "uninstalled",
                f"{where}: its first install never completed and no helm is running for it; uninstalled it "
                "(gpuslice created it) to install again",
            )
        self.recoveries.append(rec)
        return rec

    def _unlock_own(self, name: str, namespace: str, before: int, timeout_minutes: int) -> None:
        """Recover a pending revision newer than ``before``: one our own helm made and is no longer running."""
        if not self.recover:
            return
        rel = self.release(name, namespace)
        if rel is not None and rel.status in PENDING and rel.revision > before:
            self.recover_stale(name, namespace, stale_after=0, timeout_minutes=timeout_minutes)

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
                "--labels",
                f"{MANAGED_LABEL}={MANAGED_VALUE}",
            ]
            if wait:
                args.append("--wait")

            def settled() -> tuple[bool, Release | None]:
                rel = self.release(name, namespace)
                return self.matches(rel, chart, values), rel

            def once() -> Release | None:
                hist = self.history(name, namespace)
                before = hist[-1].revision if hist else 0
                try:
                    run_helm([*args, *self.kube_args], helm=self.binary, timeout=timeout_minutes * 60 + 60)
                except HelmError:
                    # That helm has exited (or we stopped it): if it left its own revision pending (killed, or
                    # an API error while it recorded the outcome), nothing can finish it. Unlock it now, so the
                    # retry does not meet "another operation is in progress" until the budget is spent.
                    self._unlock_own(name, namespace, before, timeout_minutes)
                    raise
                rel = self.release(name, namespace)
                if rel is not None and rel.status in PENDING and rel.revision > before:
                    # helm said it succeeded, yet its last write (the final status) did not land.
                    self._unlock_own(name, namespace, before, timeout_minutes)
                    raise HelmLeftPending(
                        f"helm exited successfully but left release {namespace}/{name} revision {rel.revision} "
                        f"{rel.status}",
                        transient_reason="helm exited and left its revision pending (its final write was lost)",
                    )
                return rel

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
