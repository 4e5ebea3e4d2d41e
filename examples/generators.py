"""An example generator: any deterministic function from a key to bytes can be an origin.

    [[mount]]
    url_prefix = "/badge"
    origin = "generator:generators:badge"      # this module on PYTHONPATH, its `badge` function

`GET /badge/passing?color=green` calls `badge("passing", {"color": "green"})` once; every
later request for the same key and parameters is a cache hit.
"""

from __future__ import annotations

from html import escape

COLORS = {"green": "#3c1", "red": "#e43", "grey": "#999"}


def badge(key: str, params: dict[str, str]) -> tuple[bytes, str]:
    """An SVG badge saying `key`, in the colour `?color=` names."""
    if not key or len(key) > 40:
        raise LookupError("a badge says 1 to 40 characters")
    color = params.get("color", "grey")
    if color not in COLORS:
        raise ValueError(f"color: one of {', '.join(COLORS)}")
    width = 12 + 7 * len(key)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20">'
           f'<rect width="{width}" height="20" rx="3" fill="{COLORS[color]}"/>'
           f'<text x="6" y="14" fill="#fff" font-family="sans-serif" font-size="11">{escape(key)}</text></svg>')
    return svg.encode(), "image/svg+xml"


badge.version = "1"  # bump when the output changes: it is part of every ETag
