"""The device plugin's config schema (``device_plugin_v1.yaml``) and the small Go-faithful predicates the rules use:
UUIDs, device references, resource names, Go int conversion."""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from gpuslice.lintconfig.goyaml import go_format_float
from gpuslice.names import DNS_LABEL_RE, DNS_SUBDOMAIN_RE

DNS1123_SUBDOMAIN = DNS_SUBDOMAIN_RE
DNS1123_LABEL = DNS_LABEL_RE
_HEX = "0123456789abcdefABCDEF"
_GO_DURATION = re.compile(r"[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+")


@functools.cache
def schema() -> dict[str, Any]:
    from gpuslice.yamlio import load_packaged

    data: dict[str, Any] = load_packaged("gpuslice.lintconfig", "device_plugin_v1.yaml")
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
