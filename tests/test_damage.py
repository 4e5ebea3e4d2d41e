"""Damage at rest: what a read finds broken is repaired, what a write finds there is
checked, a manifest is checked against the blob it names, and no journal record, whatever
it holds, keeps the index from opening."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import logging
import os
import random
import shutil
import zlib
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from edge_server import EdgeServer
from fallthrough.cache.cache import Cache
from fallthrough.cache.entry import Entry
from fallthrough.cache.index import Index
from fallthrough.cache.journal import decode
from fallthrough.castore import (
    EMPTY_MANIFEST,
    B3Digest,
    BlobMismatch,
    BlobStore,
    CastoreError,
    ChunkCorrupt,
    TierSpec,
    blob_path,
    chunk_path,
    manifest_digest,
    open_store,
)
from fallthrough.castore.manifest import ChunkMeta, StatBlobResponse, decode_manifest
from origin_server import OriginServer

DATA = random.Random(12).randbytes(3 * 1024 * 1024)
OTHER = random.Random(13).randbytes(3 * 1024 * 1024)  # the same size: only the manifest tells them apart
SMALL = random.Random(14).randbytes(100_000)  # one chunk


def _flip(path: Path) -> None:
    frame = bytearray(path.read_bytes())
    frame[len(frame) // 2] ^= 0x55
    path.write_bytes(bytes(frame))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flipped": _flip, "truncated": _truncate}


async def _put(store: BlobStore, data: bytes) -> tuple[B3Digest, B3Digest]:
    writer = store.open_write()
    await writer.write(data)
    digest = await writer.close()
    assert writer.manifest_digest is not None
    return digest, writer.manifest_digest


async def _parts(store: BlobStore, digest: B3Digest, **expect: object) -> tuple[list[bytes], Exception | None]:
    """What a whole read hands out before it fails, and how it fails."""
    parts: list[bytes] = []
    try:
        reader = await store.open_read(digest, **expect)  # type: ignore[arg-type]
        async for part in reader.iter_range():
            parts.append(part)
    except CastoreError as exc:
        return parts, exc
    return parts, None


# -- (4) a chunk damaged at rest is repaired -----------------------------------------


@pytest.mark.parametrize("damage", sorted(DAMAGE))
async def test_a_damaged_chunk_is_removed_so_the_next_write_stores_it_again(tmp_path: Path, damage: str) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[1].digest
        DAMAGE[damage](tmp_path / chunk_path(victim))
        with pytest.raises(ChunkCorrupt, match=str(victim)):
            await store.get(digest)
        assert not (tmp_path / chunk_path(victim)).exists()
        assert store.stack.stats["chunks_removed"] == 1
        assert await store.put(DATA) == digest
        assert await store.get(digest) == DATA


async def test_a_damaged_single_chunk_blob_is_removed_too(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(SMALL)
        _flip(tmp_path / chunk_path(digest))
        with pytest.raises(ChunkCorrupt):
            await store.get(digest)
        assert not (tmp_path / chunk_path(digest)).exists()
        await store.put(SMALL)
        assert await store.get(digest) == SMALL


async def test_a_good_chunk_read_with_a_wrong_size_stays(tmp_path: Path) -> None:
    """A manifest that gives a wrong size is the manifest's fault, not the chunk's."""
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        chunk = (await store.stat(digest)).chunks[0]
        with pytest.raises(ChunkCorrupt):
            await store.read_chunk(chunk.digest, chunk.size - 1)
        assert (tmp_path / chunk_path(chunk.digest)).exists()
        assert await store.read_chunk(chunk.digest, chunk.size)


async def test_a_chunk_damaged_in_every_tier_is_removed_from_each(tmp_path: Path) -> None:
    near, far = tmp_path / "near", tmp_path / "far"
    async with open_store([TierSpec(f"file://{near}"), TierSpec(f"file://{far}")]) as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[2].digest
        _flip(near / chunk_path(victim))
        _truncate(far / chunk_path(victim))
        with pytest.raises(ChunkCorrupt):
            await store.get(digest)
        assert not (near / chunk_path(victim)).exists() and not (far / chunk_path(victim)).exists()
        await store.put(DATA)
        assert await store.get(digest) == DATA


async def _damage_in_tier(store: BlobStore, root: Path | None, digest: B3Digest) -> None:
    """Replace a stored chunk with garbage behind the tier's back (another process, the disk)."""
    if root is not None:
        # Cut, not flipped: a flip in place within the same clock tick as the write keeps
        # the file's mtime, and only a read would notice (which a test cannot wait for).
        _truncate(root / chunk_path(digest))
        return
    await store.stack.tiers[0]._put(chunk_path(digest), b"\x28\xb5\x2f\xfd damaged")  # type: ignore[attr-defined]


