"""The surface every built-in avatar is painted on: colours, art styles and an SVG canvas.

Portraits and the classic defaults share it, so both write SVG the same way: numbers at fixed
precision (the same text in every process, hence the same pixels), shapes merged by paint to
keep the renderer's per-element cost down, and an art style's palette applied in one place
rather than by every drawing.
"""

from __future__ import annotations

import colorsys
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

RGB = tuple[float, float, float]
Point = tuple[float, float]
VIEW = 512   # every drawing is laid out on a VIEW×VIEW canvas, whatever size it is rendered at


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


def svg_number(v: float) -> str:
    """A coordinate or length for SVG text, at the same fixed precision as path data."""
    return f"{v:.1f}"


def path_data(*parts: str | Point) -> str:
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


def _rect_path(x: float, y: float, w: float, h: float) -> str:
    """A rectangle as path data, clockwise, so it can merge with other shapes of the same paint."""
    return f"M{x:.1f},{y:.1f}h{w:.1f}v{h:.1f}h{-w:.1f}Z"


def ellipse_path(x: float, y: float, rx: float, ry: float) -> str:
    """An ellipse as two clockwise arcs of path data, so it can merge with other shapes or serve as a clip."""
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
        return f' stroke="{self.style.outline}" stroke-width="{svg_number(weight * self.style.outline_width)}"'

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
            self.path(_rect_path(x, y, w, h), colour, shade, outline, opacity)
            return
        alpha = f' fill-opacity="{opacity:.2f}"' if opacity < 1 else ""
        self.add(f'<rect x="{svg_number(x)}" y="{svg_number(y)}" width="{svg_number(w)}" height="{svg_number(h)}" '
                 f'rx="{svg_number(rx)}" fill="{self.fill(colour, shade)}"{alpha}{self.outline(outline)}/>')

    def circle(self, x: float, y: float, r: float, colour: RGB, shade: float = 0.0, outline: float = 0.0,
               opacity: float = 1.0) -> None:
        if r * self.scale * min(1.0, 2 * opacity) < 0.3:
            return
        self.path(ellipse_path(x, y, r, r), colour, shade, outline, opacity)

    def ellipse(self, x: float, y: float, rx: float, ry: float, colour: RGB, shade: float = 0.0,
                outline: float = 0.0, opacity: float = 1.0) -> None:
        self.path(ellipse_path(x, y, rx, ry), colour, shade, outline, opacity)

    def line(self, d: str, colour: RGB, width: float, opacity: float = 1.0, dash: str = "") -> None:
        """A stroke with no fill, skipped when it would be too thin to see at this size."""
        if width * self.scale * min(1.0, 2 * opacity) < 0.35:
            return
        extra = f' stroke-opacity="{opacity:.2f}"' if opacity < 1 else ""
        extra += f' stroke-dasharray="{dash}"' if dash else ""
        self._emit(d, f'fill="none" stroke="{self.col(colour)}" stroke-width="{svg_number(width)}"{extra}')

    def svg(self) -> str:
        """The finished document; pixel art asks the renderer for hard edges."""
        crisp = ' shape-rendering="crispEdges"' if self.style.pixels else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{VIEW}" height="{VIEW}" viewBox="0 0 {VIEW} {VIEW}"'
                f' stroke-linecap="round" stroke-linejoin="round"{crisp}>'
                f'<defs>{"".join(self.defs)}</defs>{"".join(self.parts)}</svg>')
