"""SVG to pixels at an exact size, and pixel grids enlarged without blending.

Every built-in renderer goes through these, so all of them share one size limit and hand back
the same image format.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyvips

from .canvas import VIEW

MAX_SIZE = 2048


def check_size(size: int) -> None:
    """One limit for every renderer, so a cache never holds an avatar no one may ask for."""
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"an avatar is 1 to {MAX_SIZE} pixels across")


def exact(image: pyvips.Image, size: int) -> pyvips.Image:
    """Exactly size×size, whatever rounding the loader did, since callers cache and tile by size."""
    if image.width != size or image.height != size:
        image = image.crop(0, 0, min(image.width, size), min(image.height, size))
        image = image.embed(0, 0, size, size, extend="copy")
    return image


def render_svg(svg: bytes, size: int, alpha: bool = False, opaque: bool = False) -> pyvips.Image:
    """Rasterise a 512-unit SVG at `size` pixels: with its alpha, or flattened on white.

    `opaque` says the drawing covers every pixel, so the alpha can simply be dropped,
    which is cheaper than flattening and gives the same pixels.
    """
    image = pyvips.Image.svgload_buffer(svg, scale=size / VIEW)
    if not alpha:
        image = image.extract_band(0, n=3) if opaque else image.flatten(background=[255, 255, 255])
    image = exact(image, size)
    if image.format != "uchar":
        image = image.cast("uchar")
    return image if image.interpretation == "srgb" else image.copy(interpretation="srgb")


def scale_nearest(image: pyvips.Image, size: int) -> pyvips.Image:
    """Enlarge (or shrink) without blending, so pixel art keeps hard edges at any size."""
    bands = image.bands
    data = image.write_to_memory()
    row = image.width * bands
    grid = [[data[y * row + x * bands:y * row + (x + 1) * bands] for x in range(image.width)]
            for y in range(image.height)]
    return enlarge(grid, size)


def enlarge(grid: Sequence[Sequence[bytes]], size: int) -> pyvips.Image:
    """A small grid of pixels (each the bytes of one pixel, 3 or 4 bands) as a size×size image.

    Each output pixel takes the cell under its centre, with the right half mirrored from the
    left, so a symmetric grid stays exactly symmetric at every size.
    """
    bands = len(grid[0][0])
    columns = nearest_index(len(grid[0]), size)
    rows: dict[int, bytes] = {}
    order = nearest_index(len(grid), size)
    for y in set(order):
        cells = grid[y]
        rows[y] = b"".join([cells[x] for x in columns])
    data = b"".join([rows[y] for y in order])
    image = pyvips.Image.new_from_memory(data, size, size, bands, "uchar")
    return image.copy(interpretation="srgb")


def nearest_index(n: int, size: int) -> list[int]:
    """For each of `size` output positions, the one of `n` cells under its centre, mirrored about the middle."""
    left = [min(n - 1, ((2 * x + 1) * n) // (2 * size)) for x in range((size + 1) // 2)]
    return left + [n - 1 - left[size - 1 - x] for x in range((size + 1) // 2, size)]
