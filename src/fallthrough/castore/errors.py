"""Errors of the chunk store.

Every error names the digest or the store it is about, so that the CLI (and later the
HTTP surfaces) can print one clear line instead of a traceback.
"""


class CastoreError(Exception):
    """Base of every error the chunk store raises on purpose."""


class BadDigest(CastoreError, ValueError):
    """A digest given by a user is not 32 bytes of BLAKE3 (64 hex characters)."""


class BadStoreURL(CastoreError, ValueError):
    """A store URL or tier option that cannot be turned into a backend."""


class BlobNotFound(CastoreError, KeyError):
    """No tier holds the blob."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else "blob not found"


class ChunkNotFound(CastoreError, KeyError):
    """A chunk a manifest lists is missing from every tier."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "chunk not found"


class ChunkCorrupt(CastoreError):
    """A chunk's bytes do not decompress, or do not hash to its name."""


class ManifestCorrupt(CastoreError):
    """A blob manifest is not a valid StatBlobResponse."""


class BlobMismatch(CastoreError):
    """A blob's manifest or size is not the one recorded when the blob was stored.

    Its own class so that a caller can tell "this copy is not the blob I stored" (swapped,
    foreign or damaged at rest: fetch it again) from a store that is down.
    """


class StoreUnavailable(CastoreError):
    """A backend could not be reached or refused the request."""
