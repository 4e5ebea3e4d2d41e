"""The image work itself, on libvips: read a header, check the limits, resize, render.

Every function here runs on a pool thread (pyvips releases the GIL) and takes a whole
Source. libvips is lazy and streams: an image is opened by reading its header only,
which is where the pixel limit is checked, so a decompression bomb (a tiny file that
declares 100k × 100k pixels) is refused before a single row is decoded. Pixels are then
read top to bottom as the output needs them, and a JPEG is decoded at a reduced scale
when the output is small enough (shrink-on-load); neither keeps the whole decoded
source in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from .errors import TransformError
from .iiif_request import Plan
from .source import Source

# The defaults when a request gives no quality; per format, since their scales differ.
DEFAULT_QUALITY = {"jpeg": 82, "webp": 80, "avif": 60}
# AVIF encoding effort (0 fastest .. 9 smallest): 2 is several times faster than the
# encoder's default and costs a few percent of size.
AVIF_EFFORT = 2
SUFFIX = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}
# Widest box libvips accepts, for a resize that gives only a height.
UNBOUNDED = 10_000_000
# Renderer version: part of every derived ETag, bumped when output bytes change.
VERSION = "1"


class ImageRefused(TransformError):
    """A source or a request the limits (or the decoder) refuse: `status` and one line."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_pixels: int = 50_000_000  # source pixels, every frame of an animation counted
    max_width: int = 8192  # output
    max_height: int = 8192


@dataclass(frozen=True, slots=True)
class Resize:
    """A resize to a box: `contain` fits inside it, `cover` fills it and crops the centre,
    `fill` stretches to it. Either side may be None (then the aspect ratio sets it)."""

    width: int | None
    height: int | None
    fit: str
    format: str
    quality: int | None
    enlarge: bool = True


def _open(source: Source, **options: object) -> pyvips.Image:
    try:
        if source.data is not None:
            return pyvips.Image.new_from_buffer(source.data, "", **options)
        return pyvips.Image.new_from_file(source.file, **options)
    except pyvips.Error as exc:
        raise ImageRefused(422, f"the source is not an image this server can read ({_reason(exc)})") from None


def _reason(exc: pyvips.Error) -> str:
    detail = (exc.detail or exc.message or "").strip().splitlines()
    return detail[0] if detail else "unreadable"


def _pages(image: pyvips.Image) -> int:
    try:
        return max(1, int(image.get("n-pages")))
    except pyvips.Error:
        return 1


def header(source: Source, limits: ImageLimits) -> pyvips.Image:
    """The source opened from its header alone, refused if it declares too many pixels."""
    image = _open(source, access="sequential", fail_on="error")
    pixels = image.width * image.height * _pages(image)
    if pixels > limits.max_pixels:
        raise ImageRefused(422, f"the source has {image.width}x{image.height} pixels"
                                f"{f' in {_pages(image)} frames' if _pages(image) > 1 else ''}, "
                                f"above the limit of {limits.max_pixels:,}")
    return image


def size_of(source: Source, limits: ImageLimits) -> tuple[int, int]:
    image = header(source, limits)
    return image.width, image.height


def _check_output(image: pyvips.Image, limits: ImageLimits) -> None:
    if image.width > limits.max_width or image.height > limits.max_height:
        raise ImageRefused(400, f"the result would be {image.width}x{image.height} pixels, above the limit of "
                                f"{limits.max_width}x{limits.max_height}")


def resize(source: Source, spec: Resize, limits: ImageLimits) -> bytes:
    header(source, limits)
    width = spec.width or UNBOUNDED
    size = "force" if spec.fit == "fill" else "both" if spec.enlarge else "down"
    options: dict[str, object] = {"fail_on": "error", "size": size}
    if spec.height is not None:
        options["height"] = spec.height
    if spec.fit == "cover":
        options["crop"] = "centre"
    if spec.fit == "fill" and (spec.width is None or spec.height is None):
        options["size"] = "both" if spec.enlarge else "down"  # one side given: nothing to stretch to
    try:
        if source.data is not None:
            image = pyvips.Image.thumbnail_buffer(source.data, width, **options)
        else:
            image = pyvips.Image.thumbnail(source.file, width, **options)
        _check_output(image, limits)
        return encode(image, spec.format, spec.quality)
    except pyvips.Error as exc:
        raise ImageRefused(422, f"the source image could not be decoded ({_reason(exc)})") from None


def _web_colours(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB (or 8-bit grey): what every web format and browser expects."""
    grey = image.interpretation in ("b-w", "grey16")
    wanted = "b-w" if grey else "srgb"
    if image.interpretation != wanted or image.format != "uchar":
        image = image.colourspace(wanted)
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def encode(image: pyvips.Image, fmt: str, quality: int | None) -> bytes:
    image = _web_colours(image)
    options: dict[str, object] = {"keep": "none"}
    if fmt in DEFAULT_QUALITY:
        options["Q"] = quality or DEFAULT_QUALITY[fmt]
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        options["optimize_coding"] = True
    elif fmt == "avif":
        options["effort"] = AVIF_EFFORT
    return image.write_to_buffer(SUFFIX[fmt], **options)


def _shrink_on_load(loader: str, plan: Plan) -> int:
    """The largest factor (1, 2, 4 or 8) a JPEG may be decoded at, still above the output."""
    if not loader.startswith("jpegload"):
        return 1
    x, y, w, h = plan.crop
    ratio = min(w / plan.width, h / plan.height)
    factor = 1
    while factor * 2 <= min(ratio, 8):
        factor *= 2
    return factor


def render(source: Source, plan: Plan, limits: ImageLimits) -> bytes:
    """An IIIF image request: region, size, mirror, rotation, quality, format (in the
    order the specification gives)."""
    image = header(source, limits)
    try:
        factor = _shrink_on_load(image.get("vips-loader"), plan)
        if factor > 1:
            image = _open(source, access="sequential", fail_on="error", shrink=factor)
        x, y, w, h = plan.crop
        if factor > 1:  # the crop in the shrunk image's pixels
            x, y = min(x // factor, image.width - 1), min(y // factor, image.height - 1)
            w = max(1, min(image.width - x, -(-w // factor)))
            h = max(1, min(image.height - y, -(-h // factor)))
        if (x, y, w, h) != (0, 0, image.width, image.height):
            image = image.crop(x, y, w, h)
        if (image.width, image.height) != (plan.width, plan.height):
            image = image.thumbnail_image(plan.width, height=plan.height, size="force")
        if plan.mirror or plan.degrees:
            image = image.copy_memory()  # flips and turns need the whole (output-sized) image
            if plan.mirror:
                image = image.fliphor()
            if plan.degrees:
                image = image.rot(f"d{plan.degrees}")
        if plan.quality in ("gray", "bitonal"):
            alpha = image.hasalpha()
            image = _web_colours(image).colourspace("b-w")
            if alpha:
                image = image[0]  # a grey or bitonal image is one band
            if plan.quality == "bitonal":
                image = (image > 127).ifthenelse(255, 0).cast("uchar")
        fmt = "jpeg" if plan.format == "jpg" else plan.format
        return encode(image, fmt, None)
    except pyvips.Error as exc:
        raise ImageRefused(422, f"the source image could not be decoded ({_reason(exc)})") from None
