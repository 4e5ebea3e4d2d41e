"""Format negotiation from Accept: what real browsers and tools send, and the rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.negotiate import MEDIA_TYPES, format_of_name, negotiate

# Accept headers browsers send for <img> requests, and curl's default.
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI = ("image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
          "image/svg+xml,image/*;q=0.8,*/*;q=0.5")
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
EDGE_LEGACY = "image/webp,image/apng,image/*,*/*;q=0.8"
CURL = "*/*"


def test_browsers_that_name_avif_get_avif() -> None:
    for accept in (CHROME, FIREFOX, SAFARI):
        assert negotiate(accept, "png") == "avif"
        assert negotiate(accept, "jpeg") == "avif"


def test_webp_without_avif() -> None:
    assert negotiate(EDGE_LEGACY, "png") == "webp"


def test_wildcards_alone_get_the_source_format() -> None:
    assert negotiate(CURL, "png") == "png"
    assert negotiate(CURL, "jpeg") == "jpeg"
    assert negotiate(OLD_SAFARI, "jpeg") == "jpeg"
    assert negotiate(None, "gif") == "gif"
    assert negotiate("", "png") == "png"


def test_q_values_order_the_choice() -> None:
    assert negotiate("image/webp;q=0.9,image/avif;q=0.5,*/*;q=0.1", "png") == "webp"
    assert negotiate("image/avif;q=0.4,image/png", "png") == "png"
    # A tie goes to the smaller format.
    assert negotiate("image/webp,image/avif", "png") == "avif"


def test_q_zero_excludes() -> None:
    assert negotiate("image/avif;q=0,image/webp,*/*", "png") == "webp"
    assert negotiate("image/avif;q=0,image/webp;q=0,*/*", "png") == "png"
    assert negotiate("image/png;q=0,*/*", "png") == "jpeg"
    assert negotiate("image/*;q=0,image/webp", "png") == "webp"


def test_the_most_specific_range_decides() -> None:
    # image/* says q=0 for images even though */* says yes.
    assert negotiate("image/*;q=0,*/*", "png", ("png", "jpeg")) == "png"  # nothing acceptable: the source
    assert negotiate("image/jpeg,image/*;q=0", "png") == "jpeg"


def test_the_route_formats_bound_the_choice() -> None:
    assert negotiate(CHROME, "png", ("webp", "png")) == "webp"
    assert negotiate(CHROME, "png", ("png",)) == "png"
    assert negotiate(CURL, "gif", ("webp", "png")) == "png"


def test_malformed_weights_are_ignored() -> None:
    assert negotiate("image/avif;q=abc", "png") == "avif"
    assert negotiate("image/avif;q=nan", "png") == "avif"
    assert negotiate(";;,,image/webp;;q=1", "png") == "webp"


def test_format_of_name() -> None:
    assert format_of_name("/a/b.JPG") == "jpeg"
    assert format_of_name("/a/b.webp") == "webp"
    assert format_of_name("/a/b") == "png"
    assert format_of_name("/a/b.tiff") == "png"


@given(st.text(max_size=200), st.sampled_from(list(MEDIA_TYPES)),
       st.lists(st.sampled_from(list(MEDIA_TYPES)), min_size=1, unique=True))
def test_any_accept_header_gives_an_allowed_format(accept: str, source: str, allowed: list[str]) -> None:
    assert negotiate(accept, source, tuple(allowed)) in allowed


@given(st.lists(st.tuples(st.sampled_from(list(MEDIA_TYPES.values()) + ["image/*", "*/*", "text/html"]),
                          st.sampled_from(["", ";q=0", ";q=0.3", ";q=0.8", ";q=1"])), max_size=8),
       st.sampled_from(list(MEDIA_TYPES)))
def test_never_a_format_the_client_excluded(ranges: list[tuple[str, str]], source: str) -> None:
    accept = ",".join(media + q for media, q in ranges)
    chosen = negotiate(accept, source)
    first: dict[str, str] = {}
    for media, q in ranges:
        first.setdefault(media, q)
    acceptable = [name for name in MEDIA_TYPES if first.get(MEDIA_TYPES[name], "") not in (";q=0",)
                  and (MEDIA_TYPES[name] in first or name not in ("avif", "webp"))]
    if first.get(MEDIA_TYPES[chosen]) == ";q=0":
        # Only when nothing at all was acceptable may the server fall back to the source.
        assert chosen == source
        assert not any(first.get(MEDIA_TYPES[n]) not in (None, ";q=0") for n in MEDIA_TYPES)
    if chosen in ("avif", "webp") and chosen != source:
        assert MEDIA_TYPES[chosen] in first  # modern formats only when named
    assert acceptable is not None
