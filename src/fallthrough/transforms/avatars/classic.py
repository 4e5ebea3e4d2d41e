"""The classic default avatars (d=mp, identicon, monsterid, wavatar, retro, robohash, blank), drawn here.

A hash that has no avatar of its own still deserves a stable picture, and these are the
ones clients ask for by name. Each is built from the hash's bits alone, so it is the same
in every process and on every server; none of them copies another service's artwork.

Shapes are SVG on the same 512-unit canvas as the portraits. Pixel patterns (identicon,
retro) are built cell by cell and enlarged without blending, which keeps them exactly
symmetric and crisp at every size.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable

import pyvips

from .drawing.canvas import RGB, VIEW, Canvas, Style, darker, lighter, path_data
from .drawing.raster import check_size, enlarge, render_svg
from .prompt import normal_hash

VERSION = "1"
CLASSIC = ("mp", "identicon", "monsterid", "wavatar", "retro", "robohash", "blank")

FLAT = Style(shade=0.0)
INKED = Style(shade=0.0, outline="#2a2630", outline_width=7.0)


class Bits:
    """Reads a hash a few bits at a time from the top, so each part of a drawing has bits of its own."""

    def __init__(self, avatar_hash: str) -> None:
        self._value = int(avatar_hash, 16)
        self._left = len(avatar_hash) * 4

    def take(self, n: int) -> int:
        """The next `n` bits, most significant first."""
        if n > self._left:
            raise RuntimeError("a drawing asked for more bits than the hash has")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def pick(self, count: int) -> int:
        """One of `count` choices (a power of two, so every choice is equally likely)."""
        return self.take(count.bit_length() - 1)

    def fraction(self, n: int = 4) -> float:
        """Bits as a number from 0 to 1, for lightness and saturation."""
        return self.take(n) / ((1 << n) - 1)


def hsl(hue: float, saturation: float, lightness: float) -> RGB:
    """Colours from a hue, so every bit of the hash's hue choice gives a different but pleasant colour."""
    r, g, b = colorsys.hls_to_rgb((hue % 360) / 360, lightness, saturation)
    return (r * 255, g * 255, b * 255)


def _pixel(c: RGB) -> bytes:
    """One pixel's bytes, for building a grid directly."""
    return bytes(max(0, min(255, round(v))) for v in c)


def render_classic(name: str, avatar_hash: str, size: int) -> pyvips.Image:
    """The named default for this hash at size×size: 3 bands of sRGB, or 4 (all transparent) for blank."""
    if name not in DRAWINGS:
        raise ValueError(f"no classic avatar called {name!r}; one of {', '.join(CLASSIC)}")
    check_size(size)
    bits = Bits(normal_hash(avatar_hash))
    return DRAWINGS[name](bits, size)


# ---------------------------------------------------------------------------------------------- mp, blank

def _mp(bits: Bits, size: int) -> pyvips.Image:
    """The mystery person: the same for everyone, which is the point of it."""
    c = Canvas(FLAT, size)
    c.rect(0, 0, VIEW, VIEW, (226, 228, 231))
    grey = (160, 165, 172)
    c.circle(256, 196, 98, grey)
    c.path(path_data("M", (60, 512), "C", (60, 382), (150, 322), (256, 322), "C", (362, 322), (452, 382), (452, 512),
                     "Z"), grey)
    return render_svg(c.svg().encode(), size, opaque=True)


def _blank(bits: Bits, size: int) -> pyvips.Image:
    """Fully transparent, for pages that want nothing at all where the avatar would be."""
    return pyvips.Image.black(size, size, bands=4).cast("uchar").copy(interpretation="srgb")


# ---------------------------------------------------------------------------------------------- identicon

def _identicon(bits: Bits, size: int) -> pyvips.Image:
    """A 5×5 pattern mirrored left to right, in one colour, with a half-cell margin."""
    hue = bits.take(9) * 360 / 512
    colour = hsl(hue, 0.45 + 0.3 * bits.fraction(2), 0.42 + 0.14 * bits.fraction(2))
    cells = [[bits.take(1) for _ in range(3)] for _ in range(5)]
    if sum(map(sum, cells)) < 4:   # an almost empty pattern says too little
        cells = [[1 - v for v in row] for row in cells]
    fg, bg = _pixel(colour), _pixel((240, 240, 240))
    grid = [[bg] * 12 for _ in range(12)]
    for r, row in enumerate(cells):
        for col, on in enumerate(row):
            if on:
                for x in (col, 4 - col):
                    for dy in (0, 1):
                        grid[1 + 2 * r + dy][1 + 2 * x] = grid[1 + 2 * r + dy][2 + 2 * x] = fg
    return enlarge(grid, size)


