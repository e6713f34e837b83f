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
        for nxt in lines[i + 1 :]:
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

    bom = text.startswith("\ufeff")
    body = text[1:] if bom else text
    y, doc = _yaml(body)
    y.explicit_start, y.explicit_end = _explicit_markers(body)
    pools = doc.get("nodePools") if isinstance(doc, dict) else None
    if not isinstance(pools, list):
        raise SpecError([Problem("no nodePools list to write into", file=file)])
    by_name = {p.get("name"): p for p in pools if isinstance(p, dict)}
    _refuse_shared_sharing(by_name, recs, file)
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
    if not changes:
        return text, changes
    buf = io.StringIO()
    y.dump(doc, buf)
    new = buf.getvalue()
    written = parse_spec_text(new, file)  # never write a spec that no longer validates
    _check_written(parse_spec_text(body, file), written, recs, file)
    return ("\ufeff" if bom else "") + new, changes


def _explicit_markers(text: str) -> tuple[bool, bool]:
    """Whether the document starts with ``---`` and ends with ``...`` (ruamel drops both unless told)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "%"))]
    if not lines:
        return False, False
    return lines[0].startswith("---"), lines[-1].rstrip() == "..."


def _refuse_shared_sharing(by_name: dict[Any, Any], recs: list[Recommendation], file: str) -> None:
    """One ``sharing`` mapping used by several pools (a YAML anchor and aliases) can only take one setting."""
    holders: dict[int, list[str]] = {}
    for name, node in by_name.items():
        sharing = node.get("sharing")
        if isinstance(sharing, dict):
            holders.setdefault(id(sharing), []).append(str(name))
    want = {r.pool: (r.strategy, r.replicas if r.strategy != "none" else 1) for r in recs if r.pool is not None}
    for pools in holders.values():
        if len(pools) < 2:
            continue
        settings = {want.get(p) for p in pools if p in want}
        changed = any(r.changed for r in recs if r.pool in pools)
        if changed and (len(settings) > 1 or not all(p in want for p in pools)):
            detail = ", ".join(
                f"{p}: " + (f"{want[p][0]} x{want[p][1]}" if p in want else "not recommended") for p in pools
            )
            raise GpusliceError(
                f"{file}: pools {', '.join(pools)} share one sharing mapping through a YAML anchor/alias, but the "
                f"recommendations differ ({detail}); writing one would change the others. Give each pool its own "
                "sharing mapping (or set them by hand) and run recommend --write again."
            )


def _check_written(before: Any, after: Any, recs: list[Recommendation], file: str) -> None:
    """The written spec must hold exactly the recommended settings and leave every other pool as it was."""
    want = {r.pool: r for r in recs if r.pool is not None and r.changed}
    old = {p.name: p.sharing for p in before.node_pools}
    for p in after.node_pools:
        r = want.get(p.name)
        got = (p.sharing.strategy, p.sharing.replicas if p.sharing.strategy != "none" else 1)
        ok = got == (r.strategy, r.replicas) if r is not None else p.sharing == old.get(p.name)
        if not ok:
            raise GpusliceError(
                f"{file}: writing the recommendations would also change pool {p.name!r} "
                f"(now {got[0]} x{got[1]}); nothing was written. Set the sharing settings by hand."
            )


def _short(d: dict[str, Any]) -> str:
    if not d:
        return "(default: none)"

    def show(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return "{" + ", ".join(f"{k}: {show(v)}" for k, v in d.items()) + "}"


def write_recommendations(path: str | Path, recs: list[Recommendation]) -> list[str]:
    """Rewrite ``path`` atomically with the recommendations; returns what changed (empty: file untouched).

    Comments, layout, a byte-order mark, ``---``/``...`` markers and CRLF line ends are kept; only the ``sharing``
    mappings of changed pools differ.
    """
    from gpuslice.output import write_file_atomic
    from gpuslice.yamlio import read_text

    text = read_text(path)
    new, changes = apply_recommendations(text, recs, str(path))
    if changes and new != text:
        target = Path(path).resolve()  # a symlinked spec keeps its link: write the file it points to
        crlf = b"\r\n" in target.read_bytes()
        write_file_atomic(target, new.replace("\n", "\r\n") if crlf else new)
    return changes
