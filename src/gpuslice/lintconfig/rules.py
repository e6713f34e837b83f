"""Every finding id lint-config reports, in one table: severity, kind and the explanation ``gpuslice explain``
prints.

Kinds:

* ``upstream``: the device plugin refuses this config, either while loading it (``parseConfigFrom``) or before
  serving (``validateFlags``). Always an error.
* ``strict``: the plugin accepts it but silently does something else than written (unknown keys dropped, a typo'd
  resource name shares nothing, time-slicing ignored next to MPS...). An error, or a warning with ``upstream=True``.
* ``advice``: parsed but ignored at runtime, or legal but risky. A warning or info.
* ``configmap``: about the ConfigMap / Helm values / manifest around the configs, not the config text.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpuslice.findings import Severity

REF_README = "https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus"
REF_SRC = "NVIDIA/k8s-device-plugin v0.20.0 api/config/v1"

#: rule id -> (severity, kind, explanation). ``gpuslice explain ID`` prints the explanation.
RULES: dict[str, tuple[Severity, str, str]] = {
    "lint-yaml": (Severity.ERROR, "upstream", "The config is not valid YAML/JSON; the device plugin cannot load it."),
    "lint-root": (Severity.ERROR, "upstream", "The config must be a mapping (or empty)."),
    "lint-version": (Severity.ERROR, "upstream", "version must be v1 (or absent)."),
    "lint-type": (Severity.ERROR, "upstream", "A value has a type the plugin's JSON decoding rejects."),
    "lint-type-coerced": (
        Severity.ERROR,
        "strict",
        "A value of the wrong type that the plugin converts silently (a number for a string, 4.0 for 4).",
    ),
    "lint-unknown-key": (
        Severity.ERROR,
        "strict",
        "A key the plugin does not know at this level; upstream drops it silently (the setting has no effect).",
    ),
    "lint-key-version": (
        Severity.ERROR,
        "strict",
        "A key the device-plugin version being checked does not know yet (added in a later release): its loader "
        "drops it silently, so the setting has no effect.",
    ),
    "lint-duplicate-key": (Severity.ERROR, "strict", "A key appears twice in one mapping; the plugin keeps the last."),
    "lint-missing-field": (Severity.ERROR, "upstream", "A required field (name, replicas, pattern) is missing."),
    "lint-empty-sharing": (
        Severity.ERROR,
        "upstream",
        "A timeSlicing/mps block without resources ('no resources specified'); omit the block for no sharing.",
    ),
    "lint-replicas": (Severity.ERROR, "upstream", "replicas must be an integer >= 2."),
    "lint-resource-name": (
        Severity.ERROR,
        "upstream",
        "A resource name breaks the plugin's rules: nvidia.com/ prefix, <= 63 characters, RFC 1123 subdomain.",
    ),
    "lint-resource-unknown": (
        Severity.ERROR,
        "strict",
        "A shared resource name that no device is advertised under; the plugin skips it and shares nothing.",
    ),
    "lint-duplicate-resource": (Severity.ERROR, "strict", "The same resource is listed twice in one sharing block."),
    "lint-devices": (Severity.ERROR, "upstream", "devices must be 'all', a positive count or a list of GPU/MIG ids."),
    "lint-devices-ignored": (
        Severity.WARNING,
        "advice",
        "devices other than 'all' are parsed, then forced back to 'all' at startup.",
    ),
    "lint-rename-ignored": (
        Severity.WARNING,
        "advice",
        "rename is parsed, then reset at startup: the advertised name is <name>, or <name>.shared with "
        "renameByDefault.",
    ),
    "lint-resources-ignored": (
        Severity.WARNING,
        "advice",
        "The top-level resources block is parsed, then dropped at startup.",
    ),
    "lint-both-strategies": (
        Severity.ERROR,
        "strict",
        "timeSlicing and mps in one config: MPS wins and timeSlicing is silently ignored.",
    ),
    "lint-flag-value": (Severity.ERROR, "upstream", "A flags value outside the set the plugin accepts."),
    "lint-duration": (
        Severity.ERROR,
        "upstream",
        "gfd.sleepInterval must be a number, a Go duration or (from device plugin v0.19.0) 'infinite'.",
    ),
    "lint-imex": (Severity.ERROR, "upstream", "imex.channelIDs must be [] or [0]."),
    "lint-mps-mig": (Severity.ERROR, "strict", "MPS shares full GPUs only (nvidia.com/gpu), never MIG devices."),
    "lint-mps-mig-strategy": (
        Severity.ERROR,
        "upstream",
        "MPS with migStrategy mixed: the plugin refuses to start.",
    ),
    "lint-mps-replicas": (
        Severity.ERROR,
        "strict",
        "More MPS replicas than the MPS control daemon allows (48 clients; 16 below compute capability 7.5).",
    ),
    "lint-mps-replicas-old-gpu": (
        Severity.WARNING,
        "advice",
        "More than 16 MPS replicas works only on GPUs with compute capability >= 7.5.",
    ),
    "lint-mps-fail-requests": (
        Severity.WARNING,
        "advice",
        "failRequestsGreaterThanOne: false under MPS is ignored before device plugin v0.20.0: MPS always fails "
        "requests for more than one replica there.",
    ),
    "lint-mps-root": (
        Severity.INFO,
        "advice",
        "MPS needs flags.mpsRoot or MPS_ROOT (the GPU Operator sets /run/nvidia/mps).",
    ),
    "lint-mps-single": (
        Severity.WARNING,
        "advice",
        "MPS does not work on MIG-enabled GPUs (migStrategy single exposes them).",
    ),
    "lint-mig-strategy": (
        Severity.WARNING,
        "advice",
        "nvidia.com/mig-* resources exist only under migStrategy mixed.",
    ),
    "lint-fail-requests": (
        Severity.INFO,
        "advice",
        "Time-slicing without failRequestsGreaterThanOne: a pod asking for 2 replicas gets two slices of the "
        "same GPU, not more compute. NVIDIA recommends true.",
    ),
    "lint-no-sharing": (Severity.INFO, "advice", "No sharing block: GPUs are handed out whole (no sharing)."),
    "lint-extra-documents": (
        Severity.WARNING,
        "advice",
        "A config file with several YAML documents: the plugin reads only the first.",
    ),
}

STRICT_IDS = frozenset(k for k, v in RULES.items() if v[1] == "strict")


#: ConfigMap / Helm values / manifest rules: id -> (severity, explanation)
CM_RULES: dict[str, tuple[Severity, str]] = {
    "lint-configmap": (Severity.ERROR, "The manifest is not a usable v1 ConfigMap (kind, apiVersion, data types)."),
    "lint-configmap-name": (
        Severity.ERROR,
        "The ConfigMap name must be a DNS-1123 label (<= 63 characters) and must not clash with another volume of "
        "the device-plugin/GFD/MPS DaemonSets: the operator mounts it as a volume named after the ConfigMap.",
    ),
    "lint-configmap-key": (Severity.ERROR, "A data key is not a valid ConfigMap key ([-._a-zA-Z0-9]+, <= 253)."),
    "lint-configmap-label-value": (
        Severity.WARNING,
        "A data key that is not a valid label value cannot be selected with the nvidia.com/device-plugin.config "
        "node label (it can still be the default).",
    ),
    "lint-configmap-empty": (
        Severity.ERROR,
        "The ConfigMap has no data: config-manager fails with 'no configuration files available'.",
    ),
    "lint-missing-config-key": (
        Severity.ERROR,
        "A config key named by --default, a node label or the spec is not in the ConfigMap: config-manager fails "
        "('specified config X does not exist') and the device-plugin pod crash-loops.",
    ),
    "lint-configmap-namespace": (
        Severity.ERROR,
        "The ConfigMap is not in the operator namespace, so the operator's DaemonSets cannot mount it.",
    ),
    "lint-spec-mismatch": (
        Severity.WARNING,
        "A ConfigMap key's sharing settings differ from what the gpuslice spec asks for.",
    ),
    "lint-not-configmap": (
        Severity.INFO,
        "A document in the manifest that is not a device-plugin ConfigMap was skipped (another kind, "
        "or, next to a device-plugin ConfigMap, a ConfigMap whose data is no device-plugin config).",
    ),
    "lint-helm-values": (
        Severity.WARNING,
        "Helm values for the device-plugin config that the chart ignores (data without create: true) or refuses "
        "(create: true without a name or without data).",
    ),
}


def iter_rule_docs() -> Iterator[tuple[str, str]]:
    for rid, (_sev, kind, doc) in RULES.items():
        tag = {
            "upstream": "The device plugin rejects this.",
            "strict": "gpuslice is stricter than the plugin here.",
            "advice": "",
        }[kind]
        yield rid, f"{doc} {tag}".strip()


#: finding id -> explanation (``gpuslice explain``)
IDS: dict[str, str] = {**dict(iter_rule_docs()), **{k: v[1] for k, v in CM_RULES.items()}}
