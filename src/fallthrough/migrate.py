"""`fallthrough migrate SOURCE TARGET`: copy a bucket (or a prefix of it) into another,
the objects the target does not have yet.

Resumable by construction: an object appears in the target only once a write of it has
completed (object stores commit whole), so after an interruption the next run lists the
target and copies what is missing or of another size. Each copy is verified: the bytes
read from the source are hashed as they stream, the new object is read back and hashed
again, and its size and digest must match. Content-Type, the other content headers and
user metadata go with the object to an s3 target (a local directory cannot keep them).

Each side has its own endpoint, region and keys (`Side`), so one run can copy from one
provider to another. An object the source stored with one PUT (its ETag a plain MD5) is
written to an s3 target with one PUT too, so that the target computes the same ETag and
clients that compare ETags see the same object; it waits for that in a spool file on
disk, never in memory. Multipart-uploaded objects stream through, in the source's own
part size where the source tells it (GetObjectAttributes) and its parts are even, so the
target's ETag (the MD5 of the parts' MD5s, -N) is the source's too.
"""

from __future__ import annotations

import asyncio
import configparser
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obstore
from obstore.store import LocalStore

from .cache.origin import one_line
from .castore.errors import BadStoreURL
from .castore.s3 import s3_store
from .origins.bucket_requests import BucketRequests, bucket_address
from .origins.whole import put_as_source
from .serve_errors import ServeError

READ_SIZE = 1024 * 1024

