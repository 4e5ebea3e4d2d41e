"""The garments, each built on the same torso so any of them fits any figure."""

from __future__ import annotations

import random
from collections.abc import Callable

from .canvas import RGB, WHITE, Canvas, darker, lighter, path_data
from .figure import Figure
from .palette import ACCENTS, CLOTH


def _torso(c: Canvas, f: Figure, colour: RGB) -> None:
    """Shoulders and chest in the clothing colour; every garment starts from this."""
    cx, sy, bw, nw = f.cx, f.shoulder_y, f.body_w, f.neck_w
    d = path_data("M", (cx - bw - 14, 520),
                  "C", (cx - bw - 8, sy + 60), (cx - bw + 8, sy + 12), (cx - bw * 0.55, sy + 2),
                  "C", (cx - bw * 0.35, sy - 4), (cx - nw - 14, sy - 10), (cx - nw, sy - 12),
                  "L", (cx + nw, sy - 12),
                  "C", (cx + nw + 14, sy - 10), (cx + bw * 0.35, sy - 4), (cx + bw * 0.55, sy + 2),
                  "C", (cx + bw - 8, sy + 12), (cx + bw + 8, sy + 60), (cx + bw + 14, 520), "Z")
    c.path(d, colour, shade=1, outline=1)
    with c.batch():
        for side in (-1, 1):
            x = cx + side * bw * 0.68
            c.line(path_data("M", (x, sy + 6), "Q", (x - side * 8, sy + 70), (x - side * 4, 512)), darker(colour, 0.2),
                   2.5, opacity=0.4)


def _neckline(c: Canvas, f: Figure, depth: float, colour: RGB, band: float = 5.0) -> None:
    """The skin showing at a round or V neck, with the garment's rim."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    d = path_data("M", (cx - nw - 6, sy - 12), "Q", (cx, sy - 12 + depth * 2), (cx + nw + 6, sy - 12), "Z")
    c.path(d, darker(f.skin, 0.12), shade=1)
    c.line(path_data("M", (cx - nw - 6, sy - 12), "Q", (cx, sy - 12 + depth * 2), (cx + nw + 6, sy - 12)), colour, band)


def _vee(c: Canvas, f: Figure, depth: float, fill: RGB, width: float) -> str:
    """A V opening showing what is worn underneath."""
    cx, sy = f.cx, f.shoulder_y
    d = path_data("M", (cx - f.neck_w - width, sy - 12), "L", (cx, sy + depth), "L", (cx + f.neck_w + width, sy - 12),
                  "Z")
    c.path(d, fill, shade=1, outline=1)
    return d


def _buttons(c: Canvas, x: float, ys: tuple[float, ...], colour: RGB, r: float = 4.0) -> None:
    """A row of buttons as one element."""
    with c.batch():
        for y in ys:
            c.circle(x, y, r, colour, outline=0.5)


def _tshirt(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """A crew neck."""
    _torso(c, f, col)
    _neckline(c, f, 14, darker(col, 0.15), 6)


def _hoodie(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """A hood around the neck, drawstrings and a front pocket."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    hood = darker(col, 0.15)
    c.path(path_data("M", (cx - nw - 60, sy + 10), "C", (cx - nw - 60, sy - 60), (cx - nw - 20, sy - 70), (cx, sy - 70),
                     "C", (cx + nw + 20, sy - 70), (cx + nw + 60, sy - 60), (cx + nw + 60, sy + 10), "Z"),
           hood, shade=1, outline=1)
    _torso(c, f, col)
    c.path(path_data("M", (cx - nw - 34, sy - 14), "Q", (cx - nw, sy + 40), (cx, sy + 44), "Q", (cx + nw, sy + 40),
                     (cx + nw + 34, sy - 14), "Q", (cx, sy + 10), (cx - nw - 34, sy - 14), "Z"),
           hood, shade=1, outline=1)
    _neckline(c, f, 10, darker(col, 0.25), 3)
    with c.batch():
        for side in (-1, 1):
            x = cx + side * 20
            c.line(path_data("M", (x, sy + 30), "Q", (x + side * 4, sy + 60), (x - side * 2, sy + 84)), (236, 236, 232),
                   3.5)
            c.rect(x - side * 2 - 3, sy + 82, 6, 12, (200, 200, 196), rx=2)
    c.path(path_data("M", (cx - 80, 512), "L", (cx - 64, sy + 100), "L", (cx + 64, sy + 100), "L", (cx + 80, 512)),
           darker(col, 0.06), outline=0.6)


