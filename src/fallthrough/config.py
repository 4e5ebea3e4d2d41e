"""TOML → typed settings, with errors that name the key and the problem.

    [server]
    listen = "127.0.0.1:8080"
    workers = 1
    admin_token = "…"                 # bearer token of /_fallthrough/ (or FALLTHROUGH_ADMIN_TOKEN)
    max_requests = 2048               # in flight per worker; past it 503 at once (and max_connections, backlog)

    [store]
    path = "/var/lib/fallthrough"     # home of the default disk tier and the index
    max_bytes = "10GiB"               # byte budget of the default disk tier
    memory_bytes = "64MiB"            # small bodies kept in memory for hits
    write = "through"                 # or "back": far tiers written in the background
    compression_level = 1             # zstd level for new chunks (1..19)

    [[store.tier]]                    # nearest first; without any, one file tier in path
    url = "memory://"
    max_bytes = "256MiB"

    [[store.tier]]
    url = "s3://bucket/prefix"
    endpoint = "http://127.0.0.1:8333"   # S3 options beside the url

    [[mount]]
    url_prefix = "/file/christine-static"
    origin = "https://f001.example.com/file/christine-static"   # or s3://bucket/prefix, file:///dir
    default_ttl = "1h"                # and max_ttl, stale_while_revalidate, stale_if_error, negative_ttl

The whole reference is docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from .cache.freshness import CachePolicy
from .castore import BlobStore, TierSpec, open_store, tier_scheme
from .castore.s3 import S3_OPTIONS
from .transforms.avatars.fetch import DefaultPolicy
from .transforms.routes import RouteTemplate


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the key."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: object, key: str) -> int:
    """Bytes from 1048576, "1MiB", "1 MB" or "1m" (k/M/G/T: 1000s; KiB/MiB/…: 1024s)."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a size such as '256MiB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{key}: a size cannot be negative")
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{key}: expected a size such as '256MiB', got {value!r}")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** _POWERS[unit.lower()])


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, key: str) -> float:
    """Seconds from 90, 1.5, "90s", "5m", "1h30m", "2d" or "1w"."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration such as '5m', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{key}: a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.isdigit():
            return float(text)
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _SECONDS[u.lower()] for n, u in parts)
    raise ConfigError(f"{key}: expected a duration such as '90s', '5m', '1h' or '2d', got {value!r}")


@dataclass(frozen=True)
class StoreSettings:
    path: str = "/var/lib/fallthrough"
    write: str = "through"
    compression_level: int = 1
    tiers: list[TierSpec] = field(default_factory=list)
    max_bytes: int | None = None
    memory_bytes: int = 64 * 1024 * 1024
    gc_grace: float = 60.0

    def tier_specs(self) -> list[TierSpec]:
        default = TierSpec("file://" + os.path.join(os.path.abspath(self.path), "castore"), self.max_bytes)
        return self.tiers or [default]

    def open(self) -> BlobStore:
        return open_store(self.tier_specs(), self.write, self.compression_level)  # type: ignore[arg-type]

    def open_for_node(self, processes: int, peers: tuple[str, ...] = ()) -> tuple[BlobStore, int | None]:
        """The store as a server process opens it, and the budget its housekeeper keeps.

        The farthest tier holds every blob the index references; when it is a local
        directory its budget is the node's to keep, across all processes, so no process
        wraps it in a budget of its own (cache/housekeeper.py). A budgeted directory
        nearer than that is a copy any process may evict from: each gets a share of it.
        Memory tiers are each process's own and keep their budget each. `peers`: other
        nodes' chunk services (HOST:PORT), read after this node's own tiers and before
        the shared one."""
        specs = self.tier_specs()
        if peers:
            at = len(specs) - 1 if specs[-1].shared else len(specs)
            specs = [*specs[:at], *(TierSpec(f"peer://{p}") for p in peers), *specs[at:]]
        record = specs[-1]
        budget = None
        if _is_directory(record.url):
            budget, specs = record.max_bytes, [*specs[:-1], replace(record, max_bytes=None)]
        specs = [replace(s, max_bytes=s.max_bytes // processes)
                 if i < len(specs) - 1 and s.max_bytes is not None and _is_directory(s.url) else s
                 for i, s in enumerate(specs)]
        return open_store(specs, self.write, self.compression_level), budget  # type: ignore[arg-type]


def _is_directory(url: str) -> bool:
    return tier_scheme(url) == "file"


class _Listener:
    """HOST:PORT split for the socket calls (`[::1]:80` gives `::1`)."""

    listen: str

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class ServerSettings(_Listener):
    listen: str = "127.0.0.1:8080"
    workers: int = 1
    admin_token: str | None = None
    backlog: int = 4096  # connections the kernel queues before the workers accept them
    max_connections: int | None = None  # per worker; unset: a share of the open-file limit (limits.py)
    max_requests: int | None = None  # in flight per worker, past which a request is answered 503
    tls_cert: str | None = None  # PEM certificate chain: the listener speaks HTTPS (and HTTP/2 by ALPN)
    tls_key: str | None = None  # its PEM private key

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


LOG_LEVELS = ("debug", "info", "warning", "error")
ACCESS_FORMATS = ("combined", "json")


@dataclass(frozen=True)
class LogSettings:
    """`[log]`: how much the node says, and the access log."""

    level: str = "warning"  # the node's own messages, on stderr
    access: bool = False  # a line per request
    format: str = "combined"  # the access log's: nginx's combined plus cache fields, or one JSON object a line
    file: str | None = None  # where the access log goes; None: stderr


@dataclass(frozen=True)
class MetricsSettings:
    """`[metrics]`: the Prometheus exposition of every process of the node."""

    enabled: bool = True  # counted in plain integers per worker, folded into the shared files once a second
    public: bool = False  # scrapes without the admin token
    listen: str | None = None  # HOST:PORT of a listener of its own; None: /_fallthrough/metrics on the edge

    @property
    def host(self) -> str:
        return (self.listen or "").rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int((self.listen or ":0").rsplit(":", 1)[1])


@dataclass(frozen=True)
class FleetSettings(_Listener):
    """`[fleet]`: this node's name in a fleet of nodes that share a bucket tier and
    coordinate through Redis (docs/fleet.md)."""

    node: str  # unique in the fleet
    redis: str  # redis://HOST:PORT/DB (rediss:// with TLS, unix:///path.sock)
    listen: str  # HOST:PORT of this node's chunk service (castore BlobService), for peers
    peers: tuple[str, ...] = ()  # HOST:PORT of other nodes' chunk services; beside those Redis tells
    # How often the purges' durable records in the shared tier are read when Redis cannot be.
    purge_poll: float = 5.0
    # Whether the followers of a fill read the lead's bytes as they arrive, through its
    # chunk service (fleet/taps.py); false: only its stored chunks, each checked first.
    tap: bool = True


@dataclass(frozen=True)
class MountSettings:
    """A URL prefix bound to an origin, with the cache policy for what it serves."""

    url_prefix: str
    origin: str
    policy: CachePolicy = field(default_factory=CachePolicy)
    index: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    options: dict[str, Any] = field(default_factory=dict)
    s3_bucket: str | None = None  # the S3 API serves this mount as a bucket of that name
    s3_public: bool = False  # anonymous S3 reads allowed
    writable: bool = False  # the S3 API's PutObject, DeleteObject and multipart uploads reach the origin
    mirror_to: str | None = None  # s3://bucket/prefix: what fills store is also written there
    mirror_writes: bool = False  # S3 API writes reach the mirror too
    image_transforms: bool = False  # ?w=&h=&fit=&format=&q= make resized variants
    image_max_size: int = 2048  # the largest width or height those may ask for
    image_signed: bool = False  # those need a signature (sig=) made with [images] signing_key
    avatar: AvatarSettings | None = None  # set for `origin = "generator:avatar"`: how avatars are drawn


AVATAR_ORIGIN = "generator:avatar"
# The classic defaults a mount may draw every avatar as (besides a portrait).
CLASSIC_AVATARS = ("mp", "identicon", "monsterid", "wavatar", "retro", "robohash", "blank")
AVATAR_RENDERERS = ("portrait", "txt2img", "diffusers", *CLASSIC_AVATARS)


@dataclass(frozen=True)
class AvatarSettings:
    """`[mount.avatar]`: what draws the avatars of a `generator:avatar` mount."""

    renderer: str = "portrait"  # one of AVATAR_RENDERERS
    url: str | None = None  # txt2img: the service's base URL
    model: str | None = None  # diffusers: a local directory the pipeline was saved to
    device: str = "cpu"  # diffusers: cpu, cuda or cuda:N
    steps: int = 20
    sampler: str = "Euler a"  # txt2img
    cfg_scale: float = 7.0
    master_size: int = 512  # the image the model draws; every size is made from it
    timeout: float = 120.0  # txt2img: one image
    concurrency: int = 2  # txt2img: images asked for at once
    default_hosts: tuple[str, ...] = ()  # hosts a d=URL may name ("img.example.com", "*.example.com", "*")


@dataclass(frozen=True)
class S3Settings(_Listener):
    """The S3 API's own listener; its buckets are the mounts that name an s3_bucket."""

    listen: str = "127.0.0.1:9000"
    credentials: dict[str, str] = field(default_factory=dict)  # access key → secret key
    region: str = "us-east-1"
    domain: str | None = None  # virtual-host style: BUCKET.domain
    # Writes of a known length up to this go to the origin as one PUT (ETag: the MD5).
    single_put_max: int = 5 * 1024**3


