"""Image pulls that fail, and whether the registry mirror should have covered them."""

from __future__ import annotations

from collections.abc import Iterable

from gpuslice.cluster import knowledge as k
from gpuslice.cluster.doctor.context import DoctorContext, Evidence, finding, pod_unhealthy
from gpuslice.findings import Finding, Severity


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
        if image in failing and image not in seen_event and ev.reason != "BackOff":
            failing[image].insert(0, f"{t.ref}: {k.excerpt(t.text)}")
            seen_event.add(image)
    if not failing:
        return []

    r = ctx.resolved
    upstream = set(k.upstream_registries())
    mirror_set = bool(r and (r.proxy or r.mirror_rules))
    groups = Evidence()
    kinds: dict[tuple[str, str], set[str]] = {}
    for image, lines in failing.items():
        reg = _registry(image)
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

    out = []
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