# ---------------------------------------------------------------------------------------------- retro

def _retro(bits: Bits, size: int) -> pyvips.Image:
    """An 8-bit sprite face: a mirrored 10×10 head with eyes and mouth, outlined, on a pale ground."""
    hue = bits.take(9) * 360 / 512
    body, hair = hsl(hue, 0.6, 0.6), hsl(hue + 40 + 200 * bits.fraction(3), 0.55, 0.38)
    ink, white, cheek = hsl(hue, 0.45, 0.16), (250, 250, 246), hsl(350, 0.7, 0.72)
    mask = _retro_head(bits)
    half = [[bytes() for _ in range(5)] for _ in range(10)]
    for r in range(10):
        for h in range(5):
            half[r][h] = _pixel(hair if mask[r][h] == 2 else body) if mask[r][h] else b""
    eye_col, eye_row = 1 + bits.pick(2), 3 + bits.take(1)
    for dy, dx, colour in _RETRO_EYES[bits.pick(4)]:
        half[eye_row + dy][eye_col + dx] = _pixel(ink if colour else white)
    mouth_from, smile = 2 + bits.take(1), bits.take(1)
    for h in range(mouth_from, 5):
        half[7][h] = _pixel(ink)
    if smile and mouth_from > 1:
        half[6][mouth_from - 1] = _pixel(ink)
    if bits.take(1):
        half[6][1] = _pixel(cheek)
    return enlarge(_outlined(half, _pixel(ink), _pixel(hsl(hue + 180, 0.35, 0.9))), size)


# Eye shapes as (row, column, 1 for ink / 0 for white) from the eye's cell: tall, white with a pupil toward the
# nose, a glint above, and a big square.
_RETRO_EYES = (((0, 0, 1), (1, 0, 1)), ((0, 0, 0), (0, 1, 1)), ((-1, 0, 0), (0, 0, 1)),
               ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1)))


def _retro_head(bits: Bits) -> list[list[int]]:
    """Which half-cells are head (1) or hair (2): a fixed core with ears, crown and chin from the hash."""
    mask = [[0] * 5 for _ in range(10)]
    for r in range(2, 9):
        for h in range(1, 5):
            mask[r][h] = 1
    for r in range(3, 7):
        mask[r][0] = bits.take(1)
    hair = bits.take(1)
    for h in range(1, 5):
        if bits.take(1) or h == 4:
            mask[1][h] = 2 if hair else 1
        if hair and bits.take(1):
            mask[2][h] = 2
    if bits.take(1):
        mask[0][3 + bits.take(1)] = 2 if hair else 1
    mask[9][3] = mask[9][4] = 1
    mask[9][2] = bits.take(1)
    return mask


def _outlined(half: list[list[bytes]], ink: bytes, ground: bytes) -> list[list[bytes]]:
    """Mirror the half face, add a one-cell margin, and ink every empty cell that touches the face."""
    rows = [[b""] + row + row[::-1] + [b""] for row in half]
    width = len(rows[0])
    rows = [[b""] * width] + rows + [[b""] * width]
    out = []
    for y, row in enumerate(rows):
        line = []
        for x, cell in enumerate(row):
            if cell:
                line.append(cell)
                continue
            near = any(0 <= y + dy < len(rows) and 0 <= x + dx < width and rows[y + dy][x + dx]
                       for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)))
            line.append(ink if near else ground)
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------------- monsterid

