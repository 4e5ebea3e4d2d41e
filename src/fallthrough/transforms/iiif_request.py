"""IIIF Image API 3.0 requests: `{region}/{size}/{rotation}/{quality}.{format}`.

Two steps, because the cache must reject a malformed URL before it fetches anything:
`parse_image_request` checks syntax alone (§4.1–4.5) and `plan` applies the request to
the image's size (§4.7: region, then size, then rotation, quality, format), answering
the crop, the output size and the rest as plain numbers for whichever image library
does the work. Everything here is pure; nothing touches pixels or the network.

Numbers are kept exact (ints and Fractions, never floats): `pct:33.333333333333336` and
the like must round the same way on every request, or equal URLs would give different
bytes and the cache would hold both. Rounding is half-up, everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from math import isqrt

from .errors import TransformError

__all__ = ["IiifError", "ImageRequest", "Limits", "Plan", "parse_image_request", "plan",
           "QUALITIES", "FORMATS", "UNSUPPORTED_FORMATS"]

QUALITIES = frozenset({"default", "color", "gray", "bitonal"})
FORMATS = frozenset({"jpg", "png", "webp", "avif"})
# Formats the spec names (§4.5) that we do not write: well-formed, so 501 rather than 400.
UNSUPPORTED_FORMATS = frozenset({"tif", "gif", "jp2", "pdf"})

# [0-9], not \d: \d also matches other scripts' digits, which int() would happily accept.
_INT = r"[0-9]+"
_DEC = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_REGION_PIXELS = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_REGION_PCT = re.compile(rf"pct:({_DEC}),({_DEC}),({_DEC}),({_DEC})")
_SIZE = re.compile(rf"(\^?)(?:(max)|pct:({_DEC})|(!?)({_INT})?,({_INT})?)")
_ROTATION = re.compile(rf"(!?)({_DEC})")
# Longer numbers are no use to anyone, and int() refuses past 4300 digits anyway.
_MAX_NUMBER_LEN = 100
_RIGHT_ANGLES: dict[int | str, int] = {0: 0, 90: 90, 180: 180, 270: 270, 360: 0,
                                        "0": 0, "90": 90, "180": 180, "270": 270, "360": 0}


class IiifError(TransformError):
    """status (400 or 501) and a one-line message for the client."""


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """A syntactically valid request, before it meets an image.

    region:        "full" | "square" | "pixels" | "pct"
    region_values: (x, y, w, h): ints for "pixels", Fractions (percent) for "pct", () otherwise
    size:          "max" | "width" (w,) | "height" (,h) | "pct" | "exact" (w,h) | "fit" (!w,h)
    size_width, size_height: the integers given, None where the form has none
    size_pct:      the percentage for "pct", else None
    upscale:       the `^` prefix
    mirror, degrees (0/90/180/270 clockwise), quality, format: as in Plan
    """

    region: str
    region_values: tuple[int | Fraction, ...]
    size: str
    size_width: int | None
    size_height: int | None
    size_pct: Fraction | None
    upscale: bool
    mirror: bool
    degrees: int
    quality: str
    format: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's maxWidth, maxHeight and maxArea (§5.3): None is unlimited."""

    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_width", "max_height", "max_area"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be None or at least 1, not {value}")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do to the source, in this order: crop, resize, mirror, rotate, quality, encode."""

    crop: tuple[int, int, int, int]  # x, y, w, h in source pixels, inside the image, w, h >= 1
    width: int  # output width before rotation, >= 1
    height: int  # output height before rotation, >= 1
    mirror: bool
    degrees: int  # 0, 90, 180 or 270, clockwise
    quality: str  # "default" | "color" | "gray" | "bitonal"
    format: str  # "jpg" | "png" | "webp" | "avif"


def _show(text: str) -> str:
    """The client's text quoted safely: one line, ASCII, short (it goes into a response)."""
    return ascii(text if len(text) <= 40 else text[:40] + "...")


def _int(text: str, what: str) -> int:
    if len(text) > _MAX_NUMBER_LEN:
        raise IiifError(400, f"{what}: number too long")
    return int(text)


def _dec(text: str, what: str) -> Fraction:
    """A decimal as an exact Fraction (no floats: see the module docstring)."""
    if len(text) > _MAX_NUMBER_LEN:
        raise IiifError(400, f"{what}: number too long")
    whole, _, frac = text.partition(".")
    return Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))


def _round(value: Fraction | int) -> int:
    """Half-up, not Python's half-even: the same rule for every rounding in a request."""
    return _div_round(value.numerator, value.denominator)


