"""Every OS id the spec allows has, in the catalog, everything each renderer and check needs; derived values are
computed once on the resolved pool, so a catalog change reaches checks and renderers alike."""

from __future__ import annotations

import typing

import pytest

from gpuslice.catalog import GENERIC_BOOTSTRAP, load_catalog
from gpuslice.catalog import _check_references as check_references
from gpuslice.checks import run_checks
from gpuslice.errors import CatalogError
from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups
from gpuslice.resolve import resolve
from gpuslice.spec import OsId, parse_spec_text

SPEC = """\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {{name: cat, deploymentId: cat-1, kubernetesVersion: "{k8s}", region: us-east-1}}
nodePools:
  - name: p
    instanceType: {it}
    os: {os}
    sharing: {{strategy: time-slicing, replicas: 2}}
"""


def _resolved(os_id: str, it: str = "g5.2xlarge", k8s: str = "1.31", catalog=None):
    return resolve(parse_spec_text(SPEC.format(os=os_id, it=it, k8s=k8s), "cat.yaml"), catalog)


@pytest.mark.parametrize("os_id", typing.get_args(OsId))
def test_every_spec_os_has_what_renderers_and_checks_need(os_id):
    cat = load_catalog()
    o = cat.os(os_id)
    assert o is not None, f"{os_id}: in spec.OsId but not in catalog/data/os_families.yaml"
    assert o.os_release_id and o.display and o.default_root_gib > 0  # NFD label check, doctor, disk budget
    if o.systemd_resolved_stub:
        assert o.kubelet_resolv_conf  # the DNS check and every kubelet config need the non-stub file
    if o.bootstrap == GENERIC_BOOTSTRAP:
        return
    # An EKS OS: a bootstrap family object and its data, the AMI for every arch it lists, node-group names.
    assert o.bootstrap in bs.FAMILIES and cat.bootstrap_family(o.bootstrap) is not None
    assert o.eks_ami is not None and o.root_device.startswith("/dev/")
    for arch, it in (("x86_64", "g5.2xlarge"), ("arm64", "g5g.2xlarge")):
        if arch not in o.eks_ami.mng_ami_type:
            continue
        r = _resolved(os_id, it, k8s="1.31")
        p = r.pools[0]
        assert p.arch == arch
        param = p.ami_ssm_parameter
        assert param and "{" not in param and "None" not in param and "1.31" in param
        nc = nodegroups.karpenter_nodeclass(r, p)["spec"]
        term = nc["amiSelectorTerms"][0]
        assert term.get("alias") or term.get("ssmParameter") == param, term
        assert nodegroups.eksctl_nodegroup(r, p)["amiFamily"] == o.eks_ami.eksctl_ami_family
        assert bs.user_data(r, p)


def test_every_catalog_os_is_reachable_from_the_spec():
    """An OS in the catalog but not in spec.OsId could never be chosen (and nothing would test it)."""
    assert set(load_catalog().os_families) == set(typing.get_args(OsId))


def test_the_os_data_volume_size_is_one_fact_for_the_check_and_the_launch_template():
    """Bottlerocket's default data volume: the disk check and the block device mappings read the same number."""
    cat = load_catalog()
    br = cat.os("bottlerocket-nvidia")
    assert br is not None and br.containerd_on_data_device
    small = cat.model_copy(
        update={"os_families": {**cat.os_families, br.id: br.model_copy(update={"default_data_gib": 10})}}
    )
    for c, size in ((cat, br.default_data_gib), (small, 10)):
        r = _resolved("bottlerocket-nvidia", catalog=c)
        p = r.pools[0]
        assert p.data_volume is not None and p.data_volume.os_owned and p.data_volume.size_gib == size
        assert bs.block_device_mappings(r, p)[-1] == {
            "DeviceName": br.data_device,
            "Ebs": {"VolumeSize": size, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True},
        }
        (too_small,) = [f for f in run_checks(r) if f.id == "disk-data-too-small"]  # workload images need more
        assert f"default {size} GiB): {size} GiB" in too_small.message


def test_kubelet_resolv_conf_is_derived_once_for_check_bootstrap_and_eksctl():
    r = _resolved("ubuntu-22.04")
    p = r.pools[0]
    assert p.kubelet_resolv_conf == "/run/systemd/resolve/resolv.conf"
    assert f"--resolv-conf={p.kubelet_resolv_conf}" in bs.bootstrap_files(r, p)["node.env"]
    assert nodegroups.eksctl_nodegroup(r, p)["kubeletExtraConfig"] == {"resolvConf": p.kubelet_resolv_conf}
    assert _resolved("al2023-nvidia").pools[0].kubelet_resolv_conf is None


def test_catalog_refuses_an_eks_os_without_its_ami_or_with_an_unknown_family():
    cat = load_catalog()
    u = cat.os("ubuntu-24.04")
    assert u is not None
    for broken, message in (
        (u.model_copy(update={"eks_ami": None}), "no eks_ami"),
        (u.model_copy(update={"bootstrap": "ubuntu-gke"}), "unknown bootstrap family 'ubuntu-gke'"),
    ):
        bad = cat.model_copy(update={"os_families": {**cat.os_families, u.id: broken}})
        with pytest.raises(CatalogError, match=message):
            check_references(bad)