def _monsterid(bits: Bits, size: int) -> pyvips.Image:
    """A friendly monster: body, legs, arms, eyes, mouth and a topping, each picked by the hash."""
    hue = bits.take(9) * 360 / 512
    skin, dark, belly = hsl(hue, 0.55, 0.58), hsl(hue, 0.5, 0.36), hsl(hue, 0.5, 0.78)
    c = Canvas(INKED, size)
    c.rect(0, 0, VIEW, VIEW, hsl(hue + 30, 0.35, 0.94))
    body, legs, arms, eyes, mouth, extra = (bits.pick(4) for _ in range(6))
    top = (170.0, 130.0, 150.0, 150.0)[body]
    _monster_legs(c, legs, skin, dark)
    _monster_arms(c, arms, skin)
    _monster_extra(c, extra, top, dark, hsl(hue + 180, 0.6, 0.6))
    _monster_body(c, body, skin, belly)
    if extra == 2:
        with c.batch():
            for x, y, r in ((170, 330, 14), (340, 350, 11), (300, 400, 9), (200, 400, 8)):
                c.circle(x, y, r, dark, opacity=0.5)
    _monster_eyes(c, eyes, hsl(hue + 120 + 120 * bits.take(1), 0.6, 0.45))
    _monster_mouth(c, mouth)
    return render_svg(c.svg().encode(), size, opaque=True)


def _monster_body(c: Canvas, kind: int, skin: RGB, belly: RGB) -> None:
    """The body is drawn over the legs, arms and horns, so their joins are hidden."""
    if kind == 0:
        c.ellipse(256, 300, 150, 130, skin, outline=1)
    elif kind == 1:
        c.rect(136, 130, 240, 290, skin, outline=1, rx=100)
    elif kind == 2:
        c.path(path_data("M", (256, 150), "C", (330, 150), (340, 230), (370, 300),
                         "C", (410, 400), (360, 430), (256, 430), "C", (152, 430), (102, 400), (142, 300),
                         "C", (172, 230), (182, 150), (256, 150), "Z"), skin, outline=1)
    else:
        c.path(path_data("M", (116, 420), "L", (116, 190), "Q", (116, 150), (156, 150), "Q", (186, 110), (216, 150),
                         "Q", (256, 110), (296, 150), "Q", (326, 110), (356, 150), "Q", (396, 150), (396, 190),
                         "L", (396, 420), "Z"), skin, outline=1)
    c.ellipse(256, 370, 80, 48, belly)


def _monster_legs(c: Canvas, kind: int, skin: RGB, dark: RGB) -> None:
    """Stubby legs, long legs, tentacles, or none and a shadow."""
    if kind == 3:
        c.ellipse(256, 440, 150, 20, darker(skin, 0.5), opacity=0.25)
        return
    if kind == 2:
        for x in (176.0, 226.0, 286.0, 336.0):
            c.line(path_data("M", (x, 400), "Q", (x - 24, 440), (x + 6, 470), "T", (x - 6, 500)), darker(skin, 0.3), 30)
            c.line(path_data("M", (x, 400), "Q", (x - 24, 440), (x + 6, 470), "T", (x - 6, 500)), skin, 18)
        return
    bottom = 470 if kind == 0 else 500
    for x in (200.0, 312.0):
        c.rect(x - 20, 380, 40, bottom - 380, skin, outline=1)
        c.ellipse(x + (-10 if x < 256 else 10), bottom, 38, 16, dark, outline=1)


def _monster_arms(c: Canvas, kind: int, skin: RGB) -> None:
    """Arms down, up, out, or none."""
    ends = {0: ((86, 410), (426, 410)), 1: ((70, 150), (442, 150)), 2: ((44, 290), (468, 290))}.get(kind)
    if ends is None:
        return
    for (x, y), start in zip(ends, ((150, 300), (362, 300))):
        c.line(path_data("M", start, "L", (x, y)), (42, 38, 48), 36)
        c.line(path_data("M", start, "L", (x, y)), skin, 22)
        c.circle(x, y, 22, skin, outline=1)


def _monster_extra(c: Canvas, kind: int, top: float, dark: RGB, accent: RGB) -> None:
    """Horns or antennae on top; spots are drawn later, over the body."""
    if kind == 0:
        for side in (-1, 1):
            x = 256 + side * 70
            c.path(path_data("M", (x - 22, top + 30), "Q", (x + side * 10, top - 40), (x + side * 40, top - 60), "Q",
                             (x + side * 20, top), (x + 22, top + 30), "Z"), (246, 238, 220), outline=1)
    elif kind == 1:
        for side in (-1, 1):
            c.line(path_data("M", (256 + side * 40, top + 10), "Q", (256 + side * 50, top - 50),
                             (256 + side * 90, top - 70)), dark, 8)
            c.circle(256 + side * 90, top - 70, 18, accent, outline=1)


