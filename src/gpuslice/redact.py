"""Keep credential material out of everything gpuslice prints or writes.

Inputs gpuslice reads can hold secrets: a kubeconfig's ``token``/``client-key-data``/``password``, an
exec-plugin ``env``, a dump's Secret ``data`` (``.dockerconfigjson``), values with a registry ``password``. A
parser error or a log line quoting such a value would leak it onto a terminal, a CI log or a JSON report.

:func:`redact` replaces the value of every sensitive key (YAML ``key: value``, JSON ``"key": "value"``,
``key=value``), PEM private-key blocks, bearer tokens and JWTs with ``<redacted>``. It is applied to every error
message the CLI prints (``commands/_common.handle_errors``) and to parser errors where they are made
(:mod:`gpuslice.yamlio` never quotes the values of a duplicate key at all).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "<redacted>"

#: Key names (case-insensitive, matched as a whole key) whose values are credentials.
SENSITIVE_KEY = (
    r"(?:[\w.-]*(?:token|password|passwd|apikey|api[_-]?key|private[_-]?key|secret[_-]?access[_-]?key)[\w.-]*"
    r"|(?:client[_-]?)?secret|client-key(?:-data)?|auth|\.dockerconfigjson|\.dockercfg|authorization)"
)

_KEY_QUOTED = re.compile(
    r"""(?P<k>(?P<q>["'])(?:""" + SENSITIVE_KEY + r""")(?P=q)\s*[:=]\s*)(?P<v>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]]+)""",
    re.IGNORECASE,
)
_KEY_PLAIN = re.compile(
    # Not after a '/': ``/etc/passwd: not a chart archive`` names a file, its message is no credential.
    r"""(?P<k>(?<![\w.\-\[\]/])(?:"""
    + SENSITIVE_KEY
    + r""")\s*(?::\s+|=)\s*)(?P<v>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]]+)""",
    re.IGNORECASE,
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
_BEARER = re.compile(r"(?P<k>\b(?:Bearer|Basic)\s+)(?P<v>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
#: ruamel's "found duplicate key "K" with value "V" (original value: "W")": the values never help the fix.
_DUPLICATE = re.compile(
    r'(duplicate key "(?:[^"\\]|\\.)*") with value .*?(?: \(original value: .*\))?(?=$|\n)', re.MULTILINE
)
#: ``scheme://user:password@host``: the password part of URL credentials.
_URL_USERINFO = re.compile(r"(?P<k>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<v>[^\s@/]+)(?=@)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


#: A "key" with a file extension is a file name (``token.yaml: file not found``), not a credential's key.
_FILE_NAME = re.compile(r"\.(?:ya?ml|json|tgz|tar\.gz|gz|txt|conf|cfg|toml|ini|sh|md|pem|crt|key|log)$", re.IGNORECASE)


def _mask_value(m: re.Match[str]) -> str:
    key = m.group("k").rstrip(" :=\t").strip("\"'")
    if _FILE_NAME.search(key):
        return m.group(0)
    v = m.group("v")
    if v in (MASK, f'"{MASK}"', f"'{MASK}'"):
        return m.group(0)
    if v[:1] in "\"'":
        return f"{m.group('k')}{v[0]}{MASK}{v[0]}"
    return f"{m.group('k')}{MASK}"


def redact(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``<redacted>``."""
    if not text:
        return text
    out = _PEM.sub(MASK, text)
    out = _DUPLICATE.sub(r"\1", out)
    out = _URL_USERINFO.sub(lambda m: m.group("k") + MASK, out)
    out = _BEARER.sub(lambda m: m.group("k") + MASK, out)
    out = _KEY_QUOTED.sub(_mask_value, out)
    out = _KEY_PLAIN.sub(_mask_value, out)
    return _JWT.sub(MASK, out)


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and re.fullmatch(SENSITIVE_KEY, key, re.IGNORECASE) is not None


def redact_tree(value: Any) -> Any:
    """A copy of a JSON-like tree with the values of sensitive keys masked and every string passed through
    :func:`redact` (for JSON reports)."""
    if isinstance(value, dict):
        return {k: (MASK if is_sensitive_key(k) and v not in (None, "") else redact_tree(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
