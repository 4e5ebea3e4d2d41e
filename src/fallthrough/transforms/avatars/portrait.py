"""A procedural portrait: the avatar's attributes drawn as SVG and rasterised on the CPU.

This is the renderer every hash can count on: no model, no GPU, a few milliseconds a picture,
and the same pixels for the same hash in every process (the SVG text is built without any
randomness but the portrait's own seed, and numbers are written with fixed precision).

Everything is laid out on a 512×512 canvas; the scene comes first, then the figure from the
back (long hair) to the front (fringe, glasses, hat). Art styles change only the finish:
palette, gradients, outlines, haze, or a low-resolution pass for pixel art.
"""

from __future__ import annotations

import colorsys
import contextlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyvips

from .prompt import (ACCESSORIES, ART_STYLES, CLOTHING, CLOTHING_COLOURS, EXPRESSIONS, EYE_COLOURS, HAIR_COLOURS,
                     HAIR_STYLES, SETTINGS, SKIN_TONES, TIMES_OF_DAY, WHO, Portrait)

VERSION = "1"
VIEW = 512
MAX_SIZE = 2048

RGB = tuple[float, float, float]
Point = tuple[float, float]


# ---------------------------------------------------------------------------------------------- colour

def rgb(text: str) -> RGB:
    """A '#rrggbb' colour as floats, so colours can be mixed before they are written."""
    return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))


def hexof(c: RGB) -> str:
    """Rounded and clamped, so mixing past white or black still gives a valid colour."""
    return "#%02x%02x%02x" % tuple(max(0, min(255, round(v))) for v in c)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def lighter(c: RGB, t: float) -> RGB:
    return mix(c, WHITE, t)


def darker(c: RGB, t: float) -> RGB:
    return mix(c, BLACK, t)


def saturate(c: RGB, k: float) -> RGB:
    """Scale saturation, keeping lightness: a sketch keeps its values while losing most of its colour."""
    hue, lum, sat = colorsys.rgb_to_hls(c[0] / 255, c[1] / 255, c[2] / 255)
    r, g, b = colorsys.hls_to_rgb(hue, lum, max(0.0, min(1.0, sat * k)))
    return (r * 255, g * 255, b * 255)


HAIR = {name: rgb(v) for name, v in {
    "black": "#1f1b1c", "dark brown": "#3e2718", "chestnut": "#6e3b1f", "auburn": "#8c3622", "ginger": "#c9622b",
    "golden blonde": "#d8a848", "platinum blonde": "#e9e1c6", "silver": "#b3b8c2", "white": "#f1f0ec",
    "blue": "#2e6bd8", "pink": "#f07cb9", "teal": "#1c9d98", "purple": "#7a3db5", "light brown": "#9b6b43",
    "strawberry blonde": "#de9b6b", "dark red": "#701b22"}.items()}
EYES = {name: rgb(v) for name, v in {
    "brown": "#74461f", "dark brown": "#3f2413", "hazel": "#8f7a3c", "green": "#3c9150", "blue": "#2f74cf",
    "grey": "#85919c", "amber": "#c98a17", "light blue": "#78b9ec"}.items()}
SKIN = {name: rgb(v) for name, v in {
    "very light": "#f8e3d6", "light": "#f2cfb4", "fair": "#ebc19f", "medium": "#d49d74", "olive": "#bd9464",
    "tan": "#b57d52", "brown": "#8c5a3a", "dark brown": "#5c3925"}.items()}
CLOTH = {name: rgb(v) for name, v in {
    "red": "#d23b3b", "orange": "#ee8a2b", "yellow": "#f0cc3a", "green": "#3e9d50", "teal": "#1e9995",
    "blue": "#3a6fd8", "navy": "#25345f", "purple": "#7b4bc0", "pink": "#f08ab8", "white": "#f3f3f0",
    "grey": "#8c9097", "black": "#26272b", "brown": "#7a5034", "olive": "#6f7a35", "maroon": "#7a2233",
    "cream": "#eee2c5"}.items()}
ACCENTS = tuple(rgb(v) for v in ("#c0392b", "#f3c623", "#2e86de", "#27ae60", "#8e44ad", "#e67e22", "#16a085",
                                 "#ecf0f1", "#2c3e50", "#d35400"))


# ---------------------------------------------------------------------------------------------- styles

@dataclass(frozen=True, slots=True)
class Style:
    """How an art style finishes the same drawing."""

    shade: float = 0.12         # gradient strength; 0 gives flat fills
    sphere: bool = False        # radial shading, for a rendered, rounded look
    outline: str = ""           # outline colour, '' for none
    outline_width: float = 0.0
    saturation: float = 1.0
    lift: float = 0.0           # mix toward the paper colour
    paper: RGB = WHITE
    eye_scale: float = 1.0
    haze: float = 0.0           # fog over the scene, so the figure stands out as if in focus
    vignette: float = 0.0
    pixels: int = 0             # about this many pixels across, then enlarged; 0 for smooth
    strokes: str = ""           # '' | 'hatch' | 'brush' | 'wash': a texture over the scene


STYLES: dict[str, Style] = {
    "watercolor painting": Style(shade=0.08, saturation=0.9, lift=0.1, paper=rgb("#fbf6ea"), haze=0.08,
                                 strokes="wash"),
    "oil painting": Style(shade=0.2, saturation=1.1, vignette=0.35, strokes="brush"),
    "flat vector illustration": Style(shade=0.0),
    "pixel art": Style(shade=0.0, saturation=1.1, eye_scale=1.3, pixels=48),
    "anime illustration": Style(shade=0.06, outline="#2b2024", outline_width=3.0, saturation=1.1, eye_scale=1.3),
    "pencil sketch": Style(shade=0.06, outline="#3b3b40", outline_width=2.4, saturation=0.28, lift=0.22,
                           paper=rgb("#f5f2ea"), strokes="hatch"),
    "3d render": Style(shade=0.28, sphere=True, saturation=1.05, vignette=0.2),
    "studio photograph": Style(shade=0.14, sphere=True, saturation=0.95, haze=0.32, vignette=0.3),
}


# ---------------------------------------------------------------------------------------------- canvas

def _num(v: float) -> str:
    return f"{v:.1f}"


def _d(*parts: str | Point) -> str:
    """Path data from commands and points, written with fixed precision so the text never varies."""
    return " ".join([p if p.__class__ is str else "%.1f,%.1f" % p for p in parts])


_PAINTS: dict[tuple[RGB, RGB, float, float, float, RGB], str] = {}


def _paint(c: RGB, tint: RGB, amount: float, style: Style) -> str:
    """Colours repeat across portraits (tables, scene palettes), so conversions are remembered."""
    key = (c, tint, amount, style.saturation, style.lift, style.paper)
    found = _PAINTS.get(key)
    if found is None:
        if len(_PAINTS) > 50_000:
            _PAINTS.clear()
        found = _PAINTS[key] = _convert(c, tint, amount, style)
    return found


def _convert(c: RGB, tint: RGB, amount: float, style: Style) -> str:
    """Light first, then the style's palette, so a sketch desaturates the dusk as well as the day."""
    if amount:
        c = mix(c, tint, amount)
    if style.saturation != 1.0:
        c = saturate(c, style.saturation)
    if style.lift:
        c = mix(c, style.paper, style.lift)
    return hexof(c)


def _rect_d(x: float, y: float, w: float, h: float) -> str:
    return f"M{x:.1f},{y:.1f}h{w:.1f}v{h:.1f}h{-w:.1f}Z"


def _ellipse_d(x: float, y: float, rx: float, ry: float) -> str:
    return (f"M{x - rx:.1f},{y:.1f}a{rx:.1f},{ry:.1f} 0 1 1 {2 * rx:.1f},0"
            f"a{rx:.1f},{ry:.1f} 0 1 1 {-2 * rx:.1f},0Z")


