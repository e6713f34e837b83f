"""The C-parsed YAML path (ruamel.yaml.clib's libyaml parser feeding ruamel's own round-trip constructor) must give
exactly what ruamel's pure-Python loader gives: the same values of the same types, the same key order, the same
line and column for every value, and a refusal wherever the pure loader refuses (the pure loader then words the
error). Checked on every YAML file of the repository's fixtures and examples, and on edge cases of the YAML 1.2
core schema, anchors, tags, block scalars, Unicode columns, CRLF and tabs."""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

from gpuslice import yamlio
from gpuslice.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(yamlio._c_loader() is None, reason="ruamel.yaml.clib is not installed")


def _pure(text: str) -> list[Any] | Exception:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(yamlio._yaml().load_all(io.StringIO(text)))
    except Exception as e:  # any refusal counts
        return e


def _at(get: Any, key: Any) -> Any:
    try:
        return get(key)
    except (KeyError, IndexError):
        return None  # e.g. a key that came in through a merge key (<<) has no position of its own


def _positions(node: Any) -> Any:
    """The position of every container and every entry, as ``Located.position`` reads them."""
    if isinstance(node, dict):
        lc = node.lc
        return ((lc.line, lc.col), [(str(k), _at(lc.key, k), _positions(v)) for k, v in node.items()])
    if isinstance(node, list):
        lc = node.lc
        return ((lc.line, lc.col), [(_at(lc.item, i), _positions(v)) for i, v in enumerate(node)])
    return None


