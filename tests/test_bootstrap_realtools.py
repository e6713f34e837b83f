"""The node scripts and units against the real tools: mkfs.ext4 / mkfs.xfs (e2fsprogs, xfsprogs) and blkid on
sparse files, real mount + mdadm on loop devices where the kernel allows it, and ``systemd-analyze verify`` on every
rendered unit and drop-in. Only what needs EC2 hardware stays a stub: lsblk's NVMe model strings, the EBS device
name in the NVMe vendor data, and systemctl (no systemd runs in a test).

scripts/setup.sh installs xfsprogs, e2fsprogs, mdadm and systemd when they are missing; a test skips (with its
reason) only where the kernel lacks a facility (loop devices, the md driver, mounting as non-root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render.bootstrap.common import (
    DISK_UNIT,
    FS_LABEL,
    XFS_LABEL_MAX,
    disk_mount_units,
    disk_plan,
    family,
    guard_dropin,
    guard_paths,
)
from gpuslice.resolve import ResolvedPool
from tests.test_bootstrap import decoded_write_files, matrix, mime_parts
from tests.test_bootstrap_shell import ROOT_DISK, SETUP, disk_machine, ebs, store

GIB = 1024**3
REAL = ["mkfs.ext4", "mkfs.xfs", "blkid"]


def real_tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    package = {"mkfs.xfs": "xfsprogs", "mkfs.ext4": "e2fsprogs", "mdadm": "mdadm", "systemd-analyze": "systemd"}
    assert path, f"{name} is missing: scripts/setup.sh installs it (Debian package {package.get(name, name)})"
    return path


def real_env(*tools: str) -> dict[str, str]:
    return {"FAKE_REAL": json.dumps({t: real_tool(t) for t in tools})}


def sparse(tmp: Path, name: str, size_gib: int) -> str:
    p = tmp / name
    with open(p, "wb") as fh:
        fh.truncate(size_gib * GIB)
    return str(p)


def probe(dev: str) -> dict[str, str]:
    out = subprocess.run([real_tool("blkid"), "-p", "-o", "export", dev], capture_output=True, text=True, check=False)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def pool(name: str) -> ResolvedPool:
    p = matrix().pool(name)
    assert p is not None
    return p


# ----------------------------------------------------------------------------------------------------------
# mkfs.ext4 / mkfs.xfs on sparse files, through the rendered disk settings


@pytest.mark.parametrize(("pool_name", "fs"), [("u22-data", "ext4"), ("al2-data", "xfs"), ("al2023-data", "xfs")])
def test_the_rendered_disk_step_formats_with_the_real_mkfs(tmp_path: Path, pool_name: str, fs: str) -> None:
    p = pool(pool_name)
    plan = disk_plan(matrix(), p)
    assert plan is not None and plan.fs_type == fs
    data = p.spec.disks.data
    assert data is not None
    (tmp_path / "img").mkdir()
    volume = sparse(tmp_path / "img", "nvme1n1", 4)  # an NVMe name: the EBS name is asked
    (tmp_path / "m").mkdir()
    m = disk_machine(tmp_path / "m", [ROOT_DISK, ebs(volume, data.size_gib, data.device_name)], plan)
    r = m.run(SETUP, real_env(*REAL))
    assert r.rc == 0, r.stderr
    assert r.mkfs() == [[fs, "-L", FS_LABEL, volume]]
    found = probe(volume)
    assert found["TYPE"] == fs and found["LABEL"] == FS_LABEL
    assert f"UUID={found['UUID']} /mnt/gpuslice-data {fs} " in m.fstab()
    # A second boot finds the filesystem with the real blkid and formats nothing.
    again = m.run(SETUP, real_env(*REAL))
    assert again.rc == 0, again.stderr
    assert again.mkfs() == [] and "already has a filesystem" in again.stderr
    assert probe(volume)["UUID"] == found["UUID"]


def test_the_old_label_is_refused_by_the_real_mkfs_xfs(tmp_path: Path) -> None:
    # gpuslice-data (13 characters) made mkfs.xfs fail, so every XFS node with a data disk stayed out.
    assert len(FS_LABEL) <= XFS_LABEL_MAX
    img = sparse(tmp_path, "x.img", 1)
    bad = subprocess.run([real_tool("mkfs.xfs"), "-L", "gpuslice-data", img], capture_output=True, text=True)
    assert bad.returncode != 0 and "-L" in bad.stderr
    ok = subprocess.run([real_tool("mkfs.xfs"), "-L", FS_LABEL, img], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # The script refuses a too-long XFS label itself, with a message, before mkfs runs.
    plan = disk_plan(matrix(), pool("al2-data"))
    assert plan is not None
    (tmp_path / "m").mkdir()
    vol = sparse(tmp_path, "nvme1n1", 100)
    m = disk_machine(tmp_path / "m", [ROOT_DISK, ebs(vol, 100, "/dev/xvdb")], plan)
    (m.root / "etc/gpuslice/disks.env").write_text(
        (m.root / "etc/gpuslice/disks.env").read_text().replace(f"FS_LABEL={FS_LABEL}", "FS_LABEL=gpuslice-data")
    )
    r = m.run(SETUP)
    assert r.rc != 0 and "longer than the 12 characters XFS allows" in r.stderr
    assert r.mkfs() == [] and (m.root / "run/gpuslice/disk-failed").exists()


# ----------------------------------------------------------------------------------------------------------
# Loop devices: real mount, real mdadm


def _losetup(img: str) -> str:
    p = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        pytest.skip(f"no loop devices here (losetup: {p.stderr.strip()}); the sparse-file tests still ran")
    return p.stdout.strip()


@pytest.fixture
def loops(tmp_path: Path):
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("loop devices and mount need root (CI runs as root); the sparse-file tests still ran")
    made: list[str] = []
    mounted: list[Path] = []

    def make(size_gib: int) -> str:
        img = sparse(tmp_path, f"loop{len(made)}.img", size_gib)
        dev = _losetup(img)
        made.append(dev)
        return dev

    yield make, mounted
    for target in reversed(mounted):
        subprocess.run(["umount", "-R", str(target)], capture_output=True, check=False)
    for arr in ("/dev/md/gpuslice",):
        if Path(arr).exists():
            subprocess.run(["mdadm", "--stop", arr], capture_output=True, check=False)
    for dev in made:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


def test_data_volume_on_a_loop_device_is_really_mounted(tmp_path: Path, loops) -> None:
    make, mounted = loops
    dev = make(100)
    p = pool("al2023-data")
    plan = disk_plan(matrix(), p)
    assert plan is not None
    # The loop device under an NVMe name, as Nitro shows an EBS volume (the EBS name comes from the nvme stub).
    nvme = tmp_path / "nvme1n1"
    nvme.symlink_to(dev)
    m = disk_machine(tmp_path, [ROOT_DISK, ebs(str(nvme), 100, "/dev/xvdb")], plan)
    data_root = m.root / "mnt/gpuslice-data"
    mounted += [data_root, *(m.root / t.lstrip("/") for t in plan.targets)]
    m.install({"/var/lib/containerd/io.containerd.content.v1.content/blob": "layer"})
    env = real_env(*REAL, "mount", "findmnt")
    r = m.run(SETUP, env)
    if r.rc != 0 and "permission denied" in r.stderr.lower():
        pytest.skip(f"mount is not permitted in this container: {r.stderr.strip()[-200:]}")
    assert r.rc == 0, r.stderr
    src = subprocess.run(["findmnt", "-rno", "SOURCE", "--mountpoint", str(data_root)], capture_output=True, text=True)
    assert src.stdout.strip() == dev
    # containerd's existing content moved onto the volume, and the bind mount shows it
    assert (data_root / "var-lib-containerd/io.containerd.content.v1.content/blob").read_text() == "layer"
    assert (m.root / "var/lib/containerd/io.containerd.content.v1.content/blob").read_text() == "layer"
    assert probe(dev)["TYPE"] == "xfs"
    # Run again (the unit at the next boot, everything mounted): nothing changes.
    fstab = m.fstab()
    again = m.run(SETUP, env)
    assert again.rc == 0, again.stderr
    assert again.mkfs() == [] and again.called("mount") == []
    assert m.fstab() == fstab


def test_instance_store_raid0_with_the_real_mdadm(tmp_path: Path, loops) -> None:
    if not Path("/proc/mdstat").exists():
        pytest.skip("this kernel has no md driver (/proc/mdstat is missing): mdadm cannot build an array here")
    make, mounted = loops
    a, b = make(2), make(2)
    plan = disk_plan(matrix(), pool("u24-raid"))
    assert plan is not None
    m = disk_machine(tmp_path, [ROOT_DISK, store(a), store(b)], plan)
    mounted += [m.root / "mnt/gpuslice-data", *(m.root / t.lstrip("/") for t in plan.targets)]
    r = m.run(SETUP, real_env(*REAL, "mount", "findmnt", "mdadm"))
    assert r.rc == 0, r.stderr
    assert probe("/dev/md/gpuslice")["TYPE"] == "ext4"


# ----------------------------------------------------------------------------------------------------------
# systemd-analyze verify on every rendered unit and drop-in


def _write_unit_root(tmp: Path, files: dict[str, str]) -> Path:
    """A root folder with the host's systemd units (targets to order against), stand-ins for the units the
    drop-ins extend (containerd, kubelet, nodeadm-run), the rendered units, and executables they name."""
    root = tmp / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for exe in ("/usr/local/sbin/gpuslice-setup-disks", "/usr/bin/stand-in"):
        p = root / exe.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    for path, content in files.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def rendered_units(resolved, p: ResolvedPool) -> dict[str, str]:
    """path -> content of every systemd file the pool's user-data writes."""
    out: dict[str, str] = {}
    if bs.common.family_name(p) == "bottlerocket":
        return out  # TOML settings, no units
    for ctype, text in mime_parts(bs.user_data(resolved, p)):
        if ctype == "text/cloud-config":
            for path, content in decoded_write_files(yaml.safe_load(text)).items():
                if path.startswith("/etc/systemd/system/"):
                    out[path] = content
    return out


