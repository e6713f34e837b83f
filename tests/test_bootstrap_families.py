"""The bootstrap-family registry: every OS the catalog knows has a family object that renders its nodes."""

from __future__ import annotations

import pytest

from gpuslice.catalog import load_catalog
from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups
from gpuslice.resolve import resolve
from gpuslice.spec import parse_spec_text

SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {{name: fam, deploymentId: fam-1, kubernetesVersion: "1.31", region: us-east-1}}
nodePools:
  - name: p
    instanceType: g5.2xlarge
    os: {os}
    disks: {{rootGiB: 60, data: {{sizeGiB: 100, deviceName: /dev/sdf}}}}
    sharing: {{strategy: time-slicing, replicas: 2}}
"""


def _pool(os_id: str):
    r = resolve(parse_spec_text(SPEC.format(os=os_id), "fam.yaml"))
    return r, r.pools[0]


def test_registry_is_keyed_by_each_family_name():
    assert set(bs.FAMILIES) == {"ubuntu-eks", "al2-eks", "nodeadm", "bottlerocket"}
    for name, fam in bs.FAMILIES.items():
        assert fam.name == name and fam.available(), name


@pytest.mark.parametrize("os_id", sorted(load_catalog().os_families))
def test_every_catalog_os_has_a_family_or_is_generic(os_id):
    """An OS whose catalog entry names a bootstrap family gets user-data, files and node groups from that family;
    only ``generic`` OSes (no EKS bootstrap) get none, with a bootstrap-unsupported-os finding."""
    r, p = _pool(os_id)
    name = p.os.bootstrap
    fam = bs.bootstrap_family(p)
    if name == "generic":
        assert fam is None and bs.bootstrap_files(r, p) == {}
        assert [f.id for f in bs.render(r).findings] == ["bootstrap-unsupported-os"]
        return
    assert fam is bs.FAMILIES[name]
    files = bs.bootstrap_files(r, p)
    assert files["user-data"] == bs.user_data(r, p)
    mappings = bs.block_device_mappings(r, p)
    assert mappings[0]["Ebs"]["VolumeSize"] == 60
    # The data volume is the resolved pool's: Bottlerocket maps it on its own data device, others where the spec says.
    vol = p.data_volume
    assert mappings[-1]["DeviceName"] == vol.device_name and mappings[-1]["Ebs"]["VolumeSize"] == vol.size_gib == 100
    assert vol.device_name == (p.os.data_device if p.os.containerd_on_data_device else "/dev/sdf")
    ng = nodegroups.eksctl_nodegroup(r, p)
    assert ng["labels"] == dict(sorted(p.node_labels.items()))
    nc = nodegroups.karpenter_nodeclass(r, p)
    assert nc["spec"]["userData"]
