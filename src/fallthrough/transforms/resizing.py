"""Resized images: routes such as `/sticker/{character}/{mood}/{size}`, and a mount's
generic `?w=&h=&fit=&format=&q=` form.

The edge asks `derive` before it looks anything up: the request's parameters are checked
(a bad one is a 4xx before any work), the signature too when the route needs one, the
format is negotiated from Accept, and the result is a canonical query that names the
variant: the same image asked for in two spellings is one cache entry, and two formats
are two. The origin (`fetch`) then reads only that canonical query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from urllib.parse import parse_qsl, unquote, urlencode

from ..cache.origin import OriginResponse
from . import images, signing
from .derived import BadTransform, Derivation, Transformer, text_response
from .images import ImageLimits, Resize
from .negotiate import EXTENSIONS, MEDIA_TYPES, format_of_name, negotiate
from .routes import FORMAT, SIZE, RouteTemplate

FITS = ("contain", "cover", "fill")
LOSSY = ("jpeg", "webp", "avif")
TRANSFORM_PARAMS = signing.SIGNED_PARAMS


@dataclass(frozen=True, slots=True)
class ResizeOptions:
    """What a route or a mount allows."""

    max_size: int
    formats: tuple[str, ...] = tuple(MEDIA_TYPES)
    fit: str = "contain"
    signing_key: bytes | None = None  # set: every request must carry a valid `sig`


def _single(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            raise BadTransform(400, f"query parameter {name!r} is given twice")
        params[name] = value
    return params


def _number(params: Mapping[str, str], name: str, low: int, high: int, what: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 6 or not low <= int(value) <= high:
        raise BadTransform(400, f"{name}={value!r}: {what} from {low} to {high}")
    return int(value)


def _format(params: Mapping[str, str], options: ResizeOptions) -> str | None:
    value = params.get("format")
    if value is None or value == "auto":
        return None
    fmt = EXTENSIONS.get(value.lower())
    if fmt is None or fmt not in options.formats:
        raise BadTransform(400, f"format={value!r}: expected auto or one of {', '.join(options.formats)}")
    return fmt


def _canonical(width: int | None, height: int | None, fit: str, fmt: str, quality: int | None) -> str:
    params = {"w": width, "h": height, "fit": fit if width and height else None, "fmt": fmt,
              "q": quality if fmt in LOSSY else None}
    return urlencode([(k, v) for k, v in params.items() if v is not None])


def _check_signature(options: ResizeOptions, path: str, params: Mapping[str, str]) -> None:
    if options.signing_key is None:
        return
    covered = [(name, params[name]) for name in TRANSFORM_PARAMS if name in params]
    if not signing.verify(options.signing_key, path, covered, params.get(signing.SIGNATURE_PARAM)):
        raise BadTransform(403, "this URL needs a valid signature (sig=)")


def _derivation(fmt: str | None, source_format: str, headers: Mapping[str, str], options: ResizeOptions,
                width: int | None, height: int | None, fit: str, quality: int | None) -> Derivation:
    if fmt is None:
        fmt = negotiate(headers.get("accept"), source_format, options.formats)
        accept = MEDIA_TYPES[fmt]
    else:
        accept = None
    return Derivation(_canonical(width, height, fit, fmt, quality), accept)


def parse_canonical(query: str) -> Resize:
    """The origin's side: a canonical query as `_canonical` writes it (the edge made it)."""
    params = dict(parse_qsl(query))
    fmt = params.get("fmt", "png")
    if fmt not in MEDIA_TYPES:
        raise BadTransform(400, f"unknown format {fmt!r}")

    def number(name: str) -> int | None:
        value = params.get(name)
        return int(value) if value and value.isdigit() else None

    return Resize(number("w"), number("h"), params.get("fit", "contain"), fmt, number("q"))


