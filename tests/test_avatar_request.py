"""Avatar requests as clients write them: every parameter, its edge values, its refusals."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.avatars.request import KEYWORDS, AvatarRequest, parse, parse_canonical
from fallthrough.transforms.derived import BadTransform

MD5 = "0bc83cb571cd1c50ba6f3e8a78ef1346"
SHA256 = "a" * 64


def allow(url: str) -> str:
    if "bad.example" in url:
        raise ValueError("the host bad.example is not allowed")
    return url


def read(rest: str, query: str = "") -> AvatarRequest:
    return parse(rest, query, allow)


def refused(rest: str, query: str = "") -> BadTransform:
    with pytest.raises(BadTransform) as caught:
        read(rest, query)
    return caught.value


def test_a_bare_hash_is_80_pixels_in_the_drawings_own_format() -> None:
    assert read("/" + MD5) == AvatarRequest(MD5, 80, None)
    assert read("/" + SHA256).hash == SHA256


@pytest.mark.parametrize("extension, fmt", [("jpg", "jpeg"), ("JPG", "jpeg"), ("jpeg", "jpeg"), ("png", "png"),
                                             ("webp", "webp")])
def test_extensions_name_the_format(extension: str, fmt: str) -> None:
    assert read(f"/{MD5}.{extension}").format == fmt


@pytest.mark.parametrize("rest", ["/" + MD5 + ".gif", "/" + MD5 + ".", "/" + MD5[:-1], "/" + MD5 + "0",
                                  "/" + "g" * 32, "/", "", "/" + MD5 + "/x", "/" + "a" * 63])
def test_paths_that_name_no_avatar_are_404(rest: str) -> None:
    assert refused(rest).status == 404


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32))
def test_any_case_is_the_same_avatar(text: str) -> None:
    assert read("/" + text).query() == read("/" + text.lower()).query()


@pytest.mark.parametrize("query, size", [("s=1", 1), ("s=2048", 2048), ("size=512", 512), ("s=0080", 80)])
def test_sizes_from_1_to_2048(query: str, size: int) -> None:
    assert read("/" + MD5, query).size == size


@pytest.mark.parametrize("value", ["0", "2049", "-1", "1.5", "abc", "", "99999999", "١٢", "80px", "+80"])
def test_sizes_outside_the_range_are_400(value: str) -> None:
    error = refused("/" + MD5, "s=" + quote(value))
    assert error.status == 400 and "1 to 2048" in error.message


def test_a_parameter_given_twice_is_400_in_either_spelling() -> None:
    assert refused("/" + MD5, "s=80&size=90").status == 400
    assert refused("/" + MD5, "d=mp&d=retro").status == 400


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_default_keyword(keyword: str) -> None:
    assert read("/" + MD5, "d=" + keyword.upper()).default == keyword
    assert read("/" + MD5, "default=" + keyword).default == keyword


def test_old_names_of_the_mystery_person() -> None:
    assert read("/" + MD5, "d=mm").default == "mp"
    assert read("/" + MD5, "d=mystery").default == "mp"


def test_an_unknown_default_is_400() -> None:
    assert refused("/" + MD5, "d=robot").status == 400
    assert refused("/" + MD5, "d=" + quote("ftp://example.com/a.png")).status == 400


def test_a_default_url_is_vetted() -> None:
    url = "https://img.example.com/default.png"
    assert read("/" + MD5, "d=" + quote(url, safe="")).default == url
    # A URL that may not be fetched is only a fallback unless forced: then it is refused.
    assert read("/" + MD5, "d=" + quote("https://bad.example/x.png", safe="")).default is None
    error = refused("/" + MD5, "f=y&d=" + quote("https://bad.example/x.png", safe=""))
    assert error.status == 400 and "bad.example" in error.message


@pytest.mark.parametrize("value, forced", [("y", True), ("Y", True), ("yes", True), ("true", True), ("1", True),
                                           ("n", False), ("no", False), ("0", False), ("", False)])
def test_forcedefault(value: str, forced: bool) -> None:
    assert read("/" + MD5, "f=" + value).forced is forced
    assert read("/" + MD5, "forcedefault=" + value).forced is forced


def test_a_bad_forcedefault_is_400() -> None:
    assert refused("/" + MD5, "f=maybe").status == 400


@pytest.mark.parametrize("rating", ["g", "pg", "r", "x", "G", "PG"])
def test_every_rating_is_met_by_a_generated_avatar(rating: str) -> None:
    assert read("/" + MD5, "r=" + rating) == read("/" + MD5)
    assert read("/" + MD5, "rating=" + rating) == read("/" + MD5)


def test_a_bad_rating_is_400() -> None:
    assert refused("/" + MD5, "r=nc17").status == 400


def test_unknown_parameters_are_ignored() -> None:
    assert read("/" + MD5, "v=3&cache=bust").query() == read("/" + MD5).query()


def test_spellings_of_one_avatar_share_a_canonical_query() -> None:
    one = read("/" + MD5.upper() + ".png", "size=120&default=RETRO&forcedefault=yes&rating=pg")
    other = read("/" + MD5 + ".png", "d=retro&s=120&f=y")
    assert one.query() == other.query()


@given(st.sampled_from([None, "jpeg", "png", "webp"]), st.integers(1, 2048),
       st.sampled_from([None, *KEYWORDS, "https://img.example.com/a b.png?x=1&y=2"]), st.booleans())
def test_the_canonical_query_reads_back(fmt: str | None, size: int, default: str | None, forced: bool) -> None:
    request = AvatarRequest(MD5, size, fmt, default, forced)
    assert parse_canonical(request.query()) == request


@given(st.text(max_size=40))
def test_any_query_is_an_answer_or_a_4xx(query: str) -> None:
    try:
        read("/" + MD5, query)
    except BadTransform as exc:
        assert 400 <= exc.status < 500 and exc.message