def _suit(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Lapels over a shirt and tie."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    shirt = (246, 246, 244) if col != CLOTH["white"] else (180, 200, 230)
    _vee(c, f, 118, shirt, 4)
    tie = rng.choice([a for a in ACCENTS if a != col][:6])
    c.path(path_data("M", (cx - 9, sy - 6), "L", (cx + 9, sy - 6), "L", (cx + 6, sy + 8), "L", (cx - 6, sy + 8), "Z"),
           tie, outline=0.8)
    c.path(path_data("M", (cx - 6, sy + 8), "L", (cx + 6, sy + 8), "L", (cx + 12, sy + 92), "L", (cx, sy + 108), "L",
                     (cx - 12, sy + 92), "Z"), tie, shade=1, outline=0.8)
    lapel = darker(col, 0.12)
    with c.batch():
        for side in (-1, 1):
            c.path(path_data("M", (cx + side * (nw + 4), sy - 12), "L", (cx + side * 6, sy + 118), "L",
                             (cx + side * 40, sy + 50), "L", (cx + side * (nw + 34), sy + 30), "L",
                             (cx + side * (nw + 24), sy + 6), "L", (cx + side * (nw + 40), sy - 4), "Z"), lapel,
                   shade=1, outline=1)
    _buttons(c, cx + 10, (sy + 132,), darker(col, 0.35))


def _sweater(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """A ribbed collar and rows of knit stitches."""
    cx, sy = f.cx, f.shoulder_y
    _torso(c, f, col)
    knit = darker(col, 0.18)
    with c.batch():
        for row in range(5):
            y = sy + 30 + row * 22
            for i in range(-7, 8):
                x = cx + i * 20 + (row % 2) * 10
                if abs(x - cx) < f.body_w - 10:
                    c.line(path_data("M", (x - 5, y), "L", (x, y + 6), "L", (x + 5, y)), knit, 2, opacity=0.55)
    _neckline(c, f, 12, darker(col, 0.1), 12)
    with c.batch():
        for i in range(-5, 6):
            x = cx + i * (f.neck_w + 6) / 5.5
            c.line(path_data("M", (x, sy - 16 + abs(i) * 0.2), "l", (0, 9)), knit, 1.5, opacity=0.6)


def _denim(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Pointed collar, chest pockets and orange stitching over a white tee."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    _vee(c, f, 70, (246, 246, 244), 2)
    stitch = (226, 170, 90)
    c.line(path_data("M", (cx, sy + 70), "L", (cx, 512)), darker(col, 0.3), 3)
    with c.batch():
        for side in (-1, 1):
            c.path(path_data("M", (cx + side * (nw + 2), sy - 14), "L", (cx + side * 10, sy + 70), "L",
                             (cx + side * 30, sy + 40), "L", (cx + side * (nw + 50), sy + 18), "Z"), lighter(col, 0.08),
                   shade=1, outline=1)
            px = cx + side * 70
            c.rect(px - 26, sy + 64, 52, 40, darker(col, 0.06), outline=0.6, rx=3)
            c.line(path_data("M", (px - 26, sy + 78), "L", (px + 26, sy + 78)), stitch, 2, dash="4 3")
            c.circle(px, sy + 86, 4, (190, 120, 60))
            c.line(path_data("M", (cx + side * 20, sy + 130), "L", (cx + side * (f.body_w - 20), sy + 120)), stitch, 2,
                   dash="4 3")
    _buttons(c, cx + 8, (sy + 92, sy + 126), (190, 120, 60))


def _shirt(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Collar points and a buttoned placket."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    _vee(c, f, 22, darker(f.skin, 0.12), -6)
    with c.batch():
        for side in (-1, 1):
            c.path(path_data("M", (cx + side * (nw + 4), sy - 22), "L", (cx + side * 2, sy + 24), "L",
                             (cx + side * (nw + 26), sy + 14), "Z"), lighter(col, 0.08), shade=1, outline=1)
    c.line(path_data("M", (cx, sy + 24), "L", (cx, 512)), darker(col, 0.2), 2.5)
    _buttons(c, cx + 6, (sy + 44, sy + 76, sy + 108), lighter(col, 0.4), 3.5)


def _leather(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Wide lapels, a zip and a sheen."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    under = (40, 40, 44) if sum(col) > 300 else (235, 235, 230)
    _vee(c, f, 90, under, 6)
    lapel = darker(col, 0.2)
    with c.batch():
        for side in (-1, 1):
            c.path(path_data("M", (cx + side * (nw + 6), sy - 14), "L", (cx + side * 24, sy + 92),
                             "L", (cx + side * (nw + 58), sy + 40), "L", (cx + side * (nw + 40), sy + 6), "Z"), lapel,
                   shade=1, outline=1)
            c.line(path_data("M", (cx + side * 80, sy + 30), "Q", (cx + side * 110, sy + 60),
                             (cx + side * 120, sy + 100)), WHITE, 5, opacity=0.18)
    c.line(path_data("M", (cx + 24, sy + 92), "L", (cx + 34, 512)), (200, 200, 204), 3)
    c.line(path_data("M", (cx + 40, sy + 150), "l", (40, -6)), (200, 200, 204), 3)


def _turtleneck(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """A rolled collar up to the chin."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    top = f.chin - 8
    collar = darker(col, 0.06)
    c.path(path_data("M", (cx - nw - 8, sy + 6), "L", (cx - nw - 4, top), "Q", (cx, top + 10), (cx + nw + 4, top), "L",
                     (cx + nw + 8, sy + 6), "Q", (cx, sy + 16), (cx - nw - 8, sy + 6), "Z"), collar, shade=1, outline=1)
    for k in range(1, 4):
        y = top + (sy + 6 - top) * k / 4
        c.line(path_data("M", (cx - nw - 4, y), "Q", (cx, y + 8), (cx + nw + 4, y)), darker(col, 0.25), 2, opacity=0.5)


CLOTHES: dict[str, Callable[[Canvas, Figure, RGB, random.Random], None]] = {
    "t-shirt": _tshirt, "hoodie": _hoodie, "suit jacket": _suit, "knitted sweater": _sweater,
    "denim jacket": _denim, "button-up shirt": _shirt, "leather jacket": _leather, "turtleneck": _turtleneck,
}