class Canvas:
    """Collects elements and the gradients they share, so a style can change every fill in one place.

    The SVG renderer's cost is mostly per element, so inside `batch()` shapes with the same paint are
    merged into one path; every primitive is written clockwise, so merged overlaps stay filled.
    Translucency is set on the paint (fill-opacity), never as element opacity, which would
    make the renderer composite each element through a layer of its own. Marks that would
    come out under about a third of a pixel at the target size are left out: they cannot be
    seen, yet cost as much to parse and draw as any other.
    """

    def __init__(self, style: Style, pixels: int = VIEW) -> None:
        self.style = style
        self.scale = pixels / VIEW
        self.defs: list[str] = []
        self.parts: list[str] = []
        self._gradients: dict[tuple[str, float, bool], str] = {}
        self._batch: dict[str, list[str]] | None = None
        self.tint: RGB = WHITE
        self.tint_amount = 0.0

    def col(self, c: RGB) -> str:
        """The colour as this scene's light and this style's palette show it."""
        return _paint(c, self.tint, self.tint_amount, self.style)

    def fill(self, c: RGB, shade: float = 0.0) -> str:
        """A flat colour, or a gradient shared by every shape of that colour and strength."""
        if not shade or not self.style.shade:
            return self.col(c)
        amount = round(shade * self.style.shade, 2)
        base = self.col(c)
        radial = self.style.sphere
        key = (base, amount, radial)
        if key not in self._gradients:
            gid = f"g{len(self._gradients)}"
            self._gradients[key] = gid
            self.defs.append(self._gradient(gid, rgb(base), amount, radial))
        return f"url(#{self._gradients[key]})"

    @staticmethod
    def _gradient(gid: str, c: RGB, amount: float, radial: bool) -> str:
        stops = (f'<stop offset="0" stop-color="{hexof(lighter(c, amount))}"/>'
                 f'<stop offset="0.5" stop-color="{hexof(c)}"/>'
                 f'<stop offset="1" stop-color="{hexof(darker(c, amount))}"/>')
        if radial:
            return f'<radialGradient id="{gid}" cx="0.42" cy="0.35" r="0.7">{stops}</radialGradient>'
        return f'<linearGradient id="{gid}" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient>'

    def outline(self, weight: float) -> str:
        """Stroke attributes for styles that ink their shapes; empty for the others."""
        if not (weight and self.style.outline):
            return ""
        return f' stroke="{self.style.outline}" stroke-width="{_num(weight * self.style.outline_width)}"'

    def add(self, text: str) -> None:
        self.parts.append(text)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Merge what is drawn inside by paint; only for shapes whose mutual order does not matter."""
        if self._batch is not None:
            yield
            return
        self._batch = {}
        try:
            yield
        finally:
            groups, self._batch = self._batch, None
            for paint, ds in groups.items():
                self.parts.append(f'<path d="{"".join(ds)}" {paint}/>')

    def _emit(self, d: str, paint: str) -> None:
        if self._batch is not None:
            self._batch.setdefault(paint, []).append(d)
        else:
            self.parts.append(f'<path d="{d}" {paint}/>')

    def path(self, d: str, colour: RGB, shade: float = 0.0, outline: float = 0.0, opacity: float = 1.0) -> None:
        """A filled shape; merged with others of the same paint inside a batch."""
        alpha = f' fill-opacity="{opacity:.2f}"' if opacity < 1 else ""
        self._emit(d, f'fill="{self.fill(colour, shade)}"{alpha}{self.outline(outline)}')

    def rect(self, x: float, y: float, w: float, h: float, colour: RGB, shade: float = 0.0, outline: float = 0.0,
             opacity: float = 1.0, rx: float = 0.0) -> None:
        """Rounded rectangles stay elements of their own; square ones become paths that can merge."""
        if not rx:
            self.path(_rect_d(x, y, w, h), colour, shade, outline, opacity)
            return
        alpha = f' fill-opacity="{opacity:.2f}"' if opacity < 1 else ""
        self.add(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="{_num(rx)}" '
                 f'fill="{self.fill(colour, shade)}"{alpha}{self.outline(outline)}/>')

    def circle(self, x: float, y: float, r: float, colour: RGB, shade: float = 0.0, outline: float = 0.0,
               opacity: float = 1.0) -> None:
        if r * self.scale * min(1.0, 2 * opacity) < 0.3:
            return
        self.path(_ellipse_d(x, y, r, r), colour, shade, outline, opacity)

    def ellipse(self, x: float, y: float, rx: float, ry: float, colour: RGB, shade: float = 0.0,
                outline: float = 0.0, opacity: float = 1.0) -> None:
        self.path(_ellipse_d(x, y, rx, ry), colour, shade, outline, opacity)

    def line(self, d: str, colour: RGB, width: float, opacity: float = 1.0, dash: str = "") -> None:
        """A stroke with no fill, skipped when it would be too thin to see at this size."""
        if width * self.scale * min(1.0, 2 * opacity) < 0.35:
            return
        extra = f' stroke-opacity="{opacity:.2f}"' if opacity < 1 else ""
        extra += f' stroke-dasharray="{dash}"' if dash else ""
        self._emit(d, f'fill="none" stroke="{self.col(colour)}" stroke-width="{_num(width)}"{extra}')

    def svg(self) -> str:
        """The finished document; pixel art asks the renderer for hard edges."""
        crisp = ' shape-rendering="crispEdges"' if self.style.pixels else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{VIEW}" height="{VIEW}" viewBox="0 0 {VIEW} {VIEW}"'
                f' stroke-linecap="round" stroke-linejoin="round"{crisp}>'
                f'<defs>{"".join(self.defs)}</defs>{"".join(self.parts)}</svg>')


def _hidden(x0: float, x1: float, y0: float) -> bool:
    """Whether scenery there is certainly behind the figure, so it need not be drawn at all."""
    return (y0 > 150 and x0 > 180 and x1 < 332) or (y0 > 420 and x0 > 100 and x1 < 412)


# ---------------------------------------------------------------------------------------------- sky

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


def _draw_sky(c: Canvas, sky: Sky, night: bool, rng: random.Random) -> None:
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
    d = _d("M", (x - 60 * k, y), "C", (x - 62 * k, y - 22 * k), (x - 30 * k, y - 28 * k), (x - 18 * k, y - 18 * k),
           "C", (x - 10 * k, y - 44 * k), (x + 30 * k, y - 44 * k), (x + 30 * k, y - 18 * k),
           "C", (x + 52 * k, y - 26 * k), (x + 70 * k, y - 8 * k), (x + 60 * k, y), "Z")
    c.path(d, colour, opacity=0.92)


# ---------------------------------------------------------------------------------------------- scenes

def _pine(c: Canvas, x: float, base: float, h: float, colour: RGB, snow: bool = False) -> None:
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
    c.path(_d(*parts, "Z"), colour, shade=1, outline=0.5)
    if snow:
        top, half, bottom = tiers[2]
        c.path(_d("M", (x, top), "L", (x + half * 0.4, top + (bottom - top) * 0.4), "L",
                  (x - half * 0.4, top + (bottom - top) * 0.4), "Z"), (246, 249, 252))


def _round_tree(c: Canvas, x: float, base: float, h: float, colour: RGB) -> None:
    """A trunk under a canopy of overlapping circles, as one merged element per colour."""
    with c.batch():
        c.rect(x - h * 0.05, base - h * 0.5, h * 0.1, h * 0.5, (104, 72, 48), shade=1)
        for dx, dy, r in ((0, -0.72, 0.3), (-0.2, -0.55, 0.22), (0.2, -0.58, 0.23), (0, -0.5, 0.24)):
            c.circle(x + dx * h, base + dy * h, r * h, colour, shade=1)


def _windows(c: Canvas, x: float, y: float, w: float, h: float, sky: Sky, rng: random.Random) -> None:
    """A grid of windows, lit at dusk and night, reflecting the sky by day; hidden ones are never written."""
    if _hidden(x, x + w, y):
        return
    glow, dark = (255, 214, 110), mix(sky.top, (60, 70, 90), 0.5)
    day = lighter(sky.mid, 0.3)
    with c.batch():
        for wy in range(int(y + 14), int(y + h - 20), 26):
            for wx in range(int(x + 8), int(x + w - 14), 18):
                if _hidden(wx, wx + 10, wy):
                    continue
                colour = (glow if rng.random() < 0.55 else dark) if sky.lit else day
                c.rect(wx, wy, 10, 14, colour)


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
            _windows(c, x, 410 - h, w, h, sky, rng)
            x += w + rng.uniform(0, 8)
    c.rect(0, 405, VIEW, 20, (160, 158, 150))
    c.rect(0, 425, VIEW, 90, (88, 90, 96))
    side = rng.choice((40.0, 472.0))
    c.rect(side - 3, 250, 6, 175, (50, 54, 60))
    c.circle(side, 248, 10, (255, 220, 130) if sky.lit else (220, 224, 230))
    if sky.lit:
        c.circle(side, 248, 28, (255, 220, 130), opacity=0.3)


def _forest(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """A far row of small pines and tall dark ones at the edges, where the figure leaves room."""
    c.rect(0, 370, VIEW, 150, (80, 125, 60), shade=0.5)
    with c.batch():
        far = mix((70, 120, 80), sky.bottom, 0.35)
        for i in range(16):
            _pine(c, i * 34 + rng.uniform(-8, 8), 375, rng.uniform(90, 150), far)
        for x in (22.0, 96.0, 416.0, 492.0):
            _pine(c, x + rng.uniform(-10, 10), 470, rng.uniform(280, 360), (40, 88, 52))


def _beach(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Sea to the horizon, sand in front and a palm on one side."""
    sea = mix((30, 130, 185), sky.bottom, 0.25)
    c.rect(0, 300, VIEW, 100, sea, shade=1)
    with c.batch():
        for y in (318.0, 338.0, 360.0):
            x = rng.uniform(0, 60)
            while x < VIEW:
                c.line(_d("M", (x, y), "l", (24, 0)), WHITE, 2, opacity=0.55)
                x += rng.uniform(60, 110)
    c.path(_d("M", (0, 380), "C", (150, 366), (330, 396), (512, 378), "L", (512, 512), "L", (0, 512), "Z"),
           (236, 210, 156), shade=0.6)
    x = rng.choice((60.0, 452.0))
    lean = 40 if x < 256 else -40
    c.line(_d("M", (x, 440), "Q", (x + lean * 0.2, 300), (x + lean, 200)), (120, 86, 52), 12)
    with c.batch():
        for angle in (-150, -110, -60, -20, 20):
            a = math.radians(angle)
            tip = (x + lean + math.cos(a) * 80, 200 + math.sin(a) * 40 + 40)
            mid = (x + lean + tip[0]) / 2
            c.path(_d("M", (x + lean, 200), "Q", (mid, 170), tip, "Q", (mid, 196), (x + lean, 204), "Z"), (52, 130, 60),
                   outline=0.5)


