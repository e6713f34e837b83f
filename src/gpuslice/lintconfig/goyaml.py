"""Read YAML the way the NVIDIA device plugin does, and remember where every value came from.

The plugin parses its config file with ``sigs.k8s.io/yaml`` (v1.6.0), which decodes YAML with a go-yaml **v2**
fork (YAML 1.1 scalars: ``yes``/``no``/``on``/``off``/``y``/``n`` are booleans, ``010`` is octal, ``1_000`` is
1000) and then feeds the result to ``encoding/json``. PyYAML/ruamel's YAML 1.2 rules would read some scalars
differently (``0:0`` is a string to go-yaml but a base-60 integer to a YAML 1.1 Python loader), so this module
composes the node graph with ruamel (for positions and syntax errors) and resolves plain scalars itself with a
port of go-yaml v2's ``resolve()`` (``go.yaml.in/yaml/v2/resolve.go``, as vendored by k8s-device-plugin v0.20.0).
Timestamps are kept as strings (a documented simplification).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gpuslice.errors import Problem, SpecError

Path = tuple[str | int, ...]

#: go-yaml v2 ``resolveMap``: exact plain-scalar spellings with a fixed meaning.
_RESOLVE_MAP: dict[str, Any] = {}
for _v, _words in (
    (True, ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")),
    (False, ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")),
    (None, ("", "~", "null", "Null", "NULL")),
    (math.nan, (".nan", ".NaN", ".NAN")),
    (math.inf, (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")),
    (-math.inf, ("-.inf", "-.Inf", "-.INF")),
):
    for _w in _words:
        _RESOLVE_MAP[_w] = _v

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1


class Unsupported(ValueError):
    """A YAML value that sigs.k8s.io/yaml cannot turn into JSON (e.g. a null map key)."""


def _go_parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64), then ParseUint(s, 0, 64): prefixes 0x, 0o, 0b and a bare leading 0 (octal)."""
    sign = -1 if s[:1] == "-" else 1
    body = s[1:] if s[:1] in "+-" else s
    if not body:
        return None
    base, digits = 10, body
    if len(body) > 1 and body[0] == "0":
        c = body[1].lower()
        if c == "x":
            base, digits = 16, body[2:]
        elif c == "b":
            base, digits = 2, body[2:]
        elif c == "o":
            base, digits = 8, body[2:]
        else:
            base, digits = 8, body[1:]
    allowed = "0123456789abcdef"[:base]
    if not digits or any(ch.lower() not in allowed for ch in digits):
        return None
    v = sign * int(digits, base)
    if _INT64[0] <= v <= _INT64[1]:
        return v
    if s[:1] not in "+-" and v <= _UINT64_MAX:  # ParseUint takes no sign
        return v
    return None


def resolve_plain(text: str) -> Any:
    """go-yaml v2 ``resolve("", text)`` for an untagged plain scalar -> bool/None/int/float/str."""
    if text in _RESOLVE_MAP:
        return _RESOLVE_MAP[text]
    if not text:
        return None
    hint = text[0]
    if hint == ".":
        if _go_float_ok(text):
            fv = float(text)
            return text if math.isinf(fv) else fv
        return text
    if hint in "+-0123456789":
        plain = text.replace("_", "")
        iv = _go_parse_int(plain)
        if iv is not None:
            return iv
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            fv = float(plain)
            return text if math.isinf(fv) else fv
        if plain.startswith("-0b"):
            try:
                return -int(plain[3:], 2)
            except ValueError:
                return text
    return text


