"""A portrait's background: the sky, the setting in the time of day's light, and a style's texture over both."""

from __future__ import annotations

import random

from ..prompt import Portrait
from .canvas import RGB, WHITE, Canvas, darker, lighter, mix, path_data
from .country import COUNTRY
from .scenery import Setting, behind_figure
from .sky import Sky, draw_sky
from .town import TOWN

SCENES: dict[str, Setting] = {**TOWN, **COUNTRY}
INDOORS = frozenset(("library", "cafe", "art studio"))


def draw_scene(c: Canvas, p: Portrait, sky: Sky, rng: random.Random) -> None:
    """The sky in its own light, then the setting in the time of day's light."""
    c.tint, c.tint_amount = sky.tint, 0.0
    draw_sky(c, sky, p.time_of_day == "night", rng)
    c.tint, c.tint_amount = _scene_light(sky, p.setting in INDOORS, c.style.haze)
    SCENES[p.setting](c, sky, rng)
    _texture(c, rng, sky)


def _scene_light(sky: Sky, indoors: bool, haze: float) -> tuple[RGB, float]:
    """The time of day's light on the scene (softer indoors), and a style's haze, as one tint."""
    amount = sky.tint_amount * (0.5 if indoors else 1.0)
    if not haze:
        return sky.tint, amount
    fog = mix(sky.bottom, WHITE, 0.3)
    total = amount + haze - amount * haze
    return mix(fog, sky.tint, amount * (1 - haze) / total), total


def _texture(c: Canvas, rng: random.Random, sky: Sky) -> None:
    """A style's marks over the scene: pencil hatching, brush dabs or watercolour blooms."""
    kind = c.style.strokes
    with c.batch():
        if kind == "hatch":
            for _ in range(34):
                x, y = rng.uniform(-40, 512), rng.uniform(0, 460)
                if not behind_figure(x, x + 40, y):
                    c.line(path_data("M", (x, y + 40), "L", (x + 40, y)), (70, 70, 76), 1.2, opacity=0.35)
        elif kind == "brush":
            for _ in range(30):
                x, y = rng.uniform(-20, 512), rng.uniform(0, 300)
                if not behind_figure(x, x + 40, y):
                    colour = rng.choice((lighter(sky.mid, 0.12), darker(sky.mid, 0.06), mix(sky.mid, sky.top, 0.5)))
                    length = rng.uniform(26, 48)
                    c.line(path_data("M", (x, y), "l", (length, rng.uniform(-4, 4))), colour, 14, opacity=0.22)
        elif kind == "wash":
            for _ in range(6):
                c.circle(rng.uniform(0, 512), rng.uniform(0, 300), rng.uniform(40, 90), darker(sky.mid, 0.05),
                         opacity=0.12)
