"""Which device-plugin loader a config is checked against: the rule set per k8s-device-plugin version.

The config loader (``api/config/v1``) changed between the releases the GPU Operator ships. Read at the tags of
NVIDIA/k8s-device-plugin (``git diff v0.17.4 v0.20.0 -- api/config/v1 cmd/nvidia-device-plugin internal/rm``):

* ``flags.gdrcopyEnabled``: a field of ``CommandLineFlags`` from v0.18.0 (flags.go); before, encoding/json drops it.
* ``flags.gfd.sleepInterval: infinite``: ``Duration.parse`` accepts "infinite" from v0.19.0 (duration.go); v0.17.x
  and v0.18.x call ``time.ParseDuration`` and fail to load the config ('time: invalid duration "infinite"').
* ``flags.plugin.sharedDevicesAllocationPolicy``: a field of ``PluginCommandLineFlags`` and checked by
  ``validateFlags`` from v0.20.0; before, dropped silently (the allocation is always "distributed").
* MPS ``failRequestsGreaterThanOne``: up to v0.19.x ``NewConfig`` sets it to true for MPS (config.go) and
  ``ValidateRequest`` ignores it for MPS (internal/rm/rm.go); from v0.20.0 it is a ``*bool`` and an explicit
  ``false`` is honoured.
* ``imex``: a top-level block from v0.17.0 (config.go).

The CHANGELOG agrees: v0.19.0 "Add --sleep-interval=infinite support to GFD" (#1603), v0.20.0 "Add configurable
packed/distributed allocation policy" (#1621).

Tags checked (commit): v0.17.0 d475b2cf, v0.17.4 fd56a747, v0.18.0 3c9ffca9, v0.18.2 fb1242ad, v0.19.0 1ae8e5f0,
v0.19.3 570e776d, v0.20.0 1b826acc. Every v0.17.x/v0.18.x/v0.19.x patch release has its minor's behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: feature -> first plugin version that has it
FEATURES: dict[str, tuple[int, int, int]] = {
    "imex": (0, 17, 0),
    "gdrcopyEnabled": (0, 18, 0),
    "infiniteSleepInterval": (0, 19, 0),
    "sharedDevicesAllocationPolicy": (0, 20, 0),
    "mpsFailRequestsHonoured": (0, 20, 0),
}

#: the rule sets that exist (one per minor where the loader changed), oldest first
RULE_SETS: tuple[str, ...] = ("v0.17.x", "v0.18.x", "v0.19.x", "v0.20.x")
OLDEST = (0, 17, 0)
NEWEST = "v0.20.0"

#: gpu-operator chart version -> devicePlugin.version in its deployments/gpu-operator/values.yaml at the tag
#: (NVIDIA/gpu-operator; v25.3.4 d73a0086, v26.7.0 10ee5b36, ...). An unlisted patch release takes its minor's
#: newest entry: the loader rules only change between minors.
OPERATOR_PLUGIN: dict[str, str] = {
    "v22.9.0": "v0.12.3",
    "v22.9.1": "v0.13.0",
    "v22.9.2": "v0.13.0",
    "v23.3.0": "v0.14.0",
    "v23.3.1": "v0.14.0",
    "v23.3.2": "v0.14.0",
    "v23.6.0": "v0.14.1",
    "v23.6.1": "v0.14.1",
    "v23.6.2": "v0.14.1",
    "v23.9.0": "v0.14.2",
    "v23.9.1": "v0.14.3",
    "v23.9.2": "v0.14.5",
    "v24.3.0": "v0.15.0",
    "v24.6.0": "v0.16.1",
    "v24.6.1": "v0.16.2",
    "v24.6.2": "v0.16.2",
    "v24.9.0": "v0.17.0",
    "v24.9.1": "v0.17.0",
    "v24.9.2": "v0.17.0",
    "v25.3.0": "v0.17.1",
    "v25.3.1": "v0.17.2",
    "v25.3.2": "v0.17.3",
    "v25.3.3": "v0.17.4",
    "v25.3.4": "v0.17.4",
    "v25.10.0": "v0.18.0",
    "v25.10.1": "v0.18.1",
    "v26.3.0": "v0.19.0",
    "v26.3.1": "v0.19.0",
    "v26.3.2": "v0.19.2",
    "v26.3.3": "v0.19.3",
    "v26.7.0": "v0.20.0",
}

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]*)?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``v0.17.4`` / ``0.17`` / ``v0.20.0-rc.1`` (an image tag may add ``-ubi9``) -> (0, 17, 4); None otherwise."""
    m = _VERSION.fullmatch(text.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class PluginRules:
    """The loader behaviour of one device-plugin version, and where that version came from."""

    version: str  # as given or derived, e.g. "v0.17.4"
    source: str  # "--plugin-version", "devicePlugin.version in the values", "default (newest)", ...
    note: str = ""  # set when the version is outside the known rule sets

    @property
    def parts(self) -> tuple[int, int, int]:
        return parse_version(self.version) or (0, 20, 0)

    def has(self, feature: str) -> bool:
        return max(self.parts, OLDEST) >= FEATURES[feature]

    @property
    def rule_set(self) -> str:
        major, minor, _ = max(self.parts, OLDEST)
        name = f"v{major}.{minor}.x"
        return name if name in RULE_SETS else RULE_SETS[-1]

    def describe(self) -> str:
        if self.source.startswith("default"):
            return f"device plugin {self.version} ({self.rule_set} rules; the newest known: no version given or found)"
        return f"device plugin {self.version} ({self.rule_set} rules; from {self.source})"

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "ruleSet": self.rule_set, "source": self.source, "note": self.note}


