"""The index and its journal: restarts, torn writes, other workers' records, bans."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
from multidict import CIMultiDict

from fallthrough.cache.entry import Entry
from fallthrough.cache.index import Index
from fallthrough.castore import B3Digest


def entry(key: str, body: bytes = b"x", *, tags: tuple[str, ...] = (), at: float = 1000.0,
          vary: tuple[str, ...] = (), variant: tuple[str, ...] = ()) -> Entry:
    return Entry(
        key=key, variant=variant, status=200, headers=CIMultiDict([("content-type", "text/plain"), ("etag", '"1"')]),
        digest=B3Digest(blake3.blake3(body).digest()), size=len(body), request_time=at, response_time=at,
        lifetime=60.0, stale_while_revalidate=0.0, stale_if_error=0.0, vary=vary, tags=tags,
    )


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    index = Index(path)
    index.put(entry("/a", b"one"))
    index.put(entry("/b", b"two"))
    index.remove("/b")
    index.close()
    again = Index(path)
    found = again.lookup("/a", {})
    assert found is not None and found.headers["content-type"] == "text/plain" and found.size == 3
    assert again.lookup("/b", {}) is None
    assert again.bytes == 3


def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    index = Index(path)
    index.put(entry("/a"))
    index.close()
    with open(path, "ab") as f:
        f.write(b'0badc0de {"op": "put", "entry"')  # a crash in the middle of a write
    again = Index(path)
    assert again.lookup("/a", {}) is not None
    again.put(entry("/c"))
    again.close()
    third = Index(path)
    assert third.lookup("/a", {}) is not None and third.lookup("/c", {}) is not None


def test_a_damaged_record_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    index = Index(path)
    index.put(entry("/a"))
    index.put(entry("/b"))
    index.close()
    data = bytearray(Path(path).read_bytes())
    data[20] ^= 0xFF  # flip a byte inside the first record
    Path(path).write_bytes(bytes(data))
    again = Index(path)
    assert again.lookup("/a", {}) is None and again.lookup("/b", {}) is not None


def test_one_worker_sees_what_another_wrote(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    first, second = Index(path), Index(path)
    first.put(entry("/shared"))
    assert second.lookup("/shared", {}) is not None
    second.ban("prefix", "/sha", at=2000.0)
    assert first.lookup("/shared", {}) is None


def test_bans_hit_only_older_entries(tmp_path: Path) -> None:
    index = Index(str(tmp_path / "journal"))
    index.put(entry("/img/a", b"a", tags=("red",), at=1000.0))
    index.put(entry("/img/b", b"b", tags=("blue",), at=1000.0))
    index.ban("tag", "red", at=1500.0)
    assert index.lookup("/img/a", {}) is None
    assert index.lookup("/img/b", {}) is not None
    index.ban("prefix", "/img/", at=1500.0)
    index.put(entry("/img/c", b"c", at=2000.0))  # stored after the ban
    assert index.lookup("/img/b", {}) is None
    assert index.lookup("/img/c", {}) is not None


async def test_sweep_applies_and_retires_bans(tmp_path: Path) -> None:
    index = Index(str(tmp_path / "journal"))
    for i in range(50):
        index.put(entry(f"/p/{i}", str(i).encode(), at=1000.0))
    index.put(entry("/q/keep", b"keep", at=1000.0))
    index.ban("prefix", "/p/", at=1500.0)
    assert await index.sweep() == 50
    assert index.bans == [] and len(index) == 1
    assert set(index.orphans) == {entry(f"/p/{i}", str(i).encode()).digest for i in range(50)}


def test_variants_are_kept_apart(tmp_path: Path) -> None:
    index = Index(str(tmp_path / "journal"))
    index.put(entry("/v", b"hello", vary=("accept-language",), variant=("en",)))
    index.put(entry("/v", b"bonjour", vary=("accept-language",), variant=("fr",)))
    en = index.lookup("/v", {"accept-language": "en"})
    fr = index.lookup("/v", {"Accept-Language": "fr"})
    assert en is not None and fr is not None and en.digest != fr.digest
    assert index.lookup("/v", {"accept-language": "de"}) is None


def test_the_journal_is_compacted_when_mostly_dead(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    index = Index(path)
    for i in range(200):
        index.put(entry("/same", str(i).encode()))
    index.close()
    before = os.path.getsize(path)
    again = Index(path)
    assert os.path.getsize(path) < before / 10
    found = again.lookup("/same", {})
    assert found is not None and found.size == 3


async def test_a_purge_read_back_after_its_sweep_is_listed_once(tmp_path: Path) -> None:
    """Another worker may append between our catching up and our append; then our own ban
    is read back later, maybe after our sweep retired it, and the node's recent purges
    (the dashboard's list) must still name it once."""
    path = str(tmp_path / "journal")
    first, second = Index(path), Index(path)
    first.put(entry("/t/a", b"a", tags=("fruit",)))
    append = first._journal.append

    def another_worker_slips_in(record: dict) -> None:
        second.put(entry("/t/b", b"b"))
        append(record)

    first._journal.append = another_worker_slips_in
    first.ban("tag", "fruit")
    first._journal.append = append
    await first.sweep()
    first.catch_up()
    assert [(p.kind, p.value) for p in first.recent] == [("tag", "fruit")]
    second.catch_up()
    assert [(p.kind, p.value) for p in second.recent] == [("tag", "fruit")]


def test_purges_are_remembered_across_a_restart_and_a_compaction(tmp_path: Path) -> None:
    """A node that restarts must still refuse an entry asked for before a purge it
    applied (a fill that was running, another node's copy in the fleet)."""
    import time

    path = str(tmp_path / "journal")
    index = Index(path)
    now = time.time()
    index.put(entry("/gone", b"g", at=now - 5))
    index.put(entry("/t/x", b"x", tags=("red",), at=now - 5))
    index.remove("/gone")
    index.ban("tag", "red")
    for i in range(200):  # enough dead records for the journal to be compacted when reopened
        index.put(entry("/churn", str(i).encode(), at=now))
    index.close()
    for _ in range(2):  # as it was, then compacted
        again = Index(path)
        assert again.superseded(entry("/gone", b"g", at=now - 5))
        assert again.superseded(entry("/t/x", b"x2", tags=("red",), at=now - 5))
        assert not again.superseded(entry("/gone", b"g", at=now + 5))  # asked for after the purge
        assert again.lookup("/churn", {}) is not None
        again.close()
