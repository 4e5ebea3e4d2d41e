"""The times of day: each one's sky, the light it casts on the scene, and what shines in it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .canvas import RGB, VIEW, Canvas, mix, path_data, rgb


@dataclass(frozen=True, slots=True)
class Sky:
    """A time of day: its sky, the light it casts on the scene, and what glows in it."""

    top: RGB
    mid: RGB
    bottom: RGB
    tint: RGB
    tint_amount: float
    sun: RGB | None
    sun_y: float
    sun_r: float
    lit: bool
    stars: int
    clouds: RGB | None


def _sky(top: str, mid: str, bottom: str, tint: str, amount: float, sun: str, sun_y: float, sun_r: float,
         lit: bool = False, stars: int = 0, clouds: str = "") -> Sky:
    """Shorthand for the table below, in the hex colours designers think in."""
    return Sky(rgb(top), rgb(mid), rgb(bottom), rgb(tint), amount, rgb(sun) if sun else None, sun_y, sun_r, lit,
               stars, rgb(clouds) if clouds else None)


SKIES: dict[str, Sky] = {
    "dawn": _sky("#9a8cc6", "#f3a2a8", "#ffd08a", "#ff9f8f", 0.12, "#fff1c4", 300, 30, lit=True, clouds="#f9c4c6"),
    "morning": _sky("#6cafe8", "#a8d3f2", "#e6f3fb", "#fff4dc", 0.04, "#fffbe8", 120, 30, clouds="#ffffff"),
    "noon": _sky("#1b78dc", "#4fa0ee", "#a6d6ff", "#ffffff", 0.0, "#fffde6", 62, 34, clouds="#ffffff"),
    "afternoon": _sky("#3f8fd6", "#79b6e6", "#d5e8ef", "#ffe9b8", 0.06, "#fff4cf", 110, 32, clouds="#fffaf0"),
    "golden hour": _sky("#e7874c", "#f6b363", "#ffe39a", "#ffae42", 0.2, "#fff0b0", 250, 46, clouds="#ffc98a"),
    "dusk": _sky("#241d4f", "#6b3f86", "#e0869a", "#4b2e6e", 0.3, "#ffb3a0", 318, 24, lit=True, stars=14),
    "night": _sky("#060a20", "#0f1a40", "#23345f", "#0b1233", 0.5, "#f4f1d8", 84, 26, lit=True, stars=46),
    "overcast day": _sky("#8b939c", "#a7aeb6", "#cbd0d5", "#9aa1aa", 0.22, "", 0, 0, clouds="#b9bfc6"),
}


def draw_sky(c: Canvas, sky: Sky, night: bool, rng: random.Random) -> None:
    """The sky gradient (bands for flat styles), then sun or moon, stars and clouds."""
    if c.style.shade:
        c.defs.append('<linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">'
                      f'<stop offset="0" stop-color="{c.col(sky.top)}"/>'
                      f'<stop offset="0.5" stop-color="{c.col(sky.mid)}"/>'
                      f'<stop offset="0.75" stop-color="{c.col(sky.bottom)}"/></linearGradient>')
        c.add(f'<rect width="{VIEW}" height="{VIEW}" fill="url(#sky)"/>')
    else:
        bands = (sky.top, mix(sky.top, sky.mid, 0.5), sky.mid, mix(sky.mid, sky.bottom, 0.5), sky.bottom)
        for i, colour in enumerate(bands):
            c.rect(0, i * 80, VIEW, VIEW - i * 80, colour)
    with c.batch():
        for _ in range(sky.stars):
            x, y = rng.uniform(4, 508), rng.uniform(4, 260)
            c.circle(x, y, rng.choice((1.2, 1.6, 2.2)), (255, 250, 230), opacity=rng.choice((0.55, 0.8, 1.0)))
    sun_x = rng.choice((78.0, 434.0))
    if sky.sun is not None:
        if night:
            c.circle(sun_x, sky.sun_y, sky.sun_r + 14, sky.sun, opacity=0.15)
            c.circle(sun_x, sky.sun_y, sky.sun_r, sky.sun)
            c.circle(sun_x + 11, sky.sun_y - 6, sky.sun_r * 0.85, sky.top)
        else:
            c.circle(sun_x, sky.sun_y, sky.sun_r * 1.7, sky.sun, opacity=0.25)
            c.circle(sun_x, sky.sun_y, sky.sun_r, sky.sun)
    if sky.clouds is not None:
        count = 5 if sky.sun is None else 2
        for _ in range(count):
            _cloud(c, rng.uniform(0, VIEW), rng.uniform(40, 230), rng.uniform(0.7, 1.3), sky.clouds)


def _cloud(c: Canvas, x: float, y: float, k: float, colour: RGB) -> None:
    """A few overlapping lobes as one path: one element, whatever the size."""
    d = path_data("M", (x - 60 * k, y),
                  "C", (x - 62 * k, y - 22 * k), (x - 30 * k, y - 28 * k), (x - 18 * k, y - 18 * k),
                  "C", (x - 10 * k, y - 44 * k), (x + 30 * k, y - 44 * k), (x + 30 * k, y - 18 * k),
                  "C", (x + 52 * k, y - 26 * k), (x + 70 * k, y - 8 * k), (x + 60 * k, y), "Z")
    c.path(d, colour, opacity=0.92)
