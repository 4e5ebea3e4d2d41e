"""Signed transform URLs: only whoever holds the key can make the server resize at will.

A signature is HMAC-SHA256 over the path and the transform's own query parameters in a
canonical order (other parameters are neither signed nor used), cut to 128 bits and
written in URL-safe base64 as `sig=`. So `?w=100&fmt=webp` and `?fmt=webp&w=100` carry
the same signature, and a signature for one size does not open any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

SIGNATURE_PARAM = "sig"
# The query parameters of a transform: the ones a signature covers.
SIGNED_PARAMS = ("w", "h", "fit", "format", "q")


def canonical(path: str, params: Iterable[tuple[str, str]]) -> bytes:
    """What is signed: the percent-encoded path, then the parameters sorted by name."""
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params))
    return f"{quote(path, safe='/')}?{query}".encode()


def sign(key: bytes, path: str, params: Iterable[tuple[str, str]]) -> str:
    mac = hmac.new(key, canonical(path, params), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign_url(key: bytes, url: str) -> str:
    """`url` (a path with its query, or a full URL) with its `sig=` added (or replaced)."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != SIGNATURE_PARAM]
    signature = sign(key, unquote(parts.path), [(k, v) for k, v in params if k in SIGNED_PARAMS])
    query = urlencode([*params, (SIGNATURE_PARAM, signature)])
    return parts._replace(query=query).geturl()


def verify(key: bytes, path: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(key, path, params), signature)