@pytest.mark.parametrize("reopen", [False, True], ids=["same-process", "new-process"])
async def test_a_write_checks_a_copy_it_finds_before_skipping_it(store_url: str, tmp_path: Path, reopen: bool) -> None:
    """Every kind of tier: a write that finds a damaged copy replaces it, whether this
    process wrote that copy (its memory of it must not outlive the damage) or not."""
    if reopen and store_url == "memory://":
        pytest.skip("a memory tier does not outlive its process")
    root = Path(store_url[len("file://"):]) if store_url.startswith("file://") else None
    store = open_store(store_url)
    digest = await store.put(DATA)
    victim = (await store.stat(digest)).chunks[1].digest
    await _damage_in_tier(store, root, victim)
    if reopen:
        await store.close()
        store = open_store(store_url)
    try:
        assert await store.put(DATA) == digest
        assert await store.get(digest) == DATA
    finally:
        await store.close()


async def test_a_budgeted_tier_checks_what_its_books_list(tmp_path: Path) -> None:
    """The books of a budget list what is on disk, not whether it is intact."""
    spec = [TierSpec(f"file://{tmp_path}", max_bytes=1 << 30)]
    async with open_store(spec) as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[0].digest
    _truncate(tmp_path / chunk_path(victim))
    async with open_store(spec) as store:
        await store.put(DATA)
        assert await store.get(digest) == DATA


async def test_a_file_is_vouched_for_until_it_changes(tmp_path: Path) -> None:
    """The dedup check stays one stat for a file this process wrote or checked, and a
    file changed since (rewritten, cut, touched) is checked again."""
    from fallthrough.castore.file import _file_token

    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        tier = store.stack.tiers[0]
        vouched = tier._vouched  # type: ignore[attr-defined]
        files = {c.digest: tmp_path / chunk_path(c.digest) for c in (await store.stat(digest)).chunks}
        assert all(vouched.holds(d, _file_token(os.stat(p))) for d, p in files.items())
        victim, path = next(iter(files.items()))
        os.utime(path, ns=(1, 1))
        assert not vouched.holds(victim, _file_token(os.stat(path)))
        await store.put(DATA)  # checked again, found good, vouched for again
        assert vouched.holds(victim, _file_token(os.stat(path)))


# -- (5) a manifest is checked against the blob it names -----------------------------