def _meadow(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Snow-capped peaks over a green meadow dotted with flowers."""
    far = mix((120, 135, 170), sky.bottom, 0.35)
    peaks = [(-40.0, 330.0)]
    x = -40.0
    while x < VIEW + 40:
        x += rng.uniform(90, 140)
        peaks.append((x, rng.uniform(130, 220)))
    for (x0, _), (x1, y1) in zip(peaks, peaks[1:]):
        c.path(_d("M", (x0, 340), "L", (x1, y1), "L", (x1 + (x1 - x0), 340), "Z"), far, shade=0.6, outline=0.5)
        c.path(_d("M", (x1, y1), "L", (x1 + 24, y1 + 34), "L", (x1 + 8, y1 + 28), "L", (x1 - 6, y1 + 38), "L",
                  (x1 - 24, y1 + 34), "Z"), (248, 250, 252))
    c.path(_d("M", (0, 340), "C", (120, 310), (260, 350), (512, 320), "L", (512, 512), "L", (0, 512), "Z"),
           (108, 172, 80), shade=0.5)
    flowers = ((255, 255, 255), (250, 214, 60), (240, 120, 170), (160, 110, 220))
    with c.batch():
        for _ in range(40):
            x, y = rng.uniform(0, VIEW), rng.uniform(350, 510)
            if not _hidden(x, x, y):
                c.circle(x, y, rng.uniform(2.5, 4.5), rng.choice(flowers))


def _wall_with_window(c: Canvas, colour: RGB, window: tuple[float, float, float, float], arch: bool) -> None:
    """A wall with a hole cut in it (even-odd), so the sky drawn first shows the time of day indoors."""
    x, y, w, h = window
    hole = (_d("M", (x, y + h), "L", (x, y + w / 2), "A", (w / 2, w / 2), "0 0 1", (x + w, y + w / 2), "L",
               (x + w, y + h), "Z") if arch else
            _d("M", (x, y), "L", (x + w, y), "L", (x + w, y + h), "L", (x, y + h), "Z"))
    d = _d("M", (0, 0), "L", (VIEW, 0), "L", (VIEW, VIEW), "L", (0, VIEW), "Z") + " " + hole
    c.add(f'<path d="{d}" fill-rule="evenodd" fill="{c.fill(colour, 0.5)}"/>')


def _window_frame(c: Canvas, window: tuple[float, float, float, float], cols: int, rows: int, colour: RGB) -> None:
    """Mullions and a frame, so an opening reads as a window."""
    x, y, w, h = window
    for i in range(1, cols):
        c.line(_d("M", (x + w * i / cols, y), "L", (x + w * i / cols, y + h)), colour, 5)
    for j in range(1, rows):
        c.line(_d("M", (x, y + h * j / rows), "L", (x + w, y + h * j / rows)), colour, 5)
    c.line(_d("M", (x, y), "L", (x + w, y), "L", (x + w, y + h), "L", (x, y + h), "Z"), colour, 7)


def _library(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Shelves of books around an arched window."""
    left = rng.random() < 0.5
    window = (24.0 if left else 368.0, 40.0, 120.0, 200.0)
    _wall_with_window(c, (108, 74, 50), window, arch=True)
    c.line(_d("M", (window[0] + 60, 40), "L", (window[0] + 60, 240)), (80, 54, 36), 5)
    books = ((140, 47, 47), (47, 79, 124), (63, 107, 63), (163, 120, 47), (91, 58, 107), (122, 122, 122),
             (184, 92, 56), (40, 60, 60))
    with c.batch():
        for shelf_y in (110.0, 190.0, 270.0, 350.0, 430.0, 510.0):
            c.rect(0, shelf_y - 8, VIEW, 10, (150, 105, 70), shade=0.5)
            x = 0.0
            while x < VIEW:
                w, h = rng.uniform(9, 17), rng.uniform(50, 68)
                in_window = window[0] - 4 < x + w and x < window[0] + window[2] + 4 and shelf_y - h < window[1] + 205
                if not in_window and not _hidden(x, x + w, shelf_y - h):
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
    _wall_with_window(c, wall, window, arch=False)
    _window_frame(c, window, 4, 1, (60, 46, 40))
    c.rect(0, 400, VIEW, 140, (92, 58, 40), shade=1, outline=0.5)
    c.rect(0, 396, VIEW, 10, (140, 96, 62))
    for x in (64.0, 448.0):
        c.line(_d("M", (x, 0), "L", (x, 70)), (40, 40, 40), 2)
        c.path(_d("M", (x - 30, 104), "L", (x - 10, 70), "L", (x + 10, 70), "L", (x + 30, 104), "Z"), (40, 70, 60),
               shade=1, outline=0.5)
        c.circle(x, 106, 8, (255, 230, 150))
        if sky.lit:
            c.circle(x, 110, 34, (255, 220, 130), opacity=0.3)
    for x in (40.0, 472.0):
        c.path(_d("M", (x - 14, 370), "L", (x + 14, 370), "L", (x + 11, 396), "L", (x - 11, 396), "Z"),
               (245, 242, 236), outline=0.5)
        c.ellipse(x, 397, 22, 4, (235, 232, 226))


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
            if _hidden(x, x + 12, 330):
                continue
            c.path(_d("M", (x, 400), "L", (x, 340), "L", (x + 6, 332), "L", (x + 12, 340), "L", (x + 12, 400), "Z"),
                   (246, 244, 238), outline=0.4)
    c.rect(0, 356, VIEW, 7, (236, 234, 226))
    blooms = ((230, 70, 90), (250, 200, 60), (240, 130, 190), (255, 255, 255), (170, 100, 220))
    with c.batch():
        for _ in range(16):
            x, y = rng.choice((rng.uniform(0, 90), rng.uniform(422, 512))), rng.uniform(410, 500)
            colour = rng.choice(blooms)
            c.line(_d("M", (x, y), "L", (x, y + 30)), (60, 120, 50), 3)
            for k in range(5):
                a = k * 2 * math.pi / 5
                c.circle(x + 7 * math.cos(a), y + 7 * math.sin(a), 6, colour)
            c.circle(x, y, 4, (250, 220, 80))


def _desert(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Mesas, dunes and a saguaro or two."""
    mesa = mix((196, 120, 80), sky.bottom, 0.3)
    c.path(_d("M", (0, 330), "L", (0, 250), "L", (70, 250), "L", (96, 300), "L", (380, 300), "L", (400, 230), "L",
              (470, 230), "L", (500, 300), "L", (512, 330), "Z"), mesa, shade=0.5, outline=0.5)
    c.path(_d("M", (0, 330), "C", (140, 300), (300, 350), (512, 316), "L", (512, 512), "L", (0, 512), "Z"),
           (230, 182, 110), shade=0.6)
    c.path(_d("M", (0, 400), "C", (160, 370), (340, 420), (512, 390), "L", (512, 512), "L", (0, 512), "Z"),
           (216, 160, 88), shade=0.6)
    for x, s in ((rng.uniform(30, 80), 1.0), (rng.uniform(430, 480), 0.75)):
        green = (80, 128, 70)
        c.line(_d("M", (x, 420), "L", (x, 420 - 170 * s)), green, 24 * s)
        c.line(_d("M", (x, 360 - 20 * s), "L", (x - 34 * s, 360 - 20 * s), "L", (x - 34 * s, 300 - 40 * s)), green,
               16 * s)
        c.line(_d("M", (x, 380 - 10 * s), "L", (x + 30 * s, 380 - 10 * s), "L", (x + 30 * s, 330 - 20 * s)),
               green, 16 * s)


def _snowy(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Snowy roofs with lit windows, pines and falling snow."""
    c.path(_d("M", (0, 330), "C", (160, 280), (330, 320), (512, 290), "L", (512, 512), "L", (0, 512), "Z"),
           (222, 232, 244), shade=0.5)
    walls = ((181, 82, 59), (63, 111, 143), (217, 176, 74), (120, 90, 140))
    for x in (-10.0, 70.0, 370.0, 448.0):
        w, h = rng.uniform(64, 80), rng.uniform(60, 90)
        base = 400 + rng.uniform(-10, 10)
        c.rect(x, base - h, w, h, rng.choice(walls), shade=0.6, outline=0.5)
        c.path(_d("M", (x - 8, base - h), "L", (x + w / 2, base - h - 44), "L", (x + w + 8, base - h), "Z"),
               (70, 60, 64), outline=0.5)
        c.path(_d("M", (x - 8, base - h), "L", (x + w / 2, base - h - 44), "L", (x + w + 8, base - h), "L",
                  (x + w / 2, base - h - 34), "Z"), (250, 252, 255))
        c.rect(x + w / 2 - 10, base - h + 18, 20, 22, (255, 210, 110) if sky.lit else (60, 80, 110))
    c.rect(0, 410, VIEW, 110, (243, 246, 250), shade=0.4)
    for x in (150.0, 362.0):
        _pine(c, x, 330, 120, (50, 96, 70), snow=True)
    with c.batch():
        for _ in range(40):
            c.circle(rng.uniform(0, VIEW), rng.uniform(0, 400), rng.uniform(1.5, 3.2), WHITE, opacity=0.9)


def _boat(c: Canvas, x: float, y: float, k: float, colour: RGB) -> None:
    """A small sailing boat for the harbour."""
    c.path(_d("M", (x - 50 * k, y), "L", (x + 50 * k, y), "L", (x + 36 * k, y + 22 * k), "L", (x - 38 * k, y + 22 * k),
              "Z"), colour, shade=0.6, outline=0.5)
    c.line(_d("M", (x, y), "L", (x, y - 110 * k)), (70, 60, 50), 3 * k)
    c.path(_d("M", (x + 3 * k, y - 104 * k), "L", (x + 46 * k, y - 10 * k), "L", (x + 3 * k, y - 10 * k), "Z"),
           (248, 246, 240), outline=0.4)


def _harbour(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Water, boats and a striped lighthouse."""
    c.path(_d("M", (0, 320), "C", (120, 290), (300, 310), (512, 296), "L", (512, 330), "L", (0, 330), "Z"),
           mix((100, 120, 140), sky.bottom, 0.35))
    water = mix((40, 100, 135), sky.bottom, 0.2)
    c.rect(0, 326, VIEW, 200, water, shade=1)
    with c.batch():
        for _ in range(18):
            x, y = rng.uniform(0, VIEW), rng.uniform(340, 500)
            c.line(_d("M", (x, y), "l", (rng.uniform(14, 30), 0)), WHITE, 2, opacity=0.4)
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
        c.line(_d("M", (x + dx, 250), "L", (x + dx * 1.3, 372)), (70, 60, 54), 5)
    c.rect(x - 40, 170, 80, 84, (150, 100, 70), shade=1, outline=0.5, rx=6)
    c.path(_d("M", (x - 44, 172), "L", (x, 136), "L", (x + 44, 172), "Z"), (110, 76, 56), outline=0.5)
    bulbs = (255, 222, 140) if sky.lit else (235, 235, 225)
    c.line(_d("M", (0, 40), "Q", (256, 140), (512, 40)), (40, 40, 40), 1.5)
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
    _wall_with_window(c, (236, 228, 216), window, arch=False)
    _window_frame(c, window, 6, 3, (58, 58, 62))
    c.rect(0, 430, VIEW, 100, (170, 128, 90), shade=0.5)
    left = rng.random() < 0.5
    x = 70.0 if left else 442.0
    c.line(_d("M", (x - 40, 440), "L", (x, 240), "L", (x + 40, 440)), (130, 92, 60), 7)
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
            c.line(_d("M", (256 - r, 330), "A", (r, r * 0.8), "0 0 1", (256 + r, 330)), iron, 6)
        for x in range(0, VIEW + 1, 64):
            c.line(_d("M", (x, 40), "L", (x, 330)), iron, 2.5, opacity=0.6)
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
    c.line(_d("M", (cx, 0), "L", (cx, 70)), iron, 4)
    c.add(f'<circle cx="{_num(cx)}" cy="100" r="30" fill="{c.col((250, 250, 246))}" stroke="{c.col(iron)}" '
          'stroke-width="5"/>')
    c.line(_d("M", (cx, 100), "L", (cx, 80), "M", (cx, 100), "L", (cx + 14, 106)), (30, 30, 30), 3)


def _lake(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Hills across still water, with reeds and stones on the shore."""
    hills = mix((90, 130, 110), sky.bottom, 0.35)
    c.path(_d("M", (0, 320), "C", (80, 250), (180, 270), (260, 300), "C", (340, 250), (430, 240), (512, 300), "L",
              (512, 330), "L", (0, 330), "Z"), hills, shade=0.6, outline=0.5)
    water = mix(sky.bottom, (50, 110, 140), 0.45)
    c.rect(0, 326, VIEW, 90, water, shade=1)
    with c.batch():
        for _ in range(12):
            x, y = rng.uniform(0, VIEW), rng.uniform(334, 408)
            c.line(_d("M", (x, y), "l", (rng.uniform(16, 36), 0)), WHITE, 2, opacity=0.45)
    c.path(_d("M", (0, 410), "C", (150, 396), (350, 420), (512, 404), "L", (512, 512), "L", (0, 512), "Z"),
           (130, 150, 90), shade=0.6)
    with c.batch():
        for _ in range(10):
            x = rng.choice((rng.uniform(0, 80), rng.uniform(432, 512)))
            top = rng.uniform(330, 380)
            c.line(_d("M", (x, 470), "L", (x + rng.uniform(-6, 6), top)), (80, 110, 60), 3)
            c.ellipse(x, top + 14, 4, 12, (110, 72, 44))
    for x in (rng.uniform(90, 140), rng.uniform(380, 420)):
        c.ellipse(x, 430, 22, 12, (140, 140, 136), shade=1, outline=0.5)


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
            c.line(_d("M", (x + 6, 240), "L", (x + 6, 420), "M", (x + 154, 240), "L", (x + 154, 420)), (110, 80, 54), 5)
            c.rect(x + 8, 340, 144, 80, (150, 104, 64), shade=1, outline=0.5)
            for k in range(12):
                fx = x + 20 + (k % 6) * 24
                if not _hidden(fx, fx, 330):
                    c.circle(fx, 336 - (k // 6) * 14, 11, rng.choice(fruit), shade=1)
    c.line(_d("M", (0, 30), "Q", (256, 110), (512, 30)), (70, 60, 50), 2)
    flags = ((230, 70, 60), (250, 200, 50), (60, 140, 220), (90, 180, 90))
    with c.batch():
        for i in range(12):
            t = (i + 0.5) / 12
            fx, fy = 512 * t, 30 + 160 * t * (1 - t)
            c.path(_d("M", (fx - 12, fy), "L", (fx + 12, fy), "L", (fx, fy + 24), "Z"), flags[i % 4])
    c.rect(0, 420, VIEW, 100, (150, 140, 128), shade=0.4)


def _park(c: Canvas, sky: Sky, rng: random.Random) -> None:
    """Round trees, a path and a lamp post."""
    far = mix((90, 150, 90), sky.bottom, 0.35)
    with c.batch():
        for i in range(9):
            _round_tree(c, i * 64 + rng.uniform(-10, 10), 360, rng.uniform(80, 120), far)
    c.rect(0, 356, VIEW, 170, (120, 185, 86), shade=0.5)
    c.path(_d("M", (200, 356), "C", (120, 420), (60, 460), (30, 512), "L", (180, 512), "C", (220, 450), (260, 400),
              (300, 356), "Z"), (220, 204, 166))
    for x in (40.0, 470.0):
        _round_tree(c, x + rng.uniform(-10, 10), 440, rng.uniform(260, 320), (62, 130, 62))
    x = rng.choice((120.0, 392.0))
    c.rect(x - 3, 250, 6, 130, (40, 44, 50))
    c.rect(x - 10, 236, 20, 22, (255, 226, 140) if sky.lit else (230, 230, 220), outline=0.5)
    if sky.lit:
        c.circle(x, 247, 30, (255, 220, 130), opacity=0.3)


SCENES: dict[str, Callable[[Canvas, Sky, random.Random], None]] = {
    "city street": _city, "forest": _forest, "beach": _beach, "mountain meadow": _meadow, "library": _library,
    "cafe": _cafe, "garden": _garden, "desert": _desert, "snowy village": _snowy, "harbour": _harbour,
    "rooftop": _rooftop, "art studio": _studio, "train station": _station, "lake shore": _lake, "market": _market,
    "park": _park,
}
INDOORS = frozenset(("library", "cafe", "art studio"))


# ---------------------------------------------------------------------------------------------- figure

@dataclass(frozen=True, slots=True)
class Build:
    """Proportions that say who this is: children rounder and smaller, men squarer in the jaw."""

    w: float
    h: float
    jaw: float
    body: float
    child: bool = False
    female: bool = False
    old: bool = False
    eyes: float = 1.0


BUILDS: dict[str, Build] = {
    "woman": Build(82, 106, 0.5, 172, female=True),
    "man": Build(88, 110, 0.7, 194),
    "girl": Build(86, 94, 0.62, 148, child=True, female=True, eyes=1.12),
    "boy": Build(88, 94, 0.64, 150, child=True, eyes=1.12),
    "old woman": Build(84, 106, 0.55, 174, female=True, old=True, eyes=0.95),
    "old man": Build(90, 110, 0.7, 190, old=True, eyes=0.95),
    "young woman": Build(80, 104, 0.46, 168, female=True, eyes=1.05),
    "young man": Build(86, 108, 0.62, 188, eyes=1.02),
}


@dataclass(frozen=True, slots=True)
class Figure:
    """Every landmark of the head and body, worked out once so the parts line up."""

    cx: float
    cy: float
    w: float
    h: float
    jaw: float
    eye_y: float
    eye_dx: float
    eye_rx: float
    eye_ry: float
    brow_y: float
    nose_y: float
    mouth_y: float
    neck_w: float
    shoulder_y: float
    body_w: float
    build: Build
    skin: RGB
    hair: RGB
    eyes: RGB
    cloth: RGB

    @property
    def top(self) -> float:
        return self.cy - self.h

    @property
    def chin(self) -> float:
        return self.cy + self.h


def figure(p: Portrait, style: Style) -> Figure:
    """Proportions from who it is, nudged by seed bits so two people alike are not quite identical."""
    b = BUILDS[p.who]
    s = p.seed
    w = b.w + ((s >> 8) & 7) - 3.5
    h = b.h + ((s >> 11) & 7) - 3.5
    cy = 244.0 if b.child else 224.0
    eye_y = cy + (8 if b.child else 4)
    eye_scale = b.eyes * style.eye_scale
    return Figure(cx=256.0, cy=cy, w=w, h=h, jaw=b.jaw, eye_y=eye_y, eye_dx=w * 0.41 + ((s >> 14) & 3) - 1.5,
                  eye_rx=17 * eye_scale, eye_ry=11.5 * eye_scale, brow_y=eye_y - 26 - 4 * (eye_scale - 1),
                  nose_y=cy + h * 0.36, mouth_y=cy + h * 0.6, neck_w=w * (0.36 if b.child else 0.42),
                  shoulder_y=410.0 if b.child else 388.0, body_w=b.body, build=b, skin=SKIN[p.skin_tone],
                  hair=HAIR[p.hair_colour], eyes=EYES[p.eye_colour], cloth=CLOTH[p.clothing_colour])


def face_path(f: Figure) -> str:
    """An egg, wider at the temples; `jaw` squares off the lower half."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    k = 0.552
    return _d("M", (cx, cy - h), "C", (cx + k * w, cy - h), (cx + w, cy - k * h), (cx + w, cy - 0.05 * h),
              "C", (cx + w, cy + 0.5 * h), (cx + f.jaw * w, cy + h), (cx, cy + h),
              "C", (cx - f.jaw * w, cy + h), (cx - w, cy + 0.5 * h), (cx - w, cy - 0.05 * h),
              "C", (cx - w, cy - k * h), (cx - k * w, cy - h), (cx, cy - h), "Z")


def _neck_and_ears(c: Canvas, f: Figure) -> None:
    """The neck, a shade darker than the face, as the chin shadows it."""
    shadow = darker(f.skin, 0.12)
    c.rect(f.cx - f.neck_w, f.cy + f.h * 0.4, f.neck_w * 2, f.shoulder_y - f.cy - f.h * 0.4 + 30, shadow, shade=1,
           outline=1)


def _ears(c: Canvas, f: Figure) -> None:
    """Ears sit behind the face outline and under long hair, so they are drawn before both."""
    with c.batch():
        for side in (-1, 1):
            x = f.cx + side * (f.w - 2)
            c.ellipse(x, f.eye_y + 10, 13, 21, f.skin, shade=1, outline=1)
            c.line(_d("M", (x + side * 4, f.eye_y), "Q", (x + side * 8, f.eye_y + 12), (x + side * 2, f.eye_y + 22)),
                   darker(f.skin, 0.25), 2.5, opacity=0.6)


# ---------------------------------------------------------------------------------------------- hair

def _dome(f: Figure, e: float, drop: float, left_e: float | None = None) -> str:
    """The outer edge of hair lying on the skull, from the left side over the crown to the right."""
    cx, cy, w = f.cx, f.cy, f.w
    le = e if left_e is None else left_e
    y0 = cy - 0.1 * f.h
    top = cy - f.h - e
    r = y0 - top
    k = 0.552
    return _d("M", (cx - w - le, cy + drop), "L", (cx - w - le, y0),
              "C", (cx - w - le, y0 - k * r), (cx - k * (w + le), top), (cx, top),
              "C", (cx + k * (w + e), top), (cx + w + e, y0 - k * r), (cx + w + e, y0), "L", (cx + w + e, cy + drop))


def _line_arch(f: Figure, drop: float, hl: float) -> str:
    """A rounded hairline: forehead bare, hair framing the temples."""
    cx, cy, w = f.cx, f.cy, f.w
    s = 5
    return _d("L", (cx + w - s, cy + drop), "L", (cx + w - s, cy - 0.2 * f.h),
              "C", (cx + 0.8 * w, hl), (cx + 0.35 * w, hl), (cx, hl),
              "C", (cx - 0.35 * w, hl), (cx - 0.8 * w, hl), (cx - w + s, cy - 0.2 * f.h),
              "L", (cx - w + s, cy + drop), "Z")


def _line_part(f: Figure, drop: float, part: float) -> str:
    """Curtains from a centre parting, showing a triangle of forehead."""
    cx, cy, w = f.cx, f.cy, f.w
    s = 4
    pt = cy - part * f.h
    return _d("L", (cx + w - s, cy + drop),
              "C", (cx + w - s, cy - 0.45 * f.h), (cx + 0.3 * w, cy - 0.62 * f.h), (cx + 3, pt),
              "L", (cx - 3, pt),
              "C", (cx - 0.3 * w, cy - 0.62 * f.h), (cx - w + s, cy - 0.45 * f.h), (cx - w + s, cy + drop), "Z")


def _line_sweep(f: Figure, drop: float, low: float) -> str:
    """A fringe swept across: low over one brow, lifting toward the other temple."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    s = 5
    return _d("L", (cx + w - s, cy + drop), "L", (cx + w - s, cy - low * h),
              "C", (cx + 0.5 * w, cy - (low - 0.02) * h), (cx - 0.15 * w, cy - (low + 0.2) * h),
              (cx - 0.5 * w, cy - 0.72 * h),
              "C", (cx - 0.75 * w, cy - 0.8 * h), (cx - w + s, cy - 0.5 * h), (cx - w + s, cy - 0.2 * h),
              "L", (cx - w + s, cy + drop), "Z")


def _line_bangs(f: Figure, drop: float) -> str:
    """A straight fringe just above the brows."""
    cx, cy, w = f.cx, f.cy, f.w
    y = f.brow_y - 12
    return _d("L", (cx + w - 6, cy + drop), "L", (cx + w - 6, y), "Q", (cx + 0.5 * w, y + 6), (cx, y + 2),
              "Q", (cx - 0.5 * w, y + 6), (cx - w + 6, y), "L", (cx - w + 6, cy + drop), "Z")


def _line_points(f: Figure, drop: float, tips: list[Point]) -> str:
    """A jagged fringe: the tips, as fractions of the head, from the right temple to the left."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    parts: list[str | Point] = ["L", (cx + w - 5, cy + drop), "L", (cx + w - 5, cy - 0.25 * h)]
    for tx, ty in tips:
        parts += ["L", (cx + tx * w, cy - ty * h)]
    parts += ["L", (cx - w + 5, cy - 0.25 * h), "L", (cx - w + 5, cy + drop), "Z"]
    return _d(*parts)


def _cap(c: Canvas, f: Figure, colour: RGB, outer: str, line: str) -> None:
    """Hair over the skull: an outer dome and a hairline, as one shape."""
    c.path(outer + " " + line, colour, shade=1.2, outline=1)


def _strands(c: Canvas, f: Figure, colour: RGB, xs: tuple[float, ...], y0: float, y1: float) -> None:
    """A few darker strokes so a block of colour reads as hair."""
    with c.batch():
        for x in xs:
            c.line(_d("M", (f.cx + x * f.w, y0), "Q", (f.cx + x * f.w * 1.08, (y0 + y1) / 2),
                      (f.cx + x * f.w * 1.02, y1)), darker(colour, 0.25), 2, opacity=0.5)


def _long_back(c: Canvas, f: Figure, colour: RGB, bottom: float, spread: float, wave: float = 0.0) -> None:
    """Hair hanging behind the head and neck, to `bottom`."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    outer = w + spread
    mid = (cy + bottom) / 2
    d = _d("M", (cx - outer, cy - 0.1 * h), "C", (cx - outer, cy - 1.3 * h), (cx + outer, cy - 1.3 * h),
           (cx + outer, cy - 0.1 * h),
           "C", (cx + outer + wave, mid - 40), (cx + outer - wave, mid + 40), (cx + outer + 6, bottom),
           "Q", (cx, bottom + 16), (cx - outer - 6, bottom),
           "C", (cx - outer + wave, mid + 40), (cx - outer - wave, mid - 40), (cx - outer, cy - 0.1 * h), "Z")
    c.path(d, darker(colour, 0.08), shade=1.2, outline=1)


def _flicked_back(c: Canvas, f: Figure, colour: RGB, bottom: float, spread: float) -> None:
    """Hair to the shoulders with the ends turned outward."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    o = w + spread
    d = _d("M", (cx - o, cy - 0.1 * h), "C", (cx - o, cy - 1.3 * h), (cx + o, cy - 1.3 * h), (cx + o, cy - 0.1 * h),
           "C", (cx + o, bottom - 50), (cx + o + 2, bottom - 20), (cx + o + 26, bottom - 2),
           "Q", (cx + o - 4, bottom + 8), (cx + o - 24, bottom), "L", (cx - o + 24, bottom),
           "Q", (cx - o + 4, bottom + 8), (cx - o - 26, bottom - 2),
           "C", (cx - o - 2, bottom - 20), (cx - o, bottom - 50), (cx - o, cy - 0.1 * h), "Z")
    c.path(d, darker(colour, 0.06), shade=1.2, outline=1)


def _drape(c: Canvas, f: Figure, colour: RGB, bottom: float, wave: float = 0.0) -> None:
    """Locks falling in front of the shoulders, beside the face."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    with c.batch():
        for side in (-1, 1):
            o = cx + side * (w + 16)
            i = cx + side * (w - 16)
            d = _d("M", (o, cy - 0.35 * h), "C", (o + side * (6 + wave), cy + h * 0.6),
                   (o + side * (4 - wave), bottom - 60), (o + side * 8, bottom),
                   "Q", (cx + side * (w + 8), bottom + 14), (i + side * 6, bottom - 10),
                   "C", (i + side * wave, bottom - 80), (i, cy + h), (i, cy - 0.2 * h), "Z")
            c.path(d, colour, shade=1.2, outline=1)
            c.line(_d("M", (cx + side * w, cy + 0.2 * h), "Q", (cx + side * (w + 4 + wave), bottom - 70),
                      (cx + side * (w + 8), bottom - 8)), darker(colour, 0.25), 2, opacity=0.45)


def _braid(c: Canvas, f: Figure, colour: RGB, accent: RGB) -> None:
    """Two braids as chains of plaits, tied at the ends."""
    cx, cy, w = f.cx, f.cy, f.w
    with c.batch():
        for side in (-1, 1):
            x = cx + side * (w + 4)
            y = cy + 0.1 * f.h
            while y < 470:
                c.ellipse(x, y, 16, 13, colour, shade=1.2, outline=1)
                c.line(_d("M", (x - 10, y - 4), "Q", (x, y + 6), (x + 10, y - 4)), darker(colour, 0.3), 2, opacity=0.6)
                x += side * 1.5
                y += 20
            c.rect(x - 9, y - 8, 18, 8, accent, rx=3)
            c.path(_d("M", (x - 8, y), "L", (x + 8, y), "L", (x, y + 22), "Z"), colour, outline=1)


def _curls(c: Canvas, f: Figure, colour: RGB, rx: float, ry: float, y: float, start: float, stop: float, r: float,
           count: int) -> None:
    """Curls as small circles along an arc, each with a twist drawn in."""
    with c.batch():
        for i in range(count):
            a = math.radians(start + (stop - start) * i / max(1, count - 1))
            x, yy = f.cx + rx * math.cos(a), y + ry * math.sin(a)
            c.circle(x, yy, r, colour, shade=1.2, outline=0.8)
            c.line(_d("M", (x - r * 0.4, yy - r * 0.1), "Q", (x, yy + r * 0.5), (x + r * 0.4, yy - r * 0.2)),
                   darker(colour, 0.3), 2, opacity=0.6)


@dataclass(frozen=True, slots=True)
class Hair:
    """One head of hair being drawn: what every layer of every hair style needs."""

    c: Canvas
    f: Figure
    colour: RGB
    hat: bool       # a hat flattens whatever would stand up above the head
    accent: RGB     # ties and bands


def _back_long(hr: Hair) -> None:
    _long_back(hr.c, hr.f, hr.colour, 470, 22)


def _back_wavy(hr: Hair) -> None:
    _long_back(hr.c, hr.f, hr.colour, 430, 28, wave=18)


def _back_shoulder(hr: Hair) -> None:
    _flicked_back(hr.c, hr.f, hr.colour, hr.f.cy + hr.f.h + 30, 22)


def _back_bob(hr: Hair) -> None:
    """A helmet of hair cut level with the jaw."""
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    d = _d("M", (cx - w - 24, cy - 0.1 * h), "C", (cx - w - 24, cy - 1.3 * h), (cx + w + 24, cy - 1.3 * h),
           (cx + w + 24, cy - 0.1 * h), "L", (cx + w + 20, cy + 0.72 * h), "Q", (cx + w + 18, cy + 0.84 * h),
           (cx + w - 2, cy + 0.84 * h), "L", (cx - w + 2, cy + 0.84 * h), "Q", (cx - w - 18, cy + 0.84 * h),
           (cx - w - 20, cy + 0.72 * h), "Z")
    hr.c.path(d, darker(hr.colour, 0.06), shade=1.2, outline=1)


def _back_curly(hr: Hair) -> None:
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    hr.c.ellipse(cx, cy - 0.2 * h, w + 26, h + 14, darker(hr.colour, 0.1), shade=1)
    _curls(hr.c, hr.f, darker(hr.colour, 0.05), w + 24, h * 0.9, cy - 0.15 * h, 140, 400, 24, 15)
    _curls(hr.c, hr.f, darker(hr.colour, 0.05), w + 22, h * 0.5, cy + 0.25 * h, 160, 20, 22, 2)


def _back_afro(hr: Hair) -> None:
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    hr.c.ellipse(cx, cy - 0.35 * h, w + 58, h + 34, darker(hr.colour, 0.08), shade=1.2, outline=1)
    _curls(hr.c, hr.f, darker(hr.colour, 0.08), w + 56, h + 32, cy - 0.35 * h, 150, 390, 26, 16)


def _back_ponytail(hr: Hair) -> None:
    """The tail swings out to one side, where a front view can show it."""
    c, cx, cy, w, h = hr.c, hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    d = _d("M", (cx + 0.3 * w, cy - h), "C", (cx + w + 80, cy - 1.1 * h), (cx + w + 74, cy + 0.3 * h),
           (cx + w + 40, cy + 1.15 * h), "C", (cx + w + 30, cy + 0.7 * h), (cx + w + 6, cy + 0.1 * h),
           (cx + 0.6 * w, cy - 0.55 * h), "Z")
    c.path(d, hr.colour, shade=1.2, outline=1)
    for dx in (16.0, 30.0):
        c.line(_d("M", (cx + w + dx - 10, cy - 0.5 * h), "Q", (cx + w + dx + 22, cy + 0.3 * h),
                  (cx + w + 36, cy + 1.05 * h)), darker(hr.colour, 0.3), 2, opacity=0.5)
    c.ellipse(cx + w + 4, cy - 0.78 * h, 9, 13, hr.accent, outline=1)


def _back_bun(hr: Hair) -> None:
    if hr.hat:
        return
    c, f = hr.c, hr.f
    c.circle(f.cx, f.top - 16, f.w * 0.42, hr.colour, shade=1.2, outline=1)
    c.line(_d("M", (f.cx - f.w * 0.25, f.top - 20), "Q", (f.cx, f.top), (f.cx + f.w * 0.25, f.top - 24)),
           darker(hr.colour, 0.3), 2.5, opacity=0.5)


def _back_braided(hr: Hair) -> None:
    _long_back(hr.c, hr.f, hr.colour, hr.f.cy + hr.f.h * 0.6, 12)


def _drape_long(hr: Hair) -> None:
    _drape(hr.c, hr.f, hr.colour, 468)


def _drape_wavy(hr: Hair) -> None:
    _drape(hr.c, hr.f, hr.colour, 440, wave=14)


def _drape_braids(hr: Hair) -> None:
    _braid(hr.c, hr.f, hr.colour, hr.accent)


def _front_short(hr: Hair) -> None:
    """A short, slightly messy fringe."""
    drop = -0.1 * hr.f.h
    _cap(hr.c, hr.f, hr.colour, _dome(hr.f, 12, drop),
         _line_points(hr.f, drop, [(0.6, 0.45), (0.4, 0.62), (0.2, 0.48), (0.0, 0.64), (-0.22, 0.5), (-0.42, 0.66),
                                   (-0.65, 0.52)]))


def _front_parted(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 12, 0.3 * f.h), _line_part(f, 0.3 * f.h, 0.8))
    _strands(hr.c, f, hr.colour, (-0.5, -0.25, 0.25, 0.5), f.top, f.cy - 0.5 * f.h)


def _front_wavy(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 16, 0.3 * f.h), _line_sweep(f, 0.3 * f.h, 0.3))
    _strands(hr.c, f, hr.colour, (-0.4, 0.0, 0.4), f.top, f.cy - 0.5 * f.h)


def _front_shoulder(hr: Hair) -> None:
    _cap(hr.c, hr.f, hr.colour, _dome(hr.f, 14, 0.3 * hr.f.h), _line_sweep(hr.f, 0.3 * hr.f.h, 0.42))


def _front_bob(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 20, 0.5 * f.h), _line_bangs(f, 0.5 * f.h))
    _strands(hr.c, f, hr.colour, (-0.6, -0.3, 0.0, 0.3, 0.6), f.top, f.brow_y - 14)


def _front_buzz(hr: Hair) -> None:
    """Stubble over the skull: the hair colour thinned by the skin showing through."""
    f = hr.f
    _cap(hr.c, f, mix(hr.colour, f.skin, 0.45), _dome(f, 3, -0.25 * f.h), _line_arch(f, -0.25 * f.h, f.cy - 0.66 * f.h))


def _front_cropped(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 7, -0.05 * f.h), _line_arch(f, -0.05 * f.h, f.cy - 0.62 * f.h))


def _front_curly(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 16, -0.05 * f.h), _line_arch(f, -0.05 * f.h, f.cy - 0.6 * f.h))
    _curls(hr.c, f, hr.colour, f.w * 0.8, f.h * 0.4, f.cy - 0.32 * f.h, 200, 340, 17, 7)