class ResizeOrigin:
    """Resized variants of the objects under a path: the origin both forms share."""

    enlarge = False  # whether a box larger than the source scales it up

    def __init__(self, name: str, transformer: Transformer, limits: ImageLimits) -> None:
        self.name = name
        self.transformer = transformer
        self.limits = limits

    def source_path(self, path: str) -> str:
        raise NotImplementedError

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            return text_response(405, "resized images are read-only", (("allow", "GET, HEAD"),))
        try:
            spec = replace(parse_canonical(query), enlarge=self.enlarge)
            source = self.source_path(unquote(path))
        except BadTransform as exc:
            return text_response(exc.status, exc.message)
        return await self.transformer.respond(source, query, headers, MEDIA_TYPES[spec.format],
                                              partial(images.resize, spec=spec, limits=self.limits))

    async def close(self) -> None:
        pass


class RouteOrigin(ResizeOrigin):
    enlarge = True  # a route's size is the size asked for
    def __init__(self, template: RouteTemplate, transformer: Transformer, limits: ImageLimits) -> None:
        super().__init__(f"route:{template.prefix}", transformer, limits)
        self.template = template

    def source_path(self, path: str) -> str:
        values = self.template.match(path)
        if values is None:
            raise BadTransform(404, "no image route matches this path")
        return self.template.source_path(values)


class RouteDeriver:
    """An image route: the size comes from the path, the format from Accept (or
    `?format=` / a {format} placeholder), the quality from `?q=`."""

    def __init__(self, template: RouteTemplate, options: ResizeOptions) -> None:
        self.template = template
        self.options = options
        self.source_format = format_of_name(template.source)

    def derive(self, rest: str, query: str, headers: Mapping[str, str]) -> Derivation:
        values = self.template.match(rest)
        if values is None:
            raise BadTransform(404, f"no image here: paths look like {self.template.route}")
        size = int(values[SIZE])
        if not 1 <= size <= self.options.max_size:
            raise BadTransform(400, f"size {size} is outside this route's range of 1 to {self.options.max_size}")
        params = _single(query)
        fmt = _format(params, self.options)
        if values.get(FORMAT) is not None:
            named = EXTENSIONS.get(values[FORMAT].lower())
            if named is None or named not in self.options.formats:
                raise BadTransform(404, f"no {values[FORMAT]!r} images here (formats: {', '.join(self.options.formats)})")
            fmt = named
        quality = _number(params, "q", 1, 100, "a quality")
        _check_signature(self.options, self.template.prefix + rest, params)
        source_format = format_of_name(self.template.source_path({k: v for k, v in values.items() if v}))
        return _derivation(fmt, source_format, headers, self.options, size, size, self.options.fit, quality)


class PathOrigin(ResizeOrigin):
    """The generic form: the source is the same path on the mount, without the query."""

    def __init__(self, prefix: str, transformer: Transformer, limits: ImageLimits) -> None:
        super().__init__(f"images:{prefix}", transformer, limits)
        self.prefix = prefix if prefix != "/" else ""

    def source_path(self, path: str) -> str:
        return self.prefix + path


class QueryDeriver:
    """A mount's `?w=&h=&fit=&format=&q=`: requests without any of them are the plain object."""

    def __init__(self, prefix: str, options: ResizeOptions) -> None:
        self.prefix = prefix if prefix != "/" else ""
        self.options = options

    def derive(self, rest: str, query: str, headers: Mapping[str, str]) -> Derivation | None:
        if not query:
            return None
        params = _single(query)
        if not any(name in params for name in TRANSFORM_PARAMS):
            return None
        top = self.options.max_size
        width = _number(params, "w", 1, top, "a width")
        height = _number(params, "h", 1, top, "a height")
        fit = params.get("fit", self.options.fit)
        if fit not in FITS:
            raise BadTransform(400, f"fit={fit!r}: expected one of {', '.join(FITS)}")
        fmt = _format(params, self.options)
        quality = _number(params, "q", 1, 100, "a quality")
        _check_signature(self.options, self.prefix + rest, params)
        if width is None and height is None:
            width = height = top  # a format or quality alone: the image within the mount's largest size
            fit = "contain"
        return _derivation(fmt, format_of_name(rest), headers, self.options, width, height, fit, quality)
