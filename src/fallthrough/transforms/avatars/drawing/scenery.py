"""Props that several settings share, and the test for what the figure will cover anyway.

Kept apart from the settings so town and country can both use them without depending on each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .canvas import RGB, VIEW, Canvas, Point, lighter, mix, path_data
from .sky import Sky

Setting = Callable[[Canvas, Sky, random.Random], None]


def behind_figure(x0: float, x1: float, y0: float) -> bool:
    """Whether scenery there is certainly behind the figure, so it need not be drawn at all."""
    return (y0 > 150 and x0 > 180 and x1 < 332) or (y0 > 420 and x0 > 100 and x1 < 412)


def pine(c: Canvas, x: float, base: float, h: float, colour: RGB, snow: bool = False) -> None:
    """Three tiers as one silhouette, so an outline style traces the tree rather than every tier."""
    tiers = [(base - h * (0.55 + 0.27 * i), h * (0.32 - 0.07 * i), base - h * (0.12 + 0.27 * i)) for i in range(3)]
    right: list[Point] = []
    for i in (2, 1, 0):
        top, half, bottom = tiers[i]
        right.append((x + half, bottom))
        if i:
            below_top, below_half, below_bottom = tiers[i - 1]
            right.append((x + below_half * (bottom - below_top) / (below_bottom - below_top), bottom))
    left = [(2 * x - px, py) for px, py in reversed(right)]
    parts: list[str | Point] = ["M", (x, tiers[2][0])]
    for point in right + left:
        parts += ["L", point]
    c.rect(x - h * 0.04, base - h * 0.15, h * 0.08, h * 0.16, (92, 64, 44))
    c.path(path_data(*parts, "Z"), colour, shade=1, outline=0.5)
    if snow:
        top, half, bottom = tiers[2]
        c.path(path_data("M", (x, top), "L", (x + half * 0.4, top + (bottom - top) * 0.4), "L",
                         (x - half * 0.4, top + (bottom - top) * 0.4), "Z"), (246, 249, 252))


def round_tree(c: Canvas, x: float, base: float, h: float, colour: RGB) -> None:
    """A trunk under a canopy of overlapping circles, as one merged element per colour."""
    with c.batch():
        c.rect(x - h * 0.05, base - h * 0.5, h * 0.1, h * 0.5, (104, 72, 48), shade=1)
        for dx, dy, r in ((0, -0.72, 0.3), (-0.2, -0.55, 0.22), (0.2, -0.58, 0.23), (0, -0.5, 0.24)):
            c.circle(x + dx * h, base + dy * h, r * h, colour, shade=1)


def windows(c: Canvas, x: float, y: float, w: float, h: float, sky: Sky, rng: random.Random) -> None:
    """A grid of windows, lit at dusk and night, reflecting the sky by day; hidden ones are never written."""
    if behind_figure(x, x + w, y):
        return
    glow, dark = (255, 214, 110), mix(sky.top, (60, 70, 90), 0.5)
    day = lighter(sky.mid, 0.3)
    with c.batch():
        for wy in range(int(y + 14), int(y + h - 20), 26):
            for wx in range(int(x + 8), int(x + w - 14), 18):
                if behind_figure(wx, wx + 10, wy):
                    continue
                colour = (glow if rng.random() < 0.55 else dark) if sky.lit else day
                c.rect(wx, wy, 10, 14, colour)


def wall_with_window(c: Canvas, colour: RGB, window: tuple[float, float, float, float], arch: bool) -> None:
    """A wall with a hole cut in it (even-odd), so the sky drawn first shows the time of day indoors."""
    x, y, w, h = window
    hole = (path_data("M", (x, y + h), "L", (x, y + w / 2), "A", (w / 2, w / 2), "0 0 1", (x + w, y + w / 2), "L",
                      (x + w, y + h), "Z") if arch else
            path_data("M", (x, y), "L", (x + w, y), "L", (x + w, y + h), "L", (x, y + h), "Z"))
    d = path_data("M", (0, 0), "L", (VIEW, 0), "L", (VIEW, VIEW), "L", (0, VIEW), "Z") + " " + hole
    c.add(f'<path d="{d}" fill-rule="evenodd" fill="{c.fill(colour, 0.5)}"/>')


def window_frame(c: Canvas, window: tuple[float, float, float, float], cols: int, rows: int, colour: RGB) -> None:
    """Mullions and a frame, so an opening reads as a window."""
    x, y, w, h = window
    for i in range(1, cols):
        c.line(path_data("M", (x + w * i / cols, y), "L", (x + w * i / cols, y + h)), colour, 5)
    for j in range(1, rows):
        c.line(path_data("M", (x, y + h * j / rows), "L", (x + w, y + h * j / rows)), colour, 5)
    c.line(path_data("M", (x, y), "L", (x + w, y), "L", (x + w, y + h), "L", (x, y + h), "Z"), colour, 7)