def _front_afro(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 18, -0.05 * f.h), _line_arch(f, -0.05 * f.h, f.cy - 0.58 * f.h))


def _front_pulled_back(hr: Hair) -> None:
    """Hair drawn back from the face into a ponytail or a bun."""
    f = hr.f
    _cap(hr.c, f, hr.colour, _dome(f, 6, -0.1 * f.h), _line_arch(f, -0.1 * f.h, f.cy - 0.64 * f.h))
    _strands(hr.c, f, hr.colour, (-0.4, 0.0, 0.4), f.top, f.cy - 0.7 * f.h)


def _front_spiky(hr: Hair) -> None:
    _spikes(hr.c, hr.f, hr.colour, hr.hat)


def _front_pixie(hr: Hair) -> None:
    """Short at the sides with long pointed bangs."""
    drop = -0.12 * hr.f.h
    _cap(hr.c, hr.f, hr.colour, _dome(hr.f, 9, drop, left_e=14),
         _line_points(hr.f, drop, [(0.55, 0.3), (0.35, 0.56), (0.1, 0.36), (-0.1, 0.62), (-0.35, 0.46), (-0.5, 0.7)]))


def _front_side_parted(hr: Hair) -> None:
    """Swept over from a parting on one side, with the parting drawn in."""
    c, f = hr.c, hr.f
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    _cap(c, f, hr.colour, _dome(f, 10, -0.05 * h, left_e=16), _line_sweep(f, -0.05 * h, 0.52))
    c.line(_d("M", (cx - 0.42 * w, cy - h - 6), "Q", (cx - 0.46 * w, cy - 0.9 * h), (cx - 0.52 * w, cy - 0.74 * h)),
           darker(hr.colour, 0.4), 3, opacity=0.7)
    _strands(c, f, hr.colour, (-0.1, 0.2, 0.5), cy - h, cy - 0.5 * h)


