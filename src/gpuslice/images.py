"""Image references: parsing, normalizing and rewriting through the spec's registry mirror rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gpuslice.resolve import ResolvedPool, ResolvedSpec

if TYPE_CHECKING:
    from gpuslice.chart import Chart

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference. ``name`` is the full repository including registry host."""

    registry: str
    path: str  # repository path below the registry
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def parse_image(ref: str) -> ImageRef:
    """Parse ``ref`` the way container runtimes do (Docker Hub implicit host and ``library/``)."""
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f"not an image reference: {ref!r}")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"bad digest in image reference: {digest!r}")
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
        if not tag:
            raise ValueError("empty tag in image reference")
    first, _, rest = ref.partition("/")
    if rest and _looks_like_host(first):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, ref
        if "/" not in path:
            path = f"library/{path}"
    if not path:
        raise ValueError(f"not an image reference: {ref!r}")
    return ImageRef(registry=registry, path=path, tag=tag, digest=digest)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip("/") + "/")


def mirror_for(ref: str | ImageRef, resolved: ResolvedSpec) -> str | None:
    """The mirrored reference for ``ref`` per the spec's rules, or None when no rule covers it.

    Explicit ``mirrors`` rules win (longest source prefix first); the ``proxy`` shorthand covers every
    registry as ``<proxy>/<host>/<path>``. A reference already under a mirror target is returned unchanged.
    """
    img = ref if isinstance(ref, ImageRef) else parse_image(ref)
    suffix = (f":{img.tag}" if img.tag else "") + (f"@{img.digest}" if img.digest else "")
    targets = [r.mirror for r in resolved.mirror_rules] + ([resolved.proxy] if resolved.proxy else [])
    if any(_under(img.name, t) for t in targets):
        return str(img)
    for rule in resolved.mirror_rules:
        if _under(img.name, rule.source):
            return rule.mirror + img.name[len(rule.source.rstrip("/")) :] + suffix
    if resolved.proxy:
        return f"{resolved.proxy}/{img.name}{suffix}"
    return None


def is_mirrored(ref: str, resolved: ResolvedSpec) -> bool:
    """Whether ``ref`` already points under one of the mirror targets."""
    img = parse_image(ref)
    targets = [r.mirror for r in resolved.mirror_rules] + ([resolved.proxy] if resolved.proxy else [])
    return any(_under(img.name, t) for t in targets)


def mirror_configured(resolved: ResolvedSpec) -> bool:
    return bool(resolved.proxy or resolved.mirror_rules)


# ----------------------------------------------------------------------------------------------------------
# Knowledge around the operator's images (data file with source notes)


@dataclass(frozen=True)
class ImageRules:
    """Rules from ``catalog/data/operator_images.yaml`` (see the source note of each entry there)."""

    os_suffixed: tuple[str, ...]
    placeholder_app_version: re.Pattern[str]
    pull_secret_style_default: str
    pull_secret_style: dict[str, str]
    source_prefixes: tuple[str, ...]
    uninstall_hooks: tuple[str, ...]

    def style_for(self, chart_name: str) -> str:
        return self.pull_secret_style.get(chart_name, self.pull_secret_style_default)


@lru_cache(maxsize=1)
def load_image_rules() -> ImageRules:
    from importlib import resources

    import yaml

    from gpuslice.errors import CatalogError

    try:
        text = resources.files("gpuslice.catalog").joinpath("data", "operator_images.yaml").read_text("utf-8")
        d = yaml.safe_load(text)
        style = d["pullSecretStyle"]
        rules = ImageRules(
            os_suffixed=tuple(d["osSuffixed"]["components"]),
            placeholder_app_version=re.compile(d["placeholderAppVersion"]["pattern"]),
            pull_secret_style_default=str(style["default"]),
            pull_secret_style={str(k): str(v) for k, v in (style.get("charts") or {}).items()},
            source_prefixes=tuple(d["imageSources"]["prefixes"]),
            uninstall_hooks=tuple(d["uninstallHooks"]["hooks"]),
        )
    except (KeyError, TypeError, re.error, yaml.YAMLError, OSError) as e:
        raise CatalogError(f"gpuslice data file operator_images.yaml is broken: {e}") from e
    bad = {rules.pull_secret_style_default, *rules.pull_secret_style.values()} - {"names", "objects"}
    if bad:
        raise CatalogError(f"operator_images.yaml: pullSecretStyle must be names or objects, not {sorted(bad)}")
    return rules


# ----------------------------------------------------------------------------------------------------------
# Discovery: image references in a chart's values, whatever their layout

