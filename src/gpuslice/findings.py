"""The one result type of check, doctor, verify and lint-config."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One observation with a fix. `id` is a stable rule id (e.g. ``os-al2-glibc``)."""

    id: str
    severity: Severity
    message: str
    fix: str = ""
    pool: str | None = None
    reference: str | None = None  # a URL or upstream source note
    evidence: tuple[str, ...] = field(default_factory=tuple)  # object names, log excerpts
    path: str | None = None  # spec field or config key path, when it points at one
    file: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        # Messages and evidence quote inputs (log lines, config values): never a credential.
        from gpuslice.redact import redact

        object.__setattr__(self, "message", redact(self.message))
        object.__setattr__(self, "evidence", tuple(redact(str(e)) for e in self.evidence))

    def at(self, file: str | None, line: int | None) -> Finding:
        """This finding pointing at ``file``:``line``. Its texts were redacted when it was made; a copy made with
        ``dataclasses.replace`` would redact them again (a tenth of a 300-pool check)."""
        located = copy.copy(self)
        object.__setattr__(located, "file", file)
        object.__setattr__(located, "line", line)
        return located

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["evidence"] = list(self.evidence)
        return d


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.pool or "", f.severity.rank, f.id, f.message))


# -- the finding registry -------------------------------------------------------------------------------------------
#: Who reports a finding id. ``check``: preflight rules (gpuslice/checks); ``render``: plan/render (bootstrap,
#: operator release proof); ``apply``/``verify``: the cluster verbs; ``doctor``: cluster/doctor rules; ``lint``:
#: lint-config; ``bench``: recommend.
OWNERS = ("check", "render", "apply", "verify", "doctor", "lint", "bench")

#: lint-config's rule kinds (docs/lint-config.md): what upstream rejects, what it accepts but silently drops
#: (reported under --strict, the default), and advice.
LINT_KINDS = ("upstream", "strict", "advice")

REGISTRY_FILE = "data/findings.yaml"


@dataclass(frozen=True)
class FindingInfo:
    """What the registry says about one finding id (``src/gpuslice/data/findings.yaml``)."""

    id: str
    owner: str
    severity: Severity  # reported at; the most severe one when it depends on the case (lint: the default)
    explanation: str
    reference: str | None = None
    kind: str | None = None  # lint-config's device-plugin config rules only: upstream | strict | advice


def registry() -> dict[str, FindingInfo]:
    """Every finding id gpuslice can report -> what it means. The one place ids are declared: ``gpuslice explain``,
    ``checks.disabled``, docs/findings.md and the fixture-coverage tests read it."""
    return _registry()


@functools.cache
def _registry() -> dict[str, FindingInfo]:
    from gpuslice.yamlio import load_packaged

    return parse_registry(load_packaged("gpuslice", REGISTRY_FILE))


def parse_registry(raw: object) -> dict[str, FindingInfo]:
    """Check and index the registry's data (``{owner: {id: {severity, explain, reference?, kind?}}}``)."""
    from gpuslice.errors import CatalogError

    out: dict[str, FindingInfo] = {}

    def bad(msg: str) -> CatalogError:
        return CatalogError(f"gpuslice finding registry (src/gpuslice/{REGISTRY_FILE}): {msg}")

    if not isinstance(raw, dict) or set(raw) - set(OWNERS):
        raise bad(f"top-level keys must be owners ({', '.join(OWNERS)})")
    for owner, entries in raw.items():
        if not isinstance(entries, dict):
            raise bad(f"{owner}: expected a mapping of finding ids")
        for fid, e in entries.items():
            if fid in out:
                raise bad(f"{fid} is declared under {out[fid].owner} and {owner}")
            if not isinstance(e, dict) or set(e) - {"severity", "explain", "reference", "kind"}:
                raise bad(f"{fid}: expected {{severity, explain, reference?, kind?}}")
            try:
                sev = Severity(str(e.get("severity")))
            except ValueError:
                raise bad(f"{fid}: severity must be error, warning or info") from None
            text = e.get("explain")
            if not isinstance(text, str) or not text.strip():
                raise bad(f"{fid}: explain is empty")
            kind = e.get("kind")
            if kind is not None and (owner != "lint" or kind not in LINT_KINDS):
                raise bad(f"{fid}: kind is one of {', '.join(LINT_KINDS)}, for lint ids only")
            out[fid] = FindingInfo(fid, owner, sev, text.strip(), e.get("reference"), kind)
    return out


def finding_ids(owner: str | None = None) -> list[str]:
    """Registered ids (of one owner), in registry order."""
    return [i.id for i in registry().values() if owner is None or i.owner == owner]


def findings_markdown() -> str:
    """docs/findings.md: every finding id, by owner. Generated; ``python scripts/gen_docs.py`` rewrites it."""
    titles = {
        "check": "Preflight checks (`gpuslice check`, also run by plan/render/apply)",
        "render": "Plan and render (`gpuslice plan`, `gpuslice render`)",
        "apply": "Apply (`gpuslice apply`)",
        "verify": "Verify and smoke test (`gpuslice verify`)",
        "doctor": "Doctor (`gpuslice doctor`)",
        "lint": "Device-plugin config lint (`gpuslice lint-config`)",
        "bench": "Bench and recommend (`gpuslice recommend`)",
    }
    lines = [
        "# Finding ids",
        "",
        "<!-- Generated from src/gpuslice/data/findings.yaml by `python scripts/gen_docs.py`; do not edit. -->",
        "",
        "Every finding gpuslice reports carries one of these ids. `gpuslice explain ID` prints the explanation;",
        "`checks: {disabled: [ID, ...]}` in the spec turns an id off in the preflight checks (check, and the check",
        "step of plan, render and apply) and in doctor; any id below is accepted there.",
        "Severity is the one the id is reported at: the most severe one where it depends on the case, except for",
        "lint-config, where it is the rule's default (some rules report louder in a given context).",
        "",
    ]
    for owner in OWNERS:
        infos = [i for i in registry().values() if i.owner == owner]
        if not infos:
            continue
        lines += [f"## {titles[owner]}", "", "| id | severity | what it means |", "|---|---|---|"]
        for i in sorted(infos, key=lambda x: x.id):
            text = i.explanation.replace("|", "\\|").replace("\n", " ")
            if i.kind:
                text = f"*{i.kind}*: {text}"
            if i.reference:
                ref = i.reference
                text += f" ([reference]({ref}))" if ref.startswith(("https://", "http://")) else f" (source: {ref})"
            lines.append(f"| `{i.id}` | {i.severity.value} | {text} |")
        lines.append("")
    return "\n".join(lines)