def _front_mohawk(hr: Hair) -> None:
    f = hr.f
    _cap(hr.c, f, mix(hr.colour, f.skin, 0.6), _dome(f, 2, -0.25 * f.h), _line_arch(f, -0.25 * f.h, f.cy - 0.66 * f.h))
    _crest(hr.c, f, hr.colour, 30 if hr.hat else 80)


@dataclass(frozen=True, slots=True)
class HairStyle:
    """A style's layers: behind the head, over the shoulders (behind the face), and over the skull."""

    front: Callable[[Hair], None]
    back: Callable[[Hair], None] | None = None
    drape: Callable[[Hair], None] | None = None


HAIRDOS: dict[str, HairStyle] = {
    "short": HairStyle(_front_short),
    "long straight": HairStyle(_front_parted, _back_long, _drape_long),
    "curly": HairStyle(_front_curly, _back_curly),
    "wavy": HairStyle(_front_wavy, _back_wavy, _drape_wavy),
    "bob-cut": HairStyle(_front_bob, _back_bob),
    "buzz-cut": HairStyle(_front_buzz),
    "ponytail": HairStyle(_front_pulled_back, _back_ponytail),
    "bun": HairStyle(_front_pulled_back, _back_bun),
    "braided": HairStyle(_front_parted, _back_braided, _drape_braids),
    "afro": HairStyle(_front_afro, _back_afro),
    "spiky": HairStyle(_front_spiky),
    "shoulder-length": HairStyle(_front_shoulder, _back_shoulder),
    "pixie-cut": HairStyle(_front_pixie),
    "side-parted": HairStyle(_front_side_parted),
    "mohawk": HairStyle(_front_mohawk),
    "close-cropped": HairStyle(_front_cropped),
}


