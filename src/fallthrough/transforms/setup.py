"""The transforms of a configuration: one pool and one set of limits, shared by every
image route, IIIF service, avatar mount and mount with image transforms."""

from __future__ import annotations

from ..config import IiifSettings, ImageRouteSettings, ImageSettings, MountSettings
from .avatars.service import AvatarService
from .derived import Transformer
from .iiif import IiifOptions, IiifService
from .iiif_request import Limits
from .images import ImageLimits
from .pool import TransformPool
from .resizing import PathOrigin, QueryDeriver, ResizeOptions, RouteDeriver, RouteOrigin
from .routes import RouteTemplate
from .source import SourceReader


class Transforms:
    def __init__(self, settings: ImageSettings, sources: SourceReader) -> None:
        self.settings = settings
        self.pool = TransformPool(settings.workers, settings.queue)
        self.transformer = Transformer(self.pool, sources, settings.max_source_bytes)
        self.limits = ImageLimits(settings.max_pixels, settings.max_width, settings.max_height)
        self.key = settings.signing_key.encode() if settings.signing_key else None

    def query_images(self, mount: MountSettings) -> tuple[QueryDeriver, PathOrigin]:
        origin = PathOrigin(mount.url_prefix, self.transformer, self.limits)
        options = ResizeOptions(mount.image_max_size, signing_key=self.key if mount.image_signed else None)
        return QueryDeriver(mount.url_prefix, options), origin

    def route(self, route: ImageRouteSettings) -> tuple[RouteDeriver, RouteOrigin]:
        template = RouteTemplate(route.route, route.source)
        origin = RouteOrigin(template, self.transformer, self.limits)
        options = ResizeOptions(route.max_size, route.formats, route.fit, self.key if route.signed else None)
        return RouteDeriver(template, options), origin

    def iiif(self, service: IiifSettings) -> IiifService:
        """The service is both the deriver and the origin of its mount."""
        limits = Limits(service.max_width or self.limits.max_width, service.max_height or self.limits.max_height,
                        service.max_area)
        return IiifService(IiifOptions(service.url_prefix, service.source, limits, service.base_url),
                           self.transformer, self.limits)

    def avatar(self, mount: MountSettings) -> AvatarService:
        """The service is both the deriver and the origin of its mount."""
        assert mount.avatar is not None
        return AvatarService(mount.url_prefix, mount.avatar, self.transformer, self.limits)

    def stats(self) -> dict[str, dict[str, int]]:
        pool = self.pool
        return {"transforms": {"runs": pool.runs, "in_pool": pool.admitted, "refused": pool.refused}}

    def close(self) -> None:
        self.pool.close()
