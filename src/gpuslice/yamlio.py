"""YAML reading that remembers where every value came from, so errors can name file, line and column."""

from __future__ import annotations

import copy
import io
import os
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuslice.errors import Problem, SpecError
from gpuslice.redact import redact

PathT = Sequence[str | int]


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


_C_LOADER: Any = False  # not looked up yet; None: ruamel.yaml.clib is not installed


def _c_loader() -> Any:
    """ruamel's round-trip loader on ruamel.yaml.clib's C scanner/parser/composer (libyaml), or None without it.

    The round-trip constructor and the YAML 1.2 resolver are ruamel's own, so values, key order, the positions
    behind ``Located.position`` and duplicate-key errors are what the pure-Python loader gives; only scanning and
    parsing (~85 % of the time: 0.35 s -> 0.06 s for a 300-pool spec) run in C. ruamel itself pairs this C parser
    with its safe constructor (``YAML(typ="safe", pure=False)``); the round-trip pairing is proven equal to the
    pure loader on every YAML file of the test fixtures (tests/test_yamlio_fast.py).
    """
    global _C_LOADER
    if _C_LOADER is False:
        try:
            from _ruamel_yaml import CParser  # ruamel.yaml.clib
            from ruamel.yaml.constructor import RoundTripConstructor
            from ruamel.yaml.resolver import VersionedResolver
        except ImportError:
            _C_LOADER = None
            return None

        class _CLoader(CParser, RoundTripConstructor, VersionedResolver):
            comment_handling = None  # comments are not kept (nothing reads them)

            def __init__(self, stream: str) -> None:
                CParser.__init__(self, stream)
                self._parser = self._composer = self
                RoundTripConstructor.__init__(self, loader=self)
                self.allow_duplicate_keys = False
                VersionedResolver.__init__(self, None, loader=self)

        _C_LOADER = _CLoader
    return _C_LOADER


#: Texts the C path does not take: a ``%YAML`` directive switches the resolver's version (1.1 reads ``yes`` as true)
#: and only the pure-Python parser tells ruamel's resolver about it; an explicit tag (``!!str 1``, ``!custom x``)
#: comes out of the round-trip constructor differently from the two parsers (a TaggedScalar with another style). The
#: pattern errs on the side of the pure path (``a != b`` in a script takes it too: slower, never different). libyaml
#: also accepts a few things ruamel refuses (found by fuzzing against the pure loader: a tab where a token starts, a
#: comment glued to a block scalar header ``|#``), and it breaks lines at NEL, LS and PS (YAML 1.1; 1.2 does not) and
#: counts columns differently after a byte-order mark inside the text: such texts take the pure path too.
_PURE_ONLY = re.compile(
    r"^%YAML|(?:^|[\s\[{,])!|\t|[|>][-+0-9]*#|[\x85\u2028\u2029]|(?<=.)\ufeff", re.MULTILINE | re.DOTALL
)


def _load_fast(text: str, multi: bool) -> list[Any] | None:
    """The documents, parsed in C; None when the C parser is missing, the text needs the pure-Python path, or the
    C parser refuses it (the pure-Python parser then gives the authoritative answer and error message: ruamel's
    wording and its reused-anchor warning, which libyaml's composer raises as an error instead)."""
    loader_cls = _c_loader()
    if loader_cls is None or _PURE_ONLY.search(text):
        return None
    try:
        loader = loader_cls(text)
        if not multi:
            return [loader.get_single_data()]
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    except Exception:  # any refusal or oddity: the pure-Python parser decides and words it
        return None


@dataclass
class Located:
    """A parsed YAML document plus a way to find the source position of any path in it."""

    data: Any
    file: str
    _root: Any

    def position(self, path: PathT) -> tuple[int | None, int | None]:
        """1-based (line, column) of the deepest node on ``path`` that exists in the document."""
        node = self._root
        line: int | None = None
        col: int | None = None
        if hasattr(node, "lc"):
            line, col = node.lc.line + 1, node.lc.col + 1
        for step in path:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(step, int) and isinstance(node, list):
                    if lc is not None:
                        ln, cl = lc.item(step)
                        line, col = ln + 1, cl + 1
                    node = node[step]
                elif isinstance(node, dict) and step in node:
                    if lc is not None:
                        ln, cl = lc.key(step)
                        line, col = ln + 1, cl + 1
                    node = node[step]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return line, col

    def problem(self, path: PathT, message: str) -> Problem:
        line, col = self.position(path)
        return Problem(message=message, file=self.file, line=line, column=col, path=format_path(path))


