"""`s3://bucket/prefix`: a tier in an S3-compatible bucket.

Endpoint, keys and region come from the tier's options or, where those are silent, from
the standard variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, AWS_ALLOW_HTTP), which the object_store crate reads itself.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from .errors import BadStoreURL
from .objectstore import ObjectStoreTier

# Option names a tier may set, mapped to the object_store configuration keys.
S3_OPTIONS = {
    "endpoint": "endpoint",
    "access_key_id": "access_key_id",
    "secret_access_key": "secret_access_key",
    "session_token": "session_token",
    "region": "region",
    "virtual_hosted_style_request": "virtual_hosted_style_request",
    "skip_signature": "skip_signature",
}

# A store that cannot be reached should fail a command in seconds, not minutes.
RETRY = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}
CLIENT = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=120)}


def truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def open_s3(url: str, options: dict[str, Any] | None = None) -> ObjectStoreTier:
    return ObjectStoreTier(s3_store(url, options), url)


def s3_store(url: str, options: dict[str, Any] | None = None) -> S3Store:
    """The S3 client for `s3://bucket/prefix`, from options or the AWS_* variables."""
    options = dict(options or {})
    parts = urlsplit(url)
    if not parts.netloc:
        raise BadStoreURL(f"bad store URL {url!r}: no bucket (use s3://bucket/prefix)")
    config: dict[str, Any] = {}
    client: dict[str, Any] = dict(CLIENT)
    allow_http = options.pop("allow_http", None)
    for key, value in options.items():
        if key not in S3_OPTIONS:
            known = ", ".join(sorted([*S3_OPTIONS, "allow_http"]))
            raise BadStoreURL(f"unknown S3 option {key!r} for {url} (known: {known})")
        config[S3_OPTIONS[key]] = value
    # Passing client options hides AWS_ALLOW_HTTP from the crate, so honour it here.
    if allow_http is None:
        endpoint = str(config.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL", ""))
        allow_http = truthy(os.environ.get("AWS_ALLOW_HTTP", "")) or endpoint.startswith("http://")
    client["allow_http"] = truthy(allow_http)
    try:
        return S3Store.from_url(url, config=config or None, client_options=client, retry_config=RETRY)
    except (ObstoreError, ValueError) as exc:
        raise BadStoreURL(f"bad store URL {url!r}: {str(exc).splitlines()[0]}") from None
