"""Multipart uploads in progress: parts kept as files until the upload completes.

S3 clients send parts in any order, from any connection, so each part is a file under
`store.path/uploads/<upload id>/`, next to what CreateMultipartUpload said (key,
attributes). Completing streams the listed parts, in order, into one write to the
origin, and removes the folder; so does aborting. Every server process shares the
folder, so parts may land on any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

from .errors import S3Error
from .listing import XMLNS, iso8601
from .listing import OWNER

PART_READ = 1024 * 1024
DONE_KEPT = 3600  # seconds a completed upload's answer is kept for a completion sent again
MAX_PART_NUMBER = 10_000
MIN_PART = 5 * 1024 * 1024  # bytes every part but the last must hold, as in S3
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_PART = re.compile(r"(\d{5})-([0-9a-f]{32})\.part")


def _count(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise S3Error("InvalidArgument", f"{name} must be a whole number")
    return int(value)


def part_size(files: list[str]) -> int | None:
    """The size of a completed upload's parts when the bucket can be given the same ones:
    every part but the last of one size, the last no larger. The bucket's parts, and so
    its ETag (the MD5 of the parts' MD5s, -N), are then the client's. None otherwise."""
    sizes = [os.path.getsize(path) for path in files]
    first = sizes[0] if sizes else 0
    if not first or any(size != first for size in sizes[:-1]) or sizes[-1] > first:
        return None
    return first


class Uploads:
    def __init__(self, root: str) -> None:
        self.root = root

    def _folder(self, upload_id: str, bucket: str, key: str) -> str:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise S3Error("NoSuchUpload", "The specified upload does not exist.", 404)
        folder = os.path.join(self.root, upload_id)
        try:
            with open(os.path.join(folder, "upload.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            raise S3Error("NoSuchUpload", "The specified upload does not exist.", 404) from None
        if (meta.get("bucket"), meta.get("key")) != (bucket, key):
            raise S3Error("NoSuchUpload", "The specified upload is for another key.", 404)
        return folder

    def create(self, bucket: str, key: str, attributes: dict[str, str], tags: dict[str, str] | None = None) -> str:
        upload_id = secrets.token_hex(16)
        folder = os.path.join(self.root, upload_id)
        os.makedirs(folder)
        with open(os.path.join(folder, "upload.json"), "w", encoding="utf-8") as f:
            json.dump({"bucket": bucket, "key": key, "attributes": attributes, "tags": tags}, f)
        return upload_id

    def attributes(self, upload_id: str, bucket: str, key: str) -> tuple[dict[str, str], dict[str, str] | None]:
        """What the object is written with: its attributes, and its tags if it was given any."""
        with open(os.path.join(self._folder(upload_id, bucket, key), "upload.json"), encoding="utf-8") as f:
            meta = json.load(f)
        return dict(meta["attributes"]), meta.get("tags")

    async def put_part(self, upload_id: str, bucket: str, key: str, number: int,
                       body: AsyncIterator[bytes]) -> str:
        """Store one part (a retry replaces it); its ETag, the MD5 of its bytes, as S3's."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", f"partNumber must be from 1 to {MAX_PART_NUMBER}")
        folder = self._folder(upload_id, bucket, key)
        partial = os.path.join(folder, f"incoming-{secrets.token_hex(8)}")
        digest = hashlib.md5(usedforsecurity=False)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for data in body:
                digest.update(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            os.close(fd)
            fd = -1
            # The part's name carries its MD5: completing checks ETags by name alone.
            final = f"{number:05d}-{digest.hexdigest()}.part"
            os.replace(partial, os.path.join(folder, final))
        finally:
            if fd >= 0:
                os.close(fd)
            if os.path.exists(partial):
                os.unlink(partial)
        for name in os.listdir(folder):  # an earlier upload of this part number
            if name.startswith(f"{number:05d}-") and name != final:
                os.unlink(os.path.join(folder, name))
        return f'"{digest.hexdigest()}"'

    def check_parts(self, upload_id: str, bucket: str, key: str, parts: list[tuple[int, str]]) -> list[str]:
        """The files of the parts a CompleteMultipartUpload lists, checked against their ETags."""
        folder = self._folder(upload_id, bucket, key)
        if not parts:
            raise S3Error("MalformedXML", "the upload lists no parts")
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order.")
        files = []
        for at, (number, etag) in enumerate(parts):
            path = os.path.join(folder, f"{number:05d}-{etag.strip(chr(34)).lower()}.part")
            if not re.fullmatch(r'"?[0-9a-fA-F]{32}"?', etag) or not os.path.exists(path):
                raise S3Error("InvalidPart", f"part {number} was not uploaded, or its ETag does not match")
            if at < len(parts) - 1 and os.path.getsize(path) < MIN_PART:
                raise S3Error("EntityTooSmall", f"part {number} is smaller than 5 MiB, which only the last may be")
            files.append(path)
        return files

    @staticmethod
    async def read_parts(files: list[str]) -> AsyncIterator[bytes]:
        for path in files:
            with open(path, "rb") as f:
                while data := await asyncio.to_thread(f.read, PART_READ):
                    yield data

    def parts(self, upload_id: str, bucket: str, key: str) -> list[tuple[int, str, int, float]]:
        """The parts uploaded so far: (number, ETag, size, when), by number."""
        folder = self._folder(upload_id, bucket, key)
        found = []
        for name in os.listdir(folder):
            match = _PART.fullmatch(name)
            if match is not None:
                stat = os.stat(os.path.join(folder, name))
                found.append((int(match.group(1)), f'"{match.group(2)}"', stat.st_size, stat.st_mtime))
        return sorted(found)

    def list_parts(self, upload_id: str, bucket: str, key: str, params: dict[str, str]) -> str:
        """ListParts' document: the parts after part-number-marker, max-parts of them (1000)."""
        marker = _count(params.get("part-number-marker", "0"), "part-number-marker")
        limit = min(_count(params.get("max-parts", "1000"), "max-parts"), 1000)
        after = [p for p in self.parts(upload_id, bucket, key) if p[0] > marker]
        page, truncated = after[:limit], len(after) > limit
        listed = "".join(f"<Part><PartNumber>{n}</PartNumber><LastModified>{iso8601(when)}</LastModified>"
                         f"<ETag>{escape(etag)}</ETag><Size>{size}</Size></Part>" for n, etag, size, when in page)
        next_marker = f"<NextPartNumberMarker>{page[-1][0]}</NextPartNumberMarker>" if page else ""
        return (f'<ListPartsResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>'
                f"<UploadId>{upload_id}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>{next_marker}"
                f"<MaxParts>{limit}</MaxParts><IsTruncated>{str(truncated).lower()}</IsTruncated>"
                f"{OWNER}<Initiator><ID>fallthrough</ID><DisplayName>fallthrough</DisplayName></Initiator>"
                f"<StorageClass>STANDARD</StorageClass>{listed}</ListPartsResult>")

    def list_uploads(self, bucket: str, params: dict[str, str]) -> str:
        """ListMultipartUploads' document: the uploads in progress into `bucket` under
        prefix=, in key order (then upload id), after key-marker / upload-id-marker."""
        prefix = params.get("prefix", "")
        key_marker, id_marker = params.get("key-marker", ""), params.get("upload-id-marker", "")
        limit = min(_count(params.get("max-uploads", "1000"), "max-uploads"), 1000)
        uploads = []
        for upload_id in os.listdir(self.root) if os.path.isdir(self.root) else []:
            try:
                with open(os.path.join(self.root, upload_id, "upload.json"), encoding="utf-8") as f:
                    meta = json.load(f)
                when = os.stat(os.path.join(self.root, upload_id, "upload.json")).st_mtime
            except (OSError, ValueError):
                continue  # removed meanwhile, or not an upload
            key = meta.get("key") if isinstance(meta, dict) else None
            after = key > key_marker or (key == key_marker and bool(id_marker) and upload_id > id_marker) \
                if isinstance(key, str) else False
            if meta.get("bucket") == bucket and isinstance(key, str) and key.startswith(prefix) and after:
                uploads.append((key, upload_id, when))
        uploads.sort()
        page, truncated = uploads[:limit], len(uploads) > limit
        listed = "".join(f"<Upload><Key>{escape(k)}</Key><UploadId>{u}</UploadId>"
                         f"<Initiator><ID>fallthrough</ID><DisplayName>fallthrough</DisplayName></Initiator>"
                         f"{OWNER}<StorageClass>STANDARD</StorageClass><Initiated>{iso8601(w)}</Initiated></Upload>"
                         for k, u, w in page)
        following = (f"<NextKeyMarker>{escape(page[-1][0])}</NextKeyMarker>"
                     f"<NextUploadIdMarker>{page[-1][1]}</NextUploadIdMarker>") if truncated else ""
        return (f'<ListMultipartUploadsResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
                f"<KeyMarker>{escape(key_marker)}</KeyMarker><UploadIdMarker>{escape(id_marker)}</UploadIdMarker>"
                f"{following}<Prefix>{escape(prefix)}</Prefix><MaxUploads>{limit}</MaxUploads>"
                f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{listed}</ListMultipartUploadsResult>")

    def remove(self, upload_id: str, bucket: str, key: str) -> None:
        shutil.rmtree(self._folder(upload_id, bucket, key), ignore_errors=True)

    def completed(self, upload_id: str, bucket: str, key: str, etag: str | None) -> None:
        """The upload is done (its object written): its parts go, and what it answered is
        kept DONE_KEPT seconds, so that a client that re-sends the completion (its answer
        was lost) hears it again instead of NoSuchUpload, as from S3."""
        self.remove(upload_id, bucket, key)
        now = time.time()
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if name.startswith("done-") and now - _mtime(path) > DONE_KEPT:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        with open(os.path.join(self.root, f"done-{upload_id}.json"), "w", encoding="utf-8") as f:
            json.dump({"bucket": bucket, "key": key, "etag": etag}, f)

    def completed_etag(self, upload_id: str, bucket: str, key: str) -> str | None:
        """The ETag a completion of this upload answered within DONE_KEPT seconds, if any."""
        if not _UPLOAD_ID.fullmatch(upload_id):
            return None
        path = os.path.join(self.root, f"done-{upload_id}.json")
        try:
            if time.time() - _mtime(path) > DONE_KEPT:
                return None
            with open(path, encoding="utf-8") as f:
                done = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(done, dict) or (done.get("bucket"), done.get("key")) != (bucket, key):
            return None
        return str(done.get("etag") or "")


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0