def _spikes(c: Canvas, f: Figure, colour: RGB, hat: bool) -> None:
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
    _cap(c, f, colour, _d(*parts),
         _line_points(f, -0.05 * h, [(0.5, 0.46), (0.3, 0.64), (0.05, 0.48), (-0.15, 0.66), (-0.4, 0.5),
                                     (-0.6, 0.66)]))


def _crest(c: Canvas, f: Figure, colour: RGB, height: float) -> None:
    """A frontal mohawk: a tall spiked crest over shaved sides."""
    cx, top, w = f.cx, f.top, f.w
    tips = [(-0.3, 20), (-0.22, -height * 0.7), (-0.1, -height * 0.4), (0.0, -height), (0.1, -height * 0.4),
            (0.22, -height * 0.7), (0.3, 20)]
    parts: list[str | Point] = ["M", (cx - 0.2 * w, f.cy - 0.55 * f.h)]
    for tx, ty in tips:
        parts += ["L", (cx + tx * w, top + ty)]
    parts += ["L", (cx + 0.2 * w, f.cy - 0.55 * f.h), "Z"]
    c.path(_d(*parts), colour, shade=1.2, outline=1)


# ---------------------------------------------------------------------------------------------- face

@dataclass(frozen=True, slots=True)
class Mood:
    """How an expression moves the face: brows, eyelids, gaze and mouth."""

    lift: float      # brows up
    tilt: float      # inner brow ends up (+) or down (−)
    arch: float
    open: float      # eye opening
    gaze: Point
    mouth: str
    raise_one: float = 0.0


MOODS: dict[str, Mood] = {
    "smiling": Mood(1, 0, 4, 1.0, (0, 0), "smile"),
    "serious": Mood(-3, -3, 0, 0.9, (0, 0), "line"),
    "laughing": Mood(4, 2, 6, 0.75, (0, 0), "laugh"),
    "calm": Mood(0, 1, 3, 0.68, (0, 1), "soft"),
    "surprised": Mood(11, 3, 8, 1.2, (0, 0), "o"),
    "thoughtful": Mood(0, -1, 3, 0.9, (-4, -3), "smirk", raise_one=7),
    "cheerful": Mood(5, 1, 5, 1.0, (0, 0), "grin"),
    "determined": Mood(-5, -8, 1, 0.82, (0, 0), "firm"),
}


def _eyes(c: Canvas, f: Figure, mood: Mood) -> None:
    """Big enough that the iris colour reads at full size; a highlight keeps them alive when small."""
    iris_r = f.eye_ry * 0.92
    ry = f.eye_ry * mood.open
    lid = darker(f.skin, 0.55)
    xs = (f.cx - f.eye_dx, f.cx + f.eye_dx)
    y = f.eye_y
    whites = "".join(_ellipse_d(x, y, f.eye_rx, ry) for x in xs)
    c.defs.append(f'<clipPath id="eyes"><path d="{whites}"/></clipPath>')
    c.path(whites, (251, 250, 246))
    ring = f' stroke="{c.col(darker(f.eyes, 0.4))}" stroke-width="2"' if c.style.shade else ""
    irises = "".join(_ellipse_d(x + mood.gaze[0], y + mood.gaze[1], iris_r, iris_r) for x in xs)
    pupils = "".join(_ellipse_d(x + mood.gaze[0], y + mood.gaze[1], iris_r * 0.45, iris_r * 0.45) for x in xs)
    c.add(f'<g clip-path="url(#eyes)"><path d="{irises}" fill="{c.col(f.eyes)}"{ring}/>'
          f'<path d="{pupils}" fill="{c.col((20, 18, 20))}"/></g>')
    with c.batch():
        for side, x in zip((-1, 1), xs):
            ix, iy = x + mood.gaze[0], y + mood.gaze[1]
            c.circle(ix - iris_r * 0.35, iy - iris_r * 0.4, iris_r * 0.28, WHITE)
            c.line(_d("M", (x - f.eye_rx - 1, y + 1), "Q", (x, y - ry * 2.05), (x + f.eye_rx + 1, y + 1)), lid, 3.2)
            if f.build.female:
                ox = x + side * f.eye_rx
                c.line(_d("M", (ox - side * 3, y - ry * 0.5), "L", (ox + side * 5, y - ry * 0.9)), lid, 2.5)
            if mood.mouth == "laugh":
                c.line(_d("M", (x - f.eye_rx, y + ry + 4), "Q", (x, y + ry - 3), (x + f.eye_rx, y + ry + 4)),
                       darker(f.skin, 0.3), 2.5, opacity=0.7)


def _brows(c: Canvas, f: Figure, mood: Mood, colour: RGB) -> None:
    """The brows carry most of an expression; old age greys them."""
    width = 7.0 if not f.build.female else 5.0
    with c.batch():
        for side in (-1, 1):
            lift = mood.lift + (mood.raise_one if side > 0 else 0)
            inner = (f.cx + side * (f.eye_dx - f.eye_rx * 0.85), f.brow_y - lift - mood.tilt)
            outer = (f.cx + side * (f.eye_dx + f.eye_rx * 1.1), f.brow_y - lift + 2)
            ctrl = ((inner[0] + outer[0]) / 2, min(inner[1], outer[1]) - mood.arch - 3)
            c.line(_d("M", inner, "Q", ctrl, outer), colour, width)


def _nose(c: Canvas, f: Figure) -> None:
    """Only the tip and one side's shadow: enough to read as a nose at any size."""
    shade = darker(f.skin, 0.3)
    k = 0.8 if f.build.child else 1.0
    c.line(_d("M", (f.cx - 8 * k, f.nose_y), "Q", (f.cx, f.nose_y + 7 * k), (f.cx + 8 * k, f.nose_y)), shade, 3,
           opacity=0.7)
    if not f.build.child:
        c.line(_d("M", (f.cx + 5, f.eye_y + 8), "Q", (f.cx + 10, f.nose_y - 12), (f.cx + 8, f.nose_y - 4)), shade, 2.5,
               opacity=0.35)


def _mouth(c: Canvas, f: Figure, mood: Mood) -> None:
    """A mouth shape per expression, lips tinted on women."""
    x, y = f.cx, f.mouth_y
    mw = f.w * 0.3
    lips = mix(f.skin, (196, 70, 86), 0.5) if f.build.female else darker(mix(f.skin, (170, 70, 70), 0.25), 0.3)
    inside, teeth = (92, 30, 36), (250, 250, 246)
    kind = mood.mouth
    if kind in ("smile", "soft"):
        depth = 14 if kind == "smile" else 7
        c.line(_d("M", (x - mw, y), "Q", (x, y + depth * 2), (x + mw, y)), lips, 4.5)
    elif kind == "line":
        c.line(_d("M", (x - mw * 0.8, y + 5), "Q", (x, y + 7), (x + mw * 0.8, y + 5)), lips, 4.5)
    elif kind == "firm":
        c.line(_d("M", (x - mw * 0.85, y + 8), "Q", (x, y + 1), (x + mw * 0.85, y + 8)), lips, 5)
    elif kind == "smirk":
        c.line(_d("M", (x - mw * 0.7, y + 7), "Q", (x + mw * 0.1, y + 9), (x + mw * 0.8, y - 1)), lips, 4.5)
    elif kind == "o":
        c.ellipse(x, y + 6, 10, 13, inside, outline=1)
        c.line(_d("M", (x - 10, y + 6), "A", (10, 13), "0 1 1", (x - 10, y + 6.1)), lips, 3)
    elif kind in ("laugh", "grin"):
        depth = 34 if kind == "laugh" else 24
        wide = mw * (1.1 if kind == "laugh" else 1.05)
        d = _d("M", (x - wide, y - 2), "Q", (x, y + 4), (x + wide, y - 2), "Q", (x + wide * 0.8, y + depth),
               (x, y + depth), "Q", (x - wide * 0.8, y + depth), (x - wide, y - 2), "Z")
        c.path(d, inside, outline=1)
        c.path(_d("M", (x - wide * 0.86, y), "Q", (x, y + 5), (x + wide * 0.86, y), "L", (x + wide * 0.74, y + 8),
                  "Q", (x, y + 12), (x - wide * 0.74, y + 8), "Z"), teeth)
        if kind == "laugh":
            c.ellipse(x, y + depth - 7, wide * 0.45, 6, (220, 100, 110))
        c.line(d, lips, 3)


