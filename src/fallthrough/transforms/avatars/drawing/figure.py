"""Who is drawn: proportions by age and sex, and the landmarks of head and body that every part lines up on."""

from __future__ import annotations

from dataclasses import dataclass

from ..prompt import Portrait
from .canvas import RGB, Canvas, Style, darker, path_data
from .palette import CLOTH, EYES, HAIR, SKIN


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
    return path_data("M", (cx, cy - h), "C", (cx + k * w, cy - h), (cx + w, cy - k * h), (cx + w, cy - 0.05 * h),
                     "C", (cx + w, cy + 0.5 * h), (cx + f.jaw * w, cy + h), (cx, cy + h),
                     "C", (cx - f.jaw * w, cy + h), (cx - w, cy + 0.5 * h), (cx - w, cy - 0.05 * h),
                     "C", (cx - w, cy - k * h), (cx - k * w, cy - h), (cx, cy - h), "Z")


def draw_neck(c: Canvas, f: Figure) -> None:
    """The neck, a shade darker than the face, as the chin shadows it."""
    shadow = darker(f.skin, 0.12)
    c.rect(f.cx - f.neck_w, f.cy + f.h * 0.4, f.neck_w * 2, f.shoulder_y - f.cy - f.h * 0.4 + 30, shadow, shade=1,
           outline=1)


def draw_ears(c: Canvas, f: Figure) -> None:
    """Ears sit behind the face outline and under long hair, so they are drawn before both."""
    with c.batch():
        for side in (-1, 1):
            x = f.cx + side * (f.w - 2)
            c.ellipse(x, f.eye_y + 10, 13, 21, f.skin, shade=1, outline=1)
            c.line(path_data("M", (x + side * 4, f.eye_y), "Q", (x + side * 8, f.eye_y + 12),
                             (x + side * 2, f.eye_y + 22)), darker(f.skin, 0.25), 2.5, opacity=0.6)
