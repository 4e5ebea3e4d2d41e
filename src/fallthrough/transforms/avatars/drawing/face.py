"""Expressions and the features that carry them: eyes, brows, nose, mouth, and beard and age lines."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ..prompt import Portrait
from .canvas import RGB, WHITE, Canvas, Point, darker, ellipse_path, mix, path_data
from .figure import Figure, face_path


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
    whites = "".join(ellipse_path(x, y, f.eye_rx, ry) for x in xs)
    c.defs.append(f'<clipPath id="eyes"><path d="{whites}"/></clipPath>')
    c.path(whites, (251, 250, 246))
    ring = f' stroke="{c.col(darker(f.eyes, 0.4))}" stroke-width="2"' if c.style.shade else ""
    irises = "".join(ellipse_path(x + mood.gaze[0], y + mood.gaze[1], iris_r, iris_r) for x in xs)
    pupils = "".join(ellipse_path(x + mood.gaze[0], y + mood.gaze[1], iris_r * 0.45, iris_r * 0.45) for x in xs)
    c.add(f'<g clip-path="url(#eyes)"><path d="{irises}" fill="{c.col(f.eyes)}"{ring}/>'
          f'<path d="{pupils}" fill="{c.col((20, 18, 20))}"/></g>')
    with c.batch():
        for side, x in zip((-1, 1), xs):
            ix, iy = x + mood.gaze[0], y + mood.gaze[1]
            c.circle(ix - iris_r * 0.35, iy - iris_r * 0.4, iris_r * 0.28, WHITE)
            c.line(path_data("M", (x - f.eye_rx - 1, y + 1), "Q", (x, y - ry * 2.05), (x + f.eye_rx + 1, y + 1)), lid,
                   3.2)
            if f.build.female:
                ox = x + side * f.eye_rx
                c.line(path_data("M", (ox - side * 3, y - ry * 0.5), "L", (ox + side * 5, y - ry * 0.9)), lid, 2.5)
            if mood.mouth == "laugh":
                c.line(path_data("M", (x - f.eye_rx, y + ry + 4), "Q", (x, y + ry - 3), (x + f.eye_rx, y + ry + 4)),
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
            c.line(path_data("M", inner, "Q", ctrl, outer), colour, width)


def _nose(c: Canvas, f: Figure) -> None:
    """Only the tip and one side's shadow: enough to read as a nose at any size."""
    shade = darker(f.skin, 0.3)
    k = 0.8 if f.build.child else 1.0
    c.line(path_data("M", (f.cx - 8 * k, f.nose_y), "Q", (f.cx, f.nose_y + 7 * k), (f.cx + 8 * k, f.nose_y)), shade, 3,
           opacity=0.7)
    if not f.build.child:
        c.line(path_data("M", (f.cx + 5, f.eye_y + 8), "Q", (f.cx + 10, f.nose_y - 12), (f.cx + 8, f.nose_y - 4)),
               shade, 2.5, opacity=0.35)


def _mouth(c: Canvas, f: Figure, mood: Mood) -> None:
    """A mouth shape per expression, lips tinted on women."""
    x, y = f.cx, f.mouth_y
    mw = f.w * 0.3
    lips = mix(f.skin, (196, 70, 86), 0.5) if f.build.female else darker(mix(f.skin, (170, 70, 70), 0.25), 0.3)
    inside, teeth = (92, 30, 36), (250, 250, 246)
    kind = mood.mouth
    if kind in ("smile", "soft"):
        depth = 14 if kind == "smile" else 7
        c.line(path_data("M", (x - mw, y), "Q", (x, y + depth * 2), (x + mw, y)), lips, 4.5)
    elif kind == "line":
        c.line(path_data("M", (x - mw * 0.8, y + 5), "Q", (x, y + 7), (x + mw * 0.8, y + 5)), lips, 4.5)
    elif kind == "firm":
        c.line(path_data("M", (x - mw * 0.85, y + 8), "Q", (x, y + 1), (x + mw * 0.85, y + 8)), lips, 5)
    elif kind == "smirk":
        c.line(path_data("M", (x - mw * 0.7, y + 7), "Q", (x + mw * 0.1, y + 9), (x + mw * 0.8, y - 1)), lips, 4.5)
    elif kind == "o":
        c.ellipse(x, y + 6, 10, 13, inside, outline=1)
        c.line(path_data("M", (x - 10, y + 6), "A", (10, 13), "0 1 1", (x - 10, y + 6.1)), lips, 3)
    elif kind in ("laugh", "grin"):
        depth = 34 if kind == "laugh" else 24
        wide = mw * (1.1 if kind == "laugh" else 1.05)
        d = path_data("M", (x - wide, y - 2), "Q", (x, y + 4), (x + wide, y - 2), "Q", (x + wide * 0.8, y + depth),
                      (x, y + depth), "Q", (x - wide * 0.8, y + depth), (x - wide, y - 2), "Z")
        c.path(d, inside, outline=1)
        c.path(path_data("M", (x - wide * 0.86, y), "Q", (x, y + 5), (x + wide * 0.86, y),
                         "L", (x + wide * 0.74, y + 8), "Q", (x, y + 12), (x - wide * 0.74, y + 8), "Z"), teeth)
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
        c.path(path_data("M", (cx - 0.34 * w, f.mouth_y + 2), "Q", (cx - 0.3 * w, f.mouth_y - 14), (cx, f.mouth_y - 10),
                         "Q", (cx + 0.3 * w, f.mouth_y - 14), (cx + 0.34 * w, f.mouth_y + 2), "Q", (cx, f.mouth_y - 4),
                         (cx - 0.34 * w, f.mouth_y + 2), "Z"), colour, outline=0.6)
        return
    top = cy + 0.22 * h
    lip = f.nose_y + 12
    d = path_data("M", (cx - w + 2, top),
                  "C", (cx - w + 2, cy + 0.6 * h), (cx - f.jaw * w, cy + h + 12), (cx, cy + h + 12),
                  "C", (cx + f.jaw * w, cy + h + 12), (cx + w - 2, cy + 0.6 * h), (cx + w - 2, top),
                  "L", (cx + w - 10, top),
                  "C", (cx + w - 14, cy + 0.5 * h), (cx + 0.45 * w, lip + 2), (cx + 0.3 * w, lip),
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
            c.line(path_data("M", (f.cx - 0.4 * f.w, y + 2), "Q", (f.cx, y - 4), (f.cx + 0.4 * f.w, y + 2)), line, 2.6,
                   opacity=0.55)
        for side in (-1, 1):
            x = f.cx + side * (f.eye_dx + f.eye_rx + 4)
            for dy in (-5.0, 2.0, 9.0):
                c.line(path_data("M", (x, f.eye_y + dy * 0.4), "l", (side * 8, dy)), line, 1.8, opacity=0.5)
            c.line(path_data("M", (f.cx + side * 16, f.nose_y - 6), "Q", (f.cx + side * 30, f.nose_y + 16),
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


def draw_face(c: Canvas, f: Figure, p: Portrait, rng: random.Random) -> None:
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
