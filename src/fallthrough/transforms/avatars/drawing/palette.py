"""The colours a portrait's attributes name, in one table that drawings and tests both read."""

from __future__ import annotations

from ..prompt import Portrait
from .canvas import RGB, rgb


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


def accent(p: Portrait, avoid: RGB, shift: int) -> RGB:
    """An accent colour from the seed that never matches the clothes it sits on."""
    choices = [a for a in ACCENTS if sum(abs(x - y) for x, y in zip(a, avoid)) > 90]
    return choices[(p.seed >> shift) % len(choices)]
