"""Validate one device-plugin config document (``api/config/v1``) the way the plugin does, and stricter.

Every check below is one of three kinds (see ``RULES``):

* ``upstream``: the device plugin (v0.20.0) refuses this config, either while loading it
  (``parseConfigFrom``) or before serving (``validateFlags``). Always an error.
* ``strict``: the plugin accepts it but silently does something else than written (unknown keys dropped, a typo'd
  resource name shares nothing, time-slicing ignored next to MPS...). An error, or a warning with ``upstream=True``.
* ``advice``: parsed but ignored at runtime, or legal but risky. A warning or info.

The schema (which keys exist where, enums, limits) is data: ``device_plugin_v1.yaml`` beside this file.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from gpuslice.findings import Finding, Severity
from gpuslice.lintconfig.goyaml import Doc, Path, go_format_float
from gpuslice.yamlio import format_path

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
    "lint-duration": (Severity.ERROR, "upstream", "gfd.sleepInterval must be a number, a Go duration or 'infinite'."),
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
        "failRequestsGreaterThanOne: false under MPS is honoured only from device plugin v0.20.0.",
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

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
DNS1123_LABEL = re.compile(_DNS_LABEL)
_HEX = "0123456789abcdefABCDEF"
_GO_DURATION = re.compile(r"[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+")


@functools.cache
def schema() -> dict[str, Any]:
    import yaml

    text = resources.files("gpuslice.lintconfig").joinpath("device_plugin_v1.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@functools.cache
def key_index() -> dict[str, list[str]]:
    """key name -> every place (display path) it is valid, for "belongs under" hints."""
    out: dict[str, list[str]] = {}

    def visit(spec: dict[str, Any], where: str) -> None:
        if spec.get("type") == "object":
            for name, sub in spec.get("fields", {}).items():
                out.setdefault(name, []).append(where)
                visit(sub, f"{where}.{name}" if where else name)
        elif spec.get("type") == "list" and isinstance(spec.get("items"), str):
            visit(schema()["items"][spec["items"]], f"{where}[]")

    visit(schema()["config"], "")
    return out


# --------------------------------------------------------------------------------------------------------------
# small Go-faithful predicates


def go_uuid_ok(s: str) -> bool:
    """github.com/google/uuid Parse: 36 chars with dashes, {…}, urn:uuid:…, or 32 hex digits."""
    if len(s) == 36 + 9:
        if s[:9].lower() != "urn:uuid:":
            return False
        s = s[9:]
    elif len(s) == 36 + 2:
        if s[0] != "{" or s[-1] != "}":
            return False
        s = s[1:-1]
    elif len(s) == 32:
        return all(c in _HEX for c in s)
    if len(s) != 36:
        return False
    if s[8] != "-" or s[13] != "-" or s[18] != "-" or s[23] != "-":
        return False
    return all(c in _HEX for i, c in enumerate(s) if i not in (8, 13, 18, 23))


def _go_uint(s: str) -> bool:
    return bool(s) and s.isascii() and s.isdigit() and int(s) <= 2**64 - 1


def device_ref_kind(s: str) -> str | None:
    """replicas.go ReplicatedDeviceRef: gpuIndex | migIndex | uuid, or None."""
    if _go_uint(s):
        return "gpuIndex"
    parts = s.split(":", 1)
    if len(parts) == 2 and all(_go_uint(p) for p in parts):
        return "migIndex"
    if s.startswith("GPU-") and go_uuid_ok(s[4:]):
        return "uuid"
    if s.startswith("MIG-"):
        rest = s[4:]
        if go_uuid_ok(rest):
            return "uuid"
        sp = rest.split("/", 2)
        if len(sp) == 3 and sp[0].startswith("GPU-") and go_uuid_ok(sp[0][4:]) and all(_go_uint(x) for x in sp[1:]):
            return "uuid"
    return None


def resource_name_problem(raw: str) -> tuple[str, str | None]:
    """resources.go NewResourceName -> (full name, upstream error or None)."""
    conf = schema()["resource_name"]
    prefix: str = conf["prefix"]
    n = raw if raw.startswith(prefix) else prefix + raw
    if len(n) > conf["max_length"]:
        return n, f"fully-qualified resource name must be {conf['max_length']} characters or less: {n}"
    name = n.split("/", 1)[1] if "/" in n else n
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        return n, (
            f"incorrect format for resource name '{n}': the part after 'nvidia.com/' must be an RFC 1123 subdomain "
            "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
        )
    return n, None


def gpu_resource_kind(full: str) -> str | None:
    """'gpu' | 'mig' | None: whether the plugin ever advertises a resource under this name."""
    conf = schema()["resource_name"]
    if full == conf["gpu"]:
        return "gpu"
    if re.fullmatch(conf["mig_pattern"], full):
        return "mig"
    return None


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


def _show(v: Any) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_format_float(v) if not v.is_integer() else f"{v:.1f}"
    if v is None:
        return "null"
    return str(v)


def _go_int(v: Any) -> int | None:
    """What encoding/json puts in a Go int for this YAML value, or None when it errors (after YAML->JSON)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            return None
        v = int(v)
    if -(2**63) <= v <= 2**63 - 1:
        return int(v)
    return None