def _monster_eyes(c: Canvas, kind: int, iris: RGB) -> None:
    """One, two or three eyes, or two on stalks."""
    if kind == 3:
        for x in (206.0, 306.0):
            c.line(path_data("M", (x, 220), "L", (x + (x - 256) * 0.5, 120)), (42, 38, 48), 16)
        spots = [(181.0, 120.0, 32.0), (331.0, 120.0, 32.0)]
    else:
        spots = [[(256.0, 250.0, 62.0)], [(200.0, 250.0, 38.0), (312.0, 250.0, 38.0)],
                 [(190.0, 262.0, 28.0), (256.0, 226.0, 32.0), (322.0, 262.0, 28.0)]][kind]
    for x, y, r in spots:
        c.circle(x, y, r, (252, 252, 250), outline=1)
        c.circle(x + r * 0.1, y + r * 0.1, r * 0.55, iris)
        c.circle(x + r * 0.1, y + r * 0.1, r * 0.26, (24, 20, 28))
        c.circle(x - r * 0.12, y - r * 0.14, r * 0.14, (255, 255, 255))


def _monster_mouth(c: Canvas, kind: int) -> None:
    """A smile, a toothy grin, fangs or a surprised O."""
    ink, red, white = (42, 38, 48), (150, 40, 60), (252, 252, 250)
    if kind == 0:
        c.line(path_data("M", (196, 320), "Q", (256, 376), (316, 320)), ink, 9)
    elif kind == 1:
        c.path(path_data("M", (186, 318), "Q", (256, 330), (326, 318), "Q", (312, 392), (256, 392), "Q", (200, 392),
                         (186, 318), "Z"), red, outline=1)
        c.path(path_data("M", (200, 322), "L", (312, 322), "L", (300, 340), "L", (284, 324), "L", (270, 342), "L",
                         (256, 324), "L", (242, 342), "L", (228, 324), "L", (214, 340), "Z"), white)
    elif kind == 2:
        c.line(path_data("M", (200, 330), "Q", (256, 350), (312, 330)), ink, 8)
        for x in (222.0, 290.0):
            c.path(path_data("M", (x - 10, 336), "L", (x + 10, 338), "L", (x, 362), "Z"), white, outline=0.5)
    else:
        c.ellipse(256, 345, 28, 34, red, outline=1)
        c.ellipse(256, 362, 16, 10, (230, 110, 130))


# ---------------------------------------------------------------------------------------------- wavatar

def _wavatar(bits: Bits, size: int) -> pyvips.Image:
    """A round face on a hue-coloured ground; eyes, brows, mouth and cheeks picked by the hash."""
    ground_hue, face_hue = bits.take(9) * 360 / 512, bits.take(9) * 360 / 512
    face = hsl(face_hue, 0.5 + 0.2 * bits.fraction(2), 0.6)
    c = Canvas(FLAT, size)
    c.rect(0, 0, VIEW, VIEW, hsl(ground_hue, 0.55, 0.72))
    c.circle(262, 270, 196, darker(face, 0.25))
    c.circle(256, 262, 196, face)
    c.ellipse(200, 170, 70, 40, lighter(face, 0.25))
    eyes, brows, mouth, extra = bits.pick(4), bits.pick(4), bits.pick(4), bits.pick(4)
    ink = (36, 30, 40)
    if extra in (1, 3):
        with c.batch():
            for x in (160.0, 352.0):
                c.ellipse(x, 310, 34, 22, (255, 120, 140), opacity=0.45)
    _wavatar_eyes(c, eyes, ink)
    _wavatar_brows(c, brows, ink)
    if extra >= 2:
        c.ellipse(256, 292, 14, 10, darker(face, 0.3))
    _wavatar_mouth(c, mouth, ink)
    return render_svg(c.svg().encode(), size, opaque=True)


