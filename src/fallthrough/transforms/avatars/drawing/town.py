"""The settings among buildings: streets, rooftops, harbour and station, and the three indoor rooms.

Lit windows and lamps follow the time of day (`Sky.lit`), so a street at night glows.
"""

from __future__ import annotations

import random

from .canvas import RGB, VIEW, WHITE, Canvas, mix, path_data, svg_number
from .scenery import Setting, behind_figure, pine, wall_with_window, window_frame, windows
from .sky import Sky


def _city(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Two rows of buildings, the far ones hazed, so the street has depth on both sides of the figure."""
    far = mix((130, 140, 160), sky.bottom, 0.45)
    with c.batch():
        x = -10.0
        while x < VIEW:
            w = rng.uniform(40, 70)
            c.rect(x, 400 - rng.uniform(150, 270), w, 300, far)
            x += w
        x = -20.0
        while x < VIEW:
            w, h = rng.uniform(60, 110), rng.uniform(110, 250)
            colour = rng.choice(((93, 101, 119), (139, 90, 74), (110, 106, 98), (78, 90, 106), (160, 120, 90)))
            c.rect(x, 410 - h, w, h, colour, shade=0.6, outline=0.5)
            windows(c, x, 410 - h, w, h, sky, rng)
            x += w + rng.uniform(0, 8)
    c.rect(0, 405, VIEW, 20, (160, 158, 150))
    c.rect(0, 425, VIEW, 90, (88, 90, 96))
    side = rng.choice((40.0, 472.0))
    c.rect(side - 3, 250, 6, 175, (50, 54, 60))
    c.circle(side, 248, 10, (255, 220, 130) if sky.lit else (220, 224, 230))
    if sky.lit:
        c.circle(side, 248, 28, (255, 220, 130), opacity=0.3)


def _library(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Shelves of books around an arched window."""
    left = rng.random() < 0.5
    window = (24.0 if left else 368.0, 40.0, 120.0, 200.0)
    wall_with_window(c, (108, 74, 50), window, arch=True)
    c.line(path_data("M", (window[0] + 60, 40), "L", (window[0] + 60, 240)), (80, 54, 36), 5)
    books = ((140, 47, 47), (47, 79, 124), (63, 107, 63), (163, 120, 47), (91, 58, 107), (122, 122, 122),
             (184, 92, 56), (40, 60, 60))
    with c.batch():
        for shelf_y in (110.0, 190.0, 270.0, 350.0, 430.0, 510.0):
            c.rect(0, shelf_y - 8, VIEW, 10, (150, 105, 70), shade=0.5)
            x = 0.0
            while x < VIEW:
                w, h = rng.uniform(9, 17), rng.uniform(50, 68)
                in_window = window[0] - 4 < x + w and x < window[0] + window[2] + 4 and shelf_y - h < window[1] + 205
                if not in_window and not behind_figure(x, x + w, shelf_y - h):
                    c.rect(x, shelf_y - 8 - h, w - 1.5, h, rng.choice(books), outline=0.3)
                x += w


def _cafe(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A big window onto the street, pendant lamps and cups on the counter."""
    window = (16.0, 24.0, 480.0, 214.0)
    far = mix((100, 110, 130), sky.bottom, 0.5)
    with c.batch():
        x = 0.0
        while x < VIEW:
            w = rng.uniform(40, 80)
            c.rect(x, 238 - rng.uniform(40, 110), w, 120, far)
            x += w
    wall = rng.choice(((233, 220, 195), (168, 86, 64)))
    wall_with_window(c, wall, window, arch=False)
    window_frame(c, window, 4, 1, (60, 46, 40))
    c.rect(0, 400, VIEW, 140, (92, 58, 40), shade=1, outline=0.5)
    c.rect(0, 396, VIEW, 10, (140, 96, 62))
    for x in (64.0, 448.0):
        c.line(path_data("M", (x, 0), "L", (x, 70)), (40, 40, 40), 2)
        c.path(path_data("M", (x - 30, 104), "L", (x - 10, 70), "L", (x + 10, 70), "L", (x + 30, 104), "Z"),
               (40, 70, 60), shade=1, outline=0.5)
        c.circle(x, 106, 8, (255, 230, 150))
        if sky.lit:
            c.circle(x, 110, 34, (255, 220, 130), opacity=0.3)
    for x in (40.0, 472.0):
        c.path(path_data("M", (x - 14, 370), "L", (x + 14, 370), "L", (x + 11, 396), "L", (x - 11, 396), "Z"),
               (245, 242, 236), outline=0.5)
        c.ellipse(x, 397, 22, 4, (235, 232, 226))


def _snowy(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Snowy roofs with lit windows, pines and falling snow."""
    c.path(path_data("M", (0, 330), "C", (160, 280), (330, 320), (512, 290), "L", (512, 512), "L", (0, 512), "Z"),
           (222, 232, 244), shade=0.5)
    walls = ((181, 82, 59), (63, 111, 143), (217, 176, 74), (120, 90, 140))
    for x in (-10.0, 70.0, 370.0, 448.0):
        w, h = rng.uniform(64, 80), rng.uniform(60, 90)
        base = 400 + rng.uniform(-10, 10)
        c.rect(x, base - h, w, h, rng.choice(walls), shade=0.6, outline=0.5)
        c.path(path_data("M", (x - 8, base - h), "L", (x + w / 2, base - h - 44), "L", (x + w + 8, base - h), "Z"),
               (70, 60, 64), outline=0.5)
        c.path(path_data("M", (x - 8, base - h), "L", (x + w / 2, base - h - 44), "L", (x + w + 8, base - h), "L",
                         (x + w / 2, base - h - 34), "Z"), (250, 252, 255))
        c.rect(x + w / 2 - 10, base - h + 18, 20, 22, (255, 210, 110) if sky.lit else (60, 80, 110))
    c.rect(0, 410, VIEW, 110, (243, 246, 250), shade=0.4)
    for x in (150.0, 362.0):
        pine(c, x, 330, 120, (50, 96, 70), snow=True)
    with c.batch():
        for _ in range(40):
            c.circle(rng.uniform(0, VIEW), rng.uniform(0, 400), rng.uniform(1.5, 3.2), WHITE, opacity=0.9)


def _boat(c: Canvas, x: float, y: float, k: float, colour: RGB) -> None:
    """A small sailing boat for the harbour."""
    c.path(path_data("M", (x - 50 * k, y), "L", (x + 50 * k, y), "L", (x + 36 * k, y + 22 * k),
                     "L", (x - 38 * k, y + 22 * k), "Z"), colour, shade=0.6, outline=0.5)
    c.line(path_data("M", (x, y), "L", (x, y - 110 * k)), (70, 60, 50), 3 * k)
    c.path(path_data("M", (x + 3 * k, y - 104 * k), "L", (x + 46 * k, y - 10 * k), "L", (x + 3 * k, y - 10 * k), "Z"),
           (248, 246, 240), outline=0.4)


def _harbour(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Water, boats and a striped lighthouse."""
    c.path(path_data("M", (0, 320), "C", (120, 290), (300, 310), (512, 296), "L", (512, 330), "L", (0, 330), "Z"),
           mix((100, 120, 140), sky.bottom, 0.35))
    water = mix((40, 100, 135), sky.bottom, 0.2)
    c.rect(0, 326, VIEW, 200, water, shade=1)
    with c.batch():
        for _ in range(18):
            x, y = rng.uniform(0, VIEW), rng.uniform(340, 500)
            c.line(path_data("M", (x, y), "l", (rng.uniform(14, 30), 0)), WHITE, 2, opacity=0.4)
    hulls = ((205, 60, 50), (245, 245, 240), (40, 90, 160), (240, 190, 60))
    _boat(c, rng.uniform(40, 110), 360, 1.0, rng.choice(hulls))
    _boat(c, rng.uniform(410, 470), 350, 0.8, rng.choice(hulls))
    x = rng.choice((150.0, 362.0))
    with c.batch():
        for i in range(5):
            c.rect(x - 10, 190 + i * 24, 20, 24, (200, 50, 50) if i % 2 == 0 else (245, 245, 245), outline=0.4)
    c.rect(x - 13, 174, 26, 18, (60, 60, 66))
    c.circle(x, 182, 6, (255, 230, 140) if sky.lit else (230, 230, 210))
    for px in (20.0, 492.0):
        c.rect(px - 6, 420, 12, 100, (90, 70, 52), shade=1)


def _rooftop(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A distant skyline, a parapet, a water tower and a string of lights."""
    far = mix((74, 82, 104), sky.bottom, 0.45)
    with c.batch():
        x = -10.0
        while x < VIEW:
            w, h = rng.uniform(30, 64), rng.uniform(50, 170)
            c.rect(x, 380 - h, w, h + 10, far)
            if sky.lit:
                for _ in range(3):
                    c.rect(x + rng.uniform(4, w - 8), 380 - h + rng.uniform(8, h - 10), 4, 5, (255, 214, 120))
            x += w
    c.rect(0, 372, VIEW, 40, (163, 154, 146), shade=1, outline=0.5)
    c.rect(0, 368, VIEW, 8, (190, 182, 174))
    c.rect(0, 412, VIEW, 110, (125, 116, 112), shade=0.5)
    x = rng.choice((60.0, 452.0))
    for dx in (-28.0, 28.0):
        c.line(path_data("M", (x + dx, 250), "L", (x + dx * 1.3, 372)), (70, 60, 54), 5)
    c.rect(x - 40, 170, 80, 84, (150, 100, 70), shade=1, outline=0.5, rx=6)
    c.path(path_data("M", (x - 44, 172), "L", (x, 136), "L", (x + 44, 172), "Z"), (110, 76, 56), outline=0.5)
    bulbs = (255, 222, 140) if sky.lit else (235, 235, 225)
    c.line(path_data("M", (0, 40), "Q", (256, 140), (512, 40)), (40, 40, 40), 1.5)
    with c.batch():
        for i in range(13):
            t = (i + 0.5) / 13
            bx, by = 512 * t, 40 + 200 * t * (1 - t) * 1.0
            c.circle(bx, by + 6, 5, bulbs)
            if sky.lit:
                c.circle(bx, by + 6, 12, bulbs, opacity=0.3)


def _studio(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A factory window, an easel with a canvas, paint pots on a shelf."""
    window = (30.0, 20.0, 452.0, 220.0)
    wall_with_window(c, (236, 228, 216), window, arch=False)
    window_frame(c, window, 6, 3, (58, 58, 62))
    c.rect(0, 430, VIEW, 100, (170, 128, 90), shade=0.5)
    left = rng.random() < 0.5
    x = 70.0 if left else 442.0
    c.line(path_data("M", (x - 40, 440), "L", (x, 240), "L", (x + 40, 440)), (130, 92, 60), 7)
    c.rect(x - 52, 270, 104, 90, (250, 250, 246), outline=0.6)
    paints = ((230, 70, 60), (50, 120, 220), (250, 200, 50), (70, 170, 90), (200, 90, 200))
    with c.batch():
        for _ in range(5):
            c.circle(x + rng.uniform(-36, 36), 315 + rng.uniform(-30, 30), rng.uniform(8, 18), rng.choice(paints),
                     opacity=0.85)
    jx = 442.0 if left else 70.0
    c.rect(jx - 60, 330, 120, 8, (130, 92, 60))
    for i in range(4):
        c.rect(jx - 52 + i * 28, 298, 20, 32, paints[i], outline=0.5, rx=3)


def _station(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """An iron-and-glass roof, a waiting train and a hanging clock."""
    iron = (61, 69, 80)
    with c.batch():
        for r in (240.0, 300.0, 360.0):
            c.line(path_data("M", (256 - r, 330), "A", (r, r * 0.8), "0 0 1", (256 + r, 330)), iron, 6)
        for x in range(0, VIEW + 1, 64):
            c.line(path_data("M", (x, 40), "L", (x, 330)), iron, 2.5, opacity=0.6)
    c.rect(0, 300, VIEW, 40, (138, 75, 58), shade=0.6)
    left = rng.random() < 0.5
    tx = -20.0 if left else 352.0
    colour = rng.choice(((200, 50, 50), (40, 90, 160), (40, 130, 90)))
    c.rect(tx, 250, 180, 170, colour, shade=1, outline=0.6, rx=16)
    for i in range(3):
        c.rect(tx + 20 + i * 52, 272, 38, 44, (40, 50, 66) if not sky.lit else (255, 220, 140), rx=4)
    c.rect(0, 410, VIEW, 110, (168, 162, 154), shade=0.5)
    c.rect(0, 410, VIEW, 8, (240, 200, 40))
    cx = 432.0 if left else 80.0
    c.line(path_data("M", (cx, 0), "L", (cx, 70)), iron, 4)
    c.add(f'<circle cx="{svg_number(cx)}" cy="100" r="30" fill="{c.col((250, 250, 246))}" stroke="{c.col(iron)}" '
          'stroke-width="5"/>')
    c.line(path_data("M", (cx, 100), "L", (cx, 80), "M", (cx, 100), "L", (cx + 14, 106)), (30, 30, 30), 3)


def _market(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Striped stall awnings, crates of fruit and bunting."""
    c.rect(0, 180, VIEW, 340, (216, 195, 165), shade=0.4)
    stripes = ((200, 50, 50), (40, 130, 90), (40, 100, 180), (230, 150, 40))
    fruit = ((240, 140, 30), (200, 40, 40), (120, 180, 60), (250, 210, 60))
    with c.batch():
        for i, x in enumerate((0.0, 180.0, 352.0)):
            colour = stripes[(i + rng.randint(0, 3)) % 4]
            for k in range(8):
                c.rect(x + k * 20, 190, 20, 44, colour if k % 2 == 0 else (248, 246, 240))
            for k in range(8):
                c.circle(x + k * 20 + 10, 234, 10, colour if k % 2 == 0 else (248, 246, 240))
            c.line(path_data("M", (x + 6, 240), "L", (x + 6, 420), "M", (x + 154, 240), "L", (x + 154, 420)),
                   (110, 80, 54), 5)
            c.rect(x + 8, 340, 144, 80, (150, 104, 64), shade=1, outline=0.5)
            for k in range(12):
                fx = x + 20 + (k % 6) * 24
                if not behind_figure(fx, fx, 330):
                    c.circle(fx, 336 - (k // 6) * 14, 11, rng.choice(fruit), shade=1)
    c.line(path_data("M", (0, 30), "Q", (256, 110), (512, 30)), (70, 60, 50), 2)
    flags = ((230, 70, 60), (250, 200, 50), (60, 140, 220), (90, 180, 90))
    with c.batch():
        for i in range(12):
            t = (i + 0.5) / 12
            fx, fy = 512 * t, 30 + 160 * t * (1 - t)
            c.path(path_data("M", (fx - 12, fy), "L", (fx + 12, fy), "L", (fx, fy + 24), "Z"), flags[i % 4])
    c.rect(0, 420, VIEW, 100, (150, 140, 128), shade=0.4)


TOWN: dict[str, Setting] = {
    "city street": _city, "library": _library, "cafe": _cafe, "snowy village": _snowy, "harbour": _harbour,
    "rooftop": _rooftop, "art studio": _studio, "train station": _station, "market": _market,
}
