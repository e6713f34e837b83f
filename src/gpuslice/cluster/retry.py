"""The retry policy: exponential backoff with jitter, bounded in attempts and in total time, for transient failures.

What counts as transient is data (``cluster/data/transient.yaml``): HTTP 429/5xx from the API server, timeouts,
connection resets, and helm's "another operation is in progress". Everything else fails at once.

Writes are the delicate part. A request that timed out or lost its connection may still have been applied, so
before retrying a write the caller may pass ``settled``: a read-only check that says whether the write already
took effect (the object exists, the release already has the wanted values). When it has, the retry is skipped,
so a reset never turns one create into two.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gpuslice.errors import ClusterError, GpusliceError, HelmError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt ``n`` (1-based) waits ``min(max_delay, base_delay * multiplier**(n-1))``, of which the last
    ``jitter`` fraction is random (so many clients do not retry in lockstep), or the server's ``Retry-After`` when
    that is longer. No attempt starts after ``total_timeout`` seconds."""

    max_attempts: int = 6
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    total_timeout: float = 300.0
    jitter: float = 0.5

    def backoff(self, attempt: int, rng: random.Random) -> float:
        d = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        return d * (1 - self.jitter) + rng.uniform(0, d * self.jitter)


#: For tests and for the fake server: no real waiting.
FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, total_timeout=10.0)


@dataclass(frozen=True)
class Transient:
    """Why a failure is worth another attempt."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryEvent:
    """Reported before each retry (for progress output and for the apply result)."""

    operation: str
    attempt: int  # the attempt that failed
    reason: str
    delay: float
    elapsed: float
    error: str

    def describe(self) -> str:
        return (
            f"{self.operation}: attempt {self.attempt} failed ({self.reason}); retrying in {self.delay:.1f}s "
            f"[{self.elapsed:.1f}s elapsed]"
        )


class RetriesExhausted(GpusliceError):
    """A transient failure that did not clear within the policy's attempts or time."""

    def __init__(self, operation: str, attempts: int, elapsed: float, last: BaseException, reason: str) -> None:
        self.operation = operation
        self.attempts = attempts
        self.elapsed = elapsed
        self.last = last
        self.reason = reason
        super().__init__(
            f"{operation} failed after {attempts} attempt(s) in {elapsed:.1f}s; the last failure was "
            f"transient ({reason}) but did not clear:\n{last}"
        )


@dataclass
class Retrier:
    """Runs callables under a :class:`RetryPolicy`; collects every :class:`RetryEvent` it reports."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: Callable[[RetryEvent], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    events: list[RetryEvent] = field(default_factory=list)

    def call(
        self,
        fn: Callable[[], T],
        operation: str,
        classify: Callable[[BaseException], Transient | None],
        settled: Callable[[], tuple[bool, T | None]] | None = None,
    ) -> T:
        """``fn()`` until it succeeds, fails permanently, or the budget is spent.

        ``settled()`` runs before each retry and returns ``(True, value)`` when the effect ``fn`` was after is
        already there (then ``value`` is returned without calling ``fn`` again).
        """
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as e:
                t = classify(e)
                if t is None:
                    raise
                elapsed = self.clock() - start
                delay = self.policy.backoff(attempt, self.rng)
                if t.retry_after is not None:
                    delay = max(delay, t.retry_after)
                if attempt >= self.policy.max_attempts or elapsed + delay > self.policy.total_timeout:
                    raise RetriesExhausted(operation, attempt, elapsed, e, t.reason) from e
                ev = RetryEvent(operation, attempt, t.reason, delay, elapsed, _one_line(e))
                self.events.append(ev)
                if self.on_retry:
                    self.on_retry(ev)
                self.sleep(delay)
                if settled is not None:
                    done, value = settled()
                    if done:
                        return value  # type: ignore[return-value]


def _one_line(e: BaseException) -> str:
    from gpuslice.redact import redact

    text = redact(str(e)).strip().splitlines()  # it is printed and kept in apply's JSON: no credentials
    return (text[-1] if text else type(e).__name__)[:300]


# -- classification ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signature:
    id: str
    pattern: re.Pattern[str]
    reason: str


@functools.cache
def _data() -> dict[str, Any]:
    from gpuslice.yamlio import load_packaged

    data: dict[str, Any] = load_packaged("gpuslice.cluster", "data/transient.yaml")
    return data


@functools.cache
def helm_signatures() -> tuple[_Signature, ...]:
    return tuple(
        _Signature(s["id"], re.compile(s["pattern"], re.IGNORECASE | re.MULTILINE), s["reason"])
        for s in _data()["helm"]
    )


def retry_status() -> frozenset[int]:
    return frozenset(int(s) for s in _data()["http"]["retry_status"])


def classify_helm_text(stderr: str) -> Transient | None:
    """Is this helm error output a transient failure? (first matching signature wins)"""
    for sig in helm_signatures():
        if sig.pattern.search(stderr):
            return Transient(sig.reason)
    return None


def classify_helm(e: BaseException) -> Transient | None:
    reason = getattr(e, "transient_reason", None)
    if isinstance(reason, str):  # the caller knows (e.g. helm exited and left its revision pending; recovered)
        return Transient(reason)
    if isinstance(e, HelmError):
        if e.returncode is None and "timed out" in str(e):  # our own subprocess timeout
            return Transient("helm did not finish in time")
        return classify_helm_text(e.stderr or str(e))
    return None


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from the API server; fall back to our own backoff


def classify_http(e: BaseException) -> Transient | None:
    """Transient failures of the kubernetes client: retryable statuses and network errors."""
    status = getattr(e, "status", None)
    if isinstance(e, ClusterError) and e.__cause__ is not None:
        return classify_http(e.__cause__)
    if isinstance(status, int) and status in retry_status():
        return Transient(f"HTTP {status}", _retry_after(getattr(e, "headers", None)))
    if isinstance(status, int) and status > 0:
        return None
    # Network level: urllib3 and the standard library, looked up by name so this module needs neither.
    names = {c.__name__ for c in type(e).__mro__}
    # urllib3's NewConnectionError subclasses ConnectTimeoutError, so "could not connect" is asked first.
    if names & {"NewConnectionError", "ConnectionRefusedError", "MaxRetryError", "NameResolutionError"}:
        return Transient("connection failed")
    if names & {
        "ProtocolError",
        "ConnectionResetError",
        "RemoteDisconnected",
        "BrokenPipeError",
        "IncompleteRead",
        "ConnectionAbortedError",
    }:
        return Transient("connection reset")
    if names & {"ReadTimeoutError", "ConnectTimeoutError", "TimeoutError", "timeout"}:
        return Transient("timeout")
    return None
