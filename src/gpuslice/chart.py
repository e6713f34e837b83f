"""The GPU Operator chart: where it comes from and what it says about itself.

A chart is a local folder, a packaged ``.tgz``, or the chart repository (``helm pull``, retried with backoff and
kept in a local cache). :func:`locate_chart` tries, in order:

1. ``--chart PATH`` (``RenderOptions.chart``);
2. the spec's ``operator.chart`` (relative to the spec file);
3. ``charts/gpu-operator-<chartVersion>[.tgz]`` next to the spec file (a vendored chart, Helm's own convention);
4. each folder in ``$GPUSLICE_CHARTS_DIR`` (``os.pathsep``-separated), same names;
5. the cache (``$XDG_CACHE_HOME/gpuslice/charts``), filled by earlier pulls;
6. ``helm pull`` from ``operator.chartRepository`` (skipped when ``GPUSLICE_OFFLINE=1``).

:class:`Chart` carries the parsed ``Chart.yaml`` and ``values.yaml`` of the chart and of each bundled subchart, read
straight from the folder or the archive (nothing is extracted), so image discovery needs no helm at all.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gpuslice.errors import GpusliceError, HelmError, SpecError
from gpuslice.resolve import ResolvedSpec
from gpuslice.yamlio import problem_in_file

CHART_NAME = "gpu-operator"
CACHE_ENV = "XDG_CACHE_HOME"
CHARTS_DIR_ENV = "GPUSLICE_CHARTS_DIR"
OFFLINE_ENV = "GPUSLICE_OFFLINE"


class ChartError(GpusliceError):
    """The chart cannot be found, fetched or read."""


@dataclass(frozen=True)
class Subchart:
    """A chart bundled under ``charts/``. ``key`` is where its values live in the parent (alias or name)."""

    key: str
    name: str
    version: str
    app_version: str | None
    values: dict[str, Any]
    condition: str | None = None


@dataclass(frozen=True)
class Chart:
    path: Path  # what helm renders: a chart folder or a .tgz
    name: str
    version: str
    app_version: str | None
    values: dict[str, Any]
    subcharts: tuple[Subchart, ...] = ()
    origin: str = ""  # where it came from, for messages and PLAN.md
    crd_docs: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def subchart(self, key: str) -> Subchart | None:
        return next((s for s in self.subcharts if s.key == key), None)

    def effective_values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The values helm computes: each subchart's defaults under its key, then the parent's, then overrides."""
        merged = copy.deepcopy(self.values)
        for sub in self.subcharts:
            parent_part = merged.get(sub.key)
            merged[sub.key] = deep_merge(sub.values, parent_part if isinstance(parent_part, dict) else {})
        return deep_merge(merged, dict(overrides or {}))

    def subchart_enabled(self, sub: Subchart, values: Mapping[str, Any]) -> bool:
        """Evaluate the dependency ``condition`` (first path that resolves to a bool wins, like helm)."""
        if not sub.condition:
            return True
        for cond in sub.condition.split(","):
            node: Any = values
            for part in cond.strip().split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, bool):
                return node
        return True


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge recursively, anything else (lists included) is replaced; null deletes."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ----------------------------------------------------------------------------------------------------------
# Reading a chart (folder or archive)


class _Files:
    """Read-only view of a chart's files: ``read(rel)`` and ``children(rel)`` with POSIX relative paths."""

    def __init__(self, reader: Callable[[str], bytes | None], lister: Callable[[str], list[str]]) -> None:
        self.read = reader
        self.children = lister


def _sub_files(files: _Files, prefix: str) -> _Files:
    def read(rel: str) -> bytes | None:
        return files.read(f"{prefix}/{rel}")

    def children(rel: str) -> list[str]:
        return files.children(f"{prefix}/{rel}".rstrip("/"))

    return _Files(read, children)


def _folder_files(root: Path) -> _Files:
    def read(rel: str) -> bytes | None:
        p = root / rel
        return p.read_bytes() if p.is_file() else None

    def children(rel: str) -> list[str]:
        p = root / rel
        return sorted(c.name for c in p.iterdir()) if p.is_dir() else []

    return _Files(read, children)


_GZIP_MAGIC = b"\x1f\x8b"


