"""The shapes hair is made of: caps over the skull, hairlines, hanging lengths, braids, curls and spikes.

The hair styles are combinations of these, so each shape is written once and fits every head.
"""

from __future__ import annotations

import math

from .canvas import RGB, Canvas, Point, darker, path_data
from .figure import Figure


def dome(f: Figure, e: float, drop: float, left_e: float | None = None) -> str:
    """The outer edge of hair lying on the skull, from the left side over the crown to the right."""
    cx, cy, w = f.cx, f.cy, f.w
    le = e if left_e is None else left_e
    y0 = cy - 0.1 * f.h
    top = cy - f.h - e
    r = y0 - top
    k = 0.552
    return path_data("M", (cx - w - le, cy + drop), "L", (cx - w - le, y0),
                     "C", (cx - w - le, y0 - k * r), (cx - k * (w + le), top), (cx, top),
                     "C", (cx + k * (w + e), top), (cx + w + e, y0 - k * r), (cx + w + e, y0),
                     "L", (cx + w + e, cy + drop))


def line_arch(f: Figure, drop: float, hl: float) -> str:
    """A rounded hairline: forehead bare, hair framing the temples."""
    cx, cy, w = f.cx, f.cy, f.w
    s = 5
    return path_data("L", (cx + w - s, cy + drop), "L", (cx + w - s, cy - 0.2 * f.h),
                     "C", (cx + 0.8 * w, hl), (cx + 0.35 * w, hl), (cx, hl),
                     "C", (cx - 0.35 * w, hl), (cx - 0.8 * w, hl), (cx - w + s, cy - 0.2 * f.h),
                     "L", (cx - w + s, cy + drop), "Z")


def line_part(f: Figure, drop: float, part: float) -> str:
    """Curtains from a centre parting, showing a triangle of forehead."""
    cx, cy, w = f.cx, f.cy, f.w
    s = 4
    pt = cy - part * f.h
    return path_data("L", (cx + w - s, cy + drop),
                     "C", (cx + w - s, cy - 0.45 * f.h), (cx + 0.3 * w, cy - 0.62 * f.h), (cx + 3, pt),
                     "L", (cx - 3, pt),
                     "C", (cx - 0.3 * w, cy - 0.62 * f.h), (cx - w + s, cy - 0.45 * f.h), (cx - w + s, cy + drop), "Z")


def line_sweep(f: Figure, drop: float, low: float) -> str:
    """A fringe swept across: low over one brow, lifting toward the other temple."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    s = 5
    return path_data("L", (cx + w - s, cy + drop), "L", (cx + w - s, cy - low * h),
                     "C", (cx + 0.5 * w, cy - (low - 0.02) * h), (cx - 0.15 * w, cy - (low + 0.2) * h),
                     (cx - 0.5 * w, cy - 0.72 * h),
                     "C", (cx - 0.75 * w, cy - 0.8 * h), (cx - w + s, cy - 0.5 * h), (cx - w + s, cy - 0.2 * h),
                     "L", (cx - w + s, cy + drop), "Z")


def line_bangs(f: Figure, drop: float) -> str:
    """A straight fringe just above the brows."""
    cx, cy, w = f.cx, f.cy, f.w
    y = f.brow_y - 12
    return path_data("L", (cx + w - 6, cy + drop), "L", (cx + w - 6, y), "Q", (cx + 0.5 * w, y + 6), (cx, y + 2),
                     "Q", (cx - 0.5 * w, y + 6), (cx - w + 6, y), "L", (cx - w + 6, cy + drop), "Z")


def line_points(f: Figure, drop: float, tips: list[Point]) -> str:
    """A jagged fringe: the tips, as fractions of the head, from the right temple to the left."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    parts: list[str | Point] = ["L", (cx + w - 5, cy + drop), "L", (cx + w - 5, cy - 0.25 * h)]
    for tx, ty in tips:
        parts += ["L", (cx + tx * w, cy - ty * h)]
    parts += ["L", (cx - w + 5, cy - 0.25 * h), "L", (cx - w + 5, cy + drop), "Z"]
    return path_data(*parts)


def cap(c: Canvas, f: Figure, colour: RGB, outer: str, line: str) -> None:
    """Hair over the skull: an outer dome and a hairline, as one shape."""
    c.path(outer + " " + line, colour, shade=1.2, outline=1)


def strands(c: Canvas, f: Figure, colour: RGB, xs: tuple[float, ...], y0: float, y1: float) -> None:
    """A few darker strokes so a block of colour reads as hair."""
    with c.batch():
        for x in xs:
            c.line(path_data("M", (f.cx + x * f.w, y0), "Q", (f.cx + x * f.w * 1.08, (y0 + y1) / 2),
                             (f.cx + x * f.w * 1.02, y1)), darker(colour, 0.25), 2, opacity=0.5)


