"""The settings out in the open: forest, beach, meadow, garden, desert, lake shore and park.

Each draws the whole background behind the figure, leaving its tallest things at the edges.
"""

from __future__ import annotations

import math
import random

from .canvas import VIEW, WHITE, Canvas, mix, path_data
from .scenery import Setting, behind_figure, pine, round_tree
from .sky import Sky


def _forest(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A far row of small pines and tall dark ones at the edges, where the figure leaves room."""
    c.rect(0, 370, VIEW, 150, (80, 125, 60), shade=0.5)
    with c.batch():
        far = mix((70, 120, 80), sky.bottom, 0.35)
        for i in range(16):
            pine(c, i * 34 + rng.uniform(-8, 8), 375, rng.uniform(90, 150), far)
        for x in (22.0, 96.0, 416.0, 492.0):
            pine(c, x + rng.uniform(-10, 10), 470, rng.uniform(280, 360), (40, 88, 52))


def _beach(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Sea to the horizon, sand in front and a palm on one side."""
    sea = mix((30, 130, 185), sky.bottom, 0.25)
    c.rect(0, 300, VIEW, 100, sea, shade=1)
    with c.batch():
        for y in (318.0, 338.0, 360.0):
            x = rng.uniform(0, 60)
            while x < VIEW:
                c.line(path_data("M", (x, y), "l", (24, 0)), WHITE, 2, opacity=0.55)
                x += rng.uniform(60, 110)
    c.path(path_data("M", (0, 380), "C", (150, 366), (330, 396), (512, 378), "L", (512, 512), "L", (0, 512), "Z"),
           (236, 210, 156), shade=0.6)
    x = rng.choice((60.0, 452.0))
    lean = 40 if x < 256 else -40
    c.line(path_data("M", (x, 440), "Q", (x + lean * 0.2, 300), (x + lean, 200)), (120, 86, 52), 12)
    with c.batch():
        for angle in (-150, -110, -60, -20, 20):
            a = math.radians(angle)
            tip = (x + lean + math.cos(a) * 80, 200 + math.sin(a) * 40 + 40)
            mid = (x + lean + tip[0]) / 2
            c.path(path_data("M", (x + lean, 200), "Q", (mid, 170), tip, "Q", (mid, 196), (x + lean, 204), "Z"),
                   (52, 130, 60), outline=0.5)


def _meadow(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Snow-capped peaks over a green meadow dotted with flowers."""
    far = mix((120, 135, 170), sky.bottom, 0.35)
    peaks = [(-40.0, 330.0)]
    x = -40.0
    while x < VIEW + 40:
        x += rng.uniform(90, 140)
        peaks.append((x, rng.uniform(130, 220)))
    for (x0, _), (x1, y1) in zip(peaks, peaks[1:]):
        c.path(path_data("M", (x0, 340), "L", (x1, y1), "L", (x1 + (x1 - x0), 340), "Z"), far, shade=0.6, outline=0.5)
        c.path(path_data("M", (x1, y1), "L", (x1 + 24, y1 + 34), "L", (x1 + 8, y1 + 28), "L", (x1 - 6, y1 + 38), "L",
                         (x1 - 24, y1 + 34), "Z"), (248, 250, 252))
    c.path(path_data("M", (0, 340), "C", (120, 310), (260, 350), (512, 320), "L", (512, 512), "L", (0, 512), "Z"),
           (108, 172, 80), shade=0.5)
    flowers = ((255, 255, 255), (250, 214, 60), (240, 120, 170), (160, 110, 220))
    with c.batch():
        for _ in range(40):
            x, y = rng.uniform(0, VIEW), rng.uniform(350, 510)
            if not behind_figure(x, x, y):
                c.circle(x, y, rng.uniform(2.5, 4.5), rng.choice(flowers))


def _garden(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A hedge, a picket fence and flowers in the corners."""
    c.rect(0, 380, VIEW, 140, (100, 170, 72), shade=0.5)
    hedge = (58, 120, 58)
    c.rect(0, 300, VIEW, 90, hedge, shade=0.6)
    with c.batch():
        for i in range(14):
            c.circle(i * 40 + rng.uniform(-5, 5), 300 + rng.uniform(-6, 6), rng.uniform(24, 32), hedge, shade=0.6)
        for i in range(26):
            x = i * 20 + 4
            if behind_figure(x, x + 12, 330):
                continue
            c.path(path_data("M", (x, 400), "L", (x, 340), "L", (x + 6, 332), "L", (x + 12, 340), "L", (x + 12, 400),
                             "Z"), (246, 244, 238), outline=0.4)
    c.rect(0, 356, VIEW, 7, (236, 234, 226))
    blooms = ((230, 70, 90), (250, 200, 60), (240, 130, 190), (255, 255, 255), (170, 100, 220))
    with c.batch():
        for _ in range(16):
            x, y = rng.choice((rng.uniform(0, 90), rng.uniform(422, 512))), rng.uniform(410, 500)
            colour = rng.choice(blooms)
            c.line(path_data("M", (x, y), "L", (x, y + 30)), (60, 120, 50), 3)
            for k in range(5):
                a = k * 2 * math.pi / 5
                c.circle(x + 7 * math.cos(a), y + 7 * math.sin(a), 6, colour)
            c.circle(x, y, 4, (250, 220, 80))


def _desert(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Mesas, dunes and a saguaro or two."""
    mesa = mix((196, 120, 80), sky.bottom, 0.3)
    c.path(path_data("M", (0, 330), "L", (0, 250), "L", (70, 250), "L", (96, 300), "L", (380, 300), "L", (400, 230),
                     "L", (470, 230), "L", (500, 300), "L", (512, 330), "Z"), mesa, shade=0.5, outline=0.5)
    c.path(path_data("M", (0, 330), "C", (140, 300), (300, 350), (512, 316), "L", (512, 512), "L", (0, 512), "Z"),
           (230, 182, 110), shade=0.6)
    c.path(path_data("M", (0, 400), "C", (160, 370), (340, 420), (512, 390), "L", (512, 512), "L", (0, 512), "Z"),
           (216, 160, 88), shade=0.6)
    for x, s in ((rng.uniform(30, 80), 1.0), (rng.uniform(430, 480), 0.75)):
        green = (80, 128, 70)
        c.line(path_data("M", (x, 420), "L", (x, 420 - 170 * s)), green, 24 * s)
        c.line(path_data("M", (x, 360 - 20 * s), "L", (x - 34 * s, 360 - 20 * s), "L", (x - 34 * s, 300 - 40 * s)),
               green, 16 * s)
        c.line(path_data("M", (x, 380 - 10 * s), "L", (x + 30 * s, 380 - 10 * s), "L", (x + 30 * s, 330 - 20 * s)),
               green, 16 * s)


def _lake(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Hills across still water, with reeds and stones on the shore."""
    hills = mix((90, 130, 110), sky.bottom, 0.35)
    c.path(path_data("M", (0, 320), "C", (80, 250), (180, 270), (260, 300), "C", (340, 250), (430, 240), (512, 300),
                     "L", (512, 330), "L", (0, 330), "Z"), hills, shade=0.6, outline=0.5)
    water = mix(sky.bottom, (50, 110, 140), 0.45)
    c.rect(0, 326, VIEW, 90, water, shade=1)
    with c.batch():
        for _ in range(12):
            x, y = rng.uniform(0, VIEW), rng.uniform(334, 408)
            c.line(path_data("M", (x, y), "l", (rng.uniform(16, 36), 0)), WHITE, 2, opacity=0.45)
    c.path(path_data("M", (0, 410), "C", (150, 396), (350, 420), (512, 404), "L", (512, 512), "L", (0, 512), "Z"),
           (130, 150, 90), shade=0.6)
    with c.batch():
        for _ in range(10):
            x = rng.choice((rng.uniform(0, 80), rng.uniform(432, 512)))
            top = rng.uniform(330, 380)
            c.line(path_data("M", (x, 470), "L", (x + rng.uniform(-6, 6), top)), (80, 110, 60), 3)
            c.ellipse(x, top + 14, 4, 12, (110, 72, 44))
    for x in (rng.uniform(90, 140), rng.uniform(380, 420)):
        c.ellipse(x, 430, 22, 12, (140, 140, 136), shade=1, outline=0.5)


def _park(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Round trees, a path and a lamp post."""
    far = mix((90, 150, 90), sky.bottom, 0.35)
    with c.batch():
        for i in range(9):
            round_tree(c, i * 64 + rng.uniform(-10, 10), 360, rng.uniform(80, 120), far)
    c.rect(0, 356, VIEW, 170, (120, 185, 86), shade=0.5)
    c.path(path_data("M", (200, 356), "C", (120, 420), (60, 460), (30, 512), "L", (180, 512), "C", (220, 450),
                     (260, 400), (300, 356), "Z"), (220, 204, 166))
    for x in (40.0, 470.0):
        round_tree(c, x + rng.uniform(-10, 10), 440, rng.uniform(260, 320), (62, 130, 62))
    x = rng.choice((120.0, 392.0))
    c.rect(x - 3, 250, 6, 130, (40, 44, 50))
    c.rect(x - 10, 236, 20, 22, (255, 226, 140) if sky.lit else (230, 230, 220), outline=0.5)
    if sky.lit:
        c.circle(x, 247, 30, (255, 220, 130), opacity=0.3)


COUNTRY: dict[str, Setting] = {
    "forest": _forest, "beach": _beach, "mountain meadow": _meadow, "garden": _garden, "desert": _desert,
    "lake shore": _lake, "park": _park,
}