def systemd_verify(root: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [real_tool("systemd-analyze"), "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )


DISK_POOLS = [p.name for p in matrix().pools if rendered_units(matrix(), p)]


@pytest.mark.parametrize("pool_name", DISK_POOLS)
def test_systemd_analyze_verify_accepts_every_rendered_unit(tmp_path: Path, pool_name: str) -> None:
    r = matrix()
    p = pool(pool_name)
    units = rendered_units(r, p)
    plan = disk_plan(r, p)
    fam = family(p)
    assert plan is not None and fam is not None
    assert f"/etc/systemd/system/{DISK_UNIT}" in units
    assert set(guard_paths(plan, fam.join_units)) <= set(units)
    # stand-ins for the units the drop-ins extend
    bases = {}
    for path in units:
        if ".d/" in path:
            unit = path.split("/")[-2].removesuffix(".d")
            bases[f"/etc/systemd/system/{unit}"] = (
                "[Unit]\nDescription=stand-in\n[Service]\nExecStart=/usr/bin/stand-in\n"
            )
    root = _write_unit_root(tmp_path, {**bases, **units})
    names = [DISK_UNIT, *(path.rsplit("/", 1)[1] for path in bases)]
    res = systemd_verify(root, names)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr
    # The unit waits for the mount units of its own fstab lines (systemd's names for them).
    for unit in disk_mount_units(plan):
        assert unit in units[f"/etc/systemd/system/{DISK_UNIT}"].split("After=", 1)[1].splitlines()[0].split()
    escaped = subprocess.run(
        ["systemd-escape", "--path", "--suffix=mount", "/mnt/gpuslice-data"], capture_output=True, text=True
    )
    if escaped.returncode == 0:
        assert escaped.stdout.strip() == disk_mount_units(plan)[0]


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    r = matrix()
    units = rendered_units(r, pool("al2023-data"))
    broken = {k: v.replace("ConditionPathExists=", "ConditionPathExist=") for k, v in units.items()}
    assert guard_dropin().count("ConditionPathExists=") == 1
    bases = {
        "/etc/systemd/system/containerd.service": "[Service]\nExecStart=/usr/bin/stand-in\n",
    }
    root = _write_unit_root(tmp_path, {**bases, **broken})
    res = systemd_verify(root, [DISK_UNIT, "containerd.service"])
    assert "Unknown key" in res.stdout + res.stderr
