"""Which image format a client gets, from its Accept header (RFC 9110 §12.5.1).

Modern formats go only to clients that name them: `*/*` and `image/*` come from clients
of every age, and an old one that sent them could not decode AVIF. The classic formats
are acceptable by wildcard too. AVIF, WebP and the source's own format compete: the
highest q-value wins, and a tie goes to the smaller format (AVIF, then WebP, then the
source's). Only when all three are excluded do PNG, JPEG and GIF stand in, again by
q-value. `q=0` excludes. A client that accepts none of them gets the source's
format anyway (RFC 9110 lets a server ignore Accept rather than answer 406).
"""

from __future__ import annotations

from functools import lru_cache

# Format name → its media type, for every format the transforms write.
MEDIA_TYPES = {
    "avif": "image/avif",
    "webp": "image/webp",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
}
MODERN = ("avif", "webp")
CLASSIC = ("png", "jpeg", "gif")
# File name extensions → format (what a source's name says it holds).
EXTENSIONS = {"avif": "avif", "webp": "webp", "png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif"}


def format_of_name(name: str, fallback: str = "png") -> str:
    """The format a file name's extension says; `fallback` for names without a known one."""
    _, dot, extension = name.rpartition(".")
    return EXTENSIONS.get(extension.lower(), fallback) if dot else fallback


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 1.0  # a malformed weight is ignored, as if absent
            return min(max(q, 0.0), 1.0) if q == q else 1.0  # NaN is malformed too
    return 1.0


def _weights(accept: str) -> tuple[dict[str, float], float | None, float | None]:
    """Explicit media types with their q, and the q of `image/*` and of `*/*` if present.
    The most specific range decides (RFC 9110 §12.5.1), so repeats keep the first."""
    explicit: dict[str, float] = {}
    image_any: float | None = None
    any_any: float | None = None
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        if not media:
            continue
        q = _q(params)
        if media == "*/*":
            any_any = q if any_any is None else any_any
        elif media == "image/*":
            image_any = q if image_any is None else image_any
        else:
            explicit.setdefault(media, q)
    return explicit, image_any, any_any


@lru_cache(maxsize=1024)
def negotiate(accept: str | None, source: str, allowed: tuple[str, ...] = tuple(MEDIA_TYPES)) -> str:
    """The format to send: one of `allowed` (the route's formats, a subset of MEDIA_TYPES).
    `source` is the source's own format; it is the answer when nothing else applies."""
    if accept is None or not accept.strip():
        accept = "*/*"  # no Accept: anything is acceptable (RFC 9110 §12.5.1)
    explicit, image_any, any_any = _weights(accept)
    wildcard = image_any if image_any is not None else any_any

    def weight(name: str) -> float:
        q = explicit.get(MEDIA_TYPES[name])
        return (q if q is not None else 0.0 if name in MODERN else wildcard or 0.0) if name in allowed else 0.0

    # The source's own format competes with the modern ones; the other classic formats
    # only stand in when the source's is excluded (a photo should not become a PNG
    # because a client listed image/png first).
    for candidates in ((*MODERN, source), CLASSIC):
        best, chosen = 0.0, None
        for name in candidates:
            q = weight(name) if name in MEDIA_TYPES else 0.0
            if q > best:
                best, chosen = q, name
        if chosen is not None:
            return chosen
    for name in (source, "png", "jpeg"):
        if name in allowed and name in MEDIA_TYPES:
            return name
    return allowed[0]