IMAGE_FORMATS = ("avif", "webp", "png", "jpeg", "gif")


@dataclass(frozen=True)
class ImageSettings:
    """The pool every image transform runs in, and the limits on its work."""

    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    queue: int = 16  # requests that may wait for a worker; more are answered 503
    max_pixels: int = 50_000_000  # source pixels, every frame counted
    max_source_bytes: int = 64 * 1024 * 1024
    max_width: int = 8192  # of any output
    max_height: int = 8192
    signing_key: str | None = None


@dataclass(frozen=True)
class ImageRouteSettings:
    route: str  # /sticker/{character}/{mood}/{size}
    source: str  # /file/christine-static/stickers/{character}/{mood}.png
    max_size: int = 1024
    formats: tuple[str, ...] = IMAGE_FORMATS
    fit: str = "contain"
    signed: bool = False

    @property
    def prefix(self) -> str:
        """The literal part of the route before its first placeholder: where it is mounted."""
        return RouteTemplate(self.route, self.source).prefix


@dataclass(frozen=True)
class IiifSettings:
    url_prefix: str  # /iiif/3
    source: str  # /img/{identifier}.png
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None
    base_url: str | None = None  # https://images.example.com/iiif/3; else from the Host header


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    mounts: list[MountSettings] = field(default_factory=list)
    s3: S3Settings | None = None
    images: ImageSettings = field(default_factory=ImageSettings)
    image_routes: list[ImageRouteSettings] = field(default_factory=list)
    iiif: list[IiifSettings] = field(default_factory=list)
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    fleet: FleetSettings | None = None

    @property
    def processes(self) -> int:
        """Server processes sharing the store: the edge's workers, and as many for S3."""
        return self.server.workers * (2 if self.s3 is not None else 1)