def _go_float_ok(text: str) -> bool:
    """strconv.ParseFloat accepts plain decimal floats; keep to the spellings YAML users write."""
    return bool(re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", text))


def go_format_float(v: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 32): how sigs.k8s.io/yaml turns a YAML float into a string field."""
    import struct

    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    f32 = struct.unpack("f", struct.pack("f", v))[0]
    # Shortest repr that round-trips as float32, Go 'g' style (exponent when exp < -4 || exp >= precision).
    for prec in range(1, 10):
        s = f"{f32:.{prec}g}"
        if struct.unpack("f", struct.pack("f", float(s)))[0] == f32:
            break
    if "e" in s:
        mant, exp = s.split("e")
        sign = exp[0]
        digits = exp[1:].lstrip("0").rjust(2, "0")
        s = f"{mant}e{sign}{digits}"
    return s


@dataclass
class Doc:
    """One YAML document as plain Python values, plus the source line of every key and list item."""

    data: Any
    file: str
    lines: dict[Path, int] = field(default_factory=dict)
    #: paths of keys that appeared twice in one mapping (the later one wins, as in go-yaml v2)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)
    #: mapping keys that were not strings (go-yaml turns 1 / true / 1.5 into "1" / "true" / "1.5")
    coerced_keys: list[tuple[Path, Any]] = field(default_factory=list)
    #: the node of the document root, for callers that need the raw scalar style of a value
    root: Any = None
    line_offset: int = 0

    def line(self, path: Path) -> int | None:
        """The line of the deepest existing prefix of ``path``."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


def _yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver
    from ruamel.yaml.tag import Tag

    class GoResolver(VersionedResolver):
        """Tag every implicit scalar with PLAIN_TAG (resolved later by :func:`resolve_plain`), except ``<<``."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is ScalarNode and implicit[0]:
                if value == "<<":
                    return Tag(suffix="tag:yaml.org,2002:merge")
                return Tag(suffix=PLAIN_TAG)
            return super().resolve(kind, value, implicit)

    y = YAML(typ="safe", pure=True)  # the round-trip scanner's comment handling costs 2x; marks suffice here
    y.Resolver = GoResolver
    return y


#: the tag our resolver gives untagged scalars; an explicit ``!!str`` keeps the standard string tag
PLAIN_TAG = "tag:gpuslice.dev,2026:plain"
MAX_VALUES = 200_000  # alias bombs stop here


def compose(text: str, file: str, *, line_offset: int = 0) -> list[Any]:
    """Compose every document's node graph; YAML syntax errors become SpecError naming file and line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from gpuslice.yamlio import MAX_DEPTH, nesting_depth

    depth, depth_line = nesting_depth(text)
    if depth > MAX_DEPTH:  # refused at once: ruamel takes seconds to hit its recursion limit on deep flow nesting
        raise SpecError(
            [
                Problem(
                    f"invalid YAML: nested more than {MAX_DEPTH} levels deep; refusing to parse it",
                    file=file,
                    line=depth_line + line_offset,
                )
            ]
        )
    y = _yaml()
    try:
        return list(y.compose_all(io.StringIO(text)))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 + line_offset if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        msg = " ".join(str(x) for x in (e.context, e.problem) if x) or "invalid YAML"
        raise SpecError([Problem(f"invalid YAML: {msg}", file=file, line=line, column=col)]) from None
    except YAMLError as e:
        raise SpecError([Problem(f"invalid YAML: {e}", file=file)]) from None
    except (ValueError, TypeError, RecursionError, AttributeError, KeyError) as e:
        raise SpecError([Problem(f"invalid YAML: {e}", file=file)]) from None


def _key_string(v: Any) -> str:
    """sigs.k8s.io/yaml convertToJSONableObject: non-string keys become strings."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = go_format_float(v)
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(s, s)
    raise Unsupported(f"unsupported map key {v!r}")


class _Builder:
    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Any, path: Path) -> Any:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        self.count += 1
        if self.count > MAX_VALUES:
            raise Unsupported(f"more than {MAX_VALUES} values (alias expansion?)")
        if id(node) in self.active:
            raise Unsupported("recursive alias")
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    self.doc.lines.setdefault((*path, i), item.start_mark.line + 1 + self.doc.line_offset)
                    out.append(self.build(item, (*path, i)))
                return out
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
        return None

    def scalar(self, node: Any) -> Any:
        tag = str(node.tag)
        text = node.value
        if tag == PLAIN_TAG:
            return resolve_plain(text) if node.style is None else text
        if tag.endswith((":int", ":float", ":bool", ":null")):
            return resolve_plain(text)
        return text

    def mapping(self, node: Any, path: Path) -> dict[str, Any]:
        from ruamel.yaml.nodes import ScalarNode, SequenceNode

        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode):
                raise Unsupported("a mapping or list used as a key")
            if str(knode.tag) == "tag:yaml.org,2002:merge":
                for src in vnode.value if isinstance(vnode, SequenceNode) else [vnode]:
                    val = self.build(src, path)
                    if isinstance(val, dict):
                        for k, v in val.items():
                            merged.setdefault(k, v)
                continue
            raw_key = self.scalar(knode)
            key = _key_string(raw_key)
            kpath = (*path, key)
            line = knode.start_mark.line + 1 + self.doc.line_offset
            if not isinstance(raw_key, str):
                self.doc.coerced_keys.append((kpath, raw_key))
            if key in out:
                self.doc.duplicates.append((kpath, line))
            self.doc.lines[kpath] = line
            out[key] = self.build(vnode, kpath)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def to_doc(node: Any, file: str, *, line_offset: int = 0) -> Doc:
    """Plain values for one composed document (None for an empty document)."""
    doc = Doc(data=None, file=file, root=node, line_offset=line_offset)
    if node is None:
        return doc
    doc.lines[()] = node.start_mark.line + 1 + line_offset
    try:
        doc.data = _Builder(doc).build(node, ())
    except (Unsupported, RecursionError) as e:
        raise SpecError([Problem(f"cannot be converted to JSON: {e}", file=file, line=doc.lines[()])]) from None
    return doc


def load_docs(text: str, file: str, *, line_offset: int = 0) -> list[Doc]:
    return [to_doc(n, file, line_offset=line_offset) for n in compose(text, file, line_offset=line_offset)]
