"""The hair styles, each as up to three layers: behind the head, over the shoulders, and over the skull.

The layers are drawn at different points in the figure (see `picture`), so long hair can fall
behind the shoulders and in front of them while the fringe still covers the forehead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .canvas import RGB, Canvas, darker, mix, path_data
from .figure import Figure
from .hair_shapes import (braids, cap, crest, curls, dome, drape_locks, flicked_back, line_arch, line_bangs, line_part,
                          line_points, line_sweep, long_back, spikes, strands)


@dataclass(frozen=True, slots=True)
class Hair:
    """One head of hair being drawn: what every layer of every hair style needs."""

    c: Canvas
    f: Figure
    colour: RGB
    hat: bool       # a hat flattens whatever would stand up above the head
    accent: RGB     # ties and bands


def _back_long(hr: Hair) -> None:
    long_back(hr.c, hr.f, hr.colour, 470, 22)


def _back_wavy(hr: Hair) -> None:
    long_back(hr.c, hr.f, hr.colour, 430, 28, wave=18)


def _back_shoulder(hr: Hair) -> None:
    flicked_back(hr.c, hr.f, hr.colour, hr.f.cy + hr.f.h + 30, 22)


def _back_bob(hr: Hair) -> None:
    """A helmet of hair cut level with the jaw."""
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    d = path_data("M", (cx - w - 24, cy - 0.1 * h), "C", (cx - w - 24, cy - 1.3 * h), (cx + w + 24, cy - 1.3 * h),
                  (cx + w + 24, cy - 0.1 * h), "L", (cx + w + 20, cy + 0.72 * h), "Q", (cx + w + 18, cy + 0.84 * h),
                  (cx + w - 2, cy + 0.84 * h), "L", (cx - w + 2, cy + 0.84 * h), "Q", (cx - w - 18, cy + 0.84 * h),
                  (cx - w - 20, cy + 0.72 * h), "Z")
    hr.c.path(d, darker(hr.colour, 0.06), shade=1.2, outline=1)


def _back_curly(hr: Hair) -> None:
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    hr.c.ellipse(cx, cy - 0.2 * h, w + 26, h + 14, darker(hr.colour, 0.1), shade=1)
    curls(hr.c, hr.f, darker(hr.colour, 0.05), w + 24, h * 0.9, cy - 0.15 * h, 140, 400, 24, 15)
    curls(hr.c, hr.f, darker(hr.colour, 0.05), w + 22, h * 0.5, cy + 0.25 * h, 160, 20, 22, 2)


def _back_afro(hr: Hair) -> None:
    cx, cy, w, h = hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    hr.c.ellipse(cx, cy - 0.35 * h, w + 58, h + 34, darker(hr.colour, 0.08), shade=1.2, outline=1)
    curls(hr.c, hr.f, darker(hr.colour, 0.08), w + 56, h + 32, cy - 0.35 * h, 150, 390, 26, 16)


def _back_ponytail(hr: Hair) -> None:
    """The tail swings out to one side, where a front view can show it."""
    c, cx, cy, w, h = hr.c, hr.f.cx, hr.f.cy, hr.f.w, hr.f.h
    d = path_data("M", (cx + 0.3 * w, cy - h), "C", (cx + w + 80, cy - 1.1 * h), (cx + w + 74, cy + 0.3 * h),
                  (cx + w + 40, cy + 1.15 * h), "C", (cx + w + 30, cy + 0.7 * h), (cx + w + 6, cy + 0.1 * h),
                  (cx + 0.6 * w, cy - 0.55 * h), "Z")
    c.path(d, hr.colour, shade=1.2, outline=1)
    for dx in (16.0, 30.0):
        c.line(path_data("M", (cx + w + dx - 10, cy - 0.5 * h), "Q", (cx + w + dx + 22, cy + 0.3 * h),
                         (cx + w + 36, cy + 1.05 * h)), darker(hr.colour, 0.3), 2, opacity=0.5)
    c.ellipse(cx + w + 4, cy - 0.78 * h, 9, 13, hr.accent, outline=1)


def _back_bun(hr: Hair) -> None:
    if hr.hat:
        return
    c, f = hr.c, hr.f
    c.circle(f.cx, f.top - 16, f.w * 0.42, hr.colour, shade=1.2, outline=1)
    c.line(path_data("M", (f.cx - f.w * 0.25, f.top - 20), "Q", (f.cx, f.top), (f.cx + f.w * 0.25, f.top - 24)),
           darker(hr.colour, 0.3), 2.5, opacity=0.5)


def _back_braided(hr: Hair) -> None:
    long_back(hr.c, hr.f, hr.colour, hr.f.cy + hr.f.h * 0.6, 12)


def _drape_long(hr: Hair) -> None:
    drape_locks(hr.c, hr.f, hr.colour, 468)


def _drape_wavy(hr: Hair) -> None:
    drape_locks(hr.c, hr.f, hr.colour, 440, wave=14)


def _drape_braids(hr: Hair) -> None:
    braids(hr.c, hr.f, hr.colour, hr.accent)


def _front_short(hr: Hair) -> None:
    """A short, slightly messy fringe."""
    drop = -0.1 * hr.f.h
    cap(hr.c, hr.f, hr.colour, dome(hr.f, 12, drop),
        line_points(hr.f, drop, [(0.6, 0.45), (0.4, 0.62), (0.2, 0.48), (0.0, 0.64), (-0.22, 0.5), (-0.42, 0.66),
                                 (-0.65, 0.52)]))


def _front_parted(hr: Hair) -> None:
    f = hr.f
    cap(hr.c, f, hr.colour, dome(f, 12, 0.3 * f.h), line_part(f, 0.3 * f.h, 0.8))
    strands(hr.c, f, hr.colour, (-0.5, -0.25, 0.25, 0.5), f.top, f.cy - 0.5 * f.h)


def _front_wavy(hr: Hair) -> None:
    f = hr.f
    cap(hr.c, f, hr.colour, dome(f, 16, 0.3 * f.h), line_sweep(f, 0.3 * f.h, 0.3))
    strands(hr.c, f, hr.colour, (-0.4, 0.0, 0.4), f.top, f.cy - 0.5 * f.h)


def _front_shoulder(hr: Hair) -> None:
    cap(hr.c, hr.f, hr.colour, dome(hr.f, 14, 0.3 * hr.f.h), line_sweep(hr.f, 0.3 * hr.f.h, 0.42))


def _front_bob(hr: Hair) -> None:
    f = hr.f
    cap(hr.c, f, hr.colour, dome(f, 20, 0.5 * f.h), line_bangs(f, 0.5 * f.h))
    strands(hr.c, f, hr.colour, (-0.6, -0.3, 0.0, 0.3, 0.6), f.top, f.brow_y - 14)


def _close_cap(hr: Hair, rise: float, drop: float, hairline: float, stubble: float = 0.0) -> None:
    """Hair lying close to the skull down to a rounded hairline: the cap most short styles share.

    `rise` is how far the hair stands off the skull; `drop` (how far down the sides it comes) and
    `hairline` (how high the forehead is bared) are fractions of the head's half-height from its
    centre; `stubble` thins the colour toward the skin, for hair cut too short to hide it.
    """
    f = hr.f
    colour = mix(hr.colour, f.skin, stubble) if stubble else hr.colour
    cap(hr.c, f, colour, dome(f, rise, drop * f.h), line_arch(f, drop * f.h, f.cy - hairline * f.h))


def _front_buzz(hr: Hair) -> None:
    """Stubble over the skull: the hair colour thinned by the skin showing through."""
    _close_cap(hr, 3, -0.25, 0.66, stubble=0.45)


def _front_cropped(hr: Hair) -> None:
    _close_cap(hr, 7, -0.05, 0.62)


def _front_curly(hr: Hair) -> None:
    f = hr.f
    _close_cap(hr, 16, -0.05, 0.6)
    curls(hr.c, f, hr.colour, f.w * 0.8, f.h * 0.4, f.cy - 0.32 * f.h, 200, 340, 17, 7)


def _front_afro(hr: Hair) -> None:
    _close_cap(hr, 18, -0.05, 0.58)


def _front_pulled_back(hr: Hair) -> None:
    """Hair drawn back from the face into a ponytail or a bun."""
    f = hr.f
    _close_cap(hr, 6, -0.1, 0.64)
    strands(hr.c, f, hr.colour, (-0.4, 0.0, 0.4), f.top, f.cy - 0.7 * f.h)


def _front_spiky(hr: Hair) -> None:
    spikes(hr.c, hr.f, hr.colour, hr.hat)


def _front_pixie(hr: Hair) -> None:
    """Short at the sides with long pointed bangs."""
    drop = -0.12 * hr.f.h
    cap(hr.c, hr.f, hr.colour, dome(hr.f, 9, drop, left_e=14),
        line_points(hr.f, drop, [(0.55, 0.3), (0.35, 0.56), (0.1, 0.36), (-0.1, 0.62), (-0.35, 0.46), (-0.5, 0.7)]))


def _front_side_parted(hr: Hair) -> None:
    """Swept over from a parting on one side, with the parting drawn in."""
    c, f = hr.c, hr.f
    cx, cy, w, h = f.cx, f.cy, f.w, f.h
    cap(c, f, hr.colour, dome(f, 10, -0.05 * h, left_e=16), line_sweep(f, -0.05 * h, 0.52))
    c.line(path_data("M", (cx - 0.42 * w, cy - h - 6), "Q", (cx - 0.46 * w, cy - 0.9 * h),
                     (cx - 0.52 * w, cy - 0.74 * h)), darker(hr.colour, 0.4), 3, opacity=0.7)
    strands(c, f, hr.colour, (-0.1, 0.2, 0.5), cy - h, cy - 0.5 * h)


def _front_mohawk(hr: Hair) -> None:
    """A crest standing up from a shaved head."""
    _close_cap(hr, 2, -0.25, 0.66, stubble=0.6)
    crest(hr.c, hr.f, hr.colour, 30 if hr.hat else 80)


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
