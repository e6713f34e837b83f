"""Image pulls that fail, and whether the registry mirror should have covered them."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, nodes_phrase, pod_unhealthy
from gpuslice.findings import Finding, Severity

_DRIVER_TAG = re.compile(r"^(?P<ver>\d+\.\d+(?:\.\d+)?)-(?P<os>[a-z][a-z0-9.]*)$")


def driver_tag(image: str) -> tuple[str, str] | None:
    """(driver version, OS suffix) of a ``.../driver:<version>-<os>`` image, else None."""
    from gpuslice.images import parse_image

    try:
        ref = parse_image(image)
    except ValueError:
        return None
    if ref.path.rsplit("/", 1)[-1] != "driver" or not ref.tag:
        return None
    mt = _DRIVER_TAG.match(ref.tag)
    return (mt.group("ver"), mt.group("os")) if mt else None


#: OS families NVIDIA has published driver images for at some version (beyond the catalog's chart rows, which list
#: the EKS-relevant ones): CentOS 7 and RHCOS images exist on nvcr.io (gpu-operator #170, #199).
_PUBLISHED_FAMILIES = {"ubuntu", "rhel", "rhcos", "centos", "rocky", "sles"}


@functools.cache
def _families() -> frozenset[str]:
    from gpuslice.catalog import load_catalog

    out = set(_PUBLISHED_FAMILIES)
    for chart in load_catalog().chart_versions.values():
        for tag in chart.driver_os_tags:
            mt = re.match(r"[a-z]+", tag)
            if mt:
                out.add(mt.group(0))
    return frozenset(out)


def os_family_published(suffix: str) -> bool:
    """Whether NVIDIA publishes driver images for the OS family of a tag suffix (``amzn2`` -> amzn: no)."""
    mt = re.match(r"[a-z]+", suffix)
    return mt is not None and mt.group(0) in _families()


def pull_shape(lines: list[str]) -> str:
    """'not-found', 'network' or 'unknown' for the messages of one failing pull."""
    nf, net = k.pull_patterns()
    text = "\n".join(lines)
    if nf.search(text):
        return "not-found"
    if net.search(text):
        return "network"
    return "unknown"


def _os_fix(os_ids: set[str], suffix: str) -> str:
    low = {o.lower() for o in os_ids} | {suffix.lower()}
    if any(o.startswith("amzn") or o.startswith("amazon") for o in low):
        return (
            "On EKS use an AMI that ships the NVIDIA driver and toolkit (AL2023 NVIDIA or Bottlerocket NVIDIA; "
            "gpuslice pools `os: al2023-nvidia` / `bottlerocket-nvidia`) and install the operator with "
            "driver.enabled=false (and toolkit.enabled=false), or run the pool on Ubuntu 22.04/24.04."
        )
    if any(o.startswith("bottlerocket") for o in low):
        return (
            "Bottlerocket NVIDIA variants ship the driver, toolkit and their own device plugin: set "
            "driver.enabled=false and toolkit.enabled=false and label the nodes "
            "nvidia.com/gpu.deploy.device-plugin=false (gpuslice does for `os: bottlerocket-nvidia` pools)."
        )
    return (
        "Run a supported OS (Ubuntu LTS, RHEL/RHCOS; see the GPU Operator platform-support page), or pre-install the "
        "driver on the nodes and set driver.enabled=false, or build the driver image for this OS yourself "
        "(NVIDIA/gpu-driver-container) and point driver.repository at it."
    )


def _registry(image: str) -> str:
    from gpuslice.images import parse_image

    try:
        return parse_image(image).registry
    except ValueError:
        return image.split("/", 1)[0]


def _running_images(ctx: DoctorContext) -> set[str]:
    """Images some container runs right now (so they can be pulled)."""
    out: set[str] = set()
    for pod in ctx.view.all_pods():
        for _init, s in pod.statuses():
            if s.state is not None and (
                s.state.running is not None or (s.state.terminated is not None and s.state.terminated.exit_code == 0)
            ):
                image = pod.image_of(s.name) or s.image
                if image:
                    out.add(image)
    return out


def check(ctx: DoctorContext) -> Iterable[Finding]:
    reason_sig = k.signature("image-pull-reason")
    image_sig = k.signature("image-in-message")
    failing: dict[str, list[str]] = {}  # image -> evidence lines
    nodes: dict[str, set[str]] = {}
    for pod in ctx.unhealthy_pods:
        for _init, s in pod.statuses():
            w = s.state.waiting if s.state else None
            if not (w and w.reason and reason_sig.search(w.reason)):
                continue
            image = s.image or pod.image_of(s.name)
            if not image:
                continue
            msg = f" — {k.excerpt(w.message)}" if w.message else ""
            failing.setdefault(image, []).append(f"{pod.ref} [container {s.name}]: {w.reason}{msg}")
            if pod.spec.node_name:
                nodes.setdefault(image, set()).add(pod.spec.node_name)
    # Events carry the registry's actual answer (403, not found, i/o timeout): add one per image.
    seen_event: set[str] = set()
    event_line: dict[str, str] = {}
    pulled_now: set[str] | None = None
    for ev, t, _mt in ctx.search_events(image_sig):
        if "pull" not in t.text.lower() or ev.reason not in ("Failed", "ErrImagePull", "BackOff", "Pulling"):
            continue
        mt = image_sig.search(t.text)
        image = mt.group("image") if mt else ""
        if not image or ev.reason == "Pulling":
            continue
        if image not in failing and ev.reason == "BackOff":
            # Events outlive the failure (an hour by default): a pull that failed and then worked, or a pod that
            # was replaced by one that runs, is not a finding.
            o = ev.obj
            owner = ctx.view.pod(o.namespace or ev.metadata.namespace, o.name) if o.kind == "Pod" else None
            if owner is not None and not pod_unhealthy(owner):
                continue
            if pulled_now is None:
                pulled_now = _running_images(ctx)
            if image in pulled_now:
                continue
            failing.setdefault(image, [])
        if image not in seen_event and ev.reason != "BackOff":
            nf, net = k.pull_patterns()
            answer = nf.search(t.text) or net.search(t.text)
            event_line[image] = f"{t.ref}: {k.excerpt(t.text, answer, width=300)}"
            seen_event.add(image)
    for image, line in event_line.items():
        if image in failing:
            failing[image].insert(0, line)
    if not failing:
        return []

    r = ctx.resolved
    upstream = set(k.upstream_registries())
    mirror_set = bool(r and (r.proxy or r.mirror_rules))
    groups = Evidence()
    kinds: dict[tuple[str, str], set[str]] = {}
    out: list[Finding] = []
    for image, lines in list(failing.items()):
        reg = _registry(image)
        shape = pull_shape(lines)
        dt = driver_tag(image)
        if shape == "not-found" and (reg in upstream or (dt is not None and not os_family_published(dt[1]))):
            # upstream answered "no such tag"; or a mirror misses a driver tag NVIDIA never published for any
            # version (copying it from nvcr.io cannot work either)
            out.append(_not_found(ctx, image, lines, sorted(nodes.get(image, ())), dt))
            continue
        if r is not None:
            from gpuslice.images import is_mirrored, mirror_for

            try:
                mirrored = is_mirrored(image, r)
                covered = mirror_for(image, r) is not None
            except ValueError:
                mirrored, covered = False, False
            kind = (
                "image-pull-mirror"
                if mirrored
                else "image-pull-upstream"
                if (covered or reg in upstream)
                else "image-pull-mirror"
            )
        else:
            kind = "image-pull-upstream" if reg in upstream else "image-pull-mirror"
        key = (kind, reg)
        kinds.setdefault(key, set()).add(image)
        for line in lines or [f"image {image}"]:
            groups.add(key, line)
        groups.nodes.setdefault(key, set()).update(nodes.get(image, ()))

    for (kind, reg), images in sorted(kinds.items()):
        imgs = sorted(images)
        shown = ", ".join(imgs[:3]) + (f" and {len(imgs) - 3} more" if len(imgs) > 3 else "")
        pool = ctx.pool_name(groups.node_names((kind, reg)))
        if kind == "image-pull-upstream":
            if mirror_set:
                msg = (
                    f"{len(imgs)} image(s) from {reg} fail to pull although the spec's mirror covers them: the "
                    f"cluster runs values that still point at {reg}: {shown}"
                )
                fix = (
                    "Run `gpuslice apply SPEC` so the operator runs with the rendered values (every image "
                    "through the mirror); for images outside the operator, rewrite them the same way."
                )
            else:
                msg = f"{len(imgs)} image(s) cannot be pulled from upstream registry {reg}: {shown}"
                fix = (
                    "If the nodes cannot reach the internet, put a mirror in front: set registry.proxy (or "
                    "registry.mirrors) in the spec, copy the images with the mirror script `gpuslice plan` "
                    "writes, then `gpuslice apply`."
                )
        else:
            msg = f"{len(imgs)} image(s) cannot be pulled from the mirror/private registry {reg}: {shown}"
            fix = (
                "Copy the missing tags into the mirror (`gpuslice plan` writes mirror.sh; driver images need the "
                "-<os> suffix of every pool OS) and check that the pull secret named in registry.pullSecrets "
                "exists in the pod's namespace."
            )
        out.append(finding(kind, Severity.ERROR, msg, fix, evidence=groups.lines((kind, reg)), pool=pool))
    return out


def _not_found(
    ctx: DoctorContext, image: str, lines: list[str], nodes: list[str], dt: tuple[str, str] | None
) -> Finding:
    ev = [*lines[:4]]
    oses: set[str] = set()
    for n in nodes[:3]:
        node = ctx.view.node(n)
        desc = k.node_os(node)
        if desc:
            ev.append(f"node {n}: OS {desc}")
        if node is not None:
            oses.add(node.labels.get(k.label("os_id"), "") or node.os_image)
    where = f" (on {nodes_phrase(nodes)})" if nodes else ""
    if dt is not None:
        ver, suffix = dt
        os_txt = ", ".join(sorted(o for o in oses if o)) or suffix
        return finding(
            "driver-image-unpublished",
            Severity.ERROR,
            f"NVIDIA publishes no driver image {image}{where}: the registry answers not found for driver {ver} on OS "
            f"`{suffix}` ({os_txt}); the GPU Operator only ships driver images for the OSes it supports, so this is "
            "not a mirror or network problem",
            _os_fix(oses, suffix),
            evidence=tuple(ev),
            pool=ctx.pool_name(nodes),
            reference="https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/platform-support.html",
        )
    return finding(
        "image-not-found",
        Severity.ERROR,
        f"image {image} does not exist in its registry{where} (not found): a wrong tag or one that was never published",
        "Check the version/tag in the values (helm show values for the chart version you run lists the published "
        "tags); a mirror or pull secret will not help.",
        evidence=tuple(ev),
        pool=ctx.pool_name(nodes),
    )
