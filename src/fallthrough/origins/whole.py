"""One object written in one PUT, from a file: its ETag is then the MD5 of its bytes, as S3
clients expect (a multipart upload's is not), and nothing of it is held in memory.

object_store sends a body in one request only when the whole body is a buffer; a file
mapped into memory is one, backed by the page cache rather than the process's heap.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import obstore


async def put_file(store: Any, key: str, path: str, attributes: Mapping[str, str] | None,  # noqa: ANN401
                   tags: Mapping[str, str] | None = None, mode: Any = None) -> dict[str, Any]:  # noqa: ANN401
    """PUT the file at `path` as `key` in one request (object_store's errors raise as they are)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        # Not closed here: object_store may hold the buffer a moment past the put (closing
        # then raises BufferError); the mapping goes with its last reference.
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        options: dict[str, Any] = {"mode": mode} if mode is not None else {}
        return await obstore.put_async(store, key, memoryview(data), use_multipart=False,
                                       attributes=dict(attributes) if attributes else None,
                                       tags=dict(tags) if tags else None, **options)


async def put_spooled(store: Any, key: str, body: AsyncIterator[bytes], spool_dir: str,  # noqa: ANN401
                      attributes: Mapping[str, str] | None) -> dict[str, Any]:
    """The body into a spool file under `spool_dir` (so a body that raises writes nothing),
    then put_file; the spool goes whatever happens."""
    os.makedirs(spool_dir, exist_ok=True)
    spool = os.path.join(spool_dir, f"whole-{secrets.token_hex(8)}")
    try:
        with open(spool, "xb") as f:
            async for data in body:
                f.write(data)
        return await put_file(store, key, spool, attributes)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)


async def put_as_source(store: Any, key: str, body: AsyncIterator[bytes], etag: str | None,  # noqa: ANN401
                        spool_dir: str, attributes: Mapping[str, str] | None,
                        part_size: int | None = None) -> dict[str, Any]:
    """A copy written the way its source was, so that the target computes the source's
    ETag: one PUT for an object the source took in one PUT (its ETag a plain MD5), else a
    multipart upload in `part_size` parts (the source's, when known: see
    BucketRequests.even_part_size)."""
    if is_md5(etag):
        return await put_spooled(store, key, body, spool_dir, attributes)
    sized = {"chunk_size": part_size} if part_size else {}
    return await obstore.put_async(store, key, body, attributes=dict(attributes) if attributes else None, **sized)


def is_md5(etag: str | None) -> bool:
    """Whether an S3 ETag is the MD5 of the object (one PUT made it), not a multipart
    upload's `-N` digest: then a copy written in one PUT has the same ETag."""
    tag = (etag or "").strip().removeprefix("W/").strip('"')
    return len(tag) == 32 and all(c in "0123456789abcdefABCDEF" for c in tag)