def has_transforms(settings: Settings) -> bool:
    return bool(settings.image_routes or settings.iiif
                or any(m.image_transforms or m.avatar is not None for m in settings.mounts))


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
    return value


def _unknown(table: dict[str, Any], known: set[str], key: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        name = f"{key}.{extra[0]}" if key else extra[0]
        raise ConfigError(f"{name}: unknown key (known: {', '.join(sorted(known))})")


def _tier(raw: object, key: str) -> TierSpec:
    table = _table(raw, key)
    _unknown(table, {"url", "max_bytes", "shared", "allow_http", *S3_OPTIONS}, key)
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{key}.url: required, a store URL such as 'file:///var/lib/fallthrough/castore'")
    max_bytes = parse_size(table["max_bytes"], f"{key}.max_bytes") if "max_bytes" in table else None
    shared = _bool(table, "shared", False, key)
    if shared and max_bytes is not None:
        raise ConfigError(f"{key}.max_bytes: a shared tier is the fleet's, not one node's to keep within a budget")
    if shared and tier_scheme(url) == "memory":
        raise ConfigError(f"{key}.shared: a memory tier is one process's own; share a bucket (s3://) or a directory")
    options = {k: v for k, v in table.items() if k not in ("url", "max_bytes", "shared")}
    return TierSpec(url, max_bytes, options, shared)


def _store(raw: object) -> StoreSettings:
    table = _table(raw, "store")
    _unknown(table, {"path", "write", "compression_level", "tier", "max_bytes", "memory_bytes", "gc_grace"}, "store")
    defaults = StoreSettings()
    path = table.get("path", defaults.path)
    if not isinstance(path, str) or not path:
        raise ConfigError("store.path: expected a directory path")
    write = table.get("write", defaults.write)
    if write not in ("through", "back"):
        raise ConfigError(f"store.write: expected 'through' or 'back', got {write!r}")
    level = table.get("compression_level", defaults.compression_level)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 19:
        raise ConfigError(f"store.compression_level: expected an integer from 1 to 19, got {level!r}")
    tiers_raw = table.get("tier", [])
    if not isinstance(tiers_raw, list):
        raise ConfigError("store.tier: expected an array of tables ([[store.tier]])")
    tiers = [_tier(t, f"store.tier[{i}]") for i, t in enumerate(tiers_raw)]
    shared = [i for i, t in enumerate(tiers) if t.shared]
    if shared and shared != [len(tiers) - 1]:
        raise ConfigError(f"store.tier[{shared[0]}].shared: one tier may be shared, the last (the farthest)")
    max_bytes = parse_size(table["max_bytes"], "store.max_bytes") if "max_bytes" in table else None
    if max_bytes is not None and tiers:
        raise ConfigError("store.max_bytes: applies to the default disk tier; with [[store.tier]] give each tier its own max_bytes")
    memory = parse_size(table.get("memory_bytes", defaults.memory_bytes), "store.memory_bytes")
    gc_grace = parse_duration(table.get("gc_grace", defaults.gc_grace), "store.gc_grace")
    return StoreSettings(path, write, level, tiers, max_bytes, memory, gc_grace)


def _listen(value: object, key: str = "server.listen") -> str:
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value) if isinstance(value, str) else None
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ConfigError(f"{key}: expected HOST:PORT such as '127.0.0.1:8080', got {value!r}")
    return value  # type: ignore[return-value]


