"""What the cache asks of a fleet for a cold miss (fleet/fills.py implements it): one
fill for the whole fleet.

A fill claims the key. The node that gets the claim (the lead) fetches from its origin
as usual and tells the others as it goes: the head, each batch of chunks once the shared
tier holds it, and the end (the blob's digest and, if it was stored, the entry). The
others follow: they read the chunks (verified by their digests) as they land and serve
them to their own clients while the lead's fill runs, not after it. If the lead goes
silent (its node died), a follower claims the key in its place and resumes where its own
clients are.

Where the lead offers a tap on its fill (fleet/taps.py), a follower reads the lead's head
and bytes through it as they arrive, before the stream tells them and before any chunk of
them is stored, and keeps the chunks it is told for what the tap does not bring.

Everything a follower is told is data from elsewhere: the chunks are checked against
their names, the whole (chunks or tapped bytes) against the blob's digest before the last
piece goes out, and the entry against the purges this node applied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from ..castore import B3Digest
from .fill import Fill


@dataclass(frozen=True, slots=True)
class LeadHead:
    """The origin's answer, as the lead will store it."""

    status: int
    headers: list[tuple[str, str]]
    length: int | None
    vary: tuple[str, ...]
    variant: tuple[str, ...]
    request_time: float
    response_time: float
    initial_age: float


@dataclass(frozen=True, slots=True)
class LeadChunks:
    """Chunks [offset, offset + their sizes) of the body, each in the shared tier."""

    offset: int
    chunks: list[tuple[B3Digest, int]]


@dataclass(frozen=True, slots=True)
class LeadEnd:
    """The body is whole: its blob, and the entry the lead stored (None: not stored, e.g.
    purged meanwhile; the followers' clients still get the bytes they were sent)."""

    digest: B3Digest
    size: int
    entry: dict | None


@dataclass(frozen=True, slots=True)
class LeadFailed:
    """The lead's fill failed (its origin broke off): the followers' responses are cut."""

    reason: str


@dataclass(frozen=True, slots=True)
class LeadPassed:
    """The origin's answer is not one to share (private, an error): each node asks itself."""


@dataclass(frozen=True, slots=True)
class LeadGone:
    """The lead went silent (its claim lapsed) before the end: claim the key again."""


LeadEvent = LeadHead | LeadChunks | LeadEnd | LeadFailed | LeadPassed | LeadGone


class TapUnavailable(Exception):
    """A lead's tap cannot be read (any more): follow the chunks for the rest."""


class Lead(Protocol):
    """This node fetches the key for the fleet. Every call returns at once (what it tells
    goes out in the background, in order); the claim is kept while the fill makes
    progress and given up at close()."""

    def offer(self, fill: Fill) -> None:
        """The fill's head and bytes may be read by the followers as they arrive."""
        ...

    def head(self, head: LeadHead) -> None: ...

    def chunks(self, offset: int, chunks: list[tuple[B3Digest, int]]) -> None: ...

    def progress(self) -> None:
        """The origin sent more: the claim is kept."""
        ...

    def end(self, digest: B3Digest, size: int, entry: dict | None) -> None: ...

    def failed(self, reason: str) -> None: ...

    def passed(self) -> None: ...

    async def close(self) -> None: ...


class Follow(Protocol):
    """Another node fetches the key: what it tells, from the start, until LeadGone or the end."""

    def events(self) -> AsyncIterator[LeadEvent]: ...

    def tapped(self, offset: int) -> AsyncIterator[LeadHead | bytes] | None:
        """Through the lead's tap, as they arrive: its head, then its bytes from
        `offset`, ending with its body or raising TapUnavailable short of it; None if
        there is no tap to read."""
        ...

    def distrust(self) -> None:
        """What came through this tap did not add up: leave it alone for a while."""
        ...


class FleetFills(Protocol):
    followed: int  # fills served from another node's fetch (origin requests saved)
    taken_over: int  # fills this node resumed after their lead went silent
    tapped: int  # bytes of other nodes' fills read through their taps

    async def claim(self, key: str, variant: tuple[str, ...]) -> Lead | Follow | None:
        """Lead the fill of this key, or follow the node that does. None: the fleet cannot
        say (Redis out of reach): the node fills alone."""
        ...