def _wavatar_eyes(c: Canvas, kind: int, ink: RGB) -> None:
    """Dots, ovals, closed, or big and shiny."""
    with c.batch():
        for x in (190.0, 322.0):
            if kind == 0:
                c.circle(x, 236, 20, ink)
            elif kind == 1:
                c.ellipse(x, 236, 30, 40, (252, 252, 250))
                c.circle(x + 6, 246, 16, ink)
            elif kind == 2:
                c.line(path_data("M", (x - 30, 236), "Q", (x, 258), (x + 30, 236)), ink, 9)
            else:
                c.circle(x, 232, 42, (252, 252, 250))
                c.circle(x, 240, 26, ink)
                c.circle(x - 9, 229, 9, (255, 255, 255))


def _wavatar_brows(c: Canvas, kind: int, ink: RGB) -> None:
    """None, level, cross or raised."""
    if kind == 0:
        return
    with c.batch():
        for side in (-1, 1):
            x = 256 + side * 66
            inner, outer = (x - side * 34, 180.0), (x + side * 34, 180.0)
            if kind == 2:   # cross
                inner = (inner[0], 192.0)
            if kind == 3:   # raised arcs
                c.line(path_data("M", inner, "Q", (x, 150), outer), ink, 9)
            else:
                c.line(path_data("M", inner, "L", outer), ink, 10)


def _wavatar_mouth(c: Canvas, kind: int, ink: RGB) -> None:
    """A smile, a grin, an O or a wavy line."""
    if kind == 0:
        c.line(path_data("M", (196, 336), "Q", (256, 392), (316, 336)), ink, 10)
    elif kind == 1:
        c.path(path_data("M", (186, 330), "Q", (256, 340), (326, 330), "Q", (316, 410), (256, 410), "Q", (196, 410),
                         (186, 330), "Z"), (120, 30, 50))
        c.ellipse(256, 392, 34, 14, (236, 110, 130))
    elif kind == 2:
        c.ellipse(256, 360, 24, 30, (120, 30, 50))
    else:
        c.line(path_data("M", (206, 356), "Q", (231, 340), (256, 356), "T", (306, 356)), ink, 9)


# ---------------------------------------------------------------------------------------------- robohash

def _robohash(bits: Bits, size: int) -> pyvips.Image:
    """A robot head: shape, antenna, eyes, mouth and ears picked by the hash, in a hash-chosen metal."""
    hue = bits.take(9) * 360 / 512
    metal, dark = hsl(hue, 0.3, 0.62), hsl(hue, 0.3, 0.34)
    glow = hsl(hue + 150 + 60 * bits.fraction(2), 0.85, 0.55)
    shape, antenna, eyes, mouth, ears = bits.pick(4), bits.pick(4), bits.pick(4), bits.pick(4), bits.pick(2)
    c = Canvas(INKED, size)
    c.rect(0, 0, VIEW, VIEW, hsl(hue + 200, 0.3, 0.9))
    c.rect(86, 440, 340, 120, dark, outline=1, rx=60)
    c.rect(222, 370, 68, 80, darker(metal, 0.15), outline=1)
    with c.batch():
        for y in (388.0, 408.0, 428.0):
            c.line(path_data("M", (226, y), "L", (286, y)), dark, 5)
    top = _robot_head(c, shape, metal)
    _robot_antenna(c, antenna, top, dark, glow)
    _robot_ears(c, ears, dark, glow)
    _robot_eyes(c, eyes, glow)
    _robot_mouth(c, mouth, dark, glow)
    with c.batch():
        for x, y in ((160, top + 28), (352, top + 28), (160, 362), (352, 362)):
            c.circle(x, y, 7, dark)
    return render_svg(c.svg().encode(), size, opaque=True)


def _robot_head(c: Canvas, kind: int, metal: RGB) -> float:
    """Draws the head and says where its top is, for the antenna."""
    if kind == 0:
        c.rect(130, 140, 252, 250, metal, outline=1, rx=34)
        return 140.0
    if kind == 1:
        c.path(path_data("M", (110, 140), "L", (402, 140), "L", (370, 390), "L", (142, 390), "Z"), metal, outline=1)
        return 140.0
    if kind == 2:
        c.path(path_data("M", (130, 390), "L", (130, 250), "A", (126, 126), "0 0 1", (382, 250), "L", (382, 390), "Z"),
               metal, outline=1)
        return 124.0
    c.path(path_data("M", (256, 120), "L", (386, 190), "L", (386, 330), "L", (256, 400), "L", (126, 330),
                     "L", (126, 190), "Z"), metal, outline=1)
    return 120.0