async def test_the_writer_names_the_manifest_it_wrote(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest, manifest = await _put(store, DATA)
        assert manifest == manifest_digest((tmp_path / blob_path(digest)).read_bytes())
        single, empty = await _put(store, SMALL)
        assert empty == EMPTY_MANIFEST
        assert (await store.stat(single, manifest=empty, size=len(SMALL))).size == len(SMALL)


async def test_another_blobs_manifest_is_refused_before_any_byte(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest, manifest = await _put(store, DATA)
        other, _ = await _put(store, OTHER)
        shutil.copy(tmp_path / blob_path(other), tmp_path / blob_path(digest))
        with pytest.raises(BlobMismatch):
            await store.stat(digest, manifest=manifest)
        with pytest.raises(BlobMismatch):
            await store.open_read(digest, manifest=manifest, size=len(DATA))
        parts, error = await _parts(store, digest, manifest=manifest)
        assert parts == [] and isinstance(error, BlobMismatch)


async def test_a_whole_read_fails_before_its_last_byte(tmp_path: Path) -> None:
    """Without an expectation the blob's digest is the check: the last piece is held."""
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        other = await store.put(OTHER)
        shutil.copy(tmp_path / blob_path(other), tmp_path / blob_path(digest))
        parts, error = await _parts(store, digest)
        assert isinstance(error, ChunkCorrupt) and "do not add up" in str(error)
        assert sum(map(len, parts)) < len(OTHER)


async def test_a_manifest_of_one_foreign_chunk_is_caught_by_a_whole_read(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        lone = await store.put(SMALL)
        raw = StatBlobResponse()  # one chunk listed, and not the blob itself: no writer makes that
        raw.chunks.add(digest=bytes(lone), size=len(SMALL))
        (tmp_path / blob_path(digest)).write_bytes(raw.SerializeToString())
        parts, error = await _parts(store, digest)
        assert parts == [] and isinstance(error, ChunkCorrupt)


async def test_a_single_chunk_blob_under_another_manifest_is_refused(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        single, empty = await _put(store, SMALL)
        other, _ = await _put(store, OTHER)
        shutil.copy(tmp_path / blob_path(other), tmp_path / blob_path(single))
        with pytest.raises(BlobMismatch):
            await store.stat(single, manifest=empty)


async def test_a_blob_of_another_size_is_refused(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest, manifest = await _put(store, DATA)
        with pytest.raises(BlobMismatch, match="bytes"):
            await store.stat(digest, manifest=manifest, size=len(DATA) - 1)


async def test_a_missing_manifest_of_a_chunked_blob_is_not_taken_for_a_single_chunk(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest, manifest = await _put(store, DATA)
        (tmp_path / blob_path(digest)).unlink()
        with pytest.raises(CastoreError):
            await store.stat(digest, manifest=manifest)


async def test_a_wrong_near_manifest_is_replaced_from_a_far_tier(tmp_path: Path) -> None:
    near, far = tmp_path / "near", tmp_path / "far"
    async with open_store([TierSpec(f"file://{near}"), TierSpec(f"file://{far}")]) as store:
        digest, manifest = await _put(store, DATA)
        other, _ = await _put(store, OTHER)
        shutil.copy(near / blob_path(other), near / blob_path(digest))
        assert await store.get(digest, manifest=manifest, size=len(DATA)) == DATA
        assert manifest_digest((near / blob_path(digest)).read_bytes()) == manifest


def _entry(key: str, digest: B3Digest, size: int, manifest: B3Digest | None) -> Entry:
    return Entry(key=key, variant=(), status=200, headers=CIMultiDict(), digest=digest, size=size,
                 request_time=1000.0, response_time=1000.0, lifetime=600.0, stale_while_revalidate=0.0,
                 stale_if_error=0.0, manifest=manifest)


@pytest.mark.parametrize("size", [len(DATA), 1_500_000], ids=["streamed", "small"])
async def test_the_cache_drops_an_entry_whose_manifest_is_another_blobs(tmp_path: Path, size: int) -> None:
    root = tmp_path / "castore"
    store = open_store(f"file://{root}")
    cache = Cache(store, Index(str(tmp_path / "journal")), str(tmp_path), 64 << 20)
    try:
        digest, manifest = await _put(store, DATA[:size])
        other, _ = await _put(store, OTHER[:size])
        entry = _entry("/a", digest, size, manifest)
        cache.index.put(entry)
        shutil.copy(root / blob_path(other), root / blob_path(digest))
        got: list[bytes] = []
        with pytest.raises(CastoreError):
            async for part in cache.body(entry, 1000, 2000):
                got.append(part)
        assert got == []
        assert cache.index.lookup("/a", {}) is None
    finally:
        await cache.close()


async def test_lost_keeps_an_entry_that_a_newer_fetch_stored(tmp_path: Path) -> None:
    index = Index(str(tmp_path / "journal"))
    cache = Cache(open_store("memory://"), index, str(tmp_path), 1 << 20)
    try:
        old = _entry("/a", B3Digest.of(b"old"), 3, None)
        new = _entry("/a", B3Digest.of(b"new"), 3, None)
        index.put(old)
        index.put(new)
        cache.lost(old)
        assert index.lookup("/a", {}) is new
        cache.lost(new)
        assert index.lookup("/a", {}) is None
    finally:
        await cache.close()


def test_the_manifest_digest_survives_the_journal_and_old_records_load(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    index = Index(path)
    index.put(_entry("/new", B3Digest.of(b"a"), 1, EMPTY_MANIFEST))
    old = _entry("/old", B3Digest.of(b"b"), 1, None).to_json()
    assert "manifest" not in old
    index._journal.append({"op": "put", "entry": old})  # type: ignore[union-attr]
    index.close()
    again = Index(path)
    assert again.lookup("/new", {}).manifest == EMPTY_MANIFEST  # type: ignore[union-attr]
    assert again.lookup("/old", {}).manifest is None  # type: ignore[union-attr]
    again.close()


# -- (6) no journal record keeps the index from opening -------------------------------

VALID = _entry("/v", B3Digest.of(b"v"), 1, EMPTY_MANIFEST).to_json()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mangled_entries(draw: st.DrawFn) -> dict[str, object]:
    """A good entry with a field or two dropped or replaced by anything: one wrong field
    among good ones is the case that gets past a parser into the index."""
    data: dict[str, object] = dict(VALID)
    for name in draw(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=2, unique=True)):
        if draw(st.booleans()):
            del data[name]
        else:
            data[name] = draw(json_values)
    return data


records = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"op": st.sampled_from(["put", "del", "ban"]) | json_values},
        optional={
            "entry": mangled_entries() | json_values,
            "key": st.text(max_size=8) | json_values,
            "kind": st.sampled_from(["prefix", "tag"]) | json_values,
            "value": st.text(max_size=8) | json_values,
            "time": st.floats() | json_values,
        },
    ),
)


def _line(value: object) -> bytes:
    """A record as a journal line with a valid CRC, whatever the record holds."""
    payload = json.dumps(value, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


@settings(max_examples=150)
@given(st.lists(records, max_size=6))
def test_records_of_any_content_are_applied_or_skipped(tmp_path_factory: pytest.TempPathFactory,
                                                       values: list[object]) -> None:
    for value in values:
        record = decode(_line(value)[:-1])
        assert record is None or isinstance(record, dict)
    path = tmp_path_factory.mktemp("journal") / "journal"
    good = _entry("/ok", B3Digest.of(b"ok"), 2, None).to_json()
    path.write_bytes(b"".join(map(_line, values)) + _line({"op": "put", "entry": good}))
    index = Index(str(path))
    try:
        assert index.lookup("/ok", {}) is not None
        for entry in index.entries():  # what was applied is usable everywhere the index uses it
            index.lookup(entry.key, {"accept": "x"})
            json.dumps(entry.to_json())
        asyncio.run(index.sweep())
        index.ban("prefix", "/")
        asyncio.run(index.sweep())
    finally:
        index.close()
    Index(str(path)).close()  # and it opens again, compacted or not


def test_each_bad_record_costs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        {"op": "put", "entry": {**VALID, "key": 7}},
        {"op": "put", "entry": [VALID]},
        {"op": "put"},
        {"op": "put", "entry": {**VALID, "digest": 12}},
        {"op": "put", "entry": {**VALID, "headers": {"a": "b"}}},
        {"op": "put", "entry": {**VALID, "vary": [1]}},
        {"op": "put", "entry": {**VALID, "size": 1e400}},
        {"op": "del", "key": ["/v"]},
        {"op": "ban", "kind": "prefix", "value": "/", "time": "now"},
        {"op": "ban", "kind": ["tag"], "value": "/", "time": 1.0},
        {"op": 3},
    ]
    path = tmp_path / "journal"
    path.write_bytes(b"".join(_line(r) for r in bad) + _line({"op": "put", "entry": VALID})
                     + b"00000000 " + b"[" * 100_000 + b"\n")
    with caplog.at_level(logging.WARNING, logger="fallthrough.cache"):
        index = Index(str(path))
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(bad) + 1
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in skipped)
    assert index.lookup("/v", {}) is not None
    index.close()


def test_a_deeply_nested_record_with_a_valid_crc_is_skipped() -> None:
    payload = b"[" * 100_000 + b"]" * 100_000
    assert decode(b"%08x %s" % (zlib.crc32(payload), payload)) is None


# -- end to end: damage at rest, a restart, and the reads that follow -----------------


def _read(server: EdgeServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str] | None:
    """A reply, or None when the server failed loudly (cut the connection)."""
    try:
        reply = server.get(path, headers)
    except (OSError, http.client.HTTPException):
        return None
    return reply.status, reply.body, reply.header("x-cache") or ""


def _served_true_or_failed(reply: tuple[int, bytes, str] | None, want: bytes) -> None:
    if reply is None or reply[0] >= 500:
        return
    status, body, _ = reply
    assert status in (200, 206)
    assert hashlib.sha256(body).digest() == hashlib.sha256(want).digest(), f"wrong bytes with a {status}"


def test_damage_at_rest_is_never_served_and_is_repaired(tmp_path: Path) -> None:
    big = {name: random.Random(name).randbytes(3 * 1024 * 1024) for name in
           ("flipped", "truncated", "garbage-manifest", "swapped-manifest", "swapped-manifest-whole",
            "manifest-donor")}
    medium = random.Random("medium").randbytes(1_500_000)  # several chunks, kept in memory
    donor_small = random.Random("donor-small").randbytes(1_500_000)
    singles = {name: random.Random(name).randbytes(100_000) for name in
               ("single-flipped", "single-truncated", "single-swapped")}
    objects = {**big, "medium-swapped": medium, "medium-donor": donor_small, **singles}
    root = tmp_path / "store" / "castore"
    with OriginServer() as origin:
        for name, body in objects.items():
            origin.put(f"/{name}", body, headers={"Cache-Control": "max-age=3600"})
        mounts = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
        server = EdgeServer(tmp_path, mounts)
        with server:
            for name in objects:
                assert server.get(f"/o/{name}").body == objects[name]
            server.wait_stored(len(objects), timeout=60)
            server.wait_idle(timeout=60)

        def digest(name: str) -> B3Digest:
            return B3Digest(blake3.blake3(objects[name]).digest())

        def chunks(name: str) -> list[ChunkMeta]:
            return decode_manifest((root / blob_path(digest(name))).read_bytes(), digest(name))

        assert len(chunks("flipped")) > 2 and chunks("single-flipped") == []
        _flip(root / chunk_path(chunks("flipped")[1].digest))
        _truncate(root / chunk_path(chunks("truncated")[-1].digest))
        (root / blob_path(digest("garbage-manifest"))).write_bytes(os.urandom(200))
        for name in ("swapped-manifest", "swapped-manifest-whole"):
            shutil.copy(root / blob_path(digest("manifest-donor")), root / blob_path(digest(name)))
        shutil.copy(root / blob_path(digest("medium-donor")), root / blob_path(digest("medium-swapped")))
        _flip(root / chunk_path(digest("single-flipped")))
        _truncate(root / chunk_path(digest("single-truncated")))
        shutil.copy(root / blob_path(digest("manifest-donor")), root / blob_path(digest("single-swapped")))
        damaged = [n for n in objects if "donor" not in n]

        with server:
            for name in damaged:
                want = objects[name]
                reads = [({"Range": "bytes=50000-1999999"}, want[50000:2000000]), ({}, want)]
                if name.endswith("-whole"):
                    reads.reverse()
                for headers, part in reads:  # the first of them meets the damage
                    _served_true_or_failed(_read(server, f"/o/{name}", headers), part)
                    server.wait_idle(timeout=60)
            for name in damaged:
                once_more = _read(server, f"/o/{name}")  # the refetch, if no read above led to one
                assert once_more is not None and once_more[1] == objects[name], f"{name} is not served after a refetch"
                server.wait_idle(timeout=60)
                reply = _read(server, f"/o/{name}")
                assert reply is not None, f"{name} still fails after its refetch"
                status, body, x_cache = reply
                assert (status, x_cache) == (200, "HIT"), name
                assert hashlib.sha256(body).digest() == hashlib.sha256(objects[name]).digest(), name
                assert len(origin.requests(f"/{name}")) == 2, f"{name} was fetched more than once again"
                ranged = _read(server, f"/o/{name}", {"Range": "bytes=50000-1999999"})
                assert ranged is not None and ranged[0] == 206 and ranged[1] == objects[name][50000:2000000]
