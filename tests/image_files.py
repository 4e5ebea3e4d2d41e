"""Images the transform tests serve from their origin, made here with libvips."""

from __future__ import annotations

import struct
import zlib

import pyvips


def sticker(size: int = 512) -> bytes:
    """A PNG with alpha: a red disc on a transparent square."""
    image = pyvips.Image.black(size, size, bands=4).draw_circle([255, 0, 0, 255], size // 2, size // 2,
                                                                 size * 2 // 5, fill=True)
    return image.write_to_buffer(".png")


def photo(width: int = 1000, height: int = 750) -> bytes:
    """A JPEG with structure (a gradient and a box) so that its variants differ."""
    x = pyvips.Image.xyz(width, height)
    image = (x[0] * 255 / width).bandjoin([x[1] * 255 / height, 128]).cast("uchar")
    image = image.draw_rect([0, 0, 255], width // 4, height // 4, width // 2, height // 2, fill=True)
    return image.write_to_buffer(".jpg", Q=90)


def bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid, tiny PNG that declares `width` x `height` pixels: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)  # a few rows; the rest would be decoded as missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def describe(body: bytes) -> tuple[str, int, int]:
    """(loader, width, height) of an image's bytes, as libvips reads them."""
    image = pyvips.Image.new_from_buffer(body, "")
    return image.get("vips-loader"), image.width, image.height


LOADERS = {"avif": "heifload_buffer", "webp": "webpload_buffer", "png": "pngload_buffer",
           "jpeg": "jpegload_buffer", "gif": "gifload_buffer"}


def animation(width: int, height: int, frames: int) -> bytes:
    """An animated GIF: `frames` frames of `width` x `height`, each a shade darker."""
    pages = [pyvips.Image.black(width, height, bands=3) + (255 - 8 * i) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).cast("uchar")
    strip = strip.copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    return strip.write_to_buffer(".gif")


def noise(width: int, height: int) -> bytes:
    """A PNG that does not compress: random pixels."""
    return pyvips.Image.gaussnoise(width, height, sigma=80).cast("uchar").write_to_buffer(".png")