def _div_round(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, in integers (no Fraction to build)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _parse_region(region: str) -> tuple[str, tuple[int | Fraction, ...]]:
    if region in ("full", "square"):
        return region, ()
    if m := _REGION_PIXELS.fullmatch(region):
        x, y, w, h = (_int(g, "region") for g in m.groups())
        if w == 0 or h == 0:
            raise IiifError(400, f"region {_show(region)}: width and height must be greater than 0")
        return "pixels", (x, y, w, h)
    if m := _REGION_PCT.fullmatch(region):
        px, py, pw, ph = (_dec(g, "region") for g in m.groups())
        if pw == 0 or ph == 0:
            raise IiifError(400, f"region {_show(region)}: width and height must be greater than 0")
        return "pct", (px, py, pw, ph)
    raise IiifError(400, f"region {_show(region)}: expected full, square, x,y,w,h or pct:x,y,w,h")


def _parse_size(size: str) -> tuple[str, int | None, int | None, Fraction | None, bool]:
    m = _SIZE.fullmatch(size)
    if m is None:
        hint = " (full is IIIF 2; use max)" if size.lstrip("^") == "full" else ""
        raise IiifError(400, f"size {_show(size)}: expected max, w,, ,h, pct:n, w,h or !w,h, "
                             f"optionally prefixed with ^{hint}")
    caret, is_max, pct, bang, w, h = m.groups()
    upscale = caret == "^"
    if is_max:
        return "max", None, None, None, upscale
    if pct is not None:
        n = _dec(pct, "size")
        if n == 0:
            raise IiifError(400, f"size {_show(size)}: the percentage must be greater than 0")
        return "pct", None, None, n, upscale
    width = _int(w, "size") if w is not None else None
    height = _int(h, "size") if h is not None else None
    if width is None and height is None:
        raise IiifError(400, f"size {_show(size)}: give a width, a height or both")
    if bang and (width is None or height is None):
        raise IiifError(400, f"size {_show(size)}: !w,h needs both a width and a height")
    if width == 0 or height == 0:
        raise IiifError(400, f"size {_show(size)}: width and height must be greater than 0")
    kind = "fit" if bang else "exact" if width is not None and height is not None else (
        "width" if width is not None else "height")
    return kind, width, height, None, upscale


def _parse_rotation(rotation: str) -> tuple[bool, int | None]:
    """(mirror, degrees); degrees None for a valid angle that is not a right angle (501)."""
    mirror = rotation.startswith("!")
    if (plain := _RIGHT_ANGLES.get(rotation[mirror:])) is not None:  # the usual case, no Fraction
        return mirror, plain
    m = _ROTATION.fullmatch(rotation)
    if m is None:
        raise IiifError(400, f"rotation {_show(rotation)}: expected a number from 0 to 360, "
                             "optionally prefixed with !")
    degrees = _dec(m.group(2), "rotation")
    if degrees > 360:
        raise IiifError(400, f"rotation {_show(rotation)}: must be from 0 to 360")
    return mirror, (_RIGHT_ANGLES.get(int(degrees)) if degrees.denominator == 1 else None)


def parse_image_request(region: str, size: str, rotation: str, quality_format: str) -> ImageRequest:
    """Syntax only (no knowledge of the image). Raises IiifError(400, msg) for anything malformed,
    IiifError(501, msg) for well-formed requests of features we do not implement.

    Every segment is checked for syntax before any 501 is raised, so a request that is
    both malformed and asks for something unimplemented is answered 400: the client's
    error is the one worth reporting.
    """
    region_kind, region_values = _parse_region(region)
    size_kind, size_width, size_height, size_pct, upscale = _parse_size(size)
    mirror, degrees = _parse_rotation(rotation)
    quality, dot, fmt = quality_format.partition(".")
    if not dot or "." in fmt:
        raise IiifError(400, f"{_show(quality_format)}: expected quality.format")
    if quality not in QUALITIES:
        raise IiifError(400, f"quality {_show(quality)}: expected default, color, gray or bitonal")
    if fmt not in FORMATS and fmt not in UNSUPPORTED_FORMATS:
        raise IiifError(400, f"format {_show(fmt)}: expected jpg, png, webp or avif")
    if degrees is None:
        raise IiifError(501, f"rotation {_show(rotation)}: only multiples of 90 degrees are supported")
    if fmt in UNSUPPORTED_FORMATS:
        raise IiifError(501, f"format {fmt}: not supported here; use jpg, png, webp or avif")
    return ImageRequest(region_kind, region_values, size_kind, size_width, size_height, size_pct,
                        upscale, mirror, degrees, quality, fmt)


def _crop(request: ImageRequest, image_width: int, image_height: int) -> tuple[int, int, int, int]:
    kind, values = request.region, request.region_values
    if kind == "full":
        return 0, 0, image_width, image_height
    if kind == "square":
        side = min(image_width, image_height)
        return (image_width - side) // 2, (image_height - side) // 2, side, side
    if kind == "pct":
        px, py, pw, ph = values
        x, w = _round(px * image_width / 100), _round(pw * image_width / 100)
        y, h = _round(py * image_height / 100), _round(ph * image_height / 100)
    else:
        x, y, w, h = values  # type: ignore[misc]
    if x >= image_width or y >= image_height:
        raise IiifError(400, f"region starts outside the {image_width}x{image_height} image")
    w, h = min(w, image_width - x), min(h, image_height - y)
    if w < 1 or h < 1:
        raise IiifError(400, "region is smaller than one pixel")
    return x, y, w, h


def _fit_limits(rw: int, rh: int, limits: Limits, upscale: bool) -> tuple[int, int]:
    """`max`: the region's size scaled (down, or up for ^max) as far as the limits allow.

    The scale is exact (a Fraction), and the area bound is taken as the integer square root
    along the longer side, so the answer is the largest that fits and never one over.
    """
    if limits.max_width is None and limits.max_height is None and limits.max_area is None:
        return rw, rh
    scales: list[Fraction] = [] if upscale else [Fraction(1)]
    if limits.max_width is not None:
        scales.append(Fraction(limits.max_width, rw))
    if limits.max_height is not None:
        scales.append(Fraction(limits.max_height, rh))
    area = limits.max_area
    if area is not None:
        if rw >= rh:
            scales.append(Fraction(isqrt(area * rw // rh), rw))
        else:
            scales.append(Fraction(isqrt(area * rh // rw), rh))
    scale = min(scales)
    w = max(1, rw * scale.numerator // scale.denominator)
    h = max(1, rh * scale.numerator // scale.denominator)
    if area is not None and w * h > area:
        # Only when one side was raised from 0 to 1 (a region thinner than the area allows):
        # shorten the other side instead of refusing a plain `max`.
        if h <= w:
            w = area // h
        else:
            h = area // w
    return w, h


def _output_size(request: ImageRequest, rw: int, rh: int, limits: Limits) -> tuple[int, int]:
    kind, up = request.size, request.upscale
    if kind == "max":
        return _fit_limits(rw, rh, limits, up)
    if kind == "pct":
        n = request.size_pct
        assert n is not None
        if n > 100 and not up:
            raise IiifError(400, "size pct: over 100 needs the ^ prefix")
        return _round(rw * n / 100), _round(rh * n / 100)
    bw, bh = request.size_width, request.size_height
    if kind == "width":
        assert bw is not None
        return bw, _div_round(rh * bw, rw)
    if kind == "height":
        assert bh is not None
        return _div_round(rw * bh, rh), bh
    assert bw is not None and bh is not None
    if kind == "exact":
        return bw, bh
    # "fit": the largest size inside the box. Without ^ a box that would enlarge the
    # region is refused like every other upscale (the IIIF validator's reading of §4.2,
    # which its size_noup test checks with !2000,3000 on a 1000x1000 image), so the
    # caller's upscale check sees the enlarged size and answers 400.
    scale = min(Fraction(bw, rw), Fraction(bh, rh))
    return max(1, _round(rw * scale)), max(1, _round(rh * scale))


def plan(request: ImageRequest, image_width: int, image_height: int, limits: Limits = Limits()) -> Plan:
    """Semantics against the image's size; raises IiifError(400, msg) e.g. for a region entirely outside
    the image, a size of zero pixels, a size larger than the region without the ^ prefix, or a result
    larger than the limits."""
    if image_width < 1 or image_height < 1:
        raise ValueError(f"image size {image_width}x{image_height}: both sides must be at least 1")
    crop = _crop(request, image_width, image_height)
    rw, rh = crop[2], crop[3]
    width, height = _output_size(request, rw, rh, limits)
    if width < 1 or height < 1:
        raise IiifError(400, f"size: the result would be {width}x{height} pixels")
    if not request.upscale and (width > rw or height > rh):
        raise IiifError(400, f"size: {width}x{height} is larger than the {rw}x{rh} region; "
                             "use the ^ prefix to upscale")
    if limits.max_width is not None and width > limits.max_width:
        raise IiifError(400, f"size: width {width} exceeds maxWidth {limits.max_width}")
    if limits.max_height is not None and height > limits.max_height:
        raise IiifError(400, f"size: height {height} exceeds maxHeight {limits.max_height}")
    if limits.max_area is not None and width * height > limits.max_area:
        raise IiifError(400, f"size: area {width * height} exceeds maxArea {limits.max_area}")
    return Plan(crop, width, height, request.mirror, request.degrees, request.quality, request.format)
