"""Mounts: URL prefixes bound to origins, and the keys of what they serve."""

from __future__ import annotations

from urllib.parse import quote

from ..config import MountSettings
from ..origins import Origin, open_origin

# Characters an origin path keeps as they are (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class Mount:
    def __init__(self, settings: MountSettings, origin: Origin) -> None:
        self.settings = settings
        self.prefix = settings.url_prefix
        self.origin = origin
        self.policy = settings.policy
        # A bucket answers by key alone: a query string would only split its cache.
        self.uses_query = settings.origin.lower().startswith(("http://", "https://"))

    def key(self, rest: str, query: str) -> str:
        base = (self.prefix if self.prefix != "/" else "") + rest
        return f"{base}?{query}" if query and self.uses_query else base

    def origin_path(self, rest: str) -> str:
        if self.settings.index and (rest == "" or rest.endswith("/")):
            rest = rest.rstrip("/") + "/" + self.settings.index
        return quote(rest, safe=_PATH_SAFE)

    def origin_query(self, query: str) -> str:
        return query if self.uses_query else ""


class Router:
    """Longest prefix first; a prefix matches itself and what lies below it, never `/assetsX`."""

    def __init__(self, mounts: list[Mount]) -> None:
        self.mounts = sorted(mounts, key=lambda m: len(m.prefix), reverse=True)

    @classmethod
    def from_settings(cls, settings: list[MountSettings]) -> Router:
        return cls([
            Mount(m, open_origin(m.origin, m.options or None, connect_timeout=m.connect_timeout,
                                 read_timeout=m.read_timeout))
            for m in settings
        ])

    def route(self, path: str) -> tuple[Mount, str] | None:
        for mount in self.mounts:
            prefix = mount.prefix
            if prefix == "/":
                return mount, path
            if path == prefix or path.startswith(prefix + "/"):
                return mount, path[len(prefix):]
        return None

    async def close(self) -> None:
        for mount in self.mounts:
            await mount.origin.close()
