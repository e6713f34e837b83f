"""The finding ids lint-config reports, as lint reads them. They are declared in the finding registry
(``src/gpuslice/data/findings.yaml``, owner ``lint``: severity, kind, reference and the explanation ``gpuslice explain``
prints); this module derives the tables the lint code looks up.

Kinds:

* ``upstream``: the device plugin refuses this config, either while loading it (``parseConfigFrom``) or before
  serving (``validateFlags``). Always an error.
* ``strict``: the plugin accepts it but silently does something else than written (unknown keys dropped, a typo'd
  resource name shares nothing, time-slicing ignored next to MPS...). An error, or a warning with ``upstream=True``.
* ``advice``: parsed but ignored at runtime, or legal but risky. A warning or info.
* no kind (``CM_RULES``): about the ConfigMap / Helm values / manifest around the configs, not the config text.
"""

from __future__ import annotations

from gpuslice.findings import Severity, registry

REF_README = "https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus"
REF_SRC = "NVIDIA/k8s-device-plugin v0.20.0 api/config/v1"

#: rule id -> (severity, kind, explanation) for the config rules (the registry's lint ids with a kind).
RULES: dict[str, tuple[Severity, str, str]] = {
    i.id: (i.severity, i.kind or "", i.explanation) for i in registry().values() if i.owner == "lint" and i.kind
}

STRICT_IDS = frozenset(k for k, v in RULES.items() if v[1] == "strict")

#: rule id -> (severity, explanation) for the rules about the ConfigMap / Helm values / manifest (no kind).
CM_RULES: dict[str, tuple[Severity, str]] = {
    i.id: (i.severity, i.explanation) for i in registry().values() if i.owner == "lint" and not i.kind
}

#: finding id -> explanation (``gpuslice explain``)
IDS: dict[str, str] = {i.id: i.explanation for i in registry().values() if i.owner == "lint"}
