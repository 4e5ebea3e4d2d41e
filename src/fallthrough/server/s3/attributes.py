"""GetObjectAttributes: what a client asks (x-amz-object-attributes, the parts' page) and
the document it gets, from what the origin bucket answered.

A multipart upload completed through the API reaches the bucket in the client's own
parts (see api.py), so the parts the bucket lists are the ones the client sent.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from ...origins.bucket_requests import ObjectAttributes
from .errors import S3Error
from .listing import XMLNS

NAMES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def _count(headers: dict[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise S3Error("InvalidArgument", f"{name} must be a non-negative integer")
    return int(value)


def attributes_asked(headers: dict[str, str]) -> tuple[list[str], int | None, int | None]:
    """(the attributes named, max-parts, part-number-marker) of a request."""
    names = [name.strip() for name in headers.get("x-amz-object-attributes", "").split(",") if name.strip()]
    if not names:
        raise S3Error("InvalidArgument", "x-amz-object-attributes must name at least one attribute")
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise S3Error("InvalidArgument", f"unknown object attribute {unknown[0]!r} (known: {', '.join(NAMES)})")
    max_parts = _count(headers, "x-amz-max-parts")
    if max_parts is not None:
        max_parts = min(max_parts, MAX_PARTS)
    return names, max_parts, _count(headers, "x-amz-part-number-marker")


def attributes_document(found: ObjectAttributes, names: list[str]) -> str:
    """The answer, with the attributes asked for that the bucket told."""
    out = []
    if "ETag" in names and found.etag:
        out.append(f"<ETag>{escape(found.etag)}</ETag>")
    if "ObjectParts" in names and found.parts_count is not None:
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><Size>{size}</Size></Part>" for n, size in found.parts)
        page = [f"<PartsCount>{found.parts_count}</PartsCount>",
                f"<PartNumberMarker>{found.part_number_marker}</PartNumberMarker>"]
        if found.next_part_number_marker is not None:
            page.append(f"<NextPartNumberMarker>{found.next_part_number_marker}</NextPartNumberMarker>")
        if found.max_parts is not None:
            page.append(f"<MaxParts>{found.max_parts}</MaxParts>")
        page.append(f"<IsTruncated>{'true' if found.truncated else 'false'}</IsTruncated>")
        out.append(f"<ObjectParts>{''.join(page)}{parts}</ObjectParts>")
    if "StorageClass" in names:
        out.append(f"<StorageClass>{escape(found.storage_class or 'STANDARD')}</StorageClass>")
    if "ObjectSize" in names and found.size is not None:
        out.append(f"<ObjectSize>{found.size}</ObjectSize>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<GetObjectAttributesResponse xmlns="{XMLNS}">{"".join(out)}</GetObjectAttributesResponse>')
