"""`fallthrough purge`: a purge written straight into this node's index journal.

Every worker reads the journal before each lookup, so the next request after the command
returns fetches fresh, without a round trip to the admin API or its token.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from .cache.entry import derived_tag
from .cache.index import Index
from .config import Settings, has_transforms, transform_prefixes
from .serve_errors import ServeError
from .server.app import index_path
from .server.mounts import Router


def purge(settings: Settings, *, url: str | None = None, prefix: str | None = None, tag: str | None = None) -> str:
    journal = index_path(settings)
    if not os.path.exists(journal):
        # Nothing has been cached with this configuration: a purge "done" here would be a
        # purge of nothing, most likely because the node's configuration was not given.
        raise ServeError(f"no cache index at {journal}: give the node's configuration with --config FILE "
                         f"(has `fallthrough serve` run with it?)")
    index = Index(journal, compact=False)
    try:
        if tag is not None:
            index.ban("tag", tag)
            return f"purged tag {tag}"
        if prefix is not None:
            if not prefix.startswith("/"):
                raise ServeError(f"bad prefix {prefix!r}: a path beginning with '/'")
            index.ban("prefix", prefix)
            return f"purged prefix {prefix}"
        assert url is not None
        parts = urlsplit(url)
        path, query = unquote(parts.path), parts.query
        if not path.startswith("/"):
            raise ServeError(f"bad URL {url!r}: a path beginning with '/' or a full http(s) URL")
        if any(path == p or path.startswith(p + "/") for p in transform_prefixes(settings)):
            # Every variant of a transform's path: its keys are the path and a canonical query.
            index.ban("prefix", path + "?")
            return f"purged {path} ({len(index.remove(path))} variant(s) now, the rest by a ban)"
        routed = Router.from_settings(settings.mounts).route(path)
        if routed is None:
            raise ServeError(f"no mount serves {path}")
        key = routed[0].key(routed[1], query)
        removed = index.remove(key)
        if has_transforms(settings):
            index.ban("tag", derived_tag(key))  # and what was derived from it
        return f"purged {key} ({len(removed)} variant(s))"
    finally:
        index.close()