def _s3(raw: object) -> S3Settings:
    table = _table(raw, "s3")
    _unknown(table, {"listen", "credentials", "region", "domain", "single_put_max"}, "s3")
    listen = _listen(table.get("listen", S3Settings.listen), "s3.listen")
    raw_credentials = table.get("credentials", [])
    if not isinstance(raw_credentials, list):
        raise ConfigError("s3.credentials: expected an array of tables ([[s3.credentials]])")
    credentials: dict[str, str] = {}
    for i, item in enumerate(raw_credentials):
        key = f"s3.credentials[{i}]"
        entry = _table(item, key)
        _unknown(entry, {"access_key", "secret_key"}, key)
        access, secret = entry.get("access_key"), entry.get("secret_key")
        if not isinstance(access, str) or not re.fullmatch(r"[A-Za-z0-9._-]{3,128}", access):
            raise ConfigError(f"{key}.access_key: expected 3 to 128 letters, digits, '.', '_' or '-'")
        if not isinstance(secret, str) or len(secret) < 8 or not secret.isprintable():
            raise ConfigError(f"{key}.secret_key: expected a printable string of at least 8 characters")
        if access in credentials:
            raise ConfigError(f"{key}.access_key: {access!r} is given twice")
        credentials[access] = secret
    region = table.get("region", S3Settings.region)
    if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]{1,32}", region):
        raise ConfigError(f"s3.region: expected a region name such as 'us-east-1', got {region!r}")
    domain = table.get("domain")
    if domain is not None and (not isinstance(domain, str) or not re.fullmatch(r"[a-z0-9.-]+", domain)):
        raise ConfigError(f"s3.domain: expected a host name such as 's3.example.com', got {domain!r}")
    single = parse_size(table.get("single_put_max", S3Settings.single_put_max), "s3.single_put_max")
    if single > S3Settings.single_put_max:
        raise ConfigError("s3.single_put_max: at most 5GiB, the largest object S3 takes in one PUT")
    return S3Settings(listen, credentials, region, domain, single)


