"""Every generated name comes from here: deterministic, DNS-1123 valid and within its length limit.

Names derive from the spec's ``cluster.deploymentId`` plus a purpose, so a re-deploy of the same spec produces
the same names (idempotent), and two deployments never collide. When a name would be too long it is truncated
and a stable hash of the *full* untruncated name is appended, so distinct inputs keep distinct names.
The hash is SHA-256 (not Python's salted ``hash()``), so the result is the same on any machine and Python.
"""

from __future__ import annotations

import hashlib
import re

#: Kubernetes object names (DNS-1123 label), label values and ConfigMap-as-volume names.
DNS_LABEL_MAX = 63
#: Helm release names: Helm 3 limits them to 53 so that derived object names still fit in 63.
HELM_RELEASE_MAX = 53
HASH_LEN = 8

# Kubernetes name rules (k8s.io/apimachinery pkg/util/validation), the one place they are written out. Patterns
# without anchors; use ``re.fullmatch`` (or ``^...$`` in JSON-Schema patterns).
#: RFC 1123 label: object names, label values of names, ConfigMap-as-volume names (<= 63)
DNS_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#: RFC 1123 subdomain: dotted labels (<= 253), e.g. Helm release names, label-key prefixes
DNS_SUBDOMAIN_PATTERN = rf"{DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*"
#: label value (<= 63, may be empty)
LABEL_VALUE_PATTERN = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
#: qualified name: optional DNS-subdomain prefix and "/", then a name part of <= 63 characters (label keys)
LABEL_KEY_PATTERN = rf"({DNS_SUBDOMAIN_PATTERN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?"
#: ConfigMap data key (<= 253)
CONFIGMAP_KEY_PATTERN = r"[-._a-zA-Z0-9]+"

DNS_LABEL_RE = re.compile(DNS_LABEL_PATTERN)
DNS_SUBDOMAIN_RE = re.compile(DNS_SUBDOMAIN_PATTERN)
LABEL_VALUE_RE = re.compile(LABEL_VALUE_PATTERN)
LABEL_KEY_RE = re.compile(LABEL_KEY_PATTERN)
CONFIGMAP_KEY_RE = re.compile(CONFIGMAP_KEY_PATTERN)
_DNS_LABEL = re.compile(f"^{DNS_LABEL_PATTERN}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_PATTERN}$")
_INVALID = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def short_hash(text: str, length: int = HASH_LEN) -> str:
    """A stable lowercase hex digest prefix of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def is_dns_label(name: str, max_len: int = DNS_LABEL_MAX) -> bool:
    return 0 < len(name) <= max_len and bool(_DNS_LABEL.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= DNS_LABEL_MAX and bool(_LABEL_VALUE.match(value))


def sanitize(text: str) -> str:
    """Lower-case, replace anything outside [a-z0-9-] by '-', collapse and trim dashes."""
    s = _INVALID.sub("-", text.lower())
    s = _DASHES.sub("-", s).strip("-")
    return s


def dns_label(*parts: str, max_len: int = DNS_LABEL_MAX) -> str:
    """Join ``parts`` into one valid DNS-1123 label of at most ``max_len`` characters.

    If the sanitized join fits and equals the raw join, it is returned as is. Otherwise (too long, or changed
    by sanitizing) a hash of the raw input is appended so that different inputs never meet in one name.
    """
    if max_len < HASH_LEN + 2:
        raise ValueError(f"max_len must be at least {HASH_LEN + 2}")
    raw = "-".join(p for p in parts if p != "")
    clean = sanitize(raw)
    if clean == raw and is_dns_label(clean, max_len):
        return clean
    digest = short_hash(raw)
    room = max_len - HASH_LEN - 1
    stem = clean[:room].rstrip("-")
    # A bare hex digest is itself a valid DNS-1123 label.
    return f"{stem}-{digest}" if stem else digest


def helm_release_name(deployment_id: str, override: str | None = None) -> str:
    """The operator's Helm release name (<= 53)."""
    if override:
        return override
    return dns_label(deployment_id, "gpu-operator", max_len=HELM_RELEASE_MAX)


def object_name(deployment_id: str, purpose: str) -> str:
    """A Kubernetes object name for ``purpose`` in this deployment (<= 63)."""
    return dns_label(deployment_id, purpose)


def label_value(*parts: str) -> str:
    """A label value (<= 63, DNS-1123 subset so it is also valid as a key in most places)."""
    return dns_label(*parts)


def nfd_fullname(deployment_id: str) -> str:
    """A short fullnameOverride for the node-feature-discovery subchart so its object names stay in 63."""
    # NFD appends suffixes such as "-topology-updater" (17) and "-master" to its fullname.
    return dns_label(deployment_id, "nfd", max_len=DNS_LABEL_MAX - len("-topology-updater") - 4)
