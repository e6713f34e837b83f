"""Shared bits of the node bootstrap renderers: family data, the disk plan, shell/env/systemd snippets, MIME.

Everything here is a pure function of the resolved spec (no I/O except reading package data).
"""

from __future__ import annotations

import base64
import functools
import gzip
import ipaddress
import re
import shlex
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from gpuslice.catalog import BootstrapFamilyData, load_catalog
from gpuslice.resolve import ResolvedPool, ResolvedSpec
from gpuslice.spec import Taint

MIME_BOUNDARY = "==GPUSLICE-USER-DATA=="

# Paths on the node.
ETC_DIR = "/etc/gpuslice"
DISKS_ENV = f"{ETC_DIR}/disks.env"
NODE_ENV = f"{ETC_DIR}/node.env"
SETUP_DISKS_BIN = "/usr/local/sbin/gpuslice-setup-disks"
NODE_SETUP_BIN = "/usr/local/sbin/gpuslice-node-setup"
DISK_UNIT = "gpuslice-disks.service"
DISK_UNIT_PATH = f"/etc/systemd/system/{DISK_UNIT}"
DATA_ROOT = "/mnt/gpuslice-data"
FAILED_FLAG = "/run/gpuslice/disk-failed"
RESOLVED_DROPIN = "/etc/systemd/resolved.conf.d/90-gpuslice.conf"
KUBELET_DIR = "/var/lib/kubelet"
#: The data filesystem's label: at most 12 characters, XFS's limit (mkfs.xfs refuses a longer label; ext4 allows 16).
FS_LABEL = "gpuslice"
XFS_LABEL_MAX = 12


#: A bootstrap family's data (filesystem, units, SSM agent): the catalog's ``bootstrapFamilies`` entry.
Family = BootstrapFamilyData


@cache
def script(name: str) -> str:
    """The text of a packaged shell script (``scripts/<name>``)."""
    return resources.files("gpuslice.render.bootstrap").joinpath("scripts", name).read_text("utf-8")


def family_name(pool: ResolvedPool) -> str | None:
    return pool.join_method


def family(pool: ResolvedPool) -> Family | None:
    """The catalog's data for the pool's bootstrap family (None: generic or unknown OS)."""
    name = family_name(pool)
    return load_catalog().bootstrap_family(name) if name else None


# ----------------------------------------------------------------------------------------------------------
# The disk plan


@dataclass(frozen=True)
class DiskPlan:
    mode: Literal["ebs", "instance-store"]
    device_name: str | None  # requested EBS device name (ebs mode)
    size_gib: int | None  # EBS size (ebs mode; used for the size fallback)
    fs_type: str
    targets: tuple[str, ...]  # directories that must live on the data disk
    services: tuple[str, ...]  # units stopped/guarded while moving data


def disk_plan(resolved: ResolvedSpec, pool: ResolvedPool) -> DiskPlan | None:
    """What the node must do with its disks, or None when containerd stays on the root volume."""
    fam = family(pool)
    disks = pool.spec.disks
    fs_type = fam.fs_type if fam else "ext4"
    services = fam.services if fam else ()
    containerd_root = pool.os.containerd_root if pool.os else "/var/lib/containerd"
    if disks.instance_store == "raid0":
        # Only containerd's state goes on the instance store. The array is wiped on every stop/start, and on the
        # families that join with /etc/eks/bootstrap.sh the kubelet's kubeconfig and CA live under /var/lib/kubelet
        # and are written once, by the first boot's user-data: on the array they would be gone after a stop/start
        # and the node would stay NotReady. (nodeadm and Bottlerocket regenerate them at every boot and bind the
        # kubelet dir themselves.)
        return DiskPlan("instance-store", None, None, fs_type, (containerd_root,), services)
    if disks.data is not None:
        targets = [disks.data.mount_path.rstrip("/") or "/"]
        if disks.data.kubelet_dir and KUBELET_DIR not in targets:
            targets.append(KUBELET_DIR)
        return DiskPlan("ebs", disks.data.device_name, disks.data.size_gib, fs_type, tuple(targets), services)
    return None


# ----------------------------------------------------------------------------------------------------------
# Labels and taints as kubelet flags


