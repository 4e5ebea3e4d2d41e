"""From a URL (or a list of tier specs) to a BlobStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .blobstore import DEFAULT_LEVEL, BlobStore
from .budget import BudgetTier
from .errors import BadStoreURL
from .file import open_file
from .memory import open_memory
from .s3 import open_s3
from .stack import WRITE_POLICIES, TierStack, WritePolicy
from .tier import Tier

SCHEMES = ("memory", "file", "s3")


@dataclass(frozen=True)
class TierSpec:
    """One tier as configured: where it is, its byte budget, backend options."""

    url: str
    max_bytes: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def tier_scheme(url: str) -> str:
    """memory, file or s3 (or what else the URL says); a plain path is a directory."""
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def open_tier(spec: TierSpec) -> Tier:
    url = spec.url
    scheme = tier_scheme(url)
    if scheme not in SCHEMES:
        raise BadStoreURL(f"bad store URL {url!r}: unknown scheme {scheme!r} (use memory://, file:///path or s3://bucket/prefix)")
    if spec.options and scheme != "s3":
        raise BadStoreURL(f"store {url}: options {sorted(spec.options)} apply to s3:// tiers only")
    if scheme == "memory":
        tier: Tier = open_memory(url)
    elif scheme == "file":
        tier = open_file(url)
    else:
        tier = open_s3(url, spec.options)
    if spec.max_bytes is not None:
        tier = BudgetTier(tier, spec.max_bytes)
    return tier


def open_store(
    tiers: list[TierSpec] | str,
    write: WritePolicy = "through",
    compression_level: int = DEFAULT_LEVEL,
) -> BlobStore:
    """A store over the given tiers, nearest first; a bare URL is a one-tier store."""
    specs = [TierSpec(tiers)] if isinstance(tiers, str) else tiers
    if not specs:
        raise BadStoreURL("a store needs at least one tier")
    if write not in WRITE_POLICIES:
        raise BadStoreURL(f"bad write policy {write!r}: use one of {', '.join(WRITE_POLICIES)}")
    return BlobStore(TierStack([open_tier(s) for s in specs], write), compression_level)
