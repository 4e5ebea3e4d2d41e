"""IIIF Image API 3.0 request parsing and planning: examples from the spec and the
validator, then properties over arbitrary and generated requests."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.iiif_request import (
    IiifError,
    ImageRequest,
    Limits,
    Plan,
    parse_image_request,
    plan,
)


def run(region: str = "full", size: str = "max", rotation: str = "0", qf: str = "default.jpg",
        width: int = 1000, height: int = 1000, limits: Limits = Limits()) -> Plan:
    return plan(parse_image_request(region, size, rotation, qf), width, height, limits)


def status_of(*segments: str) -> int:
    with pytest.raises(IiifError) as info:
        parse_image_request(*segments)
    return info.value.status


def plan_status(region: str = "full", size: str = "max", rotation: str = "0", qf: str = "default.jpg",
                width: int = 1000, height: int = 1000, limits: Limits = Limits()) -> int:
    with pytest.raises(IiifError) as info:
        run(region, size, rotation, qf, width, height, limits)
    return info.value.status


# --- the error type ---------------------------------------------------------------------


def test_error_carries_status_and_message() -> None:
    err = IiifError(501, "nope")
    assert (err.status, err.message, str(err)) == (501, "nope", "nope")


def test_messages_are_one_line_even_for_hostile_input() -> None:
    with pytest.raises(IiifError) as info:
        parse_image_request("full\r\nX-Evil: 1" + "x" * 500, "max", "0", "default.jpg")
    assert "\n" not in info.value.message and "\r" not in info.value.message
    assert len(info.value.message) < 200


# --- region (§4.1) ---------------------------------------------------------------------


def test_full_region() -> None:
    assert run(width=300, height=200).crop == (0, 0, 300, 200)


@pytest.mark.parametrize(("w", "h", "crop"), [
    (300, 200, (50, 0, 200, 200)),
    (200, 300, (0, 50, 200, 200)),
    (301, 200, (50, 0, 200, 200)),  # floor of the odd half
    (200, 201, (0, 0, 200, 200)),
    (500, 500, (0, 0, 500, 500)),
    (1, 7, (0, 3, 1, 1)),
])
def test_square_region(w: int, h: int, crop: tuple[int, int, int, int]) -> None:
    assert run("square", width=w, height=h).crop == crop


def test_pixel_region_inside() -> None:
    p = run("10,20,30,40", width=300, height=200)
    assert p.crop == (10, 20, 30, 40) and (p.width, p.height) == (30, 40)


def test_pixel_region_is_clipped() -> None:
    assert run("250,150,100,100", width=300, height=200).crop == (250, 150, 50, 50)
    assert run("0,0,99999,99999", width=300, height=200).crop == (0, 0, 300, 200)


@pytest.mark.parametrize("region", ["300,0,10,10", "0,200,10,10", "500,500,1,1"])
def test_pixel_region_outside_is_400(region: str) -> None:
    assert plan_status(region, width=300, height=200) == 400


@pytest.mark.parametrize("region", [
    "0,0,0,10", "0,0,10,0", "-1,0,10,10", "+1,0,10,10", "1.5,0,10,10", "0,0,10", "0,0,10,10,10",
    "0, 0,10,10", "pct:0,0,0,10", "pct:0,0,10,0", "pct:-1,0,10,10", "pct:1e2,0,10,10", "pct:.,0,1,1",
    "pct:1..2,0,1,1", "Full", "FULL", "squared", "", "pct:", "\u0663,0,1,1", "0,0,10,10\n",
])
def test_malformed_regions_are_400(region: str) -> None:
    assert status_of(region, "max", "0", "default.jpg") == 400


def test_pct_region() -> None:
    assert run("pct:10,20,50,50", width=300, height=200).crop == (30, 40, 150, 100)
    assert run("pct:.5,0,10.5,100", width=1000, height=200).crop == (5, 0, 105, 200)
    assert run("pct:0,0,100,100", width=7, height=3).crop == (0, 0, 7, 3)
    assert run("pct:50,50,200,200", width=300, height=200).crop == (150, 100, 150, 100)  # clipped
    assert run("pct:5.,0,1,1", width=100, height=100).crop == (5, 0, 1, 1)


def test_pct_region_rounds_half_up_and_exactly() -> None:
    # 2.5 px and 7.5 px: both up (Python's round() would give 2 and 8).
    assert run("pct:25,75,25,25", width=10, height=10).crop == (3, 8, 3, 2)
    # 33.333333333333336% of 300 is a hair over 100 px: exact arithmetic, no float surprises.
    assert run("pct:33.333333333333336,0,33.333333333333336,100", width=300, height=10).crop == (100, 0, 100, 10)


def test_pct_region_outside_or_too_small_is_400() -> None:
    assert plan_status("pct:100,0,10,10", width=300, height=200) == 400
    assert plan_status("pct:99.9,0,10,10", width=100, height=100) == 400  # starts at 100 after rounding
    assert plan_status("pct:0,0,0.1,50", width=100, height=100) == 400  # 0.1 px wide


def test_parsed_region_values() -> None:
    r = parse_image_request("pct:1.5,2,3,4", "max", "0", "default.jpg")
    assert r.region == "pct" and r.region_values == (Fraction(3, 2), 2, 3, 4)
    r = parse_image_request("1,2,3,4", "max", "0", "default.jpg")
    assert r.region == "pixels" and r.region_values == (1, 2, 3, 4)
    assert parse_image_request("square", "max", "0", "default.jpg").region == "square"


# --- size (§4.2) ------------------------------------------------------------------------


def test_a_box_that_would_enlarge_needs_the_caret() -> None:
    """As the validator checks it (size_noup): !2000,3000 on 1000x1000 is an upscale."""
    with pytest.raises(IiifError) as refused:
        plan(parse_image_request("full", "!2000,3000", "0", "default.jpg"), 1000, 1000)
    assert refused.value.status == 400
    assert plan(parse_image_request("full", "!500,3000", "0", "default.jpg"), 1000, 1000).width == 500


@pytest.mark.parametrize(("size", "expected"), [
    ("^max", (1000, 1000)),
    ("^pct:200", (2000, 2000)),
    ("^!2000,500", (500, 500)),
    ("^!2000,3000", (2000, 2000)),
    ("^,1500", (1500, 1500)),
    ("^1500,", (1500, 1500)),
    ("max", (1000, 1000)),
])
def test_validator_sizes(size: str, expected: tuple[int, int]) -> None:
    p = run(size=size)
    assert (p.width, p.height) == expected


@pytest.mark.parametrize("size", ["1500,1500", ",1500", "1500,", "pct:200", "1001,1000", "1000,1001"])
def test_validator_upscales_without_caret_are_400(size: str) -> None:
    assert plan_status(size=size) == 400


def test_pct_just_over_100_without_caret_is_400_even_when_it_rounds_down() -> None:
    assert plan_status(size="pct:100.01", width=10, height=10) == 400
    p = run(size="^pct:100.01", width=10, height=10)
    assert (p.width, p.height) == (10, 10)


@pytest.mark.parametrize(("size", "expected"), [
    ("150,", (150, 100)),
    (",100", (150, 100)),
    (",50", (75, 50)),
    ("pct:50", (150, 100)),
    ("pct:12.5", (38, 25)),  # 37.5 rounds half up
    ("100,100", (100, 100)),  # w,h may distort
    ("!150,150", (150, 100)),
    ("!100,200", (100, 67)),
    ("!300,300", (300, 200)),  # box bigger than the region, no ^: region size
    ("^!600,600", (600, 400)),
    ("^600,", (600, 400)),
    ("^pct:150", (450, 300)),
    ("^100,50", (100, 50)),  # ^ allows, but does not require, enlarging
    ("max", (300, 200)),
])
def test_sizes_on_a_300x200_region(size: str, expected: tuple[int, int]) -> None:
    p = run(size=size, width=300, height=200)
    assert (p.width, p.height) == expected


def test_fit_never_exceeds_its_box() -> None:
    for region in ("0,0,997,13", "0,0,13,997", "0,0,333,334"):
        p = run(region, "!50,50", width=1000, height=1000)
        assert p.width <= 50 and p.height <= 50 and max(p.width, p.height) == 50


def test_fit_keeps_at_least_one_pixel() -> None:
    p = run(size="!10,10", width=5000, height=1)
    assert (p.width, p.height) == (10, 1)


@pytest.mark.parametrize(("size", "width", "height"), [
    ("10,", 1000, 1),  # height rounds to 0
    (",10", 1, 1000),
    ("pct:1", 10, 10),  # 0.1 px
])
def test_sizes_of_zero_pixels_are_400(size: str, width: int, height: int) -> None:
    assert plan_status(size=size, width=width, height=height) == 400


@pytest.mark.parametrize("size", [
    "full", "^full", "pct:0", "^pct:0", "0,", ",0", "0,10", "!0,10", "!10,", "!,10", ",", "!,", "^", "^^max",
    "max^", "!^10,10", "10,10,", "pct:-5", "pct:1e2", "pct:", "-10,", "+10,", "10.5,", "Max", "", " max",
    "\u0661\u0660,",
])
def test_malformed_sizes_are_400(size: str) -> None:
    assert status_of("full", size, "0", "default.jpg") == 400


def test_full_size_message_points_to_max() -> None:
    with pytest.raises(IiifError, match="max"):
        parse_image_request("full", "full", "0", "default.jpg")


def test_parsed_size_fields() -> None:
    r = parse_image_request("full", "^!10,20", "0", "default.jpg")
    assert (r.size, r.size_width, r.size_height, r.size_pct, r.upscale) == ("fit", 10, 20, None, True)
    r = parse_image_request("full", "pct:12.5", "0", "default.jpg")
    assert (r.size, r.size_pct, r.upscale) == ("pct", Fraction(25, 2), False)
    assert parse_image_request("full", "10,", "0", "default.jpg").size == "width"
    assert parse_image_request("full", ",10", "0", "default.jpg").size == "height"
    assert parse_image_request("full", "10,10", "0", "default.jpg").size == "exact"


# --- limits (maxWidth, maxHeight, maxArea) ------------------------------------------------


def test_max_is_reduced_to_the_limits() -> None:
    p = run(size="max", width=4000, height=2000, limits=Limits(max_width=1000))
    assert (p.width, p.height) == (1000, 500)
    p = run(size="max", width=4000, height=2000, limits=Limits(max_height=100))
    assert (p.width, p.height) == (200, 100)
    p = run(size="max", width=4000, height=2000, limits=Limits(max_area=1_000_000))
    assert p.width * p.height <= 1_000_000 and (p.width, p.height) == (1414, 707)
    p = run(size="max", width=1000, height=1000, limits=Limits(max_area=250_000))
    assert (p.width, p.height) == (500, 500)  # an exact square root is not lost to rounding


def test_max_without_caret_never_enlarges_to_the_limits() -> None:
    p = run(size="max", width=100, height=50, limits=Limits(max_width=1000))
    assert (p.width, p.height) == (100, 50)


def test_caret_max_scales_up_to_the_limits() -> None:
    p = run(size="^max", width=100, height=50, limits=Limits(max_width=1000, max_height=1000))
    assert (p.width, p.height) == (1000, 500)
    p = run(size="^max", width=100, height=50, limits=Limits(max_area=20_000))
    assert (p.width, p.height) == (200, 100)


def test_max_of_a_sliver_under_max_area() -> None:
    p = run(size="max", width=5000, height=1, limits=Limits(max_area=100))
    assert (p.width, p.height) == (100, 1)
    p = run(size="max", width=1, height=5000, limits=Limits(max_area=100))
    assert (p.width, p.height) == (1, 100)


@pytest.mark.parametrize(("size", "limits", "name"), [
    ("500,", Limits(max_width=400), "maxWidth"),
    (",500", Limits(max_height=400), "maxHeight"),
    ("500,500", Limits(max_area=200_000), "maxArea"),
    ("^pct:200", Limits(max_width=1500, max_height=5000), "maxWidth"),
])
def test_explicit_sizes_over_the_limits_are_400(size: str, limits: Limits, name: str) -> None:
    with pytest.raises(IiifError, match=name) as info:
        run(size=size, limits=limits)
    assert info.value.status == 400


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Limits(max_width=0)


def test_image_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        run(width=0, height=10)


# --- rotation (§4.3) ------------------------------------------------------------------


@pytest.mark.parametrize(("rotation", "mirror", "degrees"), [
    ("0", False, 0), ("90", False, 90), ("180", False, 180), ("270", False, 270), ("360", False, 0),
    ("!0", True, 0), ("!90", True, 90), ("!360", True, 0), ("90.0", False, 90), ("90.", False, 90),
    ("270.000", False, 270), ("0090", False, 90), (".0", False, 0), ("360.00", False, 0),
])
def test_right_angles(rotation: str, mirror: bool, degrees: int) -> None:
    p = run(rotation=rotation)
    assert (p.mirror, p.degrees) == (mirror, degrees)


@pytest.mark.parametrize("rotation", ["22.5", "1", "!45", "359.999", "90.01", "0.5"])
def test_arbitrary_rotation_is_501(rotation: str) -> None:
    assert status_of("full", "max", rotation, "default.jpg") == 501


@pytest.mark.parametrize("rotation", [
    "-90", "+90", "360.01", "361", "450", "!!90", "90!", "ninety", "", "!", ".", "9e1", "90 ", "\u0669\u0660",
])
def test_malformed_rotation_is_400(rotation: str) -> None:
    assert status_of("full", "max", rotation, "default.jpg") == 400


# --- quality and format (§4.4, §4.5) ---------------------------------------------------


@pytest.mark.parametrize("quality", ["default", "color", "gray", "bitonal"])
@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "avif"])
def test_supported_quality_and_format(quality: str, fmt: str) -> None:
    p = run(qf=f"{quality}.{fmt}")
    assert (p.quality, p.format) == (quality, fmt)


@pytest.mark.parametrize("fmt", ["tif", "gif", "jp2", "pdf"])
def test_known_formats_we_do_not_write_are_501(fmt: str) -> None:
    assert status_of("full", "max", "0", f"default.{fmt}") == 501


@pytest.mark.parametrize("qf", [
    "default", "default.", ".jpg", "default.jpg.jpg", "grey.jpg", "native.jpg", "Default.jpg", "default.JPG",
    "default.jpeg", "default.bmp", "", ".", "default..jpg",
])
def test_malformed_quality_format_is_400(qf: str) -> None:
    assert status_of("full", "max", "0", qf) == 400


def test_malformed_wins_over_unimplemented() -> None:
    assert status_of("full", "max", "22.5", "grey.jpg") == 400
    assert status_of("nowhere", "max", "0", "default.tif") == 400
    assert status_of("full", "full", "45", "default.gif") == 400


def test_whole_request() -> None:
    r = parse_image_request("square", "!100,100", "!270", "gray.webp")
    assert isinstance(r, ImageRequest)
    assert plan(r, 300, 200) == Plan((50, 0, 200, 200), 100, 100, True, 270, "gray", "webp")


# --- properties -------------------------------------------------------------------------

_GRAMMAR = "0123456789.,:!^-+ pctmaxfulsqrdeiojgnbwavf\u0663"
_segment = st.one_of(st.text(), st.text(alphabet=_GRAMMAR, max_size=24))


@given(_segment, _segment, _segment, _segment)
def test_parse_raises_only_iiif_errors(region: str, size: str, rotation: str, qf: str) -> None:
    try:
        parse_image_request(region, size, rotation, qf)
    except IiifError as err:
        assert err.status in (400, 501)
        assert "\n" not in err.message


_ints = st.integers(min_value=0, max_value=6000).map(str)
_pos = st.integers(min_value=1, max_value=6000).map(str)
_decs = st.one_of(
    st.integers(min_value=0, max_value=120).map(str),
    st.decimals(min_value=0, max_value=120, places=3, allow_nan=False, allow_infinity=False).map(str),
)
_pos_decs = _decs.filter(lambda s: float(s) > 0)

_regions = st.one_of(
    st.sampled_from(["full", "square"]),
    st.builds(lambda *v: ",".join(v), _ints, _ints, _pos, _pos),
    st.builds(lambda *v: "pct:" + ",".join(v), _decs, _decs, _pos_decs, _pos_decs),
)
_sizes = st.builds(
    lambda caret, body: caret + body,
    st.sampled_from(["", "^"]),
    st.one_of(
        st.just("max"),
        _pos.map(lambda w: f"{w},"),
        _pos.map(lambda h: f",{h}"),
        _pos_decs.map(lambda n: f"pct:{n}"),
        st.builds(lambda w, h: f"{w},{h}", _pos, _pos),
        st.builds(lambda w, h: f"!{w},{h}", _pos, _pos),
    ),
)
_rotations = st.builds(lambda bang, d: bang + d, st.sampled_from(["", "!"]),
                       st.sampled_from(["0", "90", "180", "270", "360", "90.0"]))
_qfs = st.builds(lambda q, f: f"{q}.{f}", st.sampled_from(["default", "color", "gray", "bitonal"]),
                 st.sampled_from(["jpg", "png", "webp", "avif"]))
_side = st.integers(min_value=1, max_value=5000)
_limit = st.one_of(st.none(), st.integers(min_value=1, max_value=6000))
_limits = st.builds(Limits, _limit, _limit, st.one_of(st.none(), st.integers(min_value=1, max_value=20_000_000)))


@given(_regions, _sizes, _rotations, _qfs, _side, _side, _limits)
def test_plan_is_inside_the_image_and_the_limits(region: str, size: str, rotation: str, qf: str,
                                                 width: int, height: int, limits: Limits) -> None:
    request = parse_image_request(region, size, rotation, qf)
    try:
        p = plan(request, width, height, limits)
    except IiifError as err:
        assert err.status == 400
        return
    x, y, w, h = p.crop
    assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= width and y + h <= height
    assert p.width >= 1 and p.height >= 1
    if not request.upscale:
        assert p.width <= w and p.height <= h
    if limits.max_width is not None:
        assert p.width <= limits.max_width
    if limits.max_height is not None:
        assert p.height <= limits.max_height
    if limits.max_area is not None:
        assert p.width * p.height <= limits.max_area
    assert p.degrees in (0, 90, 180, 270)


@given(_regions, st.sampled_from(["max", "^max"]), _side, _side, _limits)
def test_max_never_fails_once_the_region_is_valid(region: str, size: str, width: int, height: int,
                                                   limits: Limits) -> None:
    request = parse_image_request(region, size, "0", "default.jpg")
    try:
        crop = plan(request, width, height).crop
    except IiifError:
        return  # the region itself is outside the image
    p = plan(request, width, height, limits)
    assert p.crop == crop
    if limits == Limits():
        assert (p.width, p.height) == crop[2:]
