"""A private MPS control daemon for the benchmark: its own pipe and log folders, started and stopped by us.

It mirrors what the NVIDIA device plugin's MPS control daemon does for ``replicas: N`` (see
NVIDIA/k8s-device-plugin ``cmd/mps-control-daemon/mps/daemon.go``): after ``nvidia-cuda-mps-control -d`` it
sends ``set_default_device_pinned_mem_limit <index> <total/N>M`` and
``set_default_active_thread_percentage <100/N>`` (integer division, as the plugin does), so every client
that connects is capped the way it will be in the cluster. Unlike the plugin it does **not** switch the GPU to
EXCLUSIVE_PROCESS: gpuslice never changes GPU settings, and in DEFAULT compute mode the clients of one
daemon behave the same (only processes outside this daemon could still share the GPU by time-slicing).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gpuslice.errors import GpusliceError

CONTROL_BIN = "nvidia-cuda-mps-control"


class MpsUnavailable(GpusliceError):
    """MPS cannot be used here (no control binary, the daemon does not start, a sandbox forbids it...)."""


@dataclass(frozen=True)
class MpsLimits:
    """The per-client defaults the device plugin sets for ``replicas``."""

    replicas: int
    total_memory_mib: int
    device_index: int = 0

    @property
    def active_thread_percentage(self) -> int:
        return 100 // self.replicas

    @property
    def pinned_mem_limit_mib(self) -> int:
        return self.total_memory_mib // self.replicas

    def to_dict(self) -> dict[str, int]:
        return {
            "replicas": self.replicas,
            "activeThreadPercentage": self.active_thread_percentage,
            "pinnedMemLimitMiB": self.pinned_mem_limit_mib,
            "deviceIndex": self.device_index,
        }


class MpsDaemon:
    """``with MpsDaemon(limits) as d: env = d.env`` — clients started with ``env`` connect to this daemon."""

    def __init__(
        self, limits: MpsLimits | None = None, control_bin: str = CONTROL_BIN, timeout_s: float = 20.0
    ) -> None:
        self.limits = limits
        self.control_bin = control_bin
        self.timeout_s = timeout_s
        self._root: Path | None = None
        self.started = False

    @property
    def pipe_dir(self) -> Path:
        assert self._root is not None
        return self._root / "pipe"

    @property
    def log_dir(self) -> Path:
        assert self._root is not None
        return self._root / "log"

    @property
    def env(self) -> dict[str, str]:
        return {"CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir), "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}

    def _bin(self) -> str:
        found = shutil.which(self.control_bin)
        if not found:
            raise MpsUnavailable(f"{self.control_bin} is not on PATH (the NVIDIA driver's MPS tools are missing)")
        return found

    def send(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command to the control daemon; returns its reply."""
        import os

        env = {**os.environ, **self.env}
        limit = timeout_s or self.timeout_s
        try:
            p = subprocess.run(
                [self._bin()],
                input=command + "\n",
                env=env,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise MpsUnavailable(f"MPS control did not answer {command!r} within {limit:.0f} s") from e
        if p.returncode != 0:
            raise MpsUnavailable(
                f"MPS control refused {command!r} (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-300:]}"
            )
        return p.stdout.strip()

    def start(self) -> None:
        import os

        binary = self._bin()
        self._root = Path(tempfile.mkdtemp(prefix="gpuslice-mps-"))
        self.pipe_dir.mkdir()
        self.log_dir.mkdir()
        env = {**os.environ, **self.env}
        # The daemon forks and may keep inherited descriptors: never give it pipes we would wait on.
        err_file = self._root / "start.err"
        try:
            with open(err_file, "w", encoding="utf-8") as err:
                p = subprocess.run(
                    [binary, "-d"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    timeout=self.timeout_s,
                    check=False,
                )
        except subprocess.TimeoutExpired as e:
            raise MpsUnavailable("nvidia-cuda-mps-control -d did not return") from e
        if p.returncode != 0:
            msg = err_file.read_text(encoding="utf-8", errors="replace").strip()[-300:]
            raise MpsUnavailable(f"nvidia-cuda-mps-control -d failed (exit {p.returncode}): {msg}{self._log_tail()}")
        self.started = True
        # The daemon forks; wait until its control pipe answers.
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self.send("get_default_active_thread_percentage")
                break
            except MpsUnavailable:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)
        if self.limits is not None:
            lim = self.limits
            self.send(f"set_default_device_pinned_mem_limit {lim.device_index} {lim.pinned_mem_limit_mib}M")
            self.send(f"set_default_active_thread_percentage {lim.active_thread_percentage}")
            got = self.send("get_default_active_thread_percentage")
            try:
                ok = abs(float(got.split()[-1]) - lim.active_thread_percentage) < 0.5
            except (ValueError, IndexError):
                ok = False
            if not ok:
                self.stop()
                raise MpsUnavailable(
                    f"MPS did not accept the thread limit (asked {lim.active_thread_percentage}, read back {got!r})"
                )

    def _log_tail(self) -> str:
        if self._root is None:
            return ""
        f = self.log_dir / "control.log"
        if f.exists():
            lines = f.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            return " | control.log: " + " / ".join(lines) if lines else ""
        return ""

    def stop(self) -> None:
        """Quit the daemon (its server exits once the clients are gone) and remove the folders."""
        if self.started:
            with contextlib.suppress(MpsUnavailable):
                self.send("quit", timeout_s=min(self.timeout_s, 10.0))
            # Wait (briefly) until the daemon no longer answers: the next one gets its own folders anyway.
            deadline = time.monotonic() + min(self.timeout_s, 5.0)
            while time.monotonic() < deadline:
                try:
                    self.send("get_default_active_thread_percentage", timeout_s=1.0)
                except MpsUnavailable:
                    break
                time.sleep(0.1)
            self.started = False
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> MpsDaemon:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def read_daemon_limits(pipe_dir: str, device_index: int = 0, control_bin: str = CONTROL_BIN) -> dict[str, object]:
    """The per-client defaults a running MPS control daemon (started by someone else) reports.

    NVIDIA's ``mps-control-daemon`` sets them at start (``set_default_active_thread_percentage``,
    ``set_default_device_pinned_mem_limit``); clients that connect get them. ``replicas`` is inferred from the
    thread percentage (the plugin sets ``100 / replicas``).
    """
    import os

    binary = shutil.which(control_bin)
    if not binary:
        raise MpsUnavailable(f"{control_bin} is not on PATH (the NVIDIA driver's MPS tools are missing)")
    env_dir = str(Path(pipe_dir))
    env = {**os.environ, "CUDA_MPS_PIPE_DIRECTORY": env_dir}

    def ask(cmd: str) -> str:
        try:
            p = subprocess.run(
                [binary], input=cmd + "\n", env=env, capture_output=True, text=True, timeout=10, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise MpsUnavailable(f"the MPS daemon at {pipe_dir} did not answer {cmd!r}") from e
        if p.returncode != 0:
            raise MpsUnavailable(f"the MPS daemon at {pipe_dir} refused {cmd!r}: {(p.stderr or p.stdout).strip()}")
        return p.stdout.strip()

    atp_text = ask("get_default_active_thread_percentage")
    mem_text = ask(f"get_default_device_pinned_mem_limit {device_index}")
    try:
        atp = round(float(atp_text.split()[-1]))
    except (ValueError, IndexError) as e:
        raise MpsUnavailable(f"unexpected thread percentage answer {atp_text!r}") from e
    mem_mib = _parse_mib(mem_text)
    return {
        "replicas": max(1, 100 // atp) if atp else 1,
        "activeThreadPercentage": atp,
        "pinnedMemLimitMiB": mem_mib if mem_mib is not None else 0,
        "deviceIndex": device_index,
        "source": "external",
        "pipeDir": env_dir,
        "answers": {"activeThreadPercentage": atp_text, "pinnedMemLimit": mem_text},
    }


def _parse_mib(text: str) -> int | None:
    """``35942M`` / ``35G`` / ``36028797018963968`` (bytes) -> MiB; None when no limit is set."""
    import re

    m = re.search(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", text.strip(), re.IGNORECASE)
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(2).upper()
    factor = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    return int(value * factor)
