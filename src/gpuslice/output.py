"""Output folders: written to a temporary sibling, then renamed into place; only ever replacing gpuslice's own.

A failing run never leaves a half-written folder, and an existing folder is replaced only on success. Every folder
gpuslice writes carries a marker file (:data:`MARKER`) whose manifest lists each file it wrote with its SHA-256.
An existing output folder is replaced only when it is empty, or when the marker is there and the folder holds
exactly the files the manifest lists, unchanged. Anything else (the user's own files, a hand-edited output, a
folder another tool wrote) is refused with exit 2 and a hint to pass ``--overwrite``.

Some folders are never replaced, ``--overwrite`` or not: the filesystem root and the system folders (``/etc``,
``/var``, ``/usr``, ...), the home folder, the current folder or one above it, a git checkout, and any folder that
holds (or lies inside) one of the run's inputs: the spec, ``--chart``, the spec's ``operator.chart``, the
vendored ``charts/`` folder and the chart cache.

A run killed at the wrong moment (SIGKILL between writing and renaming) leaves ``.NAME.tmp-*`` / ``.NAME.old-*``
siblings. Each carries a staging note (:data:`STAGING`) with the process id and host that made it; the next run
for the same output removes those whose process is gone, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from gpuslice.errors import GpusliceError

Artifact = str | bytes

#: In every output folder gpuslice writes: ``{"tool": "gpuslice", "version", "command", "files": {rel: sha256}}``.
MARKER = ".gpuslice-output.json"
#: In a temporary sibling while it is being written: ``{"pid", "host"}`` of the writer.
STAGING = ".gpuslice-staging.json"

#: Folders whose loss would break the machine; refused even with --overwrite. A folder directly under ``/`` is
#: refused too, as are the standard folders one level below these.
_SYSTEM_PARENTS = ("/usr", "/var", "/etc", "/opt", "/boot", "/lib", "/lib64", "/srv", "/sys", "/proc", "/dev", "/run")

OVERWRITE_HINT = "choose a new or empty folder, or pass --overwrite to replace it"


def _check_rel(rel: str) -> str:
    """``rel`` as a normal relative POSIX path (``a//./b`` is ``a/b``); raises unless it names a file inside the
    output folder other than gpuslice's own notes. (String work: pathlib cost a 3,700-file plan 0.01 s.)"""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    normal = "/".join(parts)
    if rel.startswith("/") or not parts or ".." in parts or normal in (MARKER, STAGING):
        raise GpusliceError(f"refusing to write outside the output folder: {rel!r}")
    return normal


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


def _system_folder(out: Path) -> str | None:
    if out == out.parent:
        return "the filesystem root"
    if out.parent == out.parent.parent:
        return f"the system folder {out}"
    for top in _SYSTEM_PARENTS:
        t = Path(top)
        if out.parent == t or out.parent == t.resolve():
            return f"the system folder {out}"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # fewer system calls than open(): this runs for every file
    try:
        while block := os.read(fd, 1 << 20):
            h.update(block)
    finally:
        os.close(fd)
    return h.hexdigest()


def _walk_files(folder: Path) -> Iterator[str]:
    """Relative POSIX paths of every non-folder entry under ``folder`` (links included, not followed)."""
    for root, dirs, files in os.walk(folder):
        sub = os.path.relpath(root, folder)
        prefix = "" if sub == os.curdir else sub.replace(os.sep, "/") + "/"
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            yield prefix + name


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The ``files`` of ``folder``'s marker (relative path -> sha256), or None when it has no valid marker."""
    try:
        doc = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("tool") == "gpuslice" else None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return files


def _why_not_ours(out: Path) -> str | None:
    """None when ``out`` may be replaced without --overwrite (empty, or exactly what gpuslice wrote there)."""
    present = sorted(p for p in _walk_files(out) if p not in (MARKER, STAGING))
    manifest = read_manifest(out)
    if manifest is None:
        if not present:
            return None
        return f"holds files gpuslice did not write ({_some(present)})"
    foreign = [p for p in present if p not in manifest]
    if foreign:
        return f"holds files gpuslice did not write there ({_some(foreign)})"
    changed = []
    for rel in present:
        try:
            if _sha256(out / rel) != manifest[rel]:
                changed.append(rel)
        except OSError:
            changed.append(rel)
    if changed:
        return f"holds files changed since gpuslice wrote them ({_some(changed)})"
    return None


def _some(names: list[str], n: int = 3) -> str:
    more = len(names) - n
    return ", ".join(names[:n]) + (f" and {more} more" if more > 0 else "")


def check_out_dir(out_dir: str | Path, *, inputs: Iterable[str | Path | None] = (), overwrite: bool = False) -> Path:
    """Raise GpusliceError unless ``out_dir`` can be (re)placed as a whole by :func:`write_tree`.

    Call it before long work so a bad ``--out-dir`` fails fast. ``inputs`` are files/folders the run reads: an
    output folder that holds one of them (or lies inside one) would destroy it. ``overwrite`` allows replacing an
    existing folder that gpuslice did not write (never a protected one).
    """
    shown = str(out_dir)
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise GpusliceError(f"{shown}: exists and is not a folder; choose another output folder")
    system = _system_folder(out) if out.exists() else None
    if system is not None:
        raise GpusliceError(f"{shown}: refusing to replace {system}; choose a new or empty output folder")
    home = Path.home().resolve()
    if _contains(out, home):
        what = "your home folder" if out == home else "a folder that holds your home folder"
        raise GpusliceError(f"{shown}: refusing to replace {what}; choose a new or empty output folder")
    for inp in inputs:
        if inp is None or str(inp) == "-":
            continue
        p = Path(inp).expanduser().resolve()
        if _contains(out, p) or _contains(p, out):
            what = "replace a folder that holds" if _contains(out, p) else "write inside"
            raise GpusliceError(f"{shown}: refusing to {what} the input {inp}; choose another output folder")
    if out.exists():
        if _contains(out, Path.cwd().resolve()):
            raise GpusliceError(
                f"{shown}: refusing to replace the current folder (or one above it), which the output "
                "folder would delete; choose a new or empty output folder"
            )
        if (out / ".git").exists():
            raise GpusliceError(f"{shown}: refusing to replace a git checkout; choose a new or empty output folder")
        if not overwrite:
            why = _why_not_ours(out)
            if why is not None:
                raise GpusliceError(f"{shown}: {why}; {OVERWRITE_HINT}")
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


# ----------------------------------------------------------------------------------------------------------
# Staging, committing and cleaning up


def _staging_note() -> bytes:
    return json.dumps({"tool": "gpuslice", "pid": os.getpid(), "host": socket.gethostname()}).encode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _is_stale(tmp: Path) -> bool:
    """Whether ``tmp`` is a temporary sibling a gpuslice run on this host left behind and no longer uses."""
    if not tmp.is_dir() or tmp.is_symlink():
        return False
    try:
        note = json.loads((tmp / STAGING).read_text(encoding="utf-8"))
    except FileNotFoundError:
        # mkdtemp made it but the run died before the note was written: only an empty folder is that.
        return not any(tmp.iterdir())
    except (OSError, ValueError):
        return False
    if not isinstance(note, dict) or note.get("tool") != "gpuslice" or not isinstance(note.get("pid"), int):
        return False
    return note.get("host") == socket.gethostname() and not _alive(note["pid"])


def clean_stale(out_dir: str | Path) -> list[Path]:
    """Remove ``.NAME.tmp-*`` / ``.NAME.old-*`` siblings of ``out_dir`` left by killed gpuslice runs; returns them.

    Only folders carrying gpuslice's staging note of a process that is gone (or empty ones) are removed.
    """
    out = Path(out_dir).expanduser().resolve()
    removed: list[Path] = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        if not (p.name.startswith(f".{out.name}.tmp-") or p.name.startswith(f".{out.name}.old-")):
            continue
        if _is_stale(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def stage(out: Path) -> Path:
    """Make the temporary sibling a run writes into (with its staging note); :func:`commit` puts it in place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    (tmp / STAGING).write_bytes(_staging_note())
    # mkdtemp makes a private (0700) folder; an output folder gets the usual umask-based mode.
    tmp.chmod(0o777 & ~_umask())
    return tmp


def commit(tmp: Path, out: Path, *, command: str, hashes: Mapping[str, str] | None = None) -> None:
    """Write the marker (every file under ``tmp`` with its hash), then swap ``tmp`` into ``out``.

    ``hashes``: the hashes of what the caller just wrote, when it has them (reading thousands of files back only
    to hash them cost a large plan a good part of its time)."""
    from gpuslice import __version__

    if hashes is not None:
        files = dict(sorted(hashes.items()))
    else:
        files = {rel: _sha256(tmp / rel) for rel in sorted(_walk_files(tmp)) if rel not in (MARKER, STAGING)}
    marker = {"tool": "gpuslice", "version": __version__, "command": command, "files": files}
    (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    old: Path | None = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        # The staging note makes the old folder ours to remove on a later run, should this one be killed now.
        with contextlib.suppress(OSError):
            (out / STAGING).write_bytes(_staging_note())
        out.rename(old)
    (tmp / STAGING).unlink()
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_files(tmp: Path, files: Mapping[str, Artifact], executable: Iterable[str]) -> dict[str, str]:
    """Write ``files`` (normalised relative path -> content) into the new folder ``tmp``; returns their SHA-256.

    A 300-pool plan writes ~3,700 files, so each costs as few system calls as it can: its folders are made once,
    then the file is created with its final mode (the umask applies as to any new file), written and closed.
    ``O_EXCL``: nothing already in ``tmp`` is overwritten and no link is followed. (Threads made it slower: the
    kernel serialises creating files on one filesystem.)"""
    folders: set[str] = set()
    for rel in files:
        folder = posixpath.dirname(rel)
        while folder and folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    for folder in sorted(folders):  # a parent before its children
        os.mkdir(tmp / folder)
    run_as = set(executable)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    base = str(tmp)
    hashes: dict[str, str] = {}
    for rel, content in sorted(files.items()):
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        fd = os.open(os.path.join(base, rel), flags, 0o777 if rel in run_as else 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        hashes[rel] = hashlib.sha256(data).hexdigest()
    return hashes


def write_tree(
    out_dir: str | Path,
    files: Mapping[str, Artifact],
    *,
    executable: tuple[str, ...] = (),
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    command: str = "plan",
) -> Path:
    """Write ``files`` (relative path -> content) as the whole content of ``out_dir``, atomically.

    Raises GpusliceError (naming ``out_dir``) when the folder cannot be written or must not be replaced.
    """
    out = check_out_dir(out_dir, inputs=inputs, overwrite=overwrite)
    normal = {rel: _check_rel(rel) for rel in files}
    clean_stale(out)
    try:
        tmp = stage(out)
    except OSError as e:
        raise _os_error("create the output folder", out_dir, e) from None
    try:
        hashes = _write_files(
            tmp,
            {normal[rel]: content for rel, content in files.items()},
            [normal[r] for r in executable if r in normal],
        )
        commit(tmp, out, command=command, hashes=hashes)
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
