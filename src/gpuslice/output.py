"""Atomic output folders: everything is written to a temporary sibling, then renamed into place.

A failing run never leaves a half-written folder, and an existing folder is replaced only on success.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from gpuslice.errors import GpusliceError

Artifact = str | bytes


def _check_rel(rel: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise GpusliceError(f"refusing to write outside the output folder: {rel!r}")
    return p


def write_tree(out_dir: str | Path, files: Mapping[str, Artifact], *, executable: tuple[str, ...] = ()) -> Path:
    """Write ``files`` (relative path -> content) as the whole content of ``out_dir``, atomically."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise GpusliceError(f"{out_dir} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for rel, content in sorted(files.items()):
            target = tmp / _check_rel(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
            if rel in executable:
                target.chmod(0o755)
        old: Path | None = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_file_atomic(path: str | Path, content: Artifact) -> Path:
    """Write one file via a temp file in the same folder and ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