def _typed(value: Any) -> Any:
    """A plain value with the exact type of every key and scalar."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _shape(doc: Any) -> Any:
    return (_typed(yamlio.to_plain(doc)), _positions(doc))


def _same(text: str) -> None:
    fast = yamlio._load_fast(text, multi=True)
    pure = _pure(text)
    if isinstance(pure, Exception):
        assert fast is None, f"the C parser accepted what ruamel refuses ({type(pure).__name__}: {pure})"
        return
    if fast is None:
        return  # refused in C (or routed to the pure parser): the pure parser's answer is used, nothing differs
    assert [_shape(d) for d in fast] == [_shape(d) for d in pure]


def _yaml_files() -> list[Path]:
    files = [
        p
        for base in ("tests/fixtures", "examples", "docs")
        for p in sorted((ROOT / base).rglob("*"))
        if p.suffix in (".yaml", ".yml") and p.is_file() and p.stat().st_size < 2_000_000
    ]
    assert len(files) > 200  # the corpus is the repository's own fixtures; losing them would make this test empty
    return files


def test_every_fixture_parses_the_same_in_c_and_pure_python() -> None:
    accepted = 0
    for path in _yaml_files():
        text = path.read_text(encoding="utf-8")
        try:
            _same(text)
        except AssertionError as e:
            raise AssertionError(f"{path.relative_to(ROOT)}: {e}") from None
        accepted += yamlio._load_fast(text, multi=True) is not None
    assert accepted > 150  # most fixtures really went through the C parser


EDGE_CASES = [
    # YAML 1.2 core schema: only true/false are booleans; yes/no/on/off stay strings; 0o octal, 0x hex
    "a: yes\nb: No\nc: on\nd: TRUE\ne: False\nf: ~\ng: null\nh:\ni: NULL\n",
    "a: 012\nb: 0o12\nc: 0x1F\nd: 1_000\ne: -3\nf: +4\ng: 1.5e3\nh: .inf\ni: -.Inf\nj: .nan\nk: 1.\nl: 0b101\n",
    "a: 2024-01-02\nb: 2024-01-02T03:04:05Z\nc: 1:20\nd: 3.10\ne: '3.10'\nf: \"1\"\n",
    # block scalars, folding, indentation indicators, keep/strip
    "a: |\n  one\n  two\nb: >-\n  folded\n  text\n\nc: |2+\n    indented\n\nd: |-\n  x\n",
    # anchors, aliases, merge keys
    "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n",
    # anchored scalars and keys (the pure loader wraps them to remember the anchor; plain values are the same)
    "a: &x hello\nb: *x\nc: &y 3\nd: *y\ne: &z true\nf: *z\ng: &w 1.5\n&k key: 1\nother: *k\n",
    "{&k key: 1, b: &v [1, 2], c: *v}\n",
    # tags
    "a: !!str 123\nb: !!int '7'\nc: !custom value\nd: !!float 1\ne: !!binary aGVsbG8=\n",
    # flow collections, complex keys, empty values
    "a: {b: [1, {c: d}], e: []}\n? [x, y]\n: z\n? simple\nf: {}\n",
    # Unicode: columns count characters
    "naïve: 'ünïcode'\nkey: 日本語\nlist: [é, 'ß', \"\\u00e9\"]\nnext: 1\n",
    # CRLF line endings and a BOM
    "\ufeffa: 1\r\nb:\r\n  - x\r\n  - y\r\n",
    # several documents, an empty one, a comment-only one
    "a: 1\n---\n---\n# only a comment\n---\n- 1\n- 2\n...\n",
    # quoted keys, escapes, multi-line plain scalars
    "'quoted key': 1\n\"esc\\tkey\": 2\nplain: this is\n  one line\n",
    # sequences of mappings, indentless sequences
    "pools:\n- name: a\n  size: 1\n- name: b\n  taints:\n  - key: x\n    effect: NoSchedule\n",
    # errors: duplicate key, bad indentation, tab indentation, unclosed flow, unknown alias, reused anchor
    "a: 1\na: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n\tb: 1\n",
    "a: [1, 2\n",
    "a: *nothing\n",
    "a: &x 1\nb: &x 2\nc: *x\n",
    "key: value: other\n",
    "- a\nb: 1\n",
    "a: |#\n  x\n",
    # line breaks YAML 1.1 knows and 1.2 does not, a byte-order mark inside the text
    "a: one\x85two\nb: 1\n",
    "a: [x\u2028, y]\nb: 1\n",
    "- a\u2029b\n- c\n",
    "a: 1\nb\ufeff: 2\nc: 3\n",
    "a: 'unterminated\n",
    "%YAML 1.1\n---\na: yes\n",
    "%TAG ! tag:example.com,2000:\n---\na: !x 1\n",
    "",
    "# nothing\n",
    "just a string\n",
    "42\n",
    "-_: 1\n",
    "? |\n  block key\n: v\n",
    "a: b #comment\nc: 'd' # x\n",
    "[a, b]: 1\n",
]


@pytest.mark.parametrize("text", EDGE_CASES, ids=[repr(t[:24]) for t in EDGE_CASES])
def test_edge_cases_parse_the_same_in_c_and_pure_python(text: str) -> None:
    _same(text)


def test_spec_errors_keep_ruamel_wording_and_positions() -> None:
    """A refusal in C falls back to the pure parser: the message and the line are ruamel's."""
    with pytest.raises(SpecError) as err:
        yamlio.parse_yaml_text("a: 1\nb:\n  c: 2\n  c: 3\n", "spec.yaml")
    p = err.value.problems[0]
    assert "duplicate key" in p.message and p.line == 4 and p.file == "spec.yaml"
    with pytest.raises(SpecError) as err:
        yamlio.parse_yaml_text("a: [1, 2\nb: 3\n", "spec.yaml")
    assert err.value.problems[0].line is not None


def test_reused_anchor_still_warns_in_the_users_terms(capsys: pytest.CaptureFixture[str]) -> None:
    docs = yamlio.parse_yaml_text("a: &x 1\nb: &x 2\nc: *x\n", "spec.yaml")
    assert docs[0].data == {"a": 1, "b": 2, "c": 2}
    assert "spec.yaml:2: warning: anchor &x is defined again" in capsys.readouterr().err


def test_positions_come_from_the_c_parser() -> None:
    text = "apiVersion: v1\nnodePools:\n  - name: a\n    instanceType: g5.xlarge\n  - {name: b, gpus: 2}\n"
    assert yamlio._load_fast(text, multi=False) is not None
    loc = yamlio.parse_yaml_text(text, "spec.yaml")[0]
    assert loc.position(["nodePools", 0, "instanceType"]) == (4, 5)
    assert loc.position(["nodePools", 1, "gpus"]) == (5, 15)
    assert loc.position(["nodePools", 1, "missing"]) == (5, 5)