def problem_in_file(file: str | None, path: PathT, message: str) -> Problem:
    """A Problem at ``path`` of the YAML ``file``, with the line and column when the file still reads (so an error
    about a file the spec names, such as operator.chart, points at the line that names it)."""
    if file and file != STDIN and Path(file).is_file():
        try:
            return load_yaml_file(file)[0].problem(path, message)
        except SpecError:
            pass
    return Problem(message, file=file, path=format_path(path))


def format_path(path: PathT) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out


#: YAML aliases may repeat a node; past this many values beyond what the file spells out, parsing stops.
#: (A "billion laughs" document of ~1 KB expands to 10^9 values and would eat all memory.)
MAX_ALIAS_EXPANSION = 100_000


def _expanded_size(root: Any) -> tuple[int, int]:
    """(values after expanding aliases, distinct values in the file), counted without expanding anything."""
    memo: dict[int, int] = {}
    distinct = 0

    def size(node: Any) -> int:
        nonlocal distinct
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a cycle (a node that aliases its own ancestor) counts once
        children = node.values() if isinstance(node, dict) else node
        n = 1
        for child in children:
            if not isinstance(child, dict | list):
                distinct += 1
            n += size(child)
        distinct += 1
        memo[key] = n
        return n

    total = size(root)
    return total, distinct


def to_plain(node: Any) -> Any:
    """ruamel's round-trip values -> plain Python: dict/list (keys kept in order), str, int, float, bool.

    The round-trip constructor wraps some scalars to remember how they were written (an anchored ``true`` becomes
    a ScalarBoolean, which is an int and not a bool; block scalars, anchored strings, hex and octal ints, floats);
    nothing downstream needs the spelling, and plain values are the same whichever parser read the file.
    """
    if isinstance(node, dict):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    kind = type(node)
    if kind is str or kind is int or kind is bool or kind is float or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        from ruamel.yaml.scalarbool import ScalarBoolean

        return bool(node) if isinstance(node, ScalarBoolean) else int(node)
    if isinstance(node, float):
        return float(node)
    if str(getattr(node, "tag", "")) == _STR_TAG and isinstance(getattr(node, "value", None), str):
        return node.value  # `!!str 123`: the round-trip loader keeps it as a TaggedScalar; YAML says it is a string
    return node  # e.g. a TaggedScalar (an unknown !tag), dates, bytes


_STR_TAG = "tag:yaml.org,2002:str"


#: Deeper than this (block indentation levels + flow brackets) is refused before parsing: no spec, kubeconfig or
#: device-plugin config comes near it, and ruamel's recursive parser takes seconds to fail on thousands of levels.
MAX_DEPTH = 100

_FLOW_TOKENS = re.compile(r"""[\[\]{}"'\n]|(?<=\s)#|^#""", re.MULTILINE)
_QUOTE_END = {'"': re.compile(r'(?:[^"\\]|\\.)*"'), "'": re.compile(r"(?:[^']|'')*'")}


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> tuple[int, int]:
    """(depth, line) of the deepest nesting found, counting block indentation levels, ``- `` items and flow
    brackets, in one linear scan; stops early once ``limit`` is passed. An estimate made for refusing hostile
    input quickly, never larger than the real depth by more than a few levels."""
    best, best_line = 0, 1
    indents: list[int] = []
    flow = 0
    line_no = 1
    for raw in text.splitlines():
        stripped = raw.lstrip(" ")
        if stripped and not stripped.startswith("#") and flow == 0:
            indent = len(raw) - len(stripped)
            while indents and indents[-1] >= indent:
                indents.pop()
            indents.append(indent)
            dashes = 0
            rest = stripped
            while rest.startswith("- ") or rest == "-":
                dashes += 1
                rest = rest[2:].lstrip(" ")
            block = len(indents) + dashes
            if block > best:
                best, best_line = block, line_no
        pos = 0
        while True:
            m = _FLOW_TOKENS.search(raw, pos)
            if m is None:
                break
            tok = m.group(0)
            pos = m.end()
            if tok == "#":
                break
            if tok in "[{":
                flow += 1
                depth = len(indents) + flow
                if depth > best:
                    best, best_line = depth, line_no
            elif tok in "]}":
                flow = max(0, flow - 1)
            elif tok in "\"'" and flow > 0:
                end = _QUOTE_END[tok].match(raw, pos)
                pos = end.end() if end else len(raw)
        if best > limit:
            break
        line_no += 1
    return best, best_line