# Each S3 setting a side may give: the s3_store() option, the key in an AWS profile, and
# the variable (after SOURCE_ or TARGET_) that gives it when neither option nor profile does.
FIELDS = (
    ("access_key_id", "aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    ("secret_access_key", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("session_token", "aws_session_token", "AWS_SESSION_TOKEN"),
    ("region", "region", "AWS_REGION"),
    ("endpoint", "endpoint_url", "AWS_ENDPOINT_URL"),
)


def _aws_file(variable: str, name: str) -> Path:
    """One of the AWS shared files: where the variable points, else ~/.aws/NAME, as every AWS tool looks."""
    return Path(os.environ.get(variable) or Path("~/.aws") / name).expanduser()


def _read_ini(path: Path) -> configparser.RawConfigParser | None:
    """The file parsed, or None when it is absent; raw, because secrets may hold '%'."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ServeError(f"cannot read {path}: {one_line(exc)}") from None
    return parser


def read_profile(name: str) -> dict[str, str]:
    """The s3_store() options a named AWS profile gives: `[profile NAME]` in the config
    file, `[NAME]` in the credentials file, whose keys win as they do for the AWS CLI."""
    config, credentials = _aws_file("AWS_CONFIG_FILE", "config"), _aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
    config_sections = [f"profile {name}", *(["default"] if name == "default" else [])]
    found: dict[str, str] = {}
    exists = False
    for path, sections in ((config, config_sections), (credentials, [name])):
        parser = _read_ini(path)
        for section in sections:
            if parser is not None and parser.has_section(section):
                exists = True
                found.update(parser.items(section))
    if not exists:
        raise ServeError(f"no AWS profile {name!r} in {config} or {credentials}")
    return {option: found[key].strip() for option, key, _ in FIELDS if found.get(key, "").strip()}


@dataclass(frozen=True)
class Side:
    """Where one bucket's endpoint, region and keys come from, each setting from the first
    that gives it: the command's options, the named profile, the ROLE_AWS_* variables.
    What none gives is left to the plain AWS_* variables, as for a side with no settings."""

    role: str  # "source" or "target": the prefix of its variables
    profile: str | None = None
    endpoint: str | None = None
    region: str | None = None

    def options(self, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The s3_store() options for this side (empty: the plain AWS_* variables alone)."""
        given = {"endpoint": self.endpoint, "region": self.region}
        profile = read_profile(self.profile) if self.profile else {}
        prefix = f"{self.role.upper()}_"
        options = {}
        for option, _, variable in FIELDS:
            value = given.get(option) or profile.get(option) or environ.get(prefix + variable)
            if value:
                options[option] = value
        self._refuse_a_foreign_token(options, environ)
        return options

    def _refuse_a_foreign_token(self, options: Mapping[str, str], environ: Mapping[str, str]) -> None:
        """The S3 client reads AWS_SESSION_TOKEN itself and would send it with keys it does
        not belong to (every request refused): say so before anything is tried."""
        if "access_key_id" in options and "session_token" not in options and environ.get("AWS_SESSION_TOKEN"):
            variable = f"{self.role.upper()}_AWS_SESSION_TOKEN"
            raise ServeError(f"the {self.role} has keys of its own but AWS_SESSION_TOKEN is set and would go with "
                             f"them: unset it (a side that needs it can take it from {variable} or a profile)")


@dataclass
class Bucket:
    """An opened side: its store, and whether it is S3 (keeps attributes, computes ETags as the source did)."""

    store: Any
    is_s3: bool
    requests: BucketRequests | None = None  # an s3 side's signed requests (its listing, its objects' parts)
    root: str | None = None  # a directory side's folder


def open_bucket(url: str, side: Side | None = None) -> Bucket:
    """s3://bucket/prefix (options from the side, else the AWS_* variables) or file:///dir."""
    if url.startswith("file://"):
        try:
            root = url[len("file://"):]
            return Bucket(LocalStore(root, mkdir=True), is_s3=False, root=root)
        except Exception as exc:  # noqa: BLE001 - the store's own error types vary
            raise ServeError(f"bad bucket URL {url!r}: {exc}") from None
    if not url.startswith("s3://"):
        raise ServeError(f"bad bucket URL {url!r}: expected s3://bucket/prefix or file:///dir")
    options = side.options() if side else {}
    try:
        return Bucket(s3_store(url, options), is_s3=True, requests=BucketRequests(url, bucket_address(url, options)))
    except BadStoreURL as exc:
        raise ServeError(str(exc)) from None


@dataclass
class Tally:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    todo: int | None = None  # None until both buckets are listed

    def interrupted_line(self) -> str:
        """What an interrupted run tells its user: how far it got, and that running again resumes."""
        if self.todo is None:
            return "interrupted while listing the buckets, before copying anything; run the same command again"
        return (f"interrupted: {self.copied} of {self.todo} objects copied ({self.copied_bytes / 1e6:.1f} MB); "
                f"run the same command again to copy the rest")


async def _listing(bucket: Bucket, prefix: str | None) -> dict[str, int]:
    """Key → size of what a side holds under `prefix` (a folder). An s3 side is listed as
    the bucket holds its keys: the store client's listing would give a folder marker `a/`
    as `a`, a key that is not there."""
    found: dict[str, int] = {}
    if bucket.requests is not None:
        async for item in bucket.requests.list_objects(prefix.strip("/") + "/" if prefix else ""):
            found[item.key] = item.size
        return found
    async for batch in obstore.list(bucket.store, prefix, chunk_size=1000):
        for meta in batch:
            found[str(meta["path"])] = int(meta["size"])
    return found


def _store_can_name(key: str) -> bool:
    """Whether the object-store client takes `key` as it is: it reads keys as paths, so
    one ending in `/` or with an empty, `.` or `..` segment would name another object."""
    return all(segment not in ("", ".", "..") for segment in key.split("/"))


async def _copy_marker(target: Bucket, key: str, size: int) -> None:
    """A key the store client cannot name: copied if it is an empty folder marker (`a/`,
    as consoles make them), by a request of its own; anything else is one the copy lists
    as failed, never one it writes under another key."""
    if size != 0 or not key.endswith("/") or not _store_can_name(key[:-1]):
        raise ValueError("a key ending in '/' or with an empty, '.' or '..' segment can only be copied as an "
                         "empty folder marker")
    if target.requests is not None:
        await target.requests.put_empty(key)
        if await target.requests.size_of(key) != 0:
            raise ValueError("the folder marker is not empty when read back")
    elif target.root is not None:
        os.makedirs(os.path.join(target.root, key), exist_ok=True)  # a directory's own marker


async def _digest_of(store: Any, key: str) -> tuple[int, bytes]:
    result = await obstore.get_async(store, key)
    digest, size = hashlib.sha256(), 0
    async for part in result.stream(min_chunk_size=READ_SIZE):
        digest.update(part)
        size += len(part)
    return size, digest.digest()


@dataclass
class _Reading:
    """One source object's bytes as they pass through: counted and hashed, for the check after."""

    result: Any
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    async def parts(self) -> AsyncIterator[Any]:
        async for part in self.result.stream(min_chunk_size=READ_SIZE):
            self.digest.update(part)
            self.size += len(part)
            yield part


async def _copy_one(source: Bucket, target: Bucket, key: str, size: int, spool: str | None) -> None:
    """Copy one object, then read the copy back: it counts as copied only if size and SHA-256 match."""
    if not _store_can_name(key):
        await _copy_marker(target, key, size)
        return
    result = await obstore.get_async(source.store, key)
    attributes = {name: str(value) for name, value in result.attributes.items() if value} if target.is_s3 else {}
    reading = _Reading(result)
    etag = result.meta.get("e_tag") if target.is_s3 else None  # a directory computes no ETags
    part = await source.requests.even_part_size(key, etag, size) if source.requests and etag else None
    await put_as_source(target.store, key, reading.parts(), etag, spool or tempfile.gettempdir(),
                        attributes or None, part)
    if reading.size != size:
        raise ValueError(f"read {reading.size} bytes of {size}")
    copied_size, copied_digest = await _digest_of(target.store, key)
    if (copied_size, copied_digest) != (size, reading.digest.digest()):
        raise ValueError("the copy differs from the source when read back")


async def migrate(source_url: str, target_url: str, prefix: str | None, concurrency: int, *,
                  sides: tuple[Side, Side] | None = None, spool: str | None = None) -> int:
    """Copy what the target lacks; on Ctrl-C, say how far it got before the interrupt goes on (exit 130)."""
    if spool is not None and not os.path.isdir(spool):
        raise ServeError(f"--spool {spool!r}: not a directory")
    source_side, target_side = sides or (None, None)
    source, target = open_bucket(source_url, source_side), open_bucket(target_url, target_side)
    started = time.monotonic()
    tally = Tally()
    try:
        todo = await _plan(source, target, prefix, tally)
        await _copy_all(source, target, todo, concurrency, spool, tally)
    except asyncio.CancelledError:
        print(tally.interrupted_line(), file=sys.stderr)
        raise
    seconds = time.monotonic() - started
    rate = tally.copied_bytes / seconds / 1e6 if seconds > 0 else 0.0
    print(f"migrated {source_url} -> {target_url}: {tally.copied} copied ({tally.copied_bytes:,} bytes), "
          f"{tally.skipped} already there, {len(tally.failed)} failed, in {seconds:.1f} s ({rate:.1f} MB/s)")
    for line in tally.failed[:20]:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if tally.failed else 0


async def _plan(source: Bucket, target: Bucket, prefix: str | None, tally: Tally) -> list[tuple[str, int]]:
    """The keys to copy (missing from the target, or of another size), in order; the rest counted as skipped."""
    try:
        wanted = await _listing(source, prefix)
        present = await _listing(target, prefix)
    except Exception as exc:  # noqa: BLE001 - one line for the user, whatever the store raised
        raise ServeError(f"cannot list: {one_line(exc)}") from None
    todo = []
    for key, size in sorted(wanted.items()):
        if present.get(key) == size:
            tally.skipped += 1
        else:
            todo.append((key, size))
    tally.todo = len(todo)
    return todo


async def _copy_all(source: Bucket, target: Bucket, todo: list[tuple[str, int]], concurrency: int, spool: str | None,
                    tally: Tally) -> None:
    """Copy `todo` with `concurrency` workers, each failure noted in the tally rather than stopping the rest."""
    bar = _bar(len(todo), sum(size for _, size in todo))
    # Folder markers first, one at a time, parents first (the order sorts them in),
    # never beside a write into their folder: a bucket that keeps folders (SeaweedFS)
    # makes the folder for `a/b` too, and a marker written at the same moment once lost
    # that race there (written, read back, and not listed).
    markers = [item for item in todo if not _store_can_name(item[0])]
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for item in todo:
        if _store_can_name(item[0]):
            queue.put_nowait(item)

    async def copy(key: str, size: int) -> None:
        try:
            await _copy_one(source, target, key, size, spool)
            tally.copied += 1
            tally.copied_bytes += size
        except Exception as exc:  # noqa: BLE001 - reported per object in the summary
            tally.failed.append(f"{key}: {one_line(exc)}")
        if bar is not None:
            bar.update(size)
            bar.set_postfix_str(f"{tally.copied + len(tally.failed)}/{len(todo)} objects")

    async def worker() -> None:
        while not queue.empty():
            await copy(*queue.get_nowait())

    try:
        for key, size in markers:
            await copy(key, size)
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    finally:
        if bar is not None:
            bar.close()


def _bar(objects: int, total_bytes: int):  # noqa: ANN202 - tqdm or None
    """Bytes with rate and ETA, objects alongside; on a terminal only."""
    if not sys.stderr.isatty() or not objects:
        return None
    from tqdm import tqdm

    size = shutil.get_terminal_size((80, 24))
    return tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="migrate", file=sys.stderr,
                ncols=size.columns or 80, postfix=f"0/{objects} objects")
