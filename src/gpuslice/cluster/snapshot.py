"""``gpuslice snapshot``: write what doctor needs in the layout of ``kubectl cluster-info dump --output-directory``.

Same file names, same JSON (indented like kubectl), same log markers, so the folder can be read by anything that
reads kubectl dumps, and ``gpuslice doctor --dump`` reads both. Additions, all optional for readers:
``clusterpolicies.json`` (nvidia.com/v1), ``<namespace>/configmaps.json`` holding only device-plugin ConfigMaps,
and ``gpuslice.json`` (what was captured, and the operator namespace).

Logs are bounded: the last ``tail_lines`` lines per container, at most ``max_log_pods`` pods, pods in trouble
first (then the operator's own pods), so a 5,000-node cluster does not mean 20,000 log requests.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuslice.cluster import model as m
from gpuslice.cluster.source import CLUSTERPOLICIES, CONFIGMAPS, NAMESPACED, NODES, TOP_REPORTS_FILE, Source
from gpuslice.errors import GpusliceError

MANIFEST = "gpuslice.json"


@dataclass
class SnapshotResult:
    out_dir: Path
    files: int = 0
    pods: int = 0
    pods_with_logs: int = 0
    namespaces: list[str] = field(default_factory=list)
    skipped_logs: int = 0
    #: every file written, relative to ``out_dir`` (POSIX separators), in the order written
    paths: list[str] = field(default_factory=list)
    #: pods captured per namespace (a namespace whose pods could be listed, even when it holds none)
    pods_by_namespace: dict[str, int] = field(default_factory=dict)


def _json_bytes(doc: Any) -> bytes:
    if isinstance(doc, bytes | bytearray | memoryview):
        return bytes(doc)
    if isinstance(doc, str):  # YAML text from a yaml dump: keep the data, write JSON like kubectl's default
        import yaml

        doc = yaml.load(doc, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return (json.dumps(doc, indent=4, ensure_ascii=False) + "\n").encode("utf-8")


def _trouble(p: m.Pod) -> bool:
    if p.status.phase not in ("Running", "Succeeded"):
        return True
    return any(not s.ready or s.restart_count > 0 for init, s in p.statuses() if not init)


def log_block(namespace: str, pod: str, container: str, lines: list[str]) -> str:
    """One container's section of ``logs.txt``, exactly as kubectl frames it."""
    body = "".join(line + "\n" for line in lines)
    return (
        f"==== START logs for container {container} of pod {namespace}/{pod} ====\n{body}"
        f"==== END logs for container {container} of pod {namespace}/{pod} ====\n"
    )


