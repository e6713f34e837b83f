"""Image slots in a chart's values: where a chart names its images (found generically, whatever the layout), the
rules around the operator's images (a data file with source notes), and rewriting the values so every slot points
through the mirror with the pull secrets set."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gpuslice.images.ref import ImageRef, mirror_configured, mirror_for, parse_image
from gpuslice.resolve import ResolvedSpec

if TYPE_CHECKING:
    from gpuslice.chart import Chart

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
    needs_sandbox: tuple[str, ...] = ()
    needs_mig: tuple[str, ...] = ()
    needs_flag: tuple[tuple[str, str], ...] = ()

    def style_for(self, chart_name: str) -> str:
        return self.pull_secret_style.get(chart_name, self.pull_secret_style_default)


@lru_cache(maxsize=1)
def load_image_rules() -> ImageRules:
    from gpuslice.errors import CatalogError
    from gpuslice.yamlio import load_packaged

    d = load_packaged("gpuslice.catalog", "data/operator_images.yaml")
    try:
        style = d["pullSecretStyle"]
        rules = ImageRules(
            os_suffixed=tuple(d["osSuffixed"]["components"]),
            placeholder_app_version=re.compile(d["placeholderAppVersion"]["pattern"]),
            pull_secret_style_default=str(style["default"]),
            pull_secret_style={str(k): str(v) for k, v in (style.get("charts") or {}).items()},
            source_prefixes=tuple(d["imageSources"]["prefixes"]),
            uninstall_hooks=tuple(d["uninstallHooks"]["hooks"]),
            needs_sandbox=tuple(d["runsOnlyWhen"]["sandboxWorkloads"]),
            needs_mig=tuple(d["runsOnlyWhen"]["migCapableGpu"]),
            needs_flag=tuple((str(k), str(v)) for k, v in d["runsOnlyWhen"]["valuesFlag"].items()),
        )
    except (KeyError, TypeError, re.error) as e:
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
    if not value or "/" not in value or not _HOST.match(value.split("/", 1)[0]):
        return False
    return _ref_with_tag(value)


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
    """An image reference (registry optional) with a tag or digest."""
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
