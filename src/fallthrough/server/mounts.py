"""Mounts: URL prefixes bound to origins, and the keys of what they serve.

A mount may also derive: image routes, IIIF services and avatar mounts (every request is
a transform),
and mounts with image transforms enabled (a request with `?w=` and the like is one).
A derived request is served by the mount's `derived` twin, whose origin is the
transform and whose keys carry the canonical query the deriver wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from ..config import MountSettings, Settings
from ..origins import Origin, open_origin
from ..transforms.derived import Derivation
from ..transforms.setup import Transforms

# Characters an origin path keeps as they are (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class Deriver(Protocol):
    def derive(self, rest: str, query: str, headers: Mapping[str, str]) -> Derivation | None: ...


class Mount:
    def __init__(self, settings: MountSettings, origin: Origin, deriver: Deriver | None = None,
                 uses_query: bool | None = None) -> None:
        self.settings = settings
        self.prefix = settings.url_prefix
        self.origin = origin
        self.policy = settings.policy
        # A bucket answers by key alone: a query string would only split its cache.
        self.uses_query = settings.origin.lower().startswith(("http://", "https://", "generator:")) \
            if uses_query is None else uses_query
        self.deriver = deriver
        self.derived: Mount = self  # what serves a derived request (set apart by the router)
        self.derivations: dict[tuple[str, str, str | None, str | None], Derivation | None] = {}
        self.transform_only = False  # every request is derived (image routes, IIIF)
        # How long a fill from this origin may go without progress (its head, then each
        # piece of its body) before it fails. Transforms bound their own work instead.
        self.watchdog: float | None = settings.read_timeout
        # Which front's requests these are, for the metrics: the edge's own, or a
        # transform's (image, iiif, avatar), set apart by the router.
        self.front = "edge"
        # Fresh hits from memory served by Edge.fast_hit since the metrics last looked:
        # plain additions on the hot path, folded into the metrics once a second.
        self.hits = 0
        self.hit_bytes = 0

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
        """The mounts with origins of their own; avatar mounts are transforms, which
        build_router adds."""
        return cls([
            Mount(m, open_origin(m.origin, m.options or None, connect_timeout=m.connect_timeout,
                                 read_timeout=m.read_timeout))
            for m in settings if m.avatar is None
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


def _synthetic(prefix: str, kind: str) -> MountSettings:
    """The settings of a mount that exists only to route to a transform."""
    return MountSettings(url_prefix=prefix, origin=f"{kind}:{prefix}")


def build_router(settings: Settings, transforms: Transforms | None) -> Router:
    """The mounts of a configuration and, when it has any (`transforms` given), its image
    routes, IIIF services, avatar mounts and mounts with image transforms."""
    router = Router.from_settings(settings.mounts)
    if transforms is None:
        return router
    for mount in router.mounts:
        if mount.settings.image_transforms:
            deriver, origin = transforms.query_images(mount.settings)
            mount.deriver = deriver
            mount.derived = Mount(mount.settings, origin, uses_query=True)
            mount.derived.watchdog = None
            mount.derived.front = "image"
    extra: list[Mount] = []
    for route in settings.image_routes:
        deriver, origin = transforms.route(route)
        extra.append(_transform_mount(_synthetic(route.prefix, "image-route"), origin, deriver, "image"))
    for service in settings.iiif:
        iiif = transforms.iiif(service)
        extra.append(_transform_mount(_synthetic(service.url_prefix, "iiif"), iiif, iiif, "iiif"))
    for mount_settings in settings.mounts:
        if mount_settings.avatar is not None:
            avatars = transforms.avatar(mount_settings)
            extra.append(_transform_mount(mount_settings, avatars, avatars, "avatar"))
    return Router(router.mounts + extra)


def _transform_mount(settings: MountSettings, origin: Origin, deriver: Deriver, front: str) -> Mount:
    mount = Mount(settings, origin, deriver, uses_query=True)
    mount.transform_only = True
    mount.watchdog = None
    mount.front = front
    return mount