def _archive_files(data: bytes, origin: str) -> _Files:
    if not data.startswith(_GZIP_MAGIC):
        what = "an empty file" if not data else "not gzip-compressed"
        raise ChartError(
            f"{origin}: not a chart archive ({what}); expected a chart folder or a .tgz made by "
            "`helm package` / `helm pull`"
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            members = {
                _member_name(m.name): tf.extractfile(m).read()  # type: ignore[union-attr]
                for m in tf.getmembers()
                if m.isfile()
            }
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise ChartError(
            f"{origin}: the chart archive is corrupt or truncated ({detail}); download it again "
            "(helm pull) or re-create it with `helm package`"
        ) from None
    tops = {PurePosixPath(n).parts[0] for n in members if PurePosixPath(n).parts}
    if len(tops) != 1:
        raise ChartError(f"{origin}: a chart archive holds one top folder, found {sorted(tops) or 'none'}")
    files = {
        str(PurePosixPath(*PurePosixPath(n).parts[1:])): b
        for n, b in members.items()
        if len(PurePosixPath(n).parts) > 1
    }

    def read(rel: str) -> bytes | None:
        return files.get(rel)

    def children(rel: str) -> list[str]:
        prefix = f"{rel.rstrip('/')}/" if rel else ""
        return sorted({n[len(prefix) :].split("/", 1)[0] for n in files if n.startswith(prefix)})

    return _Files(read, children)


def _member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _yaml_load(data: bytes, where: str) -> Any:
    import yaml

    try:
        return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ChartError(f"{where}: invalid YAML ({e})") from None


def _yaml_load_all(data: bytes, where: str) -> list[Any]:
    import yaml

    try:
        return [d for d in yaml.load_all(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    except yaml.YAMLError as e:
        raise ChartError(f"{where}: invalid YAML ({e})") from None


def _read_meta(files: _Files, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = files.read("Chart.yaml")
    if raw is None:
        raise ChartError(f"{where}: no Chart.yaml (is this a Helm chart?)")
    meta = _yaml_load(raw, f"{where}/Chart.yaml")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ChartError(f"{where}/Chart.yaml: expected a mapping with a name")
    vraw = files.read("values.yaml")
    values = _yaml_load(vraw, f"{where}/values.yaml") if vraw is not None else {}
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ChartError(f"{where}/values.yaml: expected a mapping")
    return meta, values


def _crds(files: _Files, where: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in files.children("crds"):
        if name.endswith((".yaml", ".yml", ".json")):
            raw = files.read(f"crds/{name}")
            if raw is not None:
                docs.extend(d for d in _yaml_load_all(raw, f"{where}/crds/{name}") if isinstance(d, dict))
    return docs


def _load(files: _Files, path: Path, origin: str) -> Chart:
    where = str(path)
    meta, values = _read_meta(files, where)
    deps = {d.get("name"): d for d in meta.get("dependencies") or [] if isinstance(d, dict)}
    subs: list[Subchart] = []
    crds = _crds(files, where)
    for entry in files.children("charts"):
        rel = f"charts/{entry}"
        if entry.endswith(".tgz"):
            raw = files.read(rel)
            if raw is None:
                continue
            sub_files = _archive_files(raw, f"{where}/{rel}")
        elif files.read(f"{rel}/Chart.yaml") is not None:
            sub_files = _sub_files(files, rel)
        else:
            continue
        smeta, svalues = _read_meta(sub_files, f"{where}/{rel}")
        dep = deps.get(smeta["name"], {})
        subs.append(
            Subchart(
                key=str(dep.get("alias") or smeta["name"]),
                name=str(smeta["name"]),
                version=str(smeta.get("version", "")),
                app_version=_str_or_none(smeta.get("appVersion")),
                values=svalues,
                condition=dep.get("condition"),
            )
        )
        crds.extend(_crds(sub_files, f"{where}/{rel}"))
    missing = sorted(str(n) for n in deps if n and n not in {s.name for s in subs})
    if missing:
        # helm refuses to render such a chart whatever the dependency's condition says, and image discovery
        # would silently miss the subchart's images: say so now, with the way out.
        raise ChartError(
            f"{where}: Chart.yaml depends on {', '.join(missing)}, but charts/ holds no copy of "
            f"{'it' if len(missing) == 1 else 'them'} (a chart folder taken from git without its dependencies). "
            f"Run `helm dependency build {where}` once with network access, or use the packaged chart "
            "from its chart repository (`helm pull`)"
        )
    return Chart(
        path=path,
        name=str(meta["name"]),
        version=str(meta.get("version", "")),
        app_version=_str_or_none(meta.get("appVersion")),
        values=values,
        subcharts=tuple(subs),
        origin=origin,
        crd_docs=tuple(crds),
    )


def _str_or_none(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def load_chart(path: str | Path, origin: str | None = None) -> Chart:
    """Read a chart folder or ``.tgz``. Raises :class:`ChartError` with the path when it is not a chart."""
    p = Path(path).expanduser()
    origin = origin or str(path)
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except OSError as e:  # e.g. a name longer than the file system allows
        shown = str(p) if len(str(p)) <= 200 else f"{str(p)[:100]}…({len(str(p))} characters)"
        raise ChartError(f"{shown}: cannot be used as a chart ({e.strerror})") from None
    if is_dir:
        return _load(_folder_files(p), p, origin)
    if is_file:
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ChartError(f"{p}: cannot read ({e.strerror})") from None
        return _load(_archive_files(data, str(p)), p, origin)
    raise ChartError(f"{p}: no such chart folder or .tgz")


# ----------------------------------------------------------------------------------------------------------
# Fetching from the chart repository


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache")
    return Path(base) / "gpuslice" / "charts"


def _cache_path(repository: str, version: str, root: Path | None = None) -> Path:
    from gpuslice.names import short_hash

    host = re.sub(r"[^A-Za-z0-9.-]+", "_", repository.split("://", 1)[-1]).strip("_")[:60]
    return (root or cache_dir()) / f"{host}-{short_hash(repository)}" / f"{CHART_NAME}-{version}.tgz"


def pull_chart(
    version: str,
    repository: str,
    *,
    helm: str | None = None,
    cache: Path | None = None,
    attempts: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 120,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """``helm pull`` the chart into the cache, retrying with exponential backoff; returns the cached .tgz.

    A cached copy is reused (a chart version is immutable). ``repository`` is an HTTP(S) chart repository
    (``--repo``) or an ``oci://`` registry path.
    """
    from gpuslice.helm import run_helm

    target = _cache_path(repository, version, cache)
    if target.is_file():
        return target
    if repository.startswith("oci://"):
        args = ["pull", f"{repository.rstrip('/')}/{CHART_NAME}", "--version", version]
    else:
        args = ["pull", CHART_NAME, "--repo", repository, "--version", version]
    last: HelmError | None = None
    say = progress or (lambda _text: None)
    for attempt in range(1, max(1, attempts) + 1):
        say(f"pulling chart {CHART_NAME} {version} from {repository} (attempt {attempt} of {attempts})")
        with tempfile.TemporaryDirectory(prefix="gpuslice-pull-") as tmp:
            try:
                run_helm([*args, "--destination", tmp], helm=helm, timeout=timeout_s)
            except HelmError as e:
                if e.returncode is None and e.argv == []:  # helm itself is missing: retrying cannot help
                    raise
                last = e
            else:
                got = sorted(Path(tmp).glob("*.tgz"))
                if not got:
                    raise ChartError(f"helm pull {CHART_NAME} {version} wrote no .tgz")
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_target = tempfile.mkstemp(dir=target.parent, suffix=".part")
                os.close(fd)
                shutil.copyfile(got[0], tmp_target)
                os.replace(tmp_target, target)
                return target
        if attempt < attempts:
            wait = backoff_s * 2 ** (attempt - 1)
            reason = str(last).splitlines()[0] if last else "failed"
            say(f"helm pull attempt {attempt} of {attempts} failed ({reason}); retrying in {wait:g} s")
            sleep(wait)
    detail = str(last).splitlines()[-1] if last else "unknown error"
    raise ChartError(f"could not pull {CHART_NAME} {version} from {repository} after {attempts} attempts: {detail}")


# ----------------------------------------------------------------------------------------------------------
# Finding the chart for a spec


def _named_in(folder: Path, version: str) -> Path | None:
    for name in (f"{CHART_NAME}-{version}", f"{CHART_NAME}-{version}.tgz"):
        p = folder / name
        if p.exists():
            return p
    return None


def how_to_provide(resolved: ResolvedSpec) -> str:
    v = resolved.chart_version
    return (
        f"Provide the GPU Operator chart {v}: pass --chart PATH (a chart folder or .tgz), set operator.chart in "
        f"the spec (relative to it), put it at charts/{CHART_NAME}-{v} next to the spec, or fetch it once with "
        f"network access: helm pull {CHART_NAME} --repo {resolved.spec.operator.chart_repository} --version {v}"
    )


OPERATOR_CRD = ("nvidia.com", "ClusterPolicy")


def is_operator_chart(chart: Chart) -> bool:
    """Whether ``chart`` declares the GPU Operator's ClusterPolicy CRD (every release since v1.0 ships it in
    ``crds/``); the chart's name alone does not tell a renamed mirror copy from another chart."""
    for d in chart.crd_docs:
        spec = d.get("spec") if d.get("kind") == "CustomResourceDefinition" else None
        if isinstance(spec, dict) and (spec.get("group"), (spec.get("names") or {}).get("kind")) == OPERATOR_CRD:
            return True
    return False


def input_paths(resolved: ResolvedSpec, explicit: str | Path | None = None) -> list[Path]:
    """Every place a chart for ``resolved`` may be read from: an output folder must never replace (or lie in) one.

    ``--chart``, ``operator.chart``, the vendored ``charts/`` next to the spec, ``$GPUSLICE_CHARTS_DIR`` and the
    cache; whether they exist or not (an output folder must not take a place a chart is looked for either).
    """
    spec_dir = Path(resolved.file).parent if resolved.file else Path.cwd()
    paths = [spec_dir / "charts", cache_dir()]
    paths += [Path(d) for d in os.environ.get(CHARTS_DIR_ENV, "").split(os.pathsep) if d]
    field_path = resolved.spec.operator.chart
    if field_path:
        paths.append(Path(field_path) if Path(field_path).is_absolute() else spec_dir / field_path)
    if explicit is not None:
        paths.append(Path(explicit))
    return paths


def locate_chart(
    resolved: ResolvedSpec,
    explicit: str | Path | None = None,
    *,
    helm: str | None = None,
    pull: Callable[..., Path] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Chart:
    """The chart for ``resolved`` from the first source that has it (see the module docstring). ``progress``
    hears what a pull from the repository is doing (attempts, retries).

    Raises :class:`ChartError` when what is found is not the GPU Operator chart (no ClusterPolicy CRD)."""
    chart = _locate(resolved, explicit, helm=helm, pull=pull, progress=progress)
    if not is_operator_chart(chart):
        raise ChartError(
            f"{chart.origin or chart.path}: chart {chart.name} {chart.version} is not the NVIDIA GPU Operator chart "
            f"(its crds/ declare no {OPERATOR_CRD[1]}.{OPERATOR_CRD[0]}); point it at the gpu-operator chart "
            "folder (deployments/gpu-operator in NVIDIA/gpu-operator) or its packaged .tgz"
        )
    return chart


def _locate(
    resolved: ResolvedSpec,
    explicit: str | Path | None,
    *,
    helm: str | None,
    pull: Callable[..., Path] | None,
    progress: Callable[[str], None] | None = None,
) -> Chart:
    version = resolved.chart_version
    spec_dir = Path(resolved.file).parent if resolved.file else Path.cwd()
    if explicit is not None:
        return load_chart(explicit, origin=f"--chart {explicit}")
    field_path = resolved.spec.operator.chart
    if field_path:
        p = (spec_dir / field_path) if not Path(field_path).is_absolute() else Path(field_path)
        shown = field_path if len(field_path) <= 200 else f"{field_path[:100]}…({len(field_path)} characters)"
        try:
            exists = p.exists()
        except OSError as e:  # a name longer than the file system allows (ENAMETOOLONG), a loop, ...
            raise SpecError(
                [problem_in_file(resolved.file, ("operator", "chart"), f"chart {shown!r} cannot be used: {e.strerror}")]
            ) from None
        if not exists:
            raise SpecError(
                [problem_in_file(resolved.file, ("operator", "chart"), f"chart {shown!r} not found (looked at {p})")]
            )
        return load_chart(p, origin=f"operator.chart {field_path}")
    folders = [spec_dir / "charts"] + [Path(d) for d in os.environ.get(CHARTS_DIR_ENV, "").split(os.pathsep) if d]
    for folder in folders:
        found = _named_in(folder, version)
        if found is not None:
            return load_chart(found, origin=str(found))
    repo = resolved.spec.operator.chart_repository
    cached = _cache_path(repo, version)
    if cached.is_file():
        return load_chart(cached, origin=f"cache ({repo})")
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0", "false"):
        raise ChartError(f"no local GPU Operator chart {version} and {OFFLINE_ENV} is set. {how_to_provide(resolved)}")
    try:
        path = pull(version, repo, helm=helm) if pull else pull_chart(version, repo, helm=helm, progress=progress)
    except GpusliceError as e:
        raise ChartError(f"{e}. {how_to_provide(resolved)}") from None
    return load_chart(path, origin=f"helm pull {repo}")


__all__ = [
    "CHART_NAME",
    "Chart",
    "ChartError",
    "Subchart",
    "cache_dir",
    "deep_merge",
    "how_to_provide",
    "input_paths",
    "is_operator_chart",
    "load_chart",
    "locate_chart",
    "pull_chart",
]
