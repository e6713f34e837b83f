"""Image references: parsing them the way container runtimes do, and rewriting them through the spec's registry
mirror rules (``registry.mirrors`` and the ``registry.proxy`` shorthand)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpuslice.resolve import ResolvedSpec

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


def via_proxy(ref: str | ImageRef, resolved: ResolvedSpec) -> bool:
    """Whether ``ref`` reaches the cluster through the pull-through ``proxy`` (no ``mirrors`` rule covers it).

    A pull-through cache is read-only: it fills itself when something pulls through it, so mirror.sh warms it
    by pulling instead of copying into it."""
    if not resolved.proxy:
        return False
    img = ref if isinstance(ref, ImageRef) else parse_image(ref)
    if any(_under(img.name, r.source) for r in resolved.mirror_rules):
        return False
    return not is_mirrored(str(img), resolved)


#: An Amazon ECR private registry host: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn].
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