PathT = tuple[str | int, ...]
_HOST = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:[0-9]{1,5})$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageSlot:
    """One place in the values that makes an image reference.

    ``shape`` is ``triple`` (repository + image + version, the operator's layout), ``repo-tag`` (repository that
    includes the image name + tag, optionally registry/digest: NFD and most community charts) or ``ref`` (one
    string holding a whole reference). ``path`` points at the mapping (triple, repo-tag) or the string (ref).
    ``pinned_tag`` is set when the chart leaves the tag to its appVersion; gpuslice then sets it explicitly.
    """

    path: PathT
    shape: str
    source: str
    chart: str
    pinned_tag: str | None = None

    @property
    def component(self) -> str:
        return str(self.path[0]) if self.path else ""

    @property
    def where(self) -> str:
        from gpuslice.yamlio import format_path

        return format_path(self.path)


def _is_tag(tag: str | None) -> bool:
    return tag is None or bool(_TAG.match(tag))


def is_full_reference(value: str) -> bool:
    """A string that is unmistakably a whole image reference: ``host[:port]/path`` plus a tag or digest."""
    if not value or any(c.isspace() for c in value) or "://" in value or "/" not in value:
        return False
    if not _HOST.match(value.split("/", 1)[0]):
        return False
    try:
        img = parse_image(value)
    except ValueError:
        return False
    return bool(img.tag or img.digest) and _is_tag(img.tag)


def _image_name_ok(name: str) -> bool:
    if "://" in name or any(c.isspace() for c in name):
        return False
    try:
        img = parse_image(name)
    except ValueError:
        return False
    return img.tag is None and img.digest is None


def _with_version(name: str, version: str) -> str:
    return f"{name}@{version}" if version.startswith("sha256:") else f"{name}:{version}"


def _slot_at(
    node: dict[str, Any], path: PathT, chart: str, app_version: str | None
) -> tuple[ImageSlot | None, set[str]]:
    repo, image = node.get("repository"), node.get("image")
    if isinstance(repo, str) and isinstance(image, str):
        handled = {"repository", "image", "version"}
        version = node.get("version")
        version = str(version) if version not in (None, "") else None
        if repo and image:
            name = f"{repo.rstrip('/')}/{image}"
            if not _image_name_ok(name):
                return None, set()
            pinned = None if version else app_version
            tag = version or pinned
            if not tag:
                return None, handled
            return ImageSlot(path, "triple", _with_version(name, tag), chart, pinned), handled
        if not repo and not version and image and is_full_reference(image):
            # The operator uses `image` verbatim when repository and version are empty (digest pinning).
            return ImageSlot((*path, "image"), "ref", image, chart), handled
        return None, handled  # e.g. vgpuManager: left to the user to build and fill in
    if (
        isinstance(repo, str)
        and repo
        and "image" not in node
        and ("tag" in node or "digest" in node or (path and path[-1] == "image"))
    ):
        registry = node.get("registry")
        name = f"{registry.rstrip('/')}/{repo}" if isinstance(registry, str) and registry else repo
        if not _image_name_ok(name):
            return None, set()
        tag = node.get("tag")
        tag = str(tag) if tag not in (None, "") else None
        digest = node.get("digest")
        digest = str(digest) if digest not in (None, "") else None
        pinned = None
        if not tag and not digest:
            pinned = tag = app_version
        if not tag and not digest:
            return None, {"registry", "repository", "tag", "digest"}
        source = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        return ImageSlot(path, "repo-tag", source, chart, pinned), {"registry", "repository", "tag", "digest"}
    return None, set()


def _walk(node: Any, path: PathT, chart: str, app_version: str | None, out: list[ImageSlot]) -> None:
    if isinstance(node, dict):
        slot, handled = _slot_at(node, path, chart, app_version)
        if slot is not None:
            out.append(slot)
        for k, v in node.items():
            if k not in handled:
                _walk(v, (*path, k), chart, app_version, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, (*path, i), chart, app_version, out)
    elif isinstance(node, str) and path and (is_full_reference(node) or (path[-1] == "image" and _ref_with_tag(node))):
        out.append(ImageSlot(path, "ref", node, chart))


def find_slots(node: Any, path: PathT = (), *, chart: str = "", app_version: str | None = None) -> list[ImageSlot]:
    """Image slots anywhere in ``node`` (values, or a rendered object such as a ClusterPolicy ``spec``)."""
    out: list[ImageSlot] = []
    _walk(node, path, chart, app_version, out)
    return out


def _ref_with_tag(value: str) -> bool:
    if any(c.isspace() for c in value) or "://" in value:
        return False
    try:
        img = parse_image(value)
    except ValueError:
        return False
    return bool(img.tag or img.digest) and _is_tag(img.tag)