# --------------------------------------------------------------------------------------------------------------


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


@dataclass
class Linter:
    doc: Doc
    prefix: str = ""  # "data[key]" inside a ConfigMap
    upstream: bool = False
    in_configmap: bool = False
    findings: list[Finding] = field(default_factory=list)

    # ---- reporting
    def path_str(self, path: Path) -> str:
        rest = format_path(path)
        if self.prefix:
            return f"{self.prefix}.{rest}" if rest and not rest.startswith("[") else f"{self.prefix}{rest}"
        return rest or "(root)"

    def emit(
        self,
        rule: str,
        path: Path,
        message: str,
        fix: str = "",
        *,
        severity: Severity | None = None,
        evidence: tuple[str, ...] = (),
    ) -> None:
        sev, kind, _ = RULES[rule]
        sev = severity or sev
        if self.upstream and kind == "strict" and sev is Severity.ERROR:
            sev = Severity.WARNING
        where = self.path_str(path)
        self.findings.append(
            Finding(
                id=rule,
                severity=sev,
                message=f"{where}: {message}",
                fix=fix,
                reference=REF_README if kind != "upstream" else REF_SRC,
                evidence=evidence,
                path=where,
                file=self.doc.file,
                line=self.doc.line(path),
            )
        )

    # ---- entry point
    def run(self) -> Parsed:
        p = Parsed()
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

    def _nonfinite(self, v: Any, path: Path) -> None:
        if isinstance(v, float) and not math.isfinite(v):
            self.emit(
                "lint-type",
                path,
                f"{_show(v)} cannot be converted to JSON (json: unsupported value), so the plugin cannot load the file",
                "Use a finite number.",
            )
        elif isinstance(v, dict):
            for k, x in v.items():
                self._nonfinite(x, (*path, k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self._nonfinite(x, (*path, i))

    # ---- generic walker
    def walk(self, spec: dict[str, Any], v: Any, path: Path, parent_go: str) -> Any:
        t = spec["type"]
        if t == "object":
            go = spec.get("go", "struct")
            if go == "struct" and (parent_go == "struct-nocoerce" or spec.get("coerce") is False):
                go = "struct-nocoerce"
            return self.walk_object(spec, v, path, go)
        if t == "string":
            return self.check_string(spec, v, path, coerce=parent_go == "struct" and spec.get("coerce", True))
        if t == "bool":
            if v is None or isinstance(v, bool):
                return v
            self.emit(
                "lint-type",
                path,
                f"must be true or false, got {_type_name(v)} {_show(v)}",
                "Write true or false without quotes.",
            )
            return None
        if t == "duration":
            return self.check_duration(v, path)
        if t == "string_list":
            return self.check_string_list(spec, v, path)
        if t == "list":
            return self.check_list(spec, v, path)
        if t == "resource_name":
            return self.check_resource_name(v, path)
        if t == "replicas":
            return self.check_replicas(v, path)
        if t == "devices":
            return self.check_devices(v, path)
        raise AssertionError(f"unknown schema type {t}")  # pragma: no cover - schema bug

    def walk_object(self, spec: dict[str, Any], v: Any, path: Path, go: str) -> dict[str, Any] | None:
        if v is None:
            null = spec.get("if_null")
            if isinstance(null, str):
                self.emit(
                    "lint-empty-sharing",
                    path,
                    f"is empty (null): {null}",
                    "Give it a resources list, or delete the key for no sharing.",
                )
            return None
        if not isinstance(v, dict):
            self.emit("lint-type", path, f"must be a mapping, got {_type_name(v)} {_show(v)}")
            return None
        fields: dict[str, Any] = spec.get("fields", {})
        out: dict[str, Any] = {}
        winner: dict[str, str] = {}
        if go.startswith("struct"):
            for key in v:
                name = key if key in fields else next((f for f in fields if f.lower() == key.lower()), None)
                if name is not None and (name not in winner or key > winner[name]):
                    winner[name] = key
        for key, val in v.items():
            kpath = (*path, key)
            if not go.startswith("struct"):  # custom UnmarshalJSON: exact keys only
                if key in fields:
                    out[key] = self.walk(fields[key], val, kpath, go)
                else:
                    self.unknown_key(key, kpath, fields, path)
                continue
            name = next((f for f, k in winner.items() if k.lower() == key.lower() and f.lower() == key.lower()), None)
            if name is None:
                self.unknown_key(key, kpath, fields, path)
                continue
            if winner[name] != key:
                self.emit(
                    "lint-duplicate-key",
                    kpath,
                    f"'{key}' and '{winner[name]}' both set '{name}' (the "
                    f"plugin matches keys case-insensitively here); '{winner[name]}' wins",
                    f"Keep only '{name}'.",
                )
                # Both are decoded (in sorted key order): decoding errors count, value checks use the winner.
                mark = len(self.findings)
                self.walk(fields[name], val, kpath, go)
                self.findings[mark:] = [
                    f for f in self.findings[mark:] if f.id not in ("lint-version", "lint-flag-value")
                ]
                continue
            if name != key:
                self.emit(
                    "lint-unknown-key",
                    kpath,
                    f"'{key}' is matched to '{name}' only because the plugin's "
                    "JSON decoding ignores case here (elsewhere case matters)",
                    f"Write '{name}'.",
                )
            out[name] = self.walk(fields[name], val, kpath, go)
        for name, sub in fields.items():
            if sub.get("required") and name not in v:
                rule = "lint-empty-sharing" if name == "resources" else "lint-missing-field"
                self.emit(
                    rule,
                    (*path, name) if path else (name,),
                    f"missing: {sub.get('missing', 'required')}",
                    f"Add '{name}'.",
                )
        return out

    def unknown_key(self, key: str, kpath: Path, fields: dict[str, Any], parent: Path) -> None:
        here = format_path(tuple(p if isinstance(p, str) else 0 for p in parent)) or "the top level"
        places = [w for w in key_index().get(key, []) if w != re.sub(r"\[\d+\]", "[]", format_path(parent))]
        if places:
            where = " or ".join(p or "the top level" for p in places)
            msg = f"unknown key '{key}' here; it belongs under {where}"
            fix = f"Move '{key}' under {where}."
        else:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            if not close:
                lowered = {f.lower(): f for f in fields}
                close = [lowered[key.lower()]] if key.lower() in lowered else []
            if close:
                msg = f"unknown key '{key}'; did you mean '{close[0]}'?"
                fix = f"Rename it to '{close[0]}'."
            else:
                glob = difflib.get_close_matches(key, list(key_index()), n=1, cutoff=0.75)
                if glob:
                    where = " or ".join(p or "the top level" for p in key_index()[glob[0]])
                    msg = f"unknown key '{key}'; did you mean '{glob[0]}' (under {where})?"
                    fix = f"Use '{glob[0]}' under {where}."
                else:
                    known = ", ".join(fields) or "none"
                    msg = f"unknown key '{key}' under {here} (known: {known})"
                    fix = "Remove it: the device plugin ignores it."
        self.emit("lint-unknown-key", kpath, msg + "; the device plugin ignores it silently", fix)

    # ---- scalars
    def check_string(self, spec: dict[str, Any], v: Any, path: Path, *, coerce: bool) -> str | None:
        if v is None:
            s = None
        elif isinstance(v, str):
            s = v
        elif isinstance(v, bool | int | float) and coerce:
            s = (
                ("true" if v else "false")
                if isinstance(v, bool)
                else (str(v) if isinstance(v, int) else go_format_float(v))
            )
            self.emit(
                "lint-type-coerced",
                path,
                f"is {_type_name(v)} ({_show(v)}); the plugin reads it as the string '{s}'",
                f'Quote it: "{s}".',
            )
        else:
            self.emit("lint-type", path, f"must be a string, got {_type_name(v)} {_show(v)}")
            return None
        enum = spec.get("enum")
        if enum:
            if s is None:
                return None
            if spec.get("empty_means") and s == "":
                return str(spec["empty_means"])
            if s not in enum:
                rule = "lint-version" if path[-1:] == ("version",) else "lint-flag-value"
                hint = difflib.get_close_matches(s.lower(), enum, n=1, cutoff=0.5)
                when = "while loading the config" if spec.get("enum_check") == "parse" else "at startup"
                self.emit(
                    rule,
                    path,
                    f"'{s}' is not one of {', '.join(enum)}; the plugin fails {when}",
                    f"Use '{hint[0]}'." if hint else f"Use one of: {', '.join(enum)}.",
                )
                return None
        return s

    def check_duration(self, v: Any, path: Path) -> Any:
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
            return v
        if isinstance(v, str) and (v == "infinite" or v in ("0", "+0", "-0") or _GO_DURATION.fullmatch(v)):
            return v
        self.emit(
            "lint-duration",
            path,
            f"{_show(v)} is not a duration",
            "Use a Go duration such as 60s or 5m, or 'infinite'.",
        )
        return None

    def check_string_list(self, spec: dict[str, Any], v: Any, path: Path) -> list[str] | None:
        if v is None:
            return None
        items: list[Any]
        if isinstance(v, str):
            items = [v]
        elif isinstance(v, list) and all(x is None or isinstance(x, str) for x in v):
            items = ["" if x is None else x for x in v]
        else:
            self.emit(
                "lint-type",
                path,
                f"must be a string or a list of strings, got {_type_name(v)} {_show(v)} (invalid deviceListStrategy)",
            )
            return None
        enum = spec.get("enum", [])
        bad = [x for x in items if x not in enum]
        if bad:
            self.emit(
                "lint-flag-value",
                path,
                f"invalid strategy {', '.join(repr(b) for b in bad)}; the plugin fails at startup",
                f"Use one or more of: {', '.join(enum)}.",
            )
            return None
        return items

    def check_list(self, spec: dict[str, Any], v: Any, path: Path) -> list[Any] | None:
        if v is None:
            items: list[Any] = []
        elif not isinstance(v, list):
            self.emit("lint-type", path, f"must be a list, got {_type_name(v)} {_show(v)}")
            return None
        else:
            items = v
        if not items and spec.get("empty"):
            self.emit(
                "lint-empty-sharing",
                path,
                f"is empty: {spec['empty']}",
                "List at least one resource, or delete the sharing block for no sharing.",
            )
        out: list[Any] = []
        for i, item in enumerate(items):
            ipath = (*path, i)
            if "items" in spec:
                if item is None:
                    self._null_item(spec, ipath)
                    out.append(None)
                else:
                    out.append(self.walk_object(schema()["items"][spec["items"]], item, ipath, "custom"))
            elif spec.get("items_type") == "int":
                out.append(self.check_int(item, ipath))
        return out if v is not None else None

    def _null_item(self, spec: dict[str, Any], path: Path) -> None:
        # A null list element still reaches the element's UnmarshalJSON with an empty map.
        item = schema()["items"][spec["items"]]
        first = next((n for n, s in item["fields"].items() if s.get("required")), None)
        if first:
            self.emit(
                "lint-missing-field",
                path,
                f"is null: {item['fields'][first]['missing']}",
                "Remove the empty list entry.",
            )

    def check_int(self, v: Any, path: Path) -> int | None:
        if v is None:
            self.emit("lint-type-coerced", path, "is null; the plugin reads it as 0", "Write a number.")
            return 0
        iv = _go_int(v)
        if iv is None:
            self.emit("lint-type", path, f"must be an integer, got {_type_name(v)} {_show(v)}")
            return None
        if isinstance(v, float):
            self.emit("lint-type-coerced", path, f"is written as {_show(v)}; the plugin reads {iv}", f"Write {iv}.")
        return iv

    def check_resource_name(self, v: Any, path: Path) -> str | None:
        if v is not None and not isinstance(v, str):
            self.emit(
                "lint-type",
                path,
                f"must be a string, got {_type_name(v)} {_show(v)}",
                "Write the resource name, e.g. nvidia.com/gpu.",
            )
            return None
        full, err = resource_name_problem(v or "")
        if err:
            self.emit("lint-resource-name", path, err, "Use nvidia.com/gpu (or nvidia.com/mig-<profile>).")
            return None
        return full

    def check_replicas(self, v: Any, path: Path) -> int | None:
        if v is None:
            n = 0
        else:
            iv = _go_int(v)
            if iv is None:
                self.emit(
                    "lint-replicas",
                    path,
                    f"must be an integer, got {_type_name(v)} {_show(v)} (json: cannot "
                    "unmarshal into Go value of type int)",
                    f"Write the number without quotes: replicas: {v}"
                    if isinstance(v, str) and v.strip().isdigit()
                    else "Write a whole number >= 2.",
                )
                return None
            n = iv
            if isinstance(v, float):
                self.emit("lint-type-coerced", path, f"is written as {_show(v)}; the plugin reads {iv}", f"Write {iv}.")
        if n < 2:
            self.emit(
                "lint-replicas",
                path,
                f"is {n}; number of replicas must be >= 2",
                "Use 2 or more. For no sharing on a node, use a config without a sharing block.",
            )
            return None
        return n

    def check_devices(self, v: Any, path: Path) -> Any:
        bad_fix = "Use devices: all (the plugin shares every GPU of this type anyway), or delete the key."
        if isinstance(v, str) or v is None:
            if v == "all":
                return "all"
            self.emit(
                "lint-devices", path, f"devices set as '{v or ''}' but the only valid string input is 'all'", bad_fix
            )
            return None
        if isinstance(v, bool | dict):
            self.emit("lint-devices", path, f"unrecognized type for devices spec: {_show(v)}", bad_fix)
            return None
        if isinstance(v, int | float):
            iv = _go_int(v)
            if iv is None:
                self.emit("lint-devices", path, f"unrecognized type for devices spec: {_show(v)}", bad_fix)
                return None
            if iv <= 0:
                self.emit("lint-devices", path, f"devices set as '{iv}' but a count of devices must be > 0", bad_fix)
                return None
            if isinstance(v, float):
                self.emit("lint-type-coerced", path, f"is written as {_show(v)}; the plugin reads {iv}", f"Write {iv}.")
            return ("count", iv)
        out: list[str] = []
        for i, item in enumerate(v):
            ipath = (*path, i)
            if item is None:  # json null into a uint64 is a no-op: the entry reads as GPU index 0
                self.emit("lint-type-coerced", ipath, "is null; the plugin reads it as GPU index 0", "Remove it.")
                out.append("0")
                continue
            if isinstance(item, int | float) and not isinstance(item, bool):
                iv = _go_int(item)
                if iv is not None and 0 <= iv <= 2**64 - 1:
                    out.append(str(iv))
                    continue
            elif isinstance(item, str) and device_ref_kind(item):
                out.append(item)
                continue
            self.emit(
                "lint-devices",
                ipath,
                f"unsupported type for device in devices list: {_show(item)} (expected "
                "a GPU index, a MIG index 'gpu:mig', GPU-<uuid>, MIG-<uuid> or MIG-GPU-<uuid>/<gi>/<ci>)",
                bad_fix,
            )
            return None
        return ("list", out)

    # ---- rules across fields
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
        if block == "mps" and blk.get("failRequestsGreaterThanOne") is False:
            self.emit(
                "lint-mps-fail-requests",
                (*base, "failRequestsGreaterThanOne"),
                "false is honoured only by "
                f"device plugin >= {schema()['mps']['fail_requests_honoured_from']}; v0.15-v0.19 reject "
                "requests for more than one MPS replica regardless",
                "Check the operator's device-plugin version.",
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


def iter_rule_docs() -> Iterator[tuple[str, str]]:
    for rid, (_sev, kind, doc) in RULES.items():
        tag = {
            "upstream": "The device plugin rejects this.",
            "strict": "gpuslice is stricter than the plugin here.",
            "advice": "",
        }[kind]
        yield rid, f"{doc} {tag}".strip()