def label_flag(labels: dict[str, str]) -> str:
    return "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def taint_string(t: Taint) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


def taints_flag(taints: tuple[Taint, ...]) -> str | None:
    return "--register-with-taints=" + ",".join(taint_string(t) for t in taints) if taints else None


# ----------------------------------------------------------------------------------------------------------
# Text snippets


def env_file(values: dict[str, str | int | list[str]], header: str) -> str:
    """A bash-sourceable settings file; lists become bash arrays."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key, value in values.items():
        if isinstance(value, list):
            lines.append(f"{key}=(" + " ".join(shlex.quote(v) for v in value) + ")")
        else:
            lines.append(f"{key}={shlex.quote(str(value))}")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=256)  # the same few texts for every pool and every user-data variant
def disks_env(plan: DiskPlan) -> str:
    values: dict[str, str | int | list[str]] = {"GPUSLICE_DISK_MODE": plan.mode}
    if plan.mode == "ebs":
        values["GPUSLICE_DEVICE_NAME"] = plan.device_name or ""
        values["GPUSLICE_SIZE_GIB"] = plan.size_gib or 0
    values.update(
        {
            "GPUSLICE_FS_TYPE": plan.fs_type,
            "GPUSLICE_FS_LABEL": FS_LABEL,
            "GPUSLICE_DATA_ROOT": DATA_ROOT,
            "GPUSLICE_TARGETS": " ".join(plan.targets),
            "GPUSLICE_SERVICES": " ".join(plan.services),
        }
    )
    return env_file(values, "gpuslice: data disk settings for gpuslice-setup-disks (rendered; edit the spec instead)")


@functools.lru_cache(maxsize=256)  # the same few texts for every pool and every user-data variant
def mount_unit_name(path: str) -> str:
    """The systemd mount unit for a path (``systemd-escape --path --suffix=mount``): /mnt/a-b -> mnt-a\\x2db.mount."""
    p = path.strip("/")
    if not p:
        return "-.mount"
    out = []
    for i, ch in enumerate(p):
        if ch == "/":
            out.append("-")
        elif (ch.isascii() and ch.isalnum()) or ch in ":_" or (ch == "." and i > 0):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out) + ".mount"


def disk_mount_units(plan: DiskPlan) -> list[str]:
    """The mount units systemd generates from the fstab lines setup-disks writes (data root, then each target)."""
    return [mount_unit_name(DATA_ROOT), *(mount_unit_name(t) for t in plan.targets)]


@functools.lru_cache(maxsize=256)  # the same few texts for every pool and every user-data variant
def disk_unit(plan: DiskPlan, join_units: tuple[str, ...]) -> str:
    before = " ".join([*plan.services, *join_units])
    # The fstab lines are `nofail`, so local-fs.target does not wait for them and systemd could mount them while
    # the script runs (EBUSY). Ordered after their mount units (After= only: a missing disk must still reach the
    # script, which records the failure the guards check).
    after = " ".join(["local-fs.target", *disk_mount_units(plan)])
    return (
        "[Unit]\n"
        "Description=gpuslice: mount the data disk where containerd and kubelet write\n"
        f"After={after}\n"
        f"Before={before}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart={SETUP_DISKS_BIN}\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def guard_dropin() -> str:
    """Drop-in for every unit that must not start while the data disk is broken."""
    return (
        "[Unit]\n"
        "# gpuslice: do not start (or join the cluster) while the data disk is broken; see gpuslice-disks.service\n"
        f"ConditionPathExists=!{FAILED_FLAG}\n"
        f"After={DISK_UNIT}\n"
    )


def guard_paths(plan: DiskPlan, join_units: tuple[str, ...]) -> list[str]:
    return [f"/etc/systemd/system/{u}.d/10-gpuslice-disks.conf" for u in (*plan.services, *join_units)]


RESOLVED_NO_STUB = (
    "# gpuslice: a DNS server with hostNetwork binds port 53 on this node; systemd-resolved must not hold it\n"
    "[Resolve]\n"
    "DNSStubListener=no\n"
)


@functools.lru_cache(maxsize=512)
def gz_b64(text: str) -> str:
    """Deterministic gzip + base64 (mtime 0), as cloud-init's write_files ``encoding: gz+b64`` expects.

    Cached: every pool embeds the same scripts, and compressing them again per pool and per variant (node group,
    launch template, Karpenter) was a third of a 300-pool plan."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def write_file(path: str, content: str, permissions: str = "0644", compress: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "owner": "root:root", "permissions": permissions}
    if compress:
        entry["encoding"] = "gz+b64"
        entry["content"] = gz_b64(content)
    else:
        entry["content"] = content
    return entry


