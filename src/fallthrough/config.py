"""TOML → typed settings, with errors that name the key and the problem.

For now this covers the chunk store:

    [store]
    path = "/var/lib/fallthrough"     # default home of the disk tier
    write = "through"                 # or "back": far tiers written in the background
    compression_level = 1             # zstd level for new chunks (1..19)

    [[store.tier]]                    # nearest first; without any, one file tier in path
    url = "memory://"
    max_bytes = "256MiB"

    [[store.tier]]
    url = "s3://bucket/prefix"
    endpoint = "http://127.0.0.1:8333"   # S3 options beside the url
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from .castore import BlobStore, TierSpec, open_store
from .castore.s3 import S3_OPTIONS


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


@dataclass(frozen=True)
class StoreSettings:
    path: str = "/var/lib/fallthrough"
    write: str = "through"
    compression_level: int = 1
    tiers: list[TierSpec] = field(default_factory=list)

    def tier_specs(self) -> list[TierSpec]:
        return self.tiers or [TierSpec("file://" + os.path.join(os.path.abspath(self.path), "castore"))]

    def open(self) -> BlobStore:
        return open_store(self.tier_specs(), self.write, self.compression_level)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)


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
    _unknown(table, {"url", "max_bytes", "allow_http", *S3_OPTIONS}, key)
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{key}.url: required, a store URL such as 'file:///var/lib/fallthrough/castore'")
    max_bytes = parse_size(table["max_bytes"], f"{key}.max_bytes") if "max_bytes" in table else None
    options = {k: v for k, v in table.items() if k not in ("url", "max_bytes")}
    return TierSpec(url, max_bytes, options)


def _store(raw: object) -> StoreSettings:
    table = _table(raw, "store")
    _unknown(table, {"path", "write", "compression_level", "tier"}, "store")
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
    return StoreSettings(path, write, level, tiers)


def parse(text: str, origin: str = "<config>") -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    try:
        _unknown(data, {"store", "server", "mount"}, "")
        store = _store(data["store"]) if "store" in data else StoreSettings()
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return Settings(store=store)


def load(path: str) -> Settings:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    return parse(text, path)
