"""Configuration: sizes, tiers, and errors that name the bad key."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.castore import B3Digest, BadDigest
from fallthrough.config import ConfigError, default_settings, parse, parse_duration, parse_size


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


MINIMAL = """\
[server]
listen = "127.0.0.1:8080"
[store]
path = "/var/lib/fallthrough"        # the embedded default store (disk tier + index)
[[mount]]
url_prefix = "/file/christine-static"
origin = "https://f001.example.com/file/christine-static"   # or s3://bucket/prefix, file:///dir
"""


def test_the_minimal_server_config_parses_as_written() -> None:
    settings = parse(MINIMAL)
    assert (settings.server.host, settings.server.port, settings.server.workers) == ("127.0.0.1", 8080, 1)
    assert settings.store.path == "/var/lib/fallthrough"
    (mount,) = settings.mounts
    assert mount.url_prefix == "/file/christine-static"
    assert mount.origin == "https://f001.example.com/file/christine-static"
    assert mount.policy.default_ttl is None and mount.policy.honour_origin


def test_mount_policy_keys() -> None:
    settings = parse(MINIMAL + 'default_ttl = "1h"\nmax_ttl = "2d"\nstale_while_revalidate = 30\n'
                     'stale_if_error = "1h30m"\nnegative_ttl = "5s"\nhonour_origin_cache_control = false\n')
    policy = settings.mounts[0].policy
    assert (policy.default_ttl, policy.max_ttl, policy.stale_while_revalidate, policy.stale_if_error,
            policy.negative_ttl, policy.honour_origin) == (3600, 172800, 30, 5400, 5, False)


@given(st.integers(0, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]))
def test_durations(n: int, unit: tuple[str, int]) -> None:
    assert parse_duration(f"{n}{unit[0]}", "k") == n * unit[1]
    assert parse_duration(n, "k") == n


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[server]\nlisten = "8080"\n', "server.listen"),
        ('[server]\nlisten = "127.0.0.1:99999"\n', "server.listen"),
        ("[server]\nworkers = 0\n", "server.workers"),
        ('[server]\nadmin_token = "short"\n', "server.admin_token"),
        ('[server]\nport = 1\n', "server.port"),
        ('[[mount]]\norigin = "http://x"\n', "mount[0].url_prefix"),
        ('[[mount]]\nurl_prefix = "/a"\n', "mount[0].origin"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "ftp://x"\n', "mount[0].origin"),
        ('[[mount]]\nurl_prefix = "/a/../b"\norigin = "http://x"\n', "mount[0].url_prefix"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ndefault_ttl = "soon"\n', "mount[0].default_ttl"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\nendpoint = "http://y"\n', "mount[0]"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\n[[mount]]\nurl_prefix = "/a/"\norigin = "http://y"\n',
         "mount[1].url_prefix"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\nttl = 5\n', "mount[0].ttl"),
        ('[s3]\nlisten = "nine"\n', "s3.listen"),
        ('[server]\nlisten = "127.0.0.1:9000"\n[s3]\nlisten = "127.0.0.1:9000"\n', "s3.listen"),
        ('[s3]\n[[s3.credentials]]\naccess_key = "k"\nsecret_key = "longenough"\n', "s3.credentials[0].access_key"),
        ('[s3]\n[[s3.credentials]]\naccess_key = "key"\nsecret_key = "short"\n', "s3.credentials[0].secret_key"),
        ('[s3]\nregion = "Mars 1"\n', "s3.region"),
        ('[s3]\nsingle_put_max = "6GiB"\n', "s3.single_put_max"),
        ('[s3]\nsingle_put_max = "big"\n', "s3.single_put_max"),
        ('[s3]\nbuckets = 1\n', "s3.buckets"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_bucket = "a"\n', "mount[0].s3_bucket"),
        ('[s3]\n[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_bucket = "Bad_Name"\n', "mount[0].s3_bucket"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_bucket = "abc"\n', "needs an [s3] section"),
        ('[s3]\n[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_public = true\n', "mount[0].s3_public"),
        ('[s3]\n[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_bucket = "abc"\nwritable = true\n',
         "mount[0].writable"),
        ('[s3]\n[[mount]]\nurl_prefix = "/a"\norigin = "s3://x"\ns3_bucket = "abc"\nwritable = "yes"\n',
         "mount[0].writable"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "s3://x"\nmirror_to = "http://y"\n', "mount[0].mirror_to"),
        ('[[mount]]\nurl_prefix = "/a"\norigin = "s3://x"\nmirror_to = "s3://y"\nmirror_writes = true\n',
         "mount[0].mirror_writes"),
        ('[s3]\n[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\ns3_bucket = "abc"\n'
         '[[mount]]\nurl_prefix = "/b"\norigin = "http://y"\ns3_bucket = "abc"\n', "mount[1].s3_bucket"),
    ],
)
def test_bad_server_configs_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert key in str(caught.value)


def test_the_minimal_s3_config_works_as_written() -> None:
    settings = parse(
        '[s3]\nlisten = "127.0.0.1:9000"\n[[s3.credentials]]\naccess_key = "edgekey"\nsecret_key = "edgesecret"\n'
        '[[mount]]\nurl_prefix = "/assets"\norigin = "s3://origin-bucket"\n'
        's3_bucket = "assets"          # exposes this mount as the S3 bucket "assets"\n'
    )
    assert settings.s3 is not None and settings.s3.credentials == {"edgekey": "edgesecret"}
    assert (settings.s3.host, settings.s3.port, settings.mounts[0].s3_bucket) == ("127.0.0.1", 9000, "assets")
    assert settings.processes == 2  # the edge's worker and the S3 API's
    assert settings.s3.single_put_max == 5 * 1024**3
    assert parse('[s3]\nsingle_put_max = "64MiB"\n').s3.single_put_max == 64 * 1024**2  # type: ignore[union-attr]


def test_the_embedded_default_config_mounts_the_bundled_site() -> None:
    settings = default_settings()
    (mount,) = settings.mounts
    assert mount.url_prefix == "/" and mount.index == "index.html"
    assert os.path.isfile(os.path.join(mount.origin.removeprefix("file://"), "index.html"))


MOUNT = '[[mount]]\nurl_prefix = "/img"\norigin = "file:///srv/img"\n'
ROUTE = '[[image_route]]\nroute = "/s/{name}/{size}"\nsource = "/img/{name}.png"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[images]\nworkers = 0\n', "images.workers"),
        ('[images]\nqueue = -1\n', "images.queue"),
        ('[images]\nmax_pixels = "many"\n', "images.max_pixels"),
        ('[images]\nmax_source_bytes = "lots"\n', "images.max_source_bytes"),
        ('[images]\nsigning_key = "short"\n', "images.signing_key"),
        ('[images]\nthreads = 2\n', "images.threads"),
        (MOUNT + 'image_max_size = 100\n', "mount[0].image_max_size"),
        (MOUNT + 'image_transforms = "yes"\n', "mount[0].image_transforms"),
        (MOUNT + 'image_transforms = true\nimage_signed = true\n', "mount[0].image_signed"),
        (MOUNT + '[[image_route]]\nsource = "/img/x.png"\n', "image_route[0].route"),
        (MOUNT + '[[image_route]]\nroute = "/s/{name}"\nsource = "/img/{name}.png"\n', "image_route[0].route"),
        (MOUNT + '[[image_route]]\nroute = "/{name}/{size}"\nsource = "/img/{name}.png"\n', "image_route[0].route"),
        (MOUNT + '[[image_route]]\nroute = "/s/{size}"\nsource = "/img/{name}.png"\n', "image_route[0].route"),
        (MOUNT + '[[image_route]]\nroute = "/s/{name}/{size}"\nsource = "img/{name}.png"\n', "image_route[0].source"),
        (MOUNT + ROUTE + 'max_size = 0\n', "image_route[0].max_size"),
        (MOUNT + ROUTE + 'formats = ["bmp"]\n', "image_route[0].formats"),
        (MOUNT + ROUTE + 'fit = "squash"\n', "image_route[0].fit"),
        (MOUNT + ROUTE + 'signed = true\n', "image_route[0].signed"),
        (ROUTE, "image_route[0].source: no [[mount]] serves '/img/'"),
        (MOUNT + '[[image_route]]\nroute = "/img/{name}/{size}"\nsource = "/img/{name}.png"\n', "image_route[0]"),
        (MOUNT + '[[iiif]]\nurl_prefix = "/iiif/3"\nsource = "/img/x.png"\n', "iiif[0].source"),
        (MOUNT + '[[iiif]]\nurl_prefix = "iiif"\nsource = "/img/{identifier}.png"\n', "iiif[0].url_prefix"),
        (MOUNT + '[[iiif]]\nurl_prefix = "/iiif"\nsource = "/img/{identifier}.png"\nbase_url = "ftp://x"\n',
         "iiif[0].base_url"),
        (MOUNT + '[[iiif]]\nurl_prefix = "/iiif"\nsource = "/iiif/{identifier}.png"\n', "iiif[0].source"),
    ],
)
def test_bad_image_configs_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert key in str(caught.value)


def test_the_minimal_image_configs_work_as_written() -> None:
    settings = parse(
        '[[mount]]\nurl_prefix = "/file/christine-static"\norigin = "https://f001.example.com/file/christine-static"\n'
        '[[mount]]\nurl_prefix = "/img"\norigin = "file:///srv/img"\n'
        '[[image_route]]\n'
        'route = "/sticker/{character}/{mood}/{size}"\n'
        'source = "/file/christine-static/stickers/{character}/{mood}.png"   # a path under a mount\n'
        'max_size = 256\n'
        '[[iiif]]\nurl_prefix = "/iiif/3"\nsource = "/img/{identifier}.png"\n'
    )
    route, = settings.image_routes
    assert (route.max_size, route.fit, route.signed) == (256, "contain", False)
    assert settings.iiif[0].source == "/img/{identifier}.png"
    assert settings.images.max_pixels == 50_000_000


FLEET_STORE = """
[[store.tier]]
url = "file:///var/lib/fallthrough/castore"
max_bytes = "50GiB"

