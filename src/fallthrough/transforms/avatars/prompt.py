"""An avatar hash → a prompt and a seed, the same for every hash, always.

The hash (32 hex digits of MD5 or 64 of SHA-256, any case) is read as bytes; its first
16 bytes decide everything, so an MD5 and the first half of a SHA-256 are read alike.
Byte i picks attribute i from its table by `byte % len(table)`; every table has a
power-of-two length, so each choice is equally likely. Bytes 12–15 are the seed:
big-endian, the top bit cleared, so it fits every renderer (signed 32-bit included).

    byte  attribute      table
    0     who            WHO
    1     hair colour    HAIR_COLOURS
    2     hair style     HAIR_STYLES
    3     eye colour     EYE_COLOURS
    4     skin tone      SKIN_TONES
    5     clothing       CLOTHING
    6     its colour     CLOTHING_COLOURS
    7     expression     EXPRESSIONS
    8     setting        SETTINGS
    9     time of day    TIMES_OF_DAY
    10    art style      ART_STYLES
    11    accessory      ACCESSORIES
    12–15 seed

Changing a table changes every avatar: the tables are part of the renderers' versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TABLE_VERSION = "1"

WHO = ("woman", "man", "girl", "boy", "old woman", "old man", "young woman", "young man")
HAIR_COLOURS = ("black", "dark brown", "chestnut", "auburn", "ginger", "golden blonde", "platinum blonde", "silver",
                "white", "blue", "pink", "teal", "purple", "light brown", "strawberry blonde", "dark red")
HAIR_STYLES = ("short", "long straight", "curly", "wavy", "bob-cut", "buzz-cut", "ponytail", "bun", "braided",
               "afro", "spiky", "shoulder-length", "pixie-cut", "side-parted", "mohawk", "close-cropped")
EYE_COLOURS = ("brown", "dark brown", "hazel", "green", "blue", "grey", "amber", "light blue")
SKIN_TONES = ("very light", "light", "fair", "medium", "olive", "tan", "brown", "dark brown")
CLOTHING = ("t-shirt", "hoodie", "suit jacket", "knitted sweater", "denim jacket", "button-up shirt",
            "leather jacket", "turtleneck")
CLOTHING_COLOURS = ("red", "orange", "yellow", "green", "teal", "blue", "navy", "purple", "pink", "white", "grey",
                    "black", "brown", "olive", "maroon", "cream")
EXPRESSIONS = ("smiling", "serious", "laughing", "calm", "surprised", "thoughtful", "cheerful", "determined")
SETTINGS = ("city street", "forest", "beach", "mountain meadow", "library", "cafe", "garden", "desert",
            "snowy village", "harbour", "rooftop", "art studio", "train station", "lake shore", "market", "park")
TIMES_OF_DAY = ("dawn", "morning", "noon", "afternoon", "golden hour", "dusk", "night", "overcast day")
ART_STYLES = ("watercolor painting", "oil painting", "flat vector illustration", "pixel art", "anime illustration",
              "pencil sketch", "3d render", "studio photograph")
ACCESSORIES = ("no accessories", "glasses", "round glasses", "earrings", "a hat", "a scarf", "headphones", "freckles")

NEGATIVE_PROMPT = ("blurry, deformed, disfigured, extra limbs, extra fingers, bad anatomy, text, watermark, "
                   "signature, cropped, low quality")
_HASH = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")
SEED_MASK = 0x7FFF_FFFF


class BadHash(ValueError):
    """Not 32 or 64 hexadecimal digits."""


def normal_hash(text: str) -> str:
    """The hash in lower case; BadHash for anything but 32 or 64 hex digits."""
    value = text.strip().lower()
    if not _HASH.fullmatch(value):
        raise BadHash("an avatar hash is 32 (MD5) or 64 (SHA-256) hexadecimal digits")
    return value


@dataclass(frozen=True, slots=True)
class Portrait:
    """What a hash says a portrait shows; renderers draw from these fields."""

    who: str
    hair_colour: str
    hair_style: str
    eye_colour: str
    skin_tone: str
    clothing: str
    clothing_colour: str
    expression: str
    setting: str
    time_of_day: str
    art_style: str
    accessory: str
    seed: int

    @property
    def prompt(self) -> str:
        wearing = f"wearing {_a(self.clothing_colour)} {self.clothing}"
        extra = "" if self.accessory == "no accessories" else f", with {self.accessory}"
        return (f"head and shoulders portrait of {_a(self.who)} with {self.hair_colour} {self.hair_style} hair, "
                f"{self.eye_colour} eyes and {self.skin_tone} skin, {wearing}{extra}, {self.expression}, "
                f"in {_a(self.setting)} at {self.time_of_day}, {self.art_style}, centered, detailed face")

    @property
    def negative_prompt(self) -> str:
        return NEGATIVE_PROMPT


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


TABLES = (WHO, HAIR_COLOURS, HAIR_STYLES, EYE_COLOURS, SKIN_TONES, CLOTHING, CLOTHING_COLOURS, EXPRESSIONS,
          SETTINGS, TIMES_OF_DAY, ART_STYLES, ACCESSORIES)


def portrait(avatar_hash: str) -> Portrait:
    raw = bytes.fromhex(normal_hash(avatar_hash))[:16]
    choices = [table[raw[i] % len(table)] for i, table in enumerate(TABLES)]
    seed = int.from_bytes(raw[12:16], "big") & SEED_MASK
    return Portrait(*choices, seed=seed)
