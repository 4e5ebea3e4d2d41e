"""Multipart uploads in progress: parts kept as files until the upload completes.

S3 clients send parts in any order, from any connection, so each part is a file under
`store.path/uploads/<upload id>/`, next to what CreateMultipartUpload said (key,
attributes). Completing streams the listed parts, in order, into one write to the
origin, and removes the folder; so does aborting. Every server process shares the
folder, so parts may land on any worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator

from .errors import S3Error

PART_READ = 1024 * 1024
MAX_PART_NUMBER = 10_000
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


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

    def create(self, bucket: str, key: str, attributes: dict[str, str]) -> str:
        upload_id = secrets.token_hex(16)
        folder = os.path.join(self.root, upload_id)
        os.makedirs(folder)
        with open(os.path.join(folder, "upload.json"), "w", encoding="utf-8") as f:
            json.dump({"bucket": bucket, "key": key, "attributes": attributes}, f)
        return upload_id

    def attributes(self, upload_id: str, bucket: str, key: str) -> dict[str, str]:
        with open(os.path.join(self._folder(upload_id, bucket, key), "upload.json"), encoding="utf-8") as f:
            return dict(json.load(f)["attributes"])

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
        for number, etag in parts:
            path = os.path.join(folder, f"{number:05d}-{etag.strip(chr(34)).lower()}.part")
            if not re.fullmatch(r'"?[0-9a-fA-F]{32}"?', etag) or not os.path.exists(path):
                raise S3Error("InvalidPart", f"part {number} was not uploaded, or its ETag does not match")
            files.append(path)
        return files

    @staticmethod
    async def read_parts(files: list[str]) -> AsyncIterator[bytes]:
        for path in files:
            with open(path, "rb") as f:
                while data := await asyncio.to_thread(f.read, PART_READ):
                    yield data

    def remove(self, upload_id: str, bucket: str, key: str) -> None:
        shutil.rmtree(self._folder(upload_id, bucket, key), ignore_errors=True)
