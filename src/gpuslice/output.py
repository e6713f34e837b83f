"""Atomic output folders: everything is written to a temporary sibling, then renamed into place.

A failing run never leaves a half-written folder, and an existing folder is replaced only on success. Folders
that are obviously not a previous output (the filesystem root, the home folder, the current folder or one above
it, a git checkout, a folder holding one of the run's inputs) are never replaced: replacing one would delete it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from gpuslice.errors import GpusliceError

Artifact = str | bytes


def _check_rel(rel: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise GpusliceError(f"refusing to write outside the output folder: {rel!r}")
    return p


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_error(what: str, path: str | Path, e: OSError) -> GpusliceError:
    reason = e.strerror or type(e).__name__
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        reason = f"{blocker} is a file, not a folder"
    return GpusliceError(f"{path}: cannot {what}: {reason}")


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is a file (so no folder can be made under it)."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent if parent.exists() and not parent.is_dir() else None


def _contains(folder: Path, inner: Path) -> bool:
    try:
        inner.relative_to(folder)
    except ValueError:
        return False
    return True


def check_out_dir(out_dir: str | Path, *, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Raise GpusliceError unless ``out_dir`` can be (re)placed as a whole by :func:`write_tree`.

    Call it before long work so a bad ``--out`` fails fast. ``inputs`` are files/folders the run reads: an output
    folder that holds one of them would delete it when replaced.
    """
    shown = str(out_dir)
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise GpusliceError(f"{shown}: exists and is not a folder; choose another output folder")
    precious = {Path("/").resolve(): "the filesystem root", Path.home().resolve(): "your home folder"}
    if out in precious:
        raise GpusliceError(f"{shown}: refusing to replace {precious[out]}; choose a new or empty output folder")
    if out.exists():
        if _contains(out, Path.cwd().resolve()):
            raise GpusliceError(
                f"{shown}: refusing to replace the current folder (or one above it), which the output "
                "folder would delete; choose a new or empty output folder"
            )
        if (out / ".git").exists():
            raise GpusliceError(f"{shown}: refusing to replace a git checkout; choose a new or empty output folder")
        for inp in inputs:
            if inp is None:
                continue
            p = Path(inp).expanduser().resolve()
            if _contains(out, p):
                raise GpusliceError(
                    f"{shown}: refusing to replace a folder that holds the input {inp}; choose another output folder"
                )
    # The parent must exist (or be creatable) and be writable.
    blocker = _file_in_the_way(out)
    if blocker is not None:
        raise GpusliceError(f"{shown}: cannot create it: {blocker} is a file, not a folder")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GpusliceError(f"{shown}: cannot create it: {parent} is not writable")
    return out


def write_tree(
    out_dir: str | Path,
    files: Mapping[str, Artifact],
    *,
    executable: tuple[str, ...] = (),
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """Write ``files`` (relative path -> content) as the whole content of ``out_dir``, atomically.

    Raises GpusliceError (naming ``out_dir``) when the folder cannot be written or must not be replaced.
    """
    out = check_out_dir(out_dir, inputs=inputs)
    rels = {rel: _check_rel(rel) for rel in files}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as e:
        raise _os_error("create the output folder", out_dir, e) from None
    try:
        # mkdtemp makes a private (0700) folder; an output folder gets the usual umask-based mode.
        tmp.chmod(0o777 & ~_umask())
        for rel, content in sorted(files.items()):
            target = tmp / rels[rel]
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
            if rel in executable:
                target.chmod(0o777 & ~_umask())
        old: Path | None = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _os_error("write the output folder", out_dir, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_file_atomic(path: str | Path, content: Artifact) -> Path:
    """Write one file via a temp file in the same folder and ``os.replace``.

    The file gets the mode a plain write would give it (the existing file's, else 0666 less the umask), and any
    failure is a GpusliceError naming ``path``.
    """
    p = Path(path)
    if p.is_dir():
        raise GpusliceError(f"{path}: is a folder; give a file name")
    try:
        mode = p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask()
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    except OSError as e:
        raise _os_error("write", path, e) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error("write", path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