def long_back(c: Canvas, f: Figure, colour: RGB, bottom: float, spread: float, wave: float = 0.0) -> None:
    """Hair hanging behind the head and neck, to `bottom`."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    outer = w + spread
    mid = (cy + bottom) / 2
    d = path_data("M", (cx - outer, cy - 0.1 * h), "C", (cx - outer, cy - 1.3 * h), (cx + outer, cy - 1.3 * h),
                  (cx + outer, cy - 0.1 * h),
                  "C", (cx + outer + wave, mid - 40), (cx + outer - wave, mid + 40), (cx + outer + 6, bottom),
                  "Q", (cx, bottom + 16), (cx - outer - 6, bottom),
                  "C", (cx - outer + wave, mid + 40), (cx - outer - wave, mid - 40), (cx - outer, cy - 0.1 * h), "Z")
    c.path(d, darker(colour, 0.08), shade=1.2, outline=1)


def flicked_back(c: Canvas, f: Figure, colour: RGB, bottom: float, spread: float) -> None:
    """Hair to the shoulders with the ends turned outward."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    o = w + spread
    d = path_data("M", (cx - o, cy - 0.1 * h),
                  "C", (cx - o, cy - 1.3 * h), (cx + o, cy - 1.3 * h), (cx + o, cy - 0.1 * h),
                  "C", (cx + o, bottom - 50), (cx + o + 2, bottom - 20), (cx + o + 26, bottom - 2),
                  "Q", (cx + o - 4, bottom + 8), (cx + o - 24, bottom), "L", (cx - o + 24, bottom),
                  "Q", (cx - o + 4, bottom + 8), (cx - o - 26, bottom - 2),
                  "C", (cx - o - 2, bottom - 20), (cx - o, bottom - 50), (cx - o, cy - 0.1 * h), "Z")
    c.path(d, darker(colour, 0.06), shade=1.2, outline=1)


def drape_locks(c: Canvas, f: Figure, colour: RGB, bottom: float, wave: float = 0.0) -> None:
    """Locks falling in front of the shoulders, beside the face."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    with c.batch():
        for side in (-1, 1):
            o = cx + side * (w + 16)
            i = cx + side * (w - 16)
            d = path_data("M", (o, cy - 0.35 * h), "C", (o + side * (6 + wave), cy + h * 0.6),
                          (o + side * (4 - wave), bottom - 60), (o + side * 8, bottom),
                          "Q", (cx + side * (w + 8), bottom + 14), (i + side * 6, bottom - 10),
                          "C", (i + side * wave, bottom - 80), (i, cy + h), (i, cy - 0.2 * h), "Z")
            c.path(d, colour, shade=1.2, outline=1)
            c.line(path_data("M", (cx + side * w, cy + 0.2 * h), "Q", (cx + side * (w + 4 + wave), bottom - 70),
                             (cx + side * (w + 8), bottom - 8)), darker(colour, 0.25), 2, opacity=0.45)


def braids(c: Canvas, f: Figure, colour: RGB, accent: RGB) -> None:
    """Two braids as chains of plaits, tied at the ends."""
    cx, cy, w = f.cx, f.cy, f.w
    with c.batch():
        for side in (-1, 1):
            x = cx + side * (w + 4)
            y = cy + 0.1 * f.h
            while y < 470:
                c.ellipse(x, y, 16, 13, colour, shade=1.2, outline=1)
                c.line(path_data("M", (x - 10, y - 4), "Q", (x, y + 6), (x + 10, y - 4)), darker(colour, 0.3), 2,
                       opacity=0.6)
                x += side * 1.5
                y += 20
            c.rect(x - 9, y - 8, 18, 8, accent, rx=3)
            c.path(path_data("M", (x - 8, y), "L", (x + 8, y), "L", (x, y + 22), "Z"), colour, outline=1)


def curls(c: Canvas, f: Figure, colour: RGB, rx: float, ry: float, y: float, start: float, stop: float, r: float,
          count: int) -> None:
    """Curls as small circles along an arc, each with a twist drawn in."""
    with c.batch():
        for i in range(count):
            a = math.radians(start + (stop - start) * i / max(1, count - 1))
            x, yy = f.cx + rx * math.cos(a), y + ry * math.sin(a)
            c.circle(x, yy, r, colour, shade=1.2, outline=0.8)
            c.line(path_data("M", (x - r * 0.4, yy - r * 0.1), "Q", (x, yy + r * 0.5), (x + r * 0.4, yy - r * 0.2)),
                   darker(colour, 0.3), 2, opacity=0.6)


def spikes(c: Canvas, f: Figure, colour: RGB, hat: bool) -> None:
    """Spikes standing out from the skull, shortened under a hat."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    spike = 10 if hat else 28
    parts: list[str | Point] = ["M", (cx - w - 8, cy - 0.05 * h)]
    steps = 11
    for i in range(steps + 1):
        a = math.radians(180 + 180 * i / steps)
        r = 1.0 if i % 2 == 0 else 1.0 + spike / w
        parts += ["L", (cx + (w + 8) * r * math.cos(a), cy - 0.1 * h + (h + 8) * r * math.sin(a))]
    parts += ["L", (cx + w + 8, cy - 0.05 * h)]
    cap(c, f, colour, path_data(*parts),
        line_points(f, -0.05 * h, [(0.5, 0.46), (0.3, 0.64), (0.05, 0.48), (-0.15, 0.66), (-0.4, 0.5),
                                   (-0.6, 0.66)]))


def crest(c: Canvas, f: Figure, colour: RGB, height: float) -> None:
    """A frontal mohawk: a tall spiked crest over shaved sides."""
    cx, top, w = f.cx, f.top, f.w
    tips = [(-0.3, 20), (-0.22, -height * 0.7), (-0.1, -height * 0.4), (0.0, -height), (0.1, -height * 0.4),
            (0.22, -height * 0.7), (0.3, 20)]
    parts: list[str | Point] = ["M", (cx - 0.2 * w, f.cy - 0.55 * f.h)]
    for tx, ty in tips:
        parts += ["L", (cx + tx * w, top + ty)]
    parts += ["L", (cx + 0.2 * w, f.cy - 0.55 * f.h), "Z"]
    c.path(path_data(*parts), colour, shade=1.2, outline=1)
