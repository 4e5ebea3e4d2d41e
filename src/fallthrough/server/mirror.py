"""Shadow-bucket mirroring: what a mount's fills store is also written, as a plain object,
into the bucket its `mirror_to` names.

The target thus becomes a copy of everything that was used, key for key, with the
object's Content-Type and other content headers and its user metadata (the model of
migrating a bucket by reading through a shadow). The copy is made after the entry is
stored, from the store, in a task of its own: a slow or failing target never delays a
client, and a failure is logged and retried by the next fill of that key.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any

import obstore

from ..cache.cache import Cache
from ..cache.entry import Entry
from ..cache.origin import OriginUnavailable, one_line
from ..castore.s3 import s3_store
from ..origins.bucket_requests import BucketRequests
from ..origins.whole import put_as_source
from .mounts import Mount, Router
from .s3.writes import attributes_of

log = logging.getLogger(__name__)


class Mirror:
    def __init__(self, cache: Cache, router: Router) -> None:
        self.cache = cache
        self.router = router
        self.targets: dict[str, Any] = {}
        for mount in router.mounts:
            target = mount.settings.mirror_to
            if target is not None:
                options = mount.settings.options if mount.settings.origin.lower().startswith("s3://") else {}
                self.targets[mount.prefix] = s3_store(target, dict(options))
        self._tasks: set[asyncio.Task[None]] = set()
        self.copied = 0
        self.failed = 0
        if self.targets:
            cache.stored_hooks.append(self.stored)

    def stored(self, entry: Entry) -> None:
        if entry.status != 200 or "?" in entry.key:
            return
        routed = self.router.route(entry.key)
        if routed is None:
            return
        mount, rest = routed
        target = self.targets.get(mount.prefix)
        key = rest.lstrip("/")
        if target is None or not key or key.endswith("/"):
            return
        task = asyncio.create_task(self._copy(target, mount, key, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _copy(self, target: Any, mount: Mount, key: str, entry: Entry) -> None:
        body, attributes = self.cache.body(entry, 0, entry.size), attributes_of(entry.headers) or None
        try:
            part = await self._part_size(mount, key, entry.etag, entry.size)
            await put_as_source(target, key, body, entry.etag, self.cache.spool_dir or tempfile.gettempdir(),
                                attributes, part)
            self.copied += 1
        except Exception as exc:  # noqa: BLE001 - any failure: logged, the next fill tries again
            self.failed += 1
            log.warning("mirroring %s%s to %s failed: %s", mount.prefix, "/" + key,
                        mount.settings.mirror_to, one_line(exc))

    @staticmethod
    async def _part_size(mount: Mount, key: str, etag: str | None, size: int) -> int | None:
        """The parts the origin bucket holds the object in, for a copy with its ETag."""
        requests = getattr(mount.origin, "requests", None)
        if not isinstance(requests, BucketRequests):
            return None
        return await requests.even_part_size(key, etag, size)

    def _writes_through(self, mount: Mount) -> bool:
        return mount.settings.mirror_writes and mount.prefix in self.targets

    async def put_through(self, mount: Mount, key: str) -> None:
        """After a write reached the origin, on a mount with mirror_writes: the same object
        into the mirror, read back from the origin (so the copy is what the origin holds,
        metadata and all)."""
        if not self._writes_through(mount):
            return
        try:
            source = await obstore.get_async(mount.origin.store, key)  # type: ignore[attr-defined]
            attributes = {name: str(value) for name, value in source.attributes.items() if value}
            etag, size = source.meta.get("e_tag"), int(source.meta["size"])
            part = await self._part_size(mount, key, etag, size)
            await put_as_source(self.targets[mount.prefix], key, source.stream(), etag,
                                self.cache.spool_dir or tempfile.gettempdir(), attributes or None, part)
        except Exception as exc:  # noqa: BLE001 - the origin has it; the client hears the mirror failed
            raise OriginUnavailable(f"written, but not to the mirror {mount.settings.mirror_to}: "
                                    f"{one_line(exc)}") from None

    async def delete_through(self, mount: Mount, key: str) -> None:
        if not self._writes_through(mount):
            return
        try:
            await obstore.delete_async(self.targets[mount.prefix], key)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise OriginUnavailable(f"deleted, but not from the mirror {mount.settings.mirror_to}: "
                                    f"{one_line(exc)}") from None

    async def close(self) -> None:
        """Let the copies under way finish."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=30)
