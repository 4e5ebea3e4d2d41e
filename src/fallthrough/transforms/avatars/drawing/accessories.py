"""What a portrait wears besides its clothes: glasses, earrings, hats, headphones and a scarf.

Colours come from the seed but never match the clothes, so an accessory always stands out.
"""

from __future__ import annotations

from collections.abc import Callable

from ..prompt import Portrait
from .canvas import Canvas, darker, lighter, path_data, svg_number
from .figure import Figure
from .palette import accent


def _glasses(c: Canvas, f: Figure, round_: bool) -> None:
    """Frames around the eyes, with faint lenses so the eye colour still shows."""
    frame = (32, 30, 34) if not round_ else (170, 130, 60)
    extra = c.outline(0)
    with c.batch():
        for side in (-1, 1):
            x = f.cx + side * f.eye_dx
            if round_:
                r = f.eye_rx + 6
                c.add(f'<circle cx="{svg_number(x)}" cy="{svg_number(f.eye_y)}" r="{svg_number(r)}" '
                      f'fill="#ffffff" fill-opacity="0.15" stroke="{c.col(frame)}" stroke-width="4"{extra}/>')
            else:
                w, h = f.eye_rx * 2 + 14, f.eye_ry * 2 + 16
                c.add(f'<rect x="{svg_number(x - w / 2)}" y="{svg_number(f.eye_y - h / 2)}" width="{svg_number(w)}" '
                      f'height="{svg_number(h)}" rx="7" fill="#ffffff" fill-opacity="0.15" stroke="{c.col(frame)}" '
                      f'stroke-width="5.5"/>')
        gap = f.eye_dx - f.eye_rx - (6 if round_ else 7)
        c.line(path_data("M", (f.cx - gap, f.eye_y - 2), "Q", (f.cx, f.eye_y - 8), (f.cx + gap, f.eye_y - 2)), frame, 4)
        for side in (-1, 1):
            x0 = f.cx + side * (f.eye_dx + f.eye_rx + 6)
            c.line(path_data("M", (x0, f.eye_y - 4), "L", (f.cx + side * (f.w - 2), f.eye_y - 2)), frame, 4)


def _square_glasses(c: Canvas, f: Figure, p: Portrait) -> None:
    """Glasses with rectangular frames."""
    _glasses(c, f, round_=False)


def _round_glasses(c: Canvas, f: Figure, p: Portrait) -> None:
    """Thin round frames."""
    _glasses(c, f, round_=True)


def _earrings(c: Canvas, f: Figure, p: Portrait) -> None:
    """Hoops or drops, drawn over the hair so long hair does not hide them."""
    gold = (226, 180, 70)
    with c.batch():
        for side in (-1, 1):
            x, y = f.cx + side * (f.w - 2), f.eye_y + 32
            if p.seed & 1:
                c.add(f'<circle cx="{svg_number(x)}" cy="{svg_number(y + 10)}" r="10" fill="none" '
                      f'stroke="{c.col(gold)}" stroke-width="3.5"/>')
            else:
                c.circle(x, y + 2, 5, gold, outline=0.5)
                c.circle(x, y + 14, 7, accent(p, f.cloth, 7), outline=0.5)


