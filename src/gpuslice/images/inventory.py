"""The image inventory: every image the rendered release makes the cluster pull, source -> mirror.

Only what the release runs: enabled components, subcharts whose condition holds, the OS-suffixed driver tags of the
pools that run the operator's driver, and none of the components the operator deploys only under a condition the
release does not meet (sandbox/vGPU/confidential-computing operands without ``sandboxWorkloads.enabled``, the MIG
manager without a MIG-capable GPU, the DRA driver without ``gpuCluster.deployCR``). Those are kept aside in
``Inventory.not_run`` with the reason, for ``gpuslice images --all-images``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpuslice.images.ref import mirror_configured, mirror_for, via_proxy
from gpuslice.images.slots import PathT, discover_images, load_image_rules, release_version
from gpuslice.resolve import ResolvedPool, ResolvedSpec

if TYPE_CHECKING:
    from gpuslice.chart import Chart


@dataclass(frozen=True)
class InventoryImage:
    source: str
    mirror: str | None
    used_by: tuple[str, ...]
    not_run: str | None = None  # why the release does not run it (only in Inventory.not_run)
    pull_through: bool = False  # the mirror is the pull-through proxy (read-only: warm it, never push)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "mirror": self.mirror,
            "pullThrough": self.pull_through,
            "usedBy": list(self.used_by),
        }
        if self.not_run:
            d["notRunBecause"] = self.not_run
        return d


@dataclass(frozen=True)
class Inventory:
    images: tuple[InventoryImage, ...]
    mirror_configured: bool
    warnings: tuple[str, ...] = ()
    #: Images of enabled components the operator does not run for this release (see the module docstring).
    not_run: tuple[InventoryImage, ...] = ()

    @property
    def unmapped(self) -> list[InventoryImage]:
        return [i for i in self.images if self.mirror_configured and i.mirror is None]

    def sources(self, *, all_images: bool = False) -> set[str]:
        return {i.source for i in self._pick(all_images)}

    def mirrors(self, *, all_images: bool = False) -> set[str]:
        return {i.mirror for i in self._pick(all_images) if i.mirror}

    def _pick(self, all_images: bool) -> tuple[InventoryImage, ...]:
        return self.images + self.not_run if all_images else self.images

    def with_all_images(self) -> Inventory:
        """The same inventory listing the images the release does not run too (``--all-images``)."""
        merged = tuple(sorted(self.images + self.not_run, key=lambda i: i.source))
        return Inventory(images=merged, mirror_configured=self.mirror_configured, warnings=self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mirrorConfigured": self.mirror_configured,
            "images": [i.to_dict() for i in self.images],
            "notRun": [i.to_dict() for i in self.not_run],
            "warnings": list(self.warnings),
        }


def _flag(values: Mapping[str, Any], dotted: str) -> bool:
    node: Any = values
    for step in dotted.split("."):
        node = node.get(step) if isinstance(node, Mapping) else None
    return node is True or (isinstance(node, str) and node.lower() == "true")


def not_run_reason(component: str, final: Mapping[str, Any], resolved: ResolvedSpec) -> str | None:
    """Why the operator does not run ``component`` (a top-level values key) for this release; None: it runs.

    Rules from ``operator_images.yaml`` ``runsOnlyWhen`` (NVIDIA/gpu-operator controllers/state_manager.go).
    """
    rules = load_image_rules()
    if component in rules.needs_sandbox and not _flag(final, "sandboxWorkloads.enabled"):
        return "sandbox/vGPU/confidential-computing operand: runs only with sandboxWorkloads.enabled"
    if component in rules.needs_mig:
        models = [p.gpu.catalog_model for p in resolved.pools]
        if models and all(m is not None and not m.mig_capable for m in models):
            return "runs only on nodes with a MIG-capable GPU; no pool has one"
    for key, flag in rules.needs_flag:
        if component == key and not _flag(final, flag):
            return f"rendered only with {flag}: true"
    return None


def _enabled_at(values: Mapping[str, Any], path: PathT) -> bool:
    node: Any = values
    for step in path:
        if isinstance(node, dict):
            if node.get("enabled") is False:
                return False
            node = node.get(step) if isinstance(step, str) else None
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return True
    return not (isinstance(node, dict) and node.get("enabled") is False)


def pool_driver_tags(resolved: ResolvedSpec, pool: ResolvedPool) -> tuple[str, ...]:
    """The driver image tag suffix the operator asks for on ``pool``'s nodes (empty: not known).

    For a chart version in the catalog, the one tag it publishes for the pool's OS (``os.driver_os_tag``, set by
    resolve; none when the node's minor release decides, as RHEL 9 on charts up to v25.10). For a chart version
    the catalog does not know (older or newer than it), the tag every catalogued chart version agrees on for that
    OS (``ubuntu22.04``: the operator's ID + VERSION_ID rule), so such a chart's inventory still lists the driver;
    none where they differ (RHEL, Rocky)."""
    if pool.os is not None and pool.os.driver_os_tag:
        return (pool.os.driver_os_tag,)
    if resolved.chart is None and pool.os is not None:
        known = {resolved.catalog.chart_versions[v].driver_tags(pool.os.id) for v in resolved.catalog.chart_versions}
        known.discard(())
        if len(known) == 1 and len(tags := next(iter(known))) == 1:
            return tags
    return ()


def driver_os_tags(resolved: ResolvedSpec) -> tuple[dict[str, list[str]], list[str]]:
    """OS tag -> pools where the operator runs its driver; and such pools whose OS tag is unknown."""
    from gpuslice.resolve import operand_runs_on

    tags: dict[str, list[str]] = {}
    unknown: list[str] = []
    for p in resolved.pools:
        if not operand_runs_on(resolved, p, "driver"):
            continue
        found = pool_driver_tags(resolved, p)
        for tag in found:
            tags.setdefault(tag, []).append(p.name)
        if not found:
            unknown.append(p.name)
    return tags, unknown


def build_inventory(
    resolved: ResolvedSpec, chart: Chart, overrides: Mapping[str, Any], *, app_version: str | None = None
) -> Inventory:
    """Every image the release makes the cluster pull, from the chart's values with ``overrides`` applied:
    enabled components only, subcharts whose condition holds, and the OS-suffixed driver/GDS/GDRCopy tags for
    each pool OS that runs the operator's driver. Enabled components the operator does not run for this release
    (:func:`not_run_reason`) go to ``Inventory.not_run``."""
    rules = load_image_rules()
    source_values = chart.effective_values()
    final = chart.effective_values(overrides)
    slots = discover_images(
        chart, source_values, app_version=app_version or release_version(chart, resolved.chart_version)
    )
    subs = {s.key: s for s in chart.subcharts}
    tags, unknown = driver_os_tags(resolved)
    mirrored = mirror_configured(resolved)
    used: dict[str, list[str]] = {}
    idle: dict[str, list[str]] = {}
    why: dict[str, str] = {}
    warnings: list[str] = []
    for slot in slots:
        sub = subs.get(slot.component)
        if sub is not None and not chart.subchart_enabled(sub, final):
            continue
        if not _enabled_at(final, slot.path):
            continue
        reason = not_run_reason(slot.component, final, resolved) if sub is None else None
        bucket = used
        if reason is not None:
            bucket = idle
        if str(slot.path[-1]) in rules.os_suffixed and slot.shape == "triple" and "sha256:" not in slot.source:
            for tag, pools in sorted(tags.items()):
                ref = f"{slot.source}-{tag}"
                bucket.setdefault(ref, []).append(f"{slot.where} (pools: {', '.join(pools)})")
                if reason is not None:
                    why.setdefault(ref, reason)
            if unknown and reason is None:
                warnings.append(
                    f"{slot.where}: the operator appends the node OS to the tag of {slot.source}, "
                    f"but the OS of pool(s) {', '.join(unknown)} has no known driver image tag"
                )
            continue
        bucket.setdefault(slot.source, []).append(slot.where)
        if reason is not None:
            why.setdefault(slot.source, reason)

    def image(src: str, u: list[str], reason: str | None = None) -> InventoryImage:
        target = mirror_for(src, resolved) if mirrored else None
        proxied = target is not None and target != src and via_proxy(src, resolved)
        return InventoryImage(src, target, tuple(u), not_run=reason, pull_through=proxied)

    images = tuple(image(src, u) for src, u in sorted(used.items()))
    not_run = tuple(image(src, u, why[src]) for src, u in sorted(idle.items()) if src not in used)
    return Inventory(images=images, mirror_configured=mirrored, warnings=tuple(warnings), not_run=not_run)


def images_text(inv: Inventory) -> str:
    """``source -> mirror`` per line (just the source when no mirror is configured)."""
    lines = []
    for i in inv.images:
        if inv.mirror_configured:
            lines.append(f"{i.source} -> {i.mirror or '(NO MIRROR RULE)'}")
        else:
            lines.append(i.source)
    return "\n".join(lines) + ("\n" if lines else "")