def type_name(v: Any) -> str:
    """A parsed YAML/JSON value's type in the user's words ("a mapping", "a list", "null", ...)."""
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
    return f"a {type(v).__name__}"


def parse_yaml_text(text: str, file: str = "<input>", *, multi: bool = False) -> list[Located]:
    """Parse YAML text. Returns one Located per document (only the first if ``multi`` is false)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    depth, depth_line = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise SpecError(
            [
                Problem(
                    f"invalid YAML: nested more than {MAX_DEPTH} levels deep; refusing to parse it",
                    file=file,
                    line=depth_line,
                )
            ]
        )
    try:
        docs = _load_fast(text, multi)
        if docs is None:
            y = _yaml()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                docs = list(y.load_all(io.StringIO(text))) if multi else [y.load(io.StringIO(text))]
            _report_warnings(caught, file)
        for d in docs:
            total, distinct = _expanded_size(d)
            if total - distinct > MAX_ALIAS_EXPANSION:
                raise SpecError(
                    [
                        Problem(
                            f"YAML aliases expand {distinct} values into {total}; refusing more than "
                            f"{MAX_ALIAS_EXPANSION} repeated values (an alias bomb?)",
                            file=file,
                        )
                    ]
                )
        return [Located(data=to_plain(d), file=file, _root=d) for d in docs]
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        msg = " ".join(str(x) for x in (e.context, e.problem) if x) or "invalid YAML"
        # ruamel quotes both values of a duplicate key ("... with value "X" (original value: "Y")"): for a
        # kubeconfig's `token:` that prints the credential. The key and the line are all the fix needs.
        msg = redact(_DUPLICATE_VALUES.sub("", msg))
        raise SpecError([Problem(f"invalid YAML: {msg}", file=file, line=line, column=col)]) from None
    except YAMLError as e:
        raise SpecError([Problem(f"invalid YAML: {redact(_DUPLICATE_VALUES.sub('', str(e)))}", file=file)]) from None
    except (ValueError, TypeError, RecursionError, IndexError, KeyError, AttributeError) as e:
        # Odd scalars and deep nesting can trip the parser itself (e.g. ruamel on a bare "-_" key).
        raise SpecError([Problem(f"invalid YAML: cannot parse ({type(e).__name__}: {e})", file=file)]) from None


_DUPLICATE_VALUES = re.compile(r" with value .*?(?: \(original value: .*?\))?(?=$|\n)", re.MULTILINE)
_ANCHOR = re.compile(r"found duplicate anchor '([^']*)'.*?line (\d+).*?line (\d+)", re.DOTALL)


def _report_warnings(caught: list[warnings.WarningMessage], file: str) -> None:
    """ruamel's warnings (a reused anchor) in the user's terms, naming the file and lines, on stderr."""
    for w in caught:
        text = str(w.message)
        m = _ANCHOR.search(text)
        if m:
            msg = (
                f"{file}:{m[3]}: warning: anchor &{m[1]} is defined again (first on line {m[2]}); "
                f"each *{m[1]} after this line refers to this definition"
            )
        else:
            msg = f"{file}: warning: {redact(' '.join(text.split()))}"
        sys.stderr.write(msg + "\n")


#: The file name ``-`` means standard input (as in kubectl -f - and helm -f -); it is read once, then reused.
STDIN = "-"
_stdin_text: str | None = None


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


def _read_stdin() -> str:
    global _stdin_text
    if _stdin_text is None:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        try:
            _stdin_text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError([Problem(f"not UTF-8 text ({e.reason} at byte {e.start})", file="<stdin>")]) from None
    return _stdin_text


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path`` (``-``: standard input); unreadable files become a SpecError naming the file."""
    if str(path) == STDIN:
        return _read_stdin()
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem("file not found", file=str(path))]) from None
    except IsADirectoryError:
        raise SpecError([Problem("is a directory, expected a YAML file", file=str(path))]) from None
    except UnicodeDecodeError as e:
        raise SpecError([Problem(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path))]) from None
    except OSError as e:
        raise SpecError([Problem(f"cannot read: {e.strerror}", file=str(path))]) from None