[[store.tier]]
url = "s3://fleet/castore"
shared = true
"""


def test_the_fleet_section_as_the_contract_writes_it() -> None:
    settings = parse('[fleet]\nnode = "toronto"\nredis = "redis://127.0.0.1:6379/0"\nlisten = "127.0.0.1:9400"\n'
                     + FLEET_STORE)
    fleet = settings.fleet
    assert fleet is not None and (fleet.node, fleet.redis, fleet.listen) == ("toronto", "redis://127.0.0.1:6379/0",
                                                                            "127.0.0.1:9400")
    assert fleet.peers == () and fleet.purge_poll == 5.0 and fleet.tap is True
    assert parse("").fleet is None


@pytest.mark.parametrize(("fleet", "named"), [
    ('node = "a b"\nredis = "redis://r:6379/0"\nlisten = "127.0.0.1:9400"', "fleet.node"),
    ('node = "a"\nredis = "http://r"\nlisten = "127.0.0.1:9400"', "fleet.redis"),
    ('node = "a"\nredis = "redis://r:6379/0"', "fleet.listen"),
    ('node = "a"\nredis = "redis://r:6379/0"\nlisten = "127.0.0.1:9400"\ntap = "yes"', "fleet.tap"),
    ('node = "a"\nredis = "redis://r:6379/0"\nlisten = "127.0.0.1:9400"\npurge_poll = "1h"', "fleet.purge_poll"),
    ('node = "a"\nredis = "redis://r:6379/0"\nlisten = "127.0.0.1:9400"\nrelay = true', "relay"),
])
def test_a_bad_fleet_key_is_named(fleet: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse(f"[fleet]\n{fleet}\n{FLEET_STORE}")


def test_a_fleet_needs_a_shared_tier() -> None:
    with pytest.raises(ConfigError, match="shared = true"):
        parse('[fleet]\nnode = "a"\nredis = "redis://r:6379/0"\nlisten = "127.0.0.1:9400"\n'
              '[[store.tier]]\nurl = "memory://"\n')
