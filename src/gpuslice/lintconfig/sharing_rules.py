"""Rules across the fields of one device-plugin config: sharing blocks, resource names, MIG and MPS combinations,
and what the plugin discards at startup. ``Linter`` = the schema walk (``walk``) + these rules."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from gpuslice.lintconfig.goyaml import Path
from gpuslice.lintconfig.schema import gpu_resource_kind, schema
from gpuslice.lintconfig.walk import SchemaWalker
from gpuslice.yamlio import type_name as _type_name


@dataclass
class Parsed:
    """What the plugin would hold after loading: canonical field names, Go-coerced values (only keys present)."""

    version: str = "v1"
    flags: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)  # "timeSlicing"/"mps" -> parsed block
    ts_present: bool = False
    mps_present: bool = False
    resources_set: bool = False
    imex: dict[str, Any] = field(default_factory=dict)
    ok_blocks: set[str] = field(default_factory=set)
    mps_fail_forced: bool = False  # the plugin version forces failRequestsGreaterThanOne for MPS (< v0.20.0)


@dataclass
class Linter(SchemaWalker):
    """Lint one config document: ``Linter(doc=...).run()`` -> what the plugin would hold; findings in ``.findings``."""

    def run(self) -> Parsed:
        p = Parsed(mps_fail_forced=not self.rules.has("mpsFailRequestsHonoured"))
        d = self.doc.data
        for kpath, line in self.doc.duplicates:
            self.emit(
                "lint-duplicate-key",
                kpath,
                f"duplicate key (also on an earlier line); the plugin keeps the value on line {line}",
                "Keep one of them.",
            )
        self._nonfinite(d, ())
        if d is None:
            self.emit(
                "lint-no-sharing",
                (),
                "empty config: the plugin starts with its defaults and shares nothing",
                "Fine for an exclusive (unshared) pool; otherwise add a sharing block.",
            )
            return p
        if not isinstance(d, dict):
            self.emit(
                "lint-root",
                (),
                f"the config is {_type_name(d)}; it must be a mapping "
                f"(json: cannot unmarshal into Go value of type v1.Config)",
                "Start the file with 'version: v1' and top-level keys flags/sharing/imex.",
            )
            return p
        parsed = self.walk_object(schema()["config"], d, (), "struct")
        self.config_rules(parsed, p)
        return p

    def config_rules(self, parsed: dict[str, Any] | None, p: Parsed) -> None:
        if parsed is None:
            return
        flags = parsed.get("flags") or {}
        p.flags = flags
        self.flag_alias_quirk(flags)
        mig_strategy = flags.get("migStrategy")
        sharing = parsed.get("sharing") or {}
        d = self.doc.data
        raw_sharing = self._raw_child(d, "sharing")
        p.ts_present = isinstance(raw_sharing, dict) and any(k.lower() == "timeslicing" for k in raw_sharing)
        p.mps_present = sharing.get("mps") is not None
        res = parsed.get("resources") or {}
        if any(res.get(k) for k in ("gpus", "mig")):
            p.resources_set = True
            self.emit(
                "lint-resources-ignored",
                ("resources",),
                "is ignored: " + schema()["config"]["fields"]["resources"]["ignored"],
                "Delete the resources block; share via sharing.timeSlicing or sharing.mps.",
            )
        imex = parsed.get("imex") or {}
        ids = imex.get("channelIDs")
        if ids and not (len(ids) == 1 and ids[0] == 0) and None not in ids:
            self.emit(
                "lint-imex",
                ("imex", "channelIDs"),
                f"invalid IMEX config: channelIDs must be [] or [0]; found {ids}",
                "Use [] or [0].",
            )

        for block in ("timeSlicing", "mps"):
            blk = sharing.get(block)
            if isinstance(blk, dict):
                p.blocks[block] = blk
                self.block_rules(block, blk, mig_strategy)

        if p.ts_present and p.mps_present:
            self.emit(
                "lint-both-strategies",
                ("sharing",),
                "has both timeSlicing and mps; the plugin uses MPS and silently ignores timeSlicing",
                "Keep exactly one of sharing.timeSlicing / sharing.mps.",
            )
        if p.mps_present:
            if mig_strategy == "mixed":
                self.emit(
                    "lint-mps-mig-strategy",
                    ("flags", "migStrategy"),
                    "using --mig-strategy=mixed is not supported with MPS; the plugin fails at startup",
                    "Use migStrategy none (MPS needs full GPUs), or time-slicing for MIG devices.",
                )
            elif mig_strategy == "single":
                self.emit(
                    "lint-mps-single",
                    ("flags", "migStrategy"),
                    "MPS with migStrategy single: on a node whose "
                    "GPUs have MIG enabled the plugin refuses MPS ('sharing using MPS is not supported for MIG "
                    "devices')",
                    "Use migStrategy none on MPS nodes, or disable MIG there.",
                )
            if not self.in_configmap and not flags.get("mpsRoot"):
                self.emit(
                    "lint-mps-root",
                    ("flags",),
                    "MPS needs an MPS root: flags.mpsRoot, --mps-root or MPS_ROOT "
                    "('using MPS requires --mps-root to be specified'); the GPU Operator sets MPS_ROOT="
                    "/run/nvidia/mps",
                    "Run it under the GPU Operator, or set flags.mpsRoot.",
                )
        if not p.ts_present and not p.mps_present:
            self.emit(
                "lint-no-sharing",
                ("sharing",) if "sharing" in (parsed or {}) else (),
                "no timeSlicing or mps block: GPUs are not shared on nodes using this config",
                "Fine for exclusive pools; otherwise add sharing.timeSlicing.resources.",
            )

    def flag_alias_quirk(self, flags: dict[str, Any]) -> None:
        """A key under flags.plugin/flags.gfd named like a top-level flag zeroes that flag (sigs.k8s.io/yaml).

        While converting YAML to JSON, sigs.k8s.io/yaml v1.6.0 looks up keys under flags.plugin and flags.gfd in
        the embedded CommandLineFlags struct and allocates the matching pointer field of the real config: the flag
        becomes "" (or false) unless flags sets it. For migStrategy and deviceDiscoveryStrategy "" then fails
        validateFlags ("unknown MIG strategy: ").
        """
        raw_flags = self._raw_child(self.doc.data, "flags")
        if not isinstance(raw_flags, dict):
            return
        top = schema()["config"]["fields"]["flags"]["fields"]
        for sub in ("plugin", "gfd"):
            raw_sub = self._raw_child(raw_flags, sub)
            if not isinstance(raw_sub, dict):
                continue
            for key in raw_sub:
                name = next((f for f in top if f.lower() == key.lower()), None)
                if name in ("migStrategy", "deviceDiscoveryStrategy") and flags.get(name) is None:
                    self.emit(
                        "lint-flag-value",
                        ("flags", sub, key),
                        f"'{key}' under flags.{sub} makes the plugin "
                        f"set flags.{name} to '' (a sigs.k8s.io/yaml side effect), and '' is rejected at "
                        "startup ('unknown MIG strategy: ' / 'invalid --device-discovery-strategy')",
                        f"Move '{key}' up to flags.{name}.",
                    )

    @staticmethod
    def _raw_child(d: Any, key: str) -> Any:
        if not isinstance(d, dict):
            return None
        if key in d:
            return d[key]
        return next((v for k, v in d.items() if k.lower() == key.lower()), None)

    def block_rules(self, block: str, blk: dict[str, Any], mig_strategy: str | None) -> None:
        base: Path = ("sharing", block)
        rename_default = bool(blk.get("renameByDefault"))
        raw_block = self._raw_child(self._raw_child(self.doc.data, "sharing"), block)
        raw_resources = raw_block.get("resources") if isinstance(raw_block, dict) else None
        seen: dict[str, int] = {}
        resources_list = blk.get("resources") or []
        for i, r in enumerate(resources_list):
            if not isinstance(r, dict):
                continue
            rpath: Path = (*base, "resources", i)
            name = r.get("name")
            raw_r = raw_resources[i] if isinstance(raw_resources, list) and i < len(raw_resources) else {}
            if name:
                if name in seen:
                    self.emit(
                        "lint-duplicate-resource",
                        (*rpath, "name"),
                        f"{name} is already listed at resources[{seen[name]}]",
                        "List each resource once.",
                    )
                seen.setdefault(name, i)
                self.resource_name_rules(block, name, (*rpath, "name"), mig_strategy, raw_r)
            if "rename" in raw_r and isinstance(raw_r, dict):
                ren = r.get("rename")
                want = f"{name}{schema()['resource_name']['shared_suffix']}" if name else None
                if ren and (not rename_default or ren != want):
                    self.emit(
                        "lint-rename-ignored",
                        (*rpath, "rename"),
                        "is ignored at startup: "
                        + (f"the plugin advertises {want}" if rename_default else f"the plugin advertises {name}")
                        + " ("
                        + schema()["items"]["replicated_resource"]["fields"]["rename"]["ignored"]
                        + ")",
                        "Delete rename; use renameByDefault: true to get <name>.shared.",
                    )
            dev = r.get("devices")
            if "devices" in raw_r and dev is not None and dev != "all":
                self.emit(
                    "lint-devices-ignored",
                    (*rpath, "devices"),
                    "is ignored: "
                    + schema()["items"]["replicated_resource"]["fields"]["devices"]["ignored"]
                    + "; every GPU of this type is "
                    "shared",
                    "Delete devices (or write devices: all).",
                )
            reps = r.get("replicas")
            if block == "mps" and isinstance(reps, int):
                mps = schema()["mps"]
                if reps > mps["max_replicas"]:
                    self.emit(
                        "lint-mps-replicas",
                        (*rpath, "replicas"),
                        f"{reps} MPS replicas; the MPS control "
                        f"daemon allows at most {mps['max_replicas']} clients per GPU ('maximum allowed "
                        "replicas exceeded')",
                        f"Use at most {mps['max_replicas']}.",
                    )
                elif reps > mps["max_replicas_before_turing"]:
                    self.emit(
                        "lint-mps-replicas-old-gpu",
                        (*rpath, "replicas"),
                        f"{reps} MPS replicas works only "
                        f"on GPUs with compute capability >= 7.5; older GPUs allow "
                        f"{mps['max_replicas_before_turing']}",
                        "Check the pool's GPU model.",
                    )
        if block == "timeSlicing" and resources_list and "failRequestsGreaterThanOne" not in blk:
            self.emit(
                "lint-fail-requests",
                (*base,),
                "failRequestsGreaterThanOne is not set (false for "
                "time-slicing): a pod requesting 2 replicas gets 2 slices of the same GPU, not more compute",
                "Set failRequestsGreaterThanOne: true.",
            )
        if (
            block == "mps"
            and blk.get("failRequestsGreaterThanOne") is False
            and not self.rules.has("mpsFailRequestsHonoured")
        ):
            # config.go NewConfig sets it to true for MPS and rm.go ValidateRequest ignores it (before v0.20.0)
            self.emit(
                "lint-mps-fail-requests",
                (*base, "failRequestsGreaterThanOne"),
                f"false is ignored by device plugin {self.rules.version}: before "
                f"{schema()['mps']['fail_requests_honoured_from']} MPS forces failRequestsGreaterThanOne to true, so "
                "a pod asking for more than one MPS replica is refused",
                "Request one replica per container, or upgrade the device plugin to v0.20.0 or later.",
            )

    def resource_name_rules(self, block: str, name: str, path: Path, mig_strategy: str | None, raw_r: Any) -> None:
        kind = gpu_resource_kind(name)
        conf = schema()["resource_name"]
        if kind is None:
            if name.endswith(conf["shared_suffix"]) and gpu_resource_kind(name[: -len(conf["shared_suffix"])]):
                base = name[: -len(conf["shared_suffix"])]
                msg = f"{name} is the renamed resource the plugin advertises, not one it can share"
                fix = f"Use name: {base} and renameByDefault: true."
            elif name.startswith("nvidia.com/mig-"):
                msg = (
                    f"{name} is not a MIG resource name the plugin advertises (nvidia.com/mig-<g>g.<mem>gb, with "
                    f"'+' in the profile written as '.', e.g. nvidia.com/mig-1g.10gb or nvidia.com/mig-1g.24gb.me)"
                )
                fix = "Use the exact name from the node's capacity (kubectl describe node)."
            else:
                hint = difflib.get_close_matches(name, [conf["gpu"]], n=1, cutoff=0.6)
                msg = f"{name} matches no GPU resource; the plugin skips it and shares nothing"
                fix = f"Did you mean {hint[0]}?" if hint else f"Use {conf['gpu']}."
                if (
                    raw_r
                    and isinstance(raw_r.get("name"), str)
                    and "/" in raw_r["name"]
                    and not raw_r["name"].startswith(conf["prefix"])
                ):
                    msg = (
                        f"'{raw_r['name']}' does not start with nvidia.com/, so the plugin reads it as {name}, "
                        "which matches no GPU resource"
                    )
            self.emit("lint-resource-unknown", path, msg, fix)
            return
        if kind == "mig":
            if block == "mps":
                self.emit(
                    "lint-mps-mig",
                    path,
                    f"{name}: sharing using MPS is not supported for MIG devices",
                    f"Use {conf['gpu']} for MPS, or time-slicing for MIG devices.",
                )
            elif mig_strategy != "mixed":
                self.emit(
                    "lint-mig-strategy",
                    path,
                    f"{name} exists only under migStrategy mixed (this config says "
                    f"{mig_strategy or 'nothing'}; the GPU Operator's MIG_STRATEGY, default single, decides)",
                    "Set flags.migStrategy and ClusterPolicy mig.strategy to mixed, or share nvidia.com/gpu.",
                )