def _beard(c: Canvas, f: Figure, kind: int) -> None:
    """Men get stubble, a beard or a moustache from two seed bits; most stay clean-shaven."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    colour = darker(f.hair, 0.1)
    if f.build.old:
        colour = mix(colour, (200, 200, 200), 0.55)
    if kind == 3:
        c.path(_d("M", (cx - 0.34 * w, f.mouth_y + 2), "Q", (cx - 0.3 * w, f.mouth_y - 14), (cx, f.mouth_y - 10),
                  "Q", (cx + 0.3 * w, f.mouth_y - 14), (cx + 0.34 * w, f.mouth_y + 2), "Q", (cx, f.mouth_y - 4),
                  (cx - 0.34 * w, f.mouth_y + 2), "Z"), colour, outline=0.6)
        return
    top = cy + 0.22 * h
    lip = f.nose_y + 12
    d = _d("M", (cx - w + 2, top), "C", (cx - w + 2, cy + 0.6 * h), (cx - f.jaw * w, cy + h + 12), (cx, cy + h + 12),
           "C", (cx + f.jaw * w, cy + h + 12), (cx + w - 2, cy + 0.6 * h), (cx + w - 2, top),
           "L", (cx + w - 10, top), "C", (cx + w - 14, cy + 0.5 * h), (cx + 0.45 * w, lip + 2), (cx + 0.3 * w, lip),
           "Q", (cx, lip - 6), (cx - 0.3 * w, lip),
           "C", (cx - 0.45 * w, lip + 2), (cx - w + 14, cy + 0.5 * h), (cx - w + 10, top), "Z")
    full = kind == 2
    c.path(d, colour, shade=0.5 if full else 0, outline=0.6 if full else 0, opacity=1.0 if full else 0.25)


def _wrinkles(c: Canvas, f: Figure) -> None:
    """Lines on the forehead, at the eyes and beside the mouth: the plainest cue for age."""
    line = darker(f.skin, 0.35)
    with c.batch():
        for dy in (-24.0, -34.0):
            y = f.brow_y + dy
            c.line(_d("M", (f.cx - 0.4 * f.w, y + 2), "Q", (f.cx, y - 4), (f.cx + 0.4 * f.w, y + 2)), line, 2.6,
                   opacity=0.55)
        for side in (-1, 1):
            x = f.cx + side * (f.eye_dx + f.eye_rx + 4)
            for dy in (-5.0, 2.0, 9.0):
                c.line(_d("M", (x, f.eye_y + dy * 0.4), "l", (side * 8, dy)), line, 1.8, opacity=0.5)
            c.line(_d("M", (f.cx + side * 16, f.nose_y - 6), "Q", (f.cx + side * 30, f.nose_y + 16),
                      (f.cx + side * (f.w * 0.34), f.mouth_y + 12)), line, 2.6, opacity=0.5)


def _cheeks(c: Canvas, f: Figure, p: Portrait, rng: random.Random) -> None:
    """Blush for the young and the laughing; freckles when the portrait has them."""
    with c.batch():
        if f.build.female or f.build.child or p.expression in ("laughing", "cheerful"):
            for side in (-1, 1):
                c.circle(f.cx + side * f.w * 0.52, f.nose_y + 4, 16, (255, 120, 120), opacity=0.2)
        if p.accessory == "freckles":
            with c.batch():
                dots = darker(mix(f.skin, (150, 80, 40), 0.4), 0.25)
                for side in (-1, 1):
                    for _ in range(9):
                        a, r = rng.uniform(0, 2 * math.pi), rng.uniform(0, 20)
                        c.circle(f.cx + side * f.w * 0.44 + r * math.cos(a), f.nose_y - 6 + r * 0.6 * math.sin(a),
                                 rng.uniform(1.8, 2.6), dots, opacity=0.75)
                for dx in (-7.0, 0.0, 6.0):
                    c.circle(f.cx + dx, f.nose_y - 14 + abs(dx), 1.8, dots, opacity=0.7)


def _face(c: Canvas, f: Figure, p: Portrait, rng: random.Random) -> None:
    """The face from the skin up: blush and lines, then nose, beard, mouth, eyes, brows."""
    mood = MOODS[p.expression]
    c.path(face_path(f), f.skin, shade=1, outline=1)
    _cheeks(c, f, p, rng)
    if f.build.old:
        _wrinkles(c, f)
    _nose(c, f)
    beard = (p.seed >> 3) & 3
    if not f.build.female and not f.build.child and beard:
        _beard(c, f, beard)
    _mouth(c, f, mood)
    _eyes(c, f, mood)
    brow = darker(f.hair, 0.35)
    if f.build.old:
        brow = mix(brow, (190, 190, 190), 0.6)
    _brows(c, f, mood, brow)


# ---------------------------------------------------------------------------------------------- clothes

def _torso(c: Canvas, f: Figure, colour: RGB) -> None:
    """Shoulders and chest in the clothing colour; every garment starts from this."""
    cx, sy, bw, nw = f.cx, f.shoulder_y, f.body_w, f.neck_w
    d = _d("M", (cx - bw - 14, 520), "C", (cx - bw - 8, sy + 60), (cx - bw + 8, sy + 12), (cx - bw * 0.55, sy + 2),
           "C", (cx - bw * 0.35, sy - 4), (cx - nw - 14, sy - 10), (cx - nw, sy - 12),
           "L", (cx + nw, sy - 12), "C", (cx + nw + 14, sy - 10), (cx + bw * 0.35, sy - 4), (cx + bw * 0.55, sy + 2),
           "C", (cx + bw - 8, sy + 12), (cx + bw + 8, sy + 60), (cx + bw + 14, 520), "Z")
    c.path(d, colour, shade=1, outline=1)
    with c.batch():
        for side in (-1, 1):
            x = cx + side * bw * 0.68
            c.line(_d("M", (x, sy + 6), "Q", (x - side * 8, sy + 70), (x - side * 4, 512)), darker(colour, 0.2), 2.5,
                   opacity=0.4)


def _neckline(c: Canvas, f: Figure, depth: float, colour: RGB, band: float = 5.0) -> None:
    """The skin showing at a round or V neck, with the garment's rim."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    d = _d("M", (cx - nw - 6, sy - 12), "Q", (cx, sy - 12 + depth * 2), (cx + nw + 6, sy - 12), "Z")
    c.path(d, darker(f.skin, 0.12), shade=1)
    c.line(_d("M", (cx - nw - 6, sy - 12), "Q", (cx, sy - 12 + depth * 2), (cx + nw + 6, sy - 12)), colour, band)


def _vee(c: Canvas, f: Figure, depth: float, fill: RGB, width: float) -> str:
    """A V opening showing what is worn underneath."""
    cx, sy = f.cx, f.shoulder_y
    d = _d("M", (cx - f.neck_w - width, sy - 12), "L", (cx, sy + depth), "L", (cx + f.neck_w + width, sy - 12), "Z")
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
    c.path(_d("M", (cx - nw - 60, sy + 10), "C", (cx - nw - 60, sy - 60), (cx - nw - 20, sy - 70), (cx, sy - 70),
              "C", (cx + nw + 20, sy - 70), (cx + nw + 60, sy - 60), (cx + nw + 60, sy + 10), "Z"), hood, shade=1,
           outline=1)
    _torso(c, f, col)
    c.path(_d("M", (cx - nw - 34, sy - 14), "Q", (cx - nw, sy + 40), (cx, sy + 44), "Q", (cx + nw, sy + 40),
              (cx + nw + 34, sy - 14), "Q", (cx, sy + 10), (cx - nw - 34, sy - 14), "Z"), hood, shade=1, outline=1)
    _neckline(c, f, 10, darker(col, 0.25), 3)
    with c.batch():
        for side in (-1, 1):
            x = cx + side * 20
            c.line(_d("M", (x, sy + 30), "Q", (x + side * 4, sy + 60), (x - side * 2, sy + 84)), (236, 236, 232), 3.5)
            c.rect(x - side * 2 - 3, sy + 82, 6, 12, (200, 200, 196), rx=2)
    c.path(_d("M", (cx - 80, 512), "L", (cx - 64, sy + 100), "L", (cx + 64, sy + 100), "L", (cx + 80, 512)),
           darker(col, 0.06), outline=0.6)


