"""The fleet's durable records: small JSON objects in the shared tier, beside its chunks.

Redis carries what happens now; the bucket keeps what must outlive Redis. Records are
named so that a listing returns them in time order (`purges/<ms since epoch>-<id>.json`),
so a node that missed some lists from where it was, not everything.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import LocalStore

from ..castore import tier_scheme
from ..castore.s3 import s3_store

FOLDER = "fleet"


class RecordsUnavailable(Exception):
    """The shared tier did not answer (or answered with an error)."""


class SharedRecords:
    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        scheme = tier_scheme(url)
        if scheme == "s3":
            self._store = s3_store(url, dict(options or {}))
            self._prefix = FOLDER
        elif scheme == "file":
            path = urlsplit(url).path if "://" in url else url
            os.makedirs(os.path.join(path, FOLDER), exist_ok=True)
            self._store = LocalStore(os.path.join(path, FOLDER))
            self._prefix = ""
        else:
            raise ValueError(f"a shared tier is s3:// or file://, not {url!r}")

    def _path(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self._prefix else name

    async def put(self, name: str, record: dict[str, Any]) -> None:
        try:
            await obstore.put_async(self._store, self._path(name), json.dumps(record).encode())
        except (ObstoreError, OSError) as exc:
            raise RecordsUnavailable(_line(exc)) from None

    async def get(self, name: str) -> dict[str, Any] | None:
        try:
            result = await obstore.get_async(self._store, self._path(name))
            data = await result.bytes_async()
        except FileNotFoundError:
            return None
        except (ObstoreError, OSError) as exc:
            raise RecordsUnavailable(_line(exc)) from None
        return _parsed(bytes(data))

    async def names(self, folder: str, after: str = "") -> list[str]:
        """The record names in `folder` (sorted) that sort after `after` (a name in it)."""
        prefix = self._path(folder) + "/"
        try:
            offset = {"offset": prefix + after} if after else {}
            found = []
            async for batch in obstore.list(self._store, prefix, **offset):
                found.extend(item["path"][len(prefix):] for item in batch)
        except (ObstoreError, OSError) as exc:
            raise RecordsUnavailable(_line(exc)) from None
        return sorted(n for n in found if n > after)


def _parsed(data: bytes) -> dict[str, Any] | None:
    """A record, or None for bytes that are not one (a damaged or foreign object)."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