_BUCKET_NAME = re.compile(r"(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _server(raw: object) -> ServerSettings:
    table = _table(raw, "server")
    _unknown(table, {"listen", "workers", "admin_token", "backlog", "max_connections", "max_requests", "tls_cert",
                     "tls_key"}, "server")
    listen = _listen(table.get("listen", ServerSettings.listen))
    workers = table.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ConfigError(f"server.workers: expected an integer from 1 to 256, got {workers!r}")
    token = table.get("admin_token", os.environ.get("FALLTHROUGH_ADMIN_TOKEN"))
    if token is not None and (not isinstance(token, str) or len(token) < 16 or not token.isprintable()):
        raise ConfigError("server.admin_token: expected a printable string of at least 16 characters")
    backlog = _integer(table, "backlog", ServerSettings.backlog, 128, 65535, "server")
    tls = {name: _readable_file(table, name) for name in ("tls_cert", "tls_key")}
    if (tls["tls_cert"] is None) != (tls["tls_key"] is None):
        raise ConfigError("server.tls_cert, server.tls_key: give both (a PEM certificate and its key) or neither")
    return ServerSettings(listen, workers, token, backlog,  # type: ignore[arg-type]
                          _integer(table, "max_connections", None, 1, 10_000_000, "server"),
                          _integer(table, "max_requests", None, 1, 10_000_000, "server"), **tls)


def _log(raw: object) -> LogSettings:
    table = _table(raw, "log")
    _unknown(table, {"level", "access", "format", "file"}, "log")
    level = table.get("level", LogSettings.level)
    if level not in LOG_LEVELS:
        raise ConfigError(f"log.level: expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    form = table.get("format", LogSettings.format)
    if form not in ACCESS_FORMATS:
        raise ConfigError(f"log.format: expected one of {', '.join(ACCESS_FORMATS)}, got {form!r}")
    path = table.get("file")
    if path is not None:
        if not isinstance(path, str) or not path or path.endswith("/"):
            raise ConfigError(f"log.file: expected the path of a file, got {path!r}")
        path = os.path.abspath(path)  # opened (its folder made) by the start's checks
    return LogSettings(level, _bool(table, "access", False, "log"), form, path)


def _metrics(raw: object) -> MetricsSettings:
    table = _table(raw, "metrics")
    _unknown(table, {"enabled", "public", "listen"}, "metrics")
    listen = _listen(table["listen"], "metrics.listen") if "listen" in table else None
    return MetricsSettings(_bool(table, "enabled", True, "metrics"), _bool(table, "public", False, "metrics"), listen)


NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _fleet(raw: object) -> FleetSettings:
    table = _table(raw, "fleet")
    _unknown(table, {"node", "redis", "listen", "peers", "purge_poll", "tap"}, "fleet")
    node = table.get("node")
    if not isinstance(node, str) or NODE_NAME.fullmatch(node) is None:
        raise ConfigError(f"fleet.node: required, this node's name in the fleet (letters, digits, '.', '_', '-'; "
                          f"at most 63), got {node!r}")
    redis = table.get("redis")
    if not isinstance(redis, str) or not re.fullmatch(r"(rediss?://[^\s/]+(/\d+)?|unix:///\S+)", redis):
        raise ConfigError(f"fleet.redis: required, a Redis URL such as 'redis://127.0.0.1:6379/0', got {redis!r}")
    if "listen" not in table:
        raise ConfigError("fleet.listen: required, HOST:PORT of this node's chunk service for its peers")
    listen = _listen(table["listen"], "fleet.listen")
    peers = table.get("peers", [])
    if not isinstance(peers, list):
        raise ConfigError("fleet.peers: expected a list of HOST:PORT")
    peers = tuple(_listen(p, f"fleet.peers[{i}]") for i, p in enumerate(peers))
    poll = parse_duration(table.get("purge_poll", FleetSettings.purge_poll), "fleet.purge_poll")
    if not 0.1 <= poll <= 300:
        raise ConfigError(f"fleet.purge_poll: expected from 0.1s to 5m, got {table.get('purge_poll')!r}")
    return FleetSettings(node, redis, listen, peers, poll, _bool(table, "tap", True, "fleet"))


def _check_fleet(settings: Settings) -> None:
    """A fleet keeps its durable records in the shared tier; its chunk service needs an
    address of its own."""
    fleet = settings.fleet
    if fleet is None:
        return
    if not any(t.shared for t in settings.store.tiers):
        raise ConfigError("fleet: needs a [[store.tier]] with shared = true, the bucket every node can reach "
                          "(the fleet's blobs and durable records live there)")
    taken = {settings.server.listen: "server.listen", settings.metrics.listen: "metrics.listen",
             settings.s3.listen if settings.s3 is not None else None: "s3.listen"}
    if fleet.listen in taken:
        raise ConfigError(f"fleet.listen: {fleet.listen} is already {taken[fleet.listen]}")


def _readable_file(table: dict[str, Any], name: str) -> str | None:
    """A PEM file the server will read at start: there, readable, and PEM."""
    path = table.get(name)
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise ConfigError(f"server.{name}: expected the path of a PEM file, got {path!r}")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise ConfigError(f"server.{name}: cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN " not in head:
        raise ConfigError(f"server.{name}: {path} is not a PEM file")
    return os.path.abspath(path)


_POLICY_DURATIONS = ("default_ttl", "max_ttl", "stale_while_revalidate", "stale_if_error", "stale_if_unreachable",
                     "negative_ttl")
_MOUNT_DURATIONS = (*_POLICY_DURATIONS, "connect_timeout", "read_timeout")
_ORIGIN_SCHEMES = ("http://", "https://", "s3://", "file://", "generator:")


def _mount(raw: object, key: str) -> MountSettings:
    table = _table(raw, key)
    known = {"url_prefix", "origin", "honour_origin_cache_control", "index", "allow_http", "s3_bucket", "s3_public",
             "writable", "mirror_to", "mirror_writes", "image_transforms", "image_max_size", "image_signed",
             "avatar", "store_set_cookie", "targeted_cache_control", "forward_targeted_cache_control",
             *_MOUNT_DURATIONS, *S3_OPTIONS}
    _unknown(table, known, key)
    prefix = table.get("url_prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/") or "?" in prefix or "#" in prefix:
        raise ConfigError(f"{key}.url_prefix: required, a path beginning with '/' such as '/assets'")
    if any(seg in (".", "..") for seg in prefix.split("/")):
        raise ConfigError(f"{key}.url_prefix: '.' and '..' segments are not allowed")
    origin = table.get("origin")
    if not isinstance(origin, str) or not origin.lower().startswith(_ORIGIN_SCHEMES):
        raise ConfigError(f"{key}.origin: required, an http(s)://, s3://bucket/prefix or file:///dir URL, or "
                          f"generator:NAME, got {origin!r}")
    durations = {name: parse_duration(table[name], f"{key}.{name}") for name in _MOUNT_DURATIONS if name in table}
    honour = table.get("honour_origin_cache_control", True)
    if not isinstance(honour, bool):
        raise ConfigError(f"{key}.honour_origin_cache_control: expected true or false, got {honour!r}")
    index = table.get("index")
    if index is not None and (not isinstance(index, str) or not index or "/" in index):
        raise ConfigError(f"{key}.index: expected a file name such as 'index.html'")
    options = {k: v for k, v in table.items() if k in S3_OPTIONS or k == "allow_http"}
    if options and not origin.lower().startswith("s3://"):
        raise ConfigError(f"{key}: options {sorted(options)} apply to s3:// origins only")
    bucket = table.get("s3_bucket")
    if bucket is not None and (not isinstance(bucket, str) or not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket):
        raise ConfigError(f"{key}.s3_bucket: expected an S3 bucket name (3 to 63 lowercase letters, digits, '.' "
                          f"or '-'), got {bucket!r}")
    public = table.get("s3_public", False)
    if not isinstance(public, bool):
        raise ConfigError(f"{key}.s3_public: expected true or false, got {public!r}")
    if public and bucket is None:
        raise ConfigError(f"{key}.s3_public: applies to a mount with an s3_bucket")
    writable = table.get("writable", False)
    if not isinstance(writable, bool):
        raise ConfigError(f"{key}.writable: expected true or false, got {writable!r}")
    if writable and (bucket is None or not origin.lower().startswith("s3://")):
        raise ConfigError(f"{key}.writable: applies to a mount with an s3_bucket and an s3:// origin")
    mirror_to = table.get("mirror_to")
    if mirror_to is not None and (not isinstance(mirror_to, str) or not re.fullmatch(r"s3://[^/\s]+(/\S*)?",
                                                                                   mirror_to)):
        raise ConfigError(f"{key}.mirror_to: expected a bucket URL such as 's3://new-bucket' or "
                          f"'s3://new-bucket/prefix', got {mirror_to!r}")
    mirror_writes = table.get("mirror_writes", False)
    if not isinstance(mirror_writes, bool):
        raise ConfigError(f"{key}.mirror_writes: expected true or false, got {mirror_writes!r}")
    if mirror_writes and (mirror_to is None or not writable):
        raise ConfigError(f"{key}.mirror_writes: applies to a writable mount with a mirror_to")
    transforms = _bool(table, "image_transforms", False, key)
    max_size = _integer(table, "image_max_size", 2048, 1, 16384, key)
    signed = _bool(table, "image_signed", False, key)
    if ("image_max_size" in table or signed) and not transforms:
        raise ConfigError(f"{key}.{'image_signed' if signed else 'image_max_size'}: applies to a mount with "
                          f"image_transforms = true")
    avatar = None
    if origin.strip().lower() == AVATAR_ORIGIN:
        avatar = _avatar(table.get("avatar", {}), f"{key}.avatar")
        origin = AVATAR_ORIGIN
    elif "avatar" in table:
        raise ConfigError(f"{key}.avatar: applies to a mount with origin = {AVATAR_ORIGIN!r}")
    policy = CachePolicy(honour_origin=honour, store_set_cookie=_bool(table, "store_set_cookie", True, key),
                         targeted=_field_names(table, "targeted_cache_control", ["CDN-Cache-Control"], key),
                         forward_targeted=_bool(table, "forward_targeted_cache_control", False, key),
                         **{k: v for k, v in durations.items() if k in _POLICY_DURATIONS})
    timeouts = {k: v for k, v in durations.items() if k not in _POLICY_DURATIONS}
    return MountSettings(prefix.rstrip("/") or "/", origin, policy, index=index, options=options, s3_bucket=bucket,
                         s3_public=public, writable=writable, mirror_to=mirror_to, mirror_writes=mirror_writes,
                         image_transforms=transforms, image_max_size=max_size, image_signed=signed, avatar=avatar,
                         **timeouts)


def _avatar(raw: object, key: str) -> AvatarSettings:
    table = _table(raw, key)
    _unknown(table, {"renderer", "url", "model", "device", "steps", "sampler", "cfg_scale", "master_size", "timeout",
                     "concurrency", "default_hosts"}, key)
    renderer = table.get("renderer", "portrait")
    if renderer not in AVATAR_RENDERERS:
        raise ConfigError(f"{key}.renderer: expected one of {', '.join(AVATAR_RENDERERS)}, got {renderer!r}")
    url = table.get("url")
    if renderer == "txt2img" and (not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url)):
        raise ConfigError(f"{key}.url: renderer 'txt2img' needs the service's URL, such as 'http://127.0.0.1:7860'")
    model = table.get("model")
    if renderer == "diffusers" and (not isinstance(model, str) or not model):
        raise ConfigError(f"{key}.model: renderer 'diffusers' needs the directory of a saved pipeline")
    for name, needs in (("url", "txt2img"), ("model", "diffusers"), ("device", "diffusers"), ("sampler", "txt2img")):
        if name in table and renderer != needs:
            raise ConfigError(f"{key}.{name}: applies to renderer = {needs!r}")
    device = table.get("device", "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ConfigError(f"{key}.device: expected 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    sampler = table.get("sampler", AvatarSettings.sampler)
    if not isinstance(sampler, str) or not sampler.isprintable() or not 0 < len(sampler) <= 64:
        raise ConfigError(f"{key}.sampler: expected a sampler's name such as 'Euler a'")
    cfg = table.get("cfg_scale", AvatarSettings.cfg_scale)
    if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 30:
        raise ConfigError(f"{key}.cfg_scale: expected a number from 0 to 30, got {cfg!r}")
    hosts = table.get("default_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError(f"{key}.default_hosts: expected a list of host names such as 'img.example.com', "
                          f"'*.example.com' or '*'")
    try:
        DefaultPolicy(tuple(hosts))
    except ValueError as exc:
        raise ConfigError(f"{key}.default_hosts: {exc}") from None
    master = _integer(table, "master_size", AvatarSettings.master_size, 64, 2048, key)
    if master % 8:
        raise ConfigError(f"{key}.master_size: a model draws in multiples of 8 pixels, got {master}")
    timeout = parse_duration(table["timeout"], f"{key}.timeout") if "timeout" in table else AvatarSettings.timeout
    if timeout <= 0:
        raise ConfigError(f"{key}.timeout: a model needs some time to draw, such as '2m'")
    return AvatarSettings(renderer, url, model, device, _integer(table, "steps", 20, 1, 200, key),  # type: ignore[arg-type]
                          sampler, float(cfg), master, timeout,  # type: ignore[arg-type]
                          _integer(table, "concurrency", 2, 1, 64, key),  # type: ignore[arg-type]
                          tuple(h.lower().rstrip(".") for h in hosts))


_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.1: a token


def _field_names(table: dict[str, Any], name: str, default: list[str], key: str) -> tuple[str, ...]:
    """A list of HTTP field names (a single name is a list of one), lowercased."""
    value = table.get(name, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and _FIELD_NAME.fullmatch(v) for v in value):
        raise ConfigError(f"{key}.{name}: expected a list of header field names such as ['CDN-Cache-Control'], "
                          f"got {value!r}")
    return tuple(v.lower() for v in value)


def _bool(table: dict[str, Any], name: str, default: bool, key: str) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}.{name}: expected true or false, got {value!r}")
    return value


def _integer(table: dict[str, Any], name: str, default: int | None, low: int, high: int, key: str) -> int | None:
    value = table.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}.{name}: expected an integer from {low:,} to {high:,}, got {value!r}")
    return value


def _images(raw: object) -> ImageSettings:
    table = _table(raw, "images")
    _unknown(table, {"workers", "queue", "max_pixels", "max_source_bytes", "max_width", "max_height", "signing_key"},
             "images")
    defaults = ImageSettings()
    key = os.environ.get("FALLTHROUGH_SIGNING_KEY")
    key = table.get("signing_key", key)
    if key is not None and (not isinstance(key, str) or len(key) < 16 or not key.isprintable()):
        raise ConfigError("images.signing_key: expected a printable string of at least 16 characters")
    return ImageSettings(
        workers=_integer(table, "workers", defaults.workers, 1, 256, "images"),  # type: ignore[arg-type]
        queue=_integer(table, "queue", defaults.queue, 0, 100_000, "images"),  # type: ignore[arg-type]
        max_pixels=_integer(table, "max_pixels", defaults.max_pixels, 1, 10**12, "images"),  # type: ignore[arg-type]
        max_source_bytes=parse_size(table.get("max_source_bytes", defaults.max_source_bytes),
                                    "images.max_source_bytes"),
        max_width=_integer(table, "max_width", defaults.max_width, 1, 65535, "images"),  # type: ignore[arg-type]
        max_height=_integer(table, "max_height", defaults.max_height, 1, 65535, "images"),  # type: ignore[arg-type]
        signing_key=key,
    )


def _source(value: object, key: str, placeholder: str | None = None) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "?" in value or "#" in value:
        raise ConfigError(f"{key}: required, a path on this server such as '/img/{{name}}.png'")
    if any(seg in (".", "..") for seg in value.split("/")):
        raise ConfigError(f"{key}: '.' and '..' segments are not allowed")
    if placeholder is not None and placeholder not in value:
        raise ConfigError(f"{key}: needs the placeholder {placeholder}")
    return value


def _image_route(raw: object, key: str) -> ImageRouteSettings:
    table = _table(raw, key)
    _unknown(table, {"route", "source", "max_size", "formats", "fit", "signed"}, key)
    route = table.get("route")
    if not isinstance(route, str) or not route.startswith("/"):
        raise ConfigError(f"{key}.route: required, a path template such as '/sticker/{{name}}/{{size}}'")
    source = _source(table.get("source"), f"{key}.source")
    try:
        RouteTemplate(route, source)
    except ValueError as exc:
        raise ConfigError(f"{key}.route: {exc}") from None
    formats = table.get("formats", list(IMAGE_FORMATS))
    if not isinstance(formats, list) or not formats or any(f not in IMAGE_FORMATS for f in formats):
        raise ConfigError(f"{key}.formats: expected a list of formats from {', '.join(IMAGE_FORMATS)}, got {formats!r}")
    fit = table.get("fit", "contain")
    if fit not in ("contain", "cover", "fill"):
        raise ConfigError(f"{key}.fit: expected 'contain', 'cover' or 'fill', got {fit!r}")
    return ImageRouteSettings(route, source, _integer(table, "max_size", 1024, 1, 16384, key),  # type: ignore[arg-type]
                              tuple(dict.fromkeys(formats)), fit, _bool(table, "signed", False, key))


def _iiif(raw: object, key: str) -> IiifSettings:
    table = _table(raw, key)
    _unknown(table, {"url_prefix", "source", "max_width", "max_height", "max_area", "base_url"}, key)
    prefix = table.get("url_prefix")
    if not isinstance(prefix, str) or not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+/?", prefix) \
            or any(seg in (".", "..") for seg in prefix.split("/")):
        raise ConfigError(f"{key}.url_prefix: required, a path such as '/iiif/3'")
    source = _source(table.get("source"), f"{key}.source", "{identifier}")
    base = table.get("base_url")
    if base is not None and (not isinstance(base, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base)):
        raise ConfigError(f"{key}.base_url: expected an http(s) URL such as 'https://images.example.com/iiif/3'")
    return IiifSettings(prefix.rstrip("/"), source, _integer(table, "max_width", None, 1, 65535, key),
                        _integer(table, "max_height", None, 1, 65535, key),
                        _integer(table, "max_area", None, 1, 10**10, key), base.rstrip("/") if base else None)


def _list(data: dict[str, Any], name: str, parse: Any) -> list[Any]:  # noqa: ANN401
    raw = data.get(name, [])
    if not isinstance(raw, list):
        raise ConfigError(f"{name}: expected an array of tables ([[{name}]])")
    return [parse(item, f"{name}[{i}]") for i, item in enumerate(raw)]


def _service_prefixes(settings: Settings) -> list[str]:
    """Where the image routes and IIIF services are mounted (mounts of their own)."""
    return [r.prefix for r in settings.image_routes] + [s.url_prefix for s in settings.iiif]


def transform_prefixes(settings: Settings) -> list[str]:
    """Where every request is derived: image routes, IIIF services and avatar mounts."""
    return _service_prefixes(settings) + [m.url_prefix for m in settings.mounts if m.avatar is not None]


def _check_images(settings: Settings) -> None:
    """Prefixes apart, sources under a plain mount, signatures with a key."""
    owners: dict[str, str] = {m.url_prefix: f"mount[{i}]" for i, m in enumerate(settings.mounts)}
    keys = [f"image_route[{i}]" for i in range(len(settings.image_routes))] + \
        [f"iiif[{i}]" for i in range(len(settings.iiif))]
    sources = [(r.source, r.signed) for r in settings.image_routes] + [(s.source, False) for s in settings.iiif]
    derived = [(key, prefix, source, signed)
               for key, prefix, (source, signed) in zip(keys, _service_prefixes(settings), sources, strict=True)]
    for key, prefix, _, _ in derived:
        if prefix in owners:
            raise ConfigError(f"{key}: the prefix {prefix!r} is already {owners[prefix]}'s")
        owners[prefix] = key
    prefixes = [m.url_prefix for m in settings.mounts]
    for key, _, source, signed in derived:
        literal = source.split("{", 1)[0]
        if not any(p == "/" or literal.startswith(p + "/") for p in prefixes):
            raise ConfigError(f"{key}.source: no [[mount]] serves {literal!r}")
        if any(literal.startswith(prefix + "/") for k, prefix, _, _ in derived):
            raise ConfigError(f"{key}.source: a source must be under a [[mount]], not another transform")
        if signed and settings.images.signing_key is None:
            raise ConfigError(f"{key}.signed: needs [images] signing_key")
    for i, mount in enumerate(settings.mounts):
        if mount.image_signed and settings.images.signing_key is None:
            raise ConfigError(f"mount[{i}].image_signed: needs [images] signing_key")


def _check_metrics(settings: Settings) -> None:
    """The metrics' own listener needs an address no other listener of the node has."""
    metrics = settings.metrics
    if metrics.listen is None:
        return
    if not metrics.enabled:
        raise ConfigError("metrics.listen: the metrics are off (metrics.enabled = false); remove one of the two")
    if metrics.listen == settings.server.listen:
        raise ConfigError(f"metrics.listen: {metrics.listen} is already server.listen")
    if settings.s3 is not None and metrics.listen == settings.s3.listen:
        raise ConfigError(f"metrics.listen: {metrics.listen} is already s3.listen")


def _mounts(raw: object) -> list[MountSettings]:
    if not isinstance(raw, list):
        raise ConfigError("mount: expected an array of tables ([[mount]])")
    mounts = [_mount(m, f"mount[{i}]") for i, m in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, mount in enumerate(mounts):
        if mount.url_prefix in seen:
            raise ConfigError(f"mount[{i}].url_prefix: {mount.url_prefix!r} is already mount[{seen[mount.url_prefix]}]'s")
        seen[mount.url_prefix] = i
    buckets: dict[str, int] = {}
    for i, mount in enumerate(mounts):
        if mount.s3_bucket is not None:
            if mount.s3_bucket in buckets:
                raise ConfigError(f"mount[{i}].s3_bucket: {mount.s3_bucket!r} is already mount[{buckets[mount.s3_bucket]}]'s")
            buckets[mount.s3_bucket] = i
    return mounts


def parse(text: str, origin: str = "<config>") -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    try:
        _unknown(data, {"store", "server", "mount", "s3", "images", "image_route", "iiif", "log", "metrics", "fleet"},
                 "")
        store = _store(data["store"]) if "store" in data else StoreSettings()
        server = _server(data.get("server", {}))
        mounts = _mounts(data.get("mount", []))
        s3 = _s3(data["s3"]) if "s3" in data else None
        if s3 is not None and s3.listen == server.listen:
            raise ConfigError(f"s3.listen: {s3.listen} is already server.listen")
        for i, mount in enumerate(mounts):
            if mount.s3_bucket is not None and s3 is None:
                raise ConfigError(f"mount[{i}].s3_bucket: needs an [s3] section to serve the bucket")
        settings = Settings(store=store, server=server, mounts=mounts, s3=s3,
                            images=_images(data.get("images", {})),
                            image_routes=_list(data, "image_route", _image_route), iiif=_list(data, "iiif", _iiif),
                            log=_log(data.get("log", {})), metrics=_metrics(data.get("metrics", {})),
                            fleet=_fleet(data["fleet"]) if "fleet" in data else None)
        _check_metrics(settings)
        _check_fleet(settings)
        _check_images(settings)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return settings


def load(path: str) -> Settings:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    return parse(text, path)


# What `fallthrough serve` runs without --config: something useful at once, on loopback,
# with the store beside the current directory and a mount over the site this package ships.
DEFAULT_CONFIG = """\
[server]
listen = "127.0.0.1:8080"

[store]
path = ".fallthrough"
max_bytes = "1GiB"

[[mount]]
url_prefix = "/"
origin = "file://{site}"
index = "index.html"
default_ttl = "1m"
stale_while_revalidate = "1m"
stale_if_error = "1h"
"""


def site_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")


def default_settings() -> Settings:
    return parse(DEFAULT_CONFIG.format(site=site_dir()), "<embedded default config>")
