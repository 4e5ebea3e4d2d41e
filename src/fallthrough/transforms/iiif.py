"""The IIIF Image API 3.0 (https://iiif.io/api/image/3.0/), compliance level 2 and more.

    {prefix}/{identifier}/{region}/{size}/{rotation}/{quality}.{format}   an image
    {prefix}/{identifier}/info.json                                        its description
    {prefix}/{identifier}                                                  303 → info.json

An identifier names a source through the configured template (`/img/{identifier}.png`),
read through the cache like any other. The server hands us paths percent-decoded, so an
identifier's escaped `/` arrives as a plain one: the image parameters are the last four
segments, and the identifier is everything before them. Syntax is checked before the
cache is consulted (errors are 400 or 501 at once); what depends on the image's size
(a region outside it, an upscale without `^`) is checked against its header.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qsl, quote, unquote, urlencode

from ..cache.origin import OriginResponse
from . import images
from .derived import BadTransform, Derivation, Transformer, text_response
from .iiif_request import IiifError, ImageRequest, Limits, parse_image_request, plan
from .images import ImageLimits
from .negotiate import MEDIA_TYPES
from .source import Source

CONTEXT = "http://iiif.io/api/image/3/context.json"
JSON_LD = f'application/ld+json;profile="{CONTEXT}"'
PROFILE_LINK = '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
CORS = (("access-control-allow-origin", "*"),)
FORMAT_TYPES = {"jpg": MEDIA_TYPES["jpeg"], "png": MEDIA_TYPES["png"], "webp": MEDIA_TYPES["webp"],
                "avif": MEDIA_TYPES["avif"]}
TILE = 512
# A redirect to info.json does not depend on the image: it may be kept a day.
REDIRECT_CACHE = "public, max-age=86400"
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
_IDENTIFIER = "{identifier}"


@dataclass(frozen=True, slots=True)
class IiifPath:
    kind: str  # "image" | "info" | "base"
    identifier: str
    parameters: tuple[str, str, str, str] = ("", "", "", "")


def parse_path(rest: str) -> IiifPath:
    segments = rest.strip("/").split("/") if rest.strip("/") else []
    if not segments:
        raise BadTransform(404, "an identifier is needed: {prefix}/{identifier}/info.json")
    if len(segments) >= 2 and segments[-1] == "info.json":
        found = IiifPath("info", "/".join(segments[:-1]))
    elif len(segments) >= 5 and "." in segments[-1]:
        found = IiifPath("image", "/".join(segments[:-4]), tuple(segments[-4:]))  # type: ignore[arg-type]
    else:
        found = IiifPath("base", "/".join(segments))
    if any(not part for part in found.identifier.split("/")):
        raise BadTransform(404, "no image has an identifier with empty parts")
    return found


@dataclass(frozen=True, slots=True)
class IiifOptions:
    prefix: str
    source: str  # a path template with {identifier}
    limits: Limits
    base_url: str | None = None  # the service's public base; else http://{Host}{prefix}


class IiifService:
    """Both halves of an IIIF mount: `derive` (before the cache) and `fetch` (the origin)."""

    def __init__(self, options: IiifOptions, transformer: Transformer, image_limits: ImageLimits) -> None:
        self.options = options
        self.name = f"iiif:{options.prefix}"
        self.transformer = transformer
        self.image_limits = image_limits

    # -- before the cache -----------------------------------------------------

    def derive(self, rest: str, query: str, headers: Mapping[str, str]) -> Derivation:
        found = parse_path(rest)
        if found.kind == "image":
            try:
                parse_image_request(*found.parameters)
            except IiifError as exc:
                raise BadTransform(exc.status, exc.message) from None
            return Derivation("", None)
        if found.kind == "base":
            return Derivation("", None)
        wants_ld = "application/ld+json" in headers.get("accept", "")
        base = self.options.base_url or self._base_from(headers)
        return Derivation(urlencode([("base", base)]), "application/ld+json" if wants_ld else "application/json")

    def _base_from(self, headers: Mapping[str, str]) -> str:
        host = headers.get("host", "")
        if not _HOST.fullmatch(host):
            raise BadTransform(400, "a Host header is needed to name this service in info.json")
        return f"http://{host}{self.options.prefix}"

    def source_path(self, identifier: str) -> str:
        return self.options.source.replace(_IDENTIFIER, identifier)

    # -- the origin ------------------------------------------------------------

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            return text_response(405, "IIIF images are read-only", (("allow", "GET, HEAD"), *CORS))
        try:
            found = parse_path(unquote(path))
        except BadTransform as exc:
            return text_response(exc.status, exc.message, CORS)
        if found.kind == "base":
            return self._redirect(found.identifier)
        source = self.source_path(found.identifier)
        if found.kind == "info":
            base = dict(parse_qsl(query)).get("base", self.options.prefix)
            ld = headers.get("accept") == "application/ld+json"
            content_type = JSON_LD if ld else "application/json"
            return await self.transformer.respond(
                source, f"info\0{base}\0{content_type}", headers, content_type,
                partial(self._info, identifier=found.identifier, base=base), CORS)
        try:
            request = parse_image_request(*found.parameters)
        except IiifError as exc:
            return text_response(exc.status, exc.message, CORS)
        return await self.transformer.respond(
            source, "image\0" + "/".join(found.parameters), headers, FORMAT_TYPES[request.format],
            partial(self._image, request=request), (*CORS, ("link", PROFILE_LINK)))

    def _redirect(self, identifier: str) -> OriginResponse:
        response = text_response(303, "see info.json", CORS)
        response.headers["location"] = f"{self.options.prefix}/{quote(identifier, safe='')}/info.json"
        response.headers["cache-control"] = REDIRECT_CACHE
        return response

    def _image(self, source: Source, request: ImageRequest) -> bytes:
        width, height = images.size_of(source, self.image_limits)
        try:
            chosen = plan(request, width, height, self.options.limits)
        except IiifError as exc:
            raise BadTransform(exc.status, exc.message) from None
        return images.render(source, chosen, self.image_limits)

    def _info(self, source: Source, identifier: str, base: str) -> bytes:
        width, height = images.size_of(source, self.image_limits)
        limits = self.options.limits
        info: dict[str, object] = {
            "@context": CONTEXT,
            "id": f"{base}/{quote(identifier, safe='')}",
            "type": "ImageService3",
            "protocol": "http://iiif.io/api/image",
            "profile": "level2",
            "width": width,
            "height": height,
        }
        for name, value in (("maxWidth", limits.max_width), ("maxHeight", limits.max_height),
                            ("maxArea", limits.max_area)):
            if value is not None:
                info[name] = value
        factors = [1]
        while max(width, height) > TILE * factors[-1]:
            factors.append(factors[-1] * 2)
        info["tiles"] = [{"width": TILE, "scaleFactors": factors}]
        info["extraQualities"] = ["color", "gray", "bitonal"]
        info["extraFormats"] = ["webp", "avif"]
        info["extraFeatures"] = ["mirroring", "sizeUpscaling", "profileLinkHeader"]
        return json.dumps(info, indent=2).encode()

    async def close(self) -> None:
        pass
