"""`file:///path` (or a plain path): a tier in a local directory, created if missing."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from obstore.store import LocalStore

from .errors import BadStoreURL
from .objectstore import ObjectStoreTier


def file_url_path(url: str) -> str:
    """The absolute directory a file URL or plain path names."""
    if "://" not in url:
        return os.path.abspath(url)
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise BadStoreURL(f"bad store URL {url!r}: a file URL has no host (use file:///absolute/path)")
    if not parts.path:
        raise BadStoreURL(f"bad store URL {url!r}: no directory given")
    return unquote(parts.path)


def open_file(url: str) -> ObjectStoreTier:
    path = file_url_path(url)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadStoreURL(f"bad store URL {url!r}: {path} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadStoreURL(f"bad store URL {url!r}: cannot create {path}: {exc.strerror}") from None
    return ObjectStoreTier(LocalStore(path), url)
