from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gpuslice import names

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
parts = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


def test_short_clean_names_are_kept():
    assert names.helm_release_name("prod-euw1") == "prod-euw1-gpu-operator"
    assert names.object_name("prod", "dp-config") == "prod-dp-config"


def test_long_names_are_truncated_with_stable_hash():
    dep = "a" * 60
    rel = names.helm_release_name(dep)
    assert len(rel) == 53 and rel == names.helm_release_name(dep)
    assert rel.endswith("-" + names.short_hash(f"{dep}-gpu-operator"))


def test_known_value_is_stable_across_machines():
    # SHA-256, not Python's salted hash(): this exact value must never change.
    assert names.short_hash("x") == "2d711642"
    assert names.dns_label("X_Y") == "x-y-" + names.short_hash("X_Y")


@settings(max_examples=300, deadline=None)
@given(st.lists(parts, min_size=1, max_size=4), st.integers(min_value=10, max_value=63))
def test_always_valid_and_within_limit(ps, max_len):
    n = names.dns_label(*ps, max_len=max_len)
    assert 0 < len(n) <= max_len
    assert DNS.match(n)
    assert n == names.dns_label(*ps, max_len=max_len)


@settings(max_examples=300, deadline=None)
@given(parts, parts)
def test_distinct_inputs_do_not_collide(a, b):
    if a != b and a and b:
        assert names.dns_label(a) != names.dns_label(b) or names.sanitize(a) == a == b


@settings(max_examples=200, deadline=None)
@given(parts)
def test_release_within_53(dep):
    assert len(names.helm_release_name(dep or "x")) <= 53
    assert len(names.nfd_fullname(dep or "x")) + len("-topology-updater") <= 63
