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
from .shared import SharedTier
from .stack import WRITE_POLICIES, TierStack, WritePolicy
from .tier import Tier

SCHEMES = ("memory", "file", "s3", "peer")


@dataclass(frozen=True)
class TierSpec:
    """One tier as configured: where it is, its byte budget, backend options."""

    url: str
    max_bytes: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    shared: bool = False  # the fleet's tier: other nodes read what is there, so no node deletes from it


def tier_scheme(url: str) -> str:
    """memory, file, s3 or peer (or what else the URL says); a plain path is a directory."""
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def open_tier(spec: TierSpec) -> Tier:
    url = spec.url
    scheme = tier_scheme(url)
    if scheme not in SCHEMES:
        raise BadStoreURL(f"bad store URL {url!r}: unknown scheme {scheme!r} (use memory://, file:///path, s3://bucket/prefix or peer://host:port)")
    if spec.options and scheme not in ("s3", "peer"):
        raise BadStoreURL(f"store {url}: options {sorted(spec.options)} apply to s3:// and peer:// tiers only")
    if scheme == "peer" and spec.max_bytes is not None:
        raise BadStoreURL(f"store {url}: a peer tier holds nothing of ours, so it takes no max_bytes")
    if scheme == "memory":
        tier: Tier = open_memory(url)
    elif scheme == "file":
        tier = open_file(url)
    elif scheme == "peer":
        from .peer import open_peer  # gRPC loads only for a store that has a peer

        tier = open_peer(url, spec.options)
    else:
        tier = open_s3(url, spec.options)
    if spec.max_bytes is not None:
        tier = BudgetTier(tier, spec.max_bytes)
    if spec.shared:
        tier = SharedTier(tier)
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