def _suit(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Lapels over a shirt and tie."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    shirt = (246, 246, 244) if col != CLOTH["white"] else (180, 200, 230)
    _vee(c, f, 118, shirt, 4)
    tie = rng.choice([a for a in ACCENTS if a != col][:6])
    c.path(_d("M", (cx - 9, sy - 6), "L", (cx + 9, sy - 6), "L", (cx + 6, sy + 8), "L", (cx - 6, sy + 8), "Z"), tie,
           outline=0.8)
    c.path(_d("M", (cx - 6, sy + 8), "L", (cx + 6, sy + 8), "L", (cx + 12, sy + 92), "L", (cx, sy + 108), "L",
              (cx - 12, sy + 92), "Z"), tie, shade=1, outline=0.8)
    lapel = darker(col, 0.12)
    with c.batch():
        for side in (-1, 1):
            c.path(_d("M", (cx + side * (nw + 4), sy - 12), "L", (cx + side * 6, sy + 118), "L",
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
                    c.line(_d("M", (x - 5, y), "L", (x, y + 6), "L", (x + 5, y)), knit, 2, opacity=0.55)
    _neckline(c, f, 12, darker(col, 0.1), 12)
    with c.batch():
        for i in range(-5, 6):
            x = cx + i * (f.neck_w + 6) / 5.5
            c.line(_d("M", (x, sy - 16 + abs(i) * 0.2), "l", (0, 9)), knit, 1.5, opacity=0.6)


def _denim(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Pointed collar, chest pockets and orange stitching over a white tee."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    _vee(c, f, 70, (246, 246, 244), 2)
    stitch = (226, 170, 90)
    c.line(_d("M", (cx, sy + 70), "L", (cx, 512)), darker(col, 0.3), 3)
    with c.batch():
        for side in (-1, 1):
            c.path(_d("M", (cx + side * (nw + 2), sy - 14), "L", (cx + side * 10, sy + 70), "L",
                      (cx + side * 30, sy + 40), "L", (cx + side * (nw + 50), sy + 18), "Z"), lighter(col, 0.08),
                   shade=1, outline=1)
            px = cx + side * 70
            c.rect(px - 26, sy + 64, 52, 40, darker(col, 0.06), outline=0.6, rx=3)
            c.line(_d("M", (px - 26, sy + 78), "L", (px + 26, sy + 78)), stitch, 2, dash="4 3")
            c.circle(px, sy + 86, 4, (190, 120, 60))
            c.line(_d("M", (cx + side * 20, sy + 130), "L", (cx + side * (f.body_w - 20), sy + 120)), stitch, 2,
                   dash="4 3")
    _buttons(c, cx + 8, (sy + 92, sy + 126), (190, 120, 60))


def _shirt(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """Collar points and a buttoned placket."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    _vee(c, f, 22, darker(f.skin, 0.12), -6)
    with c.batch():
        for side in (-1, 1):
            c.path(_d("M", (cx + side * (nw + 4), sy - 22), "L", (cx + side * 2, sy + 24), "L",
                      (cx + side * (nw + 26), sy + 14), "Z"), lighter(col, 0.08), shade=1, outline=1)
    c.line(_d("M", (cx, sy + 24), "L", (cx, 512)), darker(col, 0.2), 2.5)
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
            c.path(_d("M", (cx + side * (nw + 6), sy - 14), "L", (cx + side * 24, sy + 92), "L",
                      (cx + side * (nw + 58), sy + 40), "L", (cx + side * (nw + 40), sy + 6), "Z"), lapel, shade=1,
                   outline=1)
            c.line(_d("M", (cx + side * 80, sy + 30), "Q", (cx + side * 110, sy + 60), (cx + side * 120, sy + 100)),
                   WHITE, 5, opacity=0.18)
    c.line(_d("M", (cx + 24, sy + 92), "L", (cx + 34, 512)), (200, 200, 204), 3)
    c.line(_d("M", (cx + 40, sy + 150), "l", (40, -6)), (200, 200, 204), 3)


def _turtleneck(c: Canvas, f: Figure, col: RGB, rng: random.Random) -> None:
    """A rolled collar up to the chin."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    _torso(c, f, col)
    top = f.chin - 8
    collar = darker(col, 0.06)
    c.path(_d("M", (cx - nw - 8, sy + 6), "L", (cx - nw - 4, top), "Q", (cx, top + 10), (cx + nw + 4, top), "L",
              (cx + nw + 8, sy + 6), "Q", (cx, sy + 16), (cx - nw - 8, sy + 6), "Z"), collar, shade=1, outline=1)
    for k in range(1, 4):
        y = top + (sy + 6 - top) * k / 4
        c.line(_d("M", (cx - nw - 4, y), "Q", (cx, y + 8), (cx + nw + 4, y)), darker(col, 0.25), 2, opacity=0.5)


CLOTHES: dict[str, Callable[[Canvas, Figure, RGB, random.Random], None]] = {
    "t-shirt": _tshirt, "hoodie": _hoodie, "suit jacket": _suit, "knitted sweater": _sweater,
    "denim jacket": _denim, "button-up shirt": _shirt, "leather jacket": _leather, "turtleneck": _turtleneck,
}


# ---------------------------------------------------------------------------------------------- accessories

def _accent(p: Portrait, avoid: RGB, shift: int) -> RGB:
    """An accent colour from the seed that never matches the clothes it sits on."""
    choices = [a for a in ACCENTS if sum(abs(x - y) for x, y in zip(a, avoid)) > 90]
    return choices[(p.seed >> shift) % len(choices)]


def _glasses(c: Canvas, f: Figure, round_: bool) -> None:
    """Frames around the eyes, with faint lenses so the eye colour still shows."""
    frame = (32, 30, 34) if not round_ else (170, 130, 60)
    extra = c.outline(0)
    with c.batch():
        for side in (-1, 1):
            x = f.cx + side * f.eye_dx
            if round_:
                r = f.eye_rx + 6
                c.add(f'<circle cx="{_num(x)}" cy="{_num(f.eye_y)}" r="{_num(r)}" fill="#ffffff" fill-opacity="0.15" '
                      f'stroke="{c.col(frame)}" stroke-width="4"{extra}/>')
            else:
                w, h = f.eye_rx * 2 + 14, f.eye_ry * 2 + 16
                c.add(f'<rect x="{_num(x - w / 2)}" y="{_num(f.eye_y - h / 2)}" width="{_num(w)}" height="{_num(h)}" '
                      f'rx="7" fill="#ffffff" fill-opacity="0.15" stroke="{c.col(frame)}" stroke-width="5.5"/>')
        gap = f.eye_dx - f.eye_rx - (6 if round_ else 7)
        c.line(_d("M", (f.cx - gap, f.eye_y - 2), "Q", (f.cx, f.eye_y - 8), (f.cx + gap, f.eye_y - 2)), frame, 4)
        for side in (-1, 1):
            x0 = f.cx + side * (f.eye_dx + f.eye_rx + 6)
            c.line(_d("M", (x0, f.eye_y - 4), "L", (f.cx + side * (f.w - 2), f.eye_y - 2)), frame, 4)


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
                c.add(f'<circle cx="{_num(x)}" cy="{_num(y + 10)}" r="10" fill="none" stroke="{c.col(gold)}" '
                      f'stroke-width="3.5"/>')
            else:
                c.circle(x, y + 2, 5, gold, outline=0.5)
                c.circle(x, y + 14, 7, _accent(p, f.cloth, 7), outline=0.5)


def _hat(c: Canvas, f: Figure, p: Portrait) -> None:
    """A beanie, a brimmed hat or a cap, chosen by seed bits."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    colour = _accent(p, f.cloth, 9)
    kind = (p.seed >> 13) % 3
    band = cy - 0.6 * h
    if kind == 0:   # a knitted beanie with a pompom
        c.path(_d("M", (cx - w - 10, band), "C", (cx - w - 10, f.top - 70), (cx + w + 10, f.top - 70),
                  (cx + w + 10, band), "Z"), colour, shade=1, outline=1)
        c.rect(cx - w - 14, band - 14, 2 * w + 28, 30, darker(colour, 0.12), shade=1, outline=1, rx=12)
        c.circle(cx, f.top - 44, 20, lighter(colour, 0.5), shade=1, outline=1)
    elif kind == 1:   # a brimmed hat
        c.path(_d("M", (cx - w + 4, band), "L", (cx - w + 12, f.top - 46), "Q", (cx, f.top - 60),
                  (cx + w - 12, f.top - 46), "L", (cx + w - 4, band), "Z"), colour, shade=1, outline=1)
        c.rect(cx - w + 4, band - 22, 2 * w - 8, 18, darker(colour, 0.35), outline=0.5)
        c.ellipse(cx, band, w + 60, 16, darker(colour, 0.08), shade=1, outline=1)
    else:   # a cap with a peak
        c.path(_d("M", (cx - w - 6, band), "C", (cx - w - 6, f.top - 50), (cx + w + 6, f.top - 50), (cx + w + 6, band),
                  "Z"), colour, shade=1, outline=1)
        c.path(_d("M", (cx - w - 4, band), "Q", (cx, band - 14), (cx + w + 4, band), "Q", (cx + w * 0.6, band + 26),
                  (cx - 10, band + 24), "Q", (cx - w * 0.8, band + 22), (cx - w - 4, band), "Z"),
               darker(colour, 0.15), shade=1, outline=1)
        c.circle(cx, f.top - 36, 6, darker(colour, 0.2))


def _scarf(c: Canvas, f: Figure, p: Portrait) -> None:
    """Wrapped round the neck with one end hanging, in a colour unlike the clothes."""
    cx, sy, nw = f.cx, f.shoulder_y, f.neck_w
    colour = _accent(p, f.cloth, 5)
    stripe = lighter(colour, 0.45)
    c.path(_d("M", (cx - nw - 30, sy - 36), "Q", (cx, sy - 6), (cx + nw + 30, sy - 36), "L", (cx + nw + 36, sy + 4),
              "Q", (cx, sy + 40), (cx - nw - 36, sy + 4), "Z"), colour, shade=1, outline=1)
    tail = _d("M", (cx + 10, sy + 10), "L", (cx + 46, sy + 10), "L", (cx + 60, sy + 120), "L", (cx + 22, sy + 124), "Z")
    c.path(tail, colour, shade=1, outline=1)
    for k in (0.45, 0.7):
        y = sy + 10 + 114 * k
        c.line(_d("M", (cx + 16 + 4 * k, y), "L", (cx + 52 + 10 * k, y - 2)), stripe, 6)
    for i in range(5):
        x = cx + 24 + i * 8
        c.line(_d("M", (x, sy + 124 - i * 0.8), "l", (1, 12)), colour, 3)


def _headphones(c: Canvas, f: Figure, p: Portrait) -> None:
    """A band over the hair and cups over the ears."""
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    colour = (44, 46, 52) if (p.seed >> 6) & 1 else _accent(p, f.cloth, 11)
    r = w + 20
    c.line(_d("M", (cx - r, cy - 0.05 * h), "C", (cx - r, cy - 1.55 * h), (cx + r, cy - 1.55 * h),
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


# ---------------------------------------------------------------------------------------------- finish

def _texture(c: Canvas, rng: random.Random, sky: Sky) -> None:
    """A style's marks over the scene: pencil hatching, brush dabs or watercolour blooms."""
    kind = c.style.strokes
    with c.batch():
        if kind == "hatch":
            for _ in range(34):
                x, y = rng.uniform(-40, 512), rng.uniform(0, 460)
                if not _hidden(x, x + 40, y):
                    c.line(_d("M", (x, y + 40), "L", (x + 40, y)), (70, 70, 76), 1.2, opacity=0.35)
        elif kind == "brush":
            for _ in range(30):
                x, y = rng.uniform(-20, 512), rng.uniform(0, 300)
                if not _hidden(x, x + 40, y):
                    colour = rng.choice((lighter(sky.mid, 0.12), darker(sky.mid, 0.06), mix(sky.mid, sky.top, 0.5)))
                    length = rng.uniform(26, 48)
                    c.line(_d("M", (x, y), "l", (length, rng.uniform(-4, 4))), colour, 14, opacity=0.22)
        elif kind == "wash":
            for _ in range(6):
                c.circle(rng.uniform(0, 512), rng.uniform(0, 300), rng.uniform(40, 90), darker(sky.mid, 0.05),
                         opacity=0.12)


def _vignette(c: Canvas, amount: float) -> None:
    """Darkened edges from four linear strips: a radial gradient over the whole canvas costs several times more."""
    c.defs.append('<linearGradient id="vig" x1="0" y1="0" x2="0" y2="1">'
                  f'<stop offset="0" stop-color="#000" stop-opacity="{amount:.2f}"/>'
                  '<stop offset="1" stop-color="#000" stop-opacity="0"/></linearGradient>')
    depth = 150
    for angle in (0, 90, 180, 270):
        c.add(f'<rect width="{VIEW}" height="{depth}" fill="url(#vig)" transform="rotate({angle} 256 256)"/>')


def _scene(c: Canvas, p: Portrait, sky: Sky, rng: random.Random) -> None:
    """The sky in its own light, then the setting in the time of day's light."""
    c.tint, c.tint_amount = sky.tint, 0.0
    _draw_sky(c, sky, p.time_of_day == "night", rng)
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


def _person(c: Canvas, p: Portrait, f: Figure, rng: random.Random) -> None:
    """The figure from back to front: long hair, body, ears, drapes of hair, face, fringe, what is worn."""
    hat = p.accessory == "a hat"
    hair = Hair(c, f, f.hair, hat, _accent(p, f.hair, 15))
    hairdo = HAIRDOS[p.hair_style]
    if hairdo.back:
        hairdo.back(hair)
    _neck_and_ears(c, f)
    CLOTHES[p.clothing](c, f, f.cloth, rng)
    if p.accessory == "a scarf":
        _scarf(c, f, p)
    _ears(c, f)
    if hairdo.drape:
        hairdo.drape(hair)
    _face(c, f, p, rng)
    hairdo.front(hair)
    worn = WORN_ON_TOP.get(p.accessory)
    if worn:
        worn(c, f, p)


def portrait_svg(p: Portrait) -> str:
    """The whole picture as one SVG document, so it can be inspected, cached or rendered at any size."""
    return _portrait_svg(p, VIEW)


def _portrait_svg(p: Portrait, pixels: int) -> str:
    """The picture with only the detail that shows at `pixels` across."""
    style = STYLES[p.art_style]
    sky = SKIES[p.time_of_day]
    c = Canvas(style, pixels)
    rng = random.Random(p.seed)
    _scene(c, p, sky, rng)
    c.tint_amount = sky.tint_amount * 0.3
    _person(c, p, figure(p, style), rng)
    if style.vignette:
        _vignette(c, style.vignette)
    return c.svg()


# ---------------------------------------------------------------------------------------------- rendering

def check_size(size: int) -> None:
    """One limit for every renderer, so a cache never holds an avatar no one may ask for."""
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"an avatar is 1 to {MAX_SIZE} pixels across")


def exact(image: pyvips.Image, size: int) -> pyvips.Image:
    """Exactly size×size, whatever rounding the loader did, since callers cache and tile by size."""
    if image.width != size or image.height != size:
        image = image.crop(0, 0, min(image.width, size), min(image.height, size))
        image = image.embed(0, 0, size, size, extend="copy")
    return image


def render_svg(svg: bytes, size: int, alpha: bool = False, opaque: bool = False) -> pyvips.Image:
    """Rasterise a 512-unit SVG at `size` pixels: with its alpha, or flattened on white.

    `opaque` says the drawing covers every pixel, so the alpha can simply be dropped,
    which is cheaper than flattening and gives the same pixels.
    """
    image = pyvips.Image.svgload_buffer(svg, scale=size / VIEW)
    if not alpha:
        image = image.extract_band(0, n=3) if opaque else image.flatten(background=[255, 255, 255])
    image = exact(image, size)
    if image.format != "uchar":
        image = image.cast("uchar")
    return image if image.interpretation == "srgb" else image.copy(interpretation="srgb")


def scale_nearest(image: pyvips.Image, size: int) -> pyvips.Image:
    """Enlarge (or shrink) without blending, so pixel art keeps hard edges at any size."""
    bands = image.bands
    data = image.write_to_memory()
    row = image.width * bands
    grid = [[data[y * row + x * bands:y * row + (x + 1) * bands] for x in range(image.width)]
            for y in range(image.height)]
    return enlarge(grid, size)


def enlarge(grid: Sequence[Sequence[bytes]], size: int) -> pyvips.Image:
    """A small grid of pixels (each the bytes of one pixel, 3 or 4 bands) as a size×size image.

    Each output pixel takes the cell under its centre, with the right half mirrored from the
    left, so a symmetric grid stays exactly symmetric at every size.
    """
    bands = len(grid[0][0])
    columns = nearest_index(len(grid[0]), size)
    rows: dict[int, bytes] = {}
    order = nearest_index(len(grid), size)
    for y in set(order):
        cells = grid[y]
        rows[y] = b"".join([cells[x] for x in columns])
    data = b"".join([rows[y] for y in order])
    image = pyvips.Image.new_from_memory(data, size, size, bands, "uchar")
    return image.copy(interpretation="srgb")


def nearest_index(n: int, size: int) -> list[int]:
    """For each of `size` output positions, the one of `n` cells under its centre, mirrored about the middle."""
    left = [min(n - 1, ((2 * x + 1) * n) // (2 * size)) for x in range((size + 1) // 2)]
    return left + [n - 1 - left[size - 1 - x] for x in range((size + 1) // 2, size)]


def render_portrait(p: Portrait, size: int) -> pyvips.Image:
    """The portrait at size×size, three bands of sRGB, the same bytes for the same portrait every time."""
    check_size(size)
    pixels = STYLES[p.art_style].pixels
    if pixels and size > pixels:
        grid = pixel_grid(pixels, size)
        return scale_nearest(render_svg(_portrait_svg(p, grid).encode(), grid, opaque=True), size)
    return render_svg(_portrait_svg(p, size).encode(), size, opaque=True)


def pixel_grid(pixels: int, size: int) -> int:
    """A grid near `pixels` that `size` is a whole multiple of, where possible, so the blocks are all alike."""
    zoom = max(1, round(size / pixels))
    return max(1, round(size / zoom))


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