def test_values_are_plain_python_whichever_parser_read_them() -> None:
    """An anchored ``true`` is a bool (ruamel's round-trip ScalarBoolean is an int), block scalars are str."""
    text = "a: &t true\nb: *t\nc: |\n  x\nd: 0x1F\ne: 1.50\n"
    for doc in (yamlio._load_fast(text, multi=False), _pure(text)):
        assert isinstance(doc, list)
        plain = yamlio.to_plain(doc[0])
        assert plain == {"a": True, "b": True, "c": "x\n", "d": 31, "e": 1.5}
        assert [type(v) for v in plain.values()] == [bool, bool, str, int, float]


#: What the differential fuzzing that found the pure-only cases above mutated fixtures with.
_MUTATIONS = [
    *": -[]{}'\"#|>?,\t\n\\%@`&*!",
    "? ",
    ": ",
    "- ",
    "--- ",
    "...\n",
    "|-\n",
    ">+ ",
    "<<: *a\n",
    "&a ",
    "*a",
    "\r\n",
    "\u00e9",
    "\ufeff",
    "\x85",
    "\u2028",
    "  ",
]


def test_mutated_fixtures_parse_the_same_in_c_and_pure_python() -> None:
    """A seeded sample of damaged fixtures: whatever the C path accepts, the pure loader reads the same way."""
    rnd = random.Random(18)
    files = [p for p in _yaml_files() if p.stat().st_size < 20_000]
    for _ in range(300):
        path = rnd.choice(files)
        text = path.read_text(encoding="utf-8")
        for _ in range(rnd.randint(1, 8)):
            pos = rnd.randrange(len(text) + 1)
            if rnd.random() < 0.5:
                text = text[:pos] + rnd.choice(_MUTATIONS) + text[pos:]
            else:
                text = text[:pos] + text[pos + rnd.randint(1, 3) :]
        try:
            _same(text)
        except AssertionError as e:
            raise AssertionError(f"mutated {path.relative_to(ROOT)}: {e}\n--- text ---\n{text}") from None


def test_without_the_c_parser_the_pure_loader_reads_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """ruamel.yaml.clib is optional at run time (other Python implementations, a build without wheels): the spec is
    then read by the pure-Python loader with the same result."""
    path = ROOT / "examples" / "mixed-pools.yaml"
    text = path.read_text(encoding="utf-8")
    fast = yamlio.parse_yaml_text(text, "spec.yaml")[0]
    monkeypatch.setattr(yamlio, "_C_LOADER", None)
    assert yamlio._load_fast(text, multi=False) is None
    pure = yamlio.parse_yaml_text(text, "spec.yaml")[0]
    assert _typed(pure.data) == _typed(fast.data)
    assert pure.position(["nodePools", 1, "sharing"]) == fast.position(["nodePools", 1, "sharing"]) != (None, None)


def test_an_explicit_str_tag_is_a_string() -> None:
    """`kind: !!str GpuCluster` is the string GpuCluster (ruamel's round-trip loader keeps a TaggedScalar)."""
    loc = yamlio.parse_yaml_text("kind: !!str GpuCluster\nn: !!str 123\nm: !custom x\n", "spec.yaml")[0]
    assert loc.data["kind"] == "GpuCluster" and type(loc.data["kind"]) is str
    assert loc.data["n"] == "123" and type(loc.data["n"]) is str
    assert not isinstance(loc.data["m"], str)  # an unknown tag is not silently dropped


def test_a_spec_value_with_an_unknown_tag_is_named_in_the_users_terms(tmp_path: Path) -> None:
    from gpuslice.spec import load_spec

    text = (ROOT / "examples" / "eks-ubuntu.yaml").read_text(encoding="utf-8")
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(text.replace("kind: GpuCluster", "kind: !Custom GpuCluster", 1), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    p = err.value.problems[0]
    assert p.path == "kind" and p.line is not None
    assert "the YAML tag !Custom means nothing to gpuslice" in p.message and "TaggedScalar" not in p.message