def take_snapshot(
    source: Source,
    out_dir: str | Path,
    *,
    namespaces: list[str],
    operator_namespace: str | None = None,
    max_log_pods: int = 500,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> SnapshotResult:
    """Write ``source`` for ``namespaces`` into ``out_dir`` (replaced atomically on success, and only when it is
    empty or a folder gpuslice wrote, unless ``overwrite``: see :mod:`gpuslice.output`)."""
    from gpuslice.output import check_out_dir, clean_stale, commit, stage

    out = check_out_dir(out_dir, inputs=inputs, overwrite=overwrite)
    clean_stale(out)
    try:
        tmp = stage(out)
    except OSError as e:
        raise GpusliceError(f"{out_dir}: cannot create the output folder: {e.strerror}") from None
    say = progress or (lambda _msg: None)
    res = SnapshotResult(out_dir=out, namespaces=list(namespaces))
    try:
        say("nodes")
        nodes = source.read(NODES)
        if nodes is not None:
            (tmp / "nodes.json").write_bytes(_json_bytes(nodes))
            res.files += 1
            res.paths.append("nodes.json")
        cps = source.read(CLUSTERPOLICIES)
        if cps is not None:
            (tmp / "clusterpolicies.json").write_bytes(_json_bytes(cps))
            res.files += 1
            res.paths.append("clusterpolicies.json")
        reader = getattr(source, "top_reports", None)
        reports = reader() if callable(reader) else []
        if reports:
            say("gpuslice top agents")
            (tmp / TOP_REPORTS_FILE).write_bytes(_json_bytes(reports))
            res.files += 1
            res.paths.append(TOP_REPORTS_FILE)
        log_jobs: list[tuple[bool, m.Pod]] = []
        all_ns = list(dict.fromkeys([*namespaces, *[n for n in source.namespaces() if n not in namespaces]]))
        for ns in all_ns:
            in_scope = ns in namespaces
            folder = tmp / ns
            wrote = False
            for res_name in (*NAMESPACED, CONFIGMAPS) if in_scope else (CONFIGMAPS,):
                doc = source.read(res_name, ns)
                if doc is None:
                    continue
                if res_name == CONFIGMAPS and not _has_items(doc):
                    continue
                folder.mkdir(exist_ok=True)
                (folder / f"{res_name}.json").write_bytes(_json_bytes(doc))
                res.files += 1
                res.paths.append(f"{ns}/{res_name}.json")
                wrote = True
                if res_name == "pods":
                    say(f"{ns}: pods")
                    pods, _ = m.decode_list(doc, m.Pod)
                    res.pods += len(pods)
                    res.pods_by_namespace[ns] = len(pods)
                    log_jobs += [(ns == operator_namespace, p) for p in pods]
            if wrote and ns not in res.namespaces:
                res.namespaces.append(ns)
        # Pods in trouble first, then the operator's, then the rest; bounded.
        log_jobs.sort(key=lambda j: (not _trouble(j[1]), not j[0], j[1].namespace, j[1].name))
        for _op, pod in log_jobs[:max_log_pods]:
            containers = pod.container_names()
            got = source.logs(pod.namespace, pod.name, containers)
            folder = tmp / pod.namespace / pod.name
            folder.mkdir(parents=True, exist_ok=True)
            text = "".join(log_block(pod.namespace, pod.name, c, got.get(c, [])) for c in containers)
            (folder / "logs.txt").write_text(text, encoding="utf-8")
            res.files += 1
            res.paths.append(f"{pod.namespace}/{pod.name}/logs.txt")
            res.pods_with_logs += 1
        res.skipped_logs = max(0, len(log_jobs) - max_log_pods)
        manifest = {
            "tool": "gpuslice snapshot",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": source.label,
            "namespaces": res.namespaces,
            "operatorNamespace": operator_namespace,
            "logs": {"pods": res.pods_with_logs, "skipped": res.skipped_logs},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        res.paths.append(MANIFEST)
        commit(tmp, out, command="snapshot")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return res


def snapshot_warnings(
    res: SnapshotResult, *, operator_namespace: str | None, asked: Iterable[str] = (), max_log_pods: int | None = None
) -> list[str]:
    """What a reader of the folder should know it lacks: an operator namespace or a namespace the user asked for
    (``asked``) that holds no pods, and pods whose logs were left out by the ``max_log_pods`` bound."""
    out: list[str] = []
    if operator_namespace and not res.pods_by_namespace.get(operator_namespace):
        out.append(
            f"namespace {operator_namespace} holds no pods: is the GPU Operator installed there? "
            "(--namespace or the spec's operator.namespace names another)"
        )
    for ns in dict.fromkeys(asked):
        if ns != operator_namespace and not res.pods_by_namespace.get(ns):
            out.append(f"namespace {ns} (--include-namespace) holds no pods")
    if res.skipped_logs:
        bound = f" (--max-log-pods {max_log_pods})" if max_log_pods is not None else ""
        out.append(f"logs of {res.skipped_logs} pod(s) were left out{bound}; pods in trouble came first")
    return out


def _has_items(doc: Any) -> bool:
    if isinstance(doc, dict):
        return bool(doc.get("items"))
    return True


def read_manifest(folder: str | Path) -> dict[str, Any]:
    p = Path(folder) / MANIFEST
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