def _robot_antenna(c: Canvas, kind: int, top: float, dark: RGB, glow: RGB) -> None:
    """A ball on a stick, twin antennae, a bolt, or a flat cap."""
    if kind == 0:
        c.line(path_data("M", (256, top), "L", (256, top - 62)), dark, 9)
        c.circle(256, top - 70, 18, glow, outline=1)
    elif kind == 1:
        for side in (-1, 1):
            c.line(path_data("M", (256 + side * 50, top + 4), "L", (256 + side * 90, top - 70)), dark, 8)
            c.circle(256 + side * 90, top - 74, 13, glow, outline=1)
    elif kind == 2:
        c.path(path_data("M", (248, top), "L", (236, top - 40), "L", (262, top - 44), "L", (250, top - 90), "L",
                         (284, top - 36), "L", (260, top - 32), "L", (270, top), "Z"), glow, outline=1)
    else:
        c.rect(216, top - 22, 80, 24, dark, outline=1, rx=8)


def _robot_ears(c: Canvas, kind: int, dark: RGB, glow: RGB) -> None:
    """Discs or bolts at the sides, each with a light."""
    with c.batch():
        for side in (-1, 1):
            x = 256 + side * 142
            if kind == 0:
                c.circle(x, 262, 30, dark, outline=1)
            else:
                c.rect(x - 14, 222, 28, 80, dark, outline=1)
    with c.batch():
        for side in (-1, 1):
            c.circle(256 + side * 142, 262, 10, glow)


def _robot_eyes(c: Canvas, kind: int, glow: RGB) -> None:
    """Lenses, a visor, LED grids or one big eye."""
    screen = (30, 34, 44)
    if kind == 0:
        for x in (200.0, 312.0):
            c.circle(x, 236, 40, (240, 240, 236), outline=1)
            c.circle(x, 236, 24, glow)
            c.circle(x - 8, 228, 7, (255, 255, 255))
    elif kind == 1:
        c.rect(150, 206, 212, 60, screen, outline=1, rx=30)
        c.rect(170, 222, 172, 28, glow, rx=14)
        c.rect(186, 226, 60, 8, lighter(glow, 0.6), rx=4)
    elif kind == 2:
        for x in (196.0, 316.0):
            c.rect(x - 36, 200, 72, 66, screen, outline=1, rx=6)
            with c.batch():
                for dx in (-18.0, 0.0, 18.0):
                    for dy in (-16.0, 0.0, 16.0):
                        c.rect(x + dx - 6, 233 + dy - 6, 12, 12, glow)
    else:
        c.circle(256, 236, 58, screen, outline=1)
        c.circle(256, 236, 38, glow)
        c.circle(256, 236, 16, screen)
        c.circle(242, 222, 8, (255, 255, 255))


def _robot_mouth(c: Canvas, kind: int, dark: RGB, glow: RGB) -> None:
    """A grille, teeth, a speaker or a row of lights."""
    if kind == 0:
        c.rect(190, 310, 132, 44, (30, 34, 44), outline=1, rx=12)
        with c.batch():
            for x in range(208, 312, 16):
                c.line(path_data("M", (x, 318), "L", (x, 346)), (140, 146, 156), 5)
    elif kind == 1:
        c.rect(186, 306, 140, 50, (248, 248, 244), outline=1, rx=6)
        with c.batch():
            for x in range(214, 326, 28):
                c.line(path_data("M", (x, 306), "L", (x, 356)), dark, 5)
            c.line(path_data("M", (186, 331), "L", (326, 331)), dark, 5)
    elif kind == 2:
        c.circle(256, 332, 34, (30, 34, 44), outline=1)
        c.circle(256, 332, 20, dark)
        c.circle(256, 332, 8, glow)
    else:
        with c.batch():
            for i in range(7):
                t = i / 6
                c.circle(196 + 120 * t, 318 + 40 * t * (1 - t) * 2, 9, glow, outline=0.6)


DRAWINGS: dict[str, Callable[[Bits, int], pyvips.Image]] = {
    "mp": _mp, "identicon": _identicon, "monsterid": _monsterid, "wavatar": _wavatar, "retro": _retro,
    "robohash": _robohash, "blank": _blank,
}
