"""Read a ``kubectl cluster-info dump --output-directory DIR`` folder (a support bundle people already know).

Layout, as kubectl writes it (``staging/src/k8s.io/kubectl/pkg/cmd/clusterinfo/clusterinfo_dump.go``)::

    DIR/nodes.json
    DIR/<namespace>/{events,replication-controllers,services,daemonsets,deployments,replicasets,pods}.json
    DIR/<namespace>/<pod>/logs.txt     # init containers, then containers, each between
                                       # "==== START logs for container C of pod NS/P ====" and "==== END ... ===="

``-o yaml`` gives ``.yaml`` files instead; both are read. ``gpuslice snapshot`` adds ``clusterpolicies.json`` and
``<namespace>/configmaps.json``. Anything may be missing (a partial bundle is still worth reading) and logs may be
huge: each ``logs.txt`` is read from its last :data:`MAX_LOG_BYTES` only, keeping the last lines per container.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections import deque
from pathlib import Path
from typing import Any

from gpuslice.cluster.source import CLUSTERPOLICIES, NODES, Raw
from gpuslice.errors import GpusliceError

MAX_LOG_BYTES = 8 * 1024 * 1024
TAIL_LINES = 2000
_EXTS = (".json", ".yaml", ".yml")
_START = "==== START logs for container "
_END = "==== END logs for container "
_MARKER = re.compile(r"==== (START|END) logs for container (\S+) of pod ([^/\s]+)/(\S+) ====")
#: Lines kubectl writes instead of a log when it could not fetch one.
LOG_ERROR_PREFIXES = ("Create log request error:", "Request log error:")


class DumpSource:
    """A dump folder as a :class:`gpuslice.cluster.source.Source`."""

    def __init__(self, root: str | Path, *, max_log_bytes: int = MAX_LOG_BYTES, tail_lines: int = TAIL_LINES):
        self.root = Path(root)
        if not self.root.is_dir():
            raise GpusliceError(
                f"{root}: not a folder (expected the output of `kubectl cluster-info dump "
                f"--output-directory DIR` or `gpuslice snapshot -d DIR`)"
            )
        self.max_log_bytes = max_log_bytes
        self.tail_lines = tail_lines
        # A dump has nodes.json at its root, or at least one namespace folder holding kubectl's list files.
        if not self._file(self.root, NODES) and not any(
            p.is_dir() and any(self._file(p, kind) for kind in ("pods", "events", "daemonsets", "deployments"))
            for p in self.root.iterdir()
        ):
            raise GpusliceError(
                f"{root}: not a cluster dump (no nodes.json, and no namespace folder with pods/events/daemonsets/"
                "deployments); make one with `kubectl cluster-info dump --all-namespaces --output-directory DIR` "
                "or `gpuslice snapshot -d DIR`"
            )

    @property
    def label(self) -> str:
        return f"dump {self.root}"

    @staticmethod
    def _file(folder: Path, stem: str) -> Path | None:
        for ext in _EXTS:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
        return None

    def namespaces(self) -> list[str]:
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(_EXTS)  # nodes.json/ is no namespace
        )

    def path_of(self, resource: str, namespace: str | None = None) -> Path | None:
        folder = self.root / namespace if namespace else self.root
        return self._file(folder, resource)

    def read(self, resource: str, namespace: str | None = None) -> Raw | None:
        p = self.path_of(resource, namespace)
        if p is None:
            folder = self.root / namespace if namespace else self.root
            for ext in _EXTS:  # something is there, but not a file: say so rather than "not captured"
                q = folder / f"{resource}{ext}"
                if q.is_symlink() and not q.exists():
                    raise OSError(0, f"{q} is a broken or looping symbolic link, not a file", str(q))
                if q.exists() and not q.is_file():
                    raise OSError(0, f"{q} is a folder, not a file", str(q))
            return None
        if p.suffix == ".json":
            # Mapped, not read: the decoder reads the pages directly (no copy of a file that can be gigabytes).
            with p.open("rb") as fh:
                if os.fstat(fh.fileno()).st_size == 0:
                    return b""
                return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        return p.read_text(encoding="utf-8", errors="replace")

    def top_reports(self) -> list[dict[str, Any]]:
        """``gpuslice top`` reports saved beside the dump (``gpuslice-top.json``: what ``gpuslice top -o json``
        prints, a list of agent reports, or one report); [] when there is none."""
        from gpuslice.cluster.source import TOP_REPORTS_FILE

        p = self.root / TOP_REPORTS_FILE
        if not p.is_file():
            return []
        try:
            doc = json.loads(p.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError, RecursionError) as e:
            raise GpusliceError(f"{p}: not JSON ({type(e).__name__}: {e})") from None
        items = doc.get("reports") if isinstance(doc, dict) and "reports" in doc else doc
        items = items if isinstance(items, list) else [items]
        reports = [r for r in items if isinstance(r, dict) and r.get("kind") == "GpusliceTopReport"]
        if items and not reports:
            raise GpusliceError(f"{p}: no gpuslice top reports in it (expected the output of `gpuslice top -o json`)")
        return reports

    def logs(self, namespace: str, pod: str, containers: list[str]) -> dict[str, list[str]]:
        p = self.root / namespace / pod / "logs.txt"
        if not p.is_file():
            return {}
        return read_log_file(p, self.max_log_bytes, self.tail_lines)


def read_log_file(path: Path, max_bytes: int = MAX_LOG_BYTES, tail_lines: int = TAIL_LINES) -> dict[str, list[str]]:
    """container -> last ``tail_lines`` lines of a dump ``logs.txt`` (reads at most ``max_bytes`` from the end).

    Lines before the first marker of a truncated file belong to the container whose END marker follows them;
    lines outside any START/END pair go under ``""``.
    A marker that follows log text without a newline (kubectl writes the log bytes verbatim) is still found.
    """
    size = path.stat().st_size
    out: dict[str, deque[str]] = {}
    current = ""
    with path.open("rb") as fh:
        if size > max_bytes:
            fh.seek(size - max_bytes, os.SEEK_SET)
            fh.readline()  # drop the partial first line
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if "==== " in line and (_START in line or _END in line):
                m = _MARKER.search(line)
                if m:
                    before = line[: m.start()]
                    if before:
                        out.setdefault(current, deque(maxlen=tail_lines)).append(before)
                    if m.group(1) == "END" and current == "" and "" in out:
                        # A file read from the middle: the lines before the first marker belong to the
                        # container this END closes.
                        orphan = out.pop("")
                        out.setdefault(m.group(2), deque(maxlen=tail_lines)).extend(orphan)
                    current = m.group(2) if m.group(1) == "START" else ""
                    if m.group(1) == "START":
                        out.setdefault(current, deque(maxlen=tail_lines))
                    continue
            out.setdefault(current, deque(maxlen=tail_lines)).append(line)
    return {k: list(v) for k, v in out.items() if v}


def cluster_scoped(root: Path) -> list[str]:
    """Which of the cluster-scoped lists a folder has (for messages)."""
    return [r for r in (NODES, CLUSTERPOLICIES) if DumpSource._file(root, r)]