def cloud_config(write_files: list[dict[str, Any]]) -> str:
    """A ``#cloud-config`` document that writes these ``write_files`` entries.

    Each entry's YAML is cached by its content: the node scripts (gzip + base64, ~9 KB) are the same in every pool,
    and a pool's bootstrap files, launch template and CDK user-data repeat its other entries; emitting them again
    per pool and per use was a fifth of a 300-pool plan's renderers. YAML writes the items of a block sequence
    independently of each other, so the joined items are the text of the whole document dumped at once
    (tests/test_bootstrap_mime.py compares the two for every rendered user-data)."""
    from gpuslice.yamlio import dump_yaml

    if not write_files:
        return "#cloud-config\n" + dump_yaml({"write_files": []})
    return "#cloud-config\nwrite_files:\n" + "".join(_write_file_yaml(tuple(e.items())) for e in write_files)


@functools.lru_cache(maxsize=4096)
def _write_file_yaml(entry: tuple[tuple[str, str], ...]) -> str:
    """One ``write_files`` item as YAML (``- path: ...``)."""
    from gpuslice.yamlio import dump_yaml

    return dump_yaml([dict(entry)])


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def mime_multipart(parts: list[tuple[str, str, str]]) -> str:
    """MIME multi-part user-data from (content type, filename, text) parts; 7bit text, fixed boundary.

    Written out directly: exactly what the standard library's ``email.mime`` classes make of the same parts
    (``MIMEMultipart("mixed", boundary=...)`` with one ``MIMENonMultipart`` per part, text parts with
    ``charset="us-ascii"``, ``Message.as_string()``) for the plain ASCII content types and file names gpuslice
    passes, which tests/test_bootstrap_mime.py checks; the email package's generic header folding took a quarter
    of the bootstrap renderers' time on large specs.
    """
    head = f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\nMIME-Version: 1.0\n\n'
    bodies = []
    for ctype, filename, text in parts:
        if ctype.startswith("text/"):
            # set_param("charset") moves Content-Type after MIME-Version
            headers = f'MIME-Version: 1.0\nContent-Type: {ctype}; charset="us-ascii"\n'
        else:
            headers = f"Content-Type: {ctype}\nMIME-Version: 1.0\n"
        headers += f'Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="{filename}"\n\n'
        if "\r" in text:
            text = _LINE_BREAK.sub("\n", text)  # the generator writes every line break as \n
        bodies.append(headers + text)
    delimiter = f"--{MIME_BOUNDARY}\n"
    return head + delimiter + ("\n" + delimiter).join(bodies) + f"\n--{MIME_BOUNDARY}--\n"


@dataclass(frozen=True)
class ClusterConnection:
    """How a node reaches the control plane. Optional: without it, EKS managed node groups and Karpenter merge
    their own cluster details, and /etc/eks/bootstrap.sh looks them up with DescribeCluster."""

    endpoint: str | None = None
    certificate_authority: str | None = None  # base64 PEM bundle, as DescribeCluster returns it
    service_cidr: str | None = None
    dns_cluster_ip: str | None = None


def cluster_dns_ip(conn: ClusterConnection | None) -> str | None:
    """The cluster DNS service IP the node's kubelet must use: given, or the 10th address of the service CIDR.

    EKS puts kube-dns at ``<service CIDR>.10`` (``bootstrap.sh`` derives it the same way from DescribeCluster). A
    node told the endpoint and CA skips DescribeCluster and otherwise guesses 10.100.0.10 / 172.20.0.10 from the
    VPC range, which is wrong for a cluster with its own service CIDR.
    """
    if conn is None:
        return None
    if conn.dns_cluster_ip:
        return conn.dns_cluster_ip
    if conn.service_cidr:
        net = ipaddress.ip_network(conn.service_cidr, strict=False)
        if net.version == 4 and net.num_addresses > 10:
            return str(net.network_address + 10)
    return None


