"""Write recommended sharing settings back into a spec file, keeping its comments and layout.

ruamel.yaml round-trip: only the ``sharing`` mapping of each changed pool is touched; the new text is parsed
and validated as a spec before it replaces the file (atomically).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from gpuslice.bench.recommend import Recommendation
from gpuslice.errors import GpusliceError, Problem, SpecError


def _mapping_indent(text: str) -> int:
    """Indentation of the first nested mapping key (the spec's own style), 2 when there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if not line or line[0] in " #-" or not line.rstrip().endswith(":"):
            continue
        for nxt in lines[i + 1:]:
            stripped = nxt.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("- ") or len(nxt) == len(stripped):
                break
            return len(nxt) - len(stripped)
    return 2


def _yaml(text: str) -> tuple[Any, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    # ruamel guesses the sequence layout (indent of an item's content, offset of its dash).
    _, seq_indent, dash_offset = load_yaml_guess_indent(text)
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    mapping = _mapping_indent(text)
    y.indent(mapping=mapping, sequence=seq_indent or mapping, offset=dash_offset or 0)
    return y, y.load(io.StringIO(text))


def apply_recommendations(text: str, recs: list[Recommendation], file: str = "<spec>") -> tuple[str, list[str]]:
    """New spec text with each changed pool's sharing settings; returns (text, change descriptions)."""
    from ruamel.yaml.comments import CommentedMap

    from gpuslice.spec import parse_spec_text

    y, doc = _yaml(text)
    pools = doc.get("nodePools") if isinstance(doc, dict) else None
    if not isinstance(pools, list):
        raise SpecError([Problem("no nodePools list to write into", file=file)])
    by_name = {p.get("name"): p for p in pools if isinstance(p, dict)}
    changes: list[str] = []
    for r in recs:
        if r.pool is None or not r.changed:
            continue
        node = by_name.get(r.pool)
        if node is None:
            raise GpusliceError(f"{file}: pool {r.pool!r} not found while writing")
        sharing = node.get("sharing")
        if not isinstance(sharing, dict):
            sharing = CommentedMap()
            node["sharing"] = sharing
        before = dict(sharing)
        sharing["strategy"] = r.strategy
        if r.strategy == "none":
            sharing.pop("replicas", None)
        else:
            sharing["replicas"] = r.replicas
            if r.strategy == "mps" and sharing.get("failRequestsGreaterThanOne") is False:
                sharing["failRequestsGreaterThanOne"] = True  # the device plugin forces it on for MPS
        changes.append(f"{r.pool}: sharing {_short(before)} -> {_short(dict(sharing))}")
    buf = io.StringIO()
    y.dump(doc, buf)
    new = buf.getvalue()
    parse_spec_text(new, file)  # never write a spec that no longer validates
    return new, changes


def _short(d: dict[str, Any]) -> str:
    if not d:
        return "(default: none)"
    def show(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return "{" + ", ".join(f"{k}: {show(v)}" for k, v in d.items()) + "}"


def write_recommendations(path: str | Path, recs: list[Recommendation]) -> list[str]:
    """Rewrite ``path`` atomically with the recommendations; returns what changed (empty: file untouched)."""
    from gpuslice.output import write_file_atomic
    from gpuslice.yamlio import read_text

    text = read_text(path)
    new, changes = apply_recommendations(text, recs, str(path))
    if changes and new != text:
        write_file_atomic(path, new)
    return changes
