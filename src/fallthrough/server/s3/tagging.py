"""Object tags as S3 takes them from a client: a Tagging document (PutObjectTagging) or
the x-amz-tagging header's query-string form (PutObject), checked against S3's limits
before the origin bucket sees them, so a client gets S3's own InvalidTag for a bad set
whatever the bucket behind would have said.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from ...origins.bucket_requests import parse_tag_set
from .errors import S3Error

MAX_TAGS = 10
MAX_KEY = 128  # characters, as S3 counts them
MAX_VALUE = 256
MAX_DOCUMENT = 64 * 1024
# Besides letters, digits and spaces of any script, what tags may hold (S3's tag rules).
PUNCTUATION = frozenset("+-=._:/@")


def _allowed(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in PUNCTUATION for c in text)


def checked(tags: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(tags) > MAX_TAGS:
        raise S3Error("InvalidTag", f"an object has at most {MAX_TAGS} tags")
    seen: set[str] = set()
    for key, value in tags:
        if not 1 <= len(key) <= MAX_KEY:
            raise S3Error("InvalidTag", f"a tag's key is 1 to {MAX_KEY} characters")
        if len(value) > MAX_VALUE:
            raise S3Error("InvalidTag", f"a tag's value is at most {MAX_VALUE} characters")
        if not _allowed(key) or not _allowed(value):
            raise S3Error("InvalidTag", "tags hold letters, digits, spaces and + - = . _ : / @ only")
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "tag keys starting with 'aws:' are reserved")
        if key in seen:
            raise S3Error("InvalidTag", f"the tag key {key!r} is given twice")
        seen.add(key)
    return tags


def tags_of_document(document: bytes) -> list[tuple[str, str]]:
    """PutObjectTagging's body, checked."""
    if len(document) > MAX_DOCUMENT:
        raise S3Error("MalformedXML", "the Tagging document is too large")
    try:
        return checked(parse_tag_set(document))
    except ValueError as exc:
        raise S3Error("MalformedXML", f"the Tagging document is not one S3 reads: {exc}") from None


def tags_of(headers: dict[str, str]) -> dict[str, str] | None:
    """A write's tags: its x-amz-tagging (`k1=v1&k2=v2`, URL-encoded), checked; None without."""
    value = headers.get("x-amz-tagging")
    if value is None:
        return None
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value))
    except ValueError:
        raise S3Error("InvalidArgument", "x-amz-tagging must be URL query parameters (k1=v1&k2=v2)") from None
    return dict(checked(pairs))
