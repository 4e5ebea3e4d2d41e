"""An avatar request as clients write it, `/{hash}[.jpg|.png|.webp]?s=&d=&f=&r=`, read
the way a Gravatar-compatible service reads it, and written back as one canonical query.

    s, size          1 to 2048 pixels, default 80
    d, default       404, mp (also mm, mystery), identicon, monsterid, wavatar, retro,
                     robohash, blank, or an http(s) URL of an image
    f, forcedefault  y: the default instead of the avatar
    r, rating        g, pg, r or x; every generated avatar is rated g, so it passes each

Client mistakes are refused with a 4xx that says what was wrong; parameters this service
does not know (cache busters, say) are ignored, as such services do. The canonical query
names exactly what will be drawn, so `?size=80` and `?s=80` are one cache entry, and a
`d` that cannot change the answer is left out of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from ..derived import BadTransform
from .prompt import BadHash, normal_hash

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 1, 2048, 80
EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
KEYWORDS = ("404", "mp", "identicon", "monsterid", "wavatar", "retro", "robohash", "blank")
_KEYWORD_ALIASES = {"mm": "mp", "mystery": "mp"}
RATINGS = ("g", "pg", "r", "x")
_YES, _NO = ("y", "yes", "true", "1"), ("n", "no", "false", "0", "")
# Each parameter and its long name.
_NAMES = {"s": "size", "d": "default", "f": "forcedefault", "r": "rating"}


@dataclass(frozen=True, slots=True)
class AvatarRequest:
    hash: str  # lower case
    size: int
    format: str | None  # from the extension; None: the drawing's own (see service)
    default: str | None = None  # a keyword or a URL
    forced: bool = False

    def query(self) -> str:
        """The canonical query: part of the cache key, and all the origin reads."""
        params = [("h", self.hash), ("s", str(self.size))]
        if self.format is not None:
            params.append(("fmt", self.format))
        if self.default is not None:
            params.append(("d", self.default))
        if self.forced:
            params.append(("f", "y"))
        return urlencode(params)


def _params(query: str) -> dict[str, str]:
    """Each known parameter once, under its short name; unknown ones dropped."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        short = name if name in _NAMES else next((s for s, long in _NAMES.items() if long == name), None)
        if short is None:
            continue
        if short in params:
            raise BadTransform(400, f"{short} ({_NAMES[short]}) is given twice")
        params[short] = value
    return params


def _path(rest: str) -> tuple[str, str | None]:
    name = rest.removeprefix("/")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    fmt = EXTENSIONS.get(extension.lower()) if dot else None
    if dot and fmt is None:
        raise BadTransform(404, f"no .{extension} avatars here: ask for .jpg, .png or .webp, or no extension")
    try:
        return normal_hash(stem), fmt
    except BadHash as exc:
        raise BadTransform(404, f"no avatar at {name!r}: {exc}") from None


def _size(value: str | None) -> int:
    if value is None:
        return DEFAULT_SIZE
    if not value.isascii() or not value.isdigit() or len(value) > 5 or not MIN_SIZE <= int(value) <= MAX_SIZE:
        raise BadTransform(400, f"s={value!r}: a size is a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}")
    return int(value)


def _choice(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in allowed:
        raise BadTransform(400, f"{name}={value!r}: expected one of {', '.join(a or repr(a) for a in allowed)}")
    return lowered


def parse(rest: str, query: str, check_url: Callable[[str], str]) -> AvatarRequest:
    """The request at `rest` (below the mount) with `query`. `check_url` vets a default
    URL before anything is fetched: it returns the URL to use, or raises ValueError with
    the reason (the URL is not http(s), its host is not allowed, ...)."""
    avatar_hash, fmt = _path(rest)
    params = _params(query)
    size = _size(params.get("s"))
    forced = _choice(params, "f", _YES + _NO) in _YES
    _choice(params, "r", RATINGS)  # checked only: a generated avatar is fit for every rating
    default = params.get("d")
    if default is not None:
        keyword = _KEYWORD_ALIASES.get(default.lower(), default.lower())
        if keyword in KEYWORDS:
            default = keyword
        elif default == "":
            default = None
        elif default.lower().startswith(("http://", "https://")):
            try:
                default = check_url(default)
            except ValueError as exc:
                if forced:  # asked for explicitly: say why it cannot be had
                    raise BadTransform(400, f"d: {exc}") from None
                default = None  # only a fallback: the avatar itself is served, as without d
        else:
            raise BadTransform(400, f"d={default!r}: expected one of {', '.join(KEYWORDS)} or an http(s) URL")
    return AvatarRequest(avatar_hash, size, fmt, default, forced)


def parse_canonical(query: str) -> AvatarRequest:
    """The origin's side: a query as `AvatarRequest.query` writes it (the edge made it)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    try:
        size = int(params["s"])
        fmt = params.get("fmt")
        if fmt is not None and fmt not in MEDIA_TYPES:
            raise ValueError(fmt)
        return AvatarRequest(normal_hash(params["h"]), size, fmt, params.get("d"), params.get("f") == "y")
    except (KeyError, ValueError):
        raise BadTransform(400, "not an avatar request") from None
