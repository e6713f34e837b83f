"""Container images of the GPU Operator release, by concern:

- :mod:`gpuslice.images.ref`: image references (parsing, the mirror rules, pull-through or not);
- :mod:`gpuslice.images.slots`: where a chart's values name images (generic discovery), the rules around the
  operator's images, rewriting values through the mirror, pull secrets;
- :mod:`gpuslice.images.inventory`: what the rendered release pulls (and what it does not run);
- :mod:`gpuslice.images.mirror`: mirror.sh (warm a pull-through proxy, copy into mirrors).

The names below are re-exported so ``from gpuslice.images import X`` keeps working.
"""

from gpuslice.images.inventory import (
    Inventory,
    InventoryImage,
    build_inventory,
    driver_os_tags,
    images_text,
    not_run_reason,
    pool_driver_tags,
)
from gpuslice.images.mirror import ecr_repositories, mirror_script
from gpuslice.images.ref import (
    DOCKER_HUB,
    ImageRef,
    is_mirrored,
    mirror_configured,
    mirror_for,
    parse_image,
    via_proxy,
)
from gpuslice.images.slots import (
    ImageRules,
    ImageSlot,
    PathT,
    diff_values,
    discover_images,
    find_slots,
    is_full_reference,
    load_image_rules,
    mirrored_source,
    release_version,
    rewrite_values,
    set_pull_secrets,
)

__all__ = [
    "DOCKER_HUB",
    "ImageRef",
    "ImageRules",
    "ImageSlot",
    "Inventory",
    "InventoryImage",
    "PathT",
    "build_inventory",
    "diff_values",
    "discover_images",
    "driver_os_tags",
    "ecr_repositories",
    "find_slots",
    "images_text",
    "is_full_reference",
    "is_mirrored",
    "load_image_rules",
    "mirror_configured",
    "mirror_for",
    "mirror_script",
    "mirrored_source",
    "not_run_reason",
    "parse_image",
    "pool_driver_tags",
    "release_version",
    "rewrite_values",
    "set_pull_secrets",
    "via_proxy",
]
