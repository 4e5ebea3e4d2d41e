"""`file:///path` (or a plain path): a tier in a local directory, created if missing."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from obstore.store import LocalStore

from .digest import B3Digest, chunk_path
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


class FileTier(ObjectStoreTier):
    """obstore does the I/O; existence checks ask the filesystem directly.

    A write checks every chunk for existence first (that is what makes dedup free), and a
    local stat costs microseconds where a round trip through the object-store runtime
    costs a few hundred.
    """

    def __init__(self, store: LocalStore, name: str, root: str) -> None:
        super().__init__(store, name)
        self._root = root

    async def has_chunk(self, digest: B3Digest) -> bool:
        return os.path.exists(os.path.join(self._root, chunk_path(digest)))


def open_file(url: str) -> ObjectStoreTier:
    path = file_url_path(url)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadStoreURL(f"bad store URL {url!r}: {path} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadStoreURL(f"bad store URL {url!r}: cannot create {path}: {exc.strerror}") from None
    return FileTier(LocalStore(path), url, path)
