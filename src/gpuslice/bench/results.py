"""The results file: its JSON Schema, loading (a results.json or a pod log holding one), validation, writing.

The schema is the contract between ``gpuslice bench`` and ``gpuslice recommend`` (and anyone else reading
results); docs/bench.md explains each field. ``gpuslice bench --print-schema`` prints it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gpuslice.errors import Problem, SpecError

LOG_BEGIN = "----- BEGIN gpuslice-bench results.json -----"
LOG_END = "----- END gpuslice-bench results.json -----"
RESULTS_SCHEMA_VERSION = 1

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}

_LATENCY = {
    "type": "object",
    "required": ["p50", "p90", "p99", "p999", "mean", "max", "count"],
    "properties": {k: {"type": "number", "minimum": 0} for k in ("p50", "p90", "p99", "p999", "mean", "max", "count")},
    "additionalProperties": False,
}

_PROCESS = {
    "type": "object",
    "required": ["index", "role", "workload", "unit", "work", "chunks", "elapsedS", "throughput", "startSkewMs"],
    "properties": {
        "index": {"type": "integer", "minimum": 0},
        "role": {"enum": ["compute", "latency", "memory"]},
        "workload": {"enum": ["compute", "latency", "memory"]},
        "unit": {"type": "string"},
        "work": {"type": "number", "minimum": 0},
        "chunks": {"type": "integer", "minimum": 0},
        "elapsedS": {"type": "number", "minimum": 0},
        "throughput": {"type": "number", "minimum": 0},
        "startSkewMs": _NUM,
        "startedAt": _NUM,
        "endedAt": _NUM,
        "pid": {"type": "integer"},
        "latencyMs": _LATENCY,
    },
    "additionalProperties": False,
}

_METRICS = {
    "type": "object",
    "required": ["unit", "aggregate", "efficiency", "jain", "perProcess"],
    "properties": {
        "unit": {"type": ["string", "null"]},
        "aggregate": _NUM,
        "exclusive": _NUM,
        "aggregateOverExclusive": _NUM,
        "perProcess": {"type": "array", "items": _NUM},
        "normalised": {"type": ["array", "null"], "items": _NUM},
        "efficiency": _NUM_OR_NULL,
        "jain": _NUM_OR_NULL,
        "minShare": _NUM_OR_NULL,
        "startSkewMsMax": _NUM,
        "spread": {
            "type": "object",
            "description": "per metric over the case's repeats: median, min, max and the values",
            "additionalProperties": {
                "type": "object",
                "required": ["median", "min", "max", "values"],
                "properties": {"median": _NUM, "min": _NUM, "max": _NUM, "values": {"type": "array", "items": _NUM}},
            },
        },
        "latency": {
            "type": "object",
            "required": ["p50", "p99", "p999", "tenants"],
            "properties": {
                "p50": _NUM,
                "p99": _NUM,
                "p999": _NUM,
                "tenants": {"type": "integer", "minimum": 1},
                "inflationP50": _NUM_OR_NULL,
                "inflationP99": _NUM_OR_NULL,
                "latencyTenantShare": _NUM_OR_NULL,
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

_CASE = {
    "type": "object",
    "required": ["strategy", "workload", "n", "status", "processes"],
    "properties": {
        "strategy": {"enum": ["time-slicing", "mps", "mps-uncapped"]},
        "workload": {"enum": ["compute", "latency", "memory", "mixed"]},
        "n": {"type": "integer", "minimum": 1, "maximum": 48},
        "status": {"enum": ["ok", "failed", "skipped"]},
        "processes": {"type": "array", "items": _PROCESS},
        "metrics": _METRICS,
        "telemetry": {
            "type": ["object", "null"],
            "properties": {
                "samples": {"type": "integer"},
                "smClockMHzMean": _NUM,
                "smClockMHzMin": _NUM,
                "powerWMean": _NUM,
                "powerWMax": _NUM,
                "tempCMax": _NUM,
                "throttleReasons": {"type": "array", "items": {"type": "string"}},
            },
        },
        "mps": {
            "type": ["object", "null"],
            "required": ["replicas", "activeThreadPercentage", "pinnedMemLimitMiB", "deviceIndex"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "activeThreadPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
                "pinnedMemLimitMiB": {"type": "integer", "minimum": 0},
                "deviceIndex": {"type": "integer", "minimum": 0},
                "source": {"enum": ["gpuslice", "external"]},
                "pipeDir": {"type": "string"},
                "answers": {"type": "object"},
            },
        },
        "error": {"type": "string"},
        "baseline": {"type": "boolean"},
        "repeats": {"type": "array", "items": {"type": "array", "items": _PROCESS}},
    },
    "additionalProperties": False,
}

RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://gpuslice.dev/schema/bench-results-v1.json",
    "title": "gpuslice bench results",
    "type": "object",
    "required": ["kind", "schemaVersion", "tool", "createdAt", "gpu", "config", "strategies", "cases", "notes"],
    "properties": {
        "kind": {"const": "GpusliceBenchResults"},
        "schemaVersion": {"const": RESULTS_SCHEMA_VERSION},
        "tool": {"type": "object", "required": ["name", "version"]},
        "createdAt": {"type": "string"},
        "command": {"type": ["string", "null"]},
        "durationS": _NUM,
        "host": {"type": "object"},
        "gpu": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "available": {"type": "boolean"},
                "name": {"type": "string"},
                "memoryMiB": {"type": "integer", "minimum": 0},
                "driverVersion": {"type": "string"},
                "cudaDriverVersion": {"type": "string"},
                "computeMode": {"type": "string"},
                "migSupported": {"type": "boolean"},
                "migMode": {"type": "string"},
            },
        },
        "config": {
            "type": "object",
            "required": ["backend", "nValues", "workloads", "strategies", "windowS"],
            "properties": {
                "backend": {"enum": ["torch", "fake"]},
                "nValues": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                "workloads": {"type": "array", "items": {"enum": ["compute", "latency", "memory", "mixed"]}},
                "strategies": {"type": "array", "items": {"enum": ["time-slicing", "mps", "mps-uncapped"]}},
                "windowS": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "strategies": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"enum": ["ok", "partial", "failed", "skipped"]},
                    "note": {"type": ["string", "null"]},
                },
            },
        },
        "notes": {"type": "array", "items": {"type": "string"}},
        "cases": {"type": "array", "items": _CASE},
        "summary": {"type": "object"},
    },
}


def validate_results(data: Any, file: str = "<results>") -> None:
    """Raise SpecError listing every schema violation (with its JSON path) in ``data``."""
    import jsonschema

    if (
        isinstance(data, dict)
        and data.get("kind") == "GpusliceBenchResults"
        and isinstance(data.get("schemaVersion"), int)
        and data["schemaVersion"] != RESULTS_SCHEMA_VERSION
    ):
        wrote = (data.get("tool") or {}).get("version", "?") if isinstance(data.get("tool"), dict) else "?"
        raise SpecError(
            [
                Problem(
                    f"results schemaVersion {data['schemaVersion']} (written by gpuslice {wrote}); this gpuslice reads "
                    f"version {RESULTS_SCHEMA_VERSION}: use the gpuslice version that wrote them",
                    file=file,
                    path="schemaVersion",
                )
            ]
        )
    v = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    errors = sorted(v.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = []
        for e in errors[:20]:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path).lstrip(".")
            problems.append(Problem(f"not a gpuslice bench results file: {e.message}", file=file, path=path or None))
        raise SpecError(problems)


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    """A pattern for what a log collector put before each line (``kubectl logs --timestamps``/``--prefix``):
    the text before the BEGIN marker, with every run of digits free (timestamps differ from line to line)."""
    parts = [p for p in re.split(r"(\d+)", prefix) if p]
    return re.compile("^" + "".join(r"\d+" if p.isdigit() else re.escape(p) for p in parts))


def extract_from_log(text: str, file: str = "<results>") -> str | None:
    """The results JSON between the markers the bench Job prints, or None when there are none.

    The last complete block wins (a log may hold several runs). Per-line prefixes that log tools add
    (``kubectl logs --timestamps``, ``--prefix``) are removed. A BEGIN marker without its END (the run was cut
    off, or the log truncated) is a SpecError saying so.
    """
    if LOG_BEGIN not in text:
        return None
    blocks = text.split(LOG_BEGIN)[1:]
    heads = text.split(LOG_BEGIN)[:-1]
    for i in range(len(blocks) - 1, -1, -1):
        if LOG_END not in blocks[i]:
            continue
        prefix = heads[i].rsplit("\n", 1)[-1]
        body = blocks[i].split(LOG_END, 1)[0]
        if prefix.strip():
            pat = _prefix_pattern(prefix)
            body = "\n".join(pat.sub("", line, count=1) for line in body.split("\n"))
        return body.strip()
    raise SpecError(
        [
            Problem(
                f"the log has {LOG_BEGIN!r} but no {LOG_END!r} after it: the bench did not finish "
                "printing its results (cut off, or the log was truncated); take results.json from the "
                "node instead",
                file=file,
            )
        ]
    )


def parse_results(text: str, file: str = "<results>") -> dict[str, Any]:
    """Parse a results document (plain JSON, or a pod log with the markers) and validate it."""
    body = extract_from_log(text, file)
    source = text if body is None else body
    try:
        data = json.loads(source)
    except json.JSONDecodeError as e:
        hint = "" if body is not None else " (nor a pod log with the gpuslice-bench results markers)"
        where = "" if body is None else " in the results block of the log"
        raise SpecError(
            [
                Problem(
                    f"not valid JSON{hint}{where}: {e.msg}",
                    file=file,
                    line=e.lineno if body is None else None,
                    column=e.colno if body is None else None,
                )
            ]
        ) from None
    validate_results(data, file)
    return data


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file; metrics are (re)computed from the raw records."""
    from gpuslice.bench.analysis import analyze
    from gpuslice.yamlio import read_text

    return analyze(parse_results(read_text(path), str(path)))


def dump_results(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=2, sort_keys=False) + "\n"
