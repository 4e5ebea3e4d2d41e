"""A procedural portrait: the avatar's attributes drawn as SVG and rasterised on the CPU.

This is the renderer every hash can count on: no model, no GPU, a few milliseconds a picture,
and the same pixels for the same hash in every process (the SVG text is built without any
randomness but the portrait's own seed, and numbers are written with fixed precision).

The drawing itself lives in the `drawing` package; this module is its entry point, and adds
the low-resolution pass that gives pixel art its blocks.
"""

from __future__ import annotations

import pyvips

from .drawing.canvas import STYLES, VIEW
from .drawing.picture import picture_svg
from .drawing.raster import check_size, render_svg, scale_nearest
from .prompt import Portrait

VERSION = "1"


def portrait_svg(p: Portrait) -> str:
    """The whole picture as one SVG document, so it can be inspected, cached or rendered at any size."""
    return picture_svg(p, VIEW)


def render_portrait(p: Portrait, size: int) -> pyvips.Image:
    """The portrait at size×size, three bands of sRGB, the same bytes for the same portrait every time."""
    check_size(size)
    pixels = STYLES[p.art_style].pixels
    if pixels and size > pixels:
        grid = pixel_grid(pixels, size)
        return scale_nearest(render_svg(picture_svg(p, grid).encode(), grid, opaque=True), size)
    return render_svg(picture_svg(p, size).encode(), size, opaque=True)


def pixel_grid(pixels: int, size: int) -> int:
    """A grid near `pixels` that `size` is a whole multiple of, where possible, so the blocks are all alike."""
    zoom = max(1, round(size / pixels))
    return max(1, round(size / zoom))
