"""Image route templates: `/sticker/{character}/{mood}/{size}` and the source they name.

Kept apart from the image code so that the configuration can check a template without
loading the image library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Placeholders with a meaning of their own; every other one names part of the source.
SIZE, FORMAT = "size", "format"


class RouteTemplate:
    """`/sticker/{character}/{mood}/{size}` → the mount prefix `/sticker`, a pattern for
    the rest, and the source path made from the same placeholders."""

    def __init__(self, route: str, source: str) -> None:
        first = route.find("{")
        prefix = route[:first].rsplit("/", 1)[0] if first >= 0 else route
        if first < 0 or not prefix or "{" in prefix:
            raise ValueError("needs a literal first segment and placeholders after it, such as '/sticker/{name}/{size}'")
        names = _PLACEHOLDER.findall(route)
        if len(set(names)) != len(names):
            raise ValueError("a placeholder appears twice")
        if SIZE not in names:
            raise ValueError("needs a {size} placeholder")
        if _PLACEHOLDER.sub("", route).count("{") or _PLACEHOLDER.sub("", route).count("}"):
            raise ValueError("braces must hold a placeholder name such as {name}")
        unknown = set(_PLACEHOLDER.findall(source)) - set(names) - {SIZE, FORMAT}
        if unknown:
            raise ValueError(f"the source uses {{{sorted(unknown)[0]}}}, which the route does not have")
        if {SIZE, FORMAT} & set(_PLACEHOLDER.findall(source)):
            raise ValueError("the source cannot use {size} or {format}: they name the variant")
        if not source.startswith("/"):
            raise ValueError("the source must be a path on this server, beginning with '/'")
        self.route = route
        self.prefix = prefix
        self.source = source
        pattern = ""
        position = len(prefix)
        for match in _PLACEHOLDER.finditer(route):
            pattern += re.escape(route[position:match.start()])
            name = match.group(1)
            pattern += {SIZE: r"(?P<size>[0-9]{1,6})", FORMAT: r"(?P<format>[A-Za-z]{3,4})"}.get(
                name, rf"(?P<{name}>[^/]+)")
            position = match.end()
        pattern += re.escape(route[position:])
        self.pattern = re.compile(pattern)

    def match(self, rest: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(rest)
        return found.groupdict() if found else None

    def source_path(self, values: Mapping[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.source)
