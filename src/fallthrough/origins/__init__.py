"""Where misses go: one module per kind of origin, all answering `fetch`.

    http:// and https://   HttpOrigin       (a strict HTTP/1.1 client of our own on h11)
    s3://bucket/prefix     BucketOrigin     (obstore; options or the AWS_* variables)
    file:///dir            DirectoryOrigin  (plain system calls: several times faster
                                             than an object-store client on a local disk)
    generator:NAME         GeneratorOrigin  (a deterministic function, run once per key)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cache.origin import (
    BadObjectPath,
    BadOriginURL,
    Origin,
    OriginBodyError,
    OriginError,
    OriginResponse,
    OriginUnavailable,
)
from .bucket import BucketOrigin
from .directory import DirectoryOrigin
from .generator import SCHEME as GENERATOR, GeneratorOrigin
from .http import HttpOrigin


def open_origin(url: str, options: Mapping[str, Any] | None = None, *, connect_timeout: float = 5.0,
                read_timeout: float = 30.0) -> Origin:
    """The origin a configured URL names; BadOriginURL (naming the URL) if it cannot be used."""
    if url.lower().startswith(GENERATOR):
        if options:
            raise BadOriginURL(f"origin {url}: options apply to s3:// origins only")
        return GeneratorOrigin(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        if options:
            raise BadOriginURL(f"origin {url}: options apply to s3:// origins only")
        return HttpOrigin(url, connect_timeout, read_timeout)
    if scheme == "file":
        if options:
            raise BadOriginURL(f"origin {url}: options apply to s3:// origins only")
        return DirectoryOrigin(url)
    if scheme == "s3":
        return BucketOrigin(url, options)
    raise BadOriginURL(f"bad origin URL {url!r}: use http(s)://, s3://bucket/prefix, file:///dir or generator:NAME")


__all__ = [
    "BadObjectPath", "BadOriginURL", "BucketOrigin", "DirectoryOrigin", "GeneratorOrigin", "HttpOrigin", "Origin",
    "OriginBodyError",
    "OriginError", "OriginResponse", "OriginUnavailable", "open_origin",
]
