"""The origin protocol and its errors, as the origins package offers them.

The cache owns these types (it is the one that calls `fetch`), so they are defined in
`fallthrough.cache.origin` and named here too: code that opens or writes origins
imports them from this package and never needs to know where they live.
"""

from __future__ import annotations

from ..cache.origin import (
    HOP_BY_HOP,
    BadObjectPath,
    BadOriginURL,
    Origin,
    OriginBodyError,
    OriginError,
    OriginResponse,
    OriginUnavailable,
    end_to_end,
    single_range,
)

__all__ = [
    "HOP_BY_HOP", "BadObjectPath", "BadOriginURL", "Origin", "OriginBodyError", "OriginError", "OriginResponse",
    "OriginUnavailable", "end_to_end", "single_range",
]
