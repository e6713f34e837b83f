"""One small exception tree. Every error a user can cause ends up as one of these, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field


class GpusliceError(Exception):
    """Base of every error gpuslice raises on purpose. The CLI prints it and exits 2."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where it is and what to do."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    path: str | None = None  # dotted field path, e.g. nodePools[0].sharing.replicas

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location()
        field_ = f" {self.path}:" if self.path else ""
        return f"{where}:{field_} {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


@dataclass
class SpecError(GpusliceError):
    """The spec (or another input file) is unreadable or invalid. Carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class CatalogError(GpusliceError):
    """A catalog data file is broken (a bug in gpuslice's data, not in the user's input)."""


class ClusterError(GpusliceError):
    """Talking to the cluster failed. `status` is the API status code when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HelmError(GpusliceError):
    """The helm binary is missing or failed; carries argv, exit code and the tail of stderr."""

    def __init__(
        self, message: str, argv: list[str] | None = None, returncode: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.argv = argv or []
        self.returncode = returncode
        self.stderr = stderr

    def __str__(self) -> str:
        base = super().__str__()
        tail = "\n".join(self.stderr.strip().splitlines()[-15:])
        return f"{base}\n{tail}" if tail else base
