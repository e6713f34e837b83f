"""The schema walk: check one config document key by key against ``device_plugin_v1.yaml`` the way the plugin's
JSON decoding reads it (types, enums, unknown keys, case-insensitive struct keys, Go coercions).

Rules across fields (sharing blocks, resource names, MIG/MPS combinations) live in ``sharing_rules``.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gpuslice.findings import Finding, Severity
from gpuslice.lintconfig.goyaml import Doc, Path, go_format_float
from gpuslice.lintconfig.rules import REF_README, REF_SRC, RULES
from gpuslice.lintconfig.schema import (
    _GO_DURATION,
    _go_int,
    _show,
    device_ref_kind,
    key_index,
    resource_name_problem,
    schema,
)
from gpuslice.lintconfig.versions import PluginRules, default_rules, parse_version
from gpuslice.yamlio import format_path
from gpuslice.yamlio import type_name as _type_name


@dataclass
class SchemaWalker:
    doc: Doc
    prefix: str = ""  # "data[key]" inside a ConfigMap
    upstream: bool = False
    in_configmap: bool = False
    rules: PluginRules = field(default_factory=default_rules)
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
        all_fields: dict[str, Any] = spec.get("fields", {})
        fields = {k: f for k, f in all_fields.items() if self.known_in_version(f)}
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
                newer = next((f for f in all_fields if f.lower() == key.lower() and f not in fields), None)
                if newer is not None:
                    self.too_new(key, kpath, all_fields[newer])
                else:
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

    def known_in_version(self, spec: dict[str, Any]) -> bool:
        since = spec.get("since")
        return since is None or self.rules.parts >= (parse_version(since) or (0, 0, 0))

    def too_new(self, key: str, kpath: Path, spec: dict[str, Any]) -> None:
        """A key the plugin version being checked does not know yet: its loader drops it silently."""
        before = f": {spec['before']}" if spec.get("before") else ""
        self.emit(
            "lint-key-version",
            kpath,
            f"'{key}' is read by the device plugin only from {spec['since']}; {self.rules.version} drops it "
            f"silently{before}",
            f"Upgrade the device plugin (gpu-operator chart) to {spec['since']} or later, or remove '{key}'.",
        )

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
        if v == "infinite" and not self.rules.has("infiniteSleepInterval"):
            # duration.go before v0.19.0: time.ParseDuration("infinite") fails, so the config does not load
            self.emit(
                "lint-duration",
                path,
                f"'infinite' is accepted only from device plugin v0.19.0; {self.rules.version} fails to load the "
                'config (time: invalid duration "infinite")',
                "Use a long Go duration such as 8760h, or upgrade the device plugin to v0.19.0 or later.",
            )
            return None
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