def release_version(chart: Chart, fallback: str) -> str:
    """The tag for images that default to the chart's appVersion: appVersion when it is a release, else
    ``fallback`` (the spec's chart version; charts taken from git say ``main-latest``)."""
    app = chart.app_version
    if app and not load_image_rules().placeholder_app_version.match(app):
        return app
    return fallback


def discover_images(
    chart: Chart, values: Mapping[str, Any] | None = None, *, app_version: str | None = None
) -> list[ImageSlot]:
    """Every image slot in the chart's values (or ``values``, the chart's layout): generic, no key list.

    Subchart values (under their key) default their tag to the subchart's appVersion; the chart's own to
    ``app_version`` (default :func:`release_version` with the chart's version).
    """
    vals = chart.effective_values() if values is None else values
    parent_app = app_version or release_version(chart, chart.version)
    subs = {s.key: s for s in chart.subcharts}
    out: list[ImageSlot] = []
    for key, node in vals.items():
        sub = subs.get(key)
        if sub is not None:
            _walk(node, (key,), sub.name, sub.app_version, out)
        else:
            _walk(node, (key,), chart.name, parent_app, out)
    return out


# ----------------------------------------------------------------------------------------------------------
# Rewrite through the mirror


def _get(node: Any, path: PathT) -> Any:
    for step in path:
        node = node[step]
    return node


def mirrored_source(slot: ImageSlot, resolved: ResolvedSpec) -> str | None:
    """The reference the mirrored values make for ``slot``; None when no rule covers it."""
    if not mirror_configured(resolved):
        return slot.source
    return mirror_for(slot.source, resolved)


def rewrite_values(values: dict[str, Any], slots: list[ImageSlot], resolved: ResolvedSpec) -> list[ImageSlot]:
    """Rewrite ``values`` in place so every slot points through the mirror and every appVersion-defaulted
    tag is explicit. Returns the slots no mirror rule covers (left unchanged)."""
    unmapped: list[ImageSlot] = []
    mirrored = mirror_configured(resolved)
    for slot in slots:
        if slot.shape == "ref":
            parent = _get(values, slot.path[:-1])
            target = mirror_for(slot.source, resolved) if mirrored else slot.source
            if target is None:
                unmapped.append(slot)
            else:
                parent[slot.path[-1]] = target
            continue
        node = _get(values, slot.path)
        if slot.pinned_tag:
            node["version" if slot.shape == "triple" else "tag"] = slot.pinned_tag
        if not mirrored:
            continue
        img = parse_image(slot.source)
        target = mirror_for(ImageRef(img.registry, img.path), resolved)
        if target is None:
            unmapped.append(slot)
            continue
        head, _, last = target.rpartition("/")
        if slot.shape == "triple":
            node["repository"] = head
            if node.get("image") != last:
                node["image"] = last
        elif isinstance(node.get("registry"), str) and node.get("registry"):
            host, _, rest = target.partition("/")
            node["registry"], node["repository"] = host, rest
        else:
            node["repository"] = target
    return unmapped


def set_pull_secrets(values: dict[str, Any], chart: Chart, secrets: tuple[str, ...]) -> list[PathT]:
    """Put ``secrets`` on every component: each mapping that has an ``imagePullSecrets`` key and each image
    owner (a mapping with repository + image), nested ones included (``operator.initContainer`` takes its
    own; for a sub-manager that shares its parent's pod, such as ``driver.manager``, the chart ignores it).
    The list shape (names or ``{name: ...}`` objects) follows each chart's convention. Returns the paths set."""
    if not secrets:
        return []
    rules = load_image_rules()
    subs = {s.key: s.name for s in chart.subcharts}
    done: list[PathT] = []

    def owner(node: dict[str, Any]) -> bool:
        return isinstance(node.get("repository"), str) and isinstance(node.get("image"), str)

    def visit(node: Any, path: PathT) -> None:
        if isinstance(node, dict):
            is_owner = owner(node)
            if "imagePullSecrets" in node or is_owner:
                style = rules.style_for(subs.get(str(path[0]), chart.name) if path else chart.name)
                existing = node.get("imagePullSecrets")
                items: list[Any] = list(existing) if isinstance(existing, list) else []
                have = {i.get("name") if isinstance(i, dict) else i for i in items}
                for s in secrets:
                    if s not in have:
                        items.append(s if style == "names" else {"name": s})
                node["imagePullSecrets"] = items
                done.append(path)
            for k, v in node.items():
                if k not in ("imagePullSecrets", "global"):  # Helm's `global` is shared with every chart
                    visit(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, (*path, i))

    for key, node in values.items():
        if key != "global":
            visit(node, (key,))
    return done


