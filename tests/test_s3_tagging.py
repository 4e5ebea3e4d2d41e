"""What the S3 API takes as an object's tags: any header or document gives a tag set within
S3's limits or S3's error, never anything else; a valid set reads back as it was sent."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from fallthrough.origins.bucket_requests import tagging_document
from fallthrough.server.s3.errors import S3Error
from fallthrough.server.s3.tagging import MAX_KEY, MAX_TAGS, MAX_VALUE, PUNCTUATION, tags_of, tags_of_document

TAG_TEXT = st.text(st.sampled_from("abcXYZ019 " + "".join(PUNCTUATION) + "äß東"), max_size=20)
VALID = st.dictionaries(TAG_TEXT.filter(lambda k: k and not k.lower().startswith("aws:")), TAG_TEXT,
                        max_size=MAX_TAGS)


def within_limits(tags: dict[str, str] | list[tuple[str, str]]) -> bool:
    pairs = list(tags.items()) if isinstance(tags, dict) else tags
    return len(pairs) <= MAX_TAGS and all(1 <= len(k) <= MAX_KEY and len(v) <= MAX_VALUE for k, v in pairs)


@given(st.text(max_size=200))
def test_any_tagging_header_is_a_set_within_limits_or_s3s_error(header: str) -> None:
    try:
        tags = tags_of({"x-amz-tagging": header})
    except S3Error as exc:
        assert exc.code in ("InvalidTag", "InvalidArgument") and exc.status == 400
    else:
        assert tags is not None and within_limits(tags)


DOCUMENTS = st.binary(max_size=300) | st.text(max_size=300).map(
    lambda inner: f"<Tagging><TagSet>{inner}</TagSet></Tagging>".encode())


@given(DOCUMENTS)
def test_any_tagging_document_is_a_set_within_limits_or_s3s_error(document: bytes) -> None:
    try:
        tags = tags_of_document(document)
    except S3Error as exc:
        assert exc.code in ("InvalidTag", "MalformedXML") and exc.status == 400
    else:
        assert within_limits(tags)


@given(VALID)
def test_a_valid_tag_set_reads_back_from_either_form(tags: dict[str, str]) -> None:
    assert dict(tags_of_document(tagging_document(list(tags.items())))) == tags
    header = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())
    assert tags_of({"x-amz-tagging": header}) == tags
