"""The catalog: it loads, every entry names its source, references resolve, the facts agree with each other and
with the real GPU Operator charts in tests/fixtures/gpu-operator."""

from __future__ import annotations

import re
import typing

import pytest
import yaml

import gpuslice.catalog as catalog_mod
from gpuslice.catalog import load_catalog, version_tuple
from gpuslice.errors import CatalogError
from gpuslice.spec import OsId
from tests.helpers import CHARTS

CAT = load_catalog()
ORIGINAL_READ = catalog_mod._read


def test_catalog_loads_and_every_entry_has_a_source():
    groups = [CAT.gpu_models, CAT.instance_types, CAT.os_families, CAT.chart_versions]
    assert all(groups)
    for group in groups:
        for key, entry in group.items():
            assert len(entry.source.strip()) > 20, f"{key} has no real source note"
            assert "UNVERIFIED" not in entry.source.upper(), key
    assert CAT.disk_budget.source


def test_every_instance_type_names_a_known_gpu_model_and_consistent_memory():
    for it in CAT.instance_types.values():
        model = CAT.gpu(it.gpu_model)
        assert model is not None, it.name
        assert it.gpu_count >= 1
        if it.gpu_fraction is None:
            assert it.gpu_memory_gib == model.memory_gib, it.name
            # EC2 reports MiB; the advertised size is within 10% of it (GB vs GiB, reserved memory).
            assert it.gpu_memory_mib and 0.9 <= it.gpu_memory_gib / (it.gpu_memory_mib / 1024) <= 1.1, it.name
        else:
            num, den = (int(x) for x in it.gpu_fraction.split("/"))
            assert it.gpu_memory_gib == pytest.approx(model.memory_gib * num / den), it.name


def test_the_families_the_issue_asks_for_are_there_with_every_size():
    families = {it.family for it in CAT.instance_types.values()}
    wanted = {
        "g4dn",
        "g5",
        "g5g",
        "g6",
        "g6e",
        "gr6",
        "g6f",
        "p3",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6-b200",
    }
    assert wanted <= families, wanted - families
    sizes = {f: sorted(n for n, it in CAT.instance_types.items() if it.family == f) for f in ("g5", "g6", "g4dn")}
    assert len(sizes["g5"]) == 8 and len(sizes["g6"]) == 8 and len(sizes["g4dn"]) == 7
    assert CAT.instance("g5g.xlarge").arch == "arm64"
    assert CAT.instance("p5.48xlarge").gpu_count == 8 and CAT.instance("p5.48xlarge").gpu_model == "H100"
    assert CAT.instance("p3.2xlarge").instance_store_gib == 0
    assert CAT.instance("g6.xlarge").has_instance_store


def test_mps_limit_follows_the_device_plugin_rule():
    # k8s-device-plugin cmd/mps-control-daemon/mps/device.go: 48 if compute capability >= 7.5, else 16.
    for m in CAT.gpu_models.values():
        expected = 48 if version_tuple(m.compute_capability) >= (7, 5) else 16
        assert m.mps_max_clients == expected, m.id


def test_mig_profiles_are_well_formed_and_the_full_gpu_profile_matches_memory():
    for m in CAT.gpu_models.values():
        if not m.mig_profiles:
            continue
        sizes = []
        for p in m.mig_profiles:
            g = re.fullmatch(r"([1-7])g\.(\d+)gb([+-].*)?", p)
            assert g, f"{m.id}: {p}"
            sizes.append(int(g.group(2)))
        assert max(sizes) == m.memory_gib, m.id
        assert all("+" not in p for p in m.mig_resource_profiles())


def test_every_os_the_spec_allows_is_in_the_catalog():
    assert set(typing.get_args(OsId)) == set(CAT.os_families)