def diff_values(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The smallest override that turns ``base`` into ``new`` under Helm's merge (maps merge, lists replace)."""
    out: dict[str, Any] = {}
    for k, v in new.items():
        b = base.get(k, _MISSING)
        if isinstance(v, Mapping) and isinstance(b, Mapping):
            sub = diff_values(b, v)
            if sub:
                out[k] = sub
        elif b is _MISSING or b != v:
            out[k] = v
    return out


_MISSING = object()


# ----------------------------------------------------------------------------------------------------------
# Inventory: every image the cluster will pull, source -> mirror


@dataclass(frozen=True)
class InventoryImage:
    source: str
    mirror: str | None
    used_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "mirror": self.mirror, "usedBy": list(self.used_by)}


@dataclass(frozen=True)
class Inventory:
    images: tuple[InventoryImage, ...]
    mirror_configured: bool
    warnings: tuple[str, ...] = ()

    @property
    def unmapped(self) -> list[InventoryImage]:
        return [i for i in self.images if self.mirror_configured and i.mirror is None]

    def sources(self) -> set[str]:
        return {i.source for i in self.images}

    def mirrors(self) -> set[str]:
        return {i.mirror for i in self.images if i.mirror}

    def to_dict(self) -> dict[str, Any]:
        return {
            "mirrorConfigured": self.mirror_configured,
            "images": [i.to_dict() for i in self.images],
            "warnings": list(self.warnings),
        }


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
    each pool OS that runs the operator's driver."""
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
    warnings: list[str] = []
    for slot in slots:
        sub = subs.get(slot.component)
        if sub is not None and not chart.subchart_enabled(sub, final):
            continue
        if not _enabled_at(final, slot.path):
            continue
        if str(slot.path[-1]) in rules.os_suffixed and slot.shape == "triple" and "sha256:" not in slot.source:
            for tag, pools in sorted(tags.items()):
                used.setdefault(f"{slot.source}-{tag}", []).append(f"{slot.where} (pools: {', '.join(pools)})")
            if unknown:
                warnings.append(
                    f"{slot.where}: the operator appends the node OS to the tag of {slot.source}, "
                    f"but the OS of pool(s) {', '.join(unknown)} has no known driver image tag"
                )
            continue
        used.setdefault(slot.source, []).append(slot.where)
    images = tuple(
        InventoryImage(source=src, mirror=mirror_for(src, resolved) if mirrored else None, used_by=tuple(u))
        for src, u in sorted(used.items())
    )
    return Inventory(images=images, mirror_configured=mirrored, warnings=tuple(warnings))


def images_text(inv: Inventory) -> str:
    """``source -> mirror`` per line (just the source when no mirror is configured)."""
    lines = []
    for i in inv.images:
        if inv.mirror_configured:
            lines.append(f"{i.source} -> {i.mirror or '(NO MIRROR RULE)'}")
        else:
            lines.append(i.source)
    return "\n".join(lines) + ("\n" if lines else "")


def mirror_script(inv: Inventory, tool: str = "crane", *, title: str = "") -> str:
    """A bash script copying every image into the mirror with ``crane copy`` or ``skopeo copy --all``."""
    import shlex

    if tool not in ("crane", "skopeo"):
        raise ValueError(f"mirror tool must be crane or skopeo, not {tool!r}")
    head = [
        "#!/usr/bin/env bash",
        f"# Copy every image the GPU Operator release pulls into the mirror{f' ({title})' if title else ''}.",
        "# Generated by gpuslice. Log in to both registries first "
        + ("(crane auth login ...)." if tool == "crane" else "(skopeo login ...)."),
        "# All platforms of each image are copied. With a pull-through proxy this only pre-warms its cache.",
        "set -euo pipefail",
    ]
    if not inv.mirror_configured:
        return "\n".join([*head, 'echo "gpuslice: the spec configures no registry mirror; nothing to copy"', ""])
    home = (
        "https://github.com/google/go-containerregistry" if tool == "crane" else "https://github.com/containers/skopeo"
    )
    body = [f'command -v {tool} >/dev/null || {{ echo "{tool} not found: see {home}" >&2; exit 127; }}']
    for i in inv.images:
        if i.mirror is None:
            body.append(f"# NO MIRROR RULE covers {i.source}: add one to registry.mirrors")
        elif i.mirror == i.source:
            body.append(f"# already in the mirror: {i.source}")
        elif tool == "crane":
            body.append(f"crane copy {shlex.quote(i.source)} {shlex.quote(i.mirror)}")
        else:
            body.append(
                f"skopeo copy --all {shlex.quote('docker://' + i.source)} {shlex.quote('docker://' + i.mirror)}"
            )
    return "\n".join(
        [*head, *body, f'echo "copied {sum(1 for i in inv.images if i.mirror and i.mirror != i.source)} images"', ""]
    )
