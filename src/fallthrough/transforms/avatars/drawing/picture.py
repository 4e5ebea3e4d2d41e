"""The whole portrait put together, as one SVG document.

Everything is laid out on a 512×512 canvas: the scene first, then the figure from the back
(long hair) to the front (fringe, glasses, hat). Art styles change only the finish: palette,
gradients, outlines, haze and vignette. This is where every drawing table meets, so it also
checks, on import, that every value a prompt can hold has a drawing.
"""

from __future__ import annotations

import random

from ..prompt import (ACCESSORIES, ART_STYLES, CLOTHING, CLOTHING_COLOURS, EXPRESSIONS, EYE_COLOURS, HAIR_COLOURS,
                      HAIR_STYLES, SETTINGS, SKIN_TONES, TIMES_OF_DAY, WHO, Portrait)
from .accessories import DRAWN_ELSEWHERE, WORN_ON_TOP, scarf
from .canvas import STYLES, VIEW, Canvas
from .clothes import CLOTHES
from .face import MOODS, draw_face
from .figure import BUILDS, Figure, draw_ears, draw_neck, figure
from .hair import HAIRDOS, Hair
from .palette import CLOTH, EYES, HAIR, SKIN, accent
from .scenes import SCENES, draw_scene
from .sky import SKIES


def _person(c: Canvas, p: Portrait, f: Figure, rng: random.Random) -> None:
    """The figure from back to front: long hair, body, ears, drapes of hair, face, fringe, what is worn."""
    hat = p.accessory == "a hat"
    hair = Hair(c, f, f.hair, hat, accent(p, f.hair, 15))
    hairdo = HAIRDOS[p.hair_style]
    if hairdo.back:
        hairdo.back(hair)
    draw_neck(c, f)
    CLOTHES[p.clothing](c, f, f.cloth, rng)
    if p.accessory == "a scarf":
        scarf(c, f, p)
    draw_ears(c, f)
    if hairdo.drape:
        hairdo.drape(hair)
    draw_face(c, f, p, rng)
    hairdo.front(hair)
    worn = WORN_ON_TOP.get(p.accessory)
    if worn:
        worn(c, f, p)


def _vignette(c: Canvas, amount: float) -> None:
    """Darkened edges from four linear strips: a radial gradient over the whole canvas costs several times more."""
    c.defs.append('<linearGradient id="vig" x1="0" y1="0" x2="0" y2="1">'
                  f'<stop offset="0" stop-color="#000" stop-opacity="{amount:.2f}"/>'
                  '<stop offset="1" stop-color="#000" stop-opacity="0"/></linearGradient>')
    depth = 150
    for angle in (0, 90, 180, 270):
        c.add(f'<rect width="{VIEW}" height="{depth}" fill="url(#vig)" transform="rotate({angle} 256 256)"/>')


def picture_svg(p: Portrait, pixels: int) -> str:
    """The picture with only the detail that shows at `pixels` across."""
    style = STYLES[p.art_style]
    sky = SKIES[p.time_of_day]
    c = Canvas(style, pixels)
    rng = random.Random(p.seed)
    draw_scene(c, p, sky, rng)
    c.tint_amount = sky.tint_amount * 0.3
    _person(c, p, figure(p, style), rng)
    if style.vignette:
        _vignette(c, style.vignette)
    return c.svg()


def _check_tables() -> None:
    """Every value of every prompt table must have a drawing; fail on import rather than on some hash."""
    pairs = ((WHO, BUILDS), (HAIR_COLOURS, HAIR), (EYE_COLOURS, EYES), (SKIN_TONES, SKIN), (CLOTHING, CLOTHES),
             (CLOTHING_COLOURS, CLOTH), (EXPRESSIONS, MOODS), (SETTINGS, SCENES), (TIMES_OF_DAY, SKIES),
             (ART_STYLES, STYLES))
    for table, drawn in pairs:
        missing = set(table) - set(drawn)
        if missing:
            raise RuntimeError(f"no drawing for {sorted(missing)}")
    if set(HAIR_STYLES) - set(HAIRDOS) or set(ACCESSORIES) - set(WORN_ON_TOP) - DRAWN_ELSEWHERE:
        raise RuntimeError("a hair style or accessory has no drawing")


_check_tables()
