"""The user-data MIME writer and the cloud-config document, against the standard library and PyYAML directly.

``mime_multipart`` writes the multi-part text itself (the email package was slow on large specs); it must give
exactly the bytes the email package gives for the same parts, for every user-data gpuslice renders (every pool of
the examples and of the bootstrap matrix, in every variant: bootstrap files, launch template, Karpenter, a
self-managed node with a cluster connection) and for payloads the renderers do not make today (CR/CRLF line
breaks, no final newline, empty, non-ASCII, one part).
"""

from __future__ import annotations

import email
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart

import pytest
import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render.bootstrap.common import MIME_BOUNDARY, ClusterConnection, cloud_config, mime_multipart
from gpuslice.render.nodegroups import KARPENTER_UNREGISTERED_TAINT
from gpuslice.yamlio import dump_yaml
from tests.test_bootstrap import POOLS

CONNECTION = ClusterConnection(
    endpoint="https://ABC.gr7.us-east-1.eks.amazonaws.com",
    certificate_authority="LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
    service_cidr="172.20.0.0/16",
)


def email_package(parts: list[tuple[str, str, str]]) -> str:
    """The same user-data built with the standard library's email package (what gpuslice used before)."""
    msg = MIMEMultipart("mixed", boundary=MIME_BOUNDARY)
    for ctype, filename, text in parts:
        maintype, subtype = ctype.split("/", 1)
        part = MIMENonMultipart(maintype, subtype)
        if maintype == "text":
            part.set_param("charset", "us-ascii")
        part.set_payload(text)
        part["Content-Transfer-Encoding"] = "7bit"
        part["Content-Disposition"] = f'attachment; filename="{filename}"'
        msg.attach(part)
    return msg.as_string(unixfrom=False)


def parts_of(user_data: str) -> list[tuple[str, str, str]]:
    msg = email.message_from_string(user_data)
    assert msg.is_multipart()
    return [(p.get_content_type(), p.get_filename() or "", p.get_payload()) for p in msg.walk() if not p.is_multipart()]


def variants(r, p) -> dict[str, str]:
    """Every user-data the renderers make for the pool."""
    fam = bs.bootstrap_family(p)
    assert fam is not None
    out = {
        "bootstrap": bs.bootstrap_files(r, p)["user-data"],
        "eks-joins": bs.user_data(r, p, eks_joins=True),
        "connection": bs.user_data(r, p, CONNECTION),
    }
    for alias in (True, False):
        out[f"karpenter-alias-{alias}"] = fam.karpenter_user_data(
            r, p, alias=alias, unregistered_taint=KARPENTER_UNREGISTERED_TAINT
        )
    return out


MIME_POOLS = [(pid, r, p) for pid, r, p in POOLS if bs.supported(p) and bs.bootstrap_family(p).name != "bottlerocket"]


@pytest.mark.parametrize("pid,r,p", MIME_POOLS, ids=[x[0] for x in MIME_POOLS])
def test_rendered_user_data_is_what_the_email_package_writes(pid, r, p):
    for name, user_data in variants(r, p).items():
        parts = parts_of(user_data)
        assert len(parts) >= 1, name
        assert user_data == email_package(parts), f"{pid} {name}"


def test_the_matrix_covers_every_mime_family():
    assert {bs.bootstrap_family(p).name for _, _, p in MIME_POOLS} == {"ubuntu-eks", "al2-eks", "nodeadm"}


@pytest.mark.parametrize(
    "parts",
    [
        [("text/x-shellscript", "a.sh", "#!/bin/sh\necho one\n")],
        [("text/x-shellscript", "a.sh", "no final newline")],
        [("text/x-shellscript", "a.sh", "")],
        [("text/cloud-config", "c.yaml", "crlf\r\nlines\r\n"), ("text/x-shellscript", "b.sh", "cr\ronly\r")],
        [("text/cloud-config", "c.yaml", "non-ASCII: café ✓\n"), ("application/node.eks.aws", "n.yaml", "x: 1\n")],
        [("application/node.eks.aws", "n.yaml", "a\n\n\nb\n\n")],
        [("text/x-shellscript", "a.sh", "--==GPUSLICE-USER-DATA==\nlooks like a boundary\n")],
    ],
)
def test_edge_payloads_are_what_the_email_package_writes(parts):
    assert mime_multipart(parts) == email_package(parts)


@pytest.mark.parametrize("pid,r,p", MIME_POOLS, ids=[x[0] for x in MIME_POOLS])
def test_cloud_config_part_is_the_write_files_dumped_at_once(pid, r, p):
    """The cloud-config text (joined from per-entry YAML, cached by content) is PyYAML's dump of the whole
    document, in every variant; bootstrap/<pool>/cloud-config.yaml is byte for byte the part the node runs."""
    files = bs.bootstrap_files(r, p)
    seen = 0
    for name, user_data in variants(r, p).items():
        for ctype, _, text in parts_of(user_data):
            if ctype != "text/cloud-config":
                continue
            seen += 1
            entries = yaml.safe_load(text)["write_files"]
            assert text == "#cloud-config\n" + dump_yaml({"write_files": entries}), f"{pid} {name}"
            assert cloud_config(entries) == text
            if name == "bootstrap":
                assert files["cloud-config.yaml"] == text
    assert seen or "cloud-config.yaml" not in files


def test_cloud_config_cache_follows_the_content():
    r, p = next((r, p) for _, r, p in MIME_POOLS if "cloud-config.yaml" in bs.bootstrap_files(r, p))
    entries = yaml.safe_load(bs.bootstrap_files(r, p)["cloud-config.yaml"])["write_files"]
    before = cloud_config(entries)
    entries[0]["content"] += "changed\n"
    after = cloud_config(entries)
    assert after != before and after == "#cloud-config\n" + dump_yaml({"write_files": entries})
    assert cloud_config([]) == "#cloud-config\n" + dump_yaml({"write_files": []})
