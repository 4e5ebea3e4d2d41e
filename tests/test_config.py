"""Configuration: sizes, tiers, and errors that name the bad key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.castore import B3Digest, BadDigest
from fallthrough.config import ConfigError, parse, parse_size


@given(st.integers(0, 2**50))
def test_plain_integers_are_bytes(n: int) -> None:
    assert parse_size(n, "k") == n
    assert parse_size(str(n), "k") == n


@given(st.integers(0, 4096), st.sampled_from(["KiB", "MiB", "GiB", "TiB"]))
def test_binary_units(n: int, unit: str) -> None:
    power = ["KiB", "MiB", "GiB", "TiB"].index(unit) + 1
    assert parse_size(f"{n}{unit}", "k") == n * 1024**power
    assert parse_size(f"{n} {unit.lower()}", "k") == n * 1024**power


@given(st.integers(0, 4096), st.sampled_from(["kB", "MB", "GB", "TB"]))
def test_decimal_units(n: int, unit: str) -> None:
    power = ["kB", "MB", "GB", "TB"].index(unit) + 1
    assert parse_size(f"{n}{unit}", "k") == n * 1000**power


@given(st.text().filter(lambda t: not t.strip().isdigit()))
def test_bad_sizes_are_config_errors(text: str) -> None:
    try:
        parse_size(text, "store.tier[0].max_bytes")
    except ConfigError as exc:
        assert "store.tier[0].max_bytes" in str(exc)


def test_tiers_parse() -> None:
    settings = parse(
        """
[store]
write = "back"
[[store.tier]]
url = "memory://"
max_bytes = "64MiB"
[[store.tier]]
url = "s3://bucket/prefix"
endpoint = "http://127.0.0.1:8333"
region = "us-east-1"
"""
    )
    near, far = settings.store.tier_specs()
    assert near.url == "memory://" and near.max_bytes == 64 * 1024**2
    assert far.options == {"endpoint": "http://127.0.0.1:8333", "region": "us-east-1"}
    assert settings.store.write == "back"


def test_default_tier_is_a_disk_tier_under_path() -> None:
    (spec,) = parse('[store]\npath = "/srv/ft"\n').store.tier_specs()
    assert spec.url == "file:///srv/ft/castore"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[store]\nwrite = 'sideways'\n", "store.write"),
        ("[store]\ncompression_level = 40\n", "store.compression_level"),
        ("[store]\ncolour = 'blue'\n", "store.colour"),
        ("[store]\n[[store.tier]]\nmax_bytes = 5\n", "store.tier[0].url"),
        ("[store]\n[[store.tier]]\nurl = 'memory://'\nbucket_key = 1\n", "store.tier[0].bucket_key"),
        ("[stroe]\n", "stroe"),
        ("[store\n", "not valid TOML"),
        ("store = 5\n", "store: expected a table"),
    ],
)
def test_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse(text, "test.toml")


@given(st.text(max_size=80))
def test_digest_parser_accepts_only_64_hex(text: str) -> None:
    try:
        digest = B3Digest.from_hex(text)
    except BadDigest as exc:
        assert repr(text) in str(exc)
    else:
        assert str(digest) == text.strip().lower().removeprefix("b3:")


@given(st.binary(min_size=32, max_size=32))
def test_digest_hex_roundtrip(raw: bytes) -> None:
    assert B3Digest.from_hex(str(B3Digest(raw))) == raw