def _hat(c: Canvas, f: Figure, p: Portrait) -> None:
    """A beanie, a brimmed hat or a cap, chosen by seed bits."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    colour = accent(p, f.cloth, 9)
    kind = (p.seed >> 13) % 3
    band = cy - 0.6 * h
    if kind == 0:   # a knitted beanie with a pompom
        c.path(path_data("M", (cx - w - 10, band), "C", (cx - w - 10, f.top - 70), (cx + w + 10, f.top - 70),
                         (cx + w + 10, band), "Z"), colour, shade=1, outline=1)
        c.rect(cx - w - 14, band - 14, 2 * w + 28, 30, darker(colour, 0.12), shade=1, outline=1, rx=12)
        c.circle(cx, f.top - 44, 20, lighter(colour, 0.5), shade=1, outline=1)
    elif kind == 1:   # a brimmed hat
        c.path(path_data("M", (cx - w + 4, band), "L", (cx - w + 12, f.top - 46), "Q", (cx, f.top - 60),
                         (cx + w - 12, f.top - 46), "L", (cx + w - 4, band), "Z"), colour, shade=1, outline=1)
        c.rect(cx - w + 4, band - 22, 2 * w - 8, 18, darker(colour, 0.35), outline=0.5)
        c.ellipse(cx, band, w + 60, 16, darker(colour, 0.08), shade=1, outline=1)
    else:   # a cap with a peak
        c.path(path_data("M", (cx - w - 6, band),
                         "C", (cx - w - 6, f.top - 50), (cx + w + 6, f.top - 50), (cx + w + 6, band), "Z"),
               colour, shade=1, outline=1)
        c.path(path_data("M", (cx - w - 4, band), "Q", (cx, band - 14), (cx + w + 4, band),
                         "Q", (cx + w * 0.6, band + 26), (cx - 10, band + 24), "Q", (cx - w * 0.8, band + 22),
                         (cx - w - 4, band), "Z"), darker(colour, 0.15), shade=1, outline=1)
        c.circle(cx, f.top - 36, 6, darker(colour, 0.2))


def scarf(c: Canvas, f: Figure, p: Portrait) -> None:
    """Wrapped round the neck with one end hanging, in a colour unlike the clothes."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    colour = accent(p, f.cloth, 5)
    stripe = lighter(colour, 0.45)
    c.path(path_data("M", (cx - nw - 30, sy - 36), "Q", (cx, sy - 6), (cx + nw + 30, sy - 36),
                     "L", (cx + nw + 36, sy + 4), "Q", (cx, sy + 40), (cx - nw - 36, sy + 4), "Z"),
           colour, shade=1, outline=1)
    tail = path_data("M", (cx + 10, sy + 10), "L", (cx + 46, sy + 10), "L", (cx + 60, sy + 120),
                     "L", (cx + 22, sy + 124), "Z")
    c.path(tail, colour, shade=1, outline=1)
    for k in (0.45, 0.7):
        y = sy + 10 + 114 * k
        c.line(path_data("M", (cx + 16 + 4 * k, y), "L", (cx + 52 + 10 * k, y - 2)), stripe, 6)
    for i in range(5):
        x = cx + 24 + i * 8
        c.line(path_data("M", (x, sy + 124 - i * 0.8), "l", (1, 12)), colour, 3)


def _headphones(c: Canvas, f: Figure, p: Portrait) -> None:
    """A band over the hair and cups over the ears."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    colour = (44, 46, 52) if (p.seed >> 6) & 1 else accent(p, f.cloth, 11)
    r = w + 20
    c.line(path_data("M", (cx - r, cy - 0.05 * h), "C", (cx - r, cy - 1.55 * h), (cx + r, cy - 1.55 * h),
                     (cx + r, cy - 0.05 * h)), darker(colour, 0.1), 11)
    with c.batch():
        for side in (-1, 1):
            c.rect(cx + side * (w + 6) - 17, f.eye_y - 26, 34, 60, colour, shade=1, outline=1, rx=14)
            c.rect(cx + side * (w + 6) - 6, f.eye_y - 16, 12, 40, lighter(colour, 0.25), rx=6)


# What is worn over the hair, drawn last; a scarf goes on with the clothes and freckles with the face.
WORN_ON_TOP: dict[str, Callable[[Canvas, Figure, Portrait], None]] = {
    "glasses": _square_glasses, "round glasses": _round_glasses, "earrings": _earrings, "a hat": _hat,
    "headphones": _headphones,
}
DRAWN_ELSEWHERE = frozenset(("no accessories", "a scarf", "freckles"))
