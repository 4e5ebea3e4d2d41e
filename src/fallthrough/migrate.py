"""`fallthrough migrate SOURCE TARGET`: copy a bucket (or a prefix of it) into another,
the objects the target does not have yet.

Resumable by construction: an object appears in the target only once a write of it has
completed (object stores commit whole), so after an interruption the next run lists the
target and copies what is missing or of another size. Each copy is verified: the bytes
read from the source are hashed as they stream, the new object is read back and hashed
again, and its size and digest must match. Content-Type, the other content headers and
user metadata go with the object.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import obstore
from obstore.store import LocalStore

from .cache.origin import one_line
from .castore.errors import BadStoreURL
from .castore.s3 import s3_store
from .serve_errors import ServeError

READ_SIZE = 1024 * 1024


def open_bucket(url: str) -> Any:
    """s3://bucket/prefix (options from the AWS_* variables) or file:///dir."""
    if url.startswith("file://"):
        try:
            return LocalStore(url[len("file://"):], mkdir=True)
        except Exception as exc:  # noqa: BLE001 - the store's own error types vary
            raise ServeError(f"bad bucket URL {url!r}: {exc}") from None
    if not url.startswith("s3://"):
        raise ServeError(f"bad bucket URL {url!r}: expected s3://bucket/prefix or file:///dir")
    try:
        return s3_store(url)
    except BadStoreURL as exc:
        raise ServeError(str(exc)) from None


@dataclass
class Tally:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


async def _listing(store: Any, prefix: str | None) -> dict[str, int]:
    found: dict[str, int] = {}
    async for batch in obstore.list(store, prefix, chunk_size=1000):
        for meta in batch:
            found[str(meta["path"])] = int(meta["size"])
    return found


async def _digest_of(store: Any, key: str) -> tuple[int, bytes]:
    result = await obstore.get_async(store, key)
    digest, size = hashlib.sha256(), 0
    async for part in result.stream(min_chunk_size=READ_SIZE):
        digest.update(part)
        size += len(part)
    return size, digest.digest()


async def _copy_one(source: Any, target: Any, key: str, size: int) -> None:
    result = await obstore.get_async(source, key)
    attributes = {name: str(value) for name, value in result.attributes.items() if value}
    digest = hashlib.sha256()
    sent = 0

    async def body():  # noqa: ANN202 - async iterator of bytes
        nonlocal sent
        async for part in result.stream(min_chunk_size=READ_SIZE):
            digest.update(part)
            sent += len(part)
            yield part

    await obstore.put_async(target, key, body(), attributes=attributes or None)
    if sent != size:
        raise ValueError(f"read {sent} bytes of {size}")
    copied_size, copied_digest = await _digest_of(target, key)
    if (copied_size, copied_digest) != (size, digest.digest()):
        raise ValueError("the copy differs from the source when read back")


async def migrate(source_url: str, target_url: str, prefix: str | None, concurrency: int) -> int:
    source, target = open_bucket(source_url), open_bucket(target_url)
    started = time.monotonic()
    try:
        wanted = await _listing(source, prefix)
        present = await _listing(target, prefix)
    except Exception as exc:  # noqa: BLE001 - one line for the user, whatever the store raised
        raise ServeError(f"cannot list: {one_line(exc)}") from None
    tally = Tally()
    todo = []
    for key, size in sorted(wanted.items()):
        if present.get(key) == size:
            tally.skipped += 1
        else:
            todo.append((key, size))
    total_bytes = sum(size for _, size in todo)
    bar = _bar(len(todo), total_bytes)
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            key, size = queue.get_nowait()
            try:
                await _copy_one(source, target, key, size)
                tally.copied += 1
                tally.copied_bytes += size
            except Exception as exc:  # noqa: BLE001 - reported per object in the summary
                tally.failed.append(f"{key}: {one_line(exc)}")
            if bar is not None:
                bar.update(size)
                bar.set_postfix_str(f"{tally.copied + len(tally.failed)}/{len(todo)} objects")

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - started
    rate = tally.copied_bytes / seconds / 1e6 if seconds > 0 else 0.0
    print(f"migrated {source_url} -> {target_url}: {tally.copied} copied ({tally.copied_bytes:,} bytes), "
          f"{tally.skipped} already there, {len(tally.failed)} failed, in {seconds:.1f} s ({rate:.1f} MB/s)")
    for line in tally.failed[:20]:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if tally.failed else 0


def _bar(objects: int, total_bytes: int):  # noqa: ANN202 - tqdm or None
    """Bytes with rate and ETA, objects alongside; on a terminal only."""
    if not sys.stderr.isatty() or not objects:
        return None
    from tqdm import tqdm

    size = shutil.get_terminal_size((80, 24))
    return tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="migrate", file=sys.stderr,
                ncols=size.columns or 80, postfix=f"0/{objects} objects")
