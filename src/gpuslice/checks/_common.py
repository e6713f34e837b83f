"""Small helpers the rule modules share: the injectable "today", spec paths, version comparison."""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import date

from gpuslice.catalog import version_tuple
from gpuslice.errors import GpusliceError
from gpuslice.resolve import ResolvedPool

TODAY_ENV = "GPUSLICE_TODAY"
_today: ContextVar[date | None] = ContextVar("gpuslice_checks_today", default=None)


def today() -> date:
    """The date date-based rules compare with: ``run_checks(today=...)``, else $GPUSLICE_TODAY, else the clock."""
    return _today.get() or date.today()


def set_today(value: date | None) -> object:
    return _today.set(value)


def reset_today(token: object) -> None:
    _today.reset(token)  # type: ignore[arg-type]


def today_from_env() -> date | None:
    raw = os.environ.get(TODAY_ENV)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise GpusliceError(f"${TODAY_ENV} must be an ISO date like 2026-01-31, not {raw!r}") from None


def pool_path(pool: ResolvedPool, *rest: str) -> str:
    return ".".join([f"nodePools[{pool.index}]", *rest])


def older(a: str, b: str) -> bool:
    """Version a < version b (dotted numbers)."""
    return version_tuple(a) < version_tuple(b)


def gib(x: float) -> str:
    return f"{x:g} GiB"
