"""The one result type of check, doctor, verify and lint-config."""

from __future__ import annotations

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

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["evidence"] = list(self.evidence)
        return d


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.pool or "", f.severity.rank, f.id, f.message))