def default_rules() -> PluginRules:
    return PluginRules(NEWEST, "default (the newest known)")


def plugin_rules(version: str, source: str) -> PluginRules:
    """Rules for a device-plugin version (``ValueError`` when it is no version at all)."""
    parts = parse_version(version)
    if parts is None:
        raise ValueError(f"{version!r} is not a device-plugin version (expected e.g. v0.17.4 or v0.20.0)")
    v = version.strip()
    v = v if v.startswith("v") else f"v{v}"
    note = ""
    if parts < OLDEST:
        note = (
            f"{v} is older than any known rule set; checked with the v0.17.x rules, keys added later count as unknown"
        )
    elif parts > parse_version(NEWEST):  # type: ignore[operator]
        note = f"{v} is newer than {NEWEST}; checked with the {NEWEST} rules"
    return PluginRules(v, source, note)


def operator_chart_plugin(chart_version: str) -> str | None:
    """The device-plugin version a gpu-operator chart version ships (None when unknown)."""
    from gpuslice.catalog import load_catalog

    v = chart_version.strip()
    v = v if v.startswith("v") else f"v{v}"
    known = load_catalog().chart(v)
    if known is not None:
        return known.device_plugin_version
    if v in OPERATOR_PLUGIN:
        return OPERATOR_PLUGIN[v]
    parts = parse_version(v)
    if parts is None:
        return None
    same_minor = [(parse_version(k), p) for k, p in OPERATOR_PLUGIN.items() if parse_version(k)[:2] == parts[:2]]  # type: ignore[index]
    return max(same_minor)[1] if same_minor else None


def choose_rules(
    explicit: str | None,
    *,
    spec_chart: str | None = None,
    in_file: tuple[str, str] | None = None,
    strict: bool = True,
) -> PluginRules:
    """The rule set to apply, in this order: ``explicit`` (``--plugin-version``), the gpuslice spec's gpu-operator
    chart version, a version the file itself names (``in_file`` = (version, where)), else the newest.

    ``strict``: an explicit version that is not a version raises ``ValueError``; otherwise (a version read from a
    file or a cluster, e.g. an image tag ``latest``) the newest rules are used and the note says why.
    """
    if explicit:
        try:
            return plugin_rules(explicit, "--plugin-version")
        except ValueError:
            if strict:
                raise
            newest = default_rules()
            return PluginRules(newest.version, newest.source, f"{explicit!r} is not a version; used the newest rules")
    if spec_chart:
        pv = operator_chart_plugin(spec_chart)
        if pv:
            return plugin_rules(pv, f"the spec's gpu-operator chart {spec_chart}")
    if in_file:
        version, where = in_file
        try:
            return plugin_rules(version, where)
        except ValueError:
            newest = default_rules()
            return PluginRules(newest.version, newest.source, f"{where} is {version!r}, not a version; used the newest")
    return default_rules()
