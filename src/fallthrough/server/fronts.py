"""Which front a request came in by, for the metrics: the S3 API, the edge, or a
transform the edge serves (an image route or a mount's `?w=`, IIIF, avatars)."""

from __future__ import annotations

from ..transforms.derived import BadTransform
from .edge import derived
from .mounts import Router


def front_of(router: Router, scope) -> str:  # noqa: ANN001
    """The front of a request the edge answered: its mount's, or the transform twin's
    when the mount's deriver made it a transform (the deriver remembers its answers, so
    asking again costs a dict lookup)."""
    routed = router.route(scope.path)
    if routed is None:
        return "edge"
    mount, rest = routed
    if mount.deriver is None or mount.transform_only or scope.method not in ("GET", "HEAD"):
        return mount.front
    try:
        return derived(mount, rest, scope.query_string, scope.headers)[0].front
    except BadTransform:
        return mount.derived.front