def node_files(plan: DiskPlan | None, fam: Family, pool: ResolvedPool, node_env_text: str) -> list[dict[str, Any]]:
    """cloud-init write_files entries that install gpuslice-node-setup (and the disk pieces when needed)."""
    entries = [
        write_file(NODE_ENV, node_env_text),
        write_file(NODE_SETUP_BIN, script("node-setup.sh"), "0755", compress=True),
    ]
    if plan is not None:
        entries += [
            write_file(DISKS_ENV, disks_env(plan)),
            write_file(SETUP_DISKS_BIN, script("setup-disks.sh"), "0755", compress=True),
            write_file(DISK_UNIT_PATH, disk_unit(plan, fam.join_units)),
        ]
        entries += [write_file(p, guard_dropin()) for p in guard_paths(plan, fam.join_units)]
    if pool.spec.host_network_dns:
        entries.append(write_file(RESOLVED_DROPIN, RESOLVED_NO_STUB))
    return entries


def install_commands(entries: list[dict[str, Any]]) -> list[str]:
    """The same files as shell commands (for eksctl's preBootstrapCommands, which take commands, not files)."""
    cmds = []
    for e in entries:
        path = e["path"]
        data = e["content"] if e.get("encoding") == "gz+b64" else gz_b64(e["content"])
        cmds.append(
            f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])} && echo {data} | base64 -d | gunzip > {shlex.quote(path)}"
            f" && chmod {e['permissions']} {shlex.quote(path)}"
        )
    return cmds


def node_setup_part() -> tuple[str, str, str]:
    text = (
        "#!/bin/bash\n"
        "# gpuslice: data disk, DNS and SSM, then join; settings in /etc/gpuslice/node.env\n"
        f"exec {NODE_SETUP_BIN}\n"
    )
    return ("text/x-shellscript", "gpuslice-node-setup.sh", text)


def node_env(
    resolved: ResolvedSpec,
    pool: ResolvedPool,
    fam: Family,
    plan: DiskPlan | None,
    conn: ClusterConnection | None,
    *,
    join: bool,
    extra_taints: tuple[Taint, ...] = (),
) -> str:
    """``extra_taints``: registered in addition to the pool's (e.g. Karpenter's ``karpenter.sh/unregistered``)."""
    args = [label_flag(pool.node_labels)]
    tf = taints_flag((*extra_taints, *pool.spec.taints))
    if tf:
        args.append(tf)
    resolv = pool.kubelet_resolv_conf
    if resolv:
        args.append(f"--resolv-conf={resolv}")
    extra: list[str] = []
    # Only bootstrap.sh reads these (the CA alone is ~1.5 KB of the 16 KB user-data limit): none when not joining.
    if conn is not None and join:
        if conn.endpoint:
            extra += ["--apiserver-endpoint", conn.endpoint]
        if conn.certificate_authority:
            extra += ["--b64-cluster-ca", conn.certificate_authority]
        dns_ip = cluster_dns_ip(conn)
        if dns_ip:
            extra += ["--dns-cluster-ip", dns_ip]
    ssm = fam.ssm_agent if pool.spec.ssm else "off"
    values: dict[str, str | int | list[str]] = {
        "GPUSLICE_CLUSTER_NAME": resolved.spec.cluster.name,
        "GPUSLICE_KUBELET_EXTRA_ARGS": " ".join(args),
        "GPUSLICE_BOOTSTRAP_EXTRA_ARGS": extra,
        "GPUSLICE_DISKS": 1 if plan is not None else 0,
        "GPUSLICE_HOST_NETWORK_DNS": 1 if pool.spec.host_network_dns else 0,
        "GPUSLICE_SSM": ssm if ssm in ("snap", "preinstalled") else "off",
        "GPUSLICE_JOIN": 1 if join else 0,
    }
    return env_file(values, f"gpuslice: node settings for pool {pool.name} (rendered; edit the spec instead)")