_PARSED: dict[tuple[str, bool], tuple[tuple[int, int, int], str, list[Located]]] = {}


def load_yaml_file(path: str | Path, *, multi: bool = False) -> list[Located]:
    """Parse a YAML file; a file read again unchanged (same size, mtime and text) is not parsed again (a plan reads
    its spec for validation and again for finding positions: with hundreds of pools that was a second of the run).
    Callers get their own copy of the data."""
    text = read_text(path)
    key = (str(path), multi)
    try:
        if str(path) == STDIN:
            raise OSError
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        stamp = (-1, -1, -1)
    hit = _PARSED.get(key)
    if hit is not None and hit[0] == stamp and hit[1] == text:
        return [Located(data=copy.deepcopy(loc.data), file=loc.file, _root=loc._root) for loc in hit[2]]
    docs = parse_yaml_text(text, display_name(path), multi=multi)
    _PARSED.clear()  # one file at a time is all a run re-reads
    _PARSED[key] = (stamp, text, docs)
    return [Located(data=copy.deepcopy(loc.data), file=loc.file, _root=loc._root) for loc in docs]


_DUMPER: Any = None


def _dumper() -> Any:
    """The block-style dumper, built once (a class per call cost more than small documents take to emit)."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        # libyaml's emitter (CSafeDumper) is ~10x faster on large block strings (embedded user-data, scripts).
        base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        str_tag, map_tag, seq_tag = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"

        class _Dumper(base):
            def represent_data(self, data: Any) -> Any:
                """Plain strings, dicts and lists become nodes directly, as SafeRepresenter makes them with the
                settings used here (block style, keys in insertion order, an object met again is an alias), without
                its generic dispatch per value: a 300-pool plan represents ~100,000 of them. Multi-line strings are
                literal blocks. Anything else takes the generic way."""
                kind = type(data)
                if kind is str:
                    return yaml.ScalarNode(str_tag, data, style="|" if "\n" in data else None)
                if (kind is dict or kind is list) and self.default_flow_style is False and not self.sort_keys:
                    node = self.represented_objects.get(id(data))
                    if node is not None:
                        return node
                    self.object_keeper.append(data)
                    if kind is dict:
                        pairs: list[Any] = []
                        node = self.represented_objects[id(data)] = yaml.MappingNode(map_tag, pairs, flow_style=False)
                        for key, value in data.items():
                            pairs.append((self.represent_data(key), self.represent_data(value)))
                    else:
                        items: list[Any] = []
                        node = self.represented_objects[id(data)] = yaml.SequenceNode(seq_tag, items, flow_style=False)
                        for item in data:
                            items.append(self.represent_data(item))
                    return node
                return super().represent_data(data)

        _DUMPER = _Dumper
    return _DUMPER


def dump_yaml(data: Any) -> str:
    """Deterministic block-style YAML for generated files (PyYAML, keys in insertion order)."""
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def dump_yaml_all(docs: Sequence[Any]) -> str:
    """Several documents as one ``---``-separated stream, emitted in one pass."""
    import yaml

    return yaml.dump_all(
        docs, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True
    )


def load_packaged(package: str, name: str) -> Any:
    """A YAML data file shipped inside the ``package`` (``name`` may contain ``/``), parsed with libyaml.

    The one loader of gpuslice's own data (catalog, knowledge, finding registry, ...). A duplicate key is an error:
    PyYAML would keep the last one silently, and a data file that says a thing twice says it wrong once.
    Raises :class:`~gpuslice.errors.CatalogError` naming the file; callers cache what they derive from it.
    """
    from importlib import resources

    import yaml

    from gpuslice.errors import CatalogError

    where = f"{package.replace('.', '/')}/{name}"
    try:
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        return yaml.load(text, Loader=_unique_key_loader())
    except (OSError, yaml.YAMLError, ValueError) as e:
        raise CatalogError(f"gpuslice data file {where} is broken: {e}") from e


_LOADER: Any = None


def _unique_key_loader() -> Any:
    global _LOADER
    if _LOADER is None:
        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class _Loader(base):
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    if key in seen:
                        raise ValueError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice")
                    seen.add(key)
                return super().construct_mapping(node, deep=deep)

        _LOADER = _Loader
    return _LOADER