def test_chart_driver_images_follow_the_operators_tag_scheme():
    """The operator asks for <ID><VERSION_ID> (NFD os_release); rhel/rocky/ol use the major version only from v26.7.0,
    the full VERSION_ID (rhel9.4) before. Every tag listed per OS is published and fits that OS."""
    for ch in CAT.chart_versions.values():
        major_only = version_tuple(ch.version) >= (26, 7)
        for os_id, tags in ch.driver_images.items():
            o = CAT.os(os_id)
            assert o.driver_os_tag is None, "the tag is per chart version, not per OS"
            stem = f"{o.os_release_id}{o.os_release_version}"
            assert set(tags) <= set(ch.driver_os_tags), (ch.version, os_id)
            for tag in tags:
                if o.os_release_id in ("rhel", "rocky", "ol"):
                    assert tag == stem if major_only else tag.startswith(stem + "."), (ch.version, tag)
                else:
                    assert tag == stem, (ch.version, tag)
        lo, hi = ch.kubernetes_range("eks")
        assert version_tuple(lo) <= version_tuple(hi)


def test_chart_entry_refuses_an_unpublished_driver_tag():
    entry = CAT.chart("v25.3.4").model_dump()
    entry["driver_images"] = {**entry["driver_images"], "rhel-9": ("rhel9",)}
    with pytest.raises(ValueError, match="published"):
        type(CAT.chart("v25.3.4"))(**entry)


def test_ubuntu_2604_and_rocky_have_driver_images_only_from_v26_7_0():
    assert {"ubuntu-26.04", "rocky-9"} <= set(CAT.chart("v26.7.0").driver_os_families)
    assert not {"ubuntu-26.04", "rocky-9"} & set(CAT.chart("v25.3.4").driver_os_families)


@pytest.mark.parametrize("version", ["v26.7.0", "v25.3.4"])
def test_chart_entries_agree_with_the_real_chart(version):
    root = CHARTS / f"chart-{version}"
    assert root.is_dir(), f"chart fixture {root} missing"
    values = yaml.safe_load((root / "values.yaml").read_text())
    chart = yaml.safe_load((root / "Chart.yaml").read_text())
    entry = CAT.chart(version)
    assert entry is not None
    assert entry.device_plugin_version == values["devicePlugin"]["version"]
    assert entry.device_plugin_version == values["gfd"]["version"]
    assert entry.driver_version == values["driver"]["version"]
    assert entry.toolkit_version == values["toolkit"]["version"]
    nfd = next(d for d in chart["dependencies"] if d["name"] == "node-feature-discovery")
    assert entry.nfd_version.lstrip("v") == str(nfd["version"]).lstrip("v")


def test_default_chart_is_the_newest():
    newest = max(CAT.chart_versions, key=version_tuple)
    assert CAT.default_chart_version == newest


def _broken(monkeypatch, name, mutate):
    def fake(n):
        data = ORIGINAL_READ(n)
        return mutate(data) if n == name else data

    monkeypatch.setattr(catalog_mod, "_read", fake)
    load_catalog.cache_clear()


def test_a_broken_catalog_is_a_catalog_error(monkeypatch):
    def bad_model(d):
        d["instanceTypes"][0]["gpu_model"] = "NOPE"
        return d

    _broken(monkeypatch, "instance_types.yaml", bad_model)
    try:
        with pytest.raises(CatalogError, match="unknown GPU model NOPE"):
            load_catalog()
    finally:
        load_catalog.cache_clear()


def test_duplicates_and_bad_dates_are_rejected(monkeypatch):
    def dup(d):
        d["gpuModels"].append(dict(d["gpuModels"][0]))
        return d

    _broken(monkeypatch, "gpu_models.yaml", dup)
    try:
        with pytest.raises(CatalogError, match="twice"):
            load_catalog()
    finally:
        load_catalog.cache_clear()

    def bad_date(d):
        next(o for o in d["osFamilies"] if o["id"] == "al2")["end_of_life"] = "June 2026"
        return d

    _broken(monkeypatch, "os_families.yaml", bad_date)
    try:
        with pytest.raises(CatalogError, match="end_of_life"):
            load_catalog()
    finally:
        load_catalog.cache_clear()
